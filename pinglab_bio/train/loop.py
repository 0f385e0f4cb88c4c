"""The training loop of the training layer, and the E/I classifier trained with it.

:func:`train_loop` is the one per-epoch, per-mini-batch loop (forward, loss, backward,
optimiser step) with hooks: at the start of an epoch (learning rate, seeds), between backward
and step (gradient clipping), after the step (Dale projection, weight noise), after a batch
(training accuracy) and at the end of an epoch (evaluation, logging, checkpoints).
:func:`evaluate` is the one evaluation pass (mini-batches, no gradient, evaluation mode) with a
hook for each study's measures. The E:I-ratio and deep E–I studies
(:mod:`pinglab_bio.train.studies`) are configurations of both.

:func:`train_classifier` trains :class:`~pinglab_bio.train.networks.EIClassifier` with the
max-over-time readout loss, projects the weights back to Dale's law after every optimiser step,
optionally adds weight noise (σ_n relative to σ_init), and after training runs the same
weights in Brian2 (:func:`evaluate_brian2`).

Checkpoints hold only tensors (safetensors) and JSON: nothing runs code when they are read.
A run interrupted after epoch k resumes from that epoch when started again with the same
settings (the checkpoint folder is keyed by a hash of them); every random draw depends only on
``(seed, epoch)``, so an interrupted and resumed run ends with the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data import encoders
from ..data.datasets import Dataset, load_dataset
from ..errors import SettingsError
from ..provenance import short_hash
from .device import pick_device
from .networks import (
    INH,
    EIClassifier,
    classifier_model,
    fixed_pathway_weights,
    ping_initial_values,
    predict,
    readout_loss,
)

__all__ = ["TrainConfig", "train_classifier", "evaluate_torch", "evaluate_brian2", "encode_split",
           "save_checkpoint", "load_checkpoint", "build_classifier", "OPTIMIZERS", "EpochStats",
           "train_loop", "evaluate", "dataset_tensors", "curves_figure", "Progress", "format_eta",
           "torch_threads", "lr_scales"]

OPTIMIZERS = ("adam", "sgd")


@dataclass
class TrainConfig:
    """Settings of one training run (every one is recorded in the run folder).

    Times are in ms (``dt_ms``, ``duration_ms``), rates in Hz, weight scales ``sigma_*`` in the
    unit of the variable the pathway adds to (``sigma_in_ping`` in siemens).
    """

    dataset: str = "digits"
    data_dir: str | None = None
    model: str = "ei_hidden_cuba"
    hidden: str = "ei"
    ei_ratio: float = 0.8
    n_hidden: int = 100
    dt_ms: float = 1.0
    duration_ms: float = 100.0
    encoder: str = "poisson"
    max_rate_hz: float = 200.0
    epochs: int = 30
    batch_size: int = 64
    lr: float = 5e-3
    optimizer: str = "adam"
    schedule: str = "cosine"
    sigma_in: float = 0.15
    sigma_in_ping: float = 5e-9  # siemens: PING inputs add to the conductance g_e
    #: Adam's step is about ``lr`` in a weight's own unit, so a weight in siemens (the PING
    #: inputs) learns at ``lr · lr_siemens``: 5 nS a step at lr 5e-3, one ``sigma_in_ping``.
    lr_siemens: float = 1e-6
    sigma_out: float = 0.5
    weight_noise: float = 0.0
    surrogate: str = "fast_sigmoid"
    slope: float = 100.0
    damping: float | None = None
    seed: int = 0
    dtype: str = "float32"
    device: str = "auto"
    limit: int | None = None
    overrides: dict = field(default_factory=dict)

    def check(self):
        """Return ``self`` if every setting is valid, else raise a one-line SettingsError."""
        if self.optimizer not in OPTIMIZERS:
            raise SettingsError(f"unknown optimizer {self.optimizer!r}. "
                                f"Fix: use one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in ("constant", "cosine"):
            raise SettingsError(f"unknown schedule {self.schedule!r}. Fix: use constant or cosine")
        if self.encoder not in ("poisson", "latency"):
            raise SettingsError(f"unknown encoder {self.encoder!r}. Fix: use poisson or latency")
        if not 0 < self.ei_ratio <= 1:
            raise SettingsError(f"--ei-ratio must lie in (0, 1], got {self.ei_ratio!r}. "
                                "Fix: e.g. 0.8 for 80:20")
        if not self.dt_ms > 0 or not self.duration_ms > 0:
            raise SettingsError(f"dt and duration must be positive, got {self.dt_ms} ms and "
                                f"{self.duration_ms} ms. Fix: e.g. --dt 1ms --duration 100ms")
        steps = self.duration_ms / self.dt_ms
        if abs(steps - round(steps)) > 1e-6:
            raise SettingsError(f"duration {self.duration_ms} ms is not a multiple of dt {self.dt_ms} ms. "
                                "Fix: pick a dt that divides it")
        for name in ("epochs", "batch_size", "n_hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SettingsError(f"--{name.replace('_', '-')} must be a whole number ≥ 1, got {value!r}. "
                                    "Fix: e.g. 10")
        if self.dtype not in ("float32", "float64"):
            raise SettingsError(f"unknown dtype {self.dtype!r}. Fix: use float32 or float64")
        if self.damping is not None and not 0 < self.damping <= 1:
            raise SettingsError(f"damping must lie in (0, 1], got {self.damping!r}. Fix: e.g. 0.5")
        if not self.lr_siemens > 0:
            raise SettingsError(f"lr_siemens must be > 0, got {self.lr_siemens!r}. Fix: e.g. 1e-6")
        if self.weight_noise < 0:
            raise SettingsError(f"weight noise must be ≥ 0, got {self.weight_noise!r}. Fix: e.g. 0.2")
        from .surrogates import get_surrogate

        get_surrogate(self.surrogate)
        return self

    @property
    def steps(self) -> int:
        """Steps per trial, ``duration / dt``."""
        return int(round(self.duration_ms / self.dt_ms))

    @property
    def dt_s(self) -> float:
        """The integration step in seconds."""
        return self.dt_ms * 1e-3


def build_classifier(config: TrainConfig, n_inputs: int, n_classes: int) -> EIClassifier:
    """The classifier of ``config`` (model file, E:I ratio, sizes), weights drawn from ``seed``.

    With ``hidden="ei"`` the first ``round(ei_ratio · n_hidden)`` hidden neurons are E (their
    outgoing weights ≥ 0) and the rest I (≤ 0). With ``hidden="ping"`` the model's E↔I pathways
    keep their weights (:func:`~pinglab_bio.train.networks.fixed_pathway_weights`) and only the
    input and readout weights are learnt.
    """
    from ..model.spec import load_model

    overrides = dict(config.overrides)
    n_exc = int(round(config.ei_ratio * config.n_hidden))
    if config.hidden == "ei":
        # E and I hidden cells share their equations and differ only in the sign of their outgoing
        # weights, so the model file sets the layer's size and the ratio sets the signs (100:0 too)
        overrides["n_total"] = config.n_hidden
        if n_exc < 1:
            raise SettingsError(f"E:I ratio {config.ei_ratio} of {config.n_hidden} hidden neurons leaves no "
                                "E neuron. Fix: raise --ei-ratio or --n-hidden")
    spec = load_model(config.model, overrides)
    model = classifier_model(spec, n_inputs, n_classes, hidden=config.hidden)
    if config.hidden == "ei" and model.populations["hidden"].n != config.n_hidden:
        raise SettingsError(f"the hidden layer has {model.populations['hidden'].n} neurons, not the "
                            f"{config.n_hidden} asked for. Fix: check the [populations] of {config.model}")
    signs, sigma = {}, {}
    for name, path in model.pathways.items():
        if path.source == "input":
            sigma[name] = config.sigma_in if config.hidden == "ei" else config.sigma_in_ping
            continue
        n_src = model.populations[path.source].n
        if config.hidden == "ei" and path.source == "hidden":
            signs[name] = np.concatenate([np.ones(n_exc), -np.ones(n_src - n_exc)])
        else:
            signs[name] = np.full(n_src, -1.0 if path.source == INH else 1.0)
        sigma[name] = config.sigma_out if path.target == "out" else 0.0
    fixed = {}
    if config.hidden == "ping":
        for name, path in spec.pathways.items():
            fixed[name] = fixed_pathway_weights(spec, path, config.seed)
        signs.update({name: np.ones(model.populations[p.source].n) for name, p in spec.pathways.items()})
    net = EIClassifier(model, signs, sigma, seed=config.seed, dtype=getattr(torch, config.dtype),
                       surrogate=config.surrogate, slope=config.slope, damping=config.damping,
                       trainable=[n for n in model.pathways if n not in fixed], fixed_weights=fixed)
    if config.hidden == "ping":
        net.init_values = ping_initial_values(spec)
    return net


def encode_split(config, x: np.ndarray, seed_key: tuple, dt_s: float | None = None,
                 steps: int | None = None) -> np.ndarray:
    """Encode intensities ``[samples, channels]`` as spikes ``[samples, steps, channels]``.

    ``config`` supplies ``encoder``, ``max_rate_hz`` (Hz) and, unless given here, ``dt_s`` (s)
    and ``steps`` (a :class:`TrainConfig` or the reservoir's config). The draws depend only on
    ``seed_key``. Inputs that are already spikes (SHD) are returned as they are.
    """
    dt_s = config.dt_s if dt_s is None else dt_s
    steps = config.steps if steps is None else steps
    if x.ndim == 3:  # already spikes (SHD)
        return x
    rng = np.random.default_rng([int(k) for k in seed_key])
    if config.encoder == "poisson":
        return encoders.poisson_encode(x, dt_s=dt_s, steps=steps, max_rate_hz=config.max_rate_hz, rng=rng)
    return encoders.latency_encode(x, dt_s=dt_s, steps=steps)


@dataclass
class EpochStats:
    """What :func:`train_loop` saw in one epoch.

    Attributes
    ----------
    epoch : int
        The epoch, counted from 0.
    losses : list of float
        The loss of each mini-batch, in order.
    sizes : list of int
        The number of samples of each mini-batch.
    """

    epoch: int
    losses: list = field(default_factory=list)
    sizes: list = field(default_factory=list)

    @property
    def mean_batch_loss(self) -> float:
        """Mean of the mini-batch losses (each batch counts once)."""
        return float(np.mean(self.losses))

    @property
    def loss_sum(self) -> float:
        """Σ loss · batch size, summed in batch order (divide by :attr:`n_samples` for a mean per sample)."""
        total = 0.0
        for loss, size in zip(self.losses, self.sizes, strict=True):
            total += loss * size
        return total

    @property
    def n_samples(self) -> int:
        """Samples seen in the epoch."""
        return sum(self.sizes)


def train_loop(model: torch.nn.Module, optimizer, batches: Callable[[int], Iterable], loss_fn: Callable, *,
               epochs: int, start_epoch: int = 0, forward: Callable | None = None,
               on_epoch_start: Callable[[int], None] | None = None, before_step: Sequence[Callable] = (),
               after_step: Sequence[Callable] = (), on_batch: Callable | None = None,
               on_epoch_end: Callable[[EpochStats], None] | None = None) -> list[EpochStats]:
    """Train ``model`` for epochs ``start_epoch … epochs − 1``; return what each epoch saw.

    Parameters
    ----------
    model : torch.nn.Module
        Put in training mode at the start of every epoch.
    optimizer : torch.optim.Optimizer
    batches : callable
        ``batches(epoch)`` yields ``(x, y)`` mini-batches, already on the model's device.
    loss_fn : callable
        ``loss_fn(output, y)`` → scalar loss.
    epochs, start_epoch : int
        The loop runs ``range(start_epoch, epochs)`` (a resumed run starts later).
    forward : callable, optional
        ``forward(x)`` → output (default: ``model(x)``).
    on_epoch_start : callable, optional
        ``on_epoch_start(epoch)``, before the first batch (learning rate, noise seeds).
    before_step : sequence of callables
        Called between ``backward`` and the optimiser step (gradient clipping).
    after_step : sequence of callables
        Called after each optimiser step, in order (Dale projection, then weight noise).
    on_batch : callable, optional
        ``on_batch(output, y)`` after each step (training accuracy).
    on_epoch_end : callable, optional
        ``on_epoch_end(stats)`` with the :class:`EpochStats` (evaluation, logging, checkpoints).
    """
    forward = model if forward is None else forward
    history = []
    for epoch in range(start_epoch, epochs):
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        model.train()
        stats = EpochStats(epoch)
        for x, y in batches(epoch):
            output = forward(x)
            loss = loss_fn(output, y)
            optimizer.zero_grad()
            loss.backward()
            for hook in before_step:
                hook()
            optimizer.step()
            for hook in after_step:
                hook()
            stats.losses.append(float(loss.detach()))
            stats.sizes.append(len(y))
            if on_batch is not None:
                on_batch(output, y)
        history.append(stats)
        if on_epoch_end is not None:
            on_epoch_end(stats)
    return history


@torch.no_grad()
def evaluate(model: torch.nn.Module, inputs, labels, *, predict: Callable, forward: Callable | None = None,
             batch_size: int = 256, on_batch: Callable | None = None) -> tuple[float, np.ndarray]:
    """Accuracy and predictions of ``model`` on ``inputs``, in mini-batches and evaluation mode.

    Parameters
    ----------
    model : torch.nn.Module
        Evaluated in evaluation mode; its previous mode is restored afterwards.
    inputs : array or tensor, shape (samples, ...)
        Sliced into mini-batches of ``batch_size`` along the first axis.
    labels : array or tensor, shape (samples,)
    predict : callable
        ``predict(output)`` → the class of each sample of the batch.
    forward : callable, optional
        ``forward(x_batch)`` → output (default: ``model(x_batch)``).
    on_batch : callable, optional
        ``on_batch(output)`` after each batch, for a study's own measures (rates, E/I input).

    Returns
    -------
    accuracy : float
        Share of samples whose prediction equals the label.
    predictions : numpy.ndarray, shape (samples,)
    """
    forward = model if forward is None else forward
    was_training = model.training
    model.eval()
    preds = []
    try:
        for start in range(0, len(labels), batch_size):
            output = forward(inputs[start:start + batch_size])
            preds.append(np.asarray(predict(output)))
            if on_batch is not None:
                on_batch(output)
    finally:
        model.train(was_training)
    preds = np.concatenate(preds)
    truth = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    return int((preds == truth).sum()) / len(truth), preds


def evaluate_torch(net: EIClassifier, spikes: np.ndarray, labels: np.ndarray, dt_s: float, *,
                   batch_size: int = 256, device=None) -> dict:
    """Accuracy, predictions and mean hidden rate (Hz) of the torch step on encoded inputs.

    ``spikes [samples, steps, n_inputs]`` at step ``dt_s`` (s); ``labels [samples]``.
    """
    device = device or next(net.parameters()).device
    hidden_spikes = {"count": 0.0, "neurons": 0}

    def count_hidden(output):
        _, hidden = output
        hidden_spikes["count"] += float(sum(s.sum() for s in hidden.values()))
        hidden_spikes["neurons"] = sum(s.shape[-1] for s in hidden.values())

    accuracy, preds = evaluate(net, spikes, labels, batch_size=batch_size, on_batch=count_hidden,
                               forward=lambda x: net(torch.as_tensor(x, device=device), dt_s),
                               predict=lambda output: predict(output[0]))
    duration = spikes.shape[1] * dt_s
    rate = hidden_spikes["count"] / max(1, hidden_spikes["neurons"] * len(labels)) / duration
    return {"accuracy": accuracy, "predictions": preds, "hidden_rate_hz": rate}


def evaluate_brian2(net: EIClassifier, spikes: np.ndarray, labels: np.ndarray, dt_s: float, *,
                    chunk: int = 128) -> dict:
    """The same weights run in Brian2 (numpy target): accuracy, predictions, hidden rate (Hz).

    Also ``rates_hz`` (mean rate of each spiking population, Hz) and ``spikes``
    (``{pop: uint8 [trials, steps, n]}``, the Brian2 spikes).
    """
    from .bridge import simulate_brian2

    exported = simulate_brian2(net.model, net.numpy_weights(), spikes, dt_s, record={"out": ["v"]},
                               chunk=chunk, init=net.init_values)
    preds = predict(exported.states["out"]["v"])
    hidden = [s for s in exported.spikes.values()]
    n_neurons = sum(s.shape[-1] for s in hidden)
    duration = spikes.shape[1] * dt_s
    rate = float(sum(s.sum() for s in hidden)) / max(1, n_neurons * len(labels)) / duration
    rates = {pop: float(s.sum()) / max(1, s.shape[-1] * len(labels)) / duration
             for pop, s in exported.spikes.items()}
    return {"accuracy": float(np.mean(preds == labels)), "predictions": preds, "hidden_rate_hz": rate,
            "rates_hz": rates, "spikes": exported.spikes}


def save_checkpoint(path, net: EIClassifier, optimizer, epoch: int, history: list, config: TrainConfig):
    """``<path>.safetensors`` (weights, optimiser moments) and ``<path>.json`` (epoch, curves)."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {f"weights.{k}": v.detach().cpu().contiguous() for k, v in net.weights.items()}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value.detach().cpu().contiguous().reshape(value.shape)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(path.with_suffix(".safetensors"))
    meta = {"epoch": epoch, "history": history, "config": asdict(config)}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1))


