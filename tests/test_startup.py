"""Less waiting: help and listings import neither Brian2 nor elephant, run folders are written in
time linear in the number of trains, and an unchanged standalone project compiles nothing."""

import json
import subprocess
import sys

import numpy as np
import pytest
import quantities as pq

HEAVY = ("brian2", "elephant", "scipy.stats", "torch")

LIGHT = [["--help"], ["models"], ["protocols"], ["devices"], ["show", "{run}"], ["show", "--help"],
         ["models", "--help"], ["devices", "--help"]]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("show") / "run"
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"rate_exc_hz": 11.0, "gamma_peak_hz": 47.5}))
    (folder / "run.json").write_text(json.dumps({"protocol": "ping_gamma", "model": {"name": "ping_coba"},
                                                 "seed": 0, "dt": {"text": "100. us"}}))
    return folder


@pytest.mark.parametrize("argv", LIGHT, ids=[" ".join(a) for a in LIGHT])
def test_light_commands_import_no_brian2_behavior(argv, run_folder):
    argv = [a.format(run=run_folder) for a in argv]
    code = ("import sys\nfrom pinglab_bio.cli.app import main\nrc = main(sys.argv[1:])\n"
            f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)\nsys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr, proc.stderr
    assert proc.stdout.strip()


def test_make_block_is_linear_behavior():
    """Building a Block of 8× as many trains takes far less than 64× as long (it was quadratic)."""
    import time

    from pinglab_bio.runs.folder import make_block

    def build(n):
        rng = np.random.default_rng(0)
        idx = rng.integers(0, n, 20 * n)
        t = rng.uniform(0, 1, idx.size)
        t0 = time.perf_counter()
        block = make_block({"exc": (n, idx, t)}, {}, t_start=0 * pq.s, t_stop=1 * pq.s, dt=1e-4 * pq.s)
        return time.perf_counter() - t0, block

    build(200)  # warm up imports
    small, _ = build(500)
    large, block = build(4000)
    trains = block.segments[0].spiketrains
    assert len(trains) == 4000 and all(st.segment is block.segments[0] for st in trains[:5])
    assert [st.annotations["neuron_index"] for st in trains[:3]] == [0, 1, 2]
    assert all(np.all(np.diff(st.magnitude) >= 0) for st in trains[:50])
    # 8× the trains: linear gives ~8×, the old quadratic build ~64×; 30× leaves room for a busy machine
    assert large < 30 * small, (small, large)


def test_make_block_keeps_spikes_behavior():
    from pinglab_bio.runs.folder import make_block

    idx = np.array([2, 0, 2, 1, 0])
    t = np.array([0.5, 0.3, 0.1, 0.2, 0.1])
    block = make_block({"inh": (4, idx, t)}, {}, t_start=0 * pq.s, t_stop=1 * pq.s, dt=1e-4 * pq.s)
    got = [list(st.magnitude) for st in block.segments[0].spiketrains]
    assert got == [[0.1, 0.3], [0.2], [0.1, 0.5], []]


def test_stable_clock_order_behavior():
    """Clock resets and idle clocks queued from a set come out in one order, all else untouched."""
    from pinglab_bio.sim.devices.base import stable_clock_order

    def queue(order):
        resets = [("set_by_single_value", (f"_array_{name}_clock_{var}", 0, "0"))
                  for name in order for var in ("timestep", "t")]
        lines = ["network.clear();", "network.add(&exc_clock, _run_exc_stateupdater);",
                 *[f"network.add(&{name}_clock, NULL);" for name in order], "network.run(1.0, NULL, 10.0);"]
        return [("set_by_single_value", ("_array_exc_v", 0, "-0.065")), *resets,
                ("insert_code", "x"), ("run_network", ("net", lines))]

    a, b = queue(["inh", "exc", "syn"]), queue(["syn", "inh", "exc"])
    assert a != b
    device = type("Device", (), {})()
    device.main_queue = a
    stable_clock_order(device)
    device2 = type("Device", (), {})()
    device2.main_queue = b
    stable_clock_order(device2)
    assert device.main_queue == device2.main_queue
    assert device.main_queue[0] == ("set_by_single_value", ("_array_exc_v", 0, "-0.065"))
    assert [e[1][0] for e in device.main_queue[1:3]] == ["_array_exc_clock_timestep", "_array_exc_clock_t"]
    assert device.main_queue[-1][1][1][-1] == "network.run(1.0, NULL, 10.0);"


def test_first_compile_says_so_behavior(tmp_path, monkeypatch, capsys):
    import importlib

    from pinglab_bio.sim.devices import REGISTRY, DeviceSession

    class Fake:
        main_queue: list = []

        def build(self, **kwargs):
            (tmp_path / "main").write_text("binary")

    # the module itself: the attribute brian2.devices.device is Brian2's current device object
    monkeypatch.setattr(importlib.import_module("brian2.devices.device"), "get_device", lambda: Fake())
    session = DeviceSession(REGISTRY["cpp_standalone"], None, tmp_path)
    session.compile()
    assert "compiling C++ for this model (first run only; about 10–20 s" in capsys.readouterr().err
    session.compile()
    assert "compiling" not in capsys.readouterr().err  # the binary exists: a warm run is silent


def test_run_imports_no_elephant_behavior(tmp_path):
    """A run with its measures, figures and report loads neither elephant nor scipy.signal: their
    import (elephant's ``__init__`` loads all of elephant, scipy.stats, scikit-learn) took about
    a second of the main job."""
    code = ("import sys\nfrom pinglab_bio.cli.app import main\n"
            "rc = main(['run', 'ping_gamma', '--duration', '0.3s', '--quiet', '--out', sys.argv[1]])\n"
            "print('HEAVY', [m for m in ('elephant', 'scipy.signal', 'scipy.stats', 'sklearn') "
            "if m in sys.modules], file=sys.stderr)\nsys.exit(rc)")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr, proc.stderr
    assert (out / "report.html").is_file() and (out / "figures" / "psd.png").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["gamma_peak_hz"] is not None and metrics["synchrony_exc"] > 0


def test_quick_exit_keeps_exit_handlers_behavior():
    """quick_exit freezes the garbage collector only at exit, after the other exit handlers,
    whose output still appears; however often it is called, it is registered once."""
    code = ("import atexit, gc\n"
            "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
            "from pinglab_bio.workflow.protocol import quick_exit\n"
            "quick_exit(); quick_exit()\n"
            "atexit.register(lambda: print('handler ran, frozen yet:', gc.get_freeze_count() > 0))\n"
            "print('frozen during the command:', gc.get_freeze_count() > 0)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["frozen during the command: False", "handler ran, frozen yet: False",
                                        "frozen at exit: True"]
