"""``pinglab-bio``: run protocols, list models and protocols, show a run's metrics.

Every bad input ends in one line on stderr (``error: ...``) and exit status 2; no traceback.
Set ``PINGLAB_BIO_DEBUG=1`` to see the traceback of an unexpected failure. Process-wide
settings made for a command (exception hook, warning filters, Brian2's log level) are put back
when :func:`main` returns (see :func:`pinglab_bio.workflow.protocol.command_session`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from ..errors import EXIT_USAGE, PinglabError

__all__ = ["main", "build_parser"]

# Subcommands that live in their own modules. Each module defines
# ``register(subparsers)`` (adds its parser; the subparsers' parser_class is SettingsParser, so
# usage errors raise SettingsError) and ``handle(ns) -> int``; raise PinglabError for bad input.
COMMAND_MODULES: tuple[str, ...] = (
    "pinglab_bio.cli.devices",
    "pinglab_bio.cli.sweep",
    "pinglab_bio.cli.analyze",
    "pinglab_bio.cli.train",
)


def build_parser() -> argparse.ArgumentParser:
    """The ``pinglab-bio`` parser with every subcommand (usage errors raise SettingsError)."""
    from ..paths import list_protocols
    from ..workflow.protocol import SettingsParser

    parser = SettingsParser(prog="pinglab-bio", description="Brian2 toolkit for E/I networks and PING gamma.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=SettingsParser)
    parser.set_defaults(command=None)
    run = sub.add_parser("run", help="run a protocol (see `pinglab-bio protocols`)", add_help=False)
    run.add_argument("protocol", nargs="?", help=f"one of {', '.join(list_protocols())}")
    run.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("models", help="list the model catalogue")
    sub.add_parser("protocols", help="list the protocols")
    show = sub.add_parser("show", help="print a run folder's metrics")
    show.add_argument("run_dir")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _plugin_for(command: str):
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        if command in getattr(module, "COMMANDS", ()):
            return module
    return None


def _cmd_models() -> int:
    from ..model.spec import load_model
    from ..paths import catalogue_dir, list_models

    for name in list_models():
        spec = load_model(name)
        sizes = ", ".join(f"{p.n} {pop}" for pop, p in spec.populations.items())
        print(f"{name:<14} {sizes:<22} {spec.description}")
    print(f"\n(catalogue: {catalogue_dir('models')}; pass --model NAME or --model path/to/file.toml)")
    return 0


def _cmd_protocols() -> int:
    from ..paths import list_protocols
    from ..workflow.protocol import load_protocol

    for name in list_protocols():
        doc = (load_protocol(name).__doc__ or "").strip().splitlines()
        print(f"{name:<16} {doc[0] if doc else ''}")
    return 0


def _cmd_show(run_dir: str) -> int:
    from ..runs.folder import read_json

    folder = Path(run_dir)
    if not folder.is_dir():
        raise PinglabError(f"run folder {run_dir!r} does not exist. Fix: pass a folder under runs/")
    if not (folder / "metrics.json").is_file():
        raise PinglabError(f"{run_dir} has no metrics.json, so it is not a run folder. "
                           "Fix: pass a folder written by `pinglab-bio run`")
    metrics = read_json(folder / "metrics.json")
    info = read_json(folder / "run.json") if (folder / "run.json").is_file() else {}
    if info:
        print(f"{info.get('protocol', '?')} · model {info.get('model', {}).get('name', '?')} · "
              f"seed {info.get('seed', '?')} · dt {info.get('dt', {}).get('text', '?')}")
    _print_metrics(metrics)
    return 0


def _print_metrics(metrics: dict, indent: str = ""):
    for key, value in metrics.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print_metrics(value, indent + "  ")
        elif isinstance(value, float):
            print(f"{indent}{key:<24} {value:.4g}")
        elif isinstance(value, list) and len(value) > 8:
            print(f"{indent}{key:<24} [{len(value)} values]")
        else:
            print(f"{indent}{key:<24} {value}")


def _cmd_run(protocol: str | None, args: list[str]) -> int:
    from ..paths import list_protocols
    from ..workflow.protocol import run_from_argv

    if protocol in (None, "-h", "--help"):
        print("usage: pinglab-bio run PROTOCOL [options]   (PROTOCOL --help lists its options)")
        print("protocols: " + ", ".join(list_protocols()))
        return 0 if protocol else EXIT_USAGE
    return run_from_argv(protocol, args)


def _dispatch(argv: list[str]) -> int:
    parser = build_parser()
    if not argv:
        parser.print_help()
        return EXIT_USAGE
    ns = parser.parse_args(argv[:2] if argv[0] == "run" else argv)
    if ns.command == "run":
        return _cmd_run(argv[1] if len(argv) > 1 else None, argv[2:])
    if ns.command == "models":
        return _cmd_models()
    if ns.command == "protocols":
        return _cmd_protocols()
    if ns.command == "show":
        return _cmd_show(ns.run_dir)
    plugin = _plugin_for(ns.command) if ns.command else None
    if plugin is not None:
        return plugin.handle(ns)
    parser.print_help()
    return EXIT_USAGE


def main(argv=None) -> int:
    """Entry point of ``pinglab-bio``; returns the exit status (0 done, 1 unforeseen, 2 bad input)."""
    from ..workflow.protocol import run_command

    argv = sys.argv[1:] if argv is None else list(argv)
    return run_command(lambda: _dispatch(argv))


if __name__ == "__main__":
    raise SystemExit(main())
