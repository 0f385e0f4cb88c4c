"""Devices by name: one-line errors naming what is missing, the `devices` listing, build folders."""

import importlib.util
import shutil

import brian2
import pytest

from pinglab_bio.cli.app import main
from pinglab_bio.sim import devices
from pinglab_bio.sim.devices import (
    DeviceError,
    check_device,
    claim_folder,
    device_status,
    list_devices,
    use_device,
)


def test_check_device_errors():
    with pytest.raises(DeviceError, match=r"unknown device 'cuda'\. Fix: use one of runtime, cpp_standalone, "
                                          r"cuda_standalone, genn"):
        check_device("cuda")
    with pytest.raises(DeviceError, match=r"unknown runtime target 'weave'"):
        check_device("runtime", "weave")
    with pytest.raises(DeviceError, match=r"--threads 4 applies to cpp_standalone only, not 'runtime'"):
        check_device("runtime", "numpy", threads=4)
    with pytest.raises(DeviceError, match=r"--threads must be a whole number ≥ 0, got -1"):
        check_device("cpp_standalone", threads=-1)


def _pretend(monkeypatch, *, installed=(), which=None):
    real_find, real_which = importlib.util.find_spec, shutil.which
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name in installed else
                        (None if name in ("brian2cuda", "brian2genn") else real_find(name, *a)))
    monkeypatch.setattr(shutil, "which",
                        lambda cmd: which.get(cmd, real_which(cmd)) if which is not None else real_which(cmd))


def test_cuda_missing_parts_errors(monkeypatch):
    _pretend(monkeypatch)
    with pytest.raises(DeviceError, match=r"device 'cuda_standalone' is not usable here: brian2cuda is not "
                                          r"installed\. Fix: pip install -e \.\[cuda\]"):
        check_device("cuda_standalone")
    _pretend(monkeypatch, installed=("brian2cuda",), which={"nvcc": None})
    monkeypatch.setattr(devices.probe, "nvcc", lambda: None)
    with pytest.raises(DeviceError, match=r"the CUDA compiler nvcc was not found .* set CUDA_PATH"):
        check_device("cuda_standalone")
    monkeypatch.setattr(devices.probe, "nvcc", lambda: "/opt/cuda/bin/nvcc")
    monkeypatch.setattr(devices.probe, "gpus", lambda: ([], "nvidia-smi is not on PATH (no NVIDIA driver)"))
    with pytest.raises(DeviceError, match=r"no usable NVIDIA GPU: nvidia-smi is not on PATH"):
        check_device("cuda_standalone")
    monkeypatch.setattr(devices.probe, "gpus", lambda: (["NVIDIA H100, 9.0"], ""))
    monkeypatch.setattr(devices.probe, "has_curand", lambda nvcc: False)
    with pytest.raises(DeviceError, match=r"libcurand .* Fix: pip install nvidia-curand"):
        check_device("cuda_standalone")
    monkeypatch.setattr(devices.probe, "has_curand", lambda nvcc: True)
    status = device_status("cuda_standalone")
    assert status.usable and "NVIDIA H100" in status.reason


def test_genn_missing_parts_errors(monkeypatch):
    _pretend(monkeypatch)
    with pytest.raises(DeviceError, match=r"brian2genn is not installed; it pins brian2<2\.6 .* "
                                          r"docs/readme/devices-and-sweeps\.md"):
        check_device("genn")
    _pretend(monkeypatch, installed=("brian2genn",))
    monkeypatch.setattr(devices.probe, "brian2_version", lambda: "2.9.0")
    with pytest.raises(DeviceError, match=r"brian2genn needs brian2<2\.6 but brian2 2\.9\.0 is installed"):
        check_device("genn")
    monkeypatch.setattr(devices.probe, "brian2_version", lambda: "2.5.4")
    monkeypatch.delenv("GENN_PATH", raising=False)
    _pretend(monkeypatch, installed=("brian2genn",), which={"genn-buildmodel.sh": None})
    with pytest.raises(DeviceError, match=r"GeNN library was not found .* export GENN_PATH"):
        check_device("genn")


def test_genn_backend_follows_the_gpu_behavior(monkeypatch):
    """With every part there, genn uses GeNN's CUDA backend on a GPU and its CPU backend without."""
    _pretend(monkeypatch, installed=("brian2genn",))
    monkeypatch.setattr(devices.probe, "brian2_version", lambda: "2.5.4")
    monkeypatch.setenv("GENN_PATH", "/opt/genn")
    monkeypatch.setattr(devices.probe, "gpus", lambda: ([], "nvidia-smi is not on PATH (no NVIDIA driver)"))
    status = device_status("genn")
    assert status.usable and "GeNN at /opt/genn; GeNN's single-threaded CPU backend (no GPU" in status.reason
    assert "devices.genn.cuda_backend.cuda_path" not in devices.device_prefs("genn")
    monkeypatch.setattr(devices.probe, "gpus", lambda: (["NVIDIA H100, 9.0"], ""))
    monkeypatch.setattr(devices.probe, "nvcc", lambda: "/opt/cuda/bin/nvcc")
    assert device_status("genn").reason.endswith("CUDA backend on NVIDIA H100, 9.0")
    assert devices.device_prefs("genn")["devices.genn.cuda_backend.cuda_path"] == "/opt/cuda"


