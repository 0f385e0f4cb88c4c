"""Errors that a user sees: one line naming the problem, the value received and the fix."""

__all__ = ["PinglabError", "ModelError", "SettingsError", "DeviceError"]


class PinglabError(ValueError):
    """Base class for every user-facing error of pinglab-bio.

    The CLI prints ``str(error)`` on one line and exits with status 2; nothing below it
    (Brian2, elephant, neo) is allowed to surface as a traceback.
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
