"""An interrupted simulation never becomes a result: exit 130, no folder, resume computes the rest.

Brian2 answers a first Ctrl-C during ``Network.run`` by ending the run early without an
exception; these tests send real signals at real moments and look at what was left on disk.
"""

import csv
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import pytest

from pinglab_bio.cli.app import main
from pinglab_bio.errors import RunInterrupted

SMALL = ["--set", "n_exc=200", "--set", "n_inh=50"]


def _sigint_when_running(delay: float = 0.2):
    """Send SIGINT to this process once Brian2's network loop has been running for ``delay`` s."""
    from brian2 import Network

    def fire():
        for _ in range(3000):
            if Network._globally_running:
                time.sleep(delay)
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    return thread


def test_simulate_refuses_a_run_brian2_stopped_early_behavior():
    import brian2

    from pinglab_bio import simulate

    assert isinstance(signal.getsignal(signal.SIGINT), type(brian2._int_handler))  # Brian2's own handler
    thread = _sigint_when_running()
    with pytest.raises(RunInterrupted, match="stopped at"):
        simulate("ping_coba", duration="3 s", seed=0)
    thread.join()


def test_cli_run_interrupted_leaves_no_folder_behavior(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    thread = _sigint_when_running()
    assert main(["run", "ping_gamma", "--duration", "3s", "--out", "out", "--quiet"]) == 130
    thread.join()
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("interrupted: nothing unfinished was saved")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no folder, no partial, no lock


# ----------------------------------------------------------------------------------------
# real subprocesses, signals at random moments


def _cli(*args):
    return [sys.executable, "-c", "from pinglab_bio.cli.app import main; raise SystemExit(main())", *args]


def _start(argv, cwd):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(proc, needle, timeout=120):
    """Read stderr until a line holds ``needle``; return the lines read."""
    lines, deadline = [], time.time() + timeout
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} never appeared: {lines}")


def _assert_whole_point(folder: Path, duration_s: float):
    """A saved point holds the planned duration of spikes: its last E spike lies near the end."""
    with h5py.File(folder / "spikes.h5", "r") as h5:
        assert h5.attrs["t_stop_s"] == pytest.approx(duration_s, abs=1e-9)  # stored from the planned value
        times = [h5[f"spikes/{pop}/times"][()] for pop in h5["spikes"]]
        last = max(float(t[-1]) for t in times if t.size)
    # the driven E cells fire every few tens of ms: a run cut short leaves a gap before its end
    assert last > duration_s - 0.05, f"{folder.name}: last spike at {last} s of {duration_s} s"


TRIALS = [("run", signal.SIGINT), ("run", signal.SIGINT), ("run", signal.SIGKILL), ("run", signal.SIGKILL),
          ("sweep", signal.SIGINT), ("sweep", signal.SIGINT), ("sweep", signal.SIGKILL),
          ("drive_sweep", signal.SIGINT), ("drive_sweep", signal.SIGKILL), ("drive_sweep", signal.SIGINT)]


@pytest.mark.long
@pytest.mark.parametrize("trial", range(len(TRIALS)))
def test_interruption_trials_behavior(tmp_path, trial):
    kind, sig = TRIALS[trial]
    rng = random.Random(1000 + trial)
    duration = 0.3
    out = tmp_path / "out"
    if kind == "run":
        argv = _cli("run", "ping_gamma", "--duration", "2s", "--out", str(out), *SMALL)
        needle = "simulating"
    elif kind == "sweep":
        argv = _cli("sweep", "ping_gamma", "--grid", "tau_gaba=5ms,7ms,9ms,11ms,13ms,15ms", "--duration",
                    f"{duration}s", "--scheduler", "none", "--out", str(out), *SMALL)
        needle = "sweep ping_gamma"
    else:
        argv = _cli("run", "drive_sweep", "--drive-values", "0.03uS,0.04uS,0.05uS", "--duration",
                    f"{duration}s",
                    "--out", str(out), *SMALL)
        needle = "[1/6]"  # the sweep engine's line after the first of the six points
    proc = _start(argv, tmp_path)
    _wait_for(proc, needle)  # past start-up: the command's own handler is in place
    time.sleep(rng.uniform(0.0, 1.5))
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert proc.returncode in (130, 0), proc.returncode  # 0 only when the signal came after the end
    else:
        assert proc.returncode == -signal.SIGKILL
    if kind == "run":
        finished = proc.returncode == 0
        assert out.is_dir() == finished  # a folder only for a run that reached its end
        if finished:
            _assert_whole_point(out, 2.0)
        return
    points = out / "points" if kind == "sweep" else out
    if kind == "drive_sweep":
        assert not out.exists() or proc.returncode == 0  # a protocol's folder is whole or absent
        return
    before = {p.name: p.stat().st_ino for p in points.glob("*") if (p / "metrics.json").is_file()} \
        if points.is_dir() else {}
    for name in before:
        _assert_whole_point(points / name, duration)
    if not out.exists():
        assert not before
        return
    resumed = subprocess.run(argv + ["--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    if before:
        told = f"{len(before)} of 6 points already finished; running the other {6 - len(before)}"
        assert told in resumed.stderr
    after = {p.name: p.stat().st_ino for p in points.glob("*") if (p / "metrics.json").is_file()}
    assert len(after) == 6 and all(after[name] == ino for name, ino in before.items())  # kept, not redone
    assert not [p for p in points.iterdir() if ".partial-" in p.name]
    with open(out / "results.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 6
    for name in after:
        _assert_whole_point(points / name, duration)


def test_resume_reports_removed_partials_behavior(tmp_path, capsys, writer_child):
    """A SIGKILLed point leaves a partial folder; the next run_points removes it and says so."""
    from pinglab_bio import load_model
    from pinglab_bio.workflow.sweeps import grid_points, run_points

    child = writer_child(tmp_path / "points" / "p1")
    child.kill()
    child.wait()
    spec = load_model("ping_coba", {"n_exc": "40", "n_inh": "10"})
    points, _ = grid_points({"tau_gaba": ["9 ms"]})
    lines = []
    rows = run_points(spec, points, tmp_path, sim_kwargs={"duration": "0.2 s"}, protocol="ping_gamma",
                      log=lines.append, scheduler=None)
    assert len(rows) == 1
    assert any(line.startswith("removed 1 partial point folder(s) left by killed runs: .p1.partial-")
               for line in lines)
    assert not [p for p in (tmp_path / "points").iterdir() if p.name.startswith(".")]