def test_drive_operations_are_named_for_brian2genn_behavior():
    """brian2genn runs a run_regularly operation only if "_run_regularly_" is in its name, and
    silently leaves out the others: the drive would then stay at zero on genn."""
    from brian2.groups.group import CodeRunner

    from pinglab_bio.model.spec import load_model
    from pinglab_bio.sim.build import build_network

    for model in ("ping_coba", "ping_cuba"):
        for portable in (False, True):
            built = build_network(load_model(model), dt=0.1 * brian2.ms, seed=0, portable=portable,
                                  duration=10 * brian2.ms)
            # run_regularly makes a plain CodeRunner (thresholders and resetters are subclasses)
            names = [c.name for o in built.network.objects for c in getattr(o, "contained_objects", [])
                     if type(c) is CodeRunner]
            assert names and all("_run_regularly_" in n for n in names), names


def test_cpp_without_compiler_errors(monkeypatch):
    _pretend(monkeypatch, which={"g++": None, "c++": None})
    with pytest.raises(DeviceError, match=r"device 'cpp_standalone' is not usable here: needs a C\+\+ "
                                          r"compiler \(g\+\+\)"):
        check_device("cpp_standalone")
    with pytest.raises(DeviceError, match=r"the cython target needs a C\+\+ compiler"):
        check_device("runtime", "cython")


def test_devices_command_behavior(capsys):
    assert main(["devices"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(lines) == {"runtime", "cpp_standalone", "cuda_standalone", "genn"}
    for status in list_devices():
        word = "usable" if status.usable else "not usable"
        assert lines[status.name].split(None, 1)[1].startswith(word)
    # The truth on this machine: no brian2cuda or no GPU means not usable, and the line says why.
    if importlib.util.find_spec("brian2cuda") is None:
        assert "not usable  brian2cuda is not installed" in lines["cuda_standalone"]
    if shutil.which("nvidia-smi") is None:
        assert "not usable" in lines["cuda_standalone"]
    if shutil.which("g++"):
        assert "not usable" not in lines["cpp_standalone"]


def test_build_folders_never_shared_behavior(tmp_path, monkeypatch):
    monkeypatch.setenv("PINGLAB_BIO_CACHE", str(tmp_path))
    first, lock1 = claim_folder("cpp_standalone", "abc")
    second, lock2 = claim_folder("cpp_standalone", "abc")   # held: the next slot
    assert first.name == "abc" and second.name == "abc-1" and first != second
    lock1.close()
    again, lock3 = claim_folder("cpp_standalone", "abc")    # released: reused
    assert again == first
    lock2.close()
    lock3.close()


def test_use_device_restores_runtime_behavior():
    brian2.prefs.codegen.target = "numpy"
    with use_device("runtime", target="cython") as session:
        assert brian2.prefs.codegen.target == "cython" and not session.standalone
    assert brian2.prefs.codegen.target == "numpy"
    before = list(brian2.prefs.codegen.cpp.extra_compile_args_gcc)
    with use_device("runtime", portable=True):
        assert "-ffp-contract=off" in brian2.prefs.codegen.cpp.extra_compile_args_gcc
    assert list(brian2.prefs.codegen.cpp.extra_compile_args_gcc) == before


def test_cython_runs_keep_object_names_behavior():
    """A second run in one process must give its objects the first run's names: the names are
    part of the generated code, and new names would compile every cython extension again. (The
    numpy target names objects the same way and needs no compiler.)"""
    from pinglab_bio.model.spec import load_model
    from pinglab_bio.sim.build import build_network

    spec = load_model("ping_coba")
    names = []
    for _ in range(2):
        with use_device("runtime", target="numpy"):
            built = build_network(spec, dt=0.1 * brian2.ms, seed=0)
            built.network.run(1 * brian2.ms, namespace={})
            # the clocks too: their names appear in the generated code (e.g. `_array_exc_clock_dt`)
            names.append(sorted({obj.name for obj in built.network.objects}
                                | {obj.clock.name for obj in built.network.objects}))
        del built  # the network of the finished run is garbage (reference cycles included)
    assert names[0] == names[1]
