"""Brian2's ``cpp_standalone``: one generated C++ project, compiled once and rerun with new values."""

from __future__ import annotations

import shutil

from . import probe
from .base import Device, DeviceStatus

__all__ = ["CppStandalone"]


class CppStandalone(Device):
    name = "cpp_standalone"
    compiles_once = True
    threads = True

    def status(self, target: str = "numpy") -> DeviceStatus:
        if probe.compiler() is None:
            return DeviceStatus(self.name, False, "needs a C++ compiler (g++) and none is on PATH. "
                                                  "Fix: apt-get install g++ or use --device runtime")
        if shutil.which("make") is None:
            return DeviceStatus(self.name, False, "needs make and it is not on PATH. "
                                                  "Fix: apt-get install make")
        return DeviceStatus(self.name, True, f"compiler {probe.compiler()}; --threads N for OpenMP",
                            {"compiler": probe.compiler()})

    def prefs(self, *, threads: int | None = None, portable: bool = False) -> dict:
        return {"devices.cpp_standalone.openmp_threads": int(threads or 0),
                **super().prefs(threads=threads, portable=portable)}
