"""Spike encoders for static inputs (intensities in [0, 1]).

Both take ``dt`` explicitly, so the same data can be encoded at any integration step with the
same statistics: the Poisson encoder draws a spike in a step with probability
``1 - exp(-rate*dt)`` (the chance of at least one event of a Poisson process of that rate in a
step), so the expected count per second does not depend on dt for small ``rate*dt``.

numpy arrays are encoded with numpy's generator; torch tensors (the E:I-ratio studies encode
each mini-batch on the fly) with a ``torch.Generator`` in the tensor's float32 arithmetic, so
each kind of caller keeps its own stream of draws. torch is imported only for tensors.
"""

from __future__ import annotations

import numpy as np

from ..errors import SettingsError

__all__ = ["spike_probability", "poisson_encode", "latency_encode"]


def _is_tensor(x) -> bool:
    return type(x).__module__.startswith("torch")


def _check(intensity, dt_s, steps):
    x = intensity if _is_tensor(intensity) else np.asarray(intensity, dtype=float)
    if x.ndim != 2:
        raise SettingsError(f"intensities must be [samples, channels], got shape {tuple(x.shape)}. Fix: "
                            "reshape images to one row per sample")
    low, high = (float(x.min()), float(x.max())) if x.shape[0] * x.shape[1] else (0.0, 1.0)
    if low < 0 or high > 1:
        raise SettingsError(f"intensities must lie in [0, 1], got [{low:g}, {high:g}]. Fix: "
                            "divide by the maximum pixel value")
    if not dt_s > 0:
        raise SettingsError(f"dt must be positive, got {dt_s!r} s. Fix: pass e.g. 1e-3")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise SettingsError(f"steps must be a whole number ≥ 1, got {steps!r}. Fix: pass duration/dt")
    return x


def spike_probability(rate_hz, dt_s: float):
    """Probability of a spike in one step of length ``dt_s``: ``1 - exp(-rate*dt)``."""
    return -np.expm1(-np.asarray(rate_hz, dtype=float) * dt_s)


def poisson_encode(intensity, *, dt_s: float, steps: int, max_rate_hz: float = 100.0, rng=0):
    """Poisson rate code: ``[samples, channels]`` → ``[samples, steps, channels]`` spikes.

    Parameters
    ----------
    intensity : numpy array or torch tensor, shape (samples, channels)
        Values in [0, 1]; a channel's rate is ``intensity * max_rate_hz``.
    dt_s : float
        Integration step (s).
    steps : int
        Steps per sample.
    max_rate_hz : float
        Rate of a channel at intensity 1 (Hz).
    rng : numpy Generator or seed, or torch.Generator
        Source of the uniform draws: a numpy generator (or seed) for arrays, a
        ``torch.Generator`` (or None, torch's global one) for tensors.

    Returns
    -------
    numpy.ndarray of uint8, or torch.Tensor of float32 (for a tensor input)
        Shape (samples, steps, channels); at most one spike per step.
    """
    x = _check(intensity, dt_s, steps)
    if not max_rate_hz >= 0:
        raise SettingsError(f"max_rate_hz must be ≥ 0, got {max_rate_hz!r}. Fix: pass e.g. 100")
    if _is_tensor(x):
        import torch

        # float32 throughout, as the studies that encode tensors always drew
        p = 1.0 - torch.exp(-x.clamp(0, 1) * max_rate_hz * dt_s)
        u = torch.rand((x.shape[0], steps, x.shape[1]), generator=rng)
        return (u < p[:, None, :]).to(torch.float32)
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    p = spike_probability(x * max_rate_hz, dt_s)
    return (rng.random((x.shape[0], steps, x.shape[1])) < p[:, None, :]).astype(np.uint8)


def latency_encode(intensity, *, dt_s: float, steps: int, t_max_s: float | None = None,
                   threshold: float = 0.01) -> np.ndarray:
    """Time-to-first-spike code: one spike at ``t = t_max*(1 - intensity)``; none below ``threshold``.

    ``t_max_s`` defaults to the last step's time. The spike falls in step ``floor(t/dt)``.
    """
    x = _check(np.asarray(intensity, dtype=float), dt_s, steps)
    t_max = (steps - 1) * dt_s if t_max_s is None else float(t_max_s)
    if not 0 <= t_max < steps * dt_s:
        raise SettingsError(f"t_max {t_max!r} s lies outside the {steps * dt_s:g} s window. Fix: pass a "
                            "smaller t_max_s or more steps")
    out = np.zeros((x.shape[0], steps, x.shape[1]), dtype=np.uint8)
    s, c = np.nonzero(x >= threshold)
    step = np.minimum(np.floor(t_max * (1 - x[s, c]) / dt_s + 1e-9).astype(np.int64), steps - 1)
    out[s, step, c] = 1
    return out
