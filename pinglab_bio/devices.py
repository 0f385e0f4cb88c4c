"""Brian2 devices picked by name, each used inside a context that restores the runtime after."""

from __future__ import annotations

import hashlib
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import brian2
from brian2.devices.device import get_device, runtime_device, set_device

from .errors import DeviceError

__all__ = ["DEVICES", "TARGETS", "DeviceSession", "use_device", "cache_dir", "check_device"]

DEVICES = ("runtime", "cpp_standalone")
TARGETS = ("numpy", "cython")


def cache_dir() -> Path:
    """Where compiled builds are kept (``$PINGLAB_BIO_CACHE`` or ``~/.cache/pinglab-bio``)."""
    root = os.environ.get("PINGLAB_BIO_CACHE") or Path.home() / ".cache" / "pinglab-bio"
    return Path(root)


@dataclass
class DeviceSession:
    """What a run needs to know about the device it is on."""

    name: str
    target: str | None
    build_dir: Path | None

    @property
    def standalone(self) -> bool:
        return self.name != "runtime"

    def finish(self, report_period=None):
        """Compile and run a standalone project (no-op on the runtime)."""
        if self.standalone:
            get_device().build(directory=str(self.build_dir), compile=True, run=True,
                               with_output=False)


def check_device(name: str, target: str = "numpy"):
    """Raise :class:`DeviceError` (one line: what is missing, how to get it) if unusable here."""
    if name not in DEVICES:
        raise DeviceError(f"unknown device '{name}'. Fix: use one of {', '.join(DEVICES)}")
    if name == "runtime" and target not in TARGETS:
        raise DeviceError(f"unknown runtime target '{target}'. Fix: use one of {', '.join(TARGETS)}")
    if (name == "cpp_standalone" or target == "cython") and shutil.which("g++") is None \
            and shutil.which("c++") is None:
        raise DeviceError(f"device '{name}' needs a C++ compiler and none was found on PATH. "
                          "Fix: install g++ (Debian: apt-get install g++) or use --device runtime")


@contextmanager
def use_device(name: str = "runtime", *, target: str = "numpy", build_key: str = ""):
    """Select a Brian2 device for the objects created inside the ``with`` block.

    Parameters
    ----------
    name : {"runtime", "cpp_standalone"}
    target : {"numpy", "cython"}
        Code generation target of the runtime device.
    build_key : str
        Text that identifies the generated project (model hash, dt, ...); standalone builds
        with the same key reuse one folder, so unchanged files are not compiled again.
    """
    check_device(name, target)
    if get_device() is not runtime_device:
        raise DeviceError(f"another Brian2 device ({type(get_device()).__name__}) is active. "
                          "Fix: finish that run first (one simulation at a time per process)")
    previous_target = brian2.prefs.codegen.target
    if name == "runtime":
        brian2.prefs.codegen.target = target
        try:
            yield DeviceSession(name, target, None)
        finally:
            brian2.prefs.codegen.target = previous_target
        return
    key = hashlib.sha256(build_key.encode()).hexdigest()[:16]
    build_dir = cache_dir() / "build" / name / key
    build_dir.mkdir(parents=True, exist_ok=True)
    set_device(name, directory=str(build_dir), build_on_run=False)
    try:
        yield DeviceSession(name, None, build_dir)
    finally:
        get_device().reinit()
        set_device(runtime_device)
        brian2.prefs.codegen.target = previous_target
