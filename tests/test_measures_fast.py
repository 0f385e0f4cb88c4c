"""The array-based measures give elephant's numbers, and a run's arrays give its Block's.

The standard metrics are computed on flat spike arrays (one pass over all neurons) instead of
elephant's one-call-per-train functions. These tests hold them to elephant on the same spikes:
exactly where both count integers (spike contrast, histograms, rates), and to 1e-12 where the
floating-point summation order may differ (ISI CV).
"""

import elephant.statistics as es
import h5py
import neo
import numpy as np
import pytest
import quantities as pq
from elephant.spike_train_synchrony import spike_contrast

from pinglab_bio import errors
from pinglab_bio.measures import (
    cv_isi,
    fraction_active,
    lv_isi,
    peak_frequency_drift,
    percent_drift,
    population_rate,
    spike_contrast_flat,
    summarize,
    summarize_arrays,
    summary,
    synchrony_index,
    trains_in_window,
)
from pinglab_bio.runs.folder import write_spikes


def _random_trains(rng, on_grid):
    """A few to tens of trains, some silent, some single spikes, optionally on a 0.1 ms grid."""
    t_stop = float(rng.uniform(0.2, 3.0))
    trains = []
    for _ in range(int(rng.integers(2, 40))):
        t = np.sort(rng.uniform(0, t_stop, int(rng.integers(0, 30))))
        if on_grid:  # Brian2's spikes sit on the dt grid, so many fall exactly on bin edges
            t = np.unique(np.round(t / 1e-4)) * 1e-4
        trains.append(neo.SpikeTrain(t * pq.s, t_stop=t_stop * pq.s))
    return trains, t_stop


def _elephant_synchrony(trains, t_start, t_stop):
    sliced = [st.time_slice(t_start, t_stop) for st in trains]
    active = [st for st in sliced if len(st)]
    if len(active) < 2:
        return float("nan")
    try:
        return float(spike_contrast(active, t_start=t_start, t_stop=t_stop))
    except ValueError:  # elephant refuses trains that all have at most one spike
        return float("nan")


@pytest.mark.parametrize("on_grid", [False, True])
def test_synchrony_equals_elephant_spike_contrast_behavior(on_grid):
    rng = np.random.default_rng(11 if on_grid else 12)
    for _ in range(25):
        trains, t_stop = _random_trains(rng, on_grid)
        t_start = 0.1 * t_stop * pq.s
        ours = synchrony_index(trains, t_start, t_stop * pq.s)
        theirs = _elephant_synchrony(trains, t_start, t_stop * pq.s)
        assert ours == theirs or (np.isnan(ours) and np.isnan(theirs))  # integer counts: bit for bit


def test_measures_equal_elephant_on_a_ping_run_behavior(default_run):
    t0, t1 = 0.1 * pq.s, 1.0 * pq.s
    for pop in ("exc", "inh"):
        trains = default_run.spiketrains(pop)
        sliced = [st.time_slice(t0, t1) for st in trains]
        assert synchrony_index(trains, t0, t1) == _elephant_synchrony(trains, t0, t1)
        expected_cv = np.mean([es.cv(es.isi(st.magnitude)) for st in sliced if len(st) >= 3])
        assert cv_isi(sliced) == pytest.approx(expected_cv, rel=1e-12)  # summation order only
        ours = population_rate(trains, 1 * pq.ms, t0, t1)
        theirs = es.time_histogram(sliced, 1 * pq.ms, t_start=t0, t_stop=t1, output="rate").rescale(pq.Hz)
        np.testing.assert_array_equal(ours.magnitude, theirs.magnitude)
        assert float(ours.t_start) == float(theirs.t_start) and ours.sampling_period == theirs.sampling_period


def test_summarize_arrays_equals_summarize_on_trains_behavior(default_run):
    kw = dict(dt=0.1 * pq.ms, t_start=0.1 * pq.s, t_stop=1.0 * pq.s)
    from_trains, rates_t = summarize({p: default_run.spiketrains(p) for p in ("exc", "inh")}, **kw)
    arrays = {}
    for pop in ("exc", "inh"):
        idx, t = default_run.spike_arrays(pop)
        arrays[pop] = (default_run.info["populations"][pop], idx, t)
    from_arrays, rates_a = summarize_arrays(arrays, **kw)
    assert from_arrays == from_trains  # the same computation on the same spikes: every number equal
    for pop in rates_t:
        np.testing.assert_array_equal(rates_a[pop].magnitude, rates_t[pop].magnitude)
    # and the run's own metrics are these numbers
    assert default_run.metrics["synchrony_exc"] == from_arrays["synchrony_exc"]
    assert default_run.metrics["rate_inh_hz"] == from_arrays["rate_inh_hz"]