def load_checkpoint(path, net: EIClassifier, optimizer=None) -> dict:
    """Load weights (and optimiser moments) saved by :func:`save_checkpoint`; return its JSON."""
    from safetensors.torch import load_file

    path = Path(path)
    tensors = load_file(str(path.with_suffix(".safetensors")))
    with torch.no_grad():
        for k, w in net.weights.items():
            w.copy_(tensors[f"weights.{k}"].to(w.device, w.dtype))
    if optimizer is not None:
        sd = optimizer.state_dict()
        for index in (i for group in sd["param_groups"] for i in group["params"]):
            entry = {key.split(".", 2)[2]: value for key, value in tensors.items()
                     if key.startswith(f"optim.{index}.")}
            if entry:
                sd["state"][index] = entry
        optimizer.load_state_dict(sd)
    return json.loads(path.with_suffix(".json").read_text())


def format_eta(seconds: float) -> str:
    """``'42 s'``, ``'3 min 05 s'`` or ``'1 h 02 min'``: a duration rounded to what matters."""
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f} s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Progress of a training run: one line after the first mini-batch, an ETA after each epoch.

    Parameters
    ----------
    log : callable
        ``log(line)``.
    n_batches : int
        Mini-batches per epoch.
    epochs : int
        Epochs this run trains (a resumed run counts only those left).
    """

    def __init__(self, log: Callable, n_batches: int, epochs: int):
        self.log, self.n_batches, self.epochs = log, max(1, n_batches), epochs
        self.started = time.perf_counter()
        self.walls: list = []
        self.first: int | None = None

    def batch_done(self, epoch: int):
        """Call after each mini-batch; logs the first epoch's estimate once.

        The estimate uses the second mini-batch alone (the first also pays for encoding the
        epoch and generating the step), or the first where an epoch has only one.
        """
        if self.first is not None and self.first < 0:
            return
        now = time.perf_counter()
        if self.first is None and self.n_batches > 1:
            self.first, self.started = epoch, now
            return
        took = now - self.started
        per_epoch = took * self.n_batches
        self.first = -1
        self.log(f"progress: epoch {epoch + 1}, a batch takes {took:.2f} s: about {format_eta(per_epoch)} "
                 f"an epoch of {self.n_batches} batches (training only), "
                 f"ETA {format_eta(per_epoch * self.epochs)}")

    def epoch_done(self, wall_s: float) -> float:
        """Record an epoch's wall time; return the seconds the remaining epochs should take."""
        self.walls.append(float(wall_s))
        return float(np.mean(self.walls)) * (self.epochs - len(self.walls))


