"""Real generated-C++ runs (Brian2 cpp_standalone): the same model file, the same rhythm."""

import json
import shutil
from pathlib import Path

import pytest

from pinglab_bio import errors
from pinglab_bio.cli.app import main
from pinglab_bio.runs.result import simulate
from pinglab_bio.sim.devices import check_device

pytestmark = [pytest.mark.cpp_standalone,
              pytest.mark.skipif(shutil.which("g++") is None, reason="cpp_standalone needs g++")]


def test_cpp_standalone_run_behavior(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "ping_gamma", "--device", "cpp_standalone", "--duration", "0.5s", "--out", "cpp",
                 "--quiet"]) == 0
    metrics = json.loads((tmp_path / "cpp" / "metrics.json").read_text())
    info = json.loads((tmp_path / "cpp" / "run.json").read_text())
    assert info["device"]["name"] == "cpp_standalone"
    # Each device draws its own random numbers, so spikes differ from the numpy runtime; the
    # rhythm must not: same band and power-share floor as the runtime dynamics tests.
    assert 30.0 <= metrics["gamma_peak_hz"] <= 100.0
    assert metrics["gamma_power_share"] >= 0.6
    assert 7.0 <= metrics["rate_exc_hz"] <= 15.0


def test_cpp_standalone_same_seed_identical_behavior():
    a = simulate("ing", device="cpp_standalone", duration="0.3 s", seed=5)
    objects = sorted((Path(a.info["device"]["build_dir"]) / "code_objects").glob("*.o"))
    built_at = [o.stat().st_mtime_ns for o in objects]
    b = simulate("ing", device="cpp_standalone", duration="0.3 s", seed=5)
    # The unchanged model reused its build folder: no code object was compiled again (only
    # main.cpp may be, where Brian2 writes the clock resets in a varying order).
    assert b.info["device"]["build_dir"] == a.info["device"]["build_dir"]
    assert len(objects) > 5
    assert [o.stat().st_mtime_ns for o in objects] == built_at
    ia, ta = a.spike_arrays("inh")
    ib, tb = b.spike_arrays("inh")
    assert len(ta) > 1000
    assert (ia == ib).all() and (ta == tb).all()


def test_device_errors():
    with pytest.raises(errors.DeviceError, match=r"unknown device 'cuda'\. Fix: use one of runtime, "
                                                 r"cpp_standalone"):
        check_device("cuda")
    with pytest.raises(errors.DeviceError, match=r"unknown runtime target 'weave'"):
        check_device("runtime", "weave")
