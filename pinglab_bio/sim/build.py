"""The one Brian2 builder: a :class:`~pinglab_bio.model.network.NetworkModel` → Brian2 objects.

Every Brian2 network of the toolkit is made here: the network of a model file that
``pinglab-bio run`` simulates, its compile-once sweep variant, and the trained networks the
training layer checks in the simulator (trials side by side, weights given as matrices,
external input spikes). dt is passed to every object explicitly; nothing here reads or writes
``defaultclock`` except on devices whose templates require it. Drive noise is updated by the
exact Ornstein–Uhlenbeck transition over one step, so its statistics do not depend on dt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from brian2 import (
    Equations,
    Network,
    NeuronGroup,
    PoissonInput,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
)

from ..errors import ModelError, SettingsError, quiet_dependency_warnings
from ..model.lower import drive_init, drive_update, lower, unit_of, unit_text
from ..model.network import INPUT, NetworkModel, PathwayModel, PopulationModel
from ..model.spec import ModelSpec
from .connectivity import pathway_arrays
from .devices import clock_arguments
from .portable import PortableRandom

__all__ = ["BuiltNetwork", "build", "build_network", "sweep_targets", "SweepTarget"]


@dataclass
class BuiltNetwork:
    """The Brian2 objects of one network instance, by role."""

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
    #: copies of the network side by side (population ``p`` holds ``trials * n`` neurons)
    trials: int = 1

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


@dataclass(frozen=True)
class SweepTarget:
    """Where a swept model value lives in the network: a population's or pathway's name."""

    owner: str          # population ("exc") or pathway ("exc_to_inh") name
    variable: str       # name inside that Brian2 object (namespace constant or ``w``)


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


# ------------------------------------------------------------------------------------------
# populations, drive, initial state


def _neuron_group(pop: PopulationModel, n: int, dt, shared_vars: tuple = ()) -> NeuronGroup:
    """A population's group; names in ``shared_vars`` become ``(constant, shared)`` variables."""
    eqs = pop.equations if isinstance(pop.equations, Equations) else Equations(pop.equations)
    ns = dict(pop.namespace)
    if shared_vars:
        eqs = eqs + Equations("\n".join(f"{var} : {unit_text(ns[var])} (constant, shared)"
                                         for var in shared_vars))
        ns = {k: v for k, v in ns.items() if k not in shared_vars}
    group = NeuronGroup(
        n, eqs, threshold=pop.threshold or None, reset=pop.reset or None,
        refractory=pop.refractory if pop.threshold else False, method=pop.method, namespace=ns,
        name=pop.name, **clock_arguments(dt),
    )
    for var in shared_vars:
        setattr(group, var, pop.namespace[var])
    return group


def _add_drive(pop: PopulationModel, group: NeuronGroup, objects: list, portable: PortableRandom | None):
    drive = pop.drive
    if drive is None:
        return
    var = drive.variable
    if drive.kind == "tonic_ou":
        # Standard normal numbers: Brian2's generator, or a CPU-drawn (steps × neurons) array.
        xi = "randn()" if portable is None else portable.noise_function(f"{pop.name}_ou_xi", group) + "(t, i)"
        # "_run_regularly_" in the name: brian2genn finds run_regularly operations by name
        # and silently leaves out any it does not recognise
        group.run_regularly(drive_update(drive, xi), when="start", name=f"{pop.name}_run_regularly_ou_drive")
        return
    if portable is not None:
        # Input counts per neuron and step drawn on the CPU: Binomial(n_sources, rate*dt), the
        # law PoissonInput samples from, applied in the same slot (synapses).
        counts = portable.poisson_function(f"{pop.name}_poisson_counts", group, drive.values["n_sources"],
                                           drive.values["rate"])
        group.namespace[f"{var}_poisson_weight"] = drive.values["weight"]
        group.run_regularly(f"{var} += {var}_poisson_weight*{counts}(t, i)", when="synapses",
                            name=f"{pop.name}_run_regularly_poisson_drive")
        return
    objects.append(PoissonInput(group, var, drive.values["n_sources"], drive.values["rate"],
                                weight=drive.values["weight"], name=f"{pop.name}_poisson_drive"))


