"""Reservoir mode: input block, export by name, seeds, readouts back in Brian2, protocol, bad input.

Tiny networks (16 E / 4 I of ping_coba with stronger E↔I weights), a handful of 20 ms trials.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from pinglab_bio.cli.app import main  # noqa: E402
from pinglab_bio.data.datasets import Dataset, load_digits_dataset  # noqa: E402
from pinglab_bio.errors import ModelError, SettingsError  # noqa: E402
from pinglab_bio.model.spec import load_model  # noqa: E402
from pinglab_bio.paths import find_model  # noqa: E402
from pinglab_bio.train.reservoir import ReservoirConfig, input_block, load_reservoir_setup, run_reservoir  # noqa: E402
from pinglab_bio.train.reservoir_state import load_state, read_state, simulate, write_state  # noqa: E402

TINY = (("n_exc", 16), ("n_inh", 4), ("exc_to_inh.weight", "60 nS"), ("inh_to_exc.weight", "50 nS"))


def _config(**kw):
    base = dict(
        overrides=TINY,
        input_weight="8 nS",
        dt_ms=0.1,
        duration_ms=20.0,
        window_ms=5.0,
        spontaneous_trials=0,
        rhythm_trials=5,
        chunk=8,
        epochs=2,
    )
    base.update(kw)
    return ReservoirConfig(**base)


def _data(n_train=24, n_test=12):
    d = load_digits_dataset(seed=0)
    return Dataset(
        "digits", d.x_train[:n_train], d.y_train[:n_train], d.x_test[:n_test], d.y_test[:n_test], 10
    )


def _inputs(config, n, seed=3):
    from pinglab_bio.data.encoders import poisson_encode

    return poisson_encode(_data().x_test[:n], dt_s=config.dt_s, steps=config.steps, max_rate_hz=200, rng=seed)


def _model_with_input(tmp_path, table):
    text = find_model("ping_coba").read_text() + "\n[input]\n" + table
    path = tmp_path / "with_input.toml"
    path.write_text(text)
    return path


def test_input_block_behavior(tmp_path):
    path = _model_with_input(
        tmp_path, 'targets = ["exc", "inh"]\nweight = "4 nS"\nin_degree = 10\ndelay = "2 ms"\n'
    )
    spec = load_model(path)
    assert spec.input.targets == ("exc", "inh") and spec.input.in_degree == 10 and spec.input.p is None
    assert float(spec.input.weight) == pytest.approx(4e-9) and float(spec.input.delay) == pytest.approx(2e-3)
    # flags override the table; a probability replaces the in-degree
    inp = input_block(spec, ReservoirConfig(input_weight="6 nS", input_p=0.3, input_targets=("inh",)))
    assert inp.targets == ("inh",) and inp.p == 0.3 and inp.in_degree is None
    assert float(inp.weight) == pytest.approx(6e-9) and float(inp.delay) == pytest.approx(2e-3)
    # a model without [input] gets the defaults: E, 60 nS, p 0.2, 1 ms
    default = input_block(load_model("ping_coba"), ReservoirConfig())
    assert default.targets == ("exc",) and default.p == 0.2 and float(default.weight) == pytest.approx(60e-9)
    _, _, network, _, _ = load_reservoir_setup(_config(input_in_degree=5), 64)
    w = network.weights["input_to_exc"]
    assert w.shape == (64, 16) and np.all((w != 0).sum(axis=0) == 5)  # in-degree 5 per E neuron


def test_input_block_errors(tmp_path):
    with pytest.raises(
        ModelError,
        match=r"\[input.targets\] targets population 'hidden'.*Fix: use one or more "
        r"of exc, inh",
    ):
        load_model(_model_with_input(tmp_path, 'targets = ["hidden"]\n'))
    with pytest.raises(SettingsError, match=r"targets population 'exx'.*Fix: use one or more of exc, inh"):
        input_block(load_model("ping_coba"), ReservoirConfig(input_targets=("exx",)))
    with pytest.raises(SettingsError, match=r"does not have the unit of g_e"):
        input_block(load_model("ping_coba"), ReservoirConfig(input_weight="2 mV"))


def test_export_by_name_behavior(tmp_path):
    config = _config()
    _, _, network, _, _ = load_reservoir_setup(config, 64)
    x = _inputs(config, 5)
    st = simulate(
        network, x, config.dt_s, window_steps=config.window_steps, variables=["v", "g_i", "g_drive"], chunk=3
    )  # 5 trials in chunks of 3: the second chunk is short
    n_windows = 4
    counts = st.counts("exc")
    assert counts.shape == (5, n_windows, 16) and st.unit("counts") == "1"
    assert counts.sum() == len(st.spikes["exc"][0]) > 0  # every exported spike falls in one window
    trace = st.trace("inh", 0.02)
    assert trace.shape == (5, n_windows, 4) and np.all(trace >= 0)
    assert st.samples["v"]["exc"].shape == (5, n_windows, 16) and st.unit("v") == "V"
    assert st.unit("g_i") == "S" and "inh" not in st.samples["g_drive"]  # I cells have no g_drive
    v = st.samples["v"]["exc"]
    assert np.all((v >= -0.081) & (v <= -0.049))  # SI volts between E_gaba (-80 mV) and threshold (-50 mV)
    expected = np.zeros_like(counts)
    np.add.at(
        expected, (st.spikes["exc"][0], st.spikes["exc"][1] // config.window_steps, st.spikes["exc"][2]), 1
    )
    np.testing.assert_array_equal(counts, expected)
    write_state(tmp_path, {"test": st}, tau_trace_s=0.02)
    back = load_state(tmp_path, "test")  # what a refit reads: the same state, bit for bit
    assert back.sizes == st.sizes and back.n_trials == 5 and back.unit("v") == "V"
    np.testing.assert_array_equal(back.counts("exc"), counts)
    np.testing.assert_array_equal(back.samples["g_i"]["inh"], st.samples["g_i"]["inh"])
    block = read_state(tmp_path, "test")
    assert len(block.segments) == 5
    seg = block.segments[2]
    exc = next(s for s in seg.spiketrains if s.annotations["population"] == "exc")
    assert len(exc) == int((st.spikes["exc"][0] == 2).sum())
    sig = next(s for s in seg.analogsignals if s.name == "exc.v")
    assert str(sig.units.dimensionality) == "V" and sig.shape == (n_windows, 16)
    np.testing.assert_array_equal(np.asarray(sig.magnitude), v[2])
    torch_states, units = st.to_torch(["counts", "v"])
    assert torch_states["v"]["exc"].dtype == torch.float64 and units == {"counts": "1", "v": "V"}


def test_same_seed_same_state_behavior():
    config = _config()
    _, _, network, _, _ = load_reservoir_setup(config, 64)
    x = _inputs(config, 4)
    a = simulate(network, x, config.dt_s, window_steps=config.window_steps, variables=["v"], chunk=2)
    b = simulate(network, x, config.dt_s, window_steps=config.window_steps, variables=["v"], chunk=2)
    for pop in a.spikes:
        for u, w in zip(a.spikes[pop], b.spikes[pop], strict=True):
            np.testing.assert_array_equal(u, w)
    np.testing.assert_array_equal(a.samples["v"]["exc"], b.samples["v"]["exc"])
    _, _, other, _, _ = load_reservoir_setup(_config(seed=1), 64)
    c = simulate(other, x, config.dt_s, window_steps=config.window_steps, chunk=2)
    assert not np.array_equal(a.counts("exc"), c.counts("exc"))  # another seed: other synapses and noise
    # the chunks of a split get their own noise: trials 0 and 2 see the same input, not the same noise
    x_same = np.repeat(x[:1], 4, axis=0)
    d = simulate(network, x_same, config.dt_s, window_steps=config.window_steps, chunk=2)
    assert not np.array_equal(d.counts("exc")[0], d.counts("exc")[2])


@pytest.mark.parametrize("dale", [True, False])
def test_readouts_round_trip_behavior(dale):
    """Every readout kind goes back into Brian2 as synapses and predicts exactly as fitted."""
    config = _config(
        states=("counts", "trace", "v"), readouts=("ridge", "logistic", "leaky", "spiking"), dale=dale
    )
    result = run_reservoir(config, _data(), log=lambda *a: None)
    m = result["metrics"]
    assert m["hidden_spikes_identical"]  # the readouts do not feed back: same reservoir spikes
    for row in result["results"]["readouts"]:
        # float64 in both engines; only the order of summation differs, so no prediction changes
        assert row["agreement"] == 1.0, row
        assert row["accuracy_fitted"] == row["accuracy_brian2"]
    if dale:
        for name in ("ridge", "logistic"):
            w = result["readouts"][name].weights
            assert all(
                np.all(w[(s, "exc")] >= 0) and np.all(w[(s, "inh")] <= 0) for s in ("counts", "trace", "v")
            )
        for name in ("leaky", "spiking"):
            w = result["readouts"][name].weights
            assert np.all(w["exc"] >= 0) and np.all(w["inh"] <= 0)
    else:
        assert np.any(
            result["readouts"]["ridge"].weights[("counts", "inh")] > 0
        )  # free: I rows of both signs


def test_reservoir_protocol_and_analysis_behavior(tmp_path):
    out = tmp_path / "run"
    args = [
        "run",
        "reservoir",
        "--n-train",
        "24",
        "--n-test",
        "12",
        "--duration",
        "20ms",
        "--window",
        "5ms",
        "--readout",
        "ridge",
        "--state",
        "counts,g_e",
        "--input-weight",
        "8nS",
        "--eval-dt",
        "0.2ms",
        "--spontaneous-trials",
        "2",
        "--chunk",
        "12",
        "--out",
        str(out),
    ]
    for key, value in TINY:
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert [r["readout"] for r in results["readouts"]] == ["ridge"]
    assert {r["dt_ms"] for r in results["evaluation"]} == {0.1, 0.2}
    assert (out / "state.h5").is_file() and (out / "readouts.safetensors").is_file()
    assert "Readouts" in (out / "report.html").read_text()  # the run folder's own report
    assert len(read_state(out, "train").segments) == 24
    from pinglab_bio.paths import find_analysis, import_script

    report = import_script(find_analysis("reservoir"), "reservoir_analysis").analyze([out], tmp_path / "work")
    assert [title for title, _ in report["sections"]][:4] == [
        "Readouts",
        "Confusion matrix",
        "Accuracy against dt and device",
        "Rhythm during the stimulus",
    ]
    for name in ("readouts", "confusion", "dt", "psd"):
        assert (tmp_path / "work" / f"reservoir_{name}.png").is_file()


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--readout", "ridge,lasso"],
            r"--readout ridge,lasso: lasso is not a readout\. Fix: use names from "
            r"ridge, logistic, leaky, spiking",
        ),
        (
            ["--state", "counts,spikez"],
            r"spikez is not an exported state of model 'ping_coba'\. Fix: use names from "
            r"counts, trace, .*g_e, g_i.*v",
        ),
        (["--state", "w_adapt"], r"w_adapt is not an exported state"),
        (["--input-targets", "hidden"], r"targets population 'hidden', which the model does not have"),
        (["--leaky-pool", "median"], r"--leaky-pool must be one of last, mean, max, got .median."),
    ],
)
def test_reservoir_protocol_errors(tmp_path, capsys, flags, message):
    out = tmp_path / "x"
    assert main(["run", "reservoir", *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    import re

    assert re.search(message, err), err
    assert not out.exists()


def _synthetic_state(n_trials, seed, n_classes=3, per_class=100, n_inh=100, steps=1000, dt_s=1e-4):
    """Hidden spikes at the whole network's scale and rates (E 30 Hz, I 150 Hz, 100 ms at 0.1 ms):
    the class is which group of ``per_class`` E cells fires at 60 Hz instead."""
    from pinglab_bio.train.reservoir_state import ReservoirState

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_trials)
    n_exc = n_classes * per_class
    rate = np.full((n_trials, n_exc), 30.0)
    for b, c in enumerate(labels):
        rate[b, c * per_class : (c + 1) * per_class] = 60.0
    spikes = {}
    for pop, r in (("exc", rate), ("inh", np.full((n_trials, n_inh), 150.0))):
        hit = rng.random((n_trials, steps, r.shape[1]), dtype=np.float32) < r[:, None, :] * dt_s
        spikes[pop] = np.nonzero(hit)
    sizes = {"exc": n_exc, "inh": n_inh}
    return ReservoirState(sizes=sizes, dt_s=dt_s, steps=steps, window_steps=100, spikes=spikes, labels=labels)


def test_leaky_readout_learns_behavior():
    """With its default settings (bar the batch size) the leaky readout learns a state of the
    whole network's size and rates in a few epochs."""
    from pinglab_bio.train.readouts import torch_predictions, train_spiking_readout

    train, test = _synthetic_state(96, 0), _synthetic_state(48, 1)
    # batch 16: 6 steps per epoch on 96 trials (the default 64 is for the 1,438-trial split)
    readout = train_spiking_readout(
        "leaky", train, train.labels, {"exc": 1.0, "inh": -1.0}, n_classes=3, epochs=4, batch_size=16
    )
    acc = float(np.mean(torch_predictions(readout, test) == test.labels))
    # the true group brings ~300 spikes more per trial (sd ~25): separable; chance is 1/3, and
    # seeds 0-2 reached 100 % in 6 epochs, so 0.8 tells learning from not learning
    assert acc >= 0.8, (acc, readout.history)
    assert readout.history[-1] < 0.8 * readout.history[0]  # the loss falls, not just wobbles
    assert np.all(readout.weights["exc"] >= 0) and np.all(readout.weights["inh"] <= 0)


