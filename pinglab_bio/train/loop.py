"""Training loop of the E/I classifier: epochs, checkpoints (safetensors), resume, Brian2 check.

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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data import encoders
from ..data.datasets import Dataset, load_dataset
from ..errors import SettingsError
from ..provenance import short_hash
from .networks import EIClassifier, classifier_model, predict, readout_loss

__all__ = ["TrainConfig", "train_classifier", "evaluate_torch", "evaluate_brian2", "encode_split",
           "save_checkpoint", "load_checkpoint", "build_classifier", "pick_device", "OPTIMIZERS"]

OPTIMIZERS = ("adam", "sgd")


@dataclass
class TrainConfig:
    """Settings of one training run (every one is recorded in the run folder)."""

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
                                f"{self.duration_ms} ms. Fix: e.g. --dt 1 --duration 100")
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
        if self.weight_noise < 0:
            raise SettingsError(f"weight noise must be ≥ 0, got {self.weight_noise!r}. Fix: e.g. 0.2")
        from .surrogates import get_surrogate

        get_surrogate(self.surrogate)
        return self

    @property
    def steps(self) -> int:
        return int(round(self.duration_ms / self.dt_ms))

    @property
    def dt_s(self) -> float:
        return self.dt_ms * 1e-3


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SettingsError("--device cuda was asked for but torch sees no CUDA device. "
                            "Fix: use --device cpu")
    if name not in ("cpu", "cuda"):
        raise SettingsError(f"unknown device {name!r}. Fix: use auto, cpu or cuda")
    return torch.device(name)


def build_classifier(config: TrainConfig, n_inputs: int, n_classes: int) -> EIClassifier:
    """The classifier of ``config`` (model file, E:I ratio, sizes), weights drawn from ``seed``."""
    from ..model.spec import load_model

    overrides = dict(config.overrides)
    if config.hidden == "ei":
        overrides.update({"n_total": config.n_hidden, "ei_ratio": config.ei_ratio})
    spec = load_model(config.model, overrides)
    model = classifier_model(spec, n_inputs, n_classes, hidden=config.hidden)
    signs, sigma = {}, {}
    for name, path in model.pathways.items():
        if path.source == "input":
            sigma[name] = config.sigma_in if config.hidden == "ei" else config.sigma_in_ping
            continue
        n_src = model.populations[path.source].n
        if config.hidden == "ei" and path.source == "hidden":
            n_exc = spec.populations["exc"].n
            signs[name] = np.concatenate([np.ones(n_exc), -np.ones(n_src - n_exc)])
        else:
            signs[name] = np.full(n_src, -1.0 if path.source == "inh" else 1.0)
        sigma[name] = config.sigma_out if path.target == "out" else 0.0
    fixed = {}
    if config.hidden == "ping":
        for name, path in spec.pathways.items():
            fixed[name] = _fixed_pathway(spec, name, path, config.seed)
        signs.update({name: np.ones(model.populations[p.source].n) for name, p in spec.pathways.items()})
    net = EIClassifier(model, signs, sigma, seed=config.seed, dtype=getattr(torch, config.dtype),
                       surrogate=config.surrogate, slope=config.slope, damping=config.damping,
                       trainable=[n for n in model.pathways if n not in fixed], fixed_weights=fixed)
    if config.hidden == "ping":
        net.init_values = _ping_init(spec)
    return net


def _ping_init(spec) -> dict:
    """Start PING cells at the middle of their initial range and the drive at its mean (SI)."""
    values = {}
    for pop, p in spec.populations.items():
        values[pop] = {}
        for var, init in p.init.items():
            values[pop][var] = (float(init[1]) if init[0] == "constant"
                                else 0.5 * (float(init[1]) + float(init[2])))
        drive = spec.drives.get(pop)
        if drive is not None and drive.kind == "tonic_ou":
            values[pop][drive.variable] = float(drive.values["mean"])
    return values


def _fixed_pathway(spec, name, path, seed):
    """Dense weights of a model pathway (its weight where connected with probability p)."""
    rng = np.random.default_rng(seed + 7919)
    n_src, n_tgt = spec.populations[path.source].n, spec.populations[path.target].n
    if path.p is not None:
        mask = rng.random((n_src, n_tgt)) < path.p
    else:
        mask = np.zeros((n_src, n_tgt), dtype=bool)
        for j in range(n_tgt):
            mask[rng.choice(n_src, size=path.in_degree, replace=False), j] = True
    if path.source == path.target:
        np.fill_diagonal(mask, False)
    return mask * float(path.weight)


def encode_split(config: TrainConfig, x: np.ndarray, seed_key: tuple, dt_s: float | None = None,
                 steps: int | None = None) -> np.ndarray:
    """Encode intensities at ``dt_s`` (default: the config's); draws depend only on ``seed_key``."""
    dt_s = config.dt_s if dt_s is None else dt_s
    steps = config.steps if steps is None else steps
    if x.ndim == 3:  # already spikes (SHD)
        return x
    rng = np.random.default_rng([int(k) for k in seed_key])
    if config.encoder == "poisson":
        return encoders.poisson_encode(x, dt_s=dt_s, steps=steps, max_rate_hz=config.max_rate_hz, rng=rng)
    return encoders.latency_encode(x, dt_s=dt_s, steps=steps)


@torch.no_grad()
def evaluate_torch(net: EIClassifier, spikes: np.ndarray, labels: np.ndarray, dt_s: float, *,
                   batch_size: int = 256, device=None) -> dict:
    """Accuracy, predictions and mean hidden rate (Hz) of the torch step on encoded inputs."""
    device = device or next(net.parameters()).device
    preds, counts, n_neurons = [], 0.0, 0
    for start in range(0, len(labels), batch_size):
        x = torch.as_tensor(spikes[start:start + batch_size], device=device)
        out_v, hidden = net(x, dt_s)
        preds.append(predict(out_v))
        counts += float(sum(s.sum() for s in hidden.values()))
        n_neurons = sum(s.shape[-1] for s in hidden.values())
    preds = np.concatenate(preds)
    duration = spikes.shape[1] * dt_s
    return {"accuracy": float(np.mean(preds == labels)), "predictions": preds,
            "hidden_rate_hz": counts / max(1, n_neurons * len(labels)) / duration}


def evaluate_brian2(net: EIClassifier, spikes: np.ndarray, labels: np.ndarray, dt_s: float, *,
                    chunk: int = 128) -> dict:
    """The same weights run in Brian2 (numpy target): accuracy, predictions, hidden rate (Hz)."""
    from .bridge import simulate_brian2

    exported = simulate_brian2(net.model, net.numpy_weights(), spikes, dt_s, record={"out": ["v"]},
                               chunk=chunk, init=net.init_values)
    preds = predict(exported.states["out"]["v"])
    hidden = [s for s in exported.spikes.values()]
    n_neurons = sum(s.shape[-1] for s in hidden)
    duration = spikes.shape[1] * dt_s
    rate = float(sum(s.sum() for s in hidden)) / max(1, n_neurons * len(labels)) / duration
    return {"accuracy": float(np.mean(preds == labels)), "predictions": preds, "hidden_rate_hz": rate}


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
        params = sd["param_groups"][0]["params"]
        for index in params:
            entry = {key.split(".", 2)[2]: value for key, value in tensors.items()
                     if key.startswith(f"optim.{index}.")}
            if entry:
                sd["state"][index] = entry
        optimizer.load_state_dict(sd)
    return json.loads(path.with_suffix(".json").read_text())


def _learning_rate(config: TrainConfig, epoch: int) -> float:
    """``constant``: ``lr``; ``cosine``: ``lr·(1 + cos(π·epoch/epochs))/2``."""
    if config.schedule == "constant":
        return config.lr
    return config.lr * 0.5 * (1.0 + np.cos(np.pi * epoch / config.epochs))


def _make_optimizer(config: TrainConfig, net: EIClassifier):
    params = [w for w in net.weights.values() if w.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr)
    return torch.optim.Adam(params, lr=config.lr)


def train_classifier(config: TrainConfig, out: Path, *, checkpoint_dir: Path | None = None, log=None,
                     brian2_check: bool = True, dataset: Dataset | None = None) -> dict:
    """Train, write curves/checkpoints into ``out`` and return the metrics.

    ``checkpoint_dir`` keeps per-epoch checkpoints outside the (atomic) run folder so that an
    interrupted run can resume; it defaults to ``out/checkpoints``.
    """
    config.check()
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
    started = time.perf_counter()
    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        spikes = encode_split(config, x_train, (config.seed, epoch))
        order = np.random.default_rng([config.seed, epoch, 1]).permutation(len(y_train))
        if config.weight_noise:
            noise_gen.manual_seed(config.seed * 100_003 + epoch)
        for group in optimizer.param_groups:  # a function of the epoch alone, so resuming is exact
            group["lr"] = _learning_rate(config, epoch)
        net.train()
        losses, correct = [], 0
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            x = torch.as_tensor(spikes[idx], device=device)
            y = torch.as_tensor(y_train[idx], device=device)
            out_v, _ = net(x, config.dt_s)
            loss = readout_loss(out_v, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            net.project_()
            if config.weight_noise:
                net.add_weight_noise_(config.weight_noise, noise_gen)
            losses.append(float(loss.detach()))
            correct += int((predict(out_v.detach()) == y.cpu().numpy()).sum())
        net.eval()
        test = evaluate_torch(net, test_spikes, data.y_test, config.dt_s, device=device)
        row = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "train_accuracy": correct / len(order),
               "test_accuracy": test["accuracy"], "hidden_rate_hz": test["hidden_rate_hz"],
               "wall_s": time.perf_counter() - t0}
        history.append(row)
        save_checkpoint(latest, net, optimizer, epoch + 1, history, config)
        log(f"epoch {epoch + 1}/{config.epochs}  loss {row['loss']:.4f}  train {row['train_accuracy']:.3f}  "
            f"test {row['test_accuracy']:.3f}  hidden {row['hidden_rate_hz']:.1f} Hz  "
            f"({row['wall_s']:.1f} s)")
    train_wall = time.perf_counter() - started
    net.eval()
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
    _plot_curves(history, out / "figures" / "curves.png")
    return {"metrics": metrics, "history": history, "net": net, "test_spikes": test_spikes, "data": data,
            "config_hash": short_hash(asdict(config))}


def _plot_curves(history: list, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    axes[0].plot(epochs, [h["loss"] for h in history])
    axes[0].set(xlabel="epoch", ylabel="loss")
    axes[1].plot(epochs, [h["train_accuracy"] for h in history], label="train")
    axes[1].plot(epochs, [h["test_accuracy"] for h in history], label="test")
    axes[1].set(xlabel="epoch", ylabel="accuracy")
    axes[1].legend()
    axes[2].plot(epochs, [h["hidden_rate_hz"] for h in history])
    axes[2].set(xlabel="epoch", ylabel="hidden rate (Hz)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
