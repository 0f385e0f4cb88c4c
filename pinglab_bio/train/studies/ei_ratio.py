"""The E:I-ratio studies (protocols ``ei_ratio`` and ``weight_noise``; REFERENCES.md §3).

The network is the three-layer E/I classifier of ``pinglab-bio train ei_readout``
(:func:`pinglab_bio.train.loop.build_classifier` on ``ei_hidden_cuba``): Poisson inputs → one
hidden population of current-based LIF neurons → leaky-integrator outputs, max-over-time readout
loss, plain SGD, Dale's law by projection after every step. Which hidden neurons are E and which
I is set by the signs of the hidden → output weights (the first ``round(ratio · n)`` are E), so
every ratio, 100:0 included, uses the same hidden equations.

One run (:func:`train_ratio_run`) is a configuration of :func:`pinglab_bio.train.loop.train_loop`:
mini-batches encoded afresh with the Poisson encoder of :mod:`pinglab_bio.data.encoders`,
projection and optional weight noise after each step, and an evaluation that records the hidden
rate, the test accuracy and the E and I spikes per sample per epoch. The Van Rossum distances
between hidden neurons are in the paper's discrete form (:func:`van_rossum_discrete`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ...data.encoders import poisson_encode
from ...errors import SettingsError
from ..loop import TrainConfig, build_classifier, evaluate, train_loop
from ..networks import predict, readout_loss

__all__ = [
    "RatioConfig",
    "config_from_params",
    "train_ratio_run",
    "van_rossum_discrete",
    "PAPER_VR",
    "hidden_counts",
    "initial_weight_std",
    "add_pathway_noise_",
]

#: The paper's Van Rossum medians (Fashion-MNIST, 80:20): trained networks and at initialisation.
PAPER_VR = {
    "trained": {"E-E": 0.89, "E-I": 1.03, "I-I": 1.10, "kruskal_p": "< 1e-6"},
    "initial": {"E-E": 1.28, "E-I": 1.28, "I-I": 1.28, "kruskal_p": "≈ 0.99"},
}


@dataclass(frozen=True)
class RatioConfig:
    """One training run of the three-layer E/I network (times in ms, rates in Hz)."""

    ei_ratio: float = 0.8
    sigma_in: float = 0.1  # input weights |N(0, sigma_in)|: sets the initial hidden rate
    sigma_out: float = 0.5  # hidden → output weights sign·|N(0, sigma_out)|
    n_hidden: int = 100
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.3
    steps: int = 100
    dt_ms: float = 1.0
    max_rate_hz: float = 100.0  # Poisson rate of a white pixel
    noise_rel: float = 0.0  # weight noise σ_n = noise_rel · σ_init after each step
    # σ_init of the noise in weight units; 0 = measured: each pathway's std of its drawn weights
    sigma_noise_ref: float = 0.0
    vr_samples: int = 100  # test samples over which the Van Rossum distance is averaged
    seed: int = 0
    device: str = "cpu"  # torch device of the network ("cuda" where a GPU is lent)

    def check(self):
        """Raise a one-line SettingsError for a setting out of range."""
        if not 0.0 < self.ei_ratio <= 1.0:
            raise SettingsError(
                f"the E:I ratio must be the E share in (0, 1], got {self.ei_ratio}. Fix: e.g. 0.8 for 80:20"
            )
        for name in ("sigma_in", "sigma_out", "lr", "dt_ms", "max_rate_hz"):
            if not getattr(self, name) > 0:
                raise SettingsError(
                    f"{name} must be > 0, got {getattr(self, name)}. Fix: pass a positive number"
                )
        for name in ("n_hidden", "epochs", "batch_size", "steps"):
            if getattr(self, name) < 1:
                raise SettingsError(
                    f"{name} must be ≥ 1, got {getattr(self, name)}. Fix: pass a positive number"
                )
        if self.noise_rel < 0:
            raise SettingsError(f"noise_rel must be ≥ 0, got {self.noise_rel}. Fix: e.g. 0.2")
        if self.sigma_noise_ref < 0:
            raise SettingsError(
                f"sigma_noise_ref must be ≥ 0 (0 = the measured std of the drawn weights), got "
                f"{self.sigma_noise_ref}. Fix: e.g. 0 or 1e-3"
            )
        if self.vr_samples < 0:
            raise SettingsError(f"vr_samples must be ≥ 0, got {self.vr_samples}. Fix: e.g. 100")

    @property
    def n_exc(self) -> int:
        """E neurons of the hidden layer: ``round(ei_ratio · n_hidden)``."""
        return int(round(self.ei_ratio * self.n_hidden))

    def classifier_config(self) -> TrainConfig:
        """The :class:`~pinglab_bio.train.loop.TrainConfig` that builds this run's network."""
        return TrainConfig(model="ei_hidden_cuba", hidden="ei", ei_ratio=self.ei_ratio,
                           n_hidden=self.n_hidden, dt_ms=self.dt_ms, duration_ms=self.steps * self.dt_ms,
                           max_rate_hz=self.max_rate_hz, epochs=self.epochs, batch_size=self.batch_size,
                           lr=self.lr, optimizer="sgd", schedule="constant", sigma_in=self.sigma_in,
                           sigma_out=self.sigma_out, seed=self.seed, device=self.device)


