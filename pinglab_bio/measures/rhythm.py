"""The structure of the rhythm: the E→I lag within a cycle and the fraction of a population
that fires in each cycle.

The catalogue's excitatory and inhibitory populations are named in :data:`EI_POPULATIONS`; the
measures below take the populations as arguments, and :func:`rhythm_population` and
:func:`ei_pair` pick them out of a run's population names.
"""

from __future__ import annotations

import neo
import numpy as np
import quantities as pq

from ..errors import PinglabError
from .checks import check_frequency, check_signal, check_spiketrains

__all__ = ["EI_POPULATIONS", "rhythm_population", "ei_pair", "ei_lag", "cycle_participation"]

#: The catalogue's (excitatory, inhibitory) population names. The rhythm is measured on the
#: first of them a run has; the E→I measures need both.
EI_POPULATIONS = ("exc", "inh")


def rhythm_population(populations, preference=EI_POPULATIONS) -> str:
    """The population whose rate carries the rhythm: the first of ``preference`` present, else
    the first population (E for a PING model, I for an I-only ING model)."""
    populations = list(populations)
    if not populations:
        raise PinglabError("no population given. Fix: pass the run's population names")
    return next((p for p in preference if p in populations), populations[0])


def ei_pair(populations, names=EI_POPULATIONS):
    """``(excitatory, inhibitory)`` names when the run has both, else ``None``."""
    populations = list(populations)
    return tuple(names) if all(p in populations for p in names) else None


def _rate_array(signal):
    return np.asarray(signal.magnitude, dtype=float).reshape(-1)


def ei_lag(rate_exc: neo.AnalogSignal, rate_inh: neo.AnalogSignal, peak_hz: float) -> dict:
    """Delay of the I volley after the E volley within one gamma cycle.

    The lag is where the cross-correlation of the mean-removed E and I population rates peaks,
    searched over lags from minus to plus half a period and refined by 3-point parabolic
    interpolation. Positive: the I volley follows the E volley (as PING predicts).

    Parameters
    ----------
    rate_exc, rate_inh : neo.AnalogSignal
        Population rates on the same time axis (see :func:`population_rate`).
    peak_hz : float
        Rhythm frequency (Hz), e.g. ``gamma_peak(...)["peak_hz"]``.

    Returns
    -------
    dict
        ``lag_ms`` (ms), ``phase`` (lag as a fraction of the period), ``correlation`` (normalised
        cross-correlation at the lag, in [-1, 1]). NaN where a rate is flat.
    """
    for sig in (rate_exc, rate_inh):
        check_signal(sig)
    if rate_exc.shape != rate_inh.shape or abs(float(rate_exc.sampling_period.rescale(pq.s))
                                                 - float(rate_inh.sampling_period.rescale(pq.s))) > 1e-12:
        raise PinglabError(f"rate_exc and rate_inh differ in shape or sampling ({rate_exc.shape} vs "
                           f"{rate_inh.shape}). Fix: bin both populations with the same bin_size and window")
    check_frequency(peak_hz)
    e = _rate_array(rate_exc) - _rate_array(rate_exc).mean()
    i = _rate_array(rate_inh) - _rate_array(rate_inh).mean()
    nan = {"lag_ms": float("nan"), "phase": float("nan"), "correlation": float("nan")}
    if not e.any() or not i.any():
        return nan
    h = float(rate_exc.sampling_period.rescale(pq.s))
    max_lag = max(1, int(round(0.5 / peak_hz / h)))
    norm = np.sqrt(np.dot(e, e) * np.dot(i, i))
    lags = np.arange(-max_lag, max_lag + 1)
    xc = np.array([np.dot(e[:e.size - m], i[m:]) if m >= 0 else np.dot(e[-m:], i[:i.size + m])
                   for m in lags]) / norm
    k = int(np.argmax(xc))
    shift = 0.0
    if 0 < k < xc.size - 1:
        a, b, c = xc[k - 1], xc[k], xc[k + 1]
        if a - 2 * b + c != 0:
            shift = 0.5 * (a - c) / (a - 2 * b + c)
    lag_s = (lags[k] + shift) * h
    return {"lag_ms": lag_s * 1e3, "phase": lag_s * peak_hz, "correlation": float(xc[k])}


def cycle_participation(spiketrains, reference_rate: neo.AnalogSignal, peak_hz: float) -> dict:
    """Fraction of neurons that fire in each gamma cycle.

    Cycles are delimited at the troughs of the reference population rate (smoothed with a
    Gaussian of sd 1/8 period): the minimum between consecutive peaks, peaks found at least
    0.6 period apart. A neuron takes part in a cycle if it spikes at least once in it.

    Parameters
    ----------
    spiketrains : list of neo.SpikeTrain
        The population to count (e.g. E).
    reference_rate : neo.AnalogSignal
        The rate that defines the cycles (e.g. the E or I population rate).
    peak_hz : float
        Rhythm frequency (Hz).

    Returns
    -------
    dict
        ``per_cycle`` (np.ndarray, fraction per complete cycle), ``mean``, ``n_cycles``.
    """
    import scipy.signal  # here, not with the module: scipy.signal's import loads scipy.stats

    spiketrains = check_spiketrains(spiketrains)
    check_signal(reference_rate)
    check_frequency(peak_hz)
    h = float(reference_rate.sampling_period.rescale(pq.s))
    t0 = float(reference_rate.t_start.rescale(pq.s))
    period = 1.0 / peak_hz / h
    x = _rate_array(reference_rate)
    smooth = np.convolve(x, _gaussian(period / 8.0), mode="same")
    peaks, _ = scipy.signal.find_peaks(smooth, distance=max(1, int(0.6 * period)))
    if peaks.size < 3:
        return {"per_cycle": np.zeros(0), "mean": float("nan"), "n_cycles": 0}
    troughs = np.array([a + int(np.argmin(smooth[a:b])) for a, b in zip(peaks[:-1], peaks[1:], strict=True)])
    edges = t0 + troughs * h
    counts = np.zeros(edges.size - 1)
    for st in spiketrains:
        t = st.times.rescale(pq.s).magnitude
        hit = np.unique(np.searchsorted(edges, t, side="right") - 1)
        hit = hit[(hit >= 0) & (hit < counts.size)]
        counts[hit] += 1
    per_cycle = counts / len(spiketrains)
    return {"per_cycle": per_cycle, "mean": float(per_cycle.mean()) if per_cycle.size else float("nan"),
            "n_cycles": int(per_cycle.size)}


def _gaussian(sd_bins):
    sd = max(float(sd_bins), 0.5)
    half = int(np.ceil(3 * sd))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sd) ** 2)
    return k / k.sum()
