"""Connectivity drawn once, vectorised in numpy from the seed, and handed to Brian2 as arrays.

A pathway with a fixed in-degree ``k`` connects every target neuron to ``k`` distinct source
neurons (never to itself in a recurrent pathway). Drawing them target by target costs one
generator call per target (about 20 s for 10^6 targets); here every target's sources are drawn
in one array operation, and the duplicates that a draw with replacement leaves are redrawn,
row by row, until there are none. Brian2 then gets ``connect(i=..., j=...)``, so no device
builds synapses in a generated loop.

Drawn connectivity is kept in the cache folder (``paths.cache_dir()/connectivity``), keyed by
the sizes, the rule, the seed and the pathway, so a rerun or another sweep point of the same
network reads it back instead of drawing it again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import SettingsError
from ..paths import cache_dir

__all__ = ["fixed_in_degree", "pathway_arrays", "ALGORITHM"]

#: version of the drawing rule; it enters the cache key, so a change of rule never reads old arrays
ALGORITHM = "in_degree-v1"

# Rows × columns of one block of random keys in the dense method (bounded memory).
_BLOCK_ELEMENTS = 4_000_000


def _distinct_by_keys(rng: np.random.Generator, rows: int, n_choices: int, k: int) -> np.ndarray:
    """``[rows, k]`` distinct draws from ``range(n_choices)``: the k smallest of random keys."""
    out = np.empty((rows, k), dtype=np.int64)
    step = max(1, _BLOCK_ELEMENTS // max(1, n_choices))
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        keys = rng.random((stop - start, n_choices))
        out[start:stop] = np.argpartition(keys, k - 1, axis=1)[:, :k] if k < n_choices else \
            np.argsort(keys, axis=1)
    return out


def _distinct_by_rejection(rng: np.random.Generator, rows: int, n_choices: int, k: int) -> np.ndarray:
    """``[rows, k]`` distinct draws when ``k ≪ n_choices``: draw with replacement, redraw rows
    that hold a repeat (each row is then uniform over the k-subsets, as a draw without replacement)."""
    draws = rng.integers(0, n_choices, size=(rows, k), dtype=np.int64)
    todo = np.arange(rows)
    while True:
        block = np.sort(draws[todo], axis=1)
        bad = todo[np.any(block[:, 1:] == block[:, :-1], axis=1)]
        if not len(bad):
            return draws
        draws[bad] = rng.integers(0, n_choices, size=(len(bad), k), dtype=np.int64)
        todo = bad


def fixed_in_degree(n_source: int, n_target: int, k: int, *, recurrent: bool,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(pre, post)`` int32 arrays: ``k`` distinct sources for each of ``n_target`` targets.

    Parameters
    ----------
    n_source, n_target : int
        Population sizes.
    k : int
        In-degree, ``0 ≤ k ≤ n_source`` (``n_source - 1`` for a recurrent pathway).
    recurrent : bool
        Source and target are the same population: a neuron never connects to itself.
    rng : numpy.random.Generator
    """
    n_choices = n_source - 1 if recurrent else n_source
    if not 0 <= k <= n_choices:
        raise SettingsError(f"in-degree {k} needs {k} distinct sources, but only {n_choices} are there. "
                            f"Fix: use in_degree ≤ {n_choices}")
    if k == 0 or n_target == 0:
        return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int32)
    # A row of k draws with replacement is free of repeats with probability about exp(-k²/2n)
    # (birthday bound): redraw such rows while that is likely enough, otherwise pick by random keys.
    if k * k < 6 * n_choices:
        choice = _distinct_by_rejection(rng, n_target, n_choices, k)
    else:
        choice = _distinct_by_keys(rng, n_target, n_choices, k)
    if recurrent:
        choice += choice >= np.arange(n_target)[:, None]  # skip the neuron itself
    post = np.repeat(np.arange(n_target, dtype=np.int32), k)
    return choice.reshape(-1).astype(np.int32), post


def _cache_path(key: str) -> Path:
    return cache_dir() / "connectivity" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"


def pathway_arrays(name: str, n_source: int, n_target: int, k: int, *, recurrent: bool, seed: int,
                   cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The ``(pre, post)`` arrays of a fixed in-degree pathway, drawn from ``seed`` or read back.

    The draw depends only on the arguments (each pathway has its own generator, seeded from
    ``seed`` and the pathway's name), so the same network gets the same synapses on every
    device and in every process.
    """
    key = f"{ALGORITHM}|{name}|{n_source}|{n_target}|{k}|{recurrent}|{seed}"
    path = _cache_path(key)
    if cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                if str(stored["key"]) == key:
                    return stored["pre"], stored["post"]
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is drawn again and replaced
    name_seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    rng = np.random.default_rng([seed, name_seed])
    pre, post = fixed_in_degree(n_source, n_target, k, recurrent=recurrent, rng=rng)
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.partial")
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, pre=pre, post=post, key=np.array(key))
            os.replace(tmp, path)  # whole or not at all: a concurrent run never reads half a file
        except OSError:
            pass  # an unwritable cache only costs the draw next time
    return pre, post
