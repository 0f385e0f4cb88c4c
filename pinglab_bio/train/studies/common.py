"""What the training studies and their analyses share: flag lists, the digits split, E/I classes.

numpy only at import, so the analysis scripts read run folders without torch.
"""

from __future__ import annotations

import numpy as np

from ...errors import SettingsError

__all__ = ["parse_list", "digits_tensors", "ratio_label", "pair_classes", "PAIR_CLASSES"]

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
