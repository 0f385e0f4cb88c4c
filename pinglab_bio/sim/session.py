"""One run session: a device, Brian2's seed, and the monitors read back as arrays.

Single runs (:func:`pinglab_bio.runs.simulate`), compile-once sweeps, dt scans and the training
bridge's Brian2 check all go through :func:`open_session`; it is the only place that seeds
Brian2's random generator.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..errors import quiet_dependency_warnings
from .devices import use_device

__all__ = ["open_session", "read_monitors"]


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
