"""Protocol scripts: a docstring naming the question, a ``PARAMETERS`` block, and ``run()``.

A protocol file in ``protocols/`` looks like::

    \"\"\"Which question it answers.\"\"\"
    from pinglab_bio.workflow.protocol import Param, main

    PARAMETERS = {"dt": Param("0.1 ms", "integration step", kind="time"), ...}

    def run(params, out):
        ...               # write files into the folder `out`
        return {"summary": "...", "metrics": {...}}

    if __name__ == "__main__":
        raise SystemExit(main(__file__))

Every entry of ``PARAMETERS`` becomes a CLI flag (``--dt``, ``--tau-gaba-values``); the
framework adds ``--out``, ``--set`` and ``--quiet``. Inputs are checked before a run folder is
created, and the folder is written atomically.

``python protocols/<name>.py ARGS`` and ``pinglab-bio run <name> ARGS`` both end in
:func:`run_from_argv`, inside :func:`run_command`, so they print the same lines and exit with the
same status.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from brian2.units.fundamentalunits import fail_for_dimension_mismatch

from ..errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PinglabError,
    SettingsError,
    printable,
    quiet_dependency_warnings,
)
from ..model.spec import check_run_settings, check_seed, load_model
from ..paths import find_protocol, import_script, list_protocols
from ..provenance import short_hash
from ..runs.folder import atomic_run_dir, final_of, write_json
from ..runs.result import default_run_dir
from ..units import parse_quantity

__all__ = ["Param", "ProtocolLog", "SettingsParser", "load_protocol", "protocol_parser",
           "parse_protocol_args",
           "run_protocol", "run_from_argv", "command_session", "run_command", "main",
           "simulation_parameters", "simulate_kwargs", "require_torch", "parse_overrides", "quick_exit"]

_KINDS = ("str", "int", "float", "time", "quantity", "quantity_list", "choice", "model", "device", "flag")


@dataclass(frozen=True)
class Param:
    """One protocol parameter: default, help text and kind (how the CLI value is checked)."""

    default: object
    help: str
    kind: str = "str"
    choices: tuple = ()
    unit: str = ""

    def parse(self, name: str, value):
        """Check and convert a CLI string; raise SettingsError naming the flag."""
        flag = "--" + name.replace("_", "-")
        if self.kind == "flag":
            return bool(value)
        if self.kind == "int":
            try:
                number = int(value)
            except (TypeError, ValueError):
                raise SettingsError(f"{flag} must be a whole number, got {value!r}. "
                                    f"Fix: e.g. {flag} 3") from None
            if number < 0:
                raise SettingsError(f"{flag} must be ≥ 0, got {number}. Fix: e.g. {flag} 3")
            return number
        if self.kind == "float":
            try:
                return float(value)
            except (TypeError, ValueError):
                raise SettingsError(f"{flag} must be a number, got {value!r}. Fix: e.g. {flag} 0.5") from None
        if self.kind in ("time", "quantity"):
            return self._quantity(flag, value)
        if self.kind == "quantity_list":
            items = [v for v in str(value).split(",") if v.strip()]
            if not items:
                raise SettingsError(f"{flag} needs at least one value, got {value!r}. "
                                    f"Fix: e.g. {flag} {self.default}")
            return [self._quantity(flag, v) for v in items]
        if self.kind == "choice" and value not in self.choices:
            raise SettingsError(f"{flag} must be one of {', '.join(self.choices)}, got {value!r}. "
                                f"Fix: e.g. {flag} {self.choices[0]}")
        return value

    def _quantity(self, flag, value):
        try:
            q = parse_quantity(value)
        except ValueError as err:
            raise SettingsError(f"{flag}: {err}. Fix: e.g. {flag} {self.default}") from None
        reference = parse_quantity("1 s") if self.kind == "time" else (
            parse_quantity(f"1 {self.unit}") if self.unit else None)
        if reference is not None:
            try:
                fail_for_dimension_mismatch(q, reference)
            except Exception:
                raise SettingsError(f"{flag} {value!r} has the wrong unit. Fix: e.g. {flag} {self.default}") \
                    from None
        return q


def load_protocol(name_or_path: str) -> ModuleType:
    """Import a protocol script by name (``ping_gamma``) or path."""
    path = find_protocol(name_or_path)
    if path is None:
        raise PinglabError(f"unknown protocol '{name_or_path}'. Fix: use one of "
                           f"{', '.join(list_protocols())} (see `pinglab-bio protocols`)")
    module = import_script(path, f"pinglab_protocol_{path.stem}")
    for attr in ("PARAMETERS", "run"):
        if not hasattr(module, attr):
            raise PinglabError(f"protocol file {path} has no {attr}. Fix: define {attr} (see "
                               "pinglab_bio/workflow/protocol.py)")
    module.PROTOCOL_NAME = path.stem
    return module


class SettingsParser(argparse.ArgumentParser):
    """An argument parser whose usage errors raise :class:`SettingsError` instead of exiting.

    argparse prints usage and calls ``sys.exit(2)`` on a bad flag; raising instead lets the
    caller report it as every other bad input: one line with a fix, and no folder written.
    Every parser of the command line and of the protocol framework is one of these.
    """

    def error(self, message):
        raise SettingsError(f"{message}. Fix: see `{self.prog} --help`")


def protocol_parser(module: ModuleType, prog: str) -> argparse.ArgumentParser:
    """The parser of a protocol's flags: one per ``PARAMETERS`` entry, and ``--out``/``--set``/``--quiet``."""
    doc = (module.__doc__ or "").strip()
    parser = SettingsParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, param in module.PARAMETERS.items():
        if param.kind == "flag":
            parser.add_argument("--" + name.replace("_", "-"), dest=name, default=None, action="store_true",
                                help=param.help)
            continue
        parser.add_argument("--" + name.replace("_", "-"), dest=name, default=None,
                            help=f"{param.help} (default: {param.default})")
    parser.add_argument("--out", default=None,
                        help="run folder to create (default: runs/<protocol>-<utc time>-<hash>)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a model entry, e.g. --set tau_gaba=12ms --set exc_to_inh=off")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    parser.add_argument("--allow-large", dest="allow_large", action="store_true",
                        help="run even past the step and memory limits (see docs/readme/safety.md)")
    return parser


