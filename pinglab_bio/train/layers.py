"""The normalisation-free E–I layer (DeepEISNN, REFERENCES.md §4): pure functions and thin modules.

An E–I layer replaces "linear → batch norm → LIF". With a non-negative input ``x`` (pixels or
the spikes of the layer below) it computes, per sample:

* excitatory drive ``I_EE = W_EE x`` and inhibitory-cell drive ``I_IE = W_IE x`` (the
  inhibitory cells do not spike: their activity is this current);
* subtractive balance ``I_bal = I_EE − W_EI I_IE``;
* divisive gain ``I_shunt = W_EI (g_I ⊙ I_IE)``;
* the output current ``g_E ⊙ I_bal / I_shunt + b_E``, which drives LIF neurons.

Dale's law: ``W_EE, W_IE, W_EI, g_I, g_E ≥ 0`` (:func:`project_dale_` clamps them after each
optimiser step). ``n_inh = n_exc / 4`` unless given.

**E–I Init** (:func:`ei_init`) is data-dependent: on the first batch it draws ``W_EE`` and
``W_IE`` from an exponential distribution of scale ``sqrt(Var_x / (d (E[x]² + Var_x)))``
(``d`` the fan-in), sets ``g_I = sqrt(E[x]² + Var_x) / (sqrt(d) E[x])``, ``W_EI = 1/n_inh``,
``g_E = 1`` and ``b_E = 0``. Then the mean subtractive input ``W_EI I_IE`` equals the mean
excitatory input ``I_EE`` in expectation, and ``I_shunt ≈ sqrt(Var_x)``.

**E–I Prop**: zeros of ``I_shunt`` are replaced, in the forward pass only, by the smallest
non-zero value of the same sample (:func:`stabilize_shunt`, identity backward); the gradient
of ``W_EI`` is divided by the fan-in (:func:`scale_grad`); the spike reset is detached
(:func:`lif_step`).

The LIF neuron is discrete-time with ``tau`` in steps (2), threshold 1, soft reset and a
sigmoid surrogate; static images are presented for ``T = 4`` steps. Shapes: linear layers take
``[batch, d]``; convolutional layers ``[batch, channels, height, width]``; sequences carry a
leading time axis ``[T, batch, ...]``.

Pure functions (``(input, state, params) -> (output, state)``) are kept apart from the
``nn.Module`` wrappers :class:`EILinear`, :class:`EIConv2d`, :class:`LIF` and
:class:`SpikingMLP`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SettingsError
from .surrogates import scale_grad, spike

__all__ = [
    "EIParameters",
    "LIFParameters",
    "ei_init",
    "ei_current",
    "stabilize_shunt",
    "scale_grad",
    "sigmoid_spike",
    "lif_step",
    "lif_sequence",
    "EILayerBase",
    "EILinear",
    "EIConv2d",
    "LIF",
    "SpikingMLP",
    "project_dale_",
    "NORMALISATIONS",
]

NORMALISATIONS = ("ei", "batchnorm", "none")


# ----------------------------------------------------------------------------- pure functions


@dataclass
class EIParameters:
    """The parameters of one E–I layer (all ≥ 0 except ``b_exc``).

    ``w_ee``: ``[n_exc, d]`` (linear) or ``[n_exc, c_in, k, k]`` (conv); ``w_ie`` likewise with
    ``n_inh`` rows; ``w_ei``: ``[n_exc, n_inh]``; ``g_inh``: ``[n_inh]``; ``g_exc`` and ``b_exc``:
    ``[n_exc]``.
    """

    w_ee: torch.Tensor
    w_ie: torch.Tensor
    w_ei: torch.Tensor
    g_inh: torch.Tensor
    g_exc: torch.Tensor
    b_exc: torch.Tensor


@dataclass(frozen=True)
class LIFParameters:
    """Discrete-time LIF: ``tau`` in steps, threshold ``v_th``, sigmoid surrogate slope ``alpha``
    (per unit of membrane potential)."""

    tau: float = 2.0
    v_th: float = 1.0
    alpha: float = 4.0


def _input_moments(x: torch.Tensor) -> tuple[float, float]:
    if not torch.isfinite(x).all():
        raise SettingsError(
            "E–I Init got a first batch with NaN or infinite values. "
            "Fix: clean the input data before training"
        )
    if (x < 0).any():
        raise SettingsError(
            f"an E–I layer needs non-negative input, got a minimum of {float(x.min()):.4g}. "
            "Fix: scale the data to [0, 1] or feed spikes"
        )
    mean = float(x.double().mean())
    var = float(x.double().var(unbiased=False))
    if mean <= 0.0:
        raise SettingsError(
            "E–I Init got a first batch that is all zeros (mean 0). "
            "Fix: initialise on a batch with some non-zero input"
        )
    return mean, var


def ei_init(
    x: torch.Tensor,
    ee_shape: tuple,
    ie_shape: tuple,
    n_inh: int,
    *,
    fan_in: int,
    generator: torch.Generator | None = None,
) -> EIParameters:
    """E–I Init from the first batch ``x`` (any shape, non-negative; statistics over all entries).

    ``ee_shape``/``ie_shape`` are the weight shapes (first axis ``n_exc``/``n_inh``); ``fan_in``
    is ``d``. A first batch with zero variance (every entry equal) gets the scale that a
    Bernoulli input of the same mean would get, so that the weights are not all zero.
    """
    mean, var = _input_moments(x)
    second = mean * mean + var
    if var <= 0.0:  # constant input: fall back to the Bernoulli variance of the same mean
        var = mean * max(1.0 - mean, 1e-3)
        second = mean * mean + var
    scale = math.sqrt(var / (fan_in * second))
    dtype, device = x.dtype, x.device

    def exponential(shape):
        u = torch.rand(shape, generator=generator, dtype=torch.float64).clamp_min(1e-12)
        return (-scale * torch.log(u)).to(dtype=dtype, device=device)

    n_exc = ee_shape[0]
    g_value = math.sqrt(second) / (math.sqrt(fan_in) * mean)
    return EIParameters(
        w_ee=exponential(ee_shape),
        w_ie=exponential(ie_shape),
        w_ei=torch.full((n_exc, n_inh), 1.0 / n_inh, dtype=dtype, device=device),
        g_inh=torch.full((n_inh,), g_value, dtype=dtype, device=device),
        g_exc=torch.ones(n_exc, dtype=dtype, device=device),
        b_exc=torch.zeros(n_exc, dtype=dtype, device=device),
    )


class _StabilizeShunt(torch.autograd.Function):
    @staticmethod
    def forward(ctx, shunt):
        flat = shunt.reshape(shunt.shape[0], -1)
        positive = torch.where(flat > 0, flat, torch.full_like(flat, float("inf")))
        smallest = positive.min(dim=1, keepdim=True).values
        # A sample whose shunt is zero everywhere has no scale of its own: divide by 1.
        smallest = torch.where(torch.isinf(smallest), torch.ones_like(smallest), smallest)
        fixed = torch.where(flat > 0, flat, smallest.expand_as(flat))
        return fixed.reshape(shunt.shape)

    @staticmethod
    def backward(ctx, grad):
        return grad


def stabilize_shunt(shunt: torch.Tensor) -> torch.Tensor:
    """Replace zeros (and negatives) of ``shunt`` by the smallest positive value of the same sample
    (axis 0 indexes samples); the backward pass is the identity (straight-through)."""
    return _StabilizeShunt.apply(shunt)


def _mix(w: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Apply ``w [out, in]`` along axis 1 of ``z [batch, in, ...]``."""
    if z.dim() == 2:
        return z @ w.t()
    return torch.einsum("oi,bi...->bo...", w, z)


