"""Protocol dt_stability and its analysis: drift numbers, the before/after variants, and the
stability of the default model between dt 0.025 and 0.25 ms."""

import json
import re

import numpy as np
import pytest

from pinglab_bio.cli.app import main
from pinglab_bio.model.spec import load_model
from pinglab_bio.runs.folder import read_json
from pinglab_bio.runs.result import simulate
from pinglab_bio.workflow.protocol import load_protocol


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("dt") / "study"
    assert main(["run", "dt_stability", "--dt-values", "0.25ms,0.5ms,1ms", "--seeds", "2", "--duration",
                 "0.3s", "--out", str(out), "--quiet"]) == 0
    return out


def test_dt_stability_protocol_behavior(study):
    points = sorted(p.name for p in (study / "points").iterdir())
    assert len(points) == 2 * 3 * 2  # variants × dts × seeds
    info = read_json(study / "points" / "plain_euler-dt=0.5ms-seed1" / "run.json")
    assert info["dt_study"] == {"variant": "plain_euler", "dt_ms": 0.5, "seed": 1,
                                "variant_overrides": {"exc.method": "euler", "inh.method": "euler",
                                                      "exc_to_inh.delay": "0 ms", "inh_to_exc.delay": "0 ms"}}
    # The variant really ran with Euler and zero delays; the model variant as loaded.
    assert info["parameters"]["exc"]["method"] == "euler"
    assert info["parameters"]["exc_to_inh"]["delay"]["si_value"] == 0.0
    model = read_json(study / "points" / "model-dt=0.5ms-seed1" / "run.json")
    assert model["parameters"]["exc"]["method"] == "exponential_euler"
    assert model["parameters"]["exc_to_inh"]["delay"]["si_value"] == pytest.approx(1e-3)


def test_dt_stability_analysis_numbers_behavior(study, capsys):
    assert main(["analyze", str(study), "--format", "json"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    assert numbers["protocol"] == "dt_stability"
    for variant in ("model", "plain_euler"):
        v = numbers["variants"][variant]
        by_dt = {e["dt_ms"]: e for e in v["by_dt"]}
        assert sorted(by_dt) == [0.25, 0.5, 1.0]
        finest = by_dt[0.25]
        assert finest["peak_freq_drift_hz"] == 0.0 and finest["vr_distance_exc"] == 0.0
        # Recompute the drift from the simulator's own metrics of each point.
        peaks = {dt: np.mean([read_json(study / "points" / f"{variant}-dt={dt:g}ms-seed{s}" / "metrics.json")
                              ["gamma_peak_hz"] for s in (0, 1)]) for dt in by_dt}
        for dt, entry in by_dt.items():
            assert entry["peak_hz"] == pytest.approx(peaks[dt], rel=1e-9)
            expected = 100 * (peaks[dt] - peaks[0.25]) / peaks[0.25]
            assert entry["peak_freq_drift_pct"] == pytest.approx(expected, rel=1e-9)
        # A coarser step changes the spike trains: a positive distance to the finest run.
        assert by_dt[1.0]["vr_distance_exc"] > 0
        summary = v["summary"]
        assert summary["peak_freq_drift_pct_max"] == pytest.approx(
            max(abs(e["peak_freq_drift_pct"]) for e in by_dt.values()), rel=1e-9)
        rates = [e["rate_inh_hz"] for e in by_dt.values()]
        assert summary["rate_ratio_max_min_inh"] == pytest.approx(max(rates) / min(rates), rel=1e-9)
        assert "distance_growth_exc" in summary
        assert any("drift" in key for key in summary)


def test_dt_stability_report_behavior(study, tmp_path):
    target = tmp_path / "dt.html"
    assert main(["analyze", str(study), "--report", str(target)]) == 0
    page = target.read_text()
    # one drift figure plus one mean-PSD figure per variant
    assert page.count("data:image/png;base64,") == 3
    for words in ("before (plain_euler, compare) and after (model)", "peak drift", "VR dist. E",
                  "I rate (Hz)"):
        assert words in page, words


def test_allowed_dts_behavior():
    module = load_protocol("dt_stability")
    spec = load_model("ping_coba")
    import brian2

    kept, skipped = module.allowed_dts(spec, [0.5 * brian2.ms, 1 * brian2.ms, 2 * brian2.ms])
    # 1 ms equals the explicit delays (allowed); 2 ms exceeds them and the 1.5 … 3 ms refractory
    assert [float(d) for d in kept] == pytest.approx([0.5e-3, 1e-3])
    assert [float(d) for d, _ in skipped] == pytest.approx([2e-3])
    euler = spec.with_overrides(module.variant_overrides(spec, "plain_euler"))
    assert all(float(p.delay) == 0 for p in euler.pathways.values())
    assert {p.method for p in euler.populations.values()} == {"euler"}


ERRORS = [
    (["--variants", "rk9"], r"--variants must list some of model, plain_euler, compare, got 'rk9'"),
    (["--variants", "compare"], r"variant 'compare' needs --compare KEY=VALUE"),
    (["--compare", "tau_gaba"], r"--compare needs KEY=VALUE items, got 'tau_gaba'"),
    (["--compare", "tau_gaba=3mV"], r"\[parameters\.tau_gaba\] '3mV' has the wrong unit"),
    (["--seeds", "0"], r"--seeds must be ≥ 1, got 0"),
    (["--dt-values", "0.1ms"], r"--dt-values needs at least two steps, got 1"),
    (["--dt-values", "0.1ms,0.3ms"], r"duration 1. s is not a multiple of dt"),
    (["--dt-values", "0.1ms,2mV"], r"--dt-values '2mV' has the wrong unit"),
]


@pytest.mark.parametrize("argv,message", ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
def test_dt_stability_errors(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "dt_stability", *argv, "--out", "out"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert re.search(message, err), err
    assert list(tmp_path.iterdir()) == []


def _peak_drift_pct(seeds, duration):
    peaks = {dt: np.mean([simulate("ping_coba", dt=f"{dt} ms", duration=duration, seed=s)
                          .metrics["gamma_peak_hz"] for s in seeds]) for dt in (0.025, 0.25)}
    return 100 * (peaks[0.25] - peaks[0.025]) / peaks[0.025]


def test_default_model_dt_stable_behavior():
    # The target (mean peak drift between dt 0.025 and 0.25 ms under 5 %), on 2 seeds × 0.6 s.
    # Measured here: about -1.5 % (1 s, 5 seeds: see the long test); the plain-Euler PING with
    # a 1.5 ms I refractory drifted -11 % (docs/readme/analysis.md).
    assert abs(_peak_drift_pct((0, 1), "0.6 s")) < 5.0


@pytest.mark.long
def test_default_model_dt_stable_five_seeds_behavior():
    # The task's own criterion: 5 seeds, 1 s each.
    assert abs(_peak_drift_pct(range(5), "1 s")) < 5.0
