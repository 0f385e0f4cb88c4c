"""Build a Brian2 network from a validated :class:`~pinglab_bio.model.spec.ModelSpec`.

dt is passed to every object explicitly (``dt=...``); nothing here reads or writes
``defaultclock``. Drive noise is updated by the exact Ornstein–Uhlenbeck transition over one
step, so its statistics do not depend on dt.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
from brian2 import Equations, Network, NeuronGroup, PoissonInput, SpikeMonitor, StateMonitor, Synapses, prefs

from ..errors import ModelError, SettingsError
from ..model.spec import ModelSpec, PopulationSpec
from .portable import PortableRandom

__all__ = ["BuiltNetwork", "build_network", "check_units", "population_equations", "sweep_targets",
           "SweepTarget"]


@dataclass
class BuiltNetwork:
    """The Brian2 objects of one model instance, by role."""

    network: Network
    groups: dict
    synapses: dict
    spike_monitors: dict
    state_monitors: dict = field(default_factory=dict)
    #: ``{override key: [(owner object, variable name, unit), ...]}`` of swept values that are
    #: state variables, settable by ``device.run(run_args=...)`` without a rebuild.
    sweep_vars: dict = field(default_factory=dict)
    #: bytes of random numbers drawn on the CPU (``portable=True``), by purpose.
    portable_bytes: dict = field(default_factory=dict)

    def run_args(self, overrides: dict) -> dict:
        """``{group.var view: value}`` for a standalone rerun with these swept values.

        Parameters
        ----------
        overrides : dict
            ``{override key: value text}`` for keys given as ``sweepable`` to
            :func:`build_network`.
        """
        from ..units import parse_quantity

        args = {}
        for key, text in overrides.items():
            if key not in self.sweep_vars:
                raise SettingsError(f"'{key}' was not built as a sweepable value (built: "
                                    f"{', '.join(self.sweep_vars) or 'none'}). Fix: rebuild for it")
            value = parse_quantity(text) if isinstance(text, str) else text
            for owner, var, _unit in self.sweep_vars[key]:
                args[getattr(owner, var)] = value
        return args


def population_equations(spec: ModelSpec, pop: str) -> Equations:
    """The population's equations plus the internal variables its drive needs."""
    eqs = Equations(spec.populations[pop].equations)
    drive = spec.drives.get(pop)
    if drive is not None and drive.kind == "tonic_ou":
        unit = repr(eqs[drive.variable].unit)
        eqs = eqs + Equations(f"{drive.variable}_tonic : {unit} (constant)\n{drive.variable}_ou : {unit}")
    return eqs


@dataclass(frozen=True)
class SweepTarget:
    """Where a swept model value lives in the network: a population's or pathway's name."""

    owner: str          # population ("exc") or pathway ("exc_to_inh") name
    variable: str       # name inside that Brian2 object (namespace constant or ``w``)


def _unit_text(q) -> str:
    from brian2.units.fundamentalunits import DIMENSIONLESS

    dim = getattr(q, "dim", DIMENSIONLESS)
    return "1" if dim is DIMENSIONLESS else repr(_unit_of(q))


def _uses(text: str, name: str) -> bool:
    from brian2.utils.stringtools import get_identifiers

    return name in get_identifiers(text)


def sweep_targets(spec: ModelSpec, key: str) -> list[SweepTarget] | None:
    """The network variables a model override ``key`` sets, or None when it changes structure.

    Shared parameters (``tau_gaba``), population parameters (``exc.C_m``), the tonic/OU drive
    values (``drive.exc.mean``, ``.sigma``, ``.tau``, ``.heterogeneity``) and pathway weights
    (``exc_to_inh.weight``) become state variables that a compiled standalone binary can be
    given new values for. Everything else (sizes, dt, connectivity, equations, delays, Poisson
    rates) changes the generated code and needs a new build.
    """
    parts = key.split(".")
    if len(parts) == 1 and key in spec.parameters:
        targets = []
        for pop, p in spec.populations.items():
            if key in p.parameters:
                continue  # the population's own value hides the shared one
            text = "\n".join([p.equations, p.threshold, p.reset])
            if _uses(text, key):
                targets.append(SweepTarget(pop, key))
        for path in spec.pathways.values():
            if _uses(path.on_pre, key):
                return None  # parameters of on_pre stay namespace constants of the synapses
        return targets
    if len(parts) == 2 and parts[0] in spec.populations and parts[1] in spec.populations[parts[0]].parameters:
        return [SweepTarget(parts[0], parts[1])]
    if len(parts) == 2 and parts[0] in spec.pathways and parts[1] == "weight":
        return [SweepTarget(parts[0], "w")]
    if (len(parts) == 3 and parts[0] == "drive" and parts[1] in spec.drives
            and spec.drives[parts[1]].kind == "tonic_ou"
            and parts[2] in ("mean", "sigma", "tau", "heterogeneity")):
        return [SweepTarget(parts[1], f"{spec.drives[parts[1]].variable}_ou_{parts[2]}")]
    return None


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


