"""The fused derived step: the same numbers as the statement-by-statement step, and progress lines."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import brian2  # noqa: E402

from pinglab_bio import load_model  # noqa: E402
from pinglab_bio.data.datasets import Dataset, load_digits_dataset  # noqa: E402
from pinglab_bio.model.network import NetworkModel, PopulationModel  # noqa: E402
from pinglab_bio.train.derive import (  # noqa: E402
    derive_network,
    fused_program,
    init_network_state,
    linear_programs,
    run_network,
)
from pinglab_bio.train.loop import TrainConfig, build_classifier, format_eta, train_classifier  # noqa: E402
from pinglab_bio.train.networks import (  # noqa: E402
    EIClassifier,
    baseline_model,
    network_model_from_spec,
    readout_loss,
)


def _inputs(batch, steps, n, p=0.2, seed=0):
    return (torch.rand(batch, steps, n, generator=torch.Generator().manual_seed(seed)) < p).double()


def _both(net, x, dt):
    """Output, spikes and gradients of the fused and the statement-by-statement step."""
    y = torch.arange(x.shape[0]) % 10
    got = {}
    for fused in (True, False):
        net.fused = fused
        net.zero_grad()
        out, spikes = net(x, dt)
        readout_loss(out, y).backward()
        got[fused] = (out.detach(), {k: v.detach() for k, v in spikes.items()},
                      {k: w.grad.clone() for k, w in net.weights.items() if w.grad is not None})
    return got[True], got[False]


CLASSIFIERS = {
    "ei_hidden_cuba": dict(n_hidden=30),
    "ei_hidden_cuba_damped": dict(n_hidden=30, damping=0.5),
    "ping_coba": dict(model="ping_coba", hidden="ping", sigma_in_ping=3e-8, slope=1000.0, damping=0.5,
                      overrides={"n_exc": 16, "n_inh": 4, "drive.exc": "off"}),
}


@pytest.mark.parametrize("case", list(CLASSIFIERS))
@pytest.mark.parametrize("dt", [1e-3, 2.5e-4])
def test_fused_step_equals_statements_float64_behavior(case, dt):
    net = build_classifier(TrainConfig(**CLASSIFIERS[case]), 64, 10).double()
    x = _inputs(6, int(round(0.03 / dt)), 64)
    (out_f, sp_f, g_f), (out_s, sp_s, g_s) = _both(net, x, dt)
    assert sum(float(s.sum()) for s in sp_s.values()) > 50  # the hidden layer fires: spikes are compared
    # the fused step runs the same statements in the same order: every number is the same
    assert torch.equal(out_f, out_s)
    assert all(torch.equal(sp_f[k], sp_s[k]) for k in sp_s)
    for name, g in g_s.items():
        # 1e-12 relative: only the order in which the weight gradient is summed over the steps differs
        torch.testing.assert_close(g_f[name], g, rtol=1e-12, atol=1e-12 * float(g.abs().max()))


def test_fused_step_equals_statements_baseline_float64():
    model = baseline_model(64, 30, 10, beta=0.9)
    signs = {"hidden_to_out": np.concatenate([np.ones(24), -np.ones(6)])}
    sigma = {"input_to_hidden": 0.3, "hidden_to_out": 0.5}
    net = EIClassifier(model, signs, sigma, seed=1, dtype=torch.float64)
    x = _inputs(5, 40, 64)
    (out_f, sp_f, g_f), (out_s, sp_s, g_s) = _both(net, x, 1e-3)
    assert float(sp_s["hidden"].sum()) > 50  # spikes and resets happen
    assert torch.equal(out_f, out_s) and torch.equal(sp_f["hidden"], sp_s["hidden"])
    for name, g in g_s.items():
        # 1e-12 relative: only the order in which the weight gradient is summed over the steps differs
        torch.testing.assert_close(g_f[name], g, rtol=1e-12, atol=1e-12 * float(g.abs().max()))


def test_fused_ping_network_states_and_queue_equal_statements():
    spec = load_model("ping_coba", {"n_exc": 16, "n_inh": 4, "drive.exc.sigma": "0 uS"})
    net = derive_network(network_model_from_spec(spec))
    rng = np.random.default_rng(2)
    w = {"exc_to_inh": torch.tensor(np.abs(rng.normal(0, 3e-8, (16, 4)))),
         "inh_to_exc": torch.tensor(np.abs(rng.normal(0, 3e-8, (4, 16))))}
    init = {"exc": {"v": -55e-3, "g_drive": 5e-8}, "inh": {"v": -60e-3}}
    record = {"exc": ["v", "g_i"], "inh": ["v"]}
    runs = {}
    for fused in (True, False):
        state = init_network_state(net, 2, values=init, dtype=torch.float64)
        runs[fused] = run_network(net, torch.zeros(2, 600, 0, dtype=torch.float64), w, 1e-4, state=state,
                                  record=record, fused=fused)
    (sp_f, tr_f, st_f), (sp_s, tr_s, st_s) = runs[True], runs[False]
    assert float(sp_s["exc"].sum()) > 20 and float(sp_s["inh"].sum()) > 5  # the E→I→E loop is active
    assert all(torch.equal(sp_f[p], sp_s[p]) for p in sp_s)
    assert all(torch.equal(tr_f[p][v], tr_s[p][v]) for p in record for v in record[p])
    for pop in ("exc", "inh"):
        assert all(torch.equal(st_f[pop][v], st_s[pop][v]) for v in st_s[pop])
        # spikes still in flight on the 1 ms delays: the same ten steps
        assert all(torch.equal(a, b) for a, b in zip(st_f["_queue"][pop], st_s["_queue"][pop], strict=True))
    # a run continued from that state (spikes in flight) takes the statement path and still agrees
    again_f = run_network(net, torch.zeros(2, 50, 0, dtype=torch.float64), w, 1e-4, state=st_f, fused=True)
    again_s = run_network(net, torch.zeros(2, 50, 0, dtype=torch.float64), w, 1e-4, state=st_s, fused=False)
    assert torch.equal(again_f[0]["exc"], again_s[0]["exc"])


def test_linear_programs_cover_feedforward_lif_not_recurrent_ping():
    ei = build_classifier(TrainConfig(n_hidden=20), 64, 10)
    programs = linear_programs(ei.derived, 1e-3, detach_reset=True, record={"out": ["v"]},
                               dtype=torch.float32)
    assert set(programs) == {"hidden", "out"}
    # the backward pass holds the exact solution's decay factors, differentiated from the statements
    factors = [float(v) for k, v in programs["hidden"].backward.__globals__.items() if k.startswith("j_")]
    # 1e-7 relative: the factors are float32 tensors here (the classifier's dtype)
    assert any(abs(f - np.exp(-1e-3 / 5e-3)) < 1e-7 for f in factors)
    assert programs["hidden"].variables == ("I", "v")  # sorted: the same sum order in every process
    ping = build_classifier(TrainConfig(**CLASSIFIERS["ping_coba"]), 64, 10)
    assert linear_programs(ping.derived, 1e-4, detach_reset=True) is None  # E↔I loop, refractoriness
    assert linear_programs(ei.derived, 1e-3, detach_reset=False) is None  # a reset that is differentiated
    _, source = fused_program(ping.derived, 1e-4, detach_reset=True)
    assert "eval" not in source and "g_e" in source  # statements written out, not evaluated one by one


def test_fused_gradient_reaches_initial_state_with_damping():
    pop = PopulationModel("p", 3, "dv/dt = -v/tau : 1", "", "", 0 * brian2.ms, "exact",
                          {"tau": 10 * brian2.ms})
    net = derive_network(NetworkModel({"p": pop}, {}, 0))
    grads = {}
    for fused in (True, False):
        state = init_network_state(net, 1)
        v0 = torch.ones(1, 3, dtype=torch.float64, requires_grad=True)
        state["p"]["v"] = v0
        _, traces, _ = run_network(net, torch.zeros(1, 30, 0, dtype=torch.float64), {}, 1e-3, state=state,
                                   record={"p": ["v"]}, damping=0.5, fused=fused)
        traces["p"]["v"][:, -1].sum().backward()
        grads[fused] = v0.grad
    # 1e-15 relative: the same 30 products of the decay factor and 0.5, in the same order
    torch.testing.assert_close(grads[True], grads[False], rtol=1e-15, atol=0)
    expected = torch.full((1, 3), (0.5 * np.exp(-0.1)) ** 30, dtype=torch.float64)
    torch.testing.assert_close(grads[True], expected)


def test_fused_float32_training_keeps_brian2_agreement(tmp_path):
    d = load_digits_dataset(seed=0)
    data = Dataset("digits", d.x_train[:64], d.y_train[:64], d.x_test[:60], d.y_test[:60], 10)
    config = TrainConfig(epochs=2, batch_size=16, n_hidden=30, duration_ms=40.0, seed=1, lr=1e-2,
                         schedule="constant")
    m = train_classifier(config, tmp_path / "a", log=lambda *a: None, dataset=data)["metrics"]
    # float32 torch against float64 Brian2: a flip needs a membrane within ~1e-6 of threshold
    assert m["prediction_agreement"] >= 0.98


def test_progress_line_before_first_epoch_ends(tmp_path):
    d = load_digits_dataset(seed=0)
    data = Dataset("digits", d.x_train[:48], d.y_train[:48], d.x_test[:20], d.y_test[:20], 10)
    lines = []
    config = TrainConfig(epochs=2, batch_size=16, n_hidden=20, duration_ms=30.0, seed=3)
    train_classifier(config, tmp_path / "a", log=lines.append, dataset=data, brian2_check=False)
    first_epoch = next(i for i, line in enumerate(lines) if line.startswith("epoch 1/"))
    before = lines[:first_epoch]
    assert any(line.startswith("training: 48 samples in 3 batches") for line in before)
    assert any(line.startswith("progress: epoch 1, a batch takes") and "ETA" in line for line in before)
    assert all("ETA" in line for line in lines if line.startswith("epoch "))


def test_format_eta_behavior():
    assert [format_eta(s) for s in (0.04, 4.26, 42.4, 185, 3725)] == ["0.0 s", "4.3 s", "42 s", "3 min 05 s",
                                                                        "1 h 02 min"]


@pytest.mark.parametrize("kind", ["coba", "ping"])
def test_fused_step_equals_statements_transfer_layers_float64(kind):
    """The dt_transfer conductance layers; ping with membrane and E→I/I→E spike damping."""
    from pinglab_bio.train.studies.dt_transfer import build_transfer_network

    dt = 5e-4
    net, _ = build_transfer_network(kind, dt, 64, 10, seed=2)
    net = net.double()
    assert (kind == "ping") == bool(net.damping) and (kind != "ping" or "exc_to_inh" in net.damping)
    x = _inputs(4, 60, 64, p=0.05)
    (out_f, sp_f, g_f), (out_s, sp_s, g_s) = _both(net, x, dt)
    assert float(sp_s["exc"].sum()) > 50 and float(sp_s["inh"].sum()) > 20  # both populations fire
    assert torch.equal(out_f, out_s) and all(torch.equal(sp_f[k], sp_s[k]) for k in sp_s)
    for name, g in g_s.items():
        # 1e-12 relative: only the order in which the weight gradient is summed over the steps differs
        torch.testing.assert_close(g_f[name], g, rtol=1e-12, atol=1e-12 * float(g.abs().max()))


def _early_input_gradient(damping_mode, dt=5e-4, steps=160):
    """‖∂(E spikes of the last 5 ms)/∂(inputs of the first 20 ms)‖ of the dt_transfer PING layer."""
    from pinglab_bio.train.studies.dt_transfer import build_transfer_network

    net, _ = build_transfer_network("ping", dt, 64, 10, seed=0)
    net = net.double()
    if damping_mode == "none":
        net.damping = None
    elif damping_mode == "membrane":
        net.damping = {k: v for k, v in net.damping.items() if k in ("exc", "inh")}
    x = _inputs(4, steps, 64, p=0.05).requires_grad_(True)
    _, spikes = net(x, dt)
    spikes["exc"][:, -int(round(5e-3 / dt)):].sum().backward()
    return float(x.grad[:, :int(round(20e-3 / dt))].norm()), spikes["exc"].detach()


def test_ping_damping_bounds_gradient_over_cycles_behavior():
    """80 ms (about four gamma cycles): the credit reaching the first cycle, undamped and damped."""
    none, sp_none = _early_input_gradient("none")
    membrane, _ = _early_input_gradient("membrane")
    full, sp_full = _early_input_gradient("full")
    assert torch.equal(sp_none, sp_full)  # damping changes only the backward pass
    assert float(sp_none.sum()) > 500 and none > 0  # the loop runs and credit reaches the first cycle
    # loop damping 0.5 per E→I and I→E crossing: each of the ~3 cycles in between passes on ≤ 1/4,
    # so the first cycle gets well under half of its undamped credit (measured here: ~1/10)
    assert full < 0.35 * none
    # the membrane part alone reaches the first cycle mostly through the conductances: it bounds less
    assert full < membrane <= none