def parse_overrides(items) -> dict:
    """``["tau_gaba=9ms", ...]`` → ``{"tau_gaba": "9ms"}``."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SettingsError(f"--set needs KEY=VALUE, got {item!r}. Fix: e.g. --set tau_gaba=12ms")
        overrides[key.strip()] = value.strip()
    return overrides


def parse_protocol_args(module: ModuleType, argv, prog: str) -> tuple[dict, dict]:
    """Parse and check CLI args; return ``(params, options)`` before anything is written."""
    ns = protocol_parser(module, prog).parse_args(argv)
    params = {}
    for name, param in module.PARAMETERS.items():
        raw = getattr(ns, name)
        params[name] = param.parse(name, param.default if raw is None else raw)
    params["overrides"] = parse_overrides(ns.overrides)
    if "seed" in params:
        params["seed"] = check_seed(params["seed"])
    if "dt" in params and "duration" in params:
        check_run_settings(params["dt"], params["duration"])
    if "model" in params:
        params["model_spec"] = load_model(params["model"], params["overrides"])
    params["allow_large"] = bool(ns.allow_large)
    if "model_spec" in params and "dt" in params and "duration" in params:
        from ..runs.result import check_analysis_window
        from ..sim.estimate import check_run_size, estimate_run

        dt_q, dur_q = check_run_settings(params["dt"], params["duration"])
        if "transient" in params:
            if not 0 <= float(params["transient"]) < float(dur_q):
                raise SettingsError(f"--transient {params['transient']} must lie in [0, --duration "
                                    f"{params['duration']}). Fix: use a shorter --transient or a longer "
                                    "--duration")
            check_analysis_window(dt_q, dur_q, params["transient"])
        check_run_size(estimate_run(params["model_spec"], dt=dt_q, duration=dur_q,
                                    portable=bool(params.get("portable_random"))),
                       allow_large=params["allow_large"])
    if "device" in params:
        from ..sim.devices import check_device

        check_device(params["device"], params.get("target", "numpy"), params.get("threads"))
    if hasattr(module, "check"):
        module.check(params)
    return params, {"out": ns.out, "quiet": ns.quiet}


def _json_params(params: dict) -> dict:
    return {k: (str(v) if not isinstance(v, (int, float, str, bool, type(None), dict)) else v)
            for k, v in params.items() if k != "model_spec"}


class ProtocolLog:
    """Where a protocol's progress lines go: stderr, or nowhere under ``--quiet``.

    A protocol receives one as ``log``; ``log.quiet`` tells it to leave out progress bars too.
    """

    def __init__(self, quiet: bool = False):
        self.quiet = bool(quiet)

    def __call__(self, *args, **kwargs) -> None:
        if not self.quiet:
            print(*args, file=sys.stderr, **kwargs)


def run_protocol(module: ModuleType, params: dict, *, out=None, quiet: bool = False,
                 runs_root: str | Path = "runs") -> tuple[Path, dict]:
    """Run a protocol into a fresh run folder; return ``(folder, returned dict)``."""
    name = module.PROTOCOL_NAME
    folder = Path(out) if out else default_run_dir(name, {"protocol": name, **_json_params(params)},
                                                   runs_root)
    log = ProtocolLog(quiet)
    started = time.perf_counter()
    with atomic_run_dir(folder, unique=not out) as tmp:  # a default name never collides
        folder = final_of(tmp) or folder
        returned = module.run(params, tmp, log=log) or {}
        write_json(tmp / "protocol.json", {"protocol": name, "parameters": _json_params(params),
                                           "wall_time_s": time.perf_counter() - started,
                                           "params_hash": short_hash(_json_params(params))})
    returned["wall_time_s"] = time.perf_counter() - started
    return folder, returned


def run_from_argv(protocol: str, argv, *, prog_prefix: str = "pinglab-bio run") -> int:
    """Run one protocol from command-line arguments and print what it found.

    Parameters
    ----------
    protocol : str
        Catalogue name (``ping_gamma``) or path of a protocol script.
    argv : list of str
        The protocol's flags (``--dt 0.05ms --seed 2 ...``); ``-h``/``--help`` prints them.
    prog_prefix : str
        Shown before the protocol's name in usage and error messages.

    Returns
    -------
    int
        :data:`~pinglab_bio.errors.EXIT_OK`. Bad input raises :class:`PinglabError` before any
        folder is written.
    """
    module = load_protocol(protocol)
    prog = f"{prog_prefix} {module.PROTOCOL_NAME}"
    if "-h" in argv or "--help" in argv:
        protocol_parser(module, prog).print_help()
        return EXIT_OK
    params, options = parse_protocol_args(module, argv, prog)
    folder, returned = run_protocol(module, params, out=options["out"], quiet=options["quiet"])
    if returned.get("summary"):
        print(returned["summary"])
    print(f"total wall time {returned['wall_time_s']:.1f} s")
    print(f"results: {folder}")
    if (folder / "report.html").is_file():
        print(f"report:  {folder / 'report.html'}")
    return EXIT_OK


class _Interrupts:
    """What the command's SIGINT handler saw."""

    def __init__(self):
        self.count = 0

    def __call__(self, signum, frame):
        self.count += 1
        raise KeyboardInterrupt


