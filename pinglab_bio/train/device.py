"""Torch devices of the training layer: check a device name, or pick one.

``pinglab-bio train --device`` takes ``auto`` (CUDA when torch sees a GPU, else the CPU),
``cpu`` or ``cuda``; the study protocols' ``--torch-device`` takes any torch device name of
those two kinds (``cuda:1``, ...). Both are checked here, before anything is written.
"""

from __future__ import annotations

import torch

from ..errors import SettingsError

__all__ = ["check_torch_device", "pick_device"]


def check_torch_device(name: str, flag: str = "--torch-device") -> str:
    """``name`` if torch can use it here, else a one-line SettingsError.

    Parameters
    ----------
    name : str
        A torch device name: ``cpu``, ``cuda``, ``cuda:1``, ...
    flag : str
        The command-line flag the name came from, named in the error.

    Returns
    -------
    str
        ``name`` unchanged.
    """
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise SettingsError(f"{flag} {name!r} is not a torch device. Fix: e.g. {flag} cpu") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError(f"{flag} {name!r} asks for CUDA, which is not available here. Fix: {flag} cpu")
    if device.type not in ("cpu", "cuda"):
        raise SettingsError(f"{flag} {name!r}: only cpu and cuda are supported. Fix: {flag} cpu")
    return name


def pick_device(name: str = "auto", flag: str = "--device") -> torch.device:
    """The torch device of ``name``; ``auto`` is CUDA when torch sees a GPU, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(check_torch_device(name, flag))
