"""The standard measures without elephant: the same numbers as elephant, to the last bit.

A run's metrics.json (rates, population rate, spike contrast, gamma peak) is computed in numpy
alone, so that the main job does not import elephant (whose ``__init__`` loads every elephant
module, scipy.stats and scikit-learn). These tests hold the numpy paths to elephant exactly:
the same operations in the same order give the same bits, so no tolerance is needed.
"""

import subprocess
import sys

import elephant.conversion
import elephant.statistics
import neo
import numpy as np
import pytest
import quantities as pq

from pinglab_bio.errors import PinglabError
from pinglab_bio.measures import (
    population_rate_flat,
    spike_contrast_flat,
    synchrony_index,
    welch_psd,
    welch_psd_one_window,
)


def _signal(rng, n, bin_ms):
    rate = rng.poisson(rng.uniform(0.1, 40.0), n) / (rng.integers(10, 1000) * bin_ms * 1e-3)
    return neo.AnalogSignal(rate[:, None], units="Hz", sampling_period=bin_ms * pq.ms,
                            t_start=float(rng.uniform(0, 0.2)) * pq.s)


def test_welch_psd_one_window_behavior():
    rng = np.random.default_rng(3)
    signals = [_signal(rng, int(rng.integers(20, 6000)), float(rng.choice([0.1, 0.5, 1.0, 1.2, 2.0])))
               for _ in range(60)]
    signals += [_signal(rng, 900, 1.0), _signal(rng, 901, 1.0)]  # a run's length, even and odd
    t = np.arange(2000) * 1e-3
    signals.append(neo.AnalogSignal((50 + 40 * np.sin(2 * np.pi * 47 * t))[:, None], units="Hz",
                                    sampling_period=1 * pq.ms))
    for sig in signals:
        f_ours, p_ours = welch_psd_one_window(sig)
        f_ref, p_ref = welch_psd(sig)  # elephant (scipy.signal.welch, one Hann window)
        np.testing.assert_array_equal(f_ours.magnitude, f_ref.magnitude)  # bit for bit
        np.testing.assert_array_equal(p_ours.magnitude, p_ref.magnitude)
        assert f_ours.dimensionality == f_ref.dimensionality and p_ours.dimensionality == p_ref.dimensionality


def test_welch_psd_one_window_errors():
    with pytest.raises(PinglabError, match=r"signal must be a neo.AnalogSignal, got list"):
        welch_psd_one_window([1.0, 2.0, 3.0])
    one = neo.AnalogSignal([[1.0]], units="Hz", sampling_period=1 * pq.ms)
    with pytest.raises(PinglabError, match=r"a spectrum needs at least 2 samples, got 1"):
        welch_psd_one_window(one)


def _elephant_rate(times, n_neurons, bin_size, t_start, t_stop):
    """The population rate as it was computed before: all spikes as one train, elephant's binning."""
    n_bins = int(np.floor(float(((t_stop - t_start) / bin_size).simplified) + 1e-9))
    t_stop = t_start + n_bins * bin_size.rescale(pq.s)
    mag = np.sort(np.asarray(times.magnitude, dtype=float))
    lo, hi = float(t_start.rescale(times.units)), float(t_stop.rescale(times.units))
    merged = neo.SpikeTrain(mag[(mag >= lo) & (mag <= hi)], units=times.units, t_start=t_start, t_stop=t_stop)
    binned = elephant.conversion.BinnedSpikeTrain([merged], bin_size=bin_size, t_start=t_start, t_stop=t_stop)
    rate = binned.get_num_of_spikes(axis=0) / (n_neurons * bin_size)
    return neo.AnalogSignal(np.expand_dims(rate, axis=1), sampling_period=bin_size, units=rate.units,
                            t_start=binned.t_start, normalization="rate").rescale(pq.Hz)


@pytest.mark.filterwarnings("ignore:Binning discarded")  # elephant's note on a spike at t_stop
@pytest.mark.parametrize("unit", [pq.s, pq.ms])
def test_population_rate_flat_behavior(unit):
    rng = np.random.default_rng(5)
    for k in range(60):
        dt = float(rng.choice([1e-4, 5e-5, 2.5e-4]))
        bin_size = float(rng.choice([1.0, 1.2, 0.5, 2.5])) * pq.ms
        t_stop_s = float(rng.uniform(0.3, 2.0))
        # spikes on the dt grid, so that many sit exactly on bin edges, as Brian2's do
        times = np.round(rng.uniform(0, t_stop_s, int(rng.integers(0, 5000))) / dt) * dt
        if k % 4 == 0:
            times = np.concatenate([times, [t_stop_s, 0.1]])  # on the window's ends
        times = (times * pq.s).rescale(unit)
        t_start, t_stop = 0.1 * pq.s, t_stop_s * pq.s
        n = int(rng.integers(1, 1000))
        ours = population_rate_flat(times, n, bin_size, t_start, t_stop)
        ref = _elephant_rate(times, n, bin_size, t_start, t_stop)
        np.testing.assert_array_equal(ours.magnitude, ref.magnitude)  # integer counts: bit for bit
        assert float(ours.t_start.rescale(pq.s)) == float(ref.t_start.rescale(pq.s))
        assert ours.t_start.dimensionality == ref.t_start.dimensionality
        assert ours.sampling_period == ref.sampling_period


def test_population_rate_flat_counts_like_time_histogram_behavior():
    rng = np.random.default_rng(8)
    trains = [neo.SpikeTrain(np.unique(np.round(rng.uniform(0, 1, 40) / 1e-4)) * 1e-4 * pq.s, t_stop=1 * pq.s)
              for _ in range(30)]
    flat = np.concatenate([st.magnitude for st in trains])
    ours = population_rate_flat(flat * pq.s, len(trains), 1 * pq.ms, 0.1 * pq.s, 1.0 * pq.s)
    sliced = [st.time_slice(0.1 * pq.s, 1.0 * pq.s) for st in trains]
    theirs = elephant.statistics.time_histogram(sliced, 1 * pq.ms, t_start=0.1 * pq.s, t_stop=1.0 * pq.s,
                                                output="rate").rescale(pq.Hz)
    np.testing.assert_array_equal(ours.magnitude, theirs.magnitude)


def test_spike_contrast_flat_equals_elephant_behavior():
    """The counting without sorting gives elephant's spike contrast on random spikes on a grid."""
    from elephant.spike_train_synchrony import spike_contrast

    rng = np.random.default_rng(9)
    for _ in range(30):
        trains = [neo.SpikeTrain(np.unique(np.round(rng.uniform(0, 1, int(rng.integers(2, 60))) / 1e-4))
                                 * 1e-4 * pq.s, t_stop=1 * pq.s) for _ in range(int(rng.integers(2, 80)))]
        ours = synchrony_index(trains, 0 * pq.s, 1 * pq.s)
        assert ours == float(spike_contrast(trains, t_start=0 * pq.s, t_stop=1 * pq.s))  # integer counts
    ids = np.array([0, 0, 1, 1])
    assert spike_contrast_flat(ids, np.array([0.1, 0.5, 0.1, 0.5]), 2, 0.0, 1.0, 0.01) == pytest.approx(1.0)


def test_elephant_module_keeps_warning_filters_behavior():
    """Importing elephant through the measures leaves the warning filters as they were."""
    code = ("import sys, warnings\n"
            "from pinglab_bio.measures import elephant_module\n"
            "assert 'elephant' not in sys.modules\n"
            "before = list(warnings.filters)\n"
            "elephant_module('spectral')\n"
            "assert 'elephant.spectral' in sys.modules\n"
            "assert warnings.filters == before, warnings.filters[:3]\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