def _clock(dt) -> dict:
    """``{"dt": dt}`` for an object's own clock, or the default clock where a device needs it.

    brian2cuda's synapse templates (and brian2genn) read ``defaultclock`` directly, so there
    every object runs on the default clock, set to ``dt`` here (the device context restores it).
    """
    from brian2 import defaultclock
    from brian2.devices.device import get_device

    if type(get_device()).__name__ in ("CUDAStandaloneDevice", "GeNNDevice"):
        defaultclock.dt = dt
        return {"clock": defaultclock}
    return {"dt": dt}


def _neuron_group(spec: ModelSpec, pop: PopulationSpec, n: int, dt, name: str,
                  shared_vars: tuple = ()) -> NeuronGroup:
    """A population's group; names in ``shared_vars`` become ``(constant, shared)`` variables."""
    eqs = population_equations(spec, pop.name)
    ns = _namespace(spec, pop.name)
    if shared_vars:
        eqs = eqs + Equations("\n".join(f"{var} : {_unit_text(ns[var])} (constant, shared)"
                                         for var in shared_vars))
        ns = {k: v for k, v in ns.items() if k not in shared_vars}
    group = NeuronGroup(
        n, eqs, threshold=pop.threshold, reset=pop.reset or None,
        refractory=pop.refractory, method=pop.method, namespace=ns,
        name=name, **_clock(dt),
    )
    full = _namespace(spec, pop.name)
    for var in shared_vars:
        setattr(group, var, full[var])
    return group


def _add_drive(spec: ModelSpec, pop: str, group: NeuronGroup, dt, objects: list,
               portable: PortableRandom | None = None):
    drive = spec.drives.get(pop)
    if drive is None:
        return
    var = drive.variable
    if drive.kind == "tonic_ou":
        # Standard normal numbers: Brian2's generator, or a CPU-drawn (steps × neurons) array.
        xi = "randn()" if portable is None else portable.noise_function(f"{pop}_ou_xi", group) + "(t, i)"
        group.run_regularly(
            # Exact OU transition over one step: mean 0, stationary sd sigma, for any dt.
            f"{var}_ou = {var}_ou*exp(-dt/{var}_ou_tau) "
            f"+ {var}_ou_sigma*sqrt(1 - exp(-2*dt/{var}_ou_tau))*{xi}\n"
            + (f"{var} = clip({var}_tonic + {var}_ou, 0*{var}_ou_mean, inf*{var}_ou_mean)"
               if _is_conductance(drive.values["mean"]) else f"{var} = {var}_tonic + {var}_ou"),
            # "_run_regularly_" in the name: brian2genn finds run_regularly operations by name
            # and silently leaves out any it does not recognise
            when="start", name=f"{pop}_run_regularly_ou_drive",
        )
        return
    if portable is not None:
        # Input counts per neuron and step drawn on the CPU: Binomial(n_sources, rate*dt), the
        # law PoissonInput samples from, applied in the same slot (synapses).
        counts = portable.poisson_function(f"{pop}_poisson_counts", group, drive.values["n_sources"],
                                           drive.values["rate"])
        group.namespace[f"{var}_poisson_weight"] = drive.values["weight"]
        group.run_regularly(f"{var} += {var}_poisson_weight*{counts}(t, i)", when="synapses",
                            name=f"{pop}_run_regularly_poisson_drive")
        return
    objects.append(PoissonInput(group, var, drive.values["n_sources"], drive.values["rate"],
                                weight=drive.values["weight"], name=f"{pop}_poisson_drive"))


