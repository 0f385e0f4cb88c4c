"""Reservoir mode: fit a readout from the exported state of a PING network simulated in Brian2.

1. Brian2 simulates the PING network of a model file (``ping_coba``: E and I populations, their
   E↔I pathways with delays, the tonic drive as fixed per-neuron conductances) on the encoded
   inputs; :func:`pinglab_bio.train.bridge.simulate_brian2` exports the hidden spikes
   ``[trials, steps, n_exc + n_inh]``.
2. A leaky-integrator readout (the derived step of ``READOUT_EQUATIONS``) is trained in torch on
   those spikes, with Dale's law on its weights (E rows ≥ 0, I rows ≤ 0).
3. The readout goes back into Brian2 (pathways ``exc_to_out`` and ``inh_to_out`` of the full
   network), which runs the test inputs again; its accuracy is compared with the torch one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import SettingsError
from ..model.network import NetworkModel, PathwayModel
from ..model.spec import load_model
from .loop import encode_split, train_loop
from .networks import EXC, INH, EIClassifier, classifier_model, fixed_pathway_weights, predict, readout_loss

__all__ = ["ReservoirConfig", "train_reservoir"]


@dataclass
class ReservoirConfig:
    """Settings of a reservoir run (sizes reduced so a run takes a few minutes on 2 cores).

    Times in ms, rates in Hz, ``input_weight_ns`` in nS; ``overrides`` are ``--set`` pairs of
    the model file.
    """

    model: str = "ping_coba"
    n_exc: int = 80
    n_inh: int = 20
    dt_ms: float = 0.25
    duration_ms: float = 50.0
    max_rate_hz: float = 200.0
    encoder: str = "poisson"
    input_weight_ns: float = 20.0
    n_train: int = 300
    n_test: int = 100
    epochs: int = 30
    lr: float = 5e-2
    batch_size: int = 25
    seed: int = 0
    #: the catalogue's weights suit 800 E / 200 I; with 10× fewer cells each synapse is 10× stronger
    #: and the tonic drive is lowered below threshold (steady state ≈ -54 mV) so the inputs matter
    overrides: tuple = (("exc_to_inh.weight", "30 nS"), ("inh_to_exc.weight", "15 nS"),
                        ("drive.exc.mean", "0.01 uS"))

    @property
    def dt_s(self) -> float:
        """The integration step in seconds."""
        return self.dt_ms * 1e-3

    @property
    def steps(self) -> int:
        """Steps per trial, ``duration / dt``."""
        return int(round(self.duration_ms / self.dt_ms))


def _init_values(spec, rng):
    """Membranes uniform in their initial range, then each driven population's tonic drive."""
    values = {}
    for pop, p in spec.populations.items():
        low, high = p.init["v"][1], p.init["v"][2]
        values[pop] = {"v": float(low) + rng.random(p.n) * (float(high) - float(low))}
    for pop, p in spec.populations.items():
        drive = spec.drives.get(pop)
        if drive is None:
            continue
        if drive.kind != "tonic_ou":
            raise SettingsError("reservoir mode needs a tonic drive (kind tonic_ou) or none. "
                                "Fix: use ping_coba")
        mean, het = float(drive.values["mean"]), drive.values["heterogeneity"]
        values[pop][drive.variable] = mean * (1 + het * (2 * rng.random(p.n) - 1))
    return values


