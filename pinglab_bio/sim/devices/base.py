"""What every device shares: its status, its session, build folders and preferences.

A device is a class (one per Brian2 device, like Brian2's own ``Device`` subclasses) that owns
its quirks: whether it is usable here and why not, the preferences it runs with, whether it
compiles a project, whether it can rerun a compiled binary with new values, whether it can
seed Brian2's generator, and which clock its templates read.
"""

from __future__ import annotations

import fcntl
import hashlib
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import DeviceError
from . import probe

__all__ = ["Device", "DeviceStatus", "DeviceSession", "PORTABLE_GCC_FLAGS", "build_folder", "claim_folder",
           "preferences", "deactivate", "stable_clock_order"]

_MAX_SLOTS = 64

# Compiler flags for bit-reproducible C++: Brian2's defaults add -ffast-math and -march=native,
# which let the compiler reorder floating-point operations and contract a*b+c into one fused
# multiply-add; numpy does neither, so the two devices would differ in the last bit.
PORTABLE_GCC_FLAGS = ["-w", "-O3", "-fno-fast-math", "-ffp-contract=off"]


@dataclass
class DeviceStatus:
    """Whether a device is usable on this machine, and if not, why (one line)."""

    name: str
    usable: bool
    reason: str
    details: dict = field(default_factory=dict)


def build_folder(device: str, build_key: str) -> str:
    """The hash naming a build folder: device, Brian2 version and the caller's key."""
    text = f"{device}|brian2 {probe.brian2_version()}|{build_key}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def claim_folder(device: str, key: str) -> tuple[Path, object]:
    """A build folder for ``key`` that no other run holds, and the open lock that holds it."""
    root = probe.cache_dir() / "build" / device
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


@contextmanager
def preferences(values: dict):
    """Set Brian2 preferences for the block and restore them after."""
    import brian2

    old = {key: brian2.prefs[key] for key in values}
    try:
        for key, value in values.items():
            brian2.prefs[key] = value
        yield
    finally:
        for key, value in old.items():
            brian2.prefs[key] = value


class Device:
    """One Brian2 device. Subclasses set the class attributes and override what differs."""

    #: the name users pass (``--device``)
    name = ""
    #: generates and compiles a project (False: the runtime)
    standalone = True
    #: a compiled project can be rerun with new values (``run_args``) without a new build
    compiles_once = False
    #: Brian2's ``seed()`` reaches the generator the device uses
    seeds_brian2 = True
    #: class name of the Brian2 device whose templates read ``defaultclock`` directly
    default_clock_device: str | None = None
    #: accepts ``--threads N``
    threads = False
    #: what a first build compiles, and how long that took on the machines it was measured on
    language = "C++"
    first_compile = "about 10–20 s"

    def status(self, target: str = "numpy") -> DeviceStatus:
        raise NotImplementedError

    def prefs(self, *, threads: int | None = None, portable: bool = False) -> dict:
        """The Brian2 preferences the device runs with (they also enter the build key)."""
        return {"codegen.cpp.extra_compile_args_gcc": list(PORTABLE_GCC_FLAGS)} if portable else {}

    def activate(self, build_dir: Path):
        """Make this the current Brian2 device, generating its project into ``build_dir``."""
        from brian2.devices.device import set_device

        set_device(self.name, directory=str(build_dir), build_on_run=False)

    def finish(self, session: "DeviceSession"):
        """After ``Network.run``: compile the project and run the binary."""
        session.compile()
        session.run_binary()


