"""Sweeps: grids, one run folder per point, resume without recomputing, compile once, Dask."""

import json
import shutil

import pytest

from pinglab_bio.cli.app import main
from pinglab_bio.errors import SettingsError
from pinglab_bio.model.spec import load_model
from pinglab_bio.runs.result import simulate
from pinglab_bio.workflow.sweeps import (
    DASK_MIN_CORES,
    DASK_MIN_POINTS,
    choose_scheduler,
    grid_points,
    load_sweep_file,
    parse_grid,
    run_points,
)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_parse_grid_errors():
    with pytest.raises(SettingsError, match=r"--grid needs KEY=V1,V2,\.\.\., got 'tau_gaba'"):
        parse_grid(["tau_gaba"])
    with pytest.raises(SettingsError, match=r"--grid names 'tau_gaba' twice"):
        parse_grid(["tau_gaba=4ms", "tau_gaba=5ms"])
    with pytest.raises(SettingsError, match=r"--grid tau_gaba repeats a value"):
        parse_grid(["tau_gaba=4ms,4ms"])


def test_sweep_file_errors(tmp_path):
    with pytest.raises(SettingsError, match=r"sweep file 'nope.toml' does not exist"):
        load_sweep_file("nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[grids]\ntau_gaba = ['4 ms']\n")
    with pytest.raises(SettingsError, match=r"unknown table\(s\) grids"):
        load_sweep_file(bad)
    bad.write_text("[grid]\ntau_gaba = '4 ms'\n")
    with pytest.raises(SettingsError, match=r"\[grid\] tau_gaba must be a list of values, got '4 ms'"):
        load_sweep_file(bad)


def test_grid_points_behavior(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[grid]\ntau_gaba = ["4.5 ms", "9 ms"]\n"drive.exc.mean" = ["0.03 uS", "0.05 uS"]\n'
                    '[settings]\nduration = "0.2 s"\n')
    grid, settings = load_sweep_file(path)
    assert settings == {"duration": "0.2 s"}
    points, units = grid_points(grid, seed=3, seeds=2)
    assert len(points) == 8 and units == {"tau_gaba": "ms", "drive.exc.mean": "nS"}
    assert points[0].label == "tau_gaba=4.5ms__drive.exc.mean=0.03uS-seed3"
    assert points[1].seed == 4 and points[0].values == {"tau_gaba": 4.5, "drive.exc.mean": 30.0}
    assert len({p.label for p in points}) == 8