def test_lazy_block_and_array_writer_match_the_block_behavior(default_run, tmp_path):
    from pinglab_bio.runs.result import RunResult

    # the Block built on demand holds the spikes the arrays hold
    idx, t = default_run.spike_arrays("exc")
    trains = default_run.spiketrains("exc")
    assert sum(len(st) for st in trains) == t.size
    k = int(idx[0])
    assert float(trains[k].times[0].rescale(pq.s)) == t[0]
    # spikes.h5 written from the arrays equals the one written from the Block
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    default_run.write_data(tmp_path / "a", "h5")
    write_spikes(tmp_path / "b", default_run.block)
    with h5py.File(tmp_path / "a" / "spikes.h5") as a, h5py.File(tmp_path / "b" / "spikes.h5") as b:
        for pop in ("exc", "inh"):
            for name in ("times", "indices"):
                np.testing.assert_array_equal(a[f"spikes/{pop}/{name}"][()], b[f"spikes/{pop}/{name}"][()])
            np.testing.assert_array_equal(a[f"rates/{pop}"][()], b[f"rates/{pop}"][()])
        assert dict(a.attrs) == dict(b.attrs)
    with pytest.raises(errors.PinglabError, match=r"RunResult needs a neo Block or spike arrays"):
        RunResult(metrics={}, info={})


def test_spike_contrast_flat_edge_cases_behavior():
    # one spike per train: no interval, so no bin sizes to scan
    assert np.isnan(spike_contrast_flat(np.array([0, 1]), np.array([0.1, 0.2]), 2, 0.0, 1.0, 0.01))
    # identical trains are fully synchronous
    t = np.tile(np.arange(0.05, 1.0, 0.1), 2)
    ids = np.repeat([0, 1], 10)
    assert spike_contrast_flat(ids, t, 2, 0.0, 1.0, 0.01) == pytest.approx(1.0)


def test_summarize_arrays_errors():
    good = {"exc": (3, np.array([0, 2]), np.array([0.2, 0.3]))}
    kw = dict(dt=0.1 * pq.ms, t_start=0.1 * pq.s, t_stop=1.0 * pq.s)
    with pytest.raises(errors.PinglabError, match=r"indices must match times and lie in 0…2"):
        summarize_arrays({"exc": (3, np.array([0, 3]), np.array([0.2, 0.3]))}, **kw)
    with pytest.raises(errors.PinglabError, match=r"t_stop needs time units, got 1.0"):
        summarize_arrays(good, dt=0.1 * pq.ms, t_start=0.1 * pq.s, t_stop=1.0)
    with pytest.raises(errors.PinglabError, match=r"t_stop \(0.1 s\) must be after t_start \(0.5 s\)"):
        summarize_arrays(good, dt=0.1 * pq.ms, t_start=0.5 * pq.s, t_stop=0.1 * pq.s)


def test_summary_levels_behavior(default_run):
    kw = dict(dt=0.1 * pq.ms, t_start=0.1 * pq.s, t_stop=1.0 * pq.s)
    trains = {p: default_run.spiketrains(p) for p in default_run.populations}
    standard, arrays = summary(trains, **kw)
    assert standard == summarize_arrays({p: (default_run.info["populations"][p], *default_run.spike_arrays(p))
                                         for p in default_run.populations}, **kw)[0]
    assert standard == default_run.metrics  # metrics.json is the standard level
    sweep, sweep_arrays = summary(trains, level="sweep", **kw)
    # each level holds the one before, number for number
    assert {k: sweep[k] for k in standard} == standard
    window = {p: trains_in_window(t, kw["t_start"], kw["t_stop"]) for p, t in trains.items()}
    assert sweep["lv_isi_exc"] == lv_isi(window["exc"])
    assert set(sweep_arrays["welch"]) == {"exc"} and "gamma_q_factor" in sweep
    full, full_arrays = summary(trains, level="full", van_rossum=False, **kw)
    assert {k: full[k] for k in sweep} == sweep
    assert full["fraction_active_inh"] == fraction_active(window["inh"], kw["t_start"], kw["t_stop"])
    assert full["ei_populations"] == ["exc", "inh"] and "exc_fraction_per_cycle" in full
    assert set(full_arrays["multitaper"]) == {"exc", "inh"} and "van_rossum" not in full
    # flat arrays and neo trains give the same full summary
    flat = {p: (default_run.info["populations"][p], *default_run.spike_arrays(p)) for p in trains}
    assert summary(flat, level="full", van_rossum=False, **kw)[0] == full


def test_summary_errors():
    good = {"exc": (3, np.array([0, 2]), np.array([0.2, 0.3]))}
    kw = dict(dt=0.1 * pq.ms, t_start=0.1 * pq.s, t_stop=1.0 * pq.s)
    with pytest.raises(errors.PinglabError, match=r"unknown summary level 'ful'. Fix: use one of standard, "
                                                  r"sweep, full"):
        summary(good, level="ful", **kw)
    with pytest.raises(errors.PinglabError, match=r"spikes of 'exc' is empty"):
        summary({"exc": []}, **kw)


def test_peak_frequency_drift_behavior():
    drift = peak_frequency_drift({0.25: [40.0, 42.0], 0.1: [50.0, 50.0], 0.5: [None, 45.0]})
    assert list(drift) == [0.1, 0.25, 0.5]  # finest first
    assert drift[0.1] == {"peak_hz": 50.0, "peak_freq_drift_hz": 0.0, "peak_freq_drift_pct": 0.0}
    assert drift[0.25]["peak_hz"] == 41.0 and drift[0.25]["peak_freq_drift_hz"] == -9.0
    assert drift[0.25]["peak_freq_drift_pct"] == percent_drift(41.0, 50.0) == pytest.approx(-18.0)
    assert drift[0.5]["peak_hz"] == 45.0  # a missing seed is left out of the mean
    with pytest.raises(errors.PinglabError, match=r"peaks_by_dt is empty"):
        peak_frequency_drift({})
