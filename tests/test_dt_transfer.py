"""Δt transfer protocol (tiny run) and its analysis; reservoir mode round trip through Brian2."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from pinglab_bio.cli.app import main  # noqa: E402
from pinglab_bio.data.datasets import Dataset, load_digits_dataset  # noqa: E402
from pinglab_bio.paths import find_analysis, import_script  # noqa: E402
from pinglab_bio.workflow.protocol import load_protocol, parse_protocol_args, run_protocol  # noqa: E402


def _analysis():
    return import_script(find_analysis("dt_transfer"), "dt_transfer_analysis")


def test_dt_transfer_analysis_behavior(tmp_path):
    """Fast stand-in for the long run below: the report from a hand-made results.json."""
    rows = [{"model": m, "dt_train_ms": 1.0, "transport": "rebin", "how": "same", "dt_ms": dt,
             "accuracy": acc, "hidden_rate_hz": rate}
            for m, dt, acc, rate in [("ei", 0.5, 0.9, 40.0), ("ei", 1.0, 0.92, 42.0), ("ei", 2.0, 0.88, 50.0),
                                     ("baseline", 0.5, 0.3, 5.0), ("baseline", 1.0, 0.85, 100.0),
                                     ("baseline", 2.0, 0.4, 0.0)]]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text(json.dumps({"rows": rows}))
    report = _analysis().analyze([tmp_path / "run"], tmp_path / "work")
    by_model = {s["model"]: s for s in report["numbers"]["summary"]}
    assert by_model["ei"]["accuracy_at_train"] == 0.92 and by_model["ei"]["accuracy_min"] == 0.88
    assert by_model["ei"]["rate_ratio"] == pytest.approx(50 / 40)
    assert by_model["baseline"]["rate_ratio"] is None  # silent at 2 ms: no finite ratio
    assert "silent at some dt" in report["sections"][0][1]
    assert (tmp_path / "work" / "dt_transfer_accuracy.png").is_file()
    from pinglab_bio.errors import PinglabError

    with pytest.raises(PinglabError, match=r"has no results.json"):
        _analysis().analyze([tmp_path / "work"], tmp_path / "w2")


@pytest.mark.long
def test_dt_transfer_tiny_run_and_analysis(tmp_path):
    module = load_protocol("dt_transfer")
    params, _ = parse_protocol_args(module, ["--epochs", "1", "--n-test", "12", "--n-train", "64",
                                             "--dt-values", "0.5ms,2ms", "--duration", "10ms"],
                                    "dt_transfer")
    folder, returned = run_protocol(module, params, out=tmp_path / "run", quiet=True)
    rows = json.loads((folder / "results.json").read_text())["rows"]
    # 2 models × 2 transports × {0.5, 1 (dt_train), 2} ms
    assert len(rows) == 12 and {r["how"] for r in rows} == {"same", "upsample", "downsample", "resample"}
    summary = json.loads((folder / "metrics.json").read_text())["summary"]
    assert {(s["model"], s["transport"]) for s in summary} == {(m, t) for m in ("ei", "baseline")
                                                               for t in ("rebin", "resample")}
    same = [r for r in rows if r["how"] == "same"]
    assert len({(r["accuracy"], r["hidden_rate_hz"]) for r in same if r["model"] == "ei"}) == 1  # same inputs
    report = _analysis().analyze([folder], tmp_path / "work")
    assert report["numbers"]["summary"] == summary
    assert [h for h, _ in report["sections"]][:3] == ["Summary", "Accuracy", "Hidden rate"]
    assert "<img" in report["sections"][1][1]


def test_dt_transfer_conductance_models_tiny_run_behavior(tmp_path):
    """coba and ping trained for one epoch on 16 digits, evaluated in Brian2 at dt_train and 2 ms."""
    module = load_protocol("dt_transfer")
    params, _ = parse_protocol_args(module, ["--models", "coba,ping", "--epochs", "1", "--n-train", "16",
                                             "--n-test", "8", "--dt-values", "2ms", "--duration", "100ms",
                                             "--transports", "rebin"], "dt_transfer")
    folder, _ = run_protocol(module, params, out=tmp_path / "run", quiet=True)
    rows = json.loads((folder / "results.json").read_text())["rows"]
    assert len(rows) == 4 and {r["model"] for r in rows} == {"coba", "ping"}  # 2 models × {1, 2} ms
    assert all("gamma_peak_hz" in r for r in rows)
    # the E→I lag is measured where there is an E↔I loop (ping) and nowhere else
    assert all("ei_lag_ms" not in r for r in rows if r["model"] == "coba")
    assert all("ei_lag_ms" in r for r in rows if r["model"] == "ping")
    ping = {r["dt_ms"]: r for r in rows if r["model"] == "ping"}
    # the PING layer oscillates at dt_train: the E-rate spectrum (10 Hz bins, 100 ms trials) peaks in gamma
    assert 30.0 <= ping[1.0]["gamma_peak_hz"] <= 100.0
    same = [r for r in rows if r["how"] == "same"]
    # float64 torch and Brian2 run the same statements on the same inputs: the same spikes
    assert all(r["spikes_identical_float64"] == 1.0 and r["agreement_float64"] == 1.0 for r in same)
    assert all(r["rates_hz"]["exc"] > 0 and r["rates_hz"]["inh"] > 0 for r in rows)
    report = _analysis().analyze([folder], tmp_path / "work")
    assert [h for h, _ in report["sections"]][:4] == ["Summary", "Accuracy", "Hidden rate", "Gamma peak"]
    assert (tmp_path / "work" / "dt_transfer_gamma.png").is_file()
    assert "published PING" in report["sections"][4][1]
    summary = {(s["model"], s["transport"]): s for s in report["numbers"]["summary"]}
    assert set(summary[("ping", "rebin")]["gamma_peak_hz"]) <= {"1", "2"}


def test_dt_transfer_errors(tmp_path, capsys):
    assert main(["run", "dt_transfer", "--models", "lstm", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "--models got 'lstm'" in err and "ei, coba, ping, baseline" in err
    assert len(err.strip().splitlines()) == 1  # one line, no traceback
    assert main(["run", "dt_transfer", "--models", "ping,gru", "--out", str(tmp_path / "x")]) == 2
    assert "--models got 'ping,gru'" in capsys.readouterr().err
    assert main(["run", "dt_transfer", "--dt-values", "0.3ms", "--out", str(tmp_path / "x")]) == 2
    assert "not a multiple of dt" in capsys.readouterr().err
    assert main(["run", "dt_transfer", "--rate-penalty", "-1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "--rate-penalty must be ≥ 0, got -1.0" in err and len(err.strip().splitlines()) == 1
    assert main(["run", "dt_transfer", "--rate-target-exc", "0Hz", "--out", str(tmp_path / "x")]) == 2
    assert "--rate-target-exc must be a positive rate" in capsys.readouterr().err
    assert main(["run", "dt_transfer", "--rate-target-inh", "5ms", "--out", str(tmp_path / "x")]) == 2
    assert "wrong unit" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_reservoir_readout_back_in_brian2():
    from pinglab_bio.train.reservoir import ReservoirConfig, train_reservoir

    d = load_digits_dataset(seed=0)
    data = Dataset("digits", d.x_train[:20], d.y_train[:20], d.x_test[:10], d.y_test[:10], 10)
    config = ReservoirConfig(n_exc=16, n_inh=4, n_train=20, n_test=10, epochs=3, duration_ms=10.0,
                             overrides=(("exc_to_inh.weight", "150 nS"), ("inh_to_exc.weight", "75 nS")))
    metrics = train_reservoir(config, data, log=lambda *a: None)
    assert metrics["rate_exc_hz"] > 0  # the reservoir spikes
    assert metrics["hidden_spikes_identical"]  # the readout does not feed back: same hidden spikes in Brian2
    # float64 in both engines; the readout is linear in the spikes, so only summation order differs
    assert metrics["prediction_agreement"] == 1.0
    assert metrics["test_accuracy"] == metrics["test_accuracy_brian2"]
    assert np.isfinite(metrics["brian2_check_s"])


def test_rate_penalty_values_and_gradient():
    from pinglab_bio.train.studies.dt_transfer import anchor_penalty, rate_penalty

    # one spike every 10 steps of 1 ms in every neuron: 100 Hz
    spikes = torch.zeros(2, 100, 4)
    spikes[:, ::10] = 1.0
    spikes.requires_grad_(True)
    value = rate_penalty({"exc": spikes}, 1e-3, {"exc": 50.0})
    assert float(value.detach()) == pytest.approx(1.0, rel=1e-6)  # ((100 − 50) / 50)²
    value.backward()
    assert bool((spikes.grad > 0).all())  # above the target: fewer spikes lower the penalty
    assert float(rate_penalty({"exc": spikes.detach()}, 1e-3, {"exc": 100.0})) == pytest.approx(0.0, abs=1e-9)
    w0 = torch.ones(3, 2)
    assert float(anchor_penalty({"a": 2 * w0}, {"a": w0})) == pytest.approx(1.0)  # ‖2W₀ − W₀‖² / ‖W₀‖²
    assert float(anchor_penalty({"a": w0}, {"a": w0})) == 0.0


def _tiny_ping_rate(rhythm, data, x_eval):
    from pinglab_bio.train.studies.dt_transfer import train_transfer_network

    net, _ = train_transfer_network("ping", 1e-3, data, epochs=3, duration_s=0.1, log=lambda *a: None,
                                    rhythm=rhythm)
    with torch.no_grad():
        _, spikes = net(torch.as_tensor(x_eval), 1e-3)
    return {pop: float(s.mean()) / 1e-3 for pop, s in spikes.items()}, net


def test_ping_rate_penalty_lowers_trained_rate_behavior():
    """The rhythm-keeping term acts: with targets below the rates, the same training ends lower."""
    from pinglab_bio.train.loop import TrainConfig, encode_split
    from pinglab_bio.train.studies.dt_transfer import build_transfer_network

    d = load_digits_dataset(seed=0)
    data = Dataset("digits", d.x_train[:128], d.y_train[:128], d.x_test[:32], d.y_test[:32], 10)
    x_eval = encode_split(TrainConfig(dt_ms=1.0, duration_ms=100.0), data.x_test, (0, 5))
    off, _ = _tiny_ping_rate({"rate_penalty": 0.0}, data, x_eval)
    low, _ = _tiny_ping_rate({"rate_penalty": 1.0, "rate_target_exc_hz": 10.0, "rate_target_inh_hz": 20.0},
                             data, x_eval)
    assert off["exc"] > 20.0 and off["inh"] > 40.0, off  # without the term both sit well above these targets
    # Without the term the two trainings are the same computation (identical rates); with it, six
    # Adam steps of 4 nS on the input weights pull both rates far down (measured E 25 → 1 Hz, I 82 →
    # 0 Hz), so halving is a margin of more than 10× on E against a term that does nothing.
    assert low["exc"] <= 0.5 * off["exc"] and low["inh"] <= 0.5 * off["inh"], (low, off)
    # --ei-lr-scale 0: the E→I and I→E weights stay the model's while the input weights learn
    _, frozen = _tiny_ping_rate({"ei_lr_scale": 0.0}, data, x_eval)
    untrained, _ = build_transfer_network("ping", 1e-3, data.n_inputs, data.n_classes)
    for name in ("exc_to_inh", "inh_to_exc"):
        assert torch.equal(frozen.weights[name].detach(), untrained.weights[name].detach())
    learnt = frozen.weights["input_to_exc"].detach()
    assert not torch.equal(learnt, untrained.weights["input_to_exc"].detach())


def test_ping_ceiling_variants():
    """The ceiling benchmark's variants: delays kept at one step, refractory period rounded up."""
    from pathlib import Path

    from pinglab_bio.paths import import_script as _import
    from pinglab_bio.train.studies.dt_transfer import build_transfer_network

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "ping_dt_ceiling.py"
    bench = _import(script, "ping_dt_ceiling")
    net, _ = build_transfer_network("ping", 1e-4, 64, 10)
    # Brian2's spike queue rounds delay/dt half up: the 1 ms delays stay one step at 2 ms, none at 2.5 ms
    one, two = {"exc_to_inh": 1, "inh_to_exc": 1}, {"exc": 2, "inh": 2}
    as_is = bench.steps_of(bench.variant_model(net.model, "as is", 2e-3), 2e-3)
    assert as_is == {"delay_steps": one, "refractory_steps": {"exc": 1, "inh": 1}}
    assert bench.steps_of(net.model, 2.5e-3)["delay_steps"] == {"exc_to_inh": 0, "inh_to_exc": 0}
    both = bench.steps_of(bench.variant_model(net.model, "both", 2.5e-3), 2.5e-3)
    assert both == {"delay_steps": one, "refractory_steps": two}
    down = bench.steps_of(bench.variant_model(net.model, "delay down + refractory up", 2e-3), 2e-3)
    assert down == {"delay_steps": {"exc_to_inh": 0, "inh_to_exc": 0}, "refractory_steps": two}
    # at 1.25 ms the delay already rounds to one step: left at 1 ms; 3 ms → 2 steps, rounded up to 3
    fine = bench.variant_model(net.model, "both", 1.25e-3)
    assert float(fine.pathways["exc_to_inh"].delay) == pytest.approx(1e-3)
    assert bench.steps_of(fine, 1.25e-3)["refractory_steps"] == {"exc": 3, "inh": 3}


def test_rhythm_settings_errors():
    from pinglab_bio.errors import SettingsError
    from pinglab_bio.train.studies.dt_transfer import train_transfer_network

    d = load_digits_dataset(seed=0)
    data = Dataset("digits", d.x_train[:8], d.y_train[:8], d.x_test[:4], d.y_test[:4], 10)
    kwargs = {"epochs": 1, "duration_s": 0.01}
    with pytest.raises(SettingsError, match=r"unknown rhythm setting\(s\) rate_penalti\. Fix: use keys of"):
        train_transfer_network("ping", 1e-3, data, rhythm={"rate_penalti": 1.0}, **kwargs)
    with pytest.raises(SettingsError, match=r"rate_target_exc_hz must be a positive rate \(Hz\), got -5"):
        train_transfer_network("ping", 1e-3, data, rhythm={"rate_target_exc_hz": -5}, **kwargs)