def config_from_params(params: dict, ratio: float, sigma_in: float, seed: int, noise_rel: float = 0.0,
                       sigma_noise_ref: float | None = None) -> RatioConfig:
    """The :class:`RatioConfig` of one (ratio, sigma_in, seed) cell of the ei_ratio and
    weight_noise protocols, from their CLI parameters. ``sigma_noise_ref`` (σ_init in weight
    units) defaults to 0: the noise is then relative to each pathway's measured initial std."""
    return RatioConfig(
        ei_ratio=ratio,
        sigma_in=sigma_in,
        sigma_out=params["sigma_out"],
        n_hidden=params["n_hidden"],
        epochs=params["epochs"],
        batch_size=params["batch_size"],
        lr=params["lr"],
        steps=params["steps"],
        max_rate_hz=params["max_rate"],
        noise_rel=noise_rel,
        sigma_noise_ref=sigma_noise_ref or 0.0,
        vr_samples=params.get("vr_samples", 0),
        seed=seed,
        device=params["torch_device"],
    )


def hidden_counts(spikes: torch.Tensor, n_exc: int) -> tuple[float, float]:
    """E and I spikes per sample: ``spikes [batch, steps, n_hidden]`` → (E total, I total) / batch."""
    per_neuron = spikes.sum(dim=(0, 1)) / spikes.shape[0]
    return float(per_neuron[:n_exc].sum()), float(per_neuron[n_exc:].sum())


def _evaluate(net, x, y, dt_s, n_exc, batch=512):
    """Test accuracy, E and I spikes per sample, hidden rate (Hz) and the hidden spikes."""
    seen = {"exc": 0.0, "inh": 0.0, "total": 0.0, "hidden": []}

    def count(output):
        hidden = output[1]["hidden"]
        e, inh = hidden_counts(hidden, n_exc)
        seen["exc"] += e * len(hidden)
        seen["inh"] += inh * len(hidden)
        seen["total"] += float(hidden.sum())
        seen["hidden"].append(hidden)

    accuracy, _ = evaluate(net, x, y, batch_size=batch, forward=lambda xb: net(xb, dt_s),
                           predict=lambda output: predict(output[0]), on_batch=count)
    n = len(x)
    hidden = torch.cat(seen["hidden"]).cpu()
    rate_hz = seen["total"] / (n * hidden.shape[1] * hidden.shape[2] * dt_s)
    return accuracy, seen["exc"] / n, seen["inh"] / n, rate_hz, hidden


