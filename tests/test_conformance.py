"""The torch step derived from Brian2's equations against Brian2 itself (runtime, numpy target)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import brian2  # noqa: E402

from pinglab_bio import build_network, load_model  # noqa: E402
from pinglab_bio.model.network import NetworkModel, PathwayModel, PopulationModel  # noqa: E402
from pinglab_bio.train.bridge import export_network, simulate_brian2  # noqa: E402
from pinglab_bio.train.derive import (  # noqa: E402
    DerivationError,
    derive_network,
    derive_pathway,
    derive_population,
    init_network_state,
    run_network,
)
from pinglab_bio.train.networks import classifier_model, network_model_from_spec  # noqa: E402


def _hidden_layer_case():
    model = classifier_model("ei_hidden_cuba", 20, 5)
    rng = np.random.default_rng(0)
    inputs = (rng.random((3, 150, 20)) < 0.05).astype(np.uint8)
    inputs[0, 10, 3] = 2  # a summed bin: two spikes of one channel in one step
    weights = {"input_to_hidden": np.abs(rng.normal(0, 0.6, (20, 100))),
               "hidden_to_out": rng.normal(0, 0.3, (100, 5))}
    return model, inputs, weights


def test_conformance_hidden_ei_layer_float64_identical_spikes():
    model, inputs, weights = _hidden_layer_case()
    dt = 1e-4
    ref = simulate_brian2(model, weights, inputs, dt, record={"hidden": ["v"], "out": ["v"]})
    net = derive_network(model)
    w = {k: torch.tensor(v, dtype=torch.float64) for k, v in weights.items()}
    spikes, traces, _ = run_network(net, torch.tensor(inputs, dtype=torch.float64), w, dt,
                                    record={"hidden": ["v"], "out": ["v"]})
    ours = spikes["hidden"].numpy().astype(np.uint8)
    assert ref.spikes["hidden"].sum() > 1000  # the layer is active, so the comparison means something
    np.testing.assert_array_equal(ours, ref.spikes["hidden"])
    # 1e-12: the two engines evaluate the same statements in float64; only summation order differs
    np.testing.assert_allclose(traces["hidden"]["v"].numpy(), ref.states["hidden"]["v"], atol=1e-12)
    np.testing.assert_allclose(traces["out"]["v"].numpy(), ref.states["out"]["v"], atol=1e-12)


def test_conformance_hidden_ei_layer_float32_agreement():
    model, inputs, weights = _hidden_layer_case()
    ref = simulate_brian2(model, weights, inputs, 1e-4, record={"out": ["v"]})
    net = derive_network(model)
    w = {k: torch.tensor(v, dtype=torch.float32) for k, v in weights.items()}
    spikes, traces, _ = run_network(net, torch.tensor(inputs, dtype=torch.float32), w, 1e-4,
                                    record={"out": ["v"]})
    mismatch = int((spikes["hidden"].numpy().astype(np.uint8) != ref.spikes["hidden"]).sum())
    # float32 rounding may move a spike that sits within ~1e-7 of threshold; none do in this trial
    assert mismatch == 0
    # 1e-4: float32 has 7 digits and the readout integrates ~1500 steps of O(1) inputs
    np.testing.assert_allclose(traces["out"]["v"].numpy(), ref.states["out"]["v"], atol=1e-4)


def _small_ping(seed=3):
    spec = load_model("ping_coba", {"n_exc": 40, "n_inh": 10, "drive.exc.sigma": "0 uS",
                                    "exc_to_inh.weight": "60 nS", "inh_to_exc.weight": "30 nS"})
    dt = 0.1 * brian2.ms
    brian2.seed(seed)
    built = build_network(spec, dt=dt, seed=seed)
    before = export_network(built, dt=dt, duration=0 * brian2.ms)
    built.network.run(200 * brian2.ms, namespace={})
    after = export_network(built, dt=dt, seed=seed)
    return spec, before, after


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_conformance_small_ping_network_identical_spikes(dtype):
    spec, before, after = _small_ping()
    dtype = getattr(torch, dtype)
    net = derive_network(network_model_from_spec(spec))
    init = {pop: {var: before.parameters[pop][var] for var in net.populations[pop].state_variables}
            for pop in ("exc", "inh")}
    init["exc"]["g_drive"] = before.parameters["exc"]["g_drive_tonic"]  # OU part is 0 (sigma 0)
    state = init_network_state(net, 1, values=init, dtype=dtype)
    w = {k: torch.tensor(v, dtype=dtype) for k, v in before.weights.items()}
    steps = after.meta["steps"]
    spikes, _, _ = run_network(net, torch.zeros(1, steps, 0, dtype=dtype), w, 1e-4, state=state)
    for pop in ("exc", "inh"):
        assert after.spikes[pop].sum() > 50  # both populations fire: E→I→E loop, delays, refractoriness
        np.testing.assert_array_equal(spikes[pop].numpy().astype(np.uint8), after.spikes[pop])


def test_derived_statements_come_from_brian2():
    net = derive_network(network_model_from_spec(load_model("ping_coba", {"n_exc": 4, "n_inh": 1})))
    exc = net.populations["exc"]
    assert exc.statements[0] == "_g_e = g_e*exp(-dt/tau_ampa)"
    assert "v" in exc.conditional and "g_e" not in exc.conditional  # (unless refractory) on v only
    assert exc.refractory_s == pytest.approx(3e-3)
    assert net.delay_steps(1e-4) == {"exc_to_inh": 10, "inh_to_exc": 10}
    cuba = derive_network(network_model_from_spec(load_model("ping_cuba", {"n_exc": 4, "n_inh": 1})))
    assert cuba.pathways["inh_to_exc"].variable == "I_i"


def _pop(equations, threshold="v > 1", reset="v = 0", method="exact"):
    return PopulationModel("p", 2, equations, threshold, reset, 0 * brian2.ms, method,
                           {"tau": 10 * brian2.ms})


def test_derive_errors():
    with pytest.raises(DerivationError, match=r"unsupported statement .*xi"):
        derive_population(_pop("dv/dt = -v/tau + xi*tau**-0.5 : 1", method="euler"))
    with pytest.raises(DerivationError, match=r"unsupported threshold 'v > 1 and v < 2'"):
        derive_population(_pop("dv/dt = -v/tau : 1", threshold="v > 1 and v < 2"))
    with pytest.raises(DerivationError, match=r"unsupported reset statement 'u = 0'"):
        derive_population(_pop("dv/dt = -v/tau : 1", reset="u = 0"))
    with pytest.raises(DerivationError, match=r"unsupported on_pre statement 'v_post \+= 2\*w'"):
        derive_pathway(PathwayModel("x", "p", "p", "v_post += 2*w", 0 * brian2.ms, None))
    pop = _pop("dv/dt = -v/tau : 1")
    with pytest.raises(DerivationError, match=r"adds to 'g', which population 'p' does not have"):
        derive_network(NetworkModel({"p": pop}, {"x": PathwayModel("x", "input", "p", "g_post += w",
                                                                   0 * brian2.ms, None)}, 1))


@pytest.mark.parametrize("kind", ["coba", "ping"])
def test_conformance_conductance_hidden_layers_float64_identical_spikes(kind):
    """The dt_transfer conductance layers (no recurrence; E↔I loop with 1 ms delays) in both engines."""
    from pinglab_bio.train.studies.dt_transfer import build_transfer_network

    dt = 1e-4
    net, _ = build_transfer_network(kind, dt, 20, 5, seed=1)
    net = net.double()
    rng = np.random.default_rng(0)
    inputs = (rng.random((3, 400, 20)) < 0.03).astype(np.uint8)
    inputs[0, 10, 3] = 2  # a summed bin: two spikes of one channel in one step
    ref = simulate_brian2(net.model, net.numpy_weights(), inputs, dt, record={"out": ["v"]},
                          init=net.init_values)
    with torch.no_grad():
        out_v, spikes = net(torch.tensor(inputs, dtype=torch.float64), dt)
    for pop in ("exc", "inh"):
        assert ref.spikes[pop].sum() > 100  # both populations fire, so the comparison means something
        np.testing.assert_array_equal(spikes[pop].numpy().astype(np.uint8), ref.spikes[pop])
    # 1e-12: the same statements in float64 in both engines; only summation order differs
    np.testing.assert_allclose(out_v.numpy(), ref.states["out"]["v"], atol=1e-12)


def test_conformance_ping_layer_delay_of_half_a_step():
    """At dt 2 ms the 1 ms E↔I delays are half a step: Brian2's spike queue rounds that up to one."""
    from pinglab_bio.train.studies.dt_transfer import build_transfer_network

    dt = 2e-3
    net, _ = build_transfer_network("ping", dt, 20, 5, seed=1)
    net = net.double()
    assert set(net.derived.delay_steps(dt).values()) >= {1}
    inputs = (np.random.default_rng(0).random((3, 50, 20)) < 0.3).astype(np.uint8)
    ref = simulate_brian2(net.model, net.numpy_weights(), inputs, dt, init=net.init_values)
    with torch.no_grad():
        _, spikes = net(torch.tensor(inputs, dtype=torch.float64), dt)
    for pop in ("exc", "inh"):
        assert ref.spikes[pop].sum() > 20  # both populations fire, so the comparison means something
        np.testing.assert_array_equal(spikes[pop].numpy().astype(np.uint8), ref.spikes[pop])
