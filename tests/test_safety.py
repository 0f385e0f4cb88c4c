"""Run folders are data, inputs are bounded, a silent network has no peak, killed runs are cleaned up."""

import json
import os
import sys
import time

import pytest

from pinglab_bio.cli.app import main
from pinglab_bio.errors import PinglabError, SettingsError, printable
from pinglab_bio.files import read_json, write_json
from pinglab_bio.runs.folder import atomic_run_dir, remove_stale_partials
from pinglab_bio.units import parse_quantity
from pinglab_bio.workflow.analysis import analyze, load_analysis


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _evil_script(folder, marker):
    script = folder / "evil.py"
    script.write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                      "def analyze(run_dirs, workdir):\n"
                      "    return {'title': 'x', 'numbers': {}, 'sections': []}\n")
    return script


@pytest.mark.parametrize("kind", ["absolute", "relative", "inside", "dotted"])
def test_analyze_never_imports_what_a_run_folder_names_errors(in_tmp, capsys, kind):
    run = in_tmp / "shared_run"
    run.mkdir()
    marker = in_tmp / "executed.txt"
    script = _evil_script(run, marker)
    protocol = {"absolute": str(script.with_suffix("")), "relative": "../shared_run/evil",
                "inside": "evil", "dotted": "ping_gamma/../../shared_run/evil"}[kind]
    (run / "run.json").write_text(json.dumps({"protocol": protocol}))
    (run / "metrics.json").write_text("{}")
    modules_before = set(sys.modules)
    assert main(["analyze", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # a plain name is looked up in the catalogue only; a path is refused as a path
    assert len(err) == 1 and ("not an analysis script of the catalogue" in err[0]
                              or "has no analysis script (analysis/evil.py)" in err[0])
    assert not marker.exists()  # the script never ran
    assert not any("evil" in name for name in set(sys.modules) - modules_before)
    with pytest.raises(PinglabError, match="(not an|has no) analysis script"):
        analyze([run], "json")


def test_load_analysis_takes_catalogue_names_only_errors(tmp_path):
    marker = tmp_path / "executed.txt"
    script = _evil_script(tmp_path, marker)
    for name in (str(script.with_suffix("")), "../analysis/ping_gamma", "/etc/passwd"):
        with pytest.raises(PinglabError, match="no analysis script in the catalogue"):
            load_analysis(name)
    assert not marker.exists()


def test_analysis_script_flag_runs_the_script_the_user_names_behavior(in_tmp, capsys):
    run = in_tmp / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"protocol": "/somewhere/else"}))
    marker = in_tmp / "executed.txt"
    script = _evil_script(in_tmp, marker)
    assert main(["analyze", str(run), "--analysis-script", str(script), "--format", "json"]) == 0
    assert marker.read_text() == "ran"  # typed by the user on the command line: allowed
    assert json.loads(capsys.readouterr().out)["protocol"] == "evil"


def test_unit_powers_are_bounded_errors():
    for text in ("-65 mV*10**10**10", "9 ms*10**10**10", "1 (ms**2)**2", "1 ms**99", "1 ms**(1+1)"):
        t0 = time.perf_counter()
        with pytest.raises(ValueError, match="power"):
            parse_quantity(text)
        # a refusal is a tree walk; evaluating 10**10**10 would take minutes
        assert time.perf_counter() - t0 < 0.5
    for text in ("1e400 s", "1e400"):
        with pytest.raises(ValueError, match="too large"):
            parse_quantity(text)
    assert float(parse_quantity("2 ms**-1")) == pytest.approx(2000.0, rel=1e-12)  # float rounding only


