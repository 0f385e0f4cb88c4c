"""Firing rates, the population rate, and the regularity of spiking (CV and LV of the ISIs).

As elephant's ``statistics`` module defines them. The population rate and the ISI CV count all
trains in one pass rather than elephant's one call per train, in numpy alone: the counts per bin
are those of elephant's ``BinnedSpikeTrain`` (the same bin edges and edge tolerance), so the rate
equals elephant's ``time_histogram`` to the last bit (tested), and a run's standard measures do
not import elephant.
"""

from __future__ import annotations

import warnings

import neo
import numpy as np
import quantities as pq

from ..errors import PinglabError
from .checks import (
    analysis_window,
    check_min_spikes,
    check_spiketrains,
    elephant_module,
    times_in_seconds,
    trains_in_window,
)

__all__ = ["firing_rates", "mean_rate", "rate_bin_size", "population_rate", "population_rate_flat",
           "cv_isi", "cv_isi_times", "lv_isi", "lv_isi_times", "fraction_active"]


def firing_rates(spiketrains, t_start=None, t_stop=None) -> pq.Quantity:
    """Firing rate of each neuron over ``[t_start, t_stop]``.

    Returns
    -------
    pq.Quantity, shape (n_neurons,)
        Rates in Hz.
    """
    spiketrains = check_spiketrains(spiketrains)
    t_start, t_stop = analysis_window(spiketrains, t_start, t_stop)
    # elephant refuses an empty train; a silent neuron fires at 0 Hz.
    # Plain arrays in seconds: the same elephant computation without per-train unit bookkeeping.
    a, b = float(t_start), float(t_stop)
    statistics = elephant_module("statistics")
    rates = [float(statistics.mean_firing_rate(times_in_seconds(st), t_start=a, t_stop=b))
             if len(st) else 0.0 for st in trains_in_window(spiketrains, t_start, t_stop)]
    return np.array(rates) * pq.Hz


def mean_rate(spiketrains, t_start=None, t_stop=None) -> pq.Quantity:
    """Mean firing rate of the population (Hz)."""
    return firing_rates(spiketrains, t_start, t_stop).mean()


def rate_bin_size(dt: pq.Quantity, target=1 * pq.ms) -> pq.Quantity:
    """The smallest whole multiple of ``dt`` that is at least ``target`` (default 1 ms), in ms.

    Binning spikes that sit on a dt grid into bins that are a multiple of dt avoids the
    aliasing a non-multiple bin would put into the spectrum.
    """
    steps = max(1, int(np.ceil(float((target / dt).simplified) - 1e-9)))
    return (steps * dt).rescale(pq.ms)


def population_rate(spiketrains, bin_size, t_start=None, t_stop=None) -> neo.AnalogSignal:
    """Population rate: spikes per neuron per second, in bins of ``bin_size``.

    Returns
    -------
    neo.AnalogSignal, shape (n_bins, 1)
        Rate in Hz, sampled every ``bin_size`` from ``t_start``.
    """
    spiketrains = check_spiketrains(spiketrains)
    t_start, t_stop = analysis_window(spiketrains, t_start, t_stop)
    if not isinstance(bin_size, pq.Quantity) or float(bin_size.rescale(pq.s)) <= 0:
        raise PinglabError(f"bin_size must be a positive time, got {bin_size}. Fix: pass e.g. 1 * pq.ms")
    units = spiketrains[0].units
    times = np.concatenate([np.asarray((st if st.units == units else st.rescale(units)).magnitude,
                                       dtype=float) for st in spiketrains])
    return population_rate_flat(times * units, len(spiketrains), bin_size, t_start, t_stop)


def population_rate_flat(times: pq.Quantity, n_neurons: int, bin_size, t_start, t_stop) -> neo.AnalogSignal:
    """Population rate of ``n_neurons`` whose spikes (all neurons, any order) are ``times``.

    Counts in a bin add up over neurons, so binning all spikes as one train gives the counts
    of elephant's ``time_histogram`` over the separate trains (the same binning code, edge
    tolerance included); dividing by ``n_neurons · bin_size`` is its ``output="rate"``.

    Parameters
    ----------
    times : pq.Quantity, shape (n_spikes,)
        Spike times of the whole population (a unit of time).
    n_neurons : int
        Neurons in the population, silent ones included.
    bin_size, t_start, t_stop : pq.Quantity
        Bin width and window; the window is cut to a whole number of bins.

    Returns
    -------
    neo.AnalogSignal, shape (n_bins, 1)
        Rate in Hz.
    """
    n_bins = int(np.floor(float(((t_stop - t_start) / bin_size).simplified) + 1e-9))
    t_stop = t_start + n_bins * bin_size.rescale(pq.s)
    mag = np.sort(np.asarray(times.magnitude, dtype=float))
    lo, hi = float(t_start.rescale(times.units)), float(t_stop.rescale(times.units))
    counts = _bin_counts(mag[(mag >= lo) & (mag <= hi)], lo, hi, float(bin_size.rescale(times.units)))
    rate = counts / (n_neurons * bin_size)
    return neo.AnalogSignal(np.expand_dims(rate, axis=1), sampling_period=bin_size, units=rate.units,
                            t_start=pq.Quantity(lo, units=times.units), normalization="rate").rescale(pq.Hz)


