"""Drift of a measure across integration steps: each dt against the finest one.

A model that has learned continuous-time dynamics should give the same rhythm at every dt; the
drift of the gamma peak from its value at the finest dt is the number the Δt-stability study
reports.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import PinglabError

__all__ = ["percent_drift", "peak_frequency_drift"]


def percent_drift(value: float, reference: float) -> float:
    """Change of ``value`` from ``reference`` in percent of ``reference``: ``100 (value − ref) / ref``."""
    return 100 * (value - reference) / reference


def peak_frequency_drift(peaks_by_dt) -> dict:
    """Mean gamma peak per dt over seeds and its drift from the finest dt.

    Parameters
    ----------
    peaks_by_dt : mapping of float to sequence of float
        dt (ms) → peak frequencies (Hz), one per seed. Values that are None or not finite are
        left out of the mean.

    Returns
    -------
    dict
        dt (ms), finest first → ``{"peak_hz": mean peak (Hz), "peak_freq_drift_hz": mean peak
        minus that of the finest dt (Hz), "peak_freq_drift_pct": the same in percent of the
        finest dt's mean (%)}``. The finest dt has drift 0.
    """
    if not peaks_by_dt:
        raise PinglabError("peaks_by_dt is empty. Fix: pass {dt_ms: [peak_hz, ...]} for at least one dt")
    means = {}
    for dt_ms in sorted(peaks_by_dt, key=float):
        vals = [float(v) for v in peaks_by_dt[dt_ms] if v is not None and math.isfinite(v)]
        means[dt_ms] = float(np.mean(vals)) if vals else float("nan")
    ref = next(iter(means.values()))
    return {dt_ms: {"peak_hz": mean, "peak_freq_drift_hz": mean - ref,
                    "peak_freq_drift_pct": percent_drift(mean, ref)} for dt_ms, mean in means.items()}
