"""File helpers every layer may use: JSON files and the permissions of files renamed into place."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = ["usual_mode", "write_json", "read_json"]


def write_json(path: Path, payload):
    """Write ``payload`` as indented JSON (numpy numbers and arrays, paths as plain values)."""
    Path(path).write_text(json.dumps(payload, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: Path):
    return json.loads(Path(path).read_text())


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