def _learning_rate(config: TrainConfig, epoch: int) -> float:
    """``constant``: ``lr``; ``cosine``: ``lr·(1 + cos(π·epoch/epochs))/2``."""
    if config.schedule == "constant":
        return config.lr
    return config.lr * 0.5 * (1.0 + np.cos(np.pi * epoch / config.epochs))


def lr_scales(config: TrainConfig, net: EIClassifier) -> dict:
    """Per trained pathway, the factor on the learning rate: the unit of its weights.

    Adam's step is about ``lr`` in the weight's own unit whatever the gradient's size. The PING
    layer's inputs add to a conductance, so their learning rate is ``lr · config.lr_siemens``
    (without it, one step at lr 5e-3 moved them by 5 mS, a million times ``sigma_in_ping``, and
    the layer fired at ~330 Hz). Other pathways (unitless readout weights): 1.
    """
    if config.hidden != "ping":
        return {}
    return {name: config.lr_siemens for name, path in net.model.pathways.items()
            if path.source == "input" and net.weights[name].requires_grad}


def _make_optimizer(config: TrainConfig, net: EIClassifier):
    scales = lr_scales(config, net)
    groups = [{"params": [w], "lr": config.lr * scales.get(name, 1.0), "lr_scale": scales.get(name, 1.0)}
              for name, w in net.weights.items() if w.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr)
    return torch.optim.Adam(groups, lr=config.lr)


