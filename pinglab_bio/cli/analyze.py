"""The ``pinglab-bio analyze`` subcommand (a plugin module of :mod:`pinglab_bio.cli.app`).

``pinglab-bio analyze RUN_DIR [RUN_DIR ...] [--report out.html] [--format html|md|json]``

Without ``--report`` the rendered text goes to stdout (``--format json`` prints the numbers).
With ``--report`` the file is written atomically: nothing is left half written on an error.
The format follows the report's suffix (``.md``, ``.json``) unless ``--format`` is given.

The analysis script is the catalogue's ``analysis/<protocol>.py`` of the protocol the folders
name; a folder naming anything else is refused. ``--analysis-script PATH`` runs a script the
user names on the command line instead. Nothing a run folder holds is ever executed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import SettingsError

__all__ = ["COMMANDS", "register", "handle"]

COMMANDS = ("analyze",)
_SUFFIX_FORMATS = {".html": "html", ".htm": "html", ".md": "md", ".json": "json"}


def register(subparsers):
    parser = subparsers.add_parser(
        "analyze", help="analyse run folders and write a report (HTML, Markdown or JSON)",
        description="Pick the analysis script of the runs' protocol (analysis/<protocol>.py) and render "
                    "its report: figures, metric tables, model equations and parameters, provenance.")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders of one protocol")
    parser.add_argument("--report", default=None, help="file to write (default: print to stdout)")
    parser.add_argument("--format", dest="fmt", default=None, choices=("html", "md", "json"),
                        help="output format (default: from the --report suffix, else html; json prints "
                             "the numbers)")
    parser.add_argument("--analysis-script", dest="script", default=None, metavar="PATH.py",
                        help="analyse with this script (your own analyze(run_dirs, workdir)) instead of the "
                             "catalogue's script of the folders' protocol")
    return parser


def handle(ns) -> int:
    from ..report.html import write_report
    from ..workflow.analysis import analyze

    fmt = ns.fmt
    if ns.report is not None:
        target = Path(ns.report)
        if target.is_dir():
            raise SettingsError(f"--report {ns.report!r} is a folder. "
                                "Fix: give a file name such as report.html")
        if not target.parent.exists():
            raise SettingsError(f"--report {ns.report!r}: folder {str(target.parent)!r} does not exist. "
                                "Fix: create it or write the report elsewhere")
        writable = os.access(target.parent, os.W_OK | os.X_OK)
        if not writable or (target.exists() and not os.access(target, os.W_OK)):
            raise SettingsError(f"--report {ns.report!r}: cannot write there (permission denied). "
                                "Fix: write the report in a folder you can write to")
        if fmt is None:
            fmt = _SUFFIX_FORMATS.get(target.suffix.lower(), "html")
    fmt = fmt or "html"
    protocol, text, numbers = analyze(ns.run_dirs, fmt, script=getattr(ns, "script", None))
    if ns.report is None:
        sys.stdout.write(text)
        return 0
    try:
        write_report(Path(ns.report), text)  # Markdown gets its figures as files beside it
    except OSError as err:
        raise SettingsError(f"--report {ns.report!r}: cannot be written ({err.strerror or err}). "
                            "Fix: write the report in a folder you can write to") from None
    print(f"{protocol}: {len(numbers.get('runs', []))} folder(s) analysed; report: {ns.report}",
          file=sys.stderr)
    return 0
