"""What a user sees when something goes wrong: one-line errors, exit statuses, quiet dependencies.

An error names the problem, the value received and the fix, on one line. The command line
prints ``error: <message>`` and exits with :data:`EXIT_USAGE`; nothing below it (Brian2,
elephant, neo) is allowed to surface as a traceback.
"""

from __future__ import annotations

import re
import warnings
from contextlib import contextmanager

__all__ = ["PinglabError", "ModelError", "SettingsError", "DeviceError",
           "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_INTERRUPTED", "quiet_dependency_warnings",
           "RunInterrupted", "printable", "chosen_names"]

#: exit status of a command that finished
EXIT_OK = 0
#: exit status of an unforeseen failure (a bug, or a dependency that broke)
EXIT_FAILURE = 1
#: exit status of bad input: a :class:`PinglabError` was raised before anything was written
EXIT_USAGE = 2
#: exit status after Ctrl-C (128 + SIGINT), as a shell reports it
EXIT_INTERRUPTED = 130


class PinglabError(ValueError):
    """Base class for every user-facing error of pinglab-bio.

    ``str(error)`` words the error for a Python caller (``dt='0.1 ms'``); ``cli_message``, when
    set, words it for the command line (``--dt 0.1ms``). The CLI prints the latter (or
    ``str(error)``) on one line and exits with status 2 (:data:`EXIT_USAGE`).

    Parameters
    ----------
    message : str
        The error as a Python caller reads it.
    cli : str, optional
        The same error as the command line words it; see :meth:`about`.
    """

    def __init__(self, message: str, *, cli: str | None = None):
        # Keep errors on one line whatever the source message looked like, and printable.
        super().__init__(printable(" ".join(str(message).split())))
        #: the command line's wording (flags instead of argument names); None: the same as str()
        self.cli_message = printable(" ".join(str(cli).split())) if cli else None

    @classmethod
    def about(cls, argument: str, template: str, *, example, **values) -> "PinglabError":
        """An error about one argument, worded for Python and for the command line at once.

        Parameters
        ----------
        argument : str
            The Python keyword argument (``"dt"``); its flag is ``--dt`` (``_`` becomes ``-``).
        template : str
            The message, with ``{arg}`` for the argument's name, ``{example}`` for a valid
            setting and any ``{name}`` of ``values`` (``"{arg} must be positive, got
            {value!r}. Fix: pass e.g. {example}"``).
        example : object
            A valid value: written ``dt='0.1 ms'`` for Python and ``--dt 0.1ms`` for the CLI.
        **values
            The other fields of ``template``.

        Examples
        --------
        >>> err = SettingsError.about("dt", "{arg} must be positive. Fix: pass e.g. {example}",
        ...                           example="0.1 ms")
        >>> print(err)
        dt must be positive. Fix: pass e.g. dt='0.1 ms'
        >>> print(err.cli_message)
        --dt must be positive. Fix: pass e.g. --dt 0.1ms
        """
        flag = "--" + argument.replace("_", "-")
        python = template.format(arg=argument, example=f"{argument}={example!r}", **values)
        cli = template.format(arg=flag, example=f"{flag} {str(example).replace(' ', '')}", **values)
        return cls(python, cli=cli)


class RunInterrupted(KeyboardInterrupt):
    """A simulation stopped before its planned end (Ctrl-C while Brian2 was running it).

    Brian2 answers a first Ctrl-C by ending ``Network.run`` early without an exception; the
    code that turns a run into a result raises this instead, so that a shortened simulation
    is never measured or saved. The command line exits with :data:`EXIT_INTERRUPTED`.
    """


# terminal control: C0/C1 control characters (ANSI escapes start with ESC), bidi overrides
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text) -> str:
    """``text`` with every terminal control character shown as an escape (``\\x1b``), on one line.

    Names and values read from files or flags go through this before they are printed, so that
    a model name holding ANSI escape sequences cannot recolour or rewrite the terminal.
    """
    text = str(text).replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class ModelError(PinglabError):
    """A model file (TOML) is malformed, inconsistent or has a unit problem."""


class SettingsError(PinglabError):
    """A run setting (dt, duration, seed, device, an override) is invalid."""


class DeviceError(PinglabError):
    """A Brian2 device was asked for that cannot run here."""


@contextmanager
def quiet_dependency_warnings():
    """Hide the deprecation notes that Brian2's own dependencies raise, for the ``with`` block only.

    Brian2 2.9 calls pyparsing APIs that pyparsing 3.3 marks deprecated. Those notes concern
    Brian2's code, not the user's, so they are kept off the user's terminal while Brian2 parses
    equations and generates code. The user's warning filters are the same after the block as
    before it. Also usable as a decorator: ``@quiet_dependency_warnings()``.

    Notes
    -----
    A module imported inside the block that puts its own filter in front (elephant adds
    ``"once"`` for every ``UserWarning``) wins over this one; enter the block after such
    imports, or around the Brian2 call itself.
    """
    with warnings.catch_warnings():
        try:
            from pyparsing import PyparsingDeprecationWarning
        except ImportError:  # pyparsing < 3.3 raises no such notes
            pass
        else:
            warnings.filterwarnings("ignore", category=PyparsingDeprecationWarning)
        yield


def chosen_names(value, valid, *, flag: str, what: str) -> list:
    """The names of a comma-separated flag value (or a sequence), each checked against ``valid``.

    Raises a one-line :class:`SettingsError` naming the flag, the first unknown name (or that
    none was given) and the valid names, e.g. ``--readout foo: foo is not a readout. Fix: ...``.
    """
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    bad = [v for v in items if v not in valid]
    if bad or not items:
        raise SettingsError(
            f"--{flag} {','.join(items) or '(none)'}: {bad[0] if bad else 'nothing'} is not {what}. "
            f"Fix: use names from {', '.join(valid)}"
        )
    return items
