"""The E–I layer (DeepEISNN): E–I Init balance, Dale's law, straight-through division, LIF reset."""

import pytest

torch = pytest.importorskip("torch")

from pinglab_bio.errors import SettingsError  # noqa: E402
from pinglab_bio.train.layers import (  # noqa: E402
    EIConv2d,
    EILinear,
    LIFParameters,
    SpikingMLP,
    ei_current,
    ei_init,
    lif_step,
    project_dale_,
    sigmoid_spike,
    stabilize_shunt,
)


def _spike_batch(shape, p=0.2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=gen) < p).float()


def test_ei_init_balance_linear():
    """Mean subtractive input W_EI·I_IE ≈ mean excitatory input I_EE on the first batch."""
    layer = EILinear(200, 128)
    layer.generator = torch.Generator().manual_seed(1)
    layer.train()
    layer(_spike_batch((256, 200)))
    ratio = layer.last_excitatory_mean / layer.last_subtractive_mean
    # The two means differ only by the sampling error of the exponential weights' mean:
    # 128·200 E draws (rel. SE 0.6 %) and 32·200 I draws (1.25 %); 5 % is about 3.5 SE.
    assert abs(ratio - 1.0) < 0.05
    # W_EI = 1/n_inh and g_E = 1 at init
    assert torch.allclose(layer.w_ei, torch.full_like(layer.w_ei, 1 / 32))
    assert torch.all(layer.g_exc == 1) and torch.all(layer.b_exc == 0)


def test_ei_init_balance_conv():
    layer = EIConv2d(4, 64, 3)
    layer.generator = torch.Generator().manual_seed(2)
    layer.train()
    layer(_spike_batch((32, 4, 8, 8), p=0.3, seed=3))
    ratio = layer.last_excitatory_mean / layer.last_subtractive_mean
    # 64·36 E and 16·36 I weight draws: rel. SE 2.1 % and 4.2 %, combined 4.7 %; 15 % is about 3 SE.
    assert abs(ratio - 1.0) < 0.15


def test_ei_init_scales_follow_the_formula():
    x = _spike_batch((512, 100), p=0.25, seed=4)
    p = ei_init(x, (80, 100), (20, 100), 20, fan_in=100, generator=torch.Generator().manual_seed(0))
    mean, var = float(x.mean()), float(x.var(unbiased=False))
    scale = (var / (100 * (mean**2 + var))) ** 0.5
    # Exponential weights: mean = scale; 8000 draws give a relative SE of 1.1 %, so 5 % is > 4 SE.
    assert float(p.w_ee.mean()) == pytest.approx(scale, rel=0.05)
    assert float(p.g_inh[0]) == pytest.approx((mean**2 + var) ** 0.5 / (10 * mean), rel=1e-6)
    assert torch.all(p.w_ee >= 0) and torch.all(p.w_ie >= 0)


def test_signs_kept_after_training_steps():
    torch.manual_seed(0)
    model = SpikingMLP(30, 16, 2, 3, norm="ei")
    x = torch.rand(64, 30)
    y = torch.randint(0, 3, (64,))
    model.train()
    model(x)  # E–I Init
    opt = torch.optim.SGD(model.parameters(), lr=5.0)
    went_negative = False
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        went_negative |= any(
            bool((getattr(layer, n) < 0).any())
            for layer in model.ei_layers()
            for n in ("w_ee", "w_ie", "w_ei", "g_inh", "g_exc")
        )
        project_dale_(model)
        for layer in model.ei_layers():
            for name in ("w_ee", "w_ie", "w_ei", "g_inh", "g_exc"):
                assert bool((getattr(layer, name) >= 0).all()), name
    assert went_negative, "test setup: the steps never pushed a weight below zero"


def test_stabilize_shunt_forward_and_straight_through():
    shunt = torch.tensor([[0.0, 2.0, 3.0], [0.5, 0.0, 4.0], [0.0, 0.0, 0.0]], requires_grad=True)
    fixed = stabilize_shunt(shunt)
    expected = torch.tensor([[2.0, 2.0, 3.0], [0.5, 0.5, 4.0], [1.0, 1.0, 1.0]])
    assert torch.equal(fixed, expected)
    c = torch.tensor([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0], [7.0, 8.0, 9.0]])
    (fixed * c).sum().backward()
    assert torch.equal(shunt.grad, c)


