"""The analysis measures (spectra, regularity, synchrony and timing) on data with known answers."""

import neo
import numpy as np
import pytest
import quantities as pq

from pinglab_bio import errors
from pinglab_bio.measures import (
    cycle_participation,
    ei_lag,
    fraction_active,
    gamma_peak,
    lv_isi,
    mean_spectrum,
    multitaper_psd,
    population_rate,
    sttc_pairs,
    welch_psd,
)


def _sine(f0, fs=1000.0, n=2000, amp=5.0, noise=0.0, seed=0):
    t = np.arange(n) / fs
    x = 10 + amp * np.sin(2 * np.pi * f0 * t) + noise * np.random.default_rng(seed).standard_normal(n)
    return neo.AnalogSignal(x.reshape(-1, 1) * pq.Hz, sampling_rate=fs * pq.Hz)


def _volleys(freq_hz, n, t_stop, jitter_s, offset_s=0.0, p_fire=1.0, seed=0):
    """Each neuron fires once per cycle at k/f + offset (± jitter) with probability p_fire."""
    rng = np.random.default_rng(seed)
    cycles = np.arange(0.5 / freq_hz, t_stop - 0.5 / freq_hz, 1 / freq_hz) + offset_s
    trains = []
    for _ in range(n):
        fire = cycles[rng.uniform(size=cycles.size) < p_fire]
        t = np.clip(fire + rng.normal(0, jitter_s, fire.size), 0, t_stop - 1e-6)
        trains.append(neo.SpikeTrain(np.sort(t) * pq.s, t_stop=t_stop * pq.s))
    return trains


def test_multitaper_psd_behavior():
    sig = _sine(40.0, noise=1.0)
    freqs, psd = multitaper_psd(sig)
    assert freqs.units == pq.Hz and psd.units == pq.Hz ** 2 / pq.Hz
    assert float(freqs[np.argmax(psd)]) == pytest.approx(40.0, abs=1.0)  # 0.5 Hz bins, ±2 Hz taper band
    # One-sided density: its integral is the variance of the mean-removed signal (12.5 + 1);
    # tapering leaks a little, so 10 %.
    var = float(np.var(sig.magnitude))
    assert float(np.sum(psd.magnitude) * (freqs[1] - freqs[0]).magnitude) == pytest.approx(var, rel=0.1)
    # Welch and multitaper agree on the peak.
    fw, pw = welch_psd(sig)
    assert gamma_peak(fw, pw)["peak_hz"] == pytest.approx(gamma_peak(freqs, psd)["peak_hz"], abs=0.5)


def test_gamma_peak_q_factor_behavior():
    # A noisy 50 Hz rhythm whose phase wanders has a broad peak; a pure sine a narrow one.
    res = 1 * pq.Hz  # Welch over 1 s segments: a smooth estimate whose width can be read
    sharp = gamma_peak(*welch_psd(_sine(50.0, n=4000), frequency_resolution=res))
    rng = np.random.default_rng(1)
    phase = np.cumsum(rng.normal(0, 0.35, 4000))
    t = np.arange(4000) / 1000.0
    broad_sig = neo.AnalogSignal((10 + 5 * np.sin(2 * np.pi * 50 * t + phase)).reshape(-1, 1) * pq.Hz,
                                 sampling_rate=1000 * pq.Hz)
    broad = gamma_peak(*welch_psd(broad_sig, frequency_resolution=res))
    # Hann main lobe of a 1 s segment: FWHM ≈ 1.44 bins of 1 Hz (1.33 with linear interpolation
    # between bins), so Q ≈ 35–38; 10 % covers the interpolation.
    assert sharp["fwhm_hz"] == pytest.approx(1.44, rel=0.1)
    assert sharp["q_factor"] == pytest.approx(50.0 / sharp["fwhm_hz"], rel=1e-9)
    assert broad["q_factor"] < sharp["q_factor"] / 5  # phase diffusion widens the peak
    flat = gamma_peak(np.arange(0, 200.0), np.ones(200))
    assert np.isnan(flat["q_factor"])  # no half-height crossing inside the search band


def test_mean_spectrum_behavior():
    spectra = [welch_psd(_sine(45.0, noise=2.0, seed=s)) for s in range(4)]
    f, mean, sem = mean_spectrum(spectra)
    stack = np.vstack([p.magnitude for _, p in spectra])
    np.testing.assert_allclose(mean.magnitude, stack.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sem.magnitude, stack.std(axis=0, ddof=1) / 2.0, rtol=1e-12)
    assert mean.units == spectra[0][1].units
    f1, mean1, sem1 = mean_spectrum(spectra[:1])
    assert not sem1.magnitude.any()  # one run: no spread


def test_lv_isi_behavior():
    regular = [neo.SpikeTrain(np.arange(0.01, 1, 0.02) * pq.s, t_stop=1 * pq.s)]
    assert lv_isi(regular) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(3)
    poisson = [neo.SpikeTrain(np.sort(rng.uniform(0, 20, 1000)) * pq.s, t_stop=20 * pq.s) for _ in range(20)]
    # LV of a Poisson train is 1; 20 × 1000 ISIs give sd ≈ 0.01.
    assert lv_isi(poisson) == pytest.approx(1.0, abs=0.05)
    assert np.isnan(lv_isi([neo.SpikeTrain([0.1, 0.2] * pq.s, t_stop=1 * pq.s)]))


