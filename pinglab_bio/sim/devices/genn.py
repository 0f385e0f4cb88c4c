"""brian2genn's ``genn``: GeNN builds, compiles and runs inside ``Network.run``.

brian2genn pins ``brian2<2.6`` and numpy 1, so it lives in an environment of its own. It cannot
seed its random generator (runs are reproducible with ``--portable-random`` only) and cannot
rerun a compiled model with new values.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from . import probe
from .base import Device, DeviceStatus

__all__ = ["GeNN", "genn_backend"]


def genn_backend() -> tuple[str | None, str]:
    """(GPU, "") when GeNN can use its CUDA backend here, else (None, why not).

    Without an NVIDIA GPU and nvcc, brian2genn runs on GeNN's single-threaded CPU backend
    (``genn-buildmodel.sh -c``), which needs only g++.
    """
    gpus, why = probe.gpus()
    if not gpus:
        return None, f"no GPU: {why}"
    if probe.nvcc() is None:
        return None, "no GPU backend: nvcc not found"
    return gpus[0], ""


class GeNN(Device):
    name = "genn"
    seeds_brian2 = False
    default_clock_device = "GeNNDevice"

    def status(self, target: str = "numpy") -> DeviceStatus:
        if importlib.util.find_spec("brian2genn") is None:
            return DeviceStatus(self.name, False, "brian2genn is not installed; it pins brian2<2.6 and "
                                                  "numpy<2, so it needs an environment of its own. Fix: see "
                                                  "'genn' in docs/readme/devices-and-sweeps.md")
        version = probe.brian2_version()
        major, minor = (int(x) for x in version.split(".")[:2])
        if (major, minor) >= (2, 6):
            return DeviceStatus(self.name, False, f"brian2genn needs brian2<2.6 but brian2 {version} "
                                                  "is installed. Fix: use a separate environment with "
                                                  "brian2 2.5 (see docs/readme/devices-and-sweeps.md)")
        genn = os.environ.get("GENN_PATH")
        if not genn and shutil.which("genn-buildmodel.sh") is None:
            return DeviceStatus(self.name, False, "the GeNN library was not found ($GENN_PATH unset and "
                                                  "genn-buildmodel.sh not on PATH). Fix: install GeNN 4 and "
                                                  "export GENN_PATH")
        where = genn or shutil.which("genn-buildmodel.sh")
        gpu, why = genn_backend()
        backend = f"CUDA backend on {gpu}" if gpu else f"GeNN's single-threaded CPU backend ({why})"
        return DeviceStatus(self.name, True, f"brian2genn with GeNN at {where}; {backend}")

    def prefs(self, *, threads: int | None = None, portable: bool = False) -> dict:
        values = {}
        gpu, _ = genn_backend()
        if gpu:  # brian2genn finds the toolkit through this preference or $CUDA_PATH
            values["devices.genn.cuda_backend.cuda_path"] = str(Path(probe.nvcc()).resolve().parent.parent)
        return {**values, **super().prefs(threads=threads, portable=portable)}

    def activate(self, build_dir):
        import brian2genn  # noqa: F401  (registers the device)
        from brian2.devices.device import set_device


        # brian2genn only builds from within the run statement (it refuses code queued before a
        # run once the run is recorded), so it builds on run.
        gpu, _ = genn_backend()
        set_device(self.name, directory=str(build_dir), build_on_run=True, with_output=False,
                   use_GPU=bool(gpu))

    def finish(self, session):
        pass  # brian2genn built, compiled and ran inside Network.run