def _init_drive(spec: ModelSpec, pop: str, group: NeuronGroup, portable: PortableRandom | None = None):
    drive = spec.drives.get(pop)
    if drive is None or drive.kind != "tonic_ou":
        return
    var = drive.variable
    unit = _unit_text(drive.values["mean"])
    # Tonic level with uniform ±heterogeneity spread; OU part starts from its stationary law.
    if portable is None:
        setattr(group, f"{var}_tonic",
                f"{var}_ou_mean*(1 + {var}_ou_heterogeneity*(2*rand() - 1))")
        setattr(group, f"{var}_ou", f"{var}_ou_sigma*randn()")
        return
    # The CPU-drawn numbers go in first (in the variable's unit) and are scaled by code, so that
    # a swept mean or sigma set through run_args still applies to them.
    setattr(group, f"{var}_tonic", portable.uniform(f"{pop}_tonic", group.N) * _unit_of(drive.values["mean"]))
    setattr(group, f"{var}_tonic",
            f"{var}_ou_mean*(1 + {var}_ou_heterogeneity*(2*({var}_tonic/({unit})) - 1))")
    setattr(group, f"{var}_ou", portable.normal(f"{pop}_ou_init", group.N) * _unit_of(drive.values["mean"]))
    setattr(group, f"{var}_ou", f"{var}_ou_sigma*({var}_ou/({unit}))")


def _is_conductance(q) -> bool:
    from brian2 import siemens

    return q.dim == siemens.dim


def _init_state(pop: PopulationSpec, group: NeuronGroup, portable: PortableRandom | None = None):
    for var, init in pop.init.items():
        if init[0] == "constant":
            setattr(group, var, init[1])
        elif portable is None:
            setattr(group, var, f"init_{var}_low + rand()*(init_{var}_high - init_{var}_low)")
        else:
            unit = _unit_text(init[1])
            setattr(group, var, portable.uniform(f"{pop.name}_init_{var}", group.N) * _unit_of(init[1]))
            setattr(group, var, f"init_{var}_low + ({var}/({unit}))*(init_{var}_high - init_{var}_low)")


def _connect(syn: Synapses, path, n_source: int, n_target: int, rng: np.random.Generator,
             portable: PortableRandom | None = None):
    recurrent = path.source == path.target
    if path.p is not None:
        if path.p > 0 and portable is None:
            syn.connect(condition="i != j" if recurrent else None, p=path.p)
        elif path.p > 0:
            pre, post = portable.bernoulli_pairs(path.name, n_source, n_target, path.p, recurrent)
            if len(pre):
                syn.connect(i=pre, j=post)
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


