"""What a user sees when something goes wrong: one-line errors, exit statuses, quiet dependencies.

An error names the problem, the value received and the fix, on one line. The command line
prints ``error: <message>`` and exits with :data:`EXIT_USAGE`; nothing below it (Brian2,
elephant, neo) is allowed to surface as a traceback.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

__all__ = ["PinglabError", "ModelError", "SettingsError", "DeviceError",
           "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_INTERRUPTED", "quiet_dependency_warnings"]

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

    The CLI prints ``str(error)`` on one line and exits with status 2 (:data:`EXIT_USAGE`).
    """

    def __init__(self, message: str):
        # Keep errors on one line whatever the source message looked like.
        super().__init__(" ".join(str(message).split()))


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