@dataclass
class DeviceSession:
    """What a run needs to know about the device it is on."""

    device: Device
    target: str | None
    build_dir: Path | None
    threads: int | None = None
    timers: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.device.name

    @property
    def standalone(self) -> bool:
        return self.device.standalone

    def seed(self, seed: int):
        """Seed Brian2's random generator for this run.

        brian2genn cannot seed its generator: runs there are reproducible with
        ``--portable-random`` only (every number drawn on the CPU from the seed).
        """
        if self.device.seeds_brian2:
            import brian2

            brian2.seed(seed)

    def finish(self):
        """Compile and run a standalone project (no-op on the runtime)."""
        self.device.finish(self)

    def compile(self):
        """Generate and compile the standalone project without running it.

        An unchanged project compiles nothing: the generated files are written in a fixed order
        (see :func:`stable_clock_order`), so ``make`` finds every object file up to date. Before a
        first compile of a build folder (no binary yet) one line on stderr says that it is coming.
        """
        from brian2.devices.device import get_device

        device = get_device()
        stable_clock_order(device)
        if self.build_dir is not None and not (Path(self.build_dir) / "main").is_file():
            print(f"compiling {self.device.language} for this model (first run only; "
                  f"{self.device.first_compile} on a few cores)", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            device.build(directory=str(self.build_dir), compile=True, run=False, with_output=False)
        except RuntimeError as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise DeviceError(f"{self.name} could not compile the generated project in {self.build_dir}: "
                              f"{first} Fix: read the compiler's messages above (or run the build "
                              "again with PINGLAB_BIO_DEBUG=1), or use --device runtime") from None
        self.timers["compile_s"] = time.perf_counter() - t0

    def run_binary(self, run_args: dict | None = None, results: str = "results"):
        """Run the compiled binary once; ``run_args`` maps ``group.var`` views to new values."""
        from brian2.devices.device import get_device

        t0 = time.perf_counter()
        device = get_device()
        device.run(directory=str(self.build_dir), results_directory=results, with_output=False,
                   run_args=run_args or {})
        self.timers["binary_s"] = time.perf_counter() - t0
        loop = getattr(device, "_last_run_time", None)
        if loop is not None:
            self.timers["loop_s"] = float(loop)  # the simulation loop alone, timed by the binary


def stable_clock_order(device) -> None:
    """Put the clock resets that Brian2 queues for ``main.cpp`` in one order, by clock name.

    Brian2's standalone device resets each clock of a network (``timestep`` and ``t``) by
    iterating over a set of Clock objects, whose order follows their memory addresses and so
    changes from process to process. ``main.cpp`` then differs in the order of a few
    independent assignments, and ``make`` recompiles and relinks it (about 2 s) although
    nothing changed. Sorting each run of consecutive clock resets by clock name leaves the
    program's meaning unchanged (each line sets a different variable) and makes the text stable;
    so does sorting the clocks that a run adds without code (see :func:`_sorted_idle_clocks`).
    """
    queue = getattr(device, "main_queue", None)
    if not queue:
        return

    def clock_of(entry):
        kind, args = entry
        if kind != "set_by_single_value" or not isinstance(args, tuple) or not args:
            return None
        name = str(args[0])
        for suffix in ("_timestep", "_t"):
            if name.endswith(suffix) and "clock" in name[: -len(suffix)]:
                return name[: -len(suffix)]
        return None

    out, run = [], []
    for entry in list(queue) + [None]:
        clock = clock_of(entry) if entry is not None else None
        if clock is not None:
            run.append((clock, len(run), entry))
            continue
        out.extend(e for _, _, e in sorted(run, key=lambda r: (r[0], r[1])))
        run = []
        if entry is not None:
            out.append(entry)
    queue[:] = out
    for kind, args in queue:
        if kind == "run_network" and isinstance(args, tuple) and len(args) == 2 and isinstance(args[1], list):
            args[1][:] = _sorted_idle_clocks(args[1])


def _sorted_idle_clocks(lines: list) -> list:
    """Consecutive ``network.add(&clock, NULL);`` lines (clocks with no code, also queued from a
    set) sorted by text; the C++ network keeps its clocks in a set, so their order is moot."""
    out, run = [], []
    for line in list(lines) + [None]:
        if isinstance(line, str) and ".add(&" in line and line.endswith(", NULL);"):
            run.append(line)
            continue
        out.extend(sorted(run))
        run = []
        if line is not None:
            out.append(line)
    return out


def deactivate(previous_target: str, previous_dt):
    """Back to the runtime device, with the target and default clock of before."""
    import brian2
    from brian2.devices.device import get_device, runtime_device, set_device

    get_device().reinit()
    set_device(runtime_device)
    brian2.prefs.codegen.target = previous_target
    brian2.defaultclock.dt_ = previous_dt
