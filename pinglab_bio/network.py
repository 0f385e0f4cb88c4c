"""Build a Brian2 network from a validated :class:`~pinglab_bio.spec.ModelSpec`.

dt is passed to every object explicitly (``dt=...``); nothing here reads or writes
``defaultclock``. Drive noise is updated by the exact Ornstein–Uhlenbeck transition over one
step, so its statistics do not depend on dt.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
from brian2 import (Equations, Network, NeuronGroup, PoissonInput, SpikeMonitor, StateMonitor,
                    Synapses, prefs)

from .errors import ModelError
from .spec import ModelSpec, PopulationSpec

__all__ = ["BuiltNetwork", "build_network", "check_units", "population_equations"]


@dataclass
class BuiltNetwork:
    """The Brian2 objects of one model instance, by role."""

    network: Network
    groups: dict
    synapses: dict
    spike_monitors: dict
    state_monitors: dict = field(default_factory=dict)


def population_equations(spec: ModelSpec, pop: str) -> Equations:
    """The population's equations plus the internal variables its drive needs."""
    eqs = Equations(spec.populations[pop].equations)
    drive = spec.drives.get(pop)
    if drive is not None and drive.kind == "tonic_ou":
        unit = repr(eqs[drive.variable].unit)
        eqs = eqs + Equations(f"{drive.variable}_tonic : {unit} (constant)\n{drive.variable}_ou : {unit}")
    return eqs


def _namespace(spec: ModelSpec, pop: str) -> dict:
    ns = dict(spec.namespace(pop))
    for var, init in spec.populations[pop].init.items():
        if init[0] == "uniform":
            ns[f"init_{var}_low"], ns[f"init_{var}_high"] = init[1], init[2]
    drive = spec.drives.get(pop)
    if drive is not None and drive.kind == "tonic_ou":
        for key in ("mean", "sigma", "tau"):
            ns[f"{drive.variable}_ou_{key}"] = drive.values[key]
        ns[f"{drive.variable}_ou_heterogeneity"] = drive.values["heterogeneity"]
    return ns


def _neuron_group(spec: ModelSpec, pop: PopulationSpec, n: int, dt, name: str) -> NeuronGroup:
    return NeuronGroup(
        n, population_equations(spec, pop.name), threshold=pop.threshold, reset=pop.reset or None,
        refractory=pop.refractory, method=pop.method, namespace=_namespace(spec, pop.name),
        dt=dt, name=name,
    )


def _add_drive(spec: ModelSpec, pop: str, group: NeuronGroup, dt, objects: list):
    drive = spec.drives.get(pop)
    if drive is None:
        return
    var = drive.variable
    if drive.kind == "tonic_ou":
        group.run_regularly(
            # Exact OU transition over one step: mean 0, stationary sd sigma, for any dt.
            f"{var}_ou = {var}_ou*exp(-dt/{var}_ou_tau) "
            f"+ {var}_ou_sigma*sqrt(1 - exp(-2*dt/{var}_ou_tau))*randn()\n"
            + (f"{var} = clip({var}_tonic + {var}_ou, 0*{var}_ou_mean, inf*{var}_ou_mean)"
               if _is_conductance(drive.values["mean"]) else f"{var} = {var}_tonic + {var}_ou"),
            when="start", name=f"{pop}_ou_drive",
        )
        return
    objects.append(PoissonInput(group, var, drive.values["n_sources"], drive.values["rate"],
                                weight=drive.values["weight"], name=f"{pop}_poisson_drive"))


def _init_drive(spec: ModelSpec, pop: str, group: NeuronGroup):
    drive = spec.drives.get(pop)
    if drive is None or drive.kind != "tonic_ou":
        return
    var = drive.variable
    # Tonic level with uniform ±heterogeneity spread; OU part starts from its stationary law.
    setattr(group, f"{var}_tonic",
            f"{var}_ou_mean*(1 + {var}_ou_heterogeneity*(2*rand() - 1))")
    setattr(group, f"{var}_ou", f"{var}_ou_sigma*randn()")


def _is_conductance(q) -> bool:
    from brian2 import siemens

    return q.dim == siemens.dim


def _init_state(pop: PopulationSpec, group: NeuronGroup):
    for var, init in pop.init.items():
        if init[0] == "constant":
            setattr(group, var, init[1])
        else:
            setattr(group, var, f"init_{var}_low + rand()*(init_{var}_high - init_{var}_low)")


def _connect(syn: Synapses, path, n_source: int, n_target: int, rng: np.random.Generator):
    recurrent = path.source == path.target
    if path.p is not None:
        if path.p > 0:
            syn.connect(condition="i != j" if recurrent else None, p=path.p)
        return
    k = path.in_degree
    if k == 0:
        return
    pre = np.empty(n_target * k, dtype=np.int64)
    for j in range(n_target):
        if recurrent:
            choice = rng.choice(n_source - 1, size=k, replace=False)
            choice[choice >= j] += 1  # skip the neuron itself
        else:
            choice = rng.choice(n_source, size=k, replace=False)
        pre[j * k:(j + 1) * k] = choice
    syn.connect(i=pre, j=np.repeat(np.arange(n_target), k))