def dataset_tensors(dataset: Dataset) -> tuple:
    """``(x_train, y_train, x_test, y_test)`` of a data set as torch tensors: x float32, y int64."""
    return (torch.from_numpy(np.asarray(dataset.x_train, dtype=np.float32)),
            torch.from_numpy(np.asarray(dataset.y_train)).long(),
            torch.from_numpy(np.asarray(dataset.x_test, dtype=np.float32)),
            torch.from_numpy(np.asarray(dataset.y_test)).long())


@contextmanager
def torch_threads(threads: int | None):
    """Run the block with ``torch.set_num_threads(threads)``, then put the previous count back.

    ``None`` leaves torch's setting alone. The training step is many small operations on
    ``[batch, neurons]`` tensors, which torch runs on one thread anyway; more threads only split
    the few large matrix products and, on a machine whose cores are busy, wait for each other.
    """
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_classifier(config: TrainConfig, out: Path, *, checkpoint_dir: Path | None = None, log=None,
                     brian2_check: bool = True, dataset: Dataset | None = None,
                     threads: int | None = 1) -> dict:
    """Train, write curves/checkpoints into ``out`` and return the metrics.

    ``checkpoint_dir`` keeps per-epoch checkpoints outside the (atomic) run folder so that an
    interrupted run can resume; it defaults to ``out/checkpoints``. ``threads`` is the number of
    torch CPU threads while it trains (see :func:`torch_threads`; ``None``: torch's own setting).
    """
    config.check()
    with torch_threads(threads if pick_device(config.device).type == "cpu" else None):
        return _train_classifier(config, out, checkpoint_dir=checkpoint_dir, log=log,
                                 brian2_check=brian2_check, dataset=dataset)


