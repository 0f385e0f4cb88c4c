"""Input checks and conversions shared by the measures: spike-train lists, signals, windows.

Each measure checks and converts its input first (here), then computes, then puts units back.
A failed check is a one-line :class:`~pinglab_bio.errors.PinglabError` that says what was
wrong, the value received and how to fix it.

Elephant is imported on first use (:func:`elephant_module`), not with this package: importing any
part of it runs its ``__init__``, which loads every elephant module (scipy.stats, scikit-learn,
...), about a second of start-up that the standard measures of a run do not need.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import warnings

import neo
import numpy as np
import quantities as pq

from ..errors import PinglabError

__all__ = ["check_spiketrains", "check_signal", "check_min_spikes", "check_frequency", "check_times",
           "analysis_window", "trains_in_window", "seconds_per_unit", "times_in_seconds", "quiet_binning",
           "elephant_module"]


def elephant_module(name: str):
    """``elephant.<name>``, imported on first use with the warning filters left as they were.

    Elephant's import adds ``"once"`` for every ``UserWarning`` in front of the filters (in
    ``elephant.spade``); importing it here undoes that, so a measure that needs elephant changes
    no process-wide state.

    Parameters
    ----------
    name : str
        Submodule, e.g. ``"spectral"`` or ``"spike_train_dissimilarity"``.
    """
    with warnings.catch_warnings():
        return importlib.import_module(f"elephant.{name}")


def check_spiketrains(spiketrains, name="spiketrains"):
    """A non-empty list of neo SpikeTrains, or a one-line :class:`PinglabError` saying what is wrong."""
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


def check_signal(signal):
    """A one-channel :class:`neo.AnalogSignal` (e.g. a population rate), or a one-line error."""
    if not isinstance(signal, neo.AnalogSignal):
        raise PinglabError(f"signal must be a neo.AnalogSignal, got {type(signal).__name__}. "
                           "Fix: use population_rate() first")
    if signal.ndim != 2 or signal.shape[1] != 1:
        raise PinglabError(f"signal must have one channel, got shape {tuple(signal.shape)}. "
                           "Fix: pass one population rate at a time")


def check_min_spikes(value, least: int):
    """``value`` is a whole number ≥ ``least`` (a spike count threshold), or a one-line error."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise PinglabError(f"min_spikes must be a whole number ≥ {least}, got {value!r}. "
                           f"Fix: pass e.g. {least}")


def check_frequency(peak_hz, name="peak_hz"):
    """``peak_hz`` is a positive, finite frequency in Hz, or a one-line error."""
    if not np.isfinite(peak_hz) or peak_hz <= 0:
        raise PinglabError(f"{name} must be a positive frequency, got {peak_hz!r}. "
                           "Fix: pass the gamma peak in Hz")


def check_times(**values):
    """Every keyword value is a :class:`quantities.Quantity` (a time), or a one-line error naming it."""
    for name, value in values.items():
        if not isinstance(value, pq.Quantity):
            raise PinglabError(f"{name} needs time units, got {value!r}. Fix: pass e.g. 0.1 * pq.s")


def analysis_window(spiketrains, t_start=None, t_stop=None) -> tuple[pq.Quantity, pq.Quantity]:
    """The checked window ``(t_start, t_stop)`` in seconds; ``None`` takes the trains' own bound.

    Parameters
    ----------
    spiketrains : list of neo.SpikeTrain
        Trains whose first ``t_start`` / ``t_stop`` stand in for a bound left as ``None``.
    t_start, t_stop : pq.Quantity, optional
        Times (any unit of time).

    Returns
    -------
    t_start, t_stop : pq.Quantity
        In s, ``t_stop > t_start``.
    """
    t_start = spiketrains[0].t_start if t_start is None else t_start
    t_stop = spiketrains[0].t_stop if t_stop is None else t_stop
    if not isinstance(t_start, pq.Quantity) or not isinstance(t_stop, pq.Quantity):
        raise PinglabError(f"t_start and t_stop need time units, got {t_start!r}, {t_stop!r}. "
                           "Fix: pass e.g. 0.1 * pq.s")
    if t_stop <= t_start:
        raise PinglabError(f"t_stop ({t_stop}) must be after t_start ({t_start}). Fix: widen the window")
    return t_start.rescale(pq.s), t_stop.rescale(pq.s)


def trains_in_window(spiketrains, t_start, t_stop) -> list:
    """Trains cut to ``[t_start, t_stop]`` (both ends kept), in s, annotations kept.

    Trains that already span exactly that window (to 1 ns) are returned as they are.

    Parameters
    ----------
    spiketrains : list of neo.SpikeTrain
    t_start, t_stop : pq.Quantity
        The window (any unit of time).

    Returns
    -------
    list of neo.SpikeTrain
        One per input train, ``t_start``/``t_stop`` set to the window.
    """
    a, b = float(t_start.rescale(pq.s)), float(t_stop.rescale(pq.s))
    out = []
    for st in spiketrains:
        factor = seconds_per_unit(st)
        # 1 ns: windows built as t_start + n·bin differ from the same window by rounding only
        same = (abs(float(st.t_start.magnitude) * factor - a) <= 1e-9
                and abs(float(st.t_stop.magnitude) * factor - b) <= 1e-9)
        if same:
            out.append(st)
            continue
        t = np.asarray(st.magnitude, dtype=float) * factor
        keep = t[(t >= a) & (t <= b)]
        # A plain constructor call (times already in range) is several times faster than time_slice.
        out.append(neo.SpikeTrain(keep, units="s", t_start=a, t_stop=b,
                                  **{k: v for k, v in st.annotations.items() if k != "nix_name"}))
    return out


_FACTORS: dict = {}


def seconds_per_unit(st) -> float:
    """Seconds per unit of a train's times (cached by unit name: quantities' rescale is slow)."""
    key = st.dimensionality.string
    if key not in _FACTORS:
        _FACTORS[key] = float(pq.Quantity(1.0, key).rescale(pq.s))
    return _FACTORS[key]


def times_in_seconds(st) -> np.ndarray:
    """Spike times of a train in seconds as a plain float array."""
    return np.asarray(st.magnitude, dtype=float) * seconds_per_unit(st)


@contextlib.contextmanager
def quiet_binning():
    """Silence elephant's note on spikes sitting exactly on bin edges, inside the block only.

    Brian2 spike times lie on the dt grid, so with bins that are multiples of dt many spikes sit
    on an edge; elephant then logs one line per train while assigning them to the following
    bin, which is the assignment we want.
    """
    # elephant names this logger after the module's file path
    logger = logging.getLogger(elephant_module("utils").__file__)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
