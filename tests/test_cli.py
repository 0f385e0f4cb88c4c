"""The CLI: the main job end to end, listings, and one-line errors with no folder left behind."""

import json
import subprocess
import sys

import pytest

from pinglab_bio.cli.app import main
from pinglab_bio.paths import repo_root


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_run_ping_gamma_behavior(in_tmp, capsys):
    assert main(["run", "ping_gamma", "--duration", "0.4s", "--seed", "3"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "simulating [" in captured.err  # progress goes to stderr without --quiet
    (folder,) = list((in_tmp / "runs").iterdir())
    assert folder.name.startswith("ping_gamma-")
    assert f"results: runs/{folder.name}" in out
    for words in ("EXC rate", "INH rate", "gamma peak", "power share", "wall time"):
        assert words in out
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 30 <= metrics["gamma_peak_hz"] <= 100
    info = json.loads((folder / "run.json").read_text())
    assert info["seed"] == 3 and info["duration"]["text"] == "0.4 s"
    assert (folder / "report.html").read_text().count("data:image/png;base64,") == 3
    assert main(["show", str(folder)]) == 0
    assert "gamma_peak_hz" in capsys.readouterr().out


def test_protocol_script_runs_directly_behavior(tmp_path):
    script = repo_root() / "protocols" / "ping_gamma.py"
    out = tmp_path / "direct"
    proc = subprocess.run([sys.executable, str(script), "--duration", "0.2s", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (out / "metrics.json").is_file()
    assert "gamma peak" in proc.stdout
    assert "simulating" not in proc.stderr  # --quiet: neither log lines nor the progress bar


def test_tau_gaba_sweep_cli_behavior(in_tmp, capsys):
    assert main(["run", "tau_gaba_sweep", "--tau-gaba-values", "5ms,15ms", "--duration", "0.4s",
                 "--out", "sweep", "--quiet"]) == 0
    metrics = json.loads((in_tmp / "sweep" / "metrics.json").read_text())
    freqs = [row["gamma_peak_hz"] for row in metrics["table"]]
    assert freqs[0] > freqs[1]
    assert metrics["frequency_falls_monotonically"] is True
    assert len(list((in_tmp / "sweep" / "points").iterdir())) == 2
    assert (in_tmp / "sweep" / "results.csv").read_text().count("\n") == 3


def test_listings_behavior(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "ping_coba" in out and "ping_cuba" in out and "ing" in out
    assert main(["protocols"]) == 0
    out = capsys.readouterr().out
    assert "ping_gamma" in out and "tau_gaba_sweep" in out and "drive_sweep" in out


BAD_INPUTS = [
    (["run", "ping_gama"], r"unknown protocol 'ping_gama'"),
    (["run", "ping_gamma", "--model", "nope"], r"model 'nope' not found"),
    (["run", "ping_gamma", "--dt", "0ms"], r"dt must be positive"),
    (["run", "ping_gamma", "--dt", "0.3ms"], r"duration 1. s is not a multiple of dt"),
    (["run", "ping_gamma", "--duration", "fast"], r"--duration: 'fast' is not a number followed by a unit"),
    (["run", "ping_gamma", "--duration", "5mV"], r"--duration '5mV' has the wrong unit"),
    (["run", "ping_gamma", "--seed", "x"], r"--seed must be a whole number, got 'x'"),
    (["run", "ping_gamma", "--seed", "-2"], r"--seed must be ≥ 0, got -2"),
    (["run", "ping_gamma", "--device", "gpu"], r"--device must be one of runtime, cpp_standalone, "
                                               r"cuda_standalone, genn, got 'gpu'"),
    (["run", "ping_gamma", "--set", "tau_gaba"], r"--set needs KEY=VALUE, got 'tau_gaba'"),
    (["run", "ping_gamma", "--set", "tau_gaba=-3ms"], r"\[parameters\.tau_gaba\] time constant must be "
                                                      r"positive"),
    (["run", "ping_gamma", "--set", "tau_gabba=3ms"], r"override 'tau_gabba' matches no parameter.*"
                                                      r"did you mean 'tau_gaba'"),
    (["run", "ping_gamma", "--set", "n_exc=0"], r"size must be at least 1, got 0"),
    (["run", "ping_gamma", "--bogus"], r"unrecognized arguments: --bogus"),
    (["run", "tau_gaba_sweep", "--tau-gaba-values", "4ms,5mV"],
     r"--tau-gaba-values '5mV' has the wrong unit"),
    (["run", "tau_gaba_sweep", "--seeds", "0"], r"--seeds must be ≥ 1, got 0"),
    (["run", "tau_gaba_sweep", "--set", "tau_gaba=none"], r"the equations use 'tau_gaba', which is neither"),
    (["run", "drive_sweep", "--drive-values", "1nA"], r"\[drive\.exc\.mean\] '1\. nA' has the wrong unit"),
    (["show", "no/such/run"], r"run folder 'no/such/run' does not exist"),
    (["frobnicate"], r"invalid choice: 'frobnicate'"),
]


@pytest.mark.parametrize("argv,message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_cli_errors(in_tmp, capsys, argv, message):
    import re

    assert main(argv + (["--out", "out"] if argv[0] == "run" and len(argv) > 1 else [])) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err  # one line, no traceback
    assert re.search(message, err), err
    assert "Fix:" in err
    assert list(in_tmp.iterdir()) == []  # no run folder, no runs/ root, no temporary


def test_interrupted_run_leaves_nothing_behavior(in_tmp, capsys, monkeypatch):
    import pinglab_bio.runs.result as runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.Network if hasattr(runner, "Network") else runner, "simulate", interrupted,
                        raising=False)
    import pinglab_bio.workflow.protocol as protocol

    original = protocol.load_protocol

    def load(name):
        module = original(name)
        module.simulate = interrupted
        return module

    monkeypatch.setattr(protocol, "load_protocol", load)
    assert main(["run", "ping_gamma", "--out", "out"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert list(in_tmp.iterdir()) == []


def test_main_restores_global_state_behavior(in_tmp, capsys):
    import warnings

    import brian2

    def hook(*args):
        pass

    saved_hook = sys.excepthook
    sys.excepthook = hook
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            filters = list(warnings.filters)
            level = brian2.BrianLogger.console_handler.level
            assert main(["models"]) == 0
            assert main(["run", "ping_gamma", "--seed", "x"]) == 2
            assert warnings.filters == filters
            assert sys.excepthook is hook
            assert brian2.BrianLogger.console_handler.level == level
    finally:
        sys.excepthook = saved_hook


HELP_ARGV = [["--help"], ["run", "--help"], ["run", "-h"], ["sweep", "--help"], ["sweep", "-h"],
             ["sweep", "ping_gamma", "--help"], ["run", "ping_gamma", "--help"], ["models", "--help"],
             ["protocols", "--help"], ["show", "--help"], ["devices", "--help"], ["train", "--help"]]


@pytest.mark.parametrize("argv", HELP_ARGV, ids=[" ".join(a) for a in HELP_ARGV])
def test_help_behavior(argv, capsys):
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "usage: pinglab-bio" in out


def test_sweep_protocol_help_lists_protocol_flags_behavior(capsys):
    assert main(["sweep", "ping_gamma", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--grid", "--resume", "--scheduler", "--duration", "--device", "--out", "--dt", "--seed",
                 "--set"):
        assert flag in out, flag


@pytest.mark.parametrize("command", ["models", "protocols", "show", "devices"])
def test_command_help_has_description_behavior(command, capsys):
    assert main([command, "--help"]) == 0
    usage, _, rest = capsys.readouterr().out.partition("\n\n")
    description = rest.split("\n\n")[0]
    assert not description.startswith(("positional arguments", "options")) and len(description) > 40
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    line = next(ln for ln in listed.splitlines() if ln.strip().startswith(command))
    assert len(line.split()) > 1 or command == "protocols"  # the help line names what it does


def test_protocols_listing_whole_question_behavior(capsys):
    import ast

    from pinglab_bio.paths import find_protocol, list_protocols

    assert main(["protocols"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for name in list_protocols():
        doc = ast.get_docstring(ast.parse(find_protocol(name).read_text()))
        question = " ".join(doc.split("\n\n")[0].split())
        assert f"{name} {question}" in out, name  # the first paragraph whole, never cut mid-sentence


def test_models_listing_every_model_behavior(capsys):
    import tomllib

    from pinglab_bio.paths import find_model, list_models

    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in list_models():
        description = tomllib.loads(find_model(name).read_text())["model"]["description"]
        (line,) = [ln for ln in lines if ln.split()[:1] == [name]]
        assert " ".join(description.split()) in line


def test_cli_words_errors_with_flags_behavior(in_tmp, capsys, monkeypatch):
    import pinglab_bio.cli.app as app
    from pinglab_bio.errors import SettingsError

    def failing(argv):
        raise SettingsError.about("dt", "{arg} must be positive. Fix: pass e.g. {example}", example="0.1 ms")

    monkeypatch.setattr(app, "_dispatch", failing)
    assert main(["run", "ping_gamma"]) == 2
    assert capsys.readouterr().err == "error: --dt must be positive. Fix: pass e.g. --dt 0.1ms\n"
    assert main(["models"]) == 2  # the light path words it the same way
    assert capsys.readouterr().err == "error: --dt must be positive. Fix: pass e.g. --dt 0.1ms\n"
