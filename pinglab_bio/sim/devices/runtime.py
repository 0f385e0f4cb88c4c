"""Brian2's runtime device: numpy or Cython code run from Python; nothing to compile by hand."""

from __future__ import annotations

import importlib.util

from . import probe
from .base import Device, DeviceStatus

__all__ = ["Runtime", "TARGETS"]

TARGETS = ("numpy", "cython")


class Runtime(Device):
    name = "runtime"
    standalone = False

    def status(self, target: str = "numpy") -> DeviceStatus:
        if target == "numpy":
            return DeviceStatus(self.name, True, "numpy target: always available")
        if importlib.util.find_spec("Cython") is None:
            return DeviceStatus(self.name, False, "the cython target needs Cython. Fix: pip install cython "
                                                  "or use --target numpy")
        if probe.compiler() is None:
            return DeviceStatus(self.name, False, "the cython target needs a C++ compiler (g++) and none is "
                                                  "on PATH. Fix: apt-get install g++ or use --target numpy")
        return DeviceStatus(self.name, True, "numpy and cython targets available")

    def finish(self, session):
        pass  # Network.run has simulated already