def test_strict_json_writes_null_for_nan_errors(tmp_path):
    write_json(tmp_path / "m.json", {"a": float("nan"), "b": [1.0, float("inf")], "c": 2.5})
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}")) == {
        "a": None, "b": [1.0, None], "c": 2.5}
    (tmp_path / "cut.json").write_text(text[: len(text) // 2])
    with pytest.raises(PinglabError, match=r"cut.json is not valid JSON"):
        read_json(tmp_path / "cut.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(PinglabError, match=r"bin.json is not a text file"):
        read_json(tmp_path / "bin.json")


def test_silent_network_has_no_gamma_peak_behavior(tmp_path):
    from pinglab_bio import load_model, simulate
    from pinglab_bio.runs.result import describe, save_run

    spec = load_model("ping_coba", {"n_exc": "40", "n_inh": "10", "V_th": "100 mV"})
    result = simulate(spec, duration="0.2 s", transient="50 ms", seed=0)
    assert result.metrics["rate_exc_hz"] == 0.0
    assert result.metrics["gamma_peak_hz"] is None
    assert result.metrics["gamma_power_share"] is None
    assert "fewer than" in result.metrics["gamma_peak_reason"]
    assert "gamma peak (EXC rate): none" in describe(result)
    folder = save_run(result, tmp_path / "silent", figures=False, report=False)
    text = (folder / "metrics.json").read_text()
    metrics = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert metrics["gamma_peak_hz"] is None and metrics["gamma_peak_reason"]


def test_summary_too_few_spikes_gives_null_peak_behavior():
    import numpy as np
    import quantities as pq

    from pinglab_bio.measures import summary
    from pinglab_bio.measures.summary import MIN_RHYTHM_SPIKES

    few = MIN_RHYTHM_SPIKES - 1
    numbers, _ = summary({"exc": (10, np.zeros(few, dtype=int), np.linspace(0.01, 0.19, few))},
                         dt=0.1 * pq.ms, t_start=0 * pq.s, t_stop=0.2 * pq.s)
    assert numbers["gamma_peak_hz"] is None and str(few) in numbers["gamma_peak_reason"]
    enough = 200
    numbers, _ = summary({"exc": (10, np.arange(enough) % 10, np.linspace(0.01, 0.19, enough))},
                         dt=0.1 * pq.ms, t_start=0 * pq.s, t_stop=0.2 * pq.s)
    assert numbers["gamma_peak_hz"] is not None and "gamma_peak_reason" not in numbers


def test_stale_partials_of_killed_runs_are_removed_behavior(tmp_path, writer_child):
    # A child claims a run folder, then is SIGKILLed: its partial folder and lock file stay.
    child = writer_child(tmp_path / "killed")
    live = [p.name for p in tmp_path.iterdir() if ".partial-" in p.name]
    assert len(live) == 1
    assert remove_stale_partials(tmp_path) == []  # the child is alive and holds the lock
    assert (tmp_path / live[0]).is_dir()
    child.kill()
    child.wait()
    assert (tmp_path / live[0]).is_dir()  # SIGKILL runs no cleanup
    assert remove_stale_partials(tmp_path) == live
    assert not any(".partial-" in p.name or p.name.endswith(".lock") for p in tmp_path.iterdir())


def test_atomic_run_dir_refuses_a_name_being_written_errors(tmp_path):
    with atomic_run_dir(tmp_path / "same") as tmp:
        (tmp / "x").write_text("1")
        with pytest.raises(PinglabError, match="being written by another run"):
            with atomic_run_dir(tmp_path / "same"):
                pass
        with atomic_run_dir(tmp_path / "same", unique=True) as other:  # default names step aside
            (other / "y").write_text("2")
    assert (tmp_path / "same" / "x").is_file() and (tmp_path / "same-2" / "y").is_file()
    with pytest.raises(PinglabError, match="already exists"):
        with atomic_run_dir(tmp_path / "same"):
            pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_unwritable_out_is_one_line_errors(tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(PinglabError, match="cannot write into"):
            with atomic_run_dir(locked / "run"):
                pass
    finally:
        locked.chmod(0o700)


def test_printable_escapes_terminal_controls_behavior():
    assert printable("ok\x1b[31mred\x1b[0m\nnext") == "ok\\x1b[31mred\\x1b[0m next"
    assert printable("τ_gaba 9 ms") == "τ_gaba 9 ms"  # ordinary Unicode is left alone
    assert "\x1b" not in str(SettingsError("name \x1b]0;title\x07"))


def test_estimate_refuses_huge_runs_with_the_flag_errors():
    from pinglab_bio import load_model
    from pinglab_bio.sim.estimate import ALLOW_FLAG, check_run_size, estimate_run

    spec = load_model("ping_coba", {"n_exc": str(10**9)})
    est = estimate_run(spec, dt=parse_quantity("0.1 ms"), duration=parse_quantity("1 s"))
    assert est.parts["state"] > 10**10  # a billion neurons of several float64 variables
    with pytest.raises(SettingsError, match=f"more than the limit.*{ALLOW_FLAG}"):
        check_run_size(est)
    steps = estimate_run(load_model("ping_coba"), dt=parse_quantity("1 nsecond"),
                         duration=parse_quantity("1 s"))
    assert steps.steps == 10**9
    with pytest.raises(SettingsError, match=f"integration steps.*{ALLOW_FLAG}"):
        check_run_size(steps)
    assert check_run_size(steps, allow_large=True) is steps