def test_leaky_loss_reaches_outputs_below_rest_behavior():
    """An output whose membrane never rises above rest still gets a gradient from the default
    leaky loss (the membrane at the end of the trial) and from its mean; pooled by the maximum
    over time it gets none (its maximum is the resting value before the first input spike),
    which is how a leaky readout trained that way stalled."""
    from pinglab_bio.train.readouts import _readout_net, leaky_loss

    n_exc, n_inh, steps = 12, 6, 200
    sign = np.r_[np.ones(n_exc), -np.ones(n_inh)]
    net = _readout_net("leaky", n_exc + n_inh, 3, 0.1, 0.005, sign=sign, dtype=torch.float64)
    with torch.no_grad():
        net.weights["hidden_to_out"][:n_exc] = 0.0  # only inhibition reaches the outputs
    x = torch.zeros(4, steps, n_exc + n_inh, dtype=torch.float64)
    rng = np.random.default_rng(0)
    x[:, 20:] = torch.as_tensor(rng.random((4, steps - 20, n_exc + n_inh)) < 0.05, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0])
    out_v, _ = net(x, 1e-4)
    v = out_v.detach()
    assert float(v.max()) <= 0.0 and float(v.min()) < 0.0  # every output at or below rest
    loss = leaky_loss(out_v, y)
    (grad,) = torch.autograd.grad(loss, net.weights["hidden_to_out"], retain_graph=True)
    # every I cell fired after step 20, so each of its weights moves the pooled membrane
    assert torch.all(grad[n_exc:].abs() > 0), grad
    (grad_mean,) = torch.autograd.grad(
        leaky_loss(out_v, y, "mean"), net.weights["hidden_to_out"], retain_graph=True
    )
    assert torch.all(grad_mean[n_exc:].abs() > 0)
    (grad_max,) = torch.autograd.grad(leaky_loss(out_v, y, "max"), net.weights["hidden_to_out"])
    assert torch.count_nonzero(grad_max) == 0


