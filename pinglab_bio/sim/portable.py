"""Random numbers drawn on the CPU with numpy, so that every Brian2 device sees the same ones.

Each device has its own random generator (numpy's on the runtime, C++'s in standalone code,
cuRAND on the GPU), so the same seed gives different spikes on different devices. With
``--portable-random`` the toolkit draws every random number itself from the seed and hands
the numbers to Brian2 as data: initial values and tonic drive levels as arrays, connections as
index lists, and the per-step drive noise (OU increments, Poisson counts) as a
``TimedArray`` of shape (steps, neurons).

Memory
------
The noise array holds one float64 per neuron and step: 8 bytes per neuron-step. The default
PING model (800 driven E cells) at dt 0.1 ms costs 800 × 10,000 × 8 B = 64 MB per simulated
second, in the Python process and, on standalone devices, once more in the compiled program
(and on disk in its build folder). :func:`noise_bytes` gives the figure before a run.

Each use draws from its own stream, ``SeedSequence(seed).spawn`` keyed by a fixed name, so
adding or removing one population or pathway does not shift the numbers of the others.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["PortableRandom", "noise_bytes", "BYTES_PER_NEURON_STEP", "format_bytes", "first_difference"]

BYTES_PER_NEURON_STEP = 8


def first_difference(a, b) -> float:
    """Time (s) of the first spike at which two runs differ; ``inf`` when they are identical.

    ``a`` and ``b`` are ``(indices, times_s)`` sorted by time, then index, as
    :meth:`pinglab_bio.RunResult.spike_arrays` returns them. Two devices that draw the same
    random numbers (``--portable-random``) and do the same arithmetic never differ; a last-bit
    difference in, say, a GPU's ``exp`` moves one spike by a step, and the time of that first
    difference tells such drift from a wrong model, which differs from the first volley on.
    """
    (ia, ta), (ib, tb) = a, b
    n = min(len(ta), len(tb))
    ia, ib, ta, tb = (np.asarray(x) for x in (ia, ib, ta, tb))
    diff = np.flatnonzero((ia[:n] != ib[:n]) | (ta[:n] != tb[:n]))
    if diff.size:
        return float(min(ta[diff[0]], tb[diff[0]]))
    if len(ta) == len(tb):
        return float("inf")
    return float(ta[n] if len(ta) > n else tb[n])


def noise_bytes(n_neurons: int, dt, duration) -> int:
    """Bytes of a (steps × neurons) float64 noise array for ``duration`` at ``dt``."""
    steps = int(round(float(duration) / float(dt)))
    return BYTES_PER_NEURON_STEP * steps * int(n_neurons)


def format_bytes(n: int) -> str:
    """``64.0 MB``-style text (decimal units)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


class PortableRandom:
    """Named numpy random streams derived from one seed, and their Brian2 data objects.

    Parameters
    ----------
    seed : int
        The run's seed.
    dt : brian2 Quantity
        Integration step; the noise arrays have one row per step.
    duration : brian2 Quantity
        Simulated time (the number of rows is ``duration / dt``).
    """

    def __init__(self, seed: int, *, dt, duration):
        self.seed = int(seed)
        self.dt = dt
        self.steps = int(round(float(duration) / float(dt)))
        #: bytes drawn per purpose, e.g. ``{"exc_ou_xi": 64000000}``
        self.bytes: dict[str, int] = {}

    def generator(self, name: str) -> np.random.Generator:
        """The stream of one named use (independent of every other name)."""
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, key])))

    def uniform(self, name: str, n: int) -> np.ndarray:
        """``n`` numbers, uniform in [0, 1)."""
        values = self.generator(name).random(n)
        self.bytes[name] = values.nbytes
        return values

    def normal(self, name: str, n: int) -> np.ndarray:
        """``n`` standard normal numbers."""
        values = self.generator(name).standard_normal(n)
        self.bytes[name] = values.nbytes
        return values

    def bernoulli_pairs(self, name: str, n_source: int, n_target: int, p: float,
                        exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Pre and post indices of independent connections with probability ``p``.

        Drawn one target at a time (memory ``n_source`` per step, not ``n_source × n_target``).
        """
        gen = self.generator(name)
        pre_parts, post_parts = [], []
        for j in range(n_target):
            pre = np.flatnonzero(gen.random(n_source) < p)
            if exclude_self:
                pre = pre[pre != j]
            pre_parts.append(pre)
            post_parts.append(np.full(len(pre), j, dtype=np.int64))
        pre = np.concatenate(pre_parts) if pre_parts else np.empty(0, dtype=np.int64)
        post = np.concatenate(post_parts) if post_parts else np.empty(0, dtype=np.int64)
        self.bytes[name] = pre.nbytes + post.nbytes
        return pre, post

    def _timed_array(self, name: str, values: np.ndarray, group):
        from brian2 import TimedArray

        self.bytes[name] = values.nbytes
        array = TimedArray(values, dt=self.dt, name=name)
        group.namespace[name] = array
        return name

    def noise_function(self, name: str, group) -> str:
        """Register a (steps × N) standard-normal TimedArray in ``group``'s namespace; return its name."""
        values = self.generator(name).standard_normal((self.steps, len(group)))
        return self._timed_array(name, values, group)

    def poisson_function(self, name: str, group, n_sources: int, rate) -> str:
        """Register a (steps × N) TimedArray of Binomial(n_sources, rate·dt) input counts."""
        p = float(rate) * float(self.dt)
        counts = self.generator(name).binomial(int(n_sources), min(p, 1.0), size=(self.steps, len(group)))
        return self._timed_array(name, counts.astype(np.float64), group)