def _train_classifier(config: TrainConfig, out: Path, *, checkpoint_dir, log, brian2_check, dataset) -> dict:
    log = log or (lambda *a: print(*a, file=sys.stderr))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    data = dataset or load_dataset(config.dataset, data_dir=config.data_dir, seed=config.seed,
                                   **({"limit": config.limit} if config.dataset == "fashion_mnist" else {}))
    x_train, y_train = data.x_train, data.y_train
    if config.limit and config.dataset != "fashion_mnist":
        x_train, y_train = x_train[:config.limit], y_train[:config.limit]
    net = build_classifier(config, data.n_inputs, data.n_classes).to(device)
    optimizer = _make_optimizer(config, net)
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir else out / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    history, start_epoch = [], 0
    latest = ckpt_dir / "latest"
    if latest.with_suffix(".json").is_file():
        meta = load_checkpoint(latest, net, optimizer)
        history, start_epoch = meta["history"], meta["epoch"]
        log(f"resuming from epoch {start_epoch} ({latest}.safetensors)")
    test_spikes = encode_split(config, data.x_test, (config.seed, 1_000_003))
    noise_gen = torch.Generator().manual_seed(config.seed + 17)
    epoch_clock = {"started": 0.0, "correct": 0}

    def start_epoch_hook(epoch):
        epoch_clock["started"], epoch_clock["correct"] = time.perf_counter(), 0
        if config.weight_noise:
            noise_gen.manual_seed(config.seed * 100_003 + epoch)
        for group in optimizer.param_groups:  # a function of the epoch alone, so resuming is exact
            group["lr"] = _learning_rate(config, epoch) * group.get("lr_scale", 1.0)

    n_batches = -(-len(y_train) // config.batch_size)
    log(f"training: {len(y_train)} samples in {n_batches} batches of {config.batch_size}, epochs "
        f"{start_epoch + 1}-{config.epochs}, dt {config.dt_ms:g} ms ({config.steps} steps per sample)")
    progress = Progress(log, n_batches, config.epochs - start_epoch)

    def batches(epoch):
        # every draw depends on (seed, epoch) alone, so a resumed run sees the same batches
        spikes = encode_split(config, x_train, (config.seed, epoch))
        order = np.random.default_rng([config.seed, epoch, 1]).permutation(len(y_train))
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            yield torch.as_tensor(spikes[idx], device=device), torch.as_tensor(y_train[idx], device=device)
            progress.batch_done(epoch)

    def count_correct(output, y):
        epoch_clock["correct"] += int((predict(output[0].detach()) == y.cpu().numpy()).sum())

    def end_epoch(stats: EpochStats):
        test = evaluate_torch(net, test_spikes, data.y_test, config.dt_s, device=device)
        row = {"epoch": stats.epoch + 1, "loss": stats.mean_batch_loss,
               "train_accuracy": epoch_clock["correct"] / stats.n_samples,
               "test_accuracy": test["accuracy"], "hidden_rate_hz": test["hidden_rate_hz"],
               "wall_s": time.perf_counter() - epoch_clock["started"]}
        history.append(row)
        save_checkpoint(latest, net, optimizer, stats.epoch + 1, history, config)
        log(f"epoch {stats.epoch + 1}/{config.epochs}  loss {row['loss']:.4f}  "
            f"train {row['train_accuracy']:.3f}  test {row['test_accuracy']:.3f}  "
            f"hidden {row['hidden_rate_hz']:.1f} Hz  ({row['wall_s']:.1f} s, "
            f"ETA {format_eta(progress.epoch_done(row['wall_s']))})")

    after_step = [net.project_]
    if config.weight_noise:
        after_step.append(lambda: net.add_weight_noise_(config.weight_noise, noise_gen))
    started = time.perf_counter()
    train_loop(net, optimizer, batches, lambda output, y: readout_loss(output[0], y), epochs=config.epochs,
               start_epoch=start_epoch, forward=lambda x: net(x, config.dt_s),
               on_epoch_start=start_epoch_hook, after_step=after_step, on_batch=count_correct,
               on_epoch_end=end_epoch)
    train_wall = time.perf_counter() - started
    final = evaluate_torch(net, test_spikes, data.y_test, config.dt_s, device=device)
    metrics = {"test_accuracy": final["accuracy"], "hidden_rate_hz": final["hidden_rate_hz"],
               "epochs": config.epochs, "train_wall_s": train_wall, "device": str(device),
               "n_train": int(len(y_train)), "n_test": int(len(data.y_test))}
    if brian2_check:
        t0 = time.perf_counter()
        b2 = evaluate_brian2(net, test_spikes, data.y_test, config.dt_s)
        metrics.update({"test_accuracy_brian2": b2["accuracy"], "hidden_rate_hz_brian2": b2["hidden_rate_hz"],
                        "prediction_agreement": float(np.mean(b2["predictions"] == final["predictions"])),
                        "brian2_wall_s": time.perf_counter() - t0})
        log(f"test accuracy: torch {final['accuracy']:.4f}, Brian2 {b2['accuracy']:.4f} "
            f"(same prediction on {metrics['prediction_agreement']:.3f} of the test set)")
    save_checkpoint(out / "weights", net, optimizer, config.epochs, history, config)
    (out / "curves.json").write_text(json.dumps(history, indent=1))
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    curves_figure(history).savefig(figures / "curves.png", dpi=100)
    return {"metrics": metrics, "history": history, "net": net, "test_spikes": test_spikes, "data": data,
            "config_hash": short_hash(asdict(config))}


def curves_figure(history: list):
    """Loss, train/test accuracy and hidden rate (Hz) per epoch, as a ``matplotlib.figure.Figure``."""
    from matplotlib.figure import Figure

    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(11, 3))
    axes = fig.subplots(1, 3)
    axes[0].plot(epochs, [h["loss"] for h in history])
    axes[0].set(xlabel="epoch", ylabel="loss")
    axes[1].plot(epochs, [h["train_accuracy"] for h in history], label="train")
    axes[1].plot(epochs, [h["test_accuracy"] for h in history], label="test")
    axes[1].set(xlabel="epoch", ylabel="accuracy")
    axes[1].legend()
    axes[2].plot(epochs, [h["hidden_rate_hz"] for h in history])
    axes[2].set(xlabel="epoch", ylabel="hidden rate (Hz)")
    fig.tight_layout()
    return fig
