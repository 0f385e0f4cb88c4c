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
