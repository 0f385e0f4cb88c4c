"""Brian2 devices picked by name, each used inside a context that restores the runtime after.

Devices
-------
``runtime``
    Brian2's runtime device; ``--target numpy`` (no compiler) or ``--target cython``.
``cpp_standalone``
    Generated C++ project, compiled with the system compiler; ``--threads N`` uses OpenMP.
``cuda_standalone``
    brian2cuda (``pip install -e .[cuda]``, Python ≥ 3.12), CUDA toolkit (nvcc) and an NVIDIA GPU.
``genn``
    brian2genn and the GeNN library; brian2genn pins ``brian2<2.6`` and numpy 1, so it needs an
    environment of its own (see docs/readme/devices-and-sweeps.md).

Every standalone run gets a build folder of its own under ``cache_dir()/build/<device>/``,
named by a hash of everything that shapes the generated code (model text and overrides, dt,
sizes, duration, device settings, Brian2 version). A folder is held with an exclusive lock for
the whole run; a second run with the same key takes the next free slot (``<key>-1``, ...), so two
runs at once never share a folder, while a later run with an unchanged model finds the compiled
project and recompiles nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import brian2
from brian2.devices.device import get_device, runtime_device, set_device

from ..errors import DeviceError

__all__ = ["DEVICES", "TARGETS", "STANDALONE_DEVICES", "DeviceSession", "DeviceStatus", "use_device",
           "cache_dir", "check_device", "device_status", "list_devices", "build_folder", "clock_arguments",
           "PORTABLE_GCC_FLAGS"]

DEVICES = ("runtime", "cpp_standalone", "cuda_standalone", "genn")
TARGETS = ("numpy", "cython")
STANDALONE_DEVICES = ("cpp_standalone", "cuda_standalone", "genn")
_MAX_SLOTS = 64

# Compiler flags for bit-reproducible C++: Brian2's defaults add -ffast-math and -march=native,
# which let the compiler reorder floating-point operations and contract a*b+c into one fused
# multiply-add; numpy does neither, so the two devices would differ in the last bit.
PORTABLE_GCC_FLAGS = ["-w", "-O3", "-fno-fast-math", "-ffp-contract=off"]


def cache_dir() -> Path:
    """Where compiled builds are kept (``$PINGLAB_BIO_CACHE`` or ``~/.cache/pinglab-bio``)."""
    root = os.environ.get("PINGLAB_BIO_CACHE") or Path.home() / ".cache" / "pinglab-bio"
    return Path(root)


@dataclass
class DeviceStatus:
    """Whether a device is usable on this machine, and if not, why (one line)."""

    name: str
    usable: bool
    reason: str
    details: dict = field(default_factory=dict)


def _compiler() -> str | None:
    return shutil.which("g++") or shutil.which("c++")


def _nvcc() -> str | None:
    found = shutil.which("nvcc")
    if found:
        return found
    for root in (os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if root and (Path(root) / "bin" / "nvcc").is_file():
            return str(Path(root) / "bin" / "nvcc")
    return None


def _gpus() -> tuple[list[str], str]:
    """Names and compute capabilities of the NVIDIA GPUs nvidia-smi lists, or a reason why none."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return [], "nvidia-smi is not on PATH (no NVIDIA driver)"
    try:
        out = subprocess.run([smi, "--query-gpu=name,compute_cap", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return [], f"nvidia-smi failed ({type(err).__name__})"
    gpus = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    if out.returncode != 0 or not gpus:
        return [], "nvidia-smi lists no GPU"
    return gpus, ""


def _curand_dirs() -> tuple[list[str], list[str]]:
    """(include, lib) folders of the ``nvidia-curand`` wheel, when it is installed."""
    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return [], []
    for base in spec.submodule_search_locations:
        root = Path(base) / "curand"
        if (root / "lib").is_dir():
            return [str(root / "include")], [str(root / "lib")]
        root = Path(base) / "cu13"
        if (root / "lib").is_dir() and list((root / "lib").glob("libcurand*")):
            return [str(root / "include")], [str(root / "lib")]
    return [], []


def _has_curand(nvcc: str) -> bool:
    root = Path(nvcc).resolve().parent.parent
    if any(root.glob("lib*/libcurand.so*")) or any(root.glob("targets/*/lib/libcurand.so*")):
        return True
    return bool(_curand_dirs()[1])


def device_status(name: str, target: str = "numpy") -> DeviceStatus:
    """Check one device without starting it; see :class:`DeviceStatus`."""
    brian_version = brian2.__version__
    if name == "runtime":
        if target == "numpy":
            return DeviceStatus(name, True, "numpy target: always available")
        if importlib.util.find_spec("Cython") is None:
            return DeviceStatus(name, False, "the cython target needs Cython. Fix: pip install cython "
                                             "or use --target numpy")
        if _compiler() is None:
            return DeviceStatus(name, False, "the cython target needs a C++ compiler (g++) and none is "
                                             "on PATH. Fix: apt-get install g++ or use --target numpy")
        return DeviceStatus(name, True, "numpy and cython targets available")
    if name == "cpp_standalone":
        if _compiler() is None:
            return DeviceStatus(name, False, "needs a C++ compiler (g++) and none is on PATH. "
                                             "Fix: apt-get install g++ or use --device runtime")
        if shutil.which("make") is None:
            return DeviceStatus(name, False, "needs make and it is not on PATH. Fix: apt-get install make")
        return DeviceStatus(name, True, f"compiler {_compiler()}; --threads N for OpenMP",
                            {"compiler": _compiler()})
    if name == "cuda_standalone":
        if importlib.util.find_spec("brian2cuda") is None:
            return DeviceStatus(name, False, "brian2cuda is not installed. Fix: pip install -e .[cuda] "
                                             "(needs Python ≥ 3.12: brian2cuda 1.0b1 pins brian2 2.10.1)")
        nvcc = _nvcc()
        if nvcc is None:
            return DeviceStatus(name, False, "the CUDA compiler nvcc was not found (PATH, $CUDA_PATH, "
                                             "/usr/local/cuda). Fix: install the CUDA toolkit and set "
                                             "CUDA_PATH")
        if _compiler() is None:
            return DeviceStatus(name, False, "needs a host C++ compiler (g++) for nvcc. "
                                             "Fix: apt-get install g++")
        gpus, why = _gpus()
        if not gpus:
            return DeviceStatus(name, False, f"no usable NVIDIA GPU: {why}. Fix: run on a machine "
                                             "with an NVIDIA GPU and driver")
        if not _has_curand(nvcc):
            return DeviceStatus(name, False, "libcurand was found neither in the CUDA toolkit nor in "
                                             "the nvidia-curand package. Fix: pip install nvidia-curand")
        return DeviceStatus(name, True, f"GPU {gpus[0]}; nvcc {nvcc}", {"gpus": gpus, "nvcc": nvcc})
    if name == "genn":
        if importlib.util.find_spec("brian2genn") is None:
            return DeviceStatus(name, False, "brian2genn is not installed; it pins brian2<2.6 and "
                                             "numpy<2, so it needs an environment of its own. Fix: see "
                                             "'genn' in docs/readme/devices-and-sweeps.md")
        major, minor = (int(x) for x in brian_version.split(".")[:2])
        if (major, minor) >= (2, 6):
            return DeviceStatus(name, False, f"brian2genn needs brian2<2.6 but brian2 {brian_version} "
                                             "is installed. Fix: use a separate environment with "
                                             "brian2 2.5 (see docs/readme/devices-and-sweeps.md)")
        genn = os.environ.get("GENN_PATH")
        if not genn and shutil.which("genn-buildmodel.sh") is None:
            return DeviceStatus(name, False, "the GeNN library was not found ($GENN_PATH unset and "
                                             "genn-buildmodel.sh not on PATH). Fix: install GeNN 4 and "
                                             "export GENN_PATH")
        where = genn or shutil.which("genn-buildmodel.sh")
        gpu, why = genn_backend()
        backend = (f"CUDA backend on {gpu}" if gpu else
                   f"GeNN's single-threaded CPU backend ({why})")
        return DeviceStatus(name, True, f"brian2genn with GeNN at {where}; {backend}")
    raise DeviceError(f"unknown device '{name}'. Fix: use one of {', '.join(DEVICES)}")


def list_devices() -> list[DeviceStatus]:
    """The status of every device (``runtime`` reported with its cython target)."""
    return [device_status(name, "cython" if name == "runtime" else "numpy") for name in DEVICES]


def check_device(name: str, target: str = "numpy", threads: int | None = None):
    """Raise :class:`DeviceError` (one line: what is missing, how to get it) if unusable here."""
    if name not in DEVICES:
        raise DeviceError(f"unknown device '{name}'. Fix: use one of {', '.join(DEVICES)}")
    if name == "runtime" and target not in TARGETS:
        raise DeviceError(f"unknown runtime target '{target}'. Fix: use one of {', '.join(TARGETS)}")
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise DeviceError(f"--threads must be a whole number ≥ 0, got {threads!r}. Fix: e.g. --threads 4")
        if threads > 1 and name != "cpp_standalone":
            raise DeviceError(f"--threads {threads} applies to cpp_standalone only, not '{name}'. "
                              "Fix: add --device cpp_standalone or drop --threads")
    status = device_status(name, target)
    if not status.usable:
        raise DeviceError(f"device '{name}'{' target ' + target if name == 'runtime' else ''} is not "
                          f"usable here: {status.reason}")


def clock_arguments(dt) -> dict:
    """``{"dt": dt}`` for an object's own clock, or the default clock where a device needs it.

    brian2cuda's synapse templates (and brian2genn) read ``defaultclock`` directly, so there
    every object runs on the default clock, set to ``dt`` here (the device context restores it).
    """
    if type(get_device()).__name__ in ("CUDAStandaloneDevice", "GeNNDevice"):
        brian2.defaultclock.dt = dt
        return {"clock": brian2.defaultclock}
    return {"dt": dt}


def build_folder(device: str, build_key: str) -> str:
    """The hash naming a build folder: device, Brian2 version and the caller's key."""
    text = f"{device}|brian2 {brian2.__version__}|{build_key}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _claim_folder(device: str, key: str) -> tuple[Path, object]:
    root = cache_dir() / "build" / device
    root.mkdir(parents=True, exist_ok=True)
    for slot in range(_MAX_SLOTS):
        folder = root / (key if slot == 0 else f"{key}-{slot}")
        lock = open(root / f"{folder.name}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        folder.mkdir(exist_ok=True)
        return folder, lock
    raise DeviceError(f"all {_MAX_SLOTS} build folders for key {key} under {root} are in use. "
                      "Fix: wait for running simulations or set PINGLAB_BIO_CACHE to another folder")


@dataclass
class DeviceSession:
    """What a run needs to know about the device it is on."""

    name: str
    target: str | None
    build_dir: Path | None
    threads: int | None = None
    timers: dict = field(default_factory=dict)

    @property
    def standalone(self) -> bool:
        return self.name != "runtime"

    def seed(self, seed: int):
        """Seed Brian2's random generator for this run.

        brian2genn cannot seed its generator: runs there are reproducible with
        ``--portable-random`` only (every number drawn on the CPU from the seed).
        """
        if self.name != "genn":
            brian2.seed(seed)

    def finish(self):
        """Compile and run a standalone project (no-op on the runtime)."""
        if self.name == "genn":
            return  # brian2genn builds, compiles and runs inside Network.run (build_on_run)
        if self.standalone:
            self.compile()
            self.run_binary()

    def compile(self):
        """Generate and compile the standalone project without running it."""
        import time

        t0 = time.perf_counter()
        try:
            get_device().build(directory=str(self.build_dir), compile=True, run=False, with_output=False)
        except RuntimeError as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise DeviceError(f"{self.name} could not compile the generated project in {self.build_dir}: "
                              f"{first} Fix: read the compiler's messages above (or run the build "
                              "again with PINGLAB_BIO_DEBUG=1), or use --device runtime") from None
        self.timers["compile_s"] = time.perf_counter() - t0

    def run_binary(self, run_args: dict | None = None, results: str = "results"):
        """Run the compiled binary once; ``run_args`` maps ``group.var`` views to new values."""
        import time

        t0 = time.perf_counter()
        device = get_device()
        device.run(directory=str(self.build_dir), results_directory=results, with_output=False,
                   run_args=run_args or {})
        self.timers["binary_s"] = time.perf_counter() - t0
        loop = getattr(device, "_last_run_time", None)
        if loop is not None:
            self.timers["loop_s"] = float(loop)  # the simulation loop alone, timed by the binary


def _cuda_prefs(portable: bool) -> dict:
    """Preferences that let brian2cuda 1.0b1 build on a CUDA 12/13 toolkit (C++17)."""
    gpus, _ = _gpus()
    capability = float(gpus[0].split(",")[-1]) if gpus else 9.0
    nvcc_args = ["-w", "-std=c++17"] if portable else ["-w", "-use_fast_math", "-std=c++17"]
    gcc = [a for a in brian2.prefs.codegen.cpp.extra_compile_args_gcc if not a.startswith("-std=")]
    include, lib = _curand_dirs()
    return {
        "devices.cuda_standalone.cuda_backend.extra_compile_args_nvcc": nvcc_args,
        "codegen.cpp.extra_compile_args_gcc": gcc + ["-std=c++17"],
        "devices.cuda_standalone.cuda_backend.detect_gpus": False,
        "devices.cuda_standalone.cuda_backend.gpu_id": 0,
        "devices.cuda_standalone.cuda_backend.compute_capability": capability,
        "codegen.cpp.include_dirs": list(brian2.prefs.codegen.cpp.include_dirs) + include,
        "codegen.cpp.library_dirs": list(brian2.prefs.codegen.cpp.library_dirs) + lib,
        "codegen.cpp.runtime_library_dirs": list(brian2.prefs.codegen.cpp.runtime_library_dirs) + lib,
    }


@contextmanager
def _prefs(values: dict):
    old = {key: brian2.prefs[key] for key in values}
    try:
        for key, value in values.items():
            brian2.prefs[key] = value
        yield
    finally:
        for key, value in old.items():
            brian2.prefs[key] = value


def genn_backend() -> tuple[str | None, str]:
    """(GPU, "") when GeNN can use its CUDA backend here, else (None, why not).

    Without an NVIDIA GPU and nvcc, brian2genn runs on GeNN's single-threaded CPU backend
    (``genn-buildmodel.sh -c``), which needs only g++.
    """
    gpus, why = _gpus()
    if not gpus:
        return None, f"no GPU: {why}"
    nvcc = _nvcc()
    if nvcc is None:
        return None, "no GPU backend: nvcc not found"
    return gpus[0], ""


def device_prefs(name: str, *, threads: int | None = None, portable: bool = False) -> dict:
    """The Brian2 preferences a device is run with (they also enter the build key)."""
    values = {}
    if name == "cpp_standalone":
        values["devices.cpp_standalone.openmp_threads"] = int(threads or 0)
        if portable:
            values["codegen.cpp.extra_compile_args_gcc"] = list(PORTABLE_GCC_FLAGS)
    elif name == "cuda_standalone":
        values.update(_cuda_prefs(portable))
    elif name == "runtime" and portable:
        values["codegen.cpp.extra_compile_args_gcc"] = list(PORTABLE_GCC_FLAGS)
    elif name == "genn":
        gpu, _ = genn_backend()
        if gpu:  # brian2genn finds the toolkit through this preference or $CUDA_PATH
            values["devices.genn.cuda_backend.cuda_path"] = str(Path(_nvcc()).resolve().parent.parent)
        if portable:
            values["codegen.cpp.extra_compile_args_gcc"] = list(PORTABLE_GCC_FLAGS)
    return values


@contextmanager
def use_device(name: str = "runtime", *, target: str = "numpy", build_key: str = "",
               threads: int | None = None, portable: bool = False):
    """Select a Brian2 device for the objects created inside the ``with`` block.

    Parameters
    ----------
    name : {"runtime", "cpp_standalone", "cuda_standalone", "genn"}
    target : {"numpy", "cython"}
        Code generation target of the runtime device.
    build_key : str
        Text that identifies the generated project (model hash, dt, sizes, ...); standalone
        builds with the same key reuse one folder, so unchanged files are not compiled again.
    threads : int, optional
        OpenMP threads of ``cpp_standalone`` (0 or None: no OpenMP).
    portable : bool
        Compile without fast-math and fused multiply-add, so that generated C++ computes the same
        bits as numpy (see :data:`PORTABLE_GCC_FLAGS`).
    """
    check_device(name, target, threads)
    if get_device() is not runtime_device:
        raise DeviceError(f"another Brian2 device ({type(get_device()).__name__}) is active. "
                          "Fix: finish that run first (one simulation at a time per process)")
    previous_target = brian2.prefs.codegen.target
    previous_dt = brian2.defaultclock.dt_
    values = device_prefs(name, threads=threads, portable=portable)
    import gc

    # Brian2 names objects uniquely among the live ones (a second network would be "network_1",
    # its code objects "..._codeobject_1"), and names are part of the generated code: new names
    # mean new cython extensions or standalone files to compile. Collecting the previous run's
    # unreachable objects (held in reference cycles) first keeps the names, and so the compiled
    # code, unchanged.
    gc.collect()
    if name == "runtime":
        brian2.prefs.codegen.target = target
        try:
            with _prefs(values):
                yield DeviceSession(name, target, None)
        finally:
            brian2.prefs.codegen.target = previous_target
        return
    if name == "cuda_standalone":
        import brian2cuda  # noqa: F401  (registers the device)
    elif name == "genn":
        import brian2genn  # noqa: F401
    key = build_folder(name, f"{build_key}|{sorted((k, repr(v)) for k, v in values.items())}")
    build_dir, lock = _claim_folder(name, key)
    try:
        with _prefs(values):
            if name == "genn":
                # brian2genn only builds from within the run statement (it refuses code queued
                # before a run once the run is recorded), so it builds on run.
                gpu, _ = genn_backend()
                set_device(name, directory=str(build_dir), build_on_run=True, with_output=False,
                           use_GPU=bool(gpu))
            else:
                set_device(name, directory=str(build_dir), build_on_run=False)
            try:
                yield DeviceSession(name, None, build_dir, threads)
            finally:
                get_device().reinit()
                set_device(runtime_device)
                brian2.prefs.codegen.target = previous_target
                brian2.defaultclock.dt_ = previous_dt
    finally:
        lock.close()
