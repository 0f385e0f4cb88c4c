"""``pinglab-bio``: run protocols, list models and protocols, show a run's metrics.

Every bad input ends in one line on stderr (``error: ...``) and exit status 2; no traceback.
Set ``PINGLAB_BIO_DEBUG=1`` to see the traceback of an unexpected failure. Process-wide
settings made for a command (exception hook, warning filters, Brian2's log level) are put back
when :func:`main` returns (see :func:`pinglab_bio.workflow.protocol.command_session`).

A command that loaded Brian2 skips collecting its reference cycles at exit, which took
0.6–1.1 s: see :func:`pinglab_bio.workflow.protocol.quick_exit`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from ..errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, PinglabError, SettingsError

__all__ = ["main", "build_parser", "LIGHT_COMMANDS"]

# Subcommands that live in their own modules. Each module defines
# ``register(subparsers)`` (adds its parser; the subparsers' parser_class raises SettingsError on
# a usage error) and ``handle(ns) -> int``; raise PinglabError for bad input.
COMMAND_MODULES: tuple[str, ...] = (
    "pinglab_bio.cli.devices",
    "pinglab_bio.cli.sweep",
    "pinglab_bio.cli.analyze",
    "pinglab_bio.cli.train",
)

#: commands that answer without importing Brian2 or elephant (and so without their start-up time)
LIGHT_COMMANDS = ("models", "protocols", "show", "devices")

_DESCRIPTION = """\
Brian2 toolkit for excitation-inhibition networks and PING gamma rhythms.