def initial_weight_std(net) -> dict:
    """σ_init measured from the drawn weights: the std of each trainable pathway's initial |w|.

    The weights are ``sign · |N(0, σ)|``, whose magnitudes have std ``σ·sqrt(1 − 2/π)`` ≈ 0.60 σ,
    not σ, so the noise of ``weight_noise`` is scaled by this measured value, not by the nominal
    scale. The magnitudes, not the signed weights, are measured: the signed readout weights of
    a 50:50 network spread wider (std σ) than those of 100:0 (0.60 σ) only because of their
    signs, and every ratio should see the same noise.
    """
    return {name: float(w.detach().double().abs().std())
            for name, w in net.weights.items() if w.requires_grad}


def add_pathway_noise_(net, sigma: dict, generator: torch.Generator):
    """Add ``N(0, sigma[name]²)`` to each pathway's weights, then project back to Dale's signs."""
    with torch.no_grad():
        for name, scale in sigma.items():
            w = net.weights[name]
            noise = torch.randn(w.shape, generator=generator, dtype=torch.float64) * scale
            w.add_(noise.to(dtype=w.dtype, device=w.device))
        net.project_()


def train_ratio_run(config: RatioConfig, data, log=None, on_epoch=None) -> dict:
    """Train one network; return its record and the Van Rossum matrices at init and after training.

    ``data`` is ``(x_train, y_train, x_test, y_test)`` (intensities in [0, 1]). The test set is
    encoded once (seeded), the training set afresh each epoch. Returns ``(record, vr)`` where
    ``vr = {"initial": D0, "trained": D1}`` are ``[n_hidden, n_hidden]`` mean distances over the
    first ``vr_samples`` test samples (empty dict when ``vr_samples`` is 0). ``on_epoch(epoch,
    accuracy, hidden)``, when given, is called after each epoch's evaluation with the test-set
    hidden spikes ``[samples, steps, n_hidden]`` (e.g. to measure distances at several epochs).
    """
    config.check()
    x_tr, y_tr, x_te, y_te = data
    dt_s = config.dt_ms * 1e-3
    gen = torch.Generator().manual_seed(10_000 + config.seed)
    noise_gen = torch.Generator().manual_seed(20_000 + config.seed)
    device = torch.device(config.device)
    net = build_classifier(config.classifier_config(), x_tr.shape[1], int(y_tr.max()) + 1).to(device)
    y_te = y_te.to(device)

    def encode(x):
        return poisson_encode(x, dt_s=dt_s, steps=config.steps, max_rate_hz=config.max_rate_hz, rng=gen)

    enc_test = encode(x_te).to(device)
    acc0, e0, i0, rate0, hidden0 = _evaluate(net, enc_test, y_te, dt_s, config.n_exc)
    vr = {}
    if config.vr_samples:
        vr["initial"] = van_rossum_discrete(hidden0[: config.vr_samples].transpose(1, 2))
    opt = torch.optim.SGD([w for w in net.weights.values() if w.requires_grad], lr=config.lr)
    curve, losses, e_curve, i_curve, rate_curve = [], [], [e0], [i0], [rate0]
    last = {}

    def batches(epoch):
        # the training draws share one generator with the permutation, in this order
        perm = torch.randperm(len(x_tr), generator=gen)
        for i in range(0, len(x_tr), config.batch_size):
            idx = perm[i : i + config.batch_size]
            yield encode(x_tr[idx]).to(device), y_tr[idx].to(device)

    def end_epoch(stats):
        acc, e_sp, i_sp, rate, last["hidden"] = _evaluate(net, enc_test, y_te, dt_s, config.n_exc)
        total = stats.loss_sum
        if not math.isfinite(total):
            raise SettingsError(
                f"training diverged (loss {total}) at epoch {stats.epoch + 1} for E:I {config.ei_ratio}, "
                f"sigma_in {config.sigma_in}. Fix: lower --lr"
            )
        curve.append(acc)
        losses.append(total / len(x_tr))
        e_curve.append(e_sp)
        i_curve.append(i_sp)
        rate_curve.append(rate)
        if on_epoch is not None:
            on_epoch(stats.epoch + 1, acc, last["hidden"])
        if log:
            log(
                f"    epoch {stats.epoch + 1}/{config.epochs}: loss {losses[-1]:.3f}, "
                f"test accuracy {acc:.3f}, hidden rate {rate:.1f} Hz"
            )

    after_step = [net.project_]
    sigma_init = initial_weight_std(net)
    if config.sigma_noise_ref > 0:
        sigma_init = {name: config.sigma_noise_ref for name in sigma_init}
    sigma_noise = {name: config.noise_rel * s for name, s in sigma_init.items()}
    if config.noise_rel > 0:
        after_step.append(lambda: add_pathway_noise_(net, sigma_noise, noise_gen))
    started = time.perf_counter()
    train_loop(net, opt, batches, lambda output, y: readout_loss(output[0], y), epochs=config.epochs,
               forward=lambda x: net(x, dt_s), after_step=after_step, on_epoch_end=end_epoch)
    if config.vr_samples:
        vr["trained"] = van_rossum_discrete(last["hidden"][: config.vr_samples].transpose(1, 2))
    record = {
        "config": asdict(config),
        "n_exc": config.n_exc,
        "sigma_init": sigma_init,
        "sigma_noise": sigma_noise,
        "initial_rate_hz": rate0,
        "initial_test_accuracy": acc0,
        "final_test_accuracy": curve[-1],
        "peak_test_accuracy": max(curve),
        "accuracy_curve": curve,
        "loss_curve": losses,
        "exc_spikes_per_sample": e_curve,
        "inh_spikes_per_sample": i_curve,
        "hidden_rate_hz": rate_curve,
        "train_time_s": time.perf_counter() - started,
    }
    return record, vr


