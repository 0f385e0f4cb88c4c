"""Surrogate gradients: forward Heaviside, gradient sign and peak, stored traces, registry."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pinglab_bio.errors import SettingsError  # noqa: E402
from pinglab_bio.train.surrogates import SURROGATES, get_surrogate, spike  # noqa: E402

NAMES = sorted(SURROGATES)
TRACES = json.loads((Path(__file__).parent / "data" / "surrogate_traces.json").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_surrogate_forward_is_heaviside(name):
    x = torch.tensor([-1.0, -1e-9, 0.0, 1e-9, 1.0], dtype=torch.float64)
    assert spike(x, name).tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert spike(x, name, inclusive=True).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("name", NAMES)
def test_surrogate_gradient_sign_and_peak(name):
    x = torch.linspace(-0.05, 0.05, 101, dtype=torch.float64, requires_grad=True)
    spike(x, name, slope=100.0).sum().backward()
    grad = x.grad
    assert torch.all(grad >= 0)  # a higher membrane never lowers the spike
    # peak 1 at threshold
    assert int(grad.argmax()) == 50 and float(grad[50]) == pytest.approx(1.0, abs=1e-12)
    assert torch.allclose(grad, grad.flip(0))  # symmetric about the threshold
    assert float(grad[0]) < 0.2  # has decayed one bump width (5/slope) away


@pytest.mark.parametrize("name", NAMES)
def test_surrogate_trace_matches_stored(name):
    x = torch.tensor(TRACES["x"], dtype=torch.float64, requires_grad=True)
    spike(x, name, slope=TRACES["slope"]).sum().backward()
    # 1e-12: float64 evaluation of the same closed form in numpy and torch; differences are rounding only
    np.testing.assert_allclose(x.grad.numpy(), TRACES["derivative"][name], rtol=1e-12, atol=1e-15)


def test_surrogate_slope_sets_width():
    x = torch.tensor([0.01], dtype=torch.float64, requires_grad=True)
    spike(x, "fast_sigmoid", slope=100.0).backward()
    wide = float(x.grad)
    x.grad = None
    spike(x, "fast_sigmoid", slope=1000.0).backward()
    assert wide == pytest.approx(0.25) and float(x.grad) == pytest.approx(1 / 121)


def test_get_surrogate_errors():
    with pytest.raises(SettingsError,
                       match=r"unknown surrogate 'superspike'.*arctan, fast_sigmoid, sigmoid, triangle"):
        get_surrogate("superspike")
    assert get_surrogate("arctan") is SURROGATES["arctan"]