@pytest.mark.parametrize("args, message", [
    (["--grid", "tau_gabba=4ms,9ms"],
     r"override 'tau_gabba' matches no parameter .* did you mean 'tau_gaba'"),
    (["--grid", "tau_gaba=4ms,9mV"], r"--grid tau_gaba: value '9mV' has another unit than '4ms'"),
    (["--grid", "tau_gaba=4ms", "--seeds", "0"], r"--seeds must be ≥ 1, got 0"),
    (["--grid", "tau_gaba=4ms", "--scheduler", "none", "--workers", "2"],
     r"--workers sets the size of the local Dask cluster, but --scheduler is 'none'"),
    (["--grid", "tau_gaba=4ms", "--resume"], r"--resume needs the sweep folder"),
    (["--grid", "tau_gaba=4ms", "--threads", "4"],
     r"--threads 4 applies to cpp_standalone only, not 'runtime'"),
    (["--grid", "tau_gaba=4ms", "--resume", "--out", "."], r"--resume: \. holds no sweep"),
    ([], r"a sweep needs at least one --grid"),
    (["--grid", "tau_gaba=4ms", "--device", "cuda"], r"--device must be one of runtime, cpp_standalone"),
])
def test_sweep_cli_errors(in_tmp, capsys, args, message):
    assert main(["sweep", "ping_gamma", *args, "--duration", "0.2s"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    import re

    assert re.search(message, err), err
    assert not (in_tmp / "runs").exists()


def test_sweep_of_a_sweep_errors(in_tmp, capsys):
    assert main(["sweep", "tau_gaba_sweep", "--grid", "drive.exc.mean=0.03uS"]) == 2
    assert "protocol 'tau_gaba_sweep' cannot be swept: it is itself a sweep" in capsys.readouterr().err


def _points(folder):
    return sorted(p.name for p in (folder / "points").iterdir())


def test_choose_scheduler_behavior():
    """Few points or few cores run in this process; enough of both start a local Dask cluster."""
    assert (DASK_MIN_POINTS, DASK_MIN_CORES) == (4, 3)  # the thresholds the reasons below quote
    scheduler, reason = choose_scheduler(3, 2)
    assert scheduler is None
    assert reason == "in-process (3 points, 2 cores; a Dask cluster pays off from 4 points on 3 cores)"
    assert choose_scheduler(3, 16)[0] is None                 # too few points, however many cores
    assert choose_scheduler(50, 2)[0] is None                 # too few cores, however many points
    assert choose_scheduler(1, 1)[1] == ("in-process (1 point, 1 core; a Dask cluster pays off from 4 "
                                         "points on 3 cores)")
    scheduler, reason = choose_scheduler(4, 3)
    assert scheduler == "local" and reason.startswith("Dask LocalCluster (4 points, 3 cores;")
    assert choose_scheduler(2, 2, workers=2) == ("local", "Dask LocalCluster (2 points, --workers 2)")


def test_sweep_scheduler_auto_behavior(in_tmp, capsys):
    """The default scheduler runs a 2-point sweep in this process and says so, with its reason."""
    import re

    assert main(["sweep", "ping_gamma", "--grid", "tau_gaba=4.5ms,9ms", "--duration", "0.2s",
                 "--out", "auto"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("scheduler:")]
    assert len(lines) == 1, err
    assert re.fullmatch(r"scheduler: in-process \(2 points, \d+ cores?; a Dask cluster pays off from "
                        r"4 points on 3 cores\)", lines[0]), lines[0]
    assert "dask:" not in err
    assert _points(in_tmp / "auto") == ["tau_gaba=4.5ms-seed0", "tau_gaba=9ms-seed0"]


def test_sweep_resume_behavior(in_tmp, capsys):
    args = ["sweep", "ping_gamma", "--grid", "tau_gaba=4.5ms,9ms", "--duration", "0.2s", "--out", "sw"]
    assert main(args + ["--scheduler", "local"]) == 0   # asked for: an embedded Dask LocalCluster
    err = capsys.readouterr().err
    assert "dask: 2 task(s) on tcp://127.0.0.1:" in err and "scheduler: in-process" not in err
    args += ["--scheduler", "none"]
    folder = in_tmp / "sw"
    assert _points(folder) == ["tau_gaba=4.5ms-seed0", "tau_gaba=9ms-seed0"]
    rows = (folder / "results.csv").read_text().splitlines()
    assert rows[0].startswith("point,tau_gaba,seed,") and len(rows) == 3
    assert (folder / "figures" / "sweep.png").stat().st_size > 1000
    # Running again without --resume refuses to touch the folder.
    assert main(args) == 2
    assert "already exists. Fix: add --resume" in capsys.readouterr().err
    # An interrupted sweep: one point lost. --resume recomputes only that one.
    kept = folder / "points" / "tau_gaba=4.5ms-seed0" / "metrics.json"
    before = (kept.stat().st_mtime_ns, kept.read_text())
    shutil.rmtree(folder / "points" / "tau_gaba=9ms-seed0")
    assert main(args + ["--resume"]) == 0
    err = capsys.readouterr().err
    assert "1 of 2 points already finished; running the other 1" in err
    assert "[2/2] tau_gaba=9ms-seed0" in err and "tau_gaba=4.5ms-seed0:" not in err
    assert (kept.stat().st_mtime_ns, kept.read_text()) == before
    assert len((folder / "results.csv").read_text().splitlines()) == 3
    # A resume with another grid is refused.
    assert main(["sweep", "ping_gamma", "--grid", "tau_gaba=6ms", "--duration", "0.2s", "--out", "sw",
                 "--resume"]) == 2
    assert "was run with other grid, points" in capsys.readouterr().err


@pytest.mark.cpp_standalone
@pytest.mark.skipif(shutil.which("g++") is None, reason="cpp_standalone needs g++")
def test_sweep_compiles_once_behavior(in_tmp, tmp_path_factory, monkeypatch):
    """Three tau_gaba values, one build; each point equals a plain run of that point."""
    cache = tmp_path_factory.mktemp("sweepcache")
    monkeypatch.setenv("PINGLAB_BIO_CACHE", str(cache))
    spec = load_model("ping_coba")
    grid = {"tau_gaba": ["4.5 ms", "9 ms", "18 ms"]}
    points, _ = grid_points(grid, seed=2)
    sim = {"duration": "0.2 s", "device": "cpp_standalone", "portable_random": True}
    rows = run_points(spec, points, in_tmp / "sw", sim_kwargs=sim, protocol="ping_gamma", log=lambda *a: None)
    builds = [p for p in (cache / "build" / "cpp_standalone").iterdir() if p.is_dir()]
    assert len(builds) == 1
    infos = [json.loads((in_tmp / "sw" / "points" / p.label / "run.json").read_text()) for p in points]
    assert [i["wall_time_s"]["compile_s"] > 0 for i in infos] == [True, False, False]
    assert all(i["compiled_once"]["points_in_build"] == 3 for i in infos)
    # The frequency falls with tau_gaba, so the binary really got each value.
    freqs = [r["gamma_peak_hz"] for r in rows]
    assert freqs[0] > freqs[1] > freqs[2]
    # The last point, rerun from scratch on the runtime with the same CPU-drawn numbers.
    plain = simulate(spec.with_overrides({"tau_gaba": "18 ms"}), duration="0.2 s", seed=2,
                     portable_random=True)
    swept = json.loads((in_tmp / "sw" / "points" / points[2].label / "metrics.json").read_text())
    assert plain.metrics == swept


def test_sweep_on_dask_scheduler_behavior(in_tmp, capsys):
    """A real distributed scheduler and worker on loopback, reached through --scheduler."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        assert main(["sweep", "ping_gamma", "--grid", "tau_gaba=6ms,12ms", "--duration", "0.2s",
                     "--out", "dk", "--scheduler", address]) == 0
    err = capsys.readouterr().err
    assert f"dask: 2 task(s) on {address} (1 workers)" in err
    assert _points(in_tmp / "dk") == ["tau_gaba=12ms-seed0", "tau_gaba=6ms-seed0"]
    local = simulate(load_model("ping_coba", {"tau_gaba": "6ms"}), duration="0.2 s", seed=0)
    remote = json.loads((in_tmp / "dk" / "points" / "tau_gaba=6ms-seed0" / "metrics.json").read_text())
    assert remote["rate_exc_hz"] == local.metrics["rate_exc_hz"]


def test_unreachable_scheduler_errors(in_tmp, capsys):
    assert main(["sweep", "ping_gamma", "--grid", "tau_gaba=6ms", "--duration", "0.2s", "--out", "x",
                 "--scheduler", "udp://nowhere"]) == 2
    assert ("--scheduler must be 'auto', 'local', 'none' or an address like tcp://host:8786"
            in capsys.readouterr().err)