def van_rossum_discrete(spikes, tau_steps: float = 1.0, include_tail: bool = False) -> np.ndarray:
    """Van Rossum distances between neurons in discrete time, averaged over samples.

    Parameters
    ----------
    spikes : array or tensor, shape (n_samples, n_neurons, n_steps)
        Spike counts per step (0/1).
    tau_steps : float
        Kernel decay τ in steps; the kernel is ``exp(−t/τ)`` for ``t ≥ 0`` steps.
    include_tail : bool
        Add the decay after the last step in closed form; then ``D·sqrt(τ (1 − e^{−2/τ}))``
        equals elephant's ``van_rossum_distance`` of the same trains with time constant τ steps
        (tested in ``tests/test_ei_ratio.py``).

    Returns
    -------
    np.ndarray, shape (n_neurons, n_neurons)
        ``D[n, m]`` = mean over samples of ``sqrt(Σ_t (f_n(t) − f_m(t))² / τ)`` with ``f`` the
        filtered trains (the paper's definition, REFERENCES.md §3).
    """
    s = torch.as_tensor(np.asarray(spikes) if not isinstance(spikes, torch.Tensor) else spikes).double()
    if s.dim() != 3:
        raise SettingsError(
            f"spikes must have shape (samples, neurons, steps), got {tuple(s.shape)}. "
            "Fix: add a sample axis, e.g. spikes[None]"
        )
    if not tau_steps > 0:
        raise SettingsError(f"tau_steps must be > 0, got {tau_steps}. Fix: e.g. tau_steps=1")
    r = math.exp(-1.0 / tau_steps)
    traces = torch.empty_like(s)
    f = torch.zeros_like(s[..., 0])
    for t in range(s.shape[-1]):
        f = r * f + s[..., t]
        traces[..., t] = f
    gram = traces @ traces.transpose(1, 2)
    if include_tail:
        last = traces[..., -1]
        gram = gram + (r * r / (1.0 - r * r)) * last[:, :, None] * last[:, None, :]
    diag = torch.diagonal(gram, dim1=1, dim2=2)
    squared = (diag[:, :, None] + diag[:, None, :] - 2.0 * gram).clamp_min(0.0) / tau_steps
    return torch.sqrt(squared).mean(0).numpy()
