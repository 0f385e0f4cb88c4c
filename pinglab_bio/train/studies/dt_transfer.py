"""The Δt-transfer study (protocol ``dt_transfer``): train at one dt, evaluate in Brian2 at others.

:func:`train_transfer_network` trains, at one integration step, either the three-layer E/I
network (derived CUBA step of ``ei_hidden_cuba``) or the plain discrete-time LIF baseline
``U ← βU + Ws``, as a configuration of :func:`pinglab_bio.train.loop.train_loop` (Adam at a
constant learning rate, Dale projection after each step). :func:`summarize_rows` condenses the
Brian2 evaluations over the dt grid (REFERENCES §2: a hidden-rate ratio ≤ 2× is flat, ≥ 10× a
collapse).
"""

from __future__ import annotations

import numpy as np

__all__ = ["TRANSFER_MODELS", "train_transfer_network", "summarize_rows"]

#: The networks of the study: the derived E/I network and the discrete-time baseline.
TRANSFER_MODELS = ("ei", "baseline")


def train_transfer_network(kind: str, dt_s: float, dataset, *, epochs: int, duration_s: float,
                           ei_ratio: float = 0.8, seed: int = 0, dataset_name: str = "digits", log=print):
    """Train one network at step ``dt_s``; return ``(net, config)``.

    Parameters
    ----------
    kind : {"ei", "baseline"}
        The derived E/I network or the ``U ← βU + Ws`` baseline with ``β = exp(−dt_s/10 ms)``.
    dt_s : float
        Training step (s).
    dataset : pinglab_bio.data.datasets.Dataset
        Intensities in [0, 1], encoded afresh each epoch.
    epochs : int
    duration_s : float
        Trial length (s).
    ei_ratio : float
        E share of the hidden layer (sets the signs of the hidden → output weights).
    seed : int
        Seeds the weights, the encoding and the order of the samples.
    dataset_name : str
        Recorded in the returned :class:`~pinglab_bio.train.loop.TrainConfig`.
    log : callable
        Receives one line per epoch.
    """
    import torch

    from ..loop import TrainConfig, build_classifier, encode_split, train_loop
    from ..networks import EIClassifier, baseline_model, predict, readout_loss

    config = TrainConfig(dataset=dataset_name, epochs=epochs, dt_ms=dt_s * 1e3, duration_ms=duration_s * 1e3,
                         ei_ratio=ei_ratio, seed=seed).check()
    if kind == "ei":
        net = build_classifier(config, dataset.n_inputs, dataset.n_classes)
    else:
        n_hidden = config.n_hidden
        n_exc = int(round(config.ei_ratio * n_hidden))
        signs = {"hidden_to_out": np.concatenate([np.ones(n_exc), -np.ones(n_hidden - n_exc)])}
        # β = exp(-dt_train/tau) with tau = 10 ms: the baseline matches the E/I cell at dt_train only
        beta = float(np.exp(-dt_s / 0.01))
        model = baseline_model(dataset.n_inputs, n_hidden, dataset.n_classes, beta=beta)
        # input spikes jump v directly (no synaptic filter): smaller input weights than the E/I cell
        net = EIClassifier(model, signs, {"input_to_hidden": 0.05, "hidden_to_out": 0.5}, seed=config.seed)
    opt = torch.optim.Adam([w for w in net.weights.values() if w.requires_grad], lr=config.lr)
    correct = {"n": 0}

    def batches(epoch):
        correct["n"] = 0
        spikes = encode_split(config, dataset.x_train, (config.seed, epoch))
        order = np.random.default_rng([config.seed, epoch, 1]).permutation(len(dataset.y_train))
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            yield torch.as_tensor(spikes[idx]), torch.as_tensor(dataset.y_train[idx])

    def count_correct(output, y):
        correct["n"] += int((predict(output[0].detach()) == y.numpy()).sum())

    def log_epoch(stats):
        log(f"  {kind} dt_train {dt_s * 1e3:g} ms epoch {stats.epoch + 1}/{config.epochs} "
            f"loss {stats.mean_batch_loss:.3f} train {correct['n'] / stats.n_samples:.3f}")

    train_loop(net, opt, batches, lambda output, y: readout_loss(output[0], y), epochs=config.epochs,
               forward=lambda x: net(x, dt_s), after_step=[net.project_], on_batch=count_correct,
               on_epoch_end=log_epoch)
    return net, config


def summarize_rows(rows: list) -> list:
    """Per (model, dt_train, transport): accuracy at dt_train, min/max over the grid, rate ratio.

    Parameters
    ----------
    rows : list of dict
        One evaluation each: ``model``, ``dt_train_ms``, ``transport``, ``dt_ms`` (ms),
        ``accuracy``, ``hidden_rate_hz`` (Hz).

    Returns
    -------
    list of dict
        ``accuracy_at_train``, ``accuracy_min``, ``accuracy_max``, ``rate_min_hz``,
        ``rate_max_hz`` and ``rate_ratio`` (max/min; None when the network is silent at some dt).
    """
    out = []
    for key in sorted({(r["model"], r["dt_train_ms"], r["transport"]) for r in rows}):
        sel = [r for r in rows if (r["model"], r["dt_train_ms"], r["transport"]) == key]
        at = [r["accuracy"] for r in sel if abs(r["dt_ms"] - key[1]) < 1e-9]
        rates = [r["hidden_rate_hz"] for r in sel]
        low = min(rates)
        out.append({"model": key[0], "dt_train_ms": key[1], "transport": key[2],
                    "accuracy_at_train": at[0] if at else None,
                    "accuracy_min": min(r["accuracy"] for r in sel),
                    "accuracy_max": max(r["accuracy"] for r in sel),
                    "rate_min_hz": low, "rate_max_hz": max(rates),
                    "rate_ratio": (max(rates) / low) if low > 0 else None})
    return out