def train_reservoir(config: ReservoirConfig, dataset, *, log=print) -> dict:
    """Run the three steps; return metrics (``test_accuracy`` torch, ``test_accuracy_brian2``)."""
    from .bridge import simulate_brian2

    sizes = {f"n_{EXC}": config.n_exc, f"n_{INH}": config.n_inh}
    spec = load_model(config.model, {**sizes, **dict(config.overrides)})
    n_in, n_classes = dataset.n_inputs, dataset.n_classes
    full = classifier_model(spec, n_in, n_classes, hidden="ping")
    rng = np.random.default_rng(config.seed)
    weights = {f"input_to_{EXC}": (rng.random((n_in, config.n_exc)) < 0.2) * config.input_weight_ns * 1e-9}
    for name, path in spec.pathways.items():
        weights[name] = fixed_pathway_weights(spec, path, config.seed)
    init = _init_values(spec, rng)
    hidden = list(spec.populations)  # E first, then I: the order of the readout's Dale signs
    hidden_only = NetworkModel({k: v for k, v in full.populations.items() if k != "out"},
                               {k: v for k, v in full.pathways.items() if not k.endswith("_to_out")}, n_in)
    x_train = encode_split(config, dataset.x_train[:config.n_train], (config.seed, 11))
    x_test = encode_split(config, dataset.x_test[:config.n_test], (config.seed, 12))
    y_train, y_test = dataset.y_train[:config.n_train], dataset.y_test[:config.n_test]
    t0 = time.perf_counter()
    hidden_w = {k: weights[k] for k in hidden_only.pathways}
    train_exp = simulate_brian2(hidden_only, hidden_w, x_train, config.dt_s, init=init)
    test_exp = simulate_brian2(hidden_only, hidden_w, x_test, config.dt_s, init=init)
    sim_s = time.perf_counter() - t0
    h_train = np.concatenate([train_exp.spikes[pop] for pop in hidden], axis=2)
    h_test = np.concatenate([test_exp.spikes[pop] for pop in hidden], axis=2)
    rate = {pop: float(test_exp.spikes[pop].mean() / config.dt_s) for pop in hidden}
    log(f"reservoir: E {rate[EXC]:.1f} Hz, I {rate[INH]:.1f} Hz over {len(y_train)} + {len(y_test)} "
        f"trials ({sim_s:.1f} s in Brian2)")
    readout = NetworkModel({"out": full.populations["out"]},
                           {"hidden_to_out": PathwayModel("hidden_to_out", "input", "out", "I_post += w",
                                                          full.pathways[f"{EXC}_to_out"].delay, None)},
                           config.n_exc + config.n_inh)
    signs = {"hidden_to_out": np.concatenate([np.ones(config.n_exc), -np.ones(config.n_inh)])}
    net = EIClassifier(readout, signs, {"hidden_to_out": 0.2}, seed=config.seed, dtype=torch.float64)
    net.sign_hidden_to_out.copy_(torch.as_tensor(signs["hidden_to_out"]))
    with torch.no_grad():
        net.weights["hidden_to_out"].abs_().mul_(net.sign_hidden_to_out[:, None])
    opt = torch.optim.Adam(list(net.weights.values()), lr=config.lr)

    def batches(epoch):
        order = np.random.default_rng([config.seed, epoch]).permutation(len(y_train))
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            yield torch.as_tensor(h_train[idx], dtype=torch.float64), torch.as_tensor(y_train[idx])

    def log_epoch(stats):
        if (stats.epoch + 1) % 10 == 0 or stats.epoch + 1 == config.epochs:
            log(f"readout epoch {stats.epoch + 1}/{config.epochs} loss {stats.losses[-1]:.3f}")

    train_loop(net, opt, batches, lambda output, y: readout_loss(output[0], y), epochs=config.epochs,
               forward=lambda x: net(x, config.dt_s), after_step=[net.project_], on_epoch_end=log_epoch)
    with torch.no_grad():
        out_v, _ = net(torch.as_tensor(h_test, dtype=torch.float64), config.dt_s)
    torch_pred = predict(out_v)
    w_out = net.numpy_weights()["hidden_to_out"]
    weights.update({f"{EXC}_to_out": w_out[:config.n_exc], f"{INH}_to_out": w_out[config.n_exc:]})
    t0 = time.perf_counter()
    back = simulate_brian2(full, weights, x_test, config.dt_s, init=init, record={"out": ["v"]})
    b2_pred = predict(back.states["out"]["v"])
    same_hidden = all(np.array_equal(back.spikes[p], test_exp.spikes[p]) for p in hidden)
    return {"test_accuracy": float(np.mean(torch_pred == y_test)),
            "test_accuracy_brian2": float(np.mean(b2_pred == y_test)),
            "prediction_agreement": float(np.mean(torch_pred == b2_pred)),
            "hidden_spikes_identical": bool(same_hidden),
            "rate_exc_hz": rate[EXC], "rate_inh_hz": rate[INH],
            "brian2_sim_s": sim_s, "brian2_check_s": time.perf_counter() - t0,
            "n_train": int(len(y_train)), "n_test": int(len(y_test))}