def _init_drive(pop: PopulationModel, group: NeuronGroup, portable: PortableRandom | None):
    drive = pop.drive
    if drive is None or drive.kind != "tonic_ou":
        return
    if portable is None:
        for target, expression in drive_init(drive).items():
            setattr(group, target, expression)
        return
    # The CPU-drawn numbers go in first (in the variable's unit) and are scaled by code, so that
    # a swept mean or sigma set through run_args still applies to them.
    var, unit, scale = drive.variable, unit_text(drive.values["mean"]), unit_of(drive.values["mean"])
    setattr(group, f"{var}_tonic", portable.uniform(f"{pop.name}_tonic", group.N) * scale)
    setattr(group, f"{var}_tonic",
            f"{var}_ou_mean*(1 + {var}_ou_heterogeneity*(2*({var}_tonic/({unit})) - 1))")
    setattr(group, f"{var}_ou", portable.normal(f"{pop.name}_ou_init", group.N) * scale)
    setattr(group, f"{var}_ou", f"{var}_ou_sigma*({var}_ou/({unit}))")


def _init_state(pop: PopulationModel, group: NeuronGroup, portable: PortableRandom | None):
    for var, init in pop.init.items():
        if init[0] == "constant":
            setattr(group, var, init[1])
        elif portable is None:
            setattr(group, var, f"init_{var}_low + rand()*(init_{var}_high - init_{var}_low)")
        else:
            unit = unit_text(init[1])
            setattr(group, var, portable.uniform(f"{pop.name}_init_{var}", group.N) * unit_of(init[1]))
            setattr(group, var, f"init_{var}_low + ({var}/({unit}))*(init_{var}_high - init_{var}_low)")


def _set_values(group: NeuronGroup, values: dict, trials: int, n: int):
    """Per-neuron values in SI units: a scalar, ``[n]`` (the same in every trial) or ``[trials, n]``."""
    for var, value in values.items():
        arr = np.asarray(value, dtype=float)
        if arr.ndim == 0:
            flat = np.full(trials * n, float(arr))
        elif arr.ndim == 1:
            flat = np.tile(arr, trials)
        else:
            flat = arr.reshape(-1)
        group.variables[var].set_value(flat)


# ------------------------------------------------------------------------------------------
# pathways


def _connect_random(syn: Synapses, path: PathwayModel, n_source: int, n_target: int, seed: int,
                    portable: PortableRandom | None):
    recurrent = path.source == path.target
    if path.p is not None:
        if path.p > 0 and portable is None:
            syn.connect(condition="i != j" if recurrent else None, p=path.p)
        elif path.p > 0:
            pre, post = portable.bernoulli_pairs(path.name, n_source, n_target, path.p, recurrent)
            if len(pre):
                syn.connect(i=pre, j=post)
        return
    if path.in_degree == 0:
        return
    # drawn once in numpy (vectorised, cached), the same arrays on every device
    pre, post = pathway_arrays(path.name, n_source, n_target, path.in_degree, recurrent=recurrent, seed=seed)
    syn.connect(i=pre, j=post)


def _connect_matrix(syn: Synapses, path: PathwayModel, w: np.ndarray, n_source: int, n_target: int,
                    trials: int, copies: int):
    """Synapses where ``w`` (SI, ``[n_source, n_target]``, or ``[len(weight_names), n_source,
    n_target]`` stacked) is non-zero, in every trial (and, for inputs, in every copy of the
    generator neurons)."""
    w = np.asarray(w, dtype=float)
    names = path.weight_names or ("w",)
    stacked = w if path.weight_names else w[None]
    if stacked.shape != (len(names), n_source, n_target):
        expected = ((len(names), n_source, n_target) if path.weight_names else (n_source, n_target))
        raise SettingsError(f"weights of '{path.name}' have shape {w.shape}, expected {expected}. "
                            "Fix: pass one matrix [n_source, n_target] per weight variable")
    pre, post = np.nonzero(np.any(stacked != 0, axis=0))
    if not len(pre):
        return
    ii, jj = [], []
    for k in range(copies):
        for b in range(trials):
            ii.append((k * trials + b) * n_source + pre)
            jj.append(b * n_target + post)
    syn.connect(i=np.concatenate(ii), j=np.concatenate(jj))
    for name, values in zip(names, stacked, strict=True):
        syn.variables[name].set_value(np.tile(values[pre, post], copies * trials))  # SI, unit from the model


