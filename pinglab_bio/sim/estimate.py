"""What a run will cost, estimated from the model file before any Brian2 object is built.

:func:`estimate_run` counts the integration steps and estimates the memory of the state
variables, synapses, monitors and portable noise of a run; :func:`check_run_size` refuses a run
past :data:`MAX_STEPS` or past the memory limit (half of this machine's memory, at most
:data:`MAX_BYTES_DEFAULT`) with one line that gives the estimate and the flag that allows it
anyway (``--allow-large``). The numbers are estimates: they are meant to catch a model that
cannot fit (``n_exc = 10**9``) or a run that cannot end (10^9 steps), not to budget memory to
the byte.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from brian2 import Equations

from ..errors import SettingsError
from .portable import BYTES_PER_NEURON_STEP, format_bytes

__all__ = ["RunEstimate", "estimate_run", "check_run_size", "memory_limit", "MAX_STEPS", "MAX_BYTES_DEFAULT",
           "ALLOW_FLAG", "BYTES_PER_SYNAPSE", "BYTES_PER_SPIKE", "NOMINAL_RATE_HZ"]

#: integration steps above which a run is refused without ``--allow-large`` (1000 s at dt 0.1 ms)
MAX_STEPS = 10**7
#: the memory limit never exceeds this many bytes without ``--allow-large``
MAX_BYTES_DEFAULT = 32 * 10**9
#: the flag that lets a run past the limits
ALLOW_FLAG = "--allow-large"
#: Brian2 keeps per synapse two int32 indices, the weight, a delay and spike-queue entries
BYTES_PER_SYNAPSE = 48
#: a recorded spike: neuron index (int32) and time (float64), with numpy's growth slack
BYTES_PER_SPIKE = 16
#: a generous firing rate (Hz) used to size the spike monitors before anything has fired
NOMINAL_RATE_HZ = 50.0
#: per neuron Brian2 adds lastspike, not_refractory, the index and the threshold buffers
_INTERNAL_VARIABLES = 6


@dataclass(frozen=True)
class RunEstimate:
    """Steps and estimated bytes of one run.

    Attributes
    ----------
    steps : int
        Integration steps (duration / dt).
    parts : dict
        Bytes per part: ``state``, ``synapses``, ``spike_monitors``, ``state_monitors``,
        ``portable_noise``.
    """

    steps: int
    parts: dict = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return int(sum(self.parts.values()))

    def describe(self) -> str:
        big = sorted(((v, k) for k, v in self.parts.items() if v), reverse=True)[:2]
        detail = ", ".join(f"{k.replace('_', ' ')} {format_bytes(v)}" for v, k in big)
        return f"{format_bytes(self.total_bytes)} ({detail})" if detail else format_bytes(self.total_bytes)


def _synapse_count(spec) -> int:
    total = 0
    for path in spec.pathways.values():
        n_source = spec.populations[path.source].n
        n_target = spec.populations[path.target].n
        if path.in_degree is not None:
            total += int(path.in_degree) * n_target
        else:
            total += int(round(float(path.p or 0.0) * n_source * n_target))
    return total


def estimate_run(spec, *, dt, duration, record: dict | None = None, portable: bool = False) -> RunEstimate:
    """Estimate the steps and memory of running ``spec`` for ``duration`` at ``dt``.

    Parameters
    ----------
    spec : ModelSpec
        A validated model (sizes, equations and pathways are read, nothing is built).
    dt, duration : brian2 Quantity
        Integration step and simulated time (s).
    record : dict, optional
        ``{population: {"variables": [...], "indices": [...] or True}}`` recorded states.
    portable : bool
        Whether the drive noise is drawn on the CPU (a steps × neurons float64 array).

    Returns
    -------
    RunEstimate
    """
    steps = int(round(float(duration) / float(dt)))
    state = 0
    for pop in spec.populations.values():
        n_vars = len(Equations(pop.equations).names) + _INTERNAL_VARIABLES
        state += 8 * n_vars * pop.n
    synapses = BYTES_PER_SYNAPSE * _synapse_count(spec)
    spikes = int(BYTES_PER_SPIKE * NOMINAL_RATE_HZ * float(duration) * spec.n_neurons)
    monitors = 0
    for pop, what in (record or {}).items():
        n = spec.populations[pop].n if pop in spec.populations else 0
        indices = what.get("indices", True)
        count = n if indices is True else len(indices)
        monitors += 8 * steps * (count * len(what.get("variables", ())) + 1)
    driven = sum(spec.populations[p].n for p in spec.drives if p in spec.populations)
    noise = BYTES_PER_NEURON_STEP * steps * driven if portable else 0
    return RunEstimate(steps=steps, parts={"state": state, "synapses": synapses, "spike_monitors": spikes,
                                           "state_monitors": monitors, "portable_noise": noise})


def memory_limit() -> int:
    """Bytes a run may take without ``--allow-large``: half of the physical memory, at most
    :data:`MAX_BYTES_DEFAULT` (``$PINGLAB_BIO_MAX_BYTES`` replaces it when set)."""
    env = os.environ.get("PINGLAB_BIO_MAX_BYTES")
    if env:
        try:
            return int(float(env))
        except ValueError:
            raise SettingsError(f"PINGLAB_BIO_MAX_BYTES must be a number of bytes, got {env!r}. "
                                "Fix: e.g. PINGLAB_BIO_MAX_BYTES=8e9, or unset it") from None
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 2 * MAX_BYTES_DEFAULT
    return int(min(MAX_BYTES_DEFAULT, physical // 2))


def check_run_size(estimate: RunEstimate, *, allow_large: bool = False) -> RunEstimate:
    """Refuse a run past :data:`MAX_STEPS` steps or past :func:`memory_limit`, unless allowed.

    Raises
    ------
    SettingsError
        One line with the estimate, the limit and the flag that allows the run anyway.
    """
    if allow_large:
        return estimate
    if estimate.steps > MAX_STEPS:
        raise SettingsError(f"the run has {estimate.steps:.3g} integration steps, more than the limit of "
                            f"{MAX_STEPS:.0e}. Fix: use a larger --dt or a shorter --duration, or pass "
                            f"{ALLOW_FLAG} to run it anyway")
    limit = memory_limit()
    if estimate.total_bytes > limit:
        raise SettingsError(f"the run needs an estimated {estimate.describe()}, more than the limit of "
                            f"{format_bytes(limit)}. Fix: use a smaller network or a shorter run, or pass "
                            f"{ALLOW_FLAG} to run it anyway")
    return estimate