@contextmanager
def command_session():
    """Process-wide settings of one command, put back as they were when the block ends.

    Inside the block: Python's own exception hook (Brian2 installs one that prints a
    bug-report banner; a command reports its own errors), no deprecation notes of Brian2's
    dependencies, Brian2's console log at ``WARNING``, and a SIGINT handler that raises
    ``KeyboardInterrupt`` at once (Brian2's own handler only asks a running simulation to stop
    early, which would leave a shortened run to be saved). Yields what the handler counted.
    """
    hook = sys.excepthook
    interrupts = _Interrupts()
    with warnings.catch_warnings():
        import brian2

        sys.excepthook = sys.__excepthook__
        handler = brian2.BrianLogger.console_handler
        level = handler.level
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.getsignal(signal.SIGINT) if main_thread else None
        if main_thread:
            signal.signal(signal.SIGINT, interrupts)
        with quiet_dependency_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            handler.setLevel("WARNING")
            try:
                yield interrupts
            finally:
                if main_thread:
                    signal.signal(signal.SIGINT, previous)
                handler.setLevel(level)
                sys.excepthook = hook


def _quiet_brian2_cleanup():
    """After a failure, Brian2 objects that were created but never run are deleted; each would log an
    ``unused_brian_object`` warning after the one-line error. Keep them off the console."""
    import brian2

    brian2.BrianLogger.console_handler.setLevel("ERROR")


_INTERRUPTED = "interrupted: nothing unfinished was saved (finished sweep points are kept)"


def _attempt(command: Callable[[], int], interrupts) -> tuple[int, str | None]:
    try:
        return command(), None
    except KeyboardInterrupt:
        _quiet_brian2_cleanup()
        return EXIT_INTERRUPTED, _INTERRUPTED
    except PinglabError as err:
        _quiet_brian2_cleanup()
        if interrupts.count:  # a Ctrl-C that a dependency turned into an error is still a Ctrl-C
            return EXIT_INTERRUPTED, _INTERRUPTED
        return EXIT_USAGE, f"error: {err.cli_message or err}"  # the flags' wording, not the API's
    except Exception as err:  # anything unforeseen still ends in one line
        _quiet_brian2_cleanup()
        if interrupts.count:
            return EXIT_INTERRUPTED, _INTERRUPTED
        if os.environ.get("PINGLAB_BIO_DEBUG"):
            traceback.print_exc()
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return EXIT_FAILURE, (f"error: unexpected {type(err).__name__}: {printable(first)} (set "
                              "PINGLAB_BIO_DEBUG=1 for the traceback)")