def test_fraction_active_behavior():
    trains = [neo.SpikeTrain([0.1, 0.7] * pq.s, t_stop=1 * pq.s),
              neo.SpikeTrain([0.2] * pq.s, t_stop=1 * pq.s),
              neo.SpikeTrain([] * pq.s, t_stop=1 * pq.s), neo.SpikeTrain([0.9] * pq.s, t_stop=1 * pq.s)]
    assert fraction_active(trains) == pytest.approx(0.75)
    assert fraction_active(trains, 0.5 * pq.s, 1.0 * pq.s) == pytest.approx(0.5)
    assert fraction_active(trains, min_spikes=2) == pytest.approx(0.25)


def test_sttc_pairs_behavior():
    locked = _volleys(40.0, 20, 2.0, jitter_s=0.0005, seed=0)
    rng = np.random.default_rng(5)
    independent = [neo.SpikeTrain(np.sort(rng.uniform(0, 2, 40)) * pq.s, t_stop=2 * pq.s) for _ in range(20)]
    a = sttc_pairs(locked, n_pairs=30, dt=2 * pq.ms, seed=1)
    b = sttc_pairs(independent, n_pairs=30, dt=2 * pq.ms, seed=1)
    assert a["n_pairs"] == 30 and a["values"].shape == (30,)
    assert a["mean"] > 0.9  # the same volley times within ±0.5 ms: tiles coincide
    assert abs(b["mean"]) < 0.15  # independent trains: STTC near 0
    again = sttc_pairs(locked, n_pairs=30, dt=2 * pq.ms, seed=1)
    np.testing.assert_array_equal(a["values"], again["values"])


def test_ei_lag_behavior():
    exc = _volleys(40.0, 200, 2.0, jitter_s=0.001, seed=0)
    inh = _volleys(40.0, 50, 2.0, jitter_s=0.001, offset_s=0.004, seed=1)
    re, ri = population_rate(exc, 1 * pq.ms), population_rate(inh, 1 * pq.ms)
    lag = ei_lag(re, ri, 40.0)
    # I volleys sit 4 ms after E volleys; 1 ms bins and the parabola keep the estimate within 0.3 ms.
    assert lag["lag_ms"] == pytest.approx(4.0, abs=0.3)
    assert lag["phase"] == pytest.approx(0.16, abs=0.015)
    assert lag["correlation"] > 0.5


def test_cycle_participation_behavior():
    exc = _volleys(40.0, 400, 2.0, jitter_s=0.001, p_fire=0.25, seed=2)
    inh = _volleys(40.0, 100, 2.0, jitter_s=0.001, offset_s=0.004, seed=3)
    part = cycle_participation(exc, population_rate(inh, 1 * pq.ms), 40.0)
    # 80 cycles in 2 s; the first and last are partial, so ~77 complete ones.
    assert 70 <= part["n_cycles"] <= 79
    # Each E cell fires in a cycle with probability 0.25: 400 cells give sd ≈ 0.02 per cycle.
    assert part["mean"] == pytest.approx(0.25, abs=0.02)
    assert np.all(np.abs(part["per_cycle"] - 0.25) < 0.1)


def test_analysis_measures_errors():
    sig = _sine(40.0)
    with pytest.raises(errors.PinglabError, match=r"nw must be a number ≥ 1, got 0\.5"):
        multitaper_psd(sig, nw=0.5)
    with pytest.raises(errors.PinglabError, match=r"signal must have one channel, got shape \(2000, 2\)"):
        multitaper_psd(neo.AnalogSignal(np.ones((2000, 2)) * pq.Hz, sampling_rate=1 * pq.kHz))
    with pytest.raises(errors.PinglabError, match=r"spectra is empty"):
        mean_spectrum([])
    with pytest.raises(errors.PinglabError, match=r"spectrum 1 has another frequency axis"):
        mean_spectrum([welch_psd(sig), welch_psd(_sine(40.0, n=1000))])
    st = [neo.SpikeTrain([0.1] * pq.s, t_stop=1 * pq.s)]
    with pytest.raises(errors.PinglabError, match=r"min_spikes must be a whole number ≥ 3, got 1"):
        lv_isi(st, min_spikes=1)
    with pytest.raises(errors.PinglabError, match=r"min_spikes must be a whole number ≥ 1, got 0"):
        fraction_active(st, min_spikes=0)
    with pytest.raises(errors.PinglabError, match=r"n_pairs must be a whole number ≥ 1, got 0"):
        sttc_pairs(st, n_pairs=0)
    with pytest.raises(errors.PinglabError, match=r"dt must be a positive time, got 5"):
        sttc_pairs(st, dt=5)
    with pytest.raises(errors.PinglabError, match=r"rate_exc and rate_inh differ in shape or sampling"):
        ei_lag(sig, _sine(40.0, n=1000), 40.0)
    with pytest.raises(errors.PinglabError, match=r"peak_hz must be a positive frequency, got -1"):
        ei_lag(sig, sig, -1)
    with pytest.raises(errors.PinglabError, match=r"peak_hz must be a positive frequency, got nan"):
        cycle_participation(st, sig, float("nan"))
    with pytest.raises(errors.PinglabError, match=r"signal must be a neo\.AnalogSignal, got list"):
        cycle_participation(st, [1, 2], 40.0)
