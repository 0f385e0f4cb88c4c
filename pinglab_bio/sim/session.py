"""One run session: a device, Brian2's seed, and the monitors read back as arrays.

Single runs (:func:`pinglab_bio.runs.simulate`), compile-once sweeps, dt scans and the training
bridge's Brian2 check all go through :func:`open_session`; it is the only place that seeds
Brian2's random generator.

Brian2 answers a first Ctrl-C during ``Network.run`` by ending the run early, without an
exception. :func:`check_completed` is called after every run (and, on standalone devices, after
every run of the binary) and raises :class:`~pinglab_bio.errors.RunInterrupted` for a run that
stopped short, so that a shortened simulation is never measured as a finished one.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..errors import RunInterrupted, quiet_dependency_warnings
from .devices import use_device

__all__ = ["open_session", "read_monitors", "check_completed"]


@contextmanager
def open_session(device: str = "runtime", *, seed: int, target: str = "numpy", build_key: str = "",
                 threads: int | None = None, portable: bool = False):
    """Select ``device`` for the objects created inside the block and seed Brian2's generator.

    Yields the :class:`~pinglab_bio.sim.devices.DeviceSession`; see
    :func:`~pinglab_bio.sim.devices.use_device` for the arguments.
    """
    with quiet_dependency_warnings(), use_device(device, target=target, build_key=build_key, threads=threads,
                                                 portable=portable) as session:
        session.seed(seed)
        yield session


def check_completed(network=None, duration=None, *, what: str = "the simulation") -> None:
    """Raise :class:`~pinglab_bio.errors.RunInterrupted` unless the last run reached its end.

    Parameters
    ----------
    network : brian2.Network, optional
        The network just run on the runtime device; its clock must have reached ``duration``.
    duration : brian2 Quantity, optional
        The planned duration of that run (s).
    what : str
        Names the run in the message.

    Notes
    -----
    The device's ``_last_run_completed_fraction`` is read too: Brian2 sets it after a runtime
    run, and a standalone device reads it from the binary's ``last_run_info.txt``.
    """
    from brian2.devices.device import get_device

    fraction = getattr(get_device(), "_last_run_completed_fraction", 1.0)
    try:
        fraction = float(fraction)
    except (TypeError, ValueError):
        fraction = 1.0
    if network is not None and duration is not None and fraction >= 1.0 and _runtime():
        t, planned = float(network.t), float(duration)
        if planned - t > 1e-9 * planned:  # the clock stops a whole step (or more) short
            fraction = t / planned
    if fraction < 1.0:
        raise RunInterrupted(f"{what} stopped at {100 * fraction:.1f} % of its duration (interrupted); "
                             "nothing of it was saved")


def _runtime() -> bool:
    from brian2.devices.device import RuntimeDevice, get_device

    return isinstance(get_device(), RuntimeDevice)


def read_monitors(built, record: dict | None = None) -> tuple[dict, dict]:
    """``(spikes, states)`` arrays out of a finished network's monitors.

    ``spikes[pop] = (n_neurons, indices, times_s)``; ``states[pop] = {"t_s": [steps],
    var: [neurons, steps] in SI units}`` for the variables named in ``record``.
    """
    import brian2

    spikes = {pop: (len(built.groups[pop]), np.asarray(mon.i[:]), np.asarray(mon.t[:] / brian2.second))
              for pop, mon in built.spike_monitors.items()}
    states = {pop: {"t_s": np.asarray(mon.t[:] / brian2.second),
                    **{var: np.asarray(getattr(mon, var)[:]) for var in (record or {})[pop]["variables"]}}
              for pop, mon in built.state_monitors.items()}
    return spikes, states