def run_command(command: Callable[[], int]) -> int:
    """Run ``command`` in a :func:`command_session`; turn every failure into one line and a status.

    Returns
    -------
    int
        What ``command`` returned; :data:`~pinglab_bio.errors.EXIT_USAGE` after a
        :class:`PinglabError` (printed as ``error: <message>``),
        :data:`~pinglab_bio.errors.EXIT_INTERRUPTED` after Ctrl-C (also when a dependency turned
        the Ctrl-C into an error of its own), and :data:`~pinglab_bio.errors.EXIT_FAILURE` after
        anything unforeseen (its traceback is printed only when ``PINGLAB_BIO_DEBUG`` is set).
    """
    try:
        with command_session() as interrupts:
            status, message = _attempt(command, interrupts)
            if message is not None:
                gc.collect()  # the failed command's Brian2 objects go now, while their warnings are off
    except KeyboardInterrupt:  # a Ctrl-C while the session itself started or ended
        status, message = EXIT_INTERRUPTED, "interrupted: nothing unfinished was saved"
    if message is not None:
        print(message, file=sys.stderr)
    return status


def main(path_or_name, argv=None) -> int:
    """Entry point of ``python protocols/<name>.py``; same behaviour as ``pinglab-bio run <name>``.

    Parameters
    ----------
    path_or_name : str or path-like
        The script's ``__file__`` (or a catalogue name).
    argv : list of str, optional
        The protocol's flags; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        The exit status (see :func:`run_command`).
    """
    name = Path(str(path_or_name)).stem
    args = list(sys.argv[1:] if argv is None else argv)
    quick_exit()
    return run_command(lambda: run_from_argv(name, args))


def quick_exit() -> None:
    """Spare a command's process the collection of its reference cycles at exit (0.6–1.1 s with
    Brian2 loaded, measured; 0.1 s with this).

    At exit the interpreter clears every module and collects the reference cycles among their
    objects (Brian2's, sympy's, matplotlib's), freeing memory that the operating system reclaims
    anyway. ``gc.freeze`` is registered as an exit handler, so the other exit handlers (Brian2's
    log clean-up, temporary folders, ``logging``) and the flushing of output happen as before,
    and the frozen objects are then left to the operating system. Objects in a cycle are not
    finalised, which is safe because a command closes every file it writes before it returns.
    Registered once however often this is called; used by the command-line entry points.
    """
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


def simulation_parameters(*, model="ping_coba", dt="0.1 ms", duration="1 s", seed=0) -> dict:
    """The parameters every simulating protocol shares (model, dt, duration, seed, device, ...)."""
    from ..runs.folder import DATA_FORMATS
    from ..sim.devices import DEVICES, TARGETS

    return {
        "model": Param(model, "catalogue name or path of a model .toml", kind="model"),
        "dt": Param(dt, "integration step", kind="time"),
        "duration": Param(duration, "simulated time", kind="time"),
        "transient": Param("100 ms", "initial time left out of the measures", kind="time"),
        "seed": Param(seed, "seed of every random draw", kind="int"),
        "device": Param("runtime", "Brian2 device", kind="choice", choices=DEVICES),
        "target": Param("numpy", "code generation target of the runtime device", kind="choice",
                        choices=TARGETS),
        "threads": Param(0, "OpenMP threads of cpp_standalone (0: none)", kind="int"),
        "portable_random": Param(False, "draw every random number on the CPU with numpy, so that all "
                                 "devices see the same numbers (costs 8 bytes per neuron-step)", kind="flag"),
        "data_format": Param("h5", "spike file format: h5 (HDF5) or nix (neo NIX)", kind="choice",
                             choices=DATA_FORMATS),
    }


def simulate_kwargs(params: dict) -> dict:
    """The keyword arguments of :func:`pinglab_bio.simulate` taken from protocol parameters."""
    kwargs = {key: params[key] for key in ("dt", "duration", "seed", "device", "target", "transient")}
    kwargs.update({key: params[key] for key in ("threads", "portable_random", "allow_large")
                   if key in params})
    return kwargs


def require_torch(torch_device: str = "cpu") -> None:
    """Check, before any folder is written, that torch is installed and can use ``torch_device``."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise SettingsError("this protocol trains torch networks, and torch is not installed. "
                            "Fix: pip install -e '.[train]'") from None
    from ..train.device import check_torch_device

    check_torch_device(torch_device)
