"""Training the spiking MLPs of the ``ei_deep`` protocol: E–I layers against batch norm and none.

:func:`train_mlp` trains one :class:`~pinglab_bio.train.layers.SpikingMLP` on digits and returns
its curves, its test accuracy, the spike rate of each hidden layer and, for E–I layers, the
ratio of excitatory to subtractive input (``mean I_EE / mean W_EI I_IE``) per layer at E–I Init
and after training. :func:`load_digits_split` is the small digits adapter the E–I protocols
share (pixels scaled to [0, 1], a stratified train/test split).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import SettingsError
from ..layers import NORMALISATIONS, SpikingMLP, project_dale_

__all__ = ["load_digits_split", "DeepConfig", "train_mlp", "OPTIMISERS", "parse_list", "check_torch_device"]

OPTIMISERS = ("adam", "sgd")


def load_digits_split(seed: int = 0, test_fraction: float = 0.2):
    """scikit-learn digits as float32 tensors ``(x_train, y_train, x_test, y_test)``; x in [0, 1]."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SettingsError(
            "the digits data set needs scikit-learn, which is not installed. "
            "Fix: pip install -e '.[train]' (or pip install scikit-learn)"
        ) from None
    if not 0.0 < test_fraction < 1.0:
        raise SettingsError(f"test_fraction must lie in (0, 1), got {test_fraction}. Fix: e.g. 0.2")
    data = load_digits()
    x = data.data.astype(np.float32) / 16.0
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, data.target, test_size=test_fraction, stratify=data.target, random_state=seed
    )
    return (
        torch.from_numpy(x_tr),
        torch.from_numpy(y_tr).long(),
        torch.from_numpy(x_te),
        torch.from_numpy(y_te).long(),
    )


@dataclass(frozen=True)
class DeepConfig:
    """One ``ei_deep`` training run."""

    depth: int = 2
    norm: str = "ei"
    width: int = 128
    epochs: int = 15
    batch_size: int = 64
    lr: float = 1e-3
    optimiser: str = "adam"
    clip: float = 1.0  # gradient-norm clip (0 = off)
    steps: int = 4
    seed: int = 0
    device: str = "cpu"  # torch device ("cuda" where a GPU is lent)

    def check(self):
        if self.norm not in NORMALISATIONS:
            raise SettingsError(
                f"unknown normalisation {self.norm!r}. Fix: use one of {', '.join(NORMALISATIONS)}"
            )
        if self.optimiser not in OPTIMISERS:
            raise SettingsError(
                f"unknown optimiser {self.optimiser!r}. Fix: use one of {', '.join(OPTIMISERS)}"
            )
        for name in ("depth", "width", "epochs", "batch_size", "steps"):
            if getattr(self, name) < 1:
                raise SettingsError(
                    f"{name} must be ≥ 1, got {getattr(self, name)}. Fix: pass a positive number"
                )
        if not self.lr > 0:
            raise SettingsError(f"the learning rate must be > 0, got {self.lr}. Fix: e.g. 1e-3")
        if self.clip < 0:
            raise SettingsError(f"the gradient clip must be ≥ 0 (0 = off), got {self.clip}. Fix: e.g. 1.0")


def _ei_ratios(model: SpikingMLP) -> list[float]:
    out = []
    for layer in model.ei_layers():
        sub = layer.last_subtractive_mean
        out.append(float(layer.last_excitatory_mean / sub) if sub > 0 else float("nan"))
    return out


@torch.no_grad()
def _evaluate(model: SpikingMLP, x, y, batch: int = 512):
    model.eval()
    correct = 0
    n_layers = len(model.ei_layers())
    exc_sum, sub_sum, rate_sum = np.zeros(n_layers), np.zeros(n_layers), np.zeros(len(model.blocks))
    for i in range(0, len(x), batch):
        xb, yb = x[i : i + batch], y[i : i + batch]
        logits = model(xb)
        correct += int((logits.argmax(1) == yb).sum())
        w = len(xb) / len(x)
        exc_sum += w * np.array([layer.last_excitatory_mean for layer in model.ei_layers()])
        sub_sum += w * np.array([layer.last_subtractive_mean for layer in model.ei_layers()])
        rate_sum += w * np.array(model.last_rates)
    model.train()
    ratios = [float(e / s) if s > 0 else float("nan") for e, s in zip(exc_sum, sub_sum, strict=False)]
    return correct / len(x), ratios, rate_sum.tolist()


def train_mlp(config: DeepConfig, data, log=None) -> dict:
    """Train one spiking MLP; return curves and per-layer measures (JSON-ready).

    ``data`` is ``(x_train, y_train, x_test, y_test)`` from :func:`load_digits_split`.
    """
    config.check()
    x_tr, y_tr, x_te, y_te = data
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    model = SpikingMLP(
        x_tr.shape[1], config.width, config.depth, int(y_tr.max()) + 1, norm=config.norm, steps=config.steps
    )
    device = torch.device(config.device)
    model.to(device).train()
    x_tr, y_tr, x_te, y_te = (t.to(device) for t in (x_tr, y_tr, x_te, y_te))
    perm = torch.randperm(len(x_tr), generator=gen)
    with torch.no_grad():
        model(x_tr[perm[: config.batch_size]])  # E–I Init on the first batch (no-op for the others)
    init_ratios = _ei_ratios(model)
    init_acc, _, init_rates = _evaluate(model, x_te, y_te)
    params = list(model.parameters())
    opt = (
        torch.optim.Adam(params, lr=config.lr)
        if config.optimiser == "adam"
        else torch.optim.SGD(params, lr=config.lr, momentum=0.9)
    )
    curve, losses = [], []
    started = time.perf_counter()
    for epoch in range(config.epochs):
        perm = torch.randperm(len(x_tr), generator=gen)
        total = 0.0
        for i in range(0, len(x_tr), config.batch_size):
            idx = perm[i : i + config.batch_size]
            loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
            opt.zero_grad()
            loss.backward()
            if config.clip > 0:
                torch.nn.utils.clip_grad_norm_(params, config.clip)
            opt.step()
            project_dale_(model)
            total += float(loss.detach()) * len(idx)
        acc, _, _ = _evaluate(model, x_te, y_te)
        curve.append(acc)
        losses.append(total / len(x_tr))
        if log:
            log(
                f"  {config.norm:<9} depth {config.depth} seed {config.seed} "
                f"epoch {epoch + 1}/{config.epochs}: "
                f"loss {losses[-1]:.3f}, test accuracy {acc:.3f}"
            )
    acc, ratios, rates = _evaluate(model, x_te, y_te)
    return {
        "config": asdict(config),
        "test_accuracy": acc,
        "peak_test_accuracy": max(curve),
        "initial_test_accuracy": init_acc,
        "accuracy_curve": curve,
        "loss_curve": losses,
        "layer_rates_init": init_rates,
        "layer_rates": rates,
        "ei_ratio_init": init_ratios,
        "ei_ratio": ratios,
        "train_time_s": time.perf_counter() - started,
    }


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


def check_torch_device(name: str) -> str:
    """``name`` if torch can use it here, else a one-line SettingsError."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise SettingsError(
            f"--torch-device {name!r} is not a torch device. Fix: e.g. --torch-device cpu"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError(
            f"--torch-device {name!r} asks for CUDA, which is not available here. Fix: --torch-device cpu"
        )
    if device.type not in ("cpu", "cuda"):
        raise SettingsError(
            f"--torch-device {name!r}: only cpu and cuda are supported. Fix: --torch-device cpu"
        )
    return name