def test_dale_solvers_match_reference_behavior():
    """The joint Dale ridge solver minimises scikit-learn's Ridge(positive=True) objective, and a
    warm-started Dale logistic fit reaches the optimum a cold one does."""
    from sklearn.linear_model import Ridge

    from pinglab_bio.train.readouts import _logistic_dale, _multinomial, _Products, _ridge_dale

    rng = np.random.default_rng(1)
    z = rng.normal(size=(120, 40))
    y = rng.integers(0, 3, 120)
    z[np.arange(120), y] += 2.0  # features 0-2 carry the class
    target = np.eye(3)[y]
    prod = _Products(z)

    def ridge_objective(w, b, alpha):
        r = z @ w + b - target
        return 0.5 * np.sum(r * r) + 0.5 * alpha * np.sum(w * w)

    for alpha in (1.0, 30.0):
        w, b, _ = _ridge_dale(prod, target, alpha)
        ref = Ridge(alpha=alpha, positive=True).fit(z, target)
        assert np.all(w >= 0)
        # a strictly convex objective: both minimisers stop within L-BFGS-B's relative
        # tolerance (1e-4) of the same minimum, so 1e-3 leaves room for rounding only
        f, f_ref = ridge_objective(w, b, alpha), ridge_objective(ref.coef_.T, ref.intercept_, alpha)
        assert abs(f - f_ref) <= 1e-3 * f_ref, (alpha, f, f_ref)
        assert np.array_equal(np.argmax(z @ w + b, 1), np.argmax(ref.predict(z), 1))
    cold_w, cold_b, cold_n = _logistic_dale(prod, y, 3, 1.0)
    warm_w, warm_b, warm_n = _logistic_dale(prod, y, 3, 1.0, start=_logistic_dale(prod, y, 3, 0.1)[:2])
    assert np.all(cold_w >= 0) and np.all(warm_w >= 0)
    onehot, l2 = np.eye(3)[y], 1.0 / 120

    def loss(w, b):
        return _multinomial(np.r_[w.ravel(), b], prod, onehot, l2, 40, 3)[0]

    # L-BFGS-B's default tolerance (factr 1e7, ~2e-9 relative): 1e-6 is far above it
    assert abs(loss(warm_w, warm_b) - loss(cold_w, cold_b)) <= 1e-6 * loss(cold_w, cold_b) + 1e-9
    assert warm_n < cold_n  # the point of the warm start


