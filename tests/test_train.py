"""Training layer: E/I classifier, Dale's law, determinism, resume, CLI run folder, damping."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import brian2  # noqa: E402

from pinglab_bio.cli.app import main  # noqa: E402
from pinglab_bio.data.datasets import Dataset, load_digits_dataset  # noqa: E402
from pinglab_bio.errors import SettingsError  # noqa: E402
from pinglab_bio.model.network import NetworkModel, PopulationModel  # noqa: E402
from pinglab_bio.train.derive import damp_gradient, derive_network, init_network_state, run_network  # noqa: E402
from pinglab_bio.train.loop import TrainConfig, build_classifier, train_classifier  # noqa: E402


def _tiny_data(n_train=48):
    d = load_digits_dataset(seed=0)
    return Dataset("digits", d.x_train[:n_train], d.y_train[:n_train], d.x_test[:40], d.y_test[:40], 10)


def _config(**kw):
    base = dict(epochs=2, batch_size=16, n_hidden=20, duration_ms=30.0, seed=3, lr=1e-2, schedule="constant")
    return TrainConfig(**{**base, **kw})


def test_train_classifier_behavior_dale_and_brian2(tmp_path):
    result = train_classifier(_config(), tmp_path / "a", log=lambda *a: None, dataset=_tiny_data())
    m = result["metrics"]
    net = result["net"]
    w_in, w_out = net.weights["input_to_hidden"], net.weights["hidden_to_out"]
    assert float(w_in.detach().min()) >= 0  # inputs are excitatory
    # 16 E rows ≥ 0, 4 I rows ≤ 0
    assert float(w_out[:16].detach().min()) >= 0 and float(w_out[16:].detach().max()) <= 0
    losses = [h["loss"] for h in result["history"]]
    assert losses[1] < losses[0]  # the gradient step lowers the readout loss
    # float32 torch against float64 Brian2: a flip needs a membrane within 1e-6 of threshold
    assert abs(m["test_accuracy"] - m["test_accuracy_brian2"]) <= 0.025 and m["prediction_agreement"] >= 0.975
    assert ((tmp_path / "a" / "weights.safetensors").is_file()
            and (tmp_path / "a" / "figures" / "curves.png").is_file())
    assert len(json.loads((tmp_path / "a" / "curves.json").read_text())) == 2


def test_train_classifier_same_seed_same_result_and_resume(tmp_path):
    data = _tiny_data(32)
    full = train_classifier(_config(), tmp_path / "full", log=lambda *a: None, dataset=data,
                            brian2_check=False)

    def stop_after_first_epoch(line):
        if line.startswith("epoch 1/"):
            raise KeyboardInterrupt

    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        train_classifier(_config(), tmp_path / "b", checkpoint_dir=ckpt, log=stop_after_first_epoch,
                         dataset=data, brian2_check=False)
    lines = []
    resumed = train_classifier(_config(), tmp_path / "c", checkpoint_dir=ckpt, log=lines.append, dataset=data,
                               brian2_check=False)
    assert lines[0].startswith("resuming from epoch 1")
    for name, w in full["net"].weights.items():
        torch.testing.assert_close(w, resumed["net"].weights[name], rtol=0, atol=0)
    assert resumed["history"] == [dict(h, wall_s=r["wall_s"])
                                  for h, r in zip(full["history"], resumed["history"], strict=True)]


def test_weight_noise_keeps_dale():
    net = build_classifier(_config(), 64, 10)
    before = {k: v.detach().clone() for k, v in net.weights.items()}
    net.add_weight_noise_(0.6, torch.Generator().manual_seed(0))
    moved = sum(float((net.weights[k] - before[k]).detach().abs().sum()) for k in before)
    assert moved > 0
    w = {k: v.detach() for k, v in net.weights.items()}
    assert float(w["input_to_hidden"].min()) >= 0 and float(w["hidden_to_out"][16:].max()) <= 0


def test_train_config_errors():
    with pytest.raises(SettingsError, match=r"--ei-ratio must lie in \(0, 1\], got 0"):
        _config(ei_ratio=0).check()
    with pytest.raises(SettingsError, match=r"unknown optimizer 'rmsprop'"):
        _config(optimizer="rmsprop").check()
    with pytest.raises(SettingsError, match=r"duration 30.0 ms is not a multiple of dt 7"):
        _config(dt_ms=7.0).check()
    with pytest.raises(SettingsError, match=r"unknown surrogate 'step'"):
        _config(surrogate="step").check()


def test_cli_train_ei_readout_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "ei_readout", "--dataset", "digits", "--ei-ratio", "0.8", "--epochs", "1",
                 "--limit", "32", "--duration", "10ms", "--n-hidden", "10", "--out", str(out), "--quiet"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"test_accuracy", "test_accuracy_brian2"} <= set(metrics)
    info = json.loads((out / "run.json").read_text())
    assert info["settings"]["ei_ratio"] == 0.8 and info["protocol"] == "train_ei_readout"
    assert not (tmp_path / ".checkpoints").exists() or not any((tmp_path / ".checkpoints").iterdir())
    assert "test accuracy" in capsys.readouterr().out


def test_cli_train_errors(tmp_path, capsys):
    out = tmp_path / "bad"
    assert main(["train", "ei_readout", "--ei-ratio", "1.5", "--out", str(out)]) == 2
    assert "--ei-ratio must lie in (0, 1], got 1.5" in capsys.readouterr().err
    assert main(["train", "ei_readout", "--surrogate", "nope", "--out", str(out)]) == 2
    assert "unknown surrogate 'nope'" in capsys.readouterr().err
    assert main(["train", "ei_readout", "--dataset", "shd", "--out", str(out)]) == 2
    assert "read from local files" in capsys.readouterr().err
    assert not out.exists()


def test_cli_train_time_errors(tmp_path, capsys):
    out = tmp_path / "bad"
    assert main(["train", "ei_readout", "--dt", "1", "--out", str(out)]) == 2
    assert "--dt '1' is not a time. Fix: give it a time unit, e.g. --dt 1ms" in capsys.readouterr().err
    assert main(["train", "ei_readout", "--duration", "abc", "--out", str(out)]) == 2
    assert "--duration: 'abc' is not a number followed by a unit" in capsys.readouterr().err
    assert not out.exists()


def test_cli_train_help_is_plain_text(capsys):
    assert main(["train", "--help"]) == 0  # help is an answer, not an error
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help to the terminal
    assert "``" not in text and "::" not in text and "--dt TIME" in text
    assert "(default: 1ms; reservoir: 0.25ms)" in text


def _leaky_chain():
    pop = PopulationModel("p", 3, "dv/dt = -v/tau : 1", "", "", 0 * brian2.ms, "exact",
                          {"tau": 10 * brian2.ms})
    return derive_network(NetworkModel({"p": pop}, {}, 0))


def test_damping_bounds_membrane_gradient():
    net = _leaky_chain()
    steps, decay = 30, float(np.exp(-0.1))

    def grad(damping):
        state = init_network_state(net, 1)
        v0 = torch.ones(1, 3, dtype=torch.float64, requires_grad=True)
        state["p"]["v"] = v0
        _, traces, _ = run_network(net, torch.zeros(1, steps, 0, dtype=torch.float64), {}, 1e-3, state=state,
                                   record={"p": ["v"]}, damping=damping)
        traces["p"]["v"][:, -1].sum().backward()
        return v0.grad

    plain, damped = grad(None), grad(0.5)
    torch.testing.assert_close(plain, torch.full((1, 3), decay ** steps, dtype=torch.float64))
    # each of the 30 steps multiplies the backward signal by 0.5: the bound is exact here
    torch.testing.assert_close(damped, plain * 0.5 ** steps)
    x = torch.ones(2, requires_grad=True)
    damp_gradient(x, 0.25).sum().backward()
    assert x.grad.tolist() == [0.25, 0.25]


def test_damping_tames_recurrent_ping_gradient():
    config = _config(model="ping_coba", hidden="ping",
                     overrides={"n_exc": 16, "n_inh": 4, "drive.exc": "off"},
                     duration_ms=30.0, dt_ms=0.5, sigma_in_ping=3e-8)
    x = (torch.rand(4, 60, 64, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    norms = {}
    for damping in (None, 0.5):
        config.damping = damping
        net = build_classifier(config, 64, 10).double()
        out_v, spikes = net(x.double(), 5e-4)
        # the network spikes: the loop carries gradient
        assert sum(float(s.detach().sum()) for s in spikes.values()) > 0
        out_v.max(dim=1).values.sum().backward()
        norms[damping] = float(net.weights["input_to_exc"].grad.norm())
    assert np.isfinite(norms[None]) and norms[0.5] < norms[None]


def test_ping_hidden_layer_trains_and_matches_brian2(tmp_path):
    config = _config(model="ping_coba", hidden="ping", overrides={"n_exc": 16, "n_inh": 4},
                     duration_ms=20.0, dt_ms=0.5, sigma_in_ping=2e-8, slope=1000.0, epochs=1, damping=0.5,
                     dtype="float64")
    result = train_classifier(config, tmp_path / "ping", log=lambda *a: None, dataset=_tiny_data(16))
    m = result["metrics"]
    assert m["hidden_rate_hz"] > 0
    # float64 in both engines: the derived PING step (delays, refractoriness, tonic drive) is Brian2's
    assert (m["prediction_agreement"] == 1.0
            and m["hidden_rate_hz"] == pytest.approx(m["hidden_rate_hz_brian2"]))
    w = result["net"].weights
    assert not w["exc_to_inh"].requires_grad and w["input_to_exc"].requires_grad  # E↔I fixed, inputs learnt


def test_ping_conductance_weights_step_in_siemens():
    """One Adam step moves the PING inputs (siemens) by lr·lr_siemens, the readout by lr."""
    import torch

    from pinglab_bio.train.loop import _make_optimizer
    from pinglab_bio.train.networks import readout_loss

    config = _config(model="ping_coba", hidden="ping", overrides={"n_exc": 16, "n_inh": 4},
                     duration_ms=20.0, dt_ms=0.5, slope=1000.0, damping=0.5, lr=5e-3).check()
    data = _tiny_data(16)
    net = build_classifier(config, data.n_inputs, data.n_classes)
    before = {k: w.detach().clone() for k, w in net.weights.items()}
    opt = _make_optimizer(config, net)
    x = torch.as_tensor(np.random.default_rng(0).random((8, config.steps, data.n_inputs)) < 0.05,
                        dtype=torch.float32)
    readout_loss(net(x, config.dt_s)[0], torch.as_tensor(data.y_train[:8])).backward()
    opt.step()
    step_in = (net.weights["input_to_exc"].detach() - before["input_to_exc"]).abs().max().item()
    step_out = max((net.weights[k].detach() - before[k]).abs().max().item()
                   for k in net.weights if k.endswith("_to_out"))
    # Adam's first step is lr·g/(|g| + eps): at most the learning rate, nearly it where g ≠ 0
    assert 0.5 * config.lr * config.lr_siemens < step_in <= 1.0001 * config.lr * config.lr_siemens
    assert 0.5 * config.lr < step_out <= 1.0001 * config.lr


def test_lr_siemens_must_be_positive():
    with pytest.raises(SettingsError, match=r"lr_siemens must be > 0, got 0.*Fix: e\.g\. 1e-6"):
        _config(lr_siemens=0.0).check()