def build_network(spec: ModelSpec, *, dt, seed: int, record: dict | None = None,
                  portable: bool = False, duration=None, sweepable=(),
                  apply_run_args=None) -> BuiltNetwork:
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
    portable : bool
        Draw every random number on the CPU with numpy from ``seed`` (initial state,
        connectivity, OU noise, Poisson counts), so that every device sees the same numbers.
        Needs ``duration``: the noise is a (steps × neurons) array, 8 bytes per neuron-step.
    duration : brian2 Quantity, optional
        Simulated time; required with ``portable=True``.
    sweepable : iterable of str
        Override keys (``tau_gaba``, ``exc.C_m``, ``drive.exc.mean``, ``exc_to_inh.weight``)
        to build as state variables, so that a compiled standalone project can be rerun with
        new values through :meth:`BuiltNetwork.run_args`. A key that changes structure raises
        :class:`SettingsError`.
    apply_run_args : callable, optional
        Called once after the groups and synapses exist and before any initial value is set
        (standalone devices: ``device.apply_run_args``), so that run-time values of swept
        variables reach the initialisation code too.
    """
    rng = np.random.default_rng(seed)
    rand = None
    if portable:
        if duration is None:
            raise SettingsError("portable random numbers need the duration (the noise array covers "
                                "every step). Fix: pass duration=")
        rand = PortableRandom(seed, dt=dt, duration=duration)
    shared = {pop: [] for pop in spec.populations}
    sweep_where = {}
    for key in sweepable:
        targets = sweep_targets(spec, key)
        if targets is None:
            raise SettingsError(f"'{key}' changes the network's structure or code, so it cannot be "
                                "set on a compiled binary. Fix: sweep it with a rebuild per value "
                                "(the sweep engine does this by itself)")
        sweep_where[key] = targets
        for t in targets:
            if t.owner in shared and t.variable not in shared[t.owner]:
                shared[t.owner].append(t.variable)
    groups, synapses, spike_monitors, state_monitors, extra = {}, {}, {}, {}, []
    # Objects first, then initial values and connections in a fixed order: creating an object
    # draws no random number, so the order of draws is the same with and without sweep variables.
    for name, pop in spec.populations.items():
        groups[name] = _neuron_group(spec, pop, pop.n, dt, name, tuple(shared[name]))
        spike_monitors[name] = SpikeMonitor(groups[name], name=f"{name}_spikes")
    swept_weights = {t.owner for targets in sweep_where.values() for t in targets if t.variable == "w"}
    for name, path in spec.pathways.items():
        flags = " (constant, shared)" if name in swept_weights else ""
        synapses[name] = Synapses(groups[path.source], groups[path.target],
                                  model=f"w : {repr(_unit_of(path.weight))}{flags}", on_pre=path.on_pre,
                                  delay=path.delay, namespace={**spec.parameters}, name=name,
                                  **_clock(dt))
        if name in swept_weights:
            synapses[name].w = path.weight
    if apply_run_args is not None:
        apply_run_args()
    for name, pop in spec.populations.items():
        group = groups[name]
        _init_state(pop, group, rand)
        _init_drive(spec, name, group, rand)
        _add_drive(spec, name, group, dt, extra, rand)
    for name, path in spec.pathways.items():
        syn = synapses[name]
        _connect(syn, path, spec.populations[path.source].n, spec.populations[path.target].n, rng, rand)
        if name not in swept_weights:
            syn.w = path.weight
    for pop, what in (record or {}).items():
        if pop not in groups:
            raise ModelError(f"cannot record from population '{pop}': model '{spec.name}' has "
                             f"{', '.join(groups)}. Fix: record one of those")
        state_monitors[pop] = StateMonitor(groups[pop], what["variables"], record=what.get("indices", True),
                                           name=f"{pop}_states", **_clock(dt))
    net = Network(*groups.values(), *synapses.values(), *spike_monitors.values(),
                  *state_monitors.values(), *extra)
    sweep_vars = {key: [(groups[t.owner] if t.owner in groups else synapses[t.owner], t.variable, None)
                        for t in targets]
                  for key, targets in sweep_where.items()}
    return BuiltNetwork(net, groups, synapses, spike_monitors, state_monitors, sweep_vars,
                        dict(rand.bytes) if rand is not None else {})


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


# Unit checks depend on the model's text and on the units of its values, not on the numbers:
# keys of checks that passed, so that a sweep's points are not checked again one by one.
_UNITS_CHECKED: set = set()


def _units_key(raw) -> str:
    from ..units import parse_quantity

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items()}
        if isinstance(node, list):
            return [strip(v) for v in node]
        if isinstance(node, str):
            try:
                return f"<{parse_quantity(node).dim!r}>"
            except Exception:
                return node
        return f"<{type(node).__name__}>"

    return repr(strip(raw))


def check_units(spec: ModelSpec):
    """Ask Brian2 to check the units of every equation, threshold, reset and on_pre statement.

    A one-neuron copy of each population (and a one-synapse copy of each pathway) is prepared
    on the numpy target; Brian2's complaint becomes a :class:`ModelError` naming the table.
    """
    import brian2
    from brian2.devices.device import get_device, runtime_device

    if get_device() is not runtime_device:
        return  # standalone devices check units themselves when the network is built
    key = _units_key(spec.raw)
    if key in _UNITS_CHECKED:
        return  # the same text with values of the same units passed before (a sweep's points)
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
    if len(_UNITS_CHECKED) < 10_000:
        _UNITS_CHECKED.add(key)
