"""What this machine has: compilers, the CUDA toolkit, GPUs, libcurand. Nothing here starts a device."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

from ...paths import cache_dir

__all__ = ["compiler", "nvcc", "gpus", "curand_dirs", "has_curand", "cache_dir", "brian2_version"]


def brian2_version() -> str:
    """The installed Brian2's version, read from its metadata (without importing Brian2)."""
    from importlib import metadata

    return metadata.version("brian2")


def compiler() -> str | None:
    return shutil.which("g++") or shutil.which("c++")


def nvcc() -> str | None:
    found = shutil.which("nvcc")
    if found:
        return found
    for root in (os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if root and (Path(root) / "bin" / "nvcc").is_file():
            return str(Path(root) / "bin" / "nvcc")
    return None


def gpus() -> tuple[list[str], str]:
    """Names and compute capabilities of the NVIDIA GPUs nvidia-smi lists, or a reason why none."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return [], "nvidia-smi is not on PATH (no NVIDIA driver)"
    try:
        out = subprocess.run([smi, "--query-gpu=name,compute_cap", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return [], f"nvidia-smi failed ({type(err).__name__})"
    found = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    if out.returncode != 0 or not found:
        return [], "nvidia-smi lists no GPU"
    return found, ""


def curand_dirs() -> tuple[list[str], list[str]]:
    """(include, lib) folders of the ``nvidia-curand`` wheel, when it is installed."""
    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return [], []
    for base in spec.submodule_search_locations:
        root = Path(base) / "curand"
        if (root / "lib").is_dir():
            return [str(root / "include")], [str(root / "lib")]
        root = Path(base) / "cu13"
        if (root / "lib").is_dir() and list((root / "lib").glob("libcurand*")):
            return [str(root / "include")], [str(root / "lib")]
    return [], []


def has_curand(nvcc_path: str) -> bool:
    root = Path(nvcc_path).resolve().parent.parent
    if any(root.glob("lib*/libcurand.so*")) or any(root.glob("targets/*/lib/libcurand.so*")):
        return True
    return bool(curand_dirs()[1])