def test_division_gradient_reaches_w_ei_through_a_zero_shunt():
    """With W_EI's row 0 at zero the shunt of E neuron 0 is zero; the gradient still flows (identity
    through the replacement) and is divided by the fan-in."""
    d = 12
    x = _spike_batch((6, d), p=0.5, seed=5).double()
    x[:, 0] = 1.0  # every sample has input
    p = ei_init(x, (5, d), (2, d), 2, fan_in=d, generator=torch.Generator().manual_seed(0))
    w_ei = p.w_ei.clone()
    w_ei[0] = 0.0
    p.w_ei = w_ei.requires_grad_(True)
    current, parts = ei_current(x, p, fan_in=d)
    assert torch.isfinite(current).all()
    current[:, 0].sum().backward()
    i_ie = x @ p.w_ie.t()
    balanced = (parts["excitatory"] - parts["subtractive"]).detach()
    fixed = stabilize_shunt(parts["shunt"].detach())
    g_e = p.g_exc[0]
    expected = (
        -(g_e * i_ie / fixed[:, :1]) - (g_e * balanced[:, :1] * p.g_inh * i_ie) / fixed[:, :1] ** 2
    ).sum(0) / d
    assert torch.allclose(p.w_ei.grad[0], expected, rtol=1e-10, atol=0)
    assert bool((p.w_ei.grad[0] != 0).all())


def test_lif_soft_reset_is_detached():
    current = torch.tensor([3.0], requires_grad=True)
    spikes, v = lif_step(current, torch.zeros(1), LIFParameters(tau=2.0, v_th=1.0))
    assert float(spikes.detach()) == 1.0 and float(v.detach()) == pytest.approx(0.5)  # h = 1.5, soft reset
    v.backward()
    assert float(current.grad) == pytest.approx(0.5)  # only dh/dcurrent = 1/tau: the reset carries none


def test_sigmoid_spike_heaviside_and_gradient_peak():
    u = torch.tensor([-0.5, 0.0, 0.5], requires_grad=True)
    s = sigmoid_spike(u, alpha=4.0)
    assert s.tolist() == [0.0, 1.0, 1.0]
    s.sum().backward()
    assert float(u.grad[1]) == pytest.approx(1.0)  # alpha/4 at u = 0
    assert float(u.grad[0]) == pytest.approx(float(u.grad[2])) and float(u.grad[0]) < 1.0
    # the sigmoid's own derivative alpha·σ(1 − σ) at any slope, e.g. alpha = 10 at u = 0.1
    v = torch.tensor([0.1], requires_grad=True)
    sigmoid_spike(v, alpha=10.0).sum().backward()
    sig = torch.sigmoid(torch.tensor(1.0))
    assert float(v.grad[0]) == pytest.approx(float(10.0 * sig * (1 - sig)), rel=1e-6)


def test_deep_ei_stack_keeps_activity_where_plain_stack_goes_silent():
    """Depth 8 at initialisation: E–I Init rescales every layer's current, plain layers shrink it."""
    from pinglab_bio.train.studies.common import digits_tensors

    x = digits_tensors()[0][:256]
    torch.manual_seed(0)
    ei = SpikingMLP(64, 128, 8, 10, norm="ei").train()
    plain = SpikingMLP(64, 128, 8, 10, norm="none").train()
    with torch.no_grad():
        ei(x)
        plain(x)
    assert ei.last_rates[-1] > 0.02
    assert plain.last_rates[-1] < 0.005


def test_eilayer_errors():
    layer = EILinear(4, 8)
    with pytest.raises(SettingsError, match="non-negative input"):
        layer(torch.tensor([[-1.0, 0.0, 1.0, 2.0]]))
    with pytest.raises(SettingsError, match="all zeros"):
        layer(torch.zeros(3, 4))
    layer.eval()
    with pytest.raises(SettingsError, match="before E–I Init"):
        layer(torch.ones(3, 4))
    with pytest.raises(SettingsError, match="unknown normalisation 'layernorm'"):
        SpikingMLP(4, 8, 2, 3, norm="layernorm")
    with pytest.raises(SettingsError, match="depth ≥ 1, got 0"):
        SpikingMLP(4, 8, 0, 3)