def build_network(spec: ModelSpec, *, dt, seed: int, record: dict | None = None) -> BuiltNetwork:
    """Create the Brian2 objects of ``spec`` on the current device.

    Parameters
    ----------
    spec : ModelSpec
        A validated model.
    dt : brian2 Quantity
        Integration step, given to every object (no global clock is touched).
    seed : int
        Seed of the numpy generator used for fixed in-degree connectivity. Brian2's own
        generator must be seeded by the caller (``brian2.seed``) before this call.
    record : dict, optional
        ``{population: {"variables": [...], "indices": [...]}}`` state variables to record.
    """
    rng = np.random.default_rng(seed)
    groups, synapses, spike_monitors, state_monitors, extra = {}, {}, {}, {}, []
    for name, pop in spec.populations.items():
        group = _neuron_group(spec, pop, pop.n, dt, name)
        _init_state(pop, group)
        _init_drive(spec, name, group)
        _add_drive(spec, name, group, dt, extra)
        groups[name] = group
        spike_monitors[name] = SpikeMonitor(group, name=f"{name}_spikes")
    for name, path in spec.pathways.items():
        ns = {**spec.parameters}
        syn = Synapses(groups[path.source], groups[path.target],
                       model=f"w : {repr(_unit_of(path.weight))}", on_pre=path.on_pre,
                       delay=path.delay, namespace=ns, dt=dt, name=name)
        _connect(syn, path, spec.populations[path.source].n, spec.populations[path.target].n, rng)
        syn.w = path.weight
        synapses[name] = syn
    for pop, what in (record or {}).items():
        if pop not in groups:
            raise ModelError(f"cannot record from population '{pop}': model '{spec.name}' has "
                             f"{', '.join(groups)}. Fix: record one of those")
        state_monitors[pop] = StateMonitor(groups[pop], what["variables"], record=what.get("indices", True),
                                           dt=dt, name=f"{pop}_states")
    net = Network(*groups.values(), *synapses.values(), *spike_monitors.values(),
                  *state_monitors.values(), *extra)
    return BuiltNetwork(net, groups, synapses, spike_monitors, state_monitors)


def _unit_of(q):
    from brian2.units.fundamentalunits import get_unit

    return get_unit(q.dim)


def _root_message(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    text = str(err).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " ".join(lines[:2]).rstrip(".") if lines else type(err).__name__


@contextlib.contextmanager
def _numpy_target():
    previous = prefs.codegen.target
    prefs.codegen.target = "numpy"
    try:
        yield
    finally:
        prefs.codegen.target = previous


def check_units(spec: ModelSpec):
    """Ask Brian2 to check the units of every equation, threshold, reset and on_pre statement.

    A one-neuron copy of each population (and a one-synapse copy of each pathway) is prepared
    on the numpy target; Brian2's complaint becomes a :class:`ModelError` naming the table.
    """
    import brian2

    from brian2.devices.device import get_device, runtime_device

    if get_device() is not runtime_device:
        return  # standalone devices check units themselves when the network is built
    where = spec.path or f"model '{spec.name}'"
    level = brian2.BrianLogger.console_handler.level
    brian2.BrianLogger.console_handler.setLevel("ERROR")
    try:
        with _numpy_target():
            for name, pop in spec.populations.items():
                try:
                    group = _neuron_group(spec, pop, 1, 0.1 * brian2.ms, f"check_{name}")
                    _init_drive(spec, name, group)
                    _add_drive(spec, name, group, 0.1 * brian2.ms, [])
                    Network(group).run(0 * brian2.ms, namespace={})
                except Exception as err:
                    raise ModelError(f"{where}: [neurons.{name}] Brian2 rejects the model: "
                                     f"{_root_message(err)}. Fix: make every term of each equation, "
                                     "the threshold and the reset carry the same unit") from None
            for name, path in spec.pathways.items():
                try:
                    pre = _neuron_group(spec, spec.populations[path.source], 1, 0.1 * brian2.ms,
                                        f"check_source_of_{name}")
                    post = _neuron_group(spec, spec.populations[path.target], 1, 0.1 * brian2.ms,
                                         f"check_target_of_{name}")
                    syn = Synapses(pre, post,
                                   model=f"w : {repr(_unit_of(path.weight))}", on_pre=path.on_pre,
                                   namespace=dict(spec.parameters), name=f"check_{name}")
                    syn.connect(i=0, j=0)
                    Network(pre, post, syn).run(0 * brian2.ms, namespace={})
                except Exception as err:
                    raise ModelError(f"{where}: [synapses.{name}] Brian2 rejects on_pre "
                                     f"'{path.on_pre}' with weight {path.weight}: {_root_message(err)}. "
                                     "Fix: give weight the unit of the variable it is added to") from None
    finally:
        brian2.BrianLogger.console_handler.setLevel(level)