def test_leaky_membrane_same_in_brian2_behavior():
    """The leaky readout's membrane in Brian2 is the torch one, step for step, so every pooling
    (mean, last, max) scores the same in both engines."""
    from pinglab_bio.train.loop import encode_split
    from pinglab_bio.train.readouts import _dense, _readout_net, leaky_scores, readout_network

    config = _config(readouts=("leaky",), leaky_pool="mean", epochs=1)
    data = _data(n_train=12, n_test=6)
    result = run_reservoir(config, data, log=lambda *a: None)
    readout, network, st_test = result["readouts"]["leaky"], result["network"], result["states"]["test"]
    assert readout.pool == "mean"
    net_r = readout_network(
        {"leaky": readout},
        sizes=network.sizes,
        n_classes=10,
        dt_s=config.dt_s,
        window_s=config.window_ms * 1e-3,
    )
    inputs = encode_split(config, data.x_test[:6], (config.seed, 12))
    st = simulate(network, inputs, config.dt_s, window_steps=config.window_steps, readout=net_r, chunk=8)
    order = list(network.sizes)
    w = np.concatenate([readout.weights[p] for p in order])
    net = _readout_net(
        "leaky", w.shape[0], 10, readout.tau_mem_s, readout.tau_syn_s, weights=w, dtype=torch.float64
    )
    with torch.no_grad():
        out_v, _ = net(_dense(st_test, np.arange(6), order, torch.float64), config.dt_s)
    brian2_v = st.readout_traces["leaky"]
    assert brian2_v.shape == tuple(out_v.shape) and np.abs(brian2_v).max() > 0
    # float64 and exact integration in both: only the order of summation differs (~1e-15 relative)
    np.testing.assert_allclose(brian2_v, out_v.numpy(), rtol=1e-9, atol=1e-12 * np.abs(brian2_v).max())
    for pool in ("mean", "last", "max"):
        np.testing.assert_array_equal(
            np.argmax(leaky_scores(brian2_v, pool), 1), np.argmax(leaky_scores(out_v.numpy(), pool), 1)
        )