def _input_generator(inputs: np.ndarray, dt, n_inputs: int) -> tuple[SpikeGeneratorGroup, int]:
    """Generator neurons for ``inputs`` ``[trials, steps, n_inputs]`` spike counts.

    A count c > 1 becomes c generator neurons that spike together (copy k of channel c in trial
    b spikes at step n when the count is ≥ k + 1), so a summed bin acts as c spikes.
    """
    trials = inputs.shape[0]
    counts = np.asarray(np.round(inputs), dtype=np.int64)
    multiplicity = max(1, int(counts.max()) if counts.size else 1)
    parts = []
    for k in range(multiplicity):
        b, n, c = np.nonzero(counts > k)
        parts.append(((k * trials + b) * n_inputs + c, n))
    index = np.concatenate([p[0] for p in parts])
    steps = np.concatenate([p[1] for p in parts])
    gen = SpikeGeneratorGroup(multiplicity * trials * n_inputs, index, steps * dt, dt=dt, name="inputs")
    return gen, multiplicity


# ------------------------------------------------------------------------------------------
# the builder


@quiet_dependency_warnings()
def build(model: NetworkModel, *, dt, seed: int = 0, trials: int = 1, weights: dict | None = None,
          inputs: np.ndarray | None = None, init: dict | None = None, record: dict | None = None,
          portable: PortableRandom | None = None, shared: dict | None = None,
          apply_run_args=None) -> BuiltNetwork:
    """Create the Brian2 objects of ``model`` on the current device.

    Parameters
    ----------
    model : NetworkModel
        Populations and pathways with units (:func:`pinglab_bio.model.lower.lower` for a model file).
    dt : brian2 Quantity
        Integration step, given to every object.
    seed : int
        Seed of fixed in-degree connectivity (drawn in numpy, :mod:`pinglab_bio.sim.connectivity`).
        Brian2's own generator is seeded by the run session (:mod:`pinglab_bio.sim.session`).
    trials : int
        Copies of the network side by side: population ``p`` gets ``trials * p.n`` neurons and
        matrix weights are repeated in every copy. Random connectivity needs ``trials=1``.
    weights : dict, optional
        ``{pathway: array [n_source, n_target]}`` in SI units of ``w`` (zero = no synapse), for
        pathways that carry no ``weight``/``p``/``in_degree`` of their own.
    inputs : array [trials, steps, n_inputs], optional
        External spike counts per step, for pathways whose source is ``"input"``.
    init : dict, optional
        ``{pop: {var: scalar, [n] or [trials, n]}}`` initial values in SI units; set after the
        model's own initial-value rules (which still draw their numbers), so they win.
    record : dict, optional
        ``{population: {"variables": [...], "indices": [...] or True, "when": "start"}}``, and
        optionally ``"order"`` (within the slot) and ``"dt"`` (a sampling interval, a multiple
        of dt: the monitor records at 0, dt_rec, 2 dt_rec, ...).
    portable : PortableRandom, optional
        Draw every random number on the CPU (see :mod:`pinglab_bio.sim.portable`).
    shared : dict, optional
        ``{population: [names]}`` of namespace constants to build as ``(constant, shared)``
        variables, and ``{pathway: ["w"]}`` for weights, so that a compiled standalone project
        can be rerun with new values.
    apply_run_args : callable, optional
        Called once after the groups and synapses exist and before any initial value is set
        (standalone devices: ``device.apply_run_args``), so that run-time values of swept
        variables reach the initialisation code too.
    """
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise SettingsError(f"trials must be a whole number ≥ 1, got {trials!r}. Fix: e.g. trials=1")
    shared = shared or {}
    weights = weights or {}
    groups, synapses, spike_monitors, state_monitors, extra = {}, {}, {}, {}, []
    # Objects first, then initial values and connections in a fixed order: creating an object
    # draws no random number, so the order of draws is the same with and without sweep variables.
    for name, pop in model.populations.items():
        groups[name] = _neuron_group(pop, trials * pop.n, dt, tuple(shared.get(name, ())))
        for k, (code, when) in enumerate(pop.run_regularly):
            groups[name].run_regularly(code, when=when, name=f"{name}_run_regularly_{k}")
        if pop.threshold:
            spike_monitors[name] = SpikeMonitor(groups[name], name=f"{name}_spikes")
    multiplicity = 1
    if any(path.source == INPUT for path in model.pathways.values()):
        if inputs is None:
            raise SettingsError("the network has input pathways but no inputs were given. "
                                "Fix: pass inputs=[trials, steps, n_inputs] spike counts")
        inputs = np.asarray(inputs)
        if inputs.ndim != 3 or inputs.shape[0] != trials or inputs.shape[2] != model.n_inputs:
            raise SettingsError(f"inputs must be [trials={trials}, steps, n_inputs={model.n_inputs}], got "
                                f"shape {inputs.shape}. Fix: encode the data for this network")
        groups[INPUT], multiplicity = _input_generator(inputs, dt, model.n_inputs)
    for name, path in model.pathways.items():
        swept = "w" in shared.get(name, ())
        flags = " (constant, shared)" if swept else ""
        unit = unit_text(path.weight_unit)
        declared = "\n".join(f"{var} : {unit}{flags}" for var in (path.weight_names or ("w",)))
        synapses[name] = Synapses(groups[path.source], groups[path.target],
                                  model=declared + ("\n" + path.equations if path.equations else ""),
                                  on_pre=path.on_pre or None, delay=path.delay if path.on_pre else None,
                                  namespace=dict(path.namespace), name=name, **clock_arguments(dt))
        if swept:
            synapses[name].w = path.weight
    if apply_run_args is not None:
        apply_run_args()
    for name, pop in model.populations.items():
        _init_state(pop, groups[name], portable)
        _init_drive(pop, groups[name], portable)
        _add_drive(pop, groups[name], extra, portable)
        if init and name in init:  # given values win over the model's initial-value rules
            _set_values(groups[name], init[name], trials, pop.n)
    for name, path in model.pathways.items():
        syn = synapses[name]
        n_source = model.n_inputs if path.source == INPUT else model.populations[path.source].n
        n_target = model.populations[path.target].n
        if name in weights:
            _connect_matrix(syn, path, weights[name], n_source, n_target, trials,
                            multiplicity if path.source == INPUT else 1)
            continue
        if path.p is None and path.in_degree is None:
            raise SettingsError(f"pathway '{name}' has neither connectivity nor a weight matrix. "
                                "Fix: pass weights={pathway: [n_source, n_target]}")
        if trials != 1:
            raise SettingsError(f"pathway '{name}' draws random connectivity, which needs trials=1, got "
                                f"{trials}. Fix: build one network per trial")
        _connect_random(syn, path, n_source, n_target, seed, portable)
        if "w" not in shared.get(name, ()):
            syn.w = path.weight
    for pop, what in (record or {}).items():
        if pop not in groups or pop == INPUT:
            raise ModelError(f"cannot record from population '{pop}': the network has "
                             f"{', '.join(model.populations)}. Fix: record one of those")
        state_monitors[pop] = StateMonitor(groups[pop], what["variables"], record=what.get("indices", True),
                                           when=what.get("when", "start"), order=what.get("order", 0),
                                           name=f"{pop}_states", **clock_arguments(what.get("dt", dt)))
    net = Network(*groups.values(), *synapses.values(), *spike_monitors.values(),
                  *state_monitors.values(), *extra)
    return BuiltNetwork(net, groups, synapses, spike_monitors, state_monitors, {},
                        dict(portable.bytes) if portable is not None else {}, trials)


