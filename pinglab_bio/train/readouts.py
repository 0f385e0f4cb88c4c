"""Readouts fitted from a reservoir's exported state, and their synapses back in Brian2.

Four kinds (:data:`READOUTS`), each sign-constrained (Dale: weights from E ≥ 0, from I ≤ 0) or
free:

* ``ridge``: ridge regression on one-hot targets, the closed-form reference (free: scikit-learn;
  with Dale, the objective of scikit-learn's ``Ridge(positive=True)`` on features whose I
  columns are negated, all classes in one L-BFGS-B under bounds);
* ``logistic``: multinomial logistic regression (free: scikit-learn; with Dale, the same loss
  minimised by L-BFGS-B under bounds). Both Dale solvers walk the regularisation grid from the
  strongest value, each fit warm-started from the one before;
* ``leaky``: leaky-integrator outputs (``READOUT_EQUATIONS``) driven by the hidden spikes,
  trained with surrogate gradients through the derived step
  (:class:`~pinglab_bio.train.networks.EIClassifier`, :func:`~pinglab_bio.train.loop.train_loop`);
  the score of an output is its membrane pooled over the trial (:data:`POOLS`, by default its
  value at the end);
* ``spiking``: a population of LIF outputs driven by the hidden spikes, trained the same way;
  the class is the output that fires most (ties: the earliest first spike).

The linear readouts use the chosen exported states (standardised for the fit; the weights are
folded back into SI units). :func:`readout_network` turns every fitted readout into Brian2
populations and synapses in the same network as the reservoir: a readout of window counts is
``score_post += w_m`` on each spike in window ``m``, one of filtered traces adds each spike's
future contributions ``w_m exp(-(t_m - t)/tau)``, one of a sampled variable is a summed-variable
synapse ``y = Σ w_m var_pre`` added to the score at the sampling steps; leaky and spiking
readouts are ``I_post += w`` synapses from E and I onto their output neurons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SettingsError, chosen_names
from ..model.network import PathwayModel, PopulationModel
from .reservoir_state import ReservoirState

__all__ = [
    "READOUTS",
    "LINEAR",
    "TRAINED",
    "LinearReadout",
    "TrainedReadout",
    "ReadoutNetwork",
    "check_readouts",
    "feature_blocks",
    "fit_linear",
    "train_spiking_readout",
    "readout_network",
    "linear_scores",
    "spiking_prediction",
    "leaky_scores",
    "leaky_prediction",
    "leaky_loss",
    "POOLS",
    "SPIKING_EQUATIONS",
    "logistic_baseline",
    "torch_predictions",
]

LINEAR = ("ridge", "logistic")
TRAINED = ("leaky", "spiking")
READOUTS = LINEAR + TRAINED

#: the spiking readout's output cells (dimensionless LIF; inputs add ``w`` to ``I``)
SPIKING_EQUATIONS = """
dv/dt = (I - v)/tau_mem : 1 (unless refractory)
dI/dt = -I/tau_syn : 1
"""


def check_readouts(readouts) -> list:
    """The requested readout names, checked; SettingsError listing the valid ones."""
    return chosen_names(readouts, READOUTS, flag="readout", what="a readout")


def feature_blocks(state: ReservoirState, names, *, tau_trace_s=None) -> list:
    """``[(name, pop, array [trials, windows, n])]`` of every requested state a population has."""
    blocks = []
    for name in names:
        for pop in state.sizes:
            arr = state.state(name, pop, tau_trace_s=tau_trace_s)
            if arr is not None:
                blocks.append((name, pop, arr))
    return blocks


def _design(blocks) -> np.ndarray:
    return np.concatenate([arr.reshape(arr.shape[0], -1) for _, _, arr in blocks], axis=1)


@dataclass
class LinearReadout:
    """A linear readout ``score = b + Σ w · x`` of exported states, weights in SI units.

    ``weights[(name, pop)]``: ``[windows, n, classes]`` per unit of the state; ``bias``:
    ``[classes]``; ``units[name]``: the unit of the state the weights multiply.
    """

    kind: str
    states: list
    weights: dict
    bias: np.ndarray
    dale: bool
    units: dict = field(default_factory=dict)
    hyper: dict = field(default_factory=dict)
    #: objective evaluations the solvers spent (regularisation search and final fit)
    evaluations: int = 0

    def scores(self, state: ReservoirState, *, tau_trace_s=None) -> np.ndarray:
        """Scores ``[trials, classes]`` on another set of trials (float64)."""
        return linear_scores(self, feature_blocks(state, self.states, tau_trace_s=tau_trace_s))


def linear_scores(readout: LinearReadout, blocks) -> np.ndarray:
    total = np.tile(readout.bias, (blocks[0][2].shape[0], 1))
    for name, pop, arr in blocks:
        w = readout.weights[(name, pop)]
        total = total + np.einsum("tmn,mnk->tk", arr, w)
    return total


class _Products:
    """``z @ w`` and ``zᵀ @ r`` of one design matrix, the products every solver step needs.

    The products run in float32 (half the memory traffic of float64, which sets the cost of a
    step on 10,000 features) and return float64; the optimiser's own arithmetic stays float64.
    """

    def __init__(self, z):
        self.z32 = np.ascontiguousarray(z, dtype=np.float32)
        self.mean = np.asarray(z, dtype=float).mean(axis=0)

    def times(self, w):
        return (self.z32 @ w.astype(np.float32)).astype(float)

    def transposed_times(self, r):
        return (r.astype(np.float32).T @ self.z32).T.astype(float)


def _bounds(d: int, k: int, *, with_bias: bool):
    from scipy.optimize import Bounds

    n_free = k if with_bias else 0
    low = np.concatenate([np.zeros(d * k), np.full(n_free, -np.inf)])
    return Bounds(low, np.full(d * k + n_free, np.inf))


def _ridge_dale(prod: _Products, target, alpha, start=None):
    """Ridge regression of every target column at once with weights ≥ 0 and a free intercept.

    Minimises ``½‖(z − z̄) W − (Y − Ȳ)‖² + ½ alpha ‖W‖²`` over ``W ≥ 0`` (the objective of
    scikit-learn's ``Ridge(positive=True)``) by one L-BFGS-B over all columns, from ``start``
    (a neighbouring alpha's solution) or zero; the intercept is ``Ȳ − z̄ W``.
    """
    from scipy.optimize import minimize

    d, k = prod.z32.shape[1], target.shape[1]
    y_mean = target.mean(axis=0)
    yc = target - y_mean

    def objective(theta):
        w = theta.reshape(d, k)
        r = prod.times(w) - prod.mean @ w - yc  # centred residual: its columns sum to zero
        g = prod.transposed_times(r) - np.outer(prod.mean, r.sum(axis=0)) + alpha * w
        return 0.5 * float(np.sum(r * r)) + 0.5 * alpha * float(np.sum(w * w)), g.ravel()

    theta0 = np.zeros(d * k) if start is None else np.asarray(start[0], dtype=float).ravel()
    res = minimize(
        objective,
        theta0,
        jac=True,
        method="L-BFGS-B",
        bounds=_bounds(d, k, with_bias=False),
        tol=1e-4,
    )
    w = res.x.reshape(d, k)
    return w, y_mean - prod.mean @ w, int(res.nfev)


def _multinomial(theta, prod: _Products, y_onehot, l2, d, k):
    w, b = theta[: d * k].reshape(d, k), theta[d * k :]
    logits = prod.times(w) + b
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    n = len(y_onehot)
    loss = -float(np.sum(y_onehot * log_p)) / n + 0.5 * l2 * float(np.sum(w * w))
    g = (np.exp(log_p) - y_onehot) / n
    return loss, np.concatenate([(prod.transposed_times(g) + l2 * w).ravel(), g.sum(axis=0)])


def _logistic_dale(prod: _Products, y, n_classes, c, start=None):
    """Multinomial logistic regression with weights ≥ 0 (L-BFGS-B under bounds), L2 ``1/(C n)``,
    from ``start`` (a neighbouring C's solution) or zero."""
    from scipy.optimize import minimize

    d = prod.z32.shape[1]
    onehot = np.eye(n_classes)[y]
    if start is None:
        theta0 = np.zeros(d * n_classes + n_classes)
    else:
        theta0 = np.concatenate([np.asarray(start[0], dtype=float).ravel(), start[1]])
    res = minimize(
        _multinomial,
        theta0,
        args=(prod, onehot, 1.0 / (c * len(y)), d, n_classes),
        jac=True,
        method="L-BFGS-B",
        bounds=_bounds(d, n_classes, with_bias=True),
        options={"maxiter": 500},
    )
    return res.x[: d * n_classes].reshape(d, n_classes), res.x[d * n_classes :], int(res.nfev)


def _fit_standardised(kind, z, y, n_classes, dale, hyper, *, prod=None, start=None):
    """Weights ``[d, k]``, bias ``[k]`` and solver evaluations on standardised (and, with Dale,
    sign-flipped) features; ``prod`` reuses the products of ``z``, ``start`` warm-starts a
    Dale solver from ``(w, b)``."""
    if dale:
        prod = prod if prod is not None else _Products(z)
        if kind == "ridge":
            return _ridge_dale(prod, np.eye(n_classes)[y], hyper, start)
        return _logistic_dale(prod, y, n_classes, hyper, start)
    if kind == "ridge":
        from sklearn.linear_model import Ridge

        target = np.eye(n_classes)[y]
        model = Ridge(alpha=hyper, fit_intercept=True).fit(z, target)
        return model.coef_.T.copy(), np.asarray(model.intercept_, dtype=float).copy(), 0
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=hyper, max_iter=500, tol=1e-6).fit(z, y)
    coef = np.zeros((z.shape[1], n_classes))
    intercept = np.full(n_classes, -np.inf)
    present = np.asarray(model.classes_, dtype=int)
    if len(present) == 2:  # scikit-learn keeps one column for two classes
        coef[:, present[1]], intercept[present] = model.coef_[0], (0.0, model.intercept_[0])
    else:
        coef[:, present], intercept[present] = model.coef_.T, model.intercept_
    # a class missing from the training labels is never predicted
    intercept[~np.isfinite(intercept)] = intercept[np.isfinite(intercept)].min() - 1e3
    return coef, intercept, int(np.max(model.n_iter_))


_GRIDS = {"ridge": (1e2, 1e3, 1e4, 1e5), "logistic": (1e-3, 1e-2, 1e-1, 1.0)}


def fit_linear(
    kind: str,
    state: ReservoirState,
    labels,
    names,
    signs: dict,
    *,
    n_classes: int,
    dale: bool = True,
    tau_trace_s=None,
    hyper=None,
    seed: int = 0,
    log=None,
) -> LinearReadout:
    """Fit a ``ridge`` or ``logistic`` readout of the states ``names`` of ``state``.

    The regularisation (ridge ``alpha``, logistic ``C``) is picked from a small grid on a
    held-out fifth of the training trials unless ``hyper`` is given, then the readout is refit
    on all of them. Features are standardised with the training mean and spread; the weights
    and bias are folded back so that :meth:`LinearReadout.scores` works on raw SI states.
    """
    labels = np.asarray(labels)
    blocks = feature_blocks(state, names, tau_trace_s=tau_trace_s)
    x = _design(blocks)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    sign = (
        np.concatenate([np.full(arr[0].size, signs[pop]) for _, pop, arr in blocks])
        if dale
        else np.ones(x.shape[1])
    )
    z = (x - mu) / sd * sign
    evaluations = 0
    if hyper is None:
        order = np.random.default_rng([seed, 5]).permutation(len(labels))
        n_val = max(1, len(labels) // 5)
        val, fit = order[:n_val], order[n_val:]
        prod = _Products(z[fit]) if dale else None
        # strongest regularisation first, each fit warm-started from the one before
        path = sorted(_GRIDS[kind], reverse=kind == "ridge")
        held_out, solutions, start = {}, {}, None
        for value in path:
            w, b, n_eval = _fit_standardised(
                kind, z[fit], labels[fit], n_classes, dale, value, prod=prod, start=start
            )
            evaluations += n_eval
            start = solutions[value] = (w, b)
            held_out[value] = float(np.mean(np.argmax(z[val] @ w + b, axis=1) == labels[val]))
            if log:
                log(
                    f"    {kind} {'alpha' if kind == 'ridge' else 'C'}={value:g}: held-out accuracy "
                    f"{held_out[value]:.3f} ({n_eval} solver evaluations)"
                )
        del prod
        hyper = max(_GRIDS[kind], key=lambda v: held_out[v])  # ties: the first in the grid
        start = solutions[hyper]
    else:
        start = None
    w, b, n_eval = _fit_standardised(kind, z, labels, n_classes, dale, hyper, start=start)
    evaluations += n_eval
    w = w * sign[:, None]  # back to the unflipped features: E rows ≥ 0, I rows ≤ 0
    w_raw = w / sd[:, None]
    b_raw = b - (mu / sd) @ w
    weights, offset = {}, 0
    for name, pop, arr in blocks:
        size = arr[0].size
        weights[(name, pop)] = w_raw[offset : offset + size].reshape(arr.shape[1], arr.shape[2], n_classes)
        offset += size
    return LinearReadout(
        kind,
        list(names),
        weights,
        b_raw,
        dale,
        units={name: state.unit(name) for name in names},
        hyper={"alpha" if kind == "ridge" else "C": hyper},
        evaluations=evaluations,
    )


def logistic_baseline(x_train, y_train, x_test, y_test) -> float:
    """Test accuracy of logistic regression on raw features (standardised; C picked on a held-out fifth)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train = np.asarray(x_train, dtype=float).reshape(len(y_train), -1)
    x_test = np.asarray(x_test, dtype=float).reshape(len(y_test), -1)
    n_val = max(1, len(y_train) // 5)
    best = None
    for c in _GRIDS["logistic"]:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
        model.fit(x_train[n_val:], y_train[n_val:])
        acc = model.score(x_train[:n_val], y_train[:n_val])
        if best is None or acc > best[0]:
            best = (acc, c)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=best[1], max_iter=1000)).fit(
        x_train, y_train
    )
    return float(model.score(x_test, y_test))


# ------------------------------------------------------------------------------------------
# readouts trained through the derived step


@dataclass
class TrainedReadout:
    """A leaky or spiking readout trained in torch: ``weights[pop]`` ``[n, classes]`` (dimensionless).

    ``pool``: how a leaky readout's membrane over the trial becomes its score (:data:`POOLS`).
    """

    kind: str
    weights: dict
    dale: bool
    tau_mem_s: float
    tau_syn_s: float
    history: list = field(default_factory=list)
    pool: str = "last"


#: how a leaky readout turns its membrane ``[trials, steps, classes]`` into scores: ``last``, the
#: membrane at the end of the trial (the default), ``mean`` over the trial's steps, or ``max`` over
#: time (the classifier's loss, REFERENCES §3). ``last`` and ``mean`` give every weight that saw a
#: spike a gradient; an output whose membrane stays at or below rest has its maximum at t = 0,
#: where no gradient reaches its weights, so with ``max`` it can stall (docs/readme/reservoir.md)
POOLS = ("last", "mean", "max")


def _check_pool(pool: str) -> None:
    if pool not in POOLS:
        raise SettingsError(f"unknown leaky pooling {pool!r}. Fix: use one of {', '.join(POOLS)}")


def leaky_scores(trace, pool: str = "last"):
    """Scores ``[trials, classes]`` of a leaky readout's membrane ``trace`` ``[trials, steps,
    classes]`` (a torch tensor or an array, returned as the same kind)."""
    _check_pool(pool)
    if pool == "last":
        return trace[:, -1]
    if isinstance(trace, np.ndarray):
        return trace.mean(axis=1) if pool == "mean" else trace.max(axis=1)
    return trace.mean(dim=1) if pool == "mean" else trace.max(dim=1).values


def leaky_loss(out_v, labels, pool: str = "last"):
    """NLL of the softmax of a leaky readout's pooled membrane (torch, differentiable)."""
    import torch

    return torch.nn.functional.cross_entropy(leaky_scores(out_v, pool), labels)


def leaky_prediction(trace, pool: str = "last") -> np.ndarray:
    """Class of each trial from a leaky readout's membrane ``[trials, steps, classes]``."""
    scores = leaky_scores(trace, pool)
    scores = scores.detach().cpu().numpy() if not isinstance(scores, np.ndarray) else scores
    return np.argmax(scores, axis=1)


def _readout_population(kind: str, name: str, n_classes: int, tau_mem_s: float, tau_syn_s: float):
    import brian2

    from .networks import READOUT_EQUATIONS

    ns = {"tau_mem": tau_mem_s * brian2.second, "tau_syn": tau_syn_s * brian2.second}
    if kind == "leaky":
        return PopulationModel(name, n_classes, READOUT_EQUATIONS, "", "", 0 * brian2.ms, "exact", ns)
    return PopulationModel(name, n_classes, SPIKING_EQUATIONS, "v > 1", "v = 0", 2 * brian2.ms, "exact", ns)


def _readout_net(
    kind, n_hidden, n_classes, tau_mem_s, tau_syn_s, *, sign=None, weights=None, seed=0, dtype=None
):
    """The derived torch step of a readout fed by ``n_hidden`` spike trains: trainable weights
    ``sign * |N(0, 1)|`` (``sign`` [n_hidden]), or fixed ``weights`` [n_hidden, classes]."""
    from ..model.network import NetworkModel
    from .networks import EIClassifier

    pop = _readout_population(kind, "out", n_classes, tau_mem_s, tau_syn_s)
    model = NetworkModel(
        {"out": pop},
        {"hidden_to_out": PathwayModel("hidden_to_out", "input", "out", "I_post += w", 0 * _ms(), None)},
        n_hidden,
    )
    if weights is not None:
        return EIClassifier(model, {}, {}, dtype=dtype, fixed_weights={"hidden_to_out": weights})
    return EIClassifier(model, {"hidden_to_out": sign}, {"hidden_to_out": 1.0}, seed=seed, dtype=dtype)


def spiking_prediction(spikes: np.ndarray) -> np.ndarray:
    """Class of each trial from output spikes ``[trials, steps, classes]``: most spikes, ties by the
    earliest first spike, then the lowest index."""
    spikes = np.asarray(spikes)
    counts = spikes.sum(axis=1)
    steps = spikes.shape[1]
    first = np.where(spikes.any(axis=1), spikes.argmax(axis=1), steps)
    return np.argmax(counts * (steps + 1) + (steps - first), axis=1)


def _dense(state: ReservoirState, trials, order, dtype):
    """Hidden spikes ``[len(trials), steps, Σ n]`` of ``trials`` as a torch tensor of ``dtype``."""
    import torch

    trials = np.asarray(trials)
    where = np.full(state.n_trials, -1)
    where[trials] = np.arange(len(trials))
    n_total = sum(state.sizes[p] for p in order)
    out = torch.zeros(len(trials) * state.steps * n_total, dtype=dtype)
    offset = 0
    for pop in order:
        trial, step, neuron = state.spikes[pop]
        row = where[trial]
        sel = row >= 0
        flat = (row[sel] * state.steps + step[sel]) * n_total + offset + neuron[sel]
        out[torch.as_tensor(flat)] = 1.0
        offset += state.sizes[pop]
    return out.view(len(trials), state.steps, n_total)


#: default initial drive of each kind: per output, the E weights times the E cells' mean spike
#: counts per trial sum to ``drive``, the I ones to ``-drive/2`` (the net drive is positive, so the
#: membrane rises over the trial and its maximum sees the whole stimulus)
DRIVE = {"leaky": 40.0, "spiking": 300.0}
#: default Adam learning rate of each kind
LEARNING_RATE = {"leaky": 1e-2, "spiking": 1e-2}


def train_spiking_readout(
    kind: str,
    state: ReservoirState,
    labels,
    signs: dict,
    *,
    n_classes: int,
    dale: bool = True,
    epochs: int = 10,
    lr: float | None = None,
    batch_size: int = 64,
    tau_mem_s: float = 100e-3,
    tau_syn_s: float = 5e-3,
    drive: float | None = None,
    pool: str = "last",
    dtype=None,
    seed: int = 0,
    log=None,
) -> TrainedReadout:
    """Train a ``leaky`` or ``spiking`` readout on the hidden spikes of ``state``.

    Leaky: NLL of the softmax of each output's membrane pooled over the trial (``pool``,
    :data:`POOLS`: its value at the end of the trial by default). Spiking: NLL of the softmax of
    the output spike counts. The initial weights are scaled to the hidden rates
    (``drive``, :data:`DRIVE`); they are projected back to Dale's signs after every step when
    ``dale``. The default ``tau_mem_s`` is the trial length of the digits runs (100 ms), so the
    outputs integrate the whole stimulus as the count readouts do. Training runs in ``dtype``
    (default float32); the weights are returned as float64 and every prediction
    (:func:`torch_predictions`, Brian2) is made from those. Free readouts (``dale=False``) start
    from the same signed weights and are not projected. ``lr`` (default :data:`LEARNING_RATE`)
    is chosen for batch 64 on the 1,438-trial digits split; small batches may want less.
    """
    import torch

    from .loop import train_loop

    _check_pool(pool)  # an unknown pooling fails before any work
    dtype = torch.float32 if dtype is None else dtype
    labels = np.asarray(labels)
    order = list(state.sizes)
    n_hidden = sum(state.sizes.values())
    # free readouts start from the same signed weights and are not projected
    sign = np.concatenate([np.full(state.sizes[p], float(signs[p])) for p in order])
    net = _readout_net(kind, n_hidden, n_classes, tau_mem_s, tau_syn_s, sign=sign, seed=seed, dtype=dtype)
    drive = DRIVE[kind] if drive is None else float(drive)
    with torch.no_grad():  # scale each population's |w| to its drive (the hidden rates set the scale)
        w0, offset = net.weights["hidden_to_out"], 0
        for p in order:
            n = state.sizes[p]
            counts = np.bincount(state.spikes[p][2], minlength=n)[:n] / max(1, state.n_trials)
            total = float((w0[offset : offset + n].abs().double().mean(dim=1).numpy() * counts).sum())
            target = drive * (1.0 if signs[p] > 0 else 0.5)
            if total > 0:
                w0[offset : offset + n] *= target / total
            offset += n
    lr = LEARNING_RATE[kind] if lr is None else float(lr)
    opt = torch.optim.Adam(list(net.weights.values()), lr=lr)
    dt = state.dt_s

    def batches(epoch):
        perm = np.random.default_rng([seed, epoch]).permutation(len(labels))
        for start in range(0, len(perm), batch_size):
            idx = np.sort(perm[start : start + batch_size])
            yield _dense(state, idx, order, dtype), torch.as_tensor(labels[idx], dtype=torch.long)

    def loss_fn(output, y):
        out_v, spikes = output
        if kind == "leaky":
            return leaky_loss(out_v, y, pool)
        return torch.nn.functional.cross_entropy(spikes["out"].sum(dim=1), y)

    history = []

    def on_epoch_end(stats):
        history.append(stats.mean_batch_loss)
        if log:
            log(f"    {kind} readout epoch {stats.epoch + 1}/{epochs}: loss {stats.mean_batch_loss:.3f}")

    train_loop(
        net,
        opt,
        batches,
        loss_fn,
        epochs=epochs,
        forward=lambda x: net(x, dt),
        after_step=[net.project_] if dale else [],
        on_epoch_end=on_epoch_end,
    )
    w = np.asarray(net.numpy_weights()["hidden_to_out"], dtype=float)
    weights, offset = {}, 0
    for p in order:
        weights[p] = w[offset : offset + state.sizes[p]]
        offset += state.sizes[p]
    return TrainedReadout(kind, weights, dale, tau_mem_s, tau_syn_s, history, pool)


def torch_predictions(readout: TrainedReadout, state: ReservoirState, *, batch_size: int = 32) -> np.ndarray:
    """Predictions of a trained readout on ``state``'s hidden spikes, in torch (the fitted ones)."""
    import torch

    order = list(state.sizes)
    n_hidden = sum(state.sizes.values())
    n_classes = next(iter(readout.weights.values())).shape[1]
    w = np.concatenate([readout.weights[p] for p in order])
    net = _readout_net(
        readout.kind,
        n_hidden,
        n_classes,
        readout.tau_mem_s,
        readout.tau_syn_s,
        weights=w,
        dtype=torch.float64,
    )
    preds = []
    with torch.no_grad():
        for start in range(0, state.n_trials, batch_size):
            idx = np.arange(start, min(state.n_trials, start + batch_size))
            out_v, spikes = net(_dense(state, idx, order, torch.float64), state.dt_s)
            preds.append(
                leaky_prediction(out_v, readout.pool)
                if readout.kind == "leaky"
                else spiking_prediction(spikes["out"].numpy())
            )
    return np.concatenate(preds)


def _ms():
    import brian2

    return brian2.ms


# ------------------------------------------------------------------------------------------
# back into Brian2


@dataclass
class ReadoutNetwork:
    """Readout populations, pathways, weights and initial values to build beside the reservoir.

    ``scored``: populations whose ``score`` is the prediction (linear readouts); ``traces``:
    populations whose membrane ``v`` is recorded every step (leaky and spiking); ``spiking``:
    populations whose spikes decide.
    """

    populations: dict
    pathways: dict
    weights: dict
    init: dict
    n_classes: int
    scored: tuple = ()
    traces: tuple = ()
    spiking: tuple = ()


def _unit_expression(unit: str) -> str:
    return "" if unit in ("1", "") else f"/({unit})"


def readout_network(
    readouts: dict,
    *,
    sizes: dict,
    n_classes: int,
    dt_s: float,
    window_s: float,
    tau_trace_s: float | None = None,
    variable_units: dict | None = None,
) -> ReadoutNetwork:
    """Brian2 populations and synapses of fitted readouts ``{name: LinearReadout | TrainedReadout}``.

    Parameters
    ----------
    sizes : dict
        ``{pop: n}`` of the reservoir's spiking populations.
    dt_s, window_s : float
        The step the network runs at and the readout's window (s); the window's steps
        ``S = window/dt`` enter the gates, so a readout fitted at one dt runs at another.
    variable_units : dict
        ``{var: Brian2 unit name}`` (``"volt"``, ``"siemens"``) of sampled variables.
    """
    import brian2

    steps_per_window = int(round(window_s / dt_s))
    if abs(steps_per_window * dt_s - window_s) > 1e-9 * window_s or steps_per_window < 1:
        raise SettingsError(
            f"the readout window {window_s * 1e3:g} ms is not a multiple of dt "
            f"{dt_s * 1e3:g} ms. Fix: pick a dt that divides the window"
        )
    zero = 0 * brian2.ms
    pops, paths, weights, init = {}, {}, {}, {}
    scored, traces, spiking = [], [], []
    variable_units = variable_units or {}
    for name, readout in readouts.items():
        if isinstance(readout, TrainedReadout):
            pops[name] = _readout_population(
                readout.kind, name, n_classes, readout.tau_mem_s, readout.tau_syn_s
            )
            for pop, w in readout.weights.items():
                paths[f"{pop}_to_{name}"] = PathwayModel(
                    f"{pop}_to_{name}", pop, name, "I_post += w", zero, None
                )
                weights[f"{pop}_to_{name}"] = w
            traces.append(name)
            if readout.kind == "spiking":
                spiking.append(name)
            continue
        summed = []
        for (state_name, pop), w in readout.weights.items():
            n_windows = w.shape[0]
            names = tuple(f"w_{m}" for m in range(n_windows))
            key = f"{pop}_{state_name}_to_{name}"
            s = steps_per_window
            if state_name == "counts":
                terms = [f"w_{m}*int(t_in_timesteps//{s} == {m})" for m in range(n_windows)]
                path = PathwayModel(
                    key, pop, name, "score_post += " + " + ".join(terms), zero, None, weight_names=names
                )
            elif state_name == "trace":
                terms = [
                    f"w_{m}*int(t_in_timesteps < {(m + 1) * s})*exp(-({(m + 1) * s} - t_in_timesteps)*dt"
                    f"/tau_trace)"
                    for m in range(n_windows)
                ]
                path = PathwayModel(
                    key,
                    pop,
                    name,
                    "score_post += " + " + ".join(terms),
                    zero,
                    None,
                    namespace={"tau_trace": tau_trace_s * brian2.second},
                    weight_names=names,
                )
            else:
                target = f"y_{pop}_{state_name}"
                terms = [f"w_{m}*int(t_in_timesteps//{s} == {m + 1})" for m in range(n_windows)]
                unit = _unit_expression(variable_units.get(state_name, "1"))
                path = PathwayModel(
                    key,
                    pop,
                    name,
                    "",
                    zero,
                    None,
                    weight_names=names,
                    equations=f"{target}_post = ({' + '.join(terms)})*{state_name}_pre{unit} : 1 (summed)",
                )
                summed.append(target)
            paths[key] = path
            weights[key] = w  # [windows, n, classes]: one [n_source, n_target] matrix per weight w_m
        eqs = "score : 1\n" + "".join(f"{t} : 1\n" for t in summed)
        regular = (
            ((f"score += ({' + '.join(summed)})*int(t_in_timesteps % {steps_per_window} == 0)", "end"),)
            if summed
            else ()
        )
        pops[name] = PopulationModel(name, n_classes, eqs, "", "", zero, "exact", {}, run_regularly=regular)
        init[name] = {"score": np.asarray(readout.bias, dtype=float)}
        scored.append(name)
    return ReadoutNetwork(pops, paths, weights, init, n_classes, tuple(scored), tuple(traces), tuple(spiking))
