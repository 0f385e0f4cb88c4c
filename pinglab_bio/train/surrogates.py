"""Surrogate gradients for the spike threshold.

Each surrogate is a :class:`torch.autograd.Function` whose forward pass is the Heaviside step
of ``x = (membrane - threshold)`` (1 where ``x > 0``, or ``x >= 0`` when ``inclusive``) and
whose backward pass replaces the step's derivative by a smooth bump. Every bump has height 1 at
``x = 0`` and a width of about ``1/slope``. ``slope`` is in inverse units of the membrane
variable: for a dimensionless membrane with threshold 1, ``slope = 100`` gives the SuperSpike
derivative ``1/(100|x| + 1)^2``; for a membrane in volts, ``slope = 1000`` (per volt) is a
bump one millivolt wide.

===============  =============================================
name             backward ``d spike / d x``
===============  =============================================
``fast_sigmoid`` ``1 / (slope*|x| + 1)^2``   (SuperSpike)
``arctan``       ``1 / (1 + (slope*x)^2)``
``sigmoid``      ``4 σ(slope*x) (1 - σ(slope*x))``
``triangle``     ``max(0, 1 - slope*|x|)``
===============  =============================================
"""

from __future__ import annotations

import torch

from ..errors import SettingsError

__all__ = ["FastSigmoid", "ArcTan", "Sigmoid", "Triangle", "SURROGATES", "get_surrogate",
           "spike", "scale_grad"]


class _Surrogate(torch.autograd.Function):
    """Heaviside forward; subclasses define ``derivative(x, slope)``."""

    @staticmethod
    def derivative(x, slope):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def forward(cls, ctx, x, slope=100.0, inclusive=False):
        ctx.save_for_backward(x)
        ctx.slope = float(slope)
        return (x >= 0).to(x.dtype) if inclusive else (x > 0).to(x.dtype)

    @classmethod
    def backward(cls, ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * cls.derivative(x, ctx.slope), None, None


class FastSigmoid(_Surrogate):
    """SuperSpike fast sigmoid: ``1/(slope*|x| + 1)^2``."""

    @staticmethod
    def derivative(x, slope):
        return 1.0 / (slope * x.abs() + 1.0) ** 2


class ArcTan(_Surrogate):
    """Derivative of an arctan step: ``1/(1 + (slope*x)^2)``."""

    @staticmethod
    def derivative(x, slope):
        return 1.0 / (1.0 + (slope * x) ** 2)


class Sigmoid(_Surrogate):
    """Derivative of a logistic step, scaled to height 1: ``4σ(slope*x)(1 - σ(slope*x))``."""

    @staticmethod
    def derivative(x, slope):
        s = torch.sigmoid(slope * x)
        return 4.0 * s * (1.0 - s)


class Triangle(_Surrogate):
    """Piecewise-linear bump: ``max(0, 1 - slope*|x|)``."""

    @staticmethod
    def derivative(x, slope):
        return (1.0 - slope * x.abs()).clamp(min=0.0)


SURROGATES: dict[str, type[_Surrogate]] = {
    "fast_sigmoid": FastSigmoid,
    "arctan": ArcTan,
    "sigmoid": Sigmoid,
    "triangle": Triangle,
}


def get_surrogate(name: str) -> type[_Surrogate]:
    """The surrogate class registered under ``name``.

    Raises
    ------
    SettingsError
        For an unknown name; the message lists the valid names.
    """
    try:
        return SURROGATES[name]
    except (KeyError, TypeError):
        raise SettingsError(f"unknown surrogate {name!r}. Fix: use one of "
                            f"{', '.join(sorted(SURROGATES))}") from None


def spike(x: torch.Tensor, name: str = "fast_sigmoid", slope: float = 100.0,
          inclusive: bool = False) -> torch.Tensor:
    """Heaviside of ``x`` (membrane minus threshold) with the named surrogate gradient."""
    return get_surrogate(name).apply(x, slope, inclusive)


class _ScaleGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, factor):
        ctx.factor = factor
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor, None


def scale_grad(tensor: torch.Tensor, factor: float) -> torch.Tensor:
    """Identity in the forward pass; multiplies the gradient by ``factor`` in the backward pass."""
    return _ScaleGrad.apply(tensor, float(factor))
