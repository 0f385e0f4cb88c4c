"""Moving input spikes to another integration step.

* ``upsample`` (finer dt): each spike goes to the first sub-step of its old step; the others
  stay empty (zero padding);
* ``downsample`` (coarser dt): spikes are summed into the coarser bins (counts may exceed 1);
* ``resample``: fresh draws at the new dt from the same rates (see
  :func:`pinglab_bio.data.encoders.poisson_encode`); the caller re-encodes.

:func:`move_spikes` re-bins by time for any ratio: a spike at ``k*dt_from`` goes to bin
``floor(k*dt_from/dt_to)``, which is the zero-padded upsample for a finer grid and the summed
downsample for a coarser one.
"""

from __future__ import annotations

import numpy as np

from ..errors import SettingsError

__all__ = ["TRANSPORTS", "upsample", "downsample", "move_spikes"]

TRANSPORTS = ("upsample", "downsample", "resample")


def _ratio(dt_from, dt_to):
    if not (dt_from > 0 and dt_to > 0):
        raise SettingsError(f"dt values must be positive, got {dt_from!r} and {dt_to!r}. Fix: pass seconds")
    return dt_from / dt_to


def upsample(spikes: np.ndarray, factor: int) -> np.ndarray:
    """``[n, T, c]`` → ``[n, T*factor, c]``: each spike at the first of its ``factor`` sub-steps."""
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise SettingsError(f"upsample factor must be a whole number ≥ 1, got {factor!r}. Fix: use a dt "
                            "that divides the old one")
    n, t, c = spikes.shape
    out = np.zeros((n, t * factor, c), dtype=spikes.dtype)
    out[:, ::factor] = spikes
    return out


def downsample(spikes: np.ndarray, factor: int) -> np.ndarray:
    """``[n, T, c]`` → ``[n, ceil(T/factor), c]``: spike counts summed into bins of ``factor`` steps."""
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise SettingsError(f"downsample factor must be a whole number ≥ 1, got {factor!r}. Fix: use a dt "
                            "that is a multiple of the old one")
    n, t, c = spikes.shape
    bins = -(-t // factor)
    padded = np.zeros((n, bins * factor, c), dtype=np.int64)
    padded[:, :t] = spikes
    return padded.reshape(n, bins, factor, c).sum(axis=2).astype(np.uint8 if padded.max() < 256 else np.int64)


def move_spikes(spikes: np.ndarray, dt_from: float, dt_to: float) -> np.ndarray:
    """Re-bin spikes ``[n, T, c]`` from step ``dt_from`` to ``dt_to`` (seconds), keeping the duration."""
    spikes = np.asarray(spikes)
    if spikes.ndim != 3:
        raise SettingsError(f"spikes must be [samples, steps, channels], got shape {spikes.shape}. Fix: "
                            "add the missing axis")
    ratio = _ratio(dt_from, dt_to)
    n, t, c = spikes.shape
    steps_to = int(round(t * ratio))
    if abs(steps_to * dt_to - t * dt_from) > 1e-9 * t * dt_from:
        raise SettingsError(f"a {t} × {dt_from:g} s window is not a whole number of {dt_to:g} s steps. "
                            "Fix: pick a dt that divides the duration")
    if abs(ratio - round(ratio)) < 1e-9 and round(ratio) >= 1:
        return upsample(spikes, int(round(ratio)))
    if abs(1 / ratio - round(1 / ratio)) < 1e-9:
        return downsample(spikes, int(round(1 / ratio)))
    new_index = np.minimum(np.floor(np.arange(t) * dt_from / dt_to + 1e-9).astype(np.int64), steps_to - 1)
    out = np.zeros((n, steps_to, c), dtype=np.int64)
    np.add.at(out, (slice(None), new_index), spikes.astype(np.int64))
    return out.astype(np.uint8) if out.max(initial=0) < 256 else out
