"""Brian2 devices by name: a registry of device classes, each owning its quirks.

``runtime`` (numpy or Cython), ``cpp_standalone``, ``cuda_standalone`` (brian2cuda) and
``genn`` (brian2genn). To add a device, write a :class:`~pinglab_bio.sim.devices.base.Device`
subclass in a module of its own and list it in :data:`REGISTRY`.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

from ...errors import DeviceError
from .base import (
    PORTABLE_GCC_FLAGS,
    Device,
    DeviceSession,
    DeviceStatus,
    build_folder,
    claim_folder,
    deactivate,
    preferences,
)
from .cpp import CppStandalone
from .cuda import CudaStandalone
from .genn import GeNN, genn_backend
from .probe import cache_dir
from .runtime import TARGETS, Runtime

__all__ = ["REGISTRY", "DEVICES", "TARGETS", "Device", "DeviceSession", "DeviceStatus", "DeviceError",
           "use_device", "lookup", "cache_dir", "check_device", "device_status", "device_prefs",
           "list_devices", "build_folder", "claim_folder", "clock_arguments", "genn_backend",
           "PORTABLE_GCC_FLAGS"]

#: every device, by the name users pass
REGISTRY: dict[str, Device] = {d.name: d for d in (Runtime(), CppStandalone(), CudaStandalone(), GeNN())}
DEVICES = tuple(REGISTRY)


def lookup(name: str) -> Device:
    """The device called ``name``; DeviceError listing the valid names otherwise."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise DeviceError(f"unknown device '{name}'. Fix: use one of {', '.join(DEVICES)}") from None


def device_status(name: str, target: str = "numpy") -> DeviceStatus:
    """Check one device without starting it; see :class:`DeviceStatus`."""
    return lookup(name).status(target)


def device_prefs(name: str, *, threads: int | None = None, portable: bool = False) -> dict:
    """The Brian2 preferences a device is run with (they also enter the build key)."""
    return lookup(name).prefs(threads=threads, portable=portable)


def list_devices() -> list[DeviceStatus]:
    """The status of every device (``runtime`` reported with its cython target)."""
    return [d.status("cython" if not d.standalone else "numpy") for d in REGISTRY.values()]


def check_device(name: str, target: str = "numpy", threads: int | None = None):
    """Raise :class:`DeviceError` (one line: what is missing, how to get it) if unusable here."""
    device = lookup(name)
    if not device.standalone and target not in TARGETS:
        raise DeviceError(f"unknown runtime target '{target}'. Fix: use one of {', '.join(TARGETS)}")
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise DeviceError(f"--threads must be a whole number ≥ 0, got {threads!r}. Fix: e.g. --threads 4")
        if threads > 1 and not device.threads:
            raise DeviceError(f"--threads {threads} applies to cpp_standalone only, not '{name}'. "
                              "Fix: add --device cpp_standalone or drop --threads")
    status = device.status(target)
    if not status.usable:
        raise DeviceError(f"device '{name}'{' target ' + target if not device.standalone else ''} is not "
                          f"usable here: {status.reason}")


def clock_arguments(dt) -> dict:
    """``{"dt": dt}`` for an object's own clock, or the default clock where a device needs it.

    brian2cuda's synapse templates (and brian2genn) read ``defaultclock`` directly, so there
    every object runs on the default clock, set to ``dt`` here (the device context restores it).
    """
    import brian2
    from brian2.devices.device import get_device

    current = type(get_device()).__name__
    if any(d.default_clock_device == current for d in REGISTRY.values()):
        brian2.defaultclock.dt = dt
        return {"clock": brian2.defaultclock}
    return {"dt": dt}


def _other_brian2_objects() -> bool:
    """Whether a named Brian2 object lives besides those of Brian2's import (its default clock and
    magic network)."""
    from brian2.core.names import Nameable

    return any(obj is not None and getattr(obj, "name", None) not in ("defaultclock", "magicnetwork")
               for obj in (ref() for ref in list(Nameable.__instances__())))


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
    import brian2
    from brian2.devices.device import get_device, runtime_device

    check_device(name, target, threads)
    device = lookup(name)
    if get_device() is not runtime_device:
        raise DeviceError(f"another Brian2 device ({type(get_device()).__name__}) is active. "
                          "Fix: finish that run first (one simulation at a time per process)")
    previous_target = brian2.prefs.codegen.target
    previous_dt = brian2.defaultclock.dt_
    values = device.prefs(threads=threads, portable=portable)
    # Brian2 names objects uniquely among the live ones (a second network would be "network_1",
    # its code objects "..._codeobject_1"), and names are part of the generated code: new names
    # mean new cython extensions or standalone files to compile. Collecting the previous run's
    # unreachable objects (held in reference cycles) first keeps the names, and so the compiled
    # code, unchanged. A process with no Brian2 object but those of Brian2's import has nothing
    # to collect, and a full collection costs 0.07 s once Brian2 is loaded.
    if _other_brian2_objects():
        gc.collect()
    if not device.standalone:
        brian2.prefs.codegen.target = target
        try:
            with preferences(values):
                yield DeviceSession(device, target, None)
        finally:
            brian2.prefs.codegen.target = previous_target
        return
    key = build_folder(name, f"{build_key}|{sorted((k, repr(v)) for k, v in values.items())}")
    build_dir, lock = claim_folder(name, key)
    try:
        with preferences(values):
            device.activate(build_dir)
            try:
                yield DeviceSession(device, None, build_dir, threads)
            finally:
                deactivate(previous_target, previous_dt)
    finally:
        lock.close()