#: elephant's ``BinnedSpikeTrain`` default: a spike this close (in bins) below a bin edge is counted
#: in the bin after it, since it lies on the edge but for rounding
_EDGE_TOLERANCE = 1e-8


def _bin_counts(times: np.ndarray, t_start: float, t_stop: float, bin_size: float) -> np.ndarray:
    """Spikes per bin of ``[t_start, t_stop]`` (one unit throughout), as elephant bins them.

    The arithmetic is elephant's ``BinnedSpikeTrain`` (``elephant.conversion``) step by step:
    the number of bins and each spike's bin come from the same operations in the same order,
    a value within ``_EDGE_TOLERANCE`` of the next whole bin is moved into it, and spikes whose
    bin lies past the last (a spike on ``t_stop``) are dropped. Tested equal to elephant.

    Returns
    -------
    ndarray of int64, shape (n_bins,)
    """
    n_bins = _round_bins((t_stop - t_start) / bin_size)
    if n_bins <= 0:
        raise PinglabError(f"the window {t_start:g}–{t_stop:g} holds no bin of {bin_size:g}. "
                           "Fix: widen the window or use a smaller bin")
    inside = times[(times >= t_start) & (times <= t_stop)] - t_start
    bins = _round_bins(inside * (1 / bin_size))
    return np.bincount(bins[bins < n_bins], minlength=n_bins).astype(np.int64)


def _round_bins(values):
    """Bin index (int32) of a position in bins, or the number of bins of a window (int)."""
    if isinstance(values, np.ndarray):
        values[1 - _EDGE_TOLERANCE <= values % 1] += 0.5
        return values.astype(np.int32)
    if 1 - _EDGE_TOLERANCE <= values % 1:
        values += 0.5
    return int(values)


def cv_isi(spiketrains, min_spikes: int = 3) -> float:
    """Mean coefficient of variation of the inter-spike intervals over neurons (dimensionless).

    The CV of one neuron is the population standard deviation of its intervals over their mean
    (as ``elephant.statistics.cv``, i.e. ``scipy.stats.variation``). Neurons with fewer than
    ``min_spikes`` spikes are left out; NaN if none is left.
    """
    spiketrains = check_spiketrains(spiketrains)
    return cv_isi_times([times_in_seconds(st) for st in spiketrains], min_spikes)


def cv_isi_times(times_per_neuron, min_spikes: int = 3) -> float:
    """:func:`cv_isi` of spike times given as one sorted float array per neuron (one unit throughout)."""
    cvs = []
    for t in times_per_neuron:
        if len(t) >= min_spikes:
            isi = np.diff(t)
            cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else float("nan")


def lv_isi(spiketrains, min_spikes: int = 3) -> float:
    """Mean local variation (LV) of the inter-spike intervals over neurons (elephant ``lv``).

    LV is 0 for a regular train and 1 for a Poisson train, and unlike CV it is not inflated by
    slow rate changes. Neurons with fewer than ``min_spikes`` spikes are left out; NaN if none is
    left. Dimensionless.
    """
    spiketrains = check_spiketrains(spiketrains)
    check_min_spikes(min_spikes, 3)
    return lv_isi_times([times_in_seconds(st) for st in spiketrains], min_spikes)


def lv_isi_times(times_per_neuron, min_spikes: int = 3) -> float:
    """:func:`lv_isi` of spike times given as one sorted float array per neuron (one unit throughout)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        statistics = elephant_module("statistics")
        lvs = [statistics.lv(statistics.isi(t))
               for t in times_per_neuron if len(t) >= min_spikes]
    return float(np.mean(lvs)) if lvs else float("nan")


def fraction_active(spiketrains, t_start=None, t_stop=None, min_spikes: int = 1) -> float:
    """Fraction of neurons with at least ``min_spikes`` spikes in ``[t_start, t_stop]`` (0–1)."""
    spiketrains = check_spiketrains(spiketrains)
    check_min_spikes(min_spikes, 1)
    t_start, t_stop = analysis_window(spiketrains, t_start, t_stop)
    return float(np.mean([len(st) >= min_spikes for st in trains_in_window(spiketrains, t_start, t_stop)]))