def build_network(spec: ModelSpec, *, dt, seed: int, record: dict | None = None,
                  portable: bool = False, duration=None, sweepable=(),
                  apply_run_args=None) -> BuiltNetwork:
    """Create the Brian2 objects of a model file's network on the current device.

    Parameters
    ----------
    spec : ModelSpec
        A validated model; it is lowered to a :class:`NetworkModel` and built by :func:`build`.
    dt : brian2 Quantity
        Integration step, given to every object (no global clock is touched).
    seed : int
        Seed of the numpy generator used for fixed in-degree connectivity (and of every draw
        with ``portable=True``). Brian2's own generator is seeded by the caller's run session.
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
        See :func:`build`.
    """
    rand = None
    if portable:
        if duration is None:
            raise SettingsError("portable random numbers need the duration (the noise array covers "
                                "every step). Fix: pass duration=")
        rand = PortableRandom(seed, dt=dt, duration=duration)
    shared: dict = {}
    sweep_where = {}
    for key in sweepable:
        targets = sweep_targets(spec, key)
        if targets is None:
            raise SettingsError(f"'{key}' changes the network's structure or code, so it cannot be "
                                "set on a compiled binary. Fix: sweep it with a rebuild per value "
                                "(the sweep engine does this by itself)")
        sweep_where[key] = targets
        for t in targets:
            names = shared.setdefault(t.owner, [])
            if t.variable not in names:
                names.append(t.variable)
    built = build(lower(spec), dt=dt, seed=seed, record=record, portable=rand, shared=shared,
                  apply_run_args=apply_run_args)
    built.sweep_vars = {key: [(built.groups[t.owner] if t.owner in built.groups else built.synapses[t.owner],
                               t.variable, None) for t in targets]
                        for key, targets in sweep_where.items()}
    return built
