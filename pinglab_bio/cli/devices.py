"""``pinglab-bio devices``: every Brian2 device, whether it is usable here, and why not."""

from __future__ import annotations

__all__ = ["COMMANDS", "register", "handle"]

COMMANDS = ("devices",)


def register(subparsers):
    """Add the ``devices`` subcommand."""
    subparsers.add_parser(
        "devices", help="list the Brian2 devices and whether each is usable here",
        description="For every Brian2 device (runtime, cpp_standalone, cuda_standalone, genn): whether it "
                    "can run on this machine and, if not, what is missing and how to get it. Nothing is "
                    "compiled or started.")


def handle(ns) -> int:
    """Print one line per device; exit 0 (the listing itself is the answer)."""
    from ..sim.devices import list_devices
    from ..sim.devices.probe import brian2_version

    print(f"brian2 {brian2_version()}")
    for status in list_devices():
        mark = "usable" if status.usable else "not usable"
        print(f"{status.name:<16} {mark:<11} {status.reason}")
    return 0