def _per_feature(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.reshape((1, -1) + (1,) * (like.dim() - 2))


def ei_current(
    x: torch.Tensor, p: EIParameters, *, fan_in: int, project=F.linear, stabilize: bool = True
) -> tuple[torch.Tensor, dict]:
    """The output current of an E–I layer and its parts.

    ``project(x, w)`` is the feed-forward map (``F.linear`` or a ``F.conv2d`` partial). Returns
    ``(current, parts)`` where ``parts`` holds ``excitatory`` (``I_EE``), ``subtractive``
    (``W_EI I_IE``) and ``shunt`` (``I_shunt`` before stabilisation).
    """
    n_exc = p.w_ee.shape[0]
    both = project(x, torch.cat([p.w_ee, p.w_ie], dim=0))  # one pass for I_EE and I_IE
    i_ee, i_ie = both[:, :n_exc], both[:, n_exc:]
    w_ei = scale_grad(p.w_ei, 1.0 / fan_in)
    subtractive = _mix(w_ei, i_ie)
    balanced = i_ee - subtractive
    shunt = _mix(w_ei, _per_feature(p.g_inh, i_ie) * i_ie)
    denominator = stabilize_shunt(shunt) if stabilize else shunt
    current = _per_feature(p.g_exc, balanced) * balanced / denominator + _per_feature(p.b_exc, balanced)
    return current, {"excitatory": i_ee, "subtractive": subtractive, "shunt": shunt}


def sigmoid_spike(u: torch.Tensor, alpha: float = 4.0) -> torch.Tensor:
    """Heaviside step of ``u`` (spike where ``u ≥ 0``) with the derivative of ``sigmoid(alpha u)``.

    The registry's ``sigmoid`` surrogate has height 1 (``4σ(1 − σ)``); the sigmoid's own
    derivative is ``alpha·σ(1 − σ)``, so its gradient is scaled by ``alpha / 4``.
    """
    return scale_grad(spike(u, "sigmoid", slope=float(alpha), inclusive=True), float(alpha) / 4.0)


def lif_step(current: torch.Tensor, v: torch.Tensor, p: LIFParameters = LIFParameters()):
    """One step: ``h = v + (current − v)/tau``; spike where ``h ≥ v_th``; soft reset
    ``v = h − v_th·spike`` with the spike detached in the reset. Returns ``(spikes, v)``."""
    h = v + (current - v) / p.tau
    spikes = sigmoid_spike(h - p.v_th, p.alpha)
    return spikes, h - p.v_th * spikes.detach()


def lif_sequence(currents: torch.Tensor, p: LIFParameters = LIFParameters()) -> torch.Tensor:
    """Run :func:`lif_step` over the leading time axis of ``currents [T, ...]`` from ``v = 0``."""
    v = torch.zeros_like(currents[0])
    out = []
    for t in range(currents.shape[0]):
        s, v = lif_step(currents[t], v, p)
        out.append(s)
    return torch.stack(out)


# ----------------------------------------------------------------------------- modules


class EILayerBase(nn.Module):
    """Holds the E–I parameters, runs E–I Init on the first training batch, records input stats.

    After each forward pass ``last_excitatory_mean`` and ``last_subtractive_mean`` hold the mean
    ``I_EE`` and the mean ``W_EI I_IE`` of that batch (floats), for the E/I input ratio.
    """

    def __init__(self, n_exc: int, n_inh: int | None, ee_shape: tuple, ie_shape: tuple, fan_in: int):
        super().__init__()
        if n_exc < 1:
            raise SettingsError(f"an E–I layer needs n_exc ≥ 1, got {n_exc}. Fix: e.g. n_exc=128")
        n_inh = max(1, n_exc // 4) if n_inh is None else n_inh
        if n_inh < 1:
            raise SettingsError(
                f"an E–I layer needs n_inh ≥ 1, got {n_inh}. Fix: leave it unset "
                "(n_exc/4) or pass a positive number"
            )
        self.n_exc, self.n_inh, self.fan_in = n_exc, n_inh, fan_in
        self._shapes = (tuple(ee_shape), (n_inh,) + tuple(ie_shape[1:]))
        self.w_ee = nn.Parameter(torch.zeros(self._shapes[0]))
        self.w_ie = nn.Parameter(torch.zeros(self._shapes[1]))
        self.w_ei = nn.Parameter(torch.zeros(n_exc, n_inh))
        self.g_inh = nn.Parameter(torch.zeros(n_inh))
        self.g_exc = nn.Parameter(torch.ones(n_exc))
        self.b_exc = nn.Parameter(torch.zeros(n_exc))
        self.register_buffer("initialized", torch.tensor(False))
        self.generator: torch.Generator | None = None
        self.last_excitatory_mean = float("nan")
        self.last_subtractive_mean = float("nan")

    def parameters_ei(self) -> EIParameters:
        return EIParameters(self.w_ee, self.w_ie, self.w_ei, self.g_inh, self.g_exc, self.b_exc)

    @torch.no_grad()
    def ei_init_(self, x: torch.Tensor):
        """E–I Init from the batch ``x``; sets the parameters in place."""
        p = ei_init(
            x, self._shapes[0], self._shapes[1], self.n_inh, fan_in=self.fan_in, generator=self.generator
        )
        for name in ("w_ee", "w_ie", "w_ei", "g_inh", "g_exc", "b_exc"):
            getattr(self, name).copy_(getattr(p, name))
        self.initialized.fill_(True)

    def _project(self, x, w):
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.initialized):
            if not self.training:
                raise SettingsError(
                    "an E–I layer was evaluated before E–I Init. Fix: run one "
                    "training batch (model.train()) or call ei_init_(batch) first"
                )
            self.ei_init_(x)
        current, parts = ei_current(x, self.parameters_ei(), fan_in=self.fan_in, project=self._project)
        self.last_excitatory_mean = float(parts["excitatory"].detach().mean())
        self.last_subtractive_mean = float(parts["subtractive"].detach().mean())
        return current

    @torch.no_grad()
    def project_dale_(self):
        """Clamp the sign-constrained parameters to ≥ 0 (Dale's law)."""
        for name in ("w_ee", "w_ie", "w_ei", "g_inh", "g_exc"):
            getattr(self, name).clamp_(min=0.0)


class EILinear(EILayerBase):
    """E–I layer over a vector input ``[batch, in_features]`` → current ``[batch, n_exc]``."""

    def __init__(self, in_features: int, n_exc: int, n_inh: int | None = None):
        if in_features < 1:
            raise SettingsError(
                f"EILinear needs in_features ≥ 1, got {in_features}. Fix: pass the input size"
            )
        n_i = max(1, n_exc // 4) if n_inh is None else n_inh
        super().__init__(n_exc, n_inh, (n_exc, in_features), (n_i, in_features), in_features)

    def _project(self, x, w):
        return F.linear(x, w)


class EIConv2d(EILayerBase):
    """E–I layer as a convolution: ``[batch, c_in, H, W]`` → ``[batch, n_exc, H', W']``.

    ``W_EE`` and ``W_IE`` are convolution kernels; ``W_EI`` mixes channels at each position;
    the fan-in ``d`` is ``c_in · k²``.
    """

    def __init__(
        self,
        in_channels: int,
        n_exc: int,
        kernel_size: int = 3,
        n_inh: int | None = None,
        stride: int = 1,
        padding: int = 1,
    ):
        if in_channels < 1 or kernel_size < 1:
            raise SettingsError(
                f"EIConv2d needs in_channels ≥ 1 and kernel_size ≥ 1, got {in_channels} and "
                f"{kernel_size}. Fix: e.g. EIConv2d(1, 16, 3)"
            )
        n_i = max(1, n_exc // 4) if n_inh is None else n_inh
        k = kernel_size
        super().__init__(
            n_exc, n_inh, (n_exc, in_channels, k, k), (n_i, in_channels, k, k), in_channels * k * k
        )
        self.stride, self.padding = stride, padding

    def _project(self, x, w):
        return F.conv2d(x, w, stride=self.stride, padding=self.padding)


class LIF(nn.Module):
    """LIF neurons over a sequence ``[T, batch, ...]`` of input currents (see :func:`lif_step`)."""

    def __init__(self, params: LIFParameters = LIFParameters()):
        super().__init__()
        self.params = params

    def forward(self, currents: torch.Tensor) -> torch.Tensor:
        return lif_sequence(currents, self.params)


def project_dale_(module: nn.Module):
    """Clamp every E–I layer inside ``module`` to Dale's law (call after each optimiser step)."""
    for m in module.modules():
        if isinstance(m, EILayerBase):
            m.project_dale_()


class SpikingMLP(nn.Module):
    """``depth`` spiking hidden layers of ``width`` neurons and a linear readout averaged over T.

    ``norm`` picks the hidden block: ``"ei"`` (E–I layer → LIF), ``"batchnorm"`` (linear →
    batch norm → LIF) or ``"none"`` (linear → LIF). A static input ``[batch, n_in]`` is presented
    for ``steps`` steps; the output is the time-mean of the readout, ``[batch, n_classes]``.
    ``last_rates`` holds each hidden layer's spike rate (spikes per neuron per step) of the last
    forward pass.
    """

    def __init__(
        self,
        n_in: int,
        width: int,
        depth: int,
        n_classes: int,
        *,
        norm: str = "ei",
        steps: int = 4,
        lif: LIFParameters = LIFParameters(),
    ):
        super().__init__()
        if norm not in NORMALISATIONS:
            raise SettingsError(
                f"unknown normalisation {norm!r}. Fix: use one of {', '.join(NORMALISATIONS)}"
            )
        for name, value in (
            ("depth", depth),
            ("width", width),
            ("steps", steps),
            ("n_in", n_in),
            ("n_classes", n_classes),
        ):
            if value < 1:
                raise SettingsError(f"SpikingMLP needs {name} ≥ 1, got {value}. Fix: pass a positive number")
        self.norm, self.steps = norm, steps
        self.blocks = nn.ModuleList()
        for k in range(depth):
            d = n_in if k == 0 else width
            if norm == "ei":
                self.blocks.append(EILinear(d, width))
            elif norm == "batchnorm":
                self.blocks.append(nn.Sequential(nn.Linear(d, width), nn.BatchNorm1d(width)))
            else:
                self.blocks.append(nn.Linear(d, width))
        self.lif = LIF(lif)
        self.readout = nn.Linear(width, n_classes)
        self.last_rates: list[float] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, batch = self.steps, x.shape[0]
        h = x.unsqueeze(0).expand(steps, *x.shape).reshape(steps * batch, *x.shape[1:])
        rates = []
        for block in self.blocks:
            current = block(h)
            spikes = self.lif(current.reshape(steps, batch, -1))
            rates.append(float(spikes.detach().mean()))
            h = spikes.reshape(steps * batch, -1)
        self.last_rates = rates
        return self.readout(h).reshape(steps, batch, -1).mean(0)

    def ei_layers(self) -> list[EILayerBase]:
        return [b for b in self.blocks if isinstance(b, EILayerBase)]
