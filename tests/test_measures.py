"""Measures on synthetic spike trains whose answers are known in advance."""

import neo
import numpy as np
import pytest
import quantities as pq

from pinglab_bio import errors
from pinglab_bio.measures import (
    cv_isi,
    firing_rates,
    gamma_peak,
    mean_rate,
    population_rate,
    rate_bin_size,
    synchrony_index,
    welch_psd,
)


def _poisson(rate_hz, t_stop, rng):
    n = rng.poisson(rate_hz * t_stop)
    return neo.SpikeTrain(np.sort(rng.uniform(0, t_stop, n)) * pq.s, t_stop=t_stop * pq.s)


def _modulated_population(freq_hz, n=400, t_stop=2.0, mean_hz=20.0, depth=0.9, seed=0):
    """Inhomogeneous Poisson trains with rate mean·(1 + depth·sin(2π f t)) (thinning)."""
    rng = np.random.default_rng(seed)
    trains = []
    for _ in range(n):
        cand = np.sort(rng.uniform(0, t_stop, rng.poisson(2 * mean_hz * t_stop)))
        keep = rng.uniform(0, 2, cand.size) < 1 + depth * np.sin(2 * np.pi * freq_hz * cand)
        trains.append(neo.SpikeTrain(cand[keep] * pq.s, t_stop=t_stop * pq.s))
    return trains


def test_firing_rates_behavior():
    trains = [neo.SpikeTrain(np.arange(0.05, 1.0, 0.1) * pq.s, t_stop=1 * pq.s),  # 10 spikes in 1 s
              neo.SpikeTrain([] * pq.s, t_stop=1 * pq.s)]
    rates = firing_rates(trains)
    assert rates.units == pq.Hz
    np.testing.assert_allclose(rates.magnitude, [10.0, 0.0])
    # window [0.5, 1.0] s holds 5 spikes: 10 Hz again; the mean over both neurons is 5 Hz
    assert float(mean_rate(trains, 0.5 * pq.s, 1.0 * pq.s)) == pytest.approx(5.0)


def test_population_rate_behavior():
    trains = [neo.SpikeTrain([0.0105, 0.0205] * pq.s, t_stop=0.05 * pq.s) for _ in range(4)]
    sig = population_rate(trains, 10 * pq.ms)
    assert sig.shape == (5, 1) and sig.units == pq.Hz
    # each neuron fires once in bins 1 and 2: 1 spike / 10 ms = 100 Hz
    np.testing.assert_allclose(np.asarray(sig).ravel(), [0, 100, 100, 0, 0])


def test_rate_bin_size_is_multiple_of_dt_behavior():
    assert float(rate_bin_size(0.1 * pq.ms)) == pytest.approx(1.0)
    assert float(rate_bin_size(0.3 * pq.ms)) == pytest.approx(1.2)
    assert float(rate_bin_size(2.0 * pq.ms)) == pytest.approx(2.0)


def test_welch_psd_finds_sine_behavior():
    fs, f0 = 1000.0, 40.0
    t = np.arange(2000) / fs
    sig = neo.AnalogSignal((10 + 5 * np.sin(2 * np.pi * f0 * t)).reshape(-1, 1) * pq.Hz,
                           sampling_rate=fs * pq.Hz)
    freqs, psd = welch_psd(sig)
    assert freqs.units == pq.Hz
    assert float(freqs[np.argmax(psd)]) == pytest.approx(f0, abs=0.5)  # resolution 0.5 Hz (2 s window)


@pytest.mark.parametrize("f0", [37.3, 52.6, 71.8])
def test_gamma_peak_parabolic_refinement_behavior(f0):
    # A sine between frequency bins: the parabolic estimate must beat the 1 Hz bin spacing.
    fs = 1000.0
    t = np.arange(1000) / fs
    sig = neo.AnalogSignal(np.sin(2 * np.pi * f0 * t).reshape(-1, 1) * pq.Hz, sampling_rate=fs * pq.Hz)
    freqs, psd = welch_psd(sig)
    peak = gamma_peak(freqs, psd)
    # 3-point parabola on a Hann main lobe is biased by at most ~0.25 bin.
    assert peak["peak_hz"] == pytest.approx(f0, abs=0.25)
    assert peak["in_band"]
    assert peak["power_share"] > 0.95  # a pure in-band sine puts (nearly) all power in 30–100 Hz