Every bad input ends in one line (error: ..., naming the value and the fix) and exit status 2.
`pinglab-bio COMMAND --help` describes a command; `pinglab-bio run PROTOCOL --help` lists a
protocol's flags.
"""


class _UsageParser(argparse.ArgumentParser):
    """An argument parser whose usage errors raise :class:`SettingsError` instead of exiting.

    The same rule as ``workflow.protocol.SettingsParser``, kept here so that building the
    command line imports neither Brian2 nor elephant.
    """

    def error(self, message):
        raise SettingsError(f"{message}. Fix: see `{self.prog} --help`")


def build_parser() -> argparse.ArgumentParser:
    """The ``pinglab-bio`` parser with every subcommand (usage errors raise SettingsError)."""
    from ..paths import list_protocols

    parser = _UsageParser(prog="pinglab-bio", description=_DESCRIPTION,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_UsageParser)
    parser.set_defaults(command=None)
    run = sub.add_parser("run", help="run a protocol (see `pinglab-bio protocols`)", add_help=False,
                         description="Run one protocol into a new run folder; "
                                     "`pinglab-bio run PROTOCOL --help` lists its flags.")
    run.add_argument("protocol", nargs="?", help=f"one of {', '.join(list_protocols())}")
    run.add_argument("args", nargs=argparse.REMAINDER)
    sub.add_parser("models", help="list the model catalogue",
                   description="List every model file of the catalogue with its populations and "
                               "description; pass one to a protocol with --model NAME (or a .toml path).")
    sub.add_parser("protocols", help="list the protocols",
                   description="List every protocol with the question it answers; run one with "
                               "`pinglab-bio run PROTOCOL`.")
    show = sub.add_parser("show", help="print a run folder's metrics",
                          description="Print the settings line and the metrics of a run folder written "
                                      "by `pinglab-bio run` (nothing is recomputed).")
    show.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by pinglab-bio run")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _plugin_for(command: str):
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        if command in getattr(module, "COMMANDS", ()):
            return module
    return None


def _model_line(name: str) -> str:
    """One catalogue line, read from the file's text (no validation, so no Brian2)."""
    import tomllib

    from ..paths import find_model

    try:
        raw = tomllib.loads(find_model(name).read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        return f"{name:<16} (unreadable: {type(err).__name__})"
    table = raw.get("populations", {})
    if "n_total" in table:
        sizes = f"{table['n_total']} neurons, E share {table.get('ei_ratio', '?')}"
    else:
        sizes = ", ".join(f"{table[key]} {key[2:]}" for key in table if key.startswith("n_"))
    description = " ".join(str(raw.get("model", {}).get("description", "")).split())
    return f"{name:<16} {sizes:<30} {description}"


def _cmd_models() -> int:
    from ..paths import catalogue_dir, list_models

    for name in list_models():
        print(_model_line(name))
    print(f"\n(catalogue: {catalogue_dir('models')}; pass --model NAME or --model path/to/file.toml)")
    return 0


def _question(path: Path) -> str:
    """The first paragraph of a script's docstring on one line, read without importing the script."""
    import ast

    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def _cmd_protocols() -> int:
    import textwrap

    from ..paths import find_protocol, list_protocols

    for name in list_protocols():
        lines = textwrap.wrap(_question(find_protocol(name)), width=86, break_on_hyphens=False) or [""]
        print(f"{name:<16} {lines[0]}")
        for line in lines[1:]:
            print(f"{'':<16} {line}")
    return 0


def _cmd_show(run_dir: str) -> int:
    from ..errors import printable
    from ..files import read_json

    folder = Path(run_dir)
    if folder.exists() and not folder.is_dir():
        raise PinglabError(f"{printable(repr(run_dir))} is a file, not a run folder. Fix: pass the folder "
                           "that holds run.json and metrics.json")
    if not folder.is_dir():
        raise PinglabError(f"run folder {printable(repr(run_dir))} does not exist. Fix: pass a folder "
                           "under runs/")
    if not (folder / "metrics.json").is_file():
        raise PinglabError(f"{printable(run_dir)} has no metrics.json, so it is not a run folder. "
                           "Fix: pass a folder written by `pinglab-bio run`")
    metrics = read_json(folder / "metrics.json")
    info = read_json(folder / "run.json") if (folder / "run.json").is_file() else {}
    if not isinstance(metrics, dict) or not isinstance(info, dict):
        raise PinglabError(f"{printable(run_dir)}: metrics.json and run.json must each hold a JSON object. "
                           "Fix: point at a folder written by `pinglab-bio run`, or rerun it")
    if info:
        model = info.get("model") if isinstance(info.get("model"), dict) else {}
        dt = info.get("dt") if isinstance(info.get("dt"), dict) else {}
        print(printable(f"{info.get('protocol', '?')} · model {model.get('name', '?')} · "
                        f"seed {info.get('seed', '?')} · dt {dt.get('text', '?')}"))
    _print_metrics(metrics)
    return 0


def _print_metrics(metrics: dict, indent: str = ""):
    from ..errors import printable

    for key, value in metrics.items():
        key = printable(key)
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print_metrics(value, indent + "  ")
        elif isinstance(value, float):
            print(f"{indent}{key:<24} {value:.4g}")
        elif isinstance(value, list) and len(value) > 8:
            print(f"{indent}{key:<24} [{len(value)} values]")
        elif value is None:
            print(f"{indent}{key:<24} none")
        else:
            print(f"{indent}{key:<24} {printable(value)}")


def _cmd_run(protocol: str | None, args: list[str]) -> int:
    from ..paths import list_protocols
    from ..workflow.protocol import run_from_argv

    if protocol in (None, "-h", "--help"):
        print("usage: pinglab-bio run PROTOCOL [options]   (PROTOCOL --help lists its options)")
        print("protocols: " + ", ".join(list_protocols()))
        return 0 if protocol else EXIT_USAGE
    return run_from_argv(protocol, args)


def _sweep_help(protocol: str) -> int:
    """``sweep PROTOCOL --help``: the sweep's own options, then every protocol flag it passes on."""
    from ..workflow.protocol import load_protocol, protocol_parser
    from .sweep import sweep_parser

    module = load_protocol(protocol)
    prog = f"pinglab-bio sweep {module.PROTOCOL_NAME}"
    sweep_parser(prog).print_help()
    flags = protocol_parser(module, prog).format_help()
    options = flags[flags.find("options:"):] if "options:" in flags else flags
    print(f"\nflags of {module.PROTOCOL_NAME}, passed to every point (after the sweep's own):")
    body = options.split("\n", 1)[1] if options.startswith("options:") else options
    print("\n".join(line for line in body.splitlines() if not line.lstrip().startswith("-h, --help")))
    return 0


def _positional_command(argv: list[str]):
    """``(command, protocol, rest)`` for ``run``/``sweep``, whose flags belong to the protocol."""
    if argv and argv[0] in ("run", "sweep"):
        return argv[0], (argv[1] if len(argv) > 1 else None), argv[2:]
    return None


def _dispatch(argv: list[str]) -> int:
    positional = _positional_command(argv)
    if positional is not None:
        command, protocol, rest = positional
        if command == "run":
            return _cmd_run(protocol, rest)
        if protocol not in (None, "-h", "--help") and ("-h" in rest or "--help" in rest):
            return _sweep_help(protocol)
        ns = argparse.Namespace(command="sweep", protocol=protocol, args=rest)
        return _plugin_for("sweep").handle(ns)
    parser = build_parser()
    if not argv:
        parser.print_help()
        return EXIT_USAGE
    ns = parser.parse_args(argv)
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


def _cli_form(err: PinglabError) -> PinglabError:
    """The error as the command line words it (flags such as ``--dt`` for API arguments)."""
    cli = getattr(err, "cli_message", None)
    if cli:
        err.args = (cli,)
    return err


def _dispatch_cli(argv: list[str]) -> int:
    try:
        return _dispatch(argv)
    except PinglabError as err:
        raise _cli_form(err) from None


def _is_light(argv: list[str]) -> bool:
    """Help and the listings: answered without Brian2 or elephant, so without their start-up."""
    if not argv or argv[0] in ("-h", "--help"):
        return True
    return argv[0] in LIGHT_COMMANDS or (len(argv) >= 2 and argv[1] in ("-h", "--help")
                                         and argv[0] not in ("run", "sweep"))


def _run_light(command) -> int:
    """:func:`~pinglab_bio.workflow.protocol.run_command`'s statuses, for a command that touches no
    process-wide state (no Brian2, so no exception hook or log level to set and put back)."""
    try:
        return command()
    except PinglabError as err:
        print(f"error: {err.cli_message or err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as exit_:  # argparse's --help
        return int(exit_.code or 0)
    except Exception as err:
        if os.environ.get("PINGLAB_BIO_DEBUG"):
            raise
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        print(f"error: unexpected {type(err).__name__}: {first} (set PINGLAB_BIO_DEBUG=1 for the "
              "traceback)", file=sys.stderr)
        return EXIT_FAILURE


def main(argv=None) -> int:
    """Entry point of ``pinglab-bio``; returns the exit status (0 done, 1 unforeseen, 2 bad input)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if _is_light(argv):
        return _run_light(lambda: _dispatch_cli(argv))
    from ..workflow.protocol import quick_exit, run_command

    quick_exit()
    return run_command(lambda: _dispatch_cli(argv))


if __name__ == "__main__":
    raise SystemExit(main())
