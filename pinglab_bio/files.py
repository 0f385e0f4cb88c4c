"""File helpers every layer may use: JSON files and the permissions of files renamed into place.

JSON is written strictly (a NaN or an infinity becomes ``null``; bare ``NaN`` is not JSON), and a
file that cannot be read back (missing, truncated, not UTF-8, not JSON) raises one
:class:`~pinglab_bio.errors.PinglabError` that names it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from .errors import PinglabError

__all__ = ["usual_mode", "write_json", "read_json", "strict_json"]


def strict_json(value):
    """``value`` with every non-finite float (NaN, ±inf) replaced by None, containers copied."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return strict_json(value.tolist())
    if isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        return None
    return value


def write_json(path: Path, payload):
    """Write ``payload`` as indented, strict JSON (numpy numbers and arrays, paths as plain
    values; NaN and infinities as ``null``)."""
    text = json.dumps(strict_json(payload), indent=2, sort_keys=False, default=_json_default, allow_nan=False)
    Path(path).write_text(text + "\n")


def read_json(path: Path):
    """Read a JSON file; a missing, unreadable, truncated or non-JSON file raises
    :class:`~pinglab_bio.errors.PinglabError` naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PinglabError(f"{path} does not exist. Fix: point at a folder written by pinglab-bio") from None
    except UnicodeDecodeError:
        raise PinglabError(f"{path} is not a text file (not UTF-8). Fix: point at a folder written by "
                           "pinglab-bio, or rerun the run that wrote it") from None
    except OSError as err:
        raise PinglabError(f"{path} cannot be read ({err.strerror or err}). Fix: check its permissions") \
            from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise PinglabError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}; truncated or "
                           "edited?). Fix: rerun the run that wrote it") from None


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _umask() -> int:
    # os.umask can only be read by setting it; put the old value straight back
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def usual_mode(path: Path, *, folder: bool):
    """Give ``path`` the permissions a plain mkdir or open would have (0o777 or 0o666 less the
    umask). Temporary files and folders are created private (0o600, 0o700); a run folder or
    report renamed from one would otherwise stay unreadable to the rest of a shared group."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())
