"""Training the spiking MLPs of the ``ei_deep`` protocol: E–I layers against batch norm and none.

:func:`train_mlp` trains one :class:`~pinglab_bio.train.layers.SpikingMLP` on digits and returns
its curves, its test accuracy, the spike rate of each hidden layer and, for E–I layers, the
ratio of excitatory to subtractive input (``mean I_EE / mean W_EI I_IE``) per layer at E–I Init
and after training. A run is a configuration of :func:`pinglab_bio.train.loop.train_loop`
(gradient clipping before each step, Dale projection after it) and
:func:`pinglab_bio.train.loop.evaluate`; its data are
:func:`pinglab_bio.train.studies.common.digits_tensors`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import SettingsError
from ..layers import NORMALISATIONS, SpikingMLP, project_dale_
from ..loop import evaluate, train_loop

__all__ = ["DeepConfig", "train_mlp", "OPTIMISERS"]

OPTIMISERS = ("adam", "sgd")


@dataclass(frozen=True)
class DeepConfig:
    """One ``ei_deep`` training run (``steps``: time steps per image; ``clip``: gradient-norm bound)."""

    depth: int = 2
    norm: str = "ei"
    width: int = 128
    epochs: int = 40
    batch_size: int = 64
    lr: float = 3e-4
    optimiser: str = "adam"
    clip: float = 1.0  # gradient-norm clip (0 = off)
    steps: int = 4
    seed: int = 0
    device: str = "cpu"  # torch device ("cuda" where a GPU is lent)

    def check(self):
        """Raise a one-line SettingsError for a setting out of range."""
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


def _evaluate(model: SpikingMLP, x, y, batch: int = 512):
    """Test accuracy, E/I input ratio of each E–I layer and spike rate of each block."""
    n_layers = len(model.ei_layers())
    sums = {"exc": np.zeros(n_layers), "sub": np.zeros(n_layers), "rate": np.zeros(len(model.blocks))}

    def measure(logits):
        w = len(logits) / len(x)
        sums["exc"] += w * np.array([layer.last_excitatory_mean for layer in model.ei_layers()])
        sums["sub"] += w * np.array([layer.last_subtractive_mean for layer in model.ei_layers()])
        sums["rate"] += w * np.array(model.last_rates)

    accuracy, _ = evaluate(model, x, y, batch_size=batch, on_batch=measure,
                           predict=lambda logits: logits.argmax(1).cpu().numpy())
    ratios = [float(e / s) if s > 0 else float("nan") for e, s in zip(sums["exc"], sums["sub"], strict=False)]
    return accuracy, ratios, sums["rate"].tolist()


def train_mlp(config: DeepConfig, data, log=None, on_epoch=None) -> dict:
    """Train one spiking MLP; return curves and per-layer measures (JSON-ready).

    ``data`` is ``(x_train, y_train, x_test, y_test)`` from
    :func:`~pinglab_bio.train.studies.common.digits_tensors`; ``on_epoch(epoch, accuracy)``, when
    given, is called after each epoch's evaluation.
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

    def batches(epoch):
        perm = torch.randperm(len(x_tr), generator=gen)
        for i in range(0, len(x_tr), config.batch_size):
            idx = perm[i : i + config.batch_size]
            yield x_tr[idx], y_tr[idx]

    def end_epoch(stats):
        acc, _, _ = _evaluate(model, x_te, y_te)
        curve.append(acc)
        losses.append(stats.loss_sum / len(x_tr))
        if on_epoch is not None:
            on_epoch(stats.epoch + 1, acc)
        if log:
            log(
                f"  {config.norm:<9} depth {config.depth} seed {config.seed} "
                f"epoch {stats.epoch + 1}/{config.epochs}: "
                f"loss {losses[-1]:.3f}, test accuracy {acc:.3f}"
            )

    clip = [lambda: torch.nn.utils.clip_grad_norm_(params, config.clip)] if config.clip > 0 else []
    started = time.perf_counter()
    train_loop(model, opt, batches, F.cross_entropy, epochs=config.epochs, before_step=clip,
               after_step=[lambda: project_dale_(model)], on_epoch_end=end_epoch)
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