def test_gamma_peak_stays_in_its_search_band_at_the_edge_behavior():
    # A spectrum falling from 0 Hz: inside the 5–150 Hz search its largest value is the first bin,
    # on a slope that rises out of the band. The peak must be that bin, not a parabola's vertex.
    from pinglab_bio.measures.spectral import PEAK_SEARCH_BAND

    freqs = np.arange(0.0, 200.0, 1.0)
    psd = 1.0 / (1.0 + freqs) ** 2
    psd[4] = psd[5] * 1.0001  # the neighbour outside the band barely above: a nearly flat parabola
    peak = gamma_peak(freqs, psd)
    assert peak["peak_hz"] == PEAK_SEARCH_BAND[0]  # exactly the bin at the band's lower edge
    assert not peak["in_band"]


def test_gamma_peak_on_modulated_population_behavior():
    trains = _modulated_population(45.0)
    freqs, psd = welch_psd(population_rate(trains, 1 * pq.ms))
    peak = gamma_peak(freqs, psd)
    assert peak["peak_hz"] == pytest.approx(45.0, abs=1.0)  # 0.5 Hz resolution; refinement within a bin
    flat = [_poisson(20.0, 2.0, np.random.default_rng(k)) for k in range(400)]
    freqs0, psd0 = welch_psd(population_rate(flat, 1 * pq.ms))
    share0 = gamma_peak(freqs0, psd0)["power_share"]
    # A flat (Poisson) spectrum puts ≈ 70/500 = 0.14 of its power in 30–100 Hz; noise ±0.05.
    assert 0.09 < share0 < 0.19
    assert peak["power_share"] > 3 * share0


def test_cv_isi_behavior():
    regular = [neo.SpikeTrain(np.arange(0.01, 1, 0.02) * pq.s, t_stop=1 * pq.s)]
    assert cv_isi(regular) == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(3)
    poisson = [_poisson(50.0, 20.0, rng) for _ in range(20)]
    # Poisson ISIs are exponential: CV = 1; 20 trains × ~1000 ISIs give sd ≈ 0.01.
    assert cv_isi(poisson) == pytest.approx(1.0, abs=0.05)
    assert np.isnan(cv_isi([neo.SpikeTrain([0.1] * pq.s, t_stop=1 * pq.s)]))


def test_synchrony_index_behavior():
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0, 2, 40))
    synchronous = [neo.SpikeTrain(times * pq.s, t_stop=2 * pq.s) for _ in range(20)]
    independent = [_poisson(20.0, 2.0, rng) for _ in range(20)]
    # Identical trains score near 1 (0.9 here: spike-contrast's bin ladder ends before every
    # spike sits alone in a bin); independent Poisson trains score far lower.
    assert synchrony_index(synchronous) > 0.85
    assert synchrony_index(independent) < 0.5 * synchrony_index(synchronous)


def test_measures_errors():
    st = neo.SpikeTrain([0.1] * pq.s, t_stop=1 * pq.s)
    with pytest.raises(errors.PinglabError, match=r"must be a list of neo\.SpikeTrain, got one SpikeTrain"):
        firing_rates(st)
    with pytest.raises(errors.PinglabError, match=r"spiketrains is empty"):
        mean_rate([])
    with pytest.raises(errors.PinglabError, match=r"must hold neo\.SpikeTrain objects, got ndarray"):
        cv_isi([np.array([0.1, 0.2])])
    with pytest.raises(errors.PinglabError, match=r"t_stop \(0\.1 s\) must be after t_start \(0\.5 s\)"):
        firing_rates([st], 0.5 * pq.s, 0.1 * pq.s)
    with pytest.raises(errors.PinglabError, match=r"bin_size must be a positive time, got 0\.0 ms"):
        population_rate([st], 0 * pq.ms)
    with pytest.raises(errors.PinglabError, match=r"signal must be a neo\.AnalogSignal, got list"):
        welch_psd([1, 2, 3])
    with pytest.raises(errors.PinglabError, match=r"freqs and psd differ in shape"):
        gamma_peak(np.arange(10.0), np.ones(5))
