"""Provenance recorded in every run folder: package versions, git revision, hashes, times."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata

from .paths import repo_root

__all__ = ["package_versions", "git_revision", "utc_stamp", "short_hash", "PACKAGES"]

PACKAGES = ("pinglab-bio", "brian2", "numpy", "scipy", "elephant", "neo", "quantities",
            "matplotlib", "h5py", "nixio", "torch", "brian2cuda", "brian2genn")


def package_versions() -> dict:
    """Versions of Python and the packages that shape a result (None when not installed)."""
    return dict(_package_versions())


@lru_cache(maxsize=1)
def _package_versions() -> dict:
    # looked up once per process: the packages imported do not change while it runs
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The checkout's ``git describe --always --dirty`` revision, or None outside a checkout.

    Asked once per process (the code a process runs is the code it imported at the start), so
    that a sweep does not start a git process for every point.
    """
    root = repo_root()
    if root is None or not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=root,
                             capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def utc_stamp() -> str:
    """The current UTC time as ``YYYYMMDDTHHMMSSZ`` (run-folder names sort by it)."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def short_hash(payload) -> str:
    """First 8 hex digits of the SHA-256 of a JSON-serialisable payload."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]
