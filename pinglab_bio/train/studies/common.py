"""What the training studies and their analyses share: flag lists, the digits split, E/I classes.

numpy only at import, so the analysis scripts read run folders without torch.
"""

from __future__ import annotations

import time

import numpy as np

from ...errors import SettingsError

__all__ = ["parse_list", "digits_tensors", "ratio_label", "pair_classes", "PAIR_CLASSES", "class_order",
           "StudyProgress"]

#: Classes of a pair of hidden neurons, by the kinds of its two neurons.
PAIR_CLASSES = ("E-E", "E-I", "I-I")


def parse_list(flag: str, text, convert=float, *, allowed=None, minimum=None) -> list:
    """``"2,4,8"`` → ``[2, 4, 8]``; a one-line SettingsError names the flag, the value and the fix."""
    items = [v.strip() for v in str(text).split(",") if v.strip()]
    if not items:
        raise SettingsError(f"{flag} needs at least one value, got {text!r}. Fix: e.g. {flag} 2,4,8")
    out = []
    for item in items:
        if allowed is not None:
            if item not in allowed:
                raise SettingsError(
                    f"{flag}: unknown value {item!r}. Fix: use values from {', '.join(allowed)}"
                )
            out.append(item)
            continue
        try:
            value = convert(item)
        except ValueError:
            raise SettingsError(
                f"{flag}: {item!r} is not a {convert.__name__}. Fix: e.g. {flag} 2,4,8"
            ) from None
        if minimum is not None and value < minimum:
            raise SettingsError(
                f"{flag}: values must be ≥ {minimum}, got {item}. Fix: pass values ≥ {minimum}"
            )
        out.append(value)
    return out


def digits_tensors(seed: int = 0, test_fraction: float = 0.2) -> tuple:
    """The studies' digits: ``(x_train, y_train, x_test, y_test)`` as torch tensors.

    scikit-learn's digits with pixels in [0, 1] (float32) and labels int64, split by
    :func:`~pinglab_bio.data.datasets.load_digits_dataset` with ``split="stratified"``.
    """
    from ...data.datasets import load_digits_dataset
    from ..loop import dataset_tensors

    return dataset_tensors(load_digits_dataset(seed=seed, test_fraction=test_fraction, split="stratified"))


def ratio_label(ratio: float) -> str:
    """``0.8`` → ``"80:20"``: the E:I ratio of an E share, in whole percent."""
    e = int(round(100 * ratio))
    return f"{e}:{100 - e}"


def pair_classes(matrix: np.ndarray, n_exc: int) -> dict:
    """Upper-triangle pair values of ``matrix`` by class.

    Parameters
    ----------
    matrix : numpy.ndarray, shape (n_neurons, n_neurons)
        A symmetric measure between hidden neurons (e.g. Van Rossum distances).
    n_exc : int
        The first ``n_exc`` neurons are E, the others I.

    Returns
    -------
    dict
        ``{"E-E", "E-I", "I-I"}`` → 1-D arrays of the pairs' values.
    """
    n = matrix.shape[0]
    iu, ju = np.triu_indices(n, 1)
    exc_i, exc_j = iu < n_exc, ju < n_exc
    return {
        "E-E": matrix[iu[exc_i & exc_j], ju[exc_i & exc_j]],
        "E-I": matrix[iu[exc_i != exc_j], ju[exc_i != exc_j]],
        "I-I": matrix[iu[~exc_i & ~exc_j], ju[~exc_i & ~exc_j]],
    }


def class_order(networks) -> dict:
    """Medians of the pair classes, whether they order E–E < E–I < I–I, and Kruskal–Wallis.

    Parameters
    ----------
    networks : list of (matrix, n_exc)
        Distance matrices of one or more networks and their E counts; the pairs of all of them
        are pooled (one network: that network's own test).

    Returns
    -------
    dict
        ``n_networks``, ``n_pairs`` and ``medians`` per class, ``ordered`` (``None`` when a class
        is empty), and ``kruskal_h`` / ``kruskal_p`` (``None`` when a class is empty or every
        distance is equal).
    """
    import scipy.stats

    per = [pair_classes(np.asarray(m), int(n)) for m, n in networks]
    pooled = {c: np.concatenate([p[c] for p in per]) if per else np.zeros(0) for c in PAIR_CLASSES}
    out = {
        "n_networks": len(per),
        "n_pairs": {c: int(pooled[c].size) for c in PAIR_CLASSES},
        "medians": {c: (float(np.median(pooled[c])) if pooled[c].size else None) for c in PAIR_CLASSES},
        "ordered": None,
        "kruskal_h": None,
        "kruskal_p": None,
        "distances": pooled,
    }
    present = [pooled[c] for c in PAIR_CLASSES if pooled[c].size]
    if len(present) == 3:
        m = out["medians"]
        out["ordered"] = bool(m["E-E"] < m["E-I"] < m["I-I"])
        if np.ptp(np.concatenate(present)) > 0:
            res = scipy.stats.kruskal(*present)
            out["kruskal_h"], out["kruskal_p"] = float(res.statistic), float(res.pvalue)
    return out


class StudyProgress:
    """Progress of a study of many training runs: a start line at once, a line with the epoch time
    and the study's estimate in the first run, and an ETA after each run.

    The start line is logged when the object is made, before any training. ``epoch_done(epoch)``
    (from a run's per-epoch hook) logs, after the second epoch of the first run (the first also
    pays for the initial evaluation), how long an epoch takes and the whole study's estimate;
    ``run_done()`` returns ``"k/n, ETA …"`` for the run's own line.
    """

    def __init__(self, log, n_runs: int, epochs: int):
        self.log, self.n_runs, self.epochs = log, n_runs, epochs
        self.started = self.run_started = time.perf_counter()
        self.done = 0
        log(f"training {n_runs} networks × {epochs} epochs; an estimate of the time follows the "
            f"first network's {'second' if epochs > 1 else 'first'} epoch")

    def epoch_done(self, epoch: int):
        if self.done:
            return
        now = time.perf_counter()
        if epoch == 1:
            self.first_epoch = now
            if self.epochs > 1:
                return  # the first epoch also pays for the initial evaluation: time the second
        from ..loop import format_eta

        if epoch == 1:
            took = now - self.run_started
        elif epoch == 2:
            took = now - self.first_epoch
        else:
            return
        self.log(f"progress: {self.n_runs} networks × {self.epochs} epochs; an epoch takes {took:.1f} s, "
                 f"ETA {format_eta(took * self.epochs * self.n_runs)}")

    def run_done(self) -> str:
        from ..loop import format_eta

        self.done += 1
        now = time.perf_counter()
        self.run_started = now
        left = (now - self.started) / self.done * (self.n_runs - self.done)
        return f"{self.done}/{self.n_runs}, ETA {format_eta(left)}"
