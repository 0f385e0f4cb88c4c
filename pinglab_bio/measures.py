"""Measures on neo spike trains, computed with elephant.

Inputs are lists of :class:`neo.SpikeTrain` (units of time) or :class:`neo.AnalogSignal`;
outputs carry units (``quantities``) where they have any. Each function checks its input first,
then computes, then puts the units back.
"""

from __future__ import annotations

import contextlib
import logging
import warnings

import elephant.spectral
import elephant.statistics
import neo
import numpy as np
import quantities as pq
from elephant.spike_train_synchrony import spike_contrast

from .errors import PinglabError

__all__ = [
    "GAMMA_BAND",
    "PEAK_SEARCH_BAND",
    "firing_rates",
    "mean_rate",
    "population_rate",
    "rate_bin_size",
    "welch_psd",
    "gamma_peak",
    "cv_isi",
    "synchrony_index",
    "summarize",
]

GAMMA_BAND = (30.0, 100.0)  # Hz
PEAK_SEARCH_BAND = (5.0, 150.0)  # Hz, as in the reference PING analysis


@contextlib.contextmanager
def _quiet_binning():
    """Silence elephant's note on spikes sitting exactly on bin edges.

    Brian2 spike times lie on the dt grid, so with bins that are multiples of dt many spikes sit
    on an edge; elephant then logs one line per train while assigning them to the following
    bin, which is the assignment we want.
    """
    import elephant.utils

    # elephant names this logger after the module's file path
    logger = logging.getLogger(elephant.utils.__file__)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _check_spiketrains(spiketrains, name="spiketrains"):
    if isinstance(spiketrains, neo.SpikeTrain):
        raise PinglabError(f"{name} must be a list of neo.SpikeTrain, got one SpikeTrain. "
                           "Fix: wrap it in a list")
    spiketrains = list(spiketrains)
    if not spiketrains:
        raise PinglabError(f"{name} is empty. Fix: pass at least one neo.SpikeTrain")
    for st in spiketrains:
        if not isinstance(st, neo.SpikeTrain):
            raise PinglabError(f"{name} must hold neo.SpikeTrain objects, got {type(st).__name__}. "
                               "Fix: convert spikes with pinglab_bio.RunResult.spiketrains()")
    return spiketrains


def _window(spiketrains, t_start, t_stop):
    t_start = spiketrains[0].t_start if t_start is None else t_start
    t_stop = spiketrains[0].t_stop if t_stop is None else t_stop
    if not isinstance(t_start, pq.Quantity) or not isinstance(t_stop, pq.Quantity):
        raise PinglabError(f"t_start and t_stop need time units, got {t_start!r}, {t_stop!r}. "
                           "Fix: pass e.g. 0.1 * pq.s")
    if t_stop <= t_start:
        raise PinglabError(f"t_stop ({t_stop}) must be after t_start ({t_start}). Fix: widen the window")
    return t_start.rescale(pq.s), t_stop.rescale(pq.s)


def _slice(spiketrains, t_start, t_stop):
    """Trains cut to the window; trains already spanning exactly that window are reused."""
    return [st if (st.t_start == t_start and st.t_stop == t_stop) else st.time_slice(t_start, t_stop)
            for st in spiketrains]


def firing_rates(spiketrains, t_start=None, t_stop=None) -> pq.Quantity:
    """Firing rate of each neuron over ``[t_start, t_stop]``.

    Returns
    -------
    pq.Quantity, shape (n_neurons,)
        Rates in Hz.
    """
    spiketrains = _check_spiketrains(spiketrains)
    t_start, t_stop = _window(spiketrains, t_start, t_stop)
    # elephant refuses an empty train; a silent neuron fires at 0 Hz.
    rates = [float(elephant.statistics.mean_firing_rate(st, t_start=t_start, t_stop=t_stop).rescale(pq.Hz))
             if len(st) else 0.0 for st in _slice(spiketrains, t_start, t_stop)]
    return np.array(rates) * pq.Hz


