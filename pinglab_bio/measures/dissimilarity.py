"""Van Rossum distances between spike trains, grouped by pair class (E–E, E–I, I–I).

The reference computation is elephant's ``van_rossum_distance`` (kernel ``exp(-t/τ)``, normalised
so that one spike against an empty train is at distance 1). Two faster paths give the same
numbers:

* :func:`van_rossum_matrix` with ``method="grid"``: when every spike time is a whole multiple of
  a step ``h`` (Brian2 spike times lie on the ``dt`` grid), the filtered trains are exactly
  ``F[k] = r F[k-1] + count[k]`` at the grid points with ``r = exp(-h/τ)``, and the kernel sum
  ``K(a, b) = Σ_ij exp(-|a_i - b_j|/τ)`` equals ``(1 - r²) Σ_k F_a[k] F_b[k]`` summed over all
  ``k ≥ 0`` (the tail after the last grid point is geometric and added in closed form). All
  pairs then come from one matrix product, ``D² = K(a,a) + K(b,b) - 2 K(a,b)``.
* :func:`paired_van_rossum`: the distance of train ``a[n]`` to train ``b[n]`` for each ``n``
  (one neuron at two integration steps), by the direct double sum over spike pairs.

Both are checked against elephant to 1e-9 in ``tests/test_vanrossum.py``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import quantities as pq

from ..errors import PinglabError
from .checks import check_spiketrains, elephant_module

__all__ = ["PAIR_CLASSES", "van_rossum_matrix", "paired_van_rossum", "van_rossum_by_class",
           "PairClassDistances", "on_grid"]

PAIR_CLASSES = ("E-E", "E-I", "I-I")
_METHODS = ("auto", "elephant", "grid")


def _check_time_constant(time_constant) -> float:
    """τ in seconds; a positive, finite time."""
    if (not isinstance(time_constant, pq.Quantity)
            or time_constant.dimensionality.simplified != pq.s.dimensionality):
        raise PinglabError(f"time_constant must be a time quantity, got {time_constant!r}. "
                           "Fix: pass e.g. 5 * pq.ms")
    tau = float(time_constant.rescale(pq.s))
    if not np.isfinite(tau) or tau <= 0:
        raise PinglabError(f"time_constant must be positive and finite, got {time_constant}. "
                           "Fix: pass e.g. 5 * pq.ms")
    return tau


def on_grid(spiketrains, grid_step, t_origin=None, rtol: float = 1e-6) -> bool:
    """Whether every spike time is ``t_origin + k·grid_step`` for a whole ``k`` (within ``rtol·step``)."""
    h = float(grid_step.rescale(pq.s))
    t0 = float((t_origin if t_origin is not None else spiketrains[0].t_start).rescale(pq.s))
    for st in spiketrains:
        x = (st.times.rescale(pq.s).magnitude - t0) / h
        if x.size and np.max(np.abs(x - np.round(x))) > rtol:
            return False
    return True


def _elephant_matrix(spiketrains, tau_s):
    van_rossum_distance = elephant_module("spike_train_dissimilarity").van_rossum_distance

    # Spike times in ms keep the kernel sums well conditioned (elephant's own advice).
    trains = [st.rescale(pq.ms) for st in spiketrains]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(van_rossum_distance(trains, time_constant=tau_s * 1e3 * pq.ms))


def _grid_kernel_matrix(spiketrains, tau_s, h_s, t0_s, chunk_elements=4_000_000):
    """``K[a, b] = Σ_ij exp(-|a_i - b_j|/τ)`` for trains on the grid ``t0 + k h``."""
    import scipy.signal  # here, not with the module: scipy.signal's import loads scipy.stats

    n = len(spiketrains)
    steps = [np.rint((st.times.rescale(pq.s).magnitude - t0_s) / h_s).astype(np.int64) for st in spiketrains]
    owner = np.concatenate([np.full(s.size, k, dtype=np.int64) for k, s in enumerate(steps)]) if n else \
        np.zeros(0, np.int64)
    flat = np.concatenate(steps) if n else np.zeros(0, np.int64)
    gram = np.zeros((n, n))
    if flat.size == 0:
        return gram
    if flat.min() < 0:
        raise PinglabError("a spike lies before t_start. Fix: slice the trains to their window first")
    order = np.argsort(flat, kind="stable")
    flat, owner = flat[order], owner[order]
    r = np.exp(-h_s / tau_s)
    last = int(flat[-1])
    chunk = max(16, chunk_elements // max(n, 1))
    state = np.zeros(n)
    lo = 0
    for k0 in range(0, last + 1, chunk):
        k1 = min(k0 + chunk, last + 1)
        hi = np.searchsorted(flat, k1, side="left")
        counts = np.zeros((n, k1 - k0))
        np.add.at(counts, (owner[lo:hi], flat[lo:hi] - k0), 1.0)
        lo = hi
        traces = scipy.signal.lfilter([1.0], [1.0, -r], counts, axis=1, zi=(r * state)[:, None])[0]
        gram += traces @ traces.T
        state = traces[:, -1].copy()
    return (1.0 - r * r) * gram + (r * r) * np.outer(state, state)


def van_rossum_matrix(spiketrains, time_constant, method: str = "auto", grid_step=None) -> np.ndarray:
    """Van Rossum distance between every pair of spike trains.

    Parameters
    ----------
    spiketrains : list of neo.SpikeTrain
        N trains with a common ``t_start`` (units of time).
    time_constant : pq.Quantity
        Decay time τ of the exponential kernel, e.g. ``5 * pq.ms``.
    method : {"auto", "elephant", "grid"}
        ``"elephant"`` calls elephant's ``van_rossum_distance``; ``"grid"`` uses the exact
        matrix-product path and needs every spike on the grid ``t_start + k·grid_step``;
        ``"auto"`` takes the grid path when that holds.
    grid_step : pq.Quantity, optional
        Step of the spike-time grid (the simulation ``dt``).

    Returns
    -------
    np.ndarray, shape (N, N)
        Dimensionless distances (elephant's normalisation: one spike against none is 1).
    """
    spiketrains = check_spiketrains(spiketrains)
    tau = _check_time_constant(time_constant)
    if method not in _METHODS:
        raise PinglabError(f"unknown van Rossum method {method!r}. Fix: use one of {', '.join(_METHODS)}")
    if method in ("grid", "auto") and grid_step is None:
        if method == "grid":
            raise PinglabError("method 'grid' needs grid_step (the simulation dt). Fix: pass e.g. "
                               "grid_step=0.1 * pq.ms")
        method = "elephant"
    if grid_step is not None and method != "elephant":
        if not isinstance(grid_step, pq.Quantity) or float(grid_step.rescale(pq.s)) <= 0:
            raise PinglabError(f"grid_step must be a positive time, got {grid_step!r}. "
                               "Fix: pass e.g. 0.1 * pq.ms")
        fits = on_grid(spiketrains, grid_step)
        if method == "grid" and not fits:
            raise PinglabError(f"spike times are not on the grid of step {grid_step}. Fix: pass the dt the "
                               "trains were simulated at, or method='elephant'")
        method = "grid" if fits else "elephant"
    if method == "elephant":
        return _elephant_matrix(spiketrains, tau)
    t0 = float(spiketrains[0].t_start.rescale(pq.s))
    kernel = _grid_kernel_matrix(spiketrains, tau, float(grid_step.rescale(pq.s)), t0)
    diag = np.diag(kernel)
    squared = diag[:, None] + diag[None, :] - 2.0 * kernel
    np.fill_diagonal(squared, 0.0)
    return np.sqrt(np.maximum(squared, 0.0))


def _kernel_sum(a, b, tau):
    """``Σ_ij exp(-|a_i - b_j|/τ)`` by direct summation in blocks (times in s, sorted or not)."""
    if a.size == 0 or b.size == 0:
        return 0.0
    total = 0.0
    block = max(1, 2_000_000 // b.size)
    for k in range(0, a.size, block):
        total += float(np.exp(-np.abs(a[k:k + block, None] - b[None, :]) / tau).sum())
    return total


def paired_van_rossum(spiketrains_a, spiketrains_b, time_constant) -> np.ndarray:
    """Van Rossum distance of ``spiketrains_a[n]`` to ``spiketrains_b[n]`` for each ``n``.

    Used to compare each neuron with itself in another run (e.g. the finest-dt run).

    Parameters
    ----------
    spiketrains_a, spiketrains_b : list of neo.SpikeTrain
        Two equally long lists of trains (units of time).
    time_constant : pq.Quantity
        Kernel decay time τ.

    Returns
    -------
    np.ndarray, shape (N,)
        Dimensionless distances, elephant's normalisation.
    """
    a_list = check_spiketrains(spiketrains_a, "spiketrains_a")
    b_list = check_spiketrains(spiketrains_b, "spiketrains_b")
    if len(a_list) != len(b_list):
        raise PinglabError(f"spiketrains_a has {len(a_list)} trains and spiketrains_b {len(b_list)}. "
                           "Fix: pass the same neurons from both runs")
    tau = _check_time_constant(time_constant)
    out = np.empty(len(a_list))
    for n, (sa, sb) in enumerate(zip(a_list, b_list, strict=True)):
        a = sa.times.rescale(pq.s).magnitude.astype(float)
        b = sb.times.rescale(pq.s).magnitude.astype(float)
        squared = _kernel_sum(a, a, tau) + _kernel_sum(b, b, tau) - 2.0 * _kernel_sum(a, b, tau)
        out[n] = np.sqrt(max(squared, 0.0))
    return out


@dataclass
class PairClassDistances:
    """Van Rossum distances of sampled (or all) neuron pairs, by class E–E, E–I, I–I."""

    distances: dict            # class -> np.ndarray of distances
    pairs: dict                # class -> np.ndarray (n_pairs, 2) of (first, second) neuron indices
    time_constant_ms: float
    method: str
    kruskal_h: float
    kruskal_p: float
    all_pairs: bool
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """A JSON-ready table: per class n, median, mean, quartiles; Kruskal–Wallis H and p."""
        table = {}
        for cls in PAIR_CLASSES:
            d = self.distances.get(cls, np.zeros(0))
            if d.size:
                table[cls] = {"n_pairs": int(d.size), "median": float(np.median(d)),
                              "mean": float(np.mean(d)),
                              "q25": float(np.percentile(d, 25)), "q75": float(np.percentile(d, 75))}
            else:
                table[cls] = {"n_pairs": 0, "median": None, "mean": None, "q25": None, "q75": None}
        return {"time_constant_ms": self.time_constant_ms, "method": self.method, "all_pairs": self.all_pairs,
                "classes": table, "kruskal_h": self.kruskal_h, "kruskal_p": self.kruskal_p}


def _class_pairs(n_exc, n_inh):
    """All index pairs per class; E indices 0..n_exc-1, I indices n_exc.. in the joint list."""
    ee = np.array(np.triu_indices(n_exc, 1)).T
    ii = np.array(np.triu_indices(n_inh, 1)).T + n_exc
    ei = np.array(np.meshgrid(np.arange(n_exc), np.arange(n_inh) + n_exc, indexing="ij")).reshape(2, -1).T
    return {"E-E": ee, "E-I": ei, "I-I": ii}


def van_rossum_by_class(exc, inh, time_constant, *, n_pairs: int | None = None, seed: int = 0,
                        method: str = "auto", grid_step=None) -> PairClassDistances:
    """Van Rossum distances grouped into E–E, E–I and I–I pairs, with a Kruskal–Wallis test.

    Parameters
    ----------
    exc, inh : list of neo.SpikeTrain
        The E and I trains of one run (same window).
    time_constant : pq.Quantity
        Kernel decay time τ.
    n_pairs : int, optional
        Pairs drawn per class (seeded, without replacement); ``None`` takes every pair.
    seed : int
        Seed of the pair sample.
    method, grid_step
        As in :func:`van_rossum_matrix`.

    Returns
    -------
    PairClassDistances
        Distances and pair indices (joint numbering: E first, then I) per class, and the
        Kruskal–Wallis H and p across the three classes (NaN if a class has no pair or all
        distances are equal).
    """
    exc = check_spiketrains(exc, "exc")
    inh = check_spiketrains(inh, "inh")
    tau = _check_time_constant(time_constant)
    if n_pairs is not None and (isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer))
                                or n_pairs < 1):
        raise PinglabError(f"n_pairs must be a whole number ≥ 1 or None, got {n_pairs!r}. "
                           "Fix: pass e.g. n_pairs=2000, or None for all pairs")
    joint = exc + inh
    pairs = _class_pairs(len(exc), len(inh))
    rng = np.random.default_rng(seed)
    if n_pairs is not None:
        pairs = {cls: (p[np.sort(rng.choice(len(p), size=min(n_pairs, len(p)), replace=False))]
                       if len(p) else p) for cls, p in pairs.items()}
    used = np.unique(np.concatenate([p.reshape(-1) for p in pairs.values()]))
    local = np.full(len(joint), -1)
    local[used] = np.arange(used.size)
    matrix = van_rossum_matrix([joint[k] for k in used], time_constant, method=method, grid_step=grid_step)
    resolved = method if method != "auto" else (
        "grid" if grid_step is not None and on_grid([joint[k] for k in used], grid_step) else "elephant")
    distances = {cls: matrix[local[p[:, 0]], local[p[:, 1]]] if len(p) else np.zeros(0)
                 for cls, p in pairs.items()}
    groups = [d for d in distances.values() if d.size]
    h, p = float("nan"), float("nan")
    if len(groups) == 3 and np.ptp(np.concatenate(groups)) > 0:
        import scipy.stats

        res = scipy.stats.kruskal(*groups)
        h, p = float(res.statistic), float(res.pvalue)
    return PairClassDistances(distances=distances, pairs=pairs, time_constant_ms=tau * 1e3, method=resolved,
                              kruskal_h=h, kruskal_p=p, all_pairs=n_pairs is None)