def test_python_api_reservoir_example_behavior(tmp_path):
    """The reservoir snippet of docs/python-api.md, run on a tiny run folder's state.h5."""
    import re

    from pinglab_bio.paths import repo_root

    config = _config(readouts=("ridge",))
    result = run_reservoir(config, _data(), log=lambda *a: None)
    write_state(tmp_path, result["states"], tau_trace_s=0.02)
    text = (repo_root() / "docs" / "python-api.md").read_text()
    code = re.search(r"```python\n(.*?)```", text.split("<!-- reservoir-example -->", 1)[1], re.S).group(1)
    scope = {"run_folder": tmp_path}
    exec(compile(code, "docs/python-api.md", "exec"), scope)
    assert len(scope["block"].segments) == 3 and scope["populations"] == ["exc", "inh"]
    assert scope["counts"].shape == (24, 4, 16)  # 24 trials, 20 ms / 5 ms windows, 16 E cells
    # the state read back from the file is the simulated one: the same fit gives the same predictions
    from pinglab_bio.train.readouts import fit_linear

    train, test = result["states"]["train"], result["states"]["test"]
    direct = fit_linear("logistic", train, train.labels, ["counts"], {"exc": 1.0, "inh": -1.0}, n_classes=10)
    np.testing.assert_array_equal(scope["readout"].scores(scope["test"]).argmax(axis=1),
                                  direct.scores(test).argmax(axis=1))
    assert scope["accuracy"] == np.mean(direct.scores(test).argmax(axis=1) == test.labels)