def mean_rate(spiketrains, t_start=None, t_stop=None) -> pq.Quantity:
    """Mean firing rate of the population (Hz)."""
    return firing_rates(spiketrains, t_start, t_stop).mean()


def rate_bin_size(dt: pq.Quantity, target=1 * pq.ms) -> pq.Quantity:
    """The smallest whole multiple of ``dt`` that is at least ``target`` (default 1 ms).

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
    spiketrains = _check_spiketrains(spiketrains)
    t_start, t_stop = _window(spiketrains, t_start, t_stop)
    if not isinstance(bin_size, pq.Quantity) or float(bin_size.rescale(pq.s)) <= 0:
        raise PinglabError(f"bin_size must be a positive time, got {bin_size}. Fix: pass e.g. 1 * pq.ms")
    n_bins = int(np.floor(float(((t_stop - t_start) / bin_size).simplified) + 1e-9))
    t_stop = t_start + n_bins * bin_size.rescale(pq.s)
    with _quiet_binning():
        hist = elephant.statistics.time_histogram(
            _slice(spiketrains, t_start, t_stop), bin_size, t_start=t_start, t_stop=t_stop, output="rate")
    return hist.rescale(pq.Hz)


def welch_psd(signal: neo.AnalogSignal, frequency_resolution=None):
    """Welch power spectral density of a rate signal, mean removed, Hann window.

    Parameters
    ----------
    signal : neo.AnalogSignal
        One channel (e.g. a population rate in Hz).
    frequency_resolution : pq.Quantity, optional
        Resolution of the estimate; the default uses the whole signal as one Hann window,
        as in the reference PING analysis.

    Returns
    -------
    freqs : pq.Quantity, shape (n_freqs,)
        Frequencies in Hz.
    psd : pq.Quantity, shape (n_freqs,)
        Density in (signal unit)² / Hz.
    """
    if not isinstance(signal, neo.AnalogSignal):
        raise PinglabError(f"signal must be a neo.AnalogSignal, got {type(signal).__name__}. "
                           "Fix: use population_rate() first")
    if signal.shape[0] < 8:
        raise PinglabError(f"signal has {signal.shape[0]} samples; a spectrum needs at least 8. "
                           "Fix: simulate longer or use smaller bins")
    kwargs = {"n_segments": 1} if frequency_resolution is None else {
        "frequency_resolution": frequency_resolution}
    freqs, psd = elephant.spectral.welch_psd(signal, window="hann", detrend="constant", **kwargs)
    return freqs.rescale(pq.Hz), np.asarray(psd).reshape(-1) * psd.units


def gamma_peak(freqs, psd, band=GAMMA_BAND, search=PEAK_SEARCH_BAND) -> dict:
    """Spectral peak in ``search`` (refined by 3-point parabolic interpolation) and gamma share.

    Returns
    -------
    dict
        ``peak_hz``: peak frequency (Hz), ``in_band``: whether it lies in ``band``,
        ``power_share``: fraction of the spectrum's power (f > 0) that lies in ``band``,
        ``prominence``: peak density over the median density in ``search``.
    """
    f = np.asarray(freqs.rescale(pq.Hz)) if isinstance(freqs, pq.Quantity) else np.asarray(freqs)
    p = np.asarray(psd, dtype=float).reshape(-1)
    if f.shape != p.shape:
        raise PinglabError(f"freqs and psd differ in shape ({f.shape} vs {p.shape}). Fix: pass the "
                           "pair returned by welch_psd")
    sel = np.flatnonzero((f >= search[0]) & (f <= search[1]))
    if sel.size < 3:
        raise PinglabError(f"only {sel.size} frequencies in {search[0]}–{search[1]} Hz. "
                           "Fix: use a longer signal for a finer spectrum")
    total = p[f > 0].sum()
    k = sel[np.argmax(p[sel])]
    peak = f[k]
    if 0 < k < len(p) - 1:
        a, b, c = p[k - 1], p[k], p[k + 1]
        denom = a - 2 * b + c
        if denom != 0:
            peak = f[k] + 0.5 * (a - c) / denom * (f[1] - f[0])
    median = np.median(p[sel])
    return {
        "peak_hz": float(peak),
        "in_band": bool(band[0] <= peak <= band[1]),
        "power_share": float(p[(f >= band[0]) & (f <= band[1])].sum() / total) if total > 0 else 0.0,
        "prominence": float(p[k] / median) if median > 0 else float("inf") if p[k] > 0 else 0.0,
    }


def cv_isi(spiketrains, min_spikes: int = 3) -> float:
    """Mean coefficient of variation of the inter-spike intervals over neurons.

    Neurons with fewer than ``min_spikes`` spikes are left out; NaN if none is left.
    """
    spiketrains = _check_spiketrains(spiketrains)
    cvs = [elephant.statistics.cv(elephant.statistics.isi(st)) for st in spiketrains if len(st) >= min_spikes]
    return float(np.mean(cvs)) if cvs else float("nan")


def synchrony_index(spiketrains, t_start=None, t_stop=None) -> float:
    """Spike-contrast synchrony (elephant): 0 for asynchronous, 1 for fully synchronous trains.

    NaN when fewer than two neurons spike in the window.
    """
    spiketrains = _check_spiketrains(spiketrains)
    t_start, t_stop = _window(spiketrains, t_start, t_stop)
    active = [st for st in _slice(spiketrains, t_start, t_stop) if len(st) > 0]
    if len(active) < 2:
        return float("nan")
    with _quiet_binning():
        return float(spike_contrast(active, t_start=t_start, t_stop=t_stop))


def summarize(spiketrains_by_population: dict, *, dt, t_start, t_stop) -> tuple[dict, dict]:
    """The standard metrics of one run and the population rates they were computed from.

    The rhythm is measured on the E population when there is one, else on the I population.

    Returns
    -------
    metrics : dict
        ``rate_exc_hz``, ``rate_inh_hz``, ``gamma_peak_hz``, ``gamma_power_share``,
        ``gamma_prominence``, ``gamma_in_band``, ``cv_isi_exc``/``_inh``, ``synchrony_exc``/``_inh``,
        ``rhythm_population``, ``analysis_t_start_s``, ``analysis_t_stop_s``, ``rate_bin_ms``.
    rates : dict
        ``{population: neo.AnalogSignal}`` population rates in Hz.
    """
    bin_size = rate_bin_size(dt)
    metrics = {"analysis_t_start_s": float(t_start.rescale(pq.s)),
               "analysis_t_stop_s": float(t_stop.rescale(pq.s)),
               "rate_bin_ms": float(bin_size.rescale(pq.ms))}
    rates = {}
    for pop, trains in spiketrains_by_population.items():
        trains = _slice(_check_spiketrains(trains), t_start.rescale(pq.s), t_stop.rescale(pq.s))
        metrics[f"rate_{pop}_hz"] = float(mean_rate(trains, t_start, t_stop))
        metrics[f"cv_isi_{pop}"] = cv_isi(trains)
        metrics[f"synchrony_{pop}"] = synchrony_index(trains, t_start, t_stop)
        rates[pop] = population_rate(trains, bin_size, t_start, t_stop)
    for pop in ("exc", "inh"):
        for key in (f"rate_{pop}_hz", f"cv_isi_{pop}", f"synchrony_{pop}"):
            metrics.setdefault(key, None)
    rhythm = "exc" if "exc" in rates else "inh"
    freqs, psd = welch_psd(rates[rhythm])
    peak = gamma_peak(freqs, psd)
    metrics.update({
        "rhythm_population": rhythm,
        "gamma_peak_hz": peak["peak_hz"],
        "gamma_in_band": peak["in_band"],
        "gamma_power_share": peak["power_share"],
        "gamma_prominence": peak["prominence"],
    })
    return metrics, rates
