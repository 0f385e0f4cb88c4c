"""Export from Brian2 to plain arrays, and import trained values back into Brian2.

This is the only place where units are stripped. Every exported number is in SI units (volt,
siemens, ampere, second, hertz); the record :attr:`Exported.meta` names the unit of each array,
the dt, the device, the seed and the package versions, so that :func:`import_weights` can put
the units back.

Two entry points:

* :func:`export_network` turns a built and run :class:`~pinglab_bio.sim.build.BuiltNetwork`
  (a model file's network) into spikes ``[trials, steps, neurons]``, recorded states, dense
  weight matrices ``[n_source, n_target]`` with Dale sign masks, and parameters;
  :func:`import_weights` writes weights (and per-neuron values) back into such a network built
  from the same model file.
* :func:`simulate_brian2` builds a :class:`~pinglab_bio.train.derive.NetworkModel` in Brian2
  with given weights, input spikes and initial values, runs a batch of trials side by side
  (one copy of the network per trial) and exports the result the same way. It is what the
  training layer uses to check trained weights in the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import PinglabError, SettingsError

__all__ = ["Exported", "export_network", "import_weights", "simulate_brian2", "dale_signs",
           "save_exported", "load_exported"]

_DALE = {"exc": 1.0, "inh": -1.0}


def dale_signs(source: str, n: int, signs: np.ndarray | None = None) -> np.ndarray:
    """Sign mask of a source population's outgoing weights: +1 for ``exc``, −1 for ``inh``."""
    if signs is not None:
        return np.asarray(signs, dtype=float)
    return np.full(n, _DALE.get(source, 1.0))


@dataclass
class Exported:
    """Unitless arrays of a Brian2 run plus the record needed to put the units back.

    ``spikes[pop]``: ``[trials, steps, n]`` (0/1, uint8); ``states[pop][var]``:
    ``[trials, steps, n]`` float64 (SI); ``weights[pathway]``: ``[n_source, n_target]`` float64
    (SI, zero where there is no synapse); ``signs[pathway]``: ``[n_source]`` Dale signs;
    ``parameters[pop][name]``: scalar or ``[n]`` (SI); ``meta``: dt_s, units, device, seed,
    versions.
    """

    spikes: dict
    states: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    signs: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def to_torch(self, dtype=None, device=None):
        """The same arrays as torch tensors (torch is imported here, not at module import)."""
        import torch

        dtype = dtype or torch.float64

        def conv(a):
            return torch.as_tensor(np.asarray(a), dtype=dtype, device=device)

        return {
            "spikes": {k: conv(v) for k, v in self.spikes.items()},
            "states": {p: {k: conv(v) for k, v in d.items()} for p, d in self.states.items()},
            "weights": {k: conv(v) for k, v in self.weights.items()},
            "signs": {k: conv(v) for k, v in self.signs.items()},
        }


def _unit_name(q) -> str:
    from brian2.units.fundamentalunits import DIMENSIONLESS, get_unit

    dim = getattr(q, "dim", DIMENSIONLESS)
    return "1" if dim is DIMENSIONLESS else str(get_unit(dim))


def _si(q) -> np.ndarray:
    return np.array(q, dtype=float, copy=True)  # a copy: Brian2 hands out views of its state


def _provenance(dt, seed, device) -> dict:
    from ..provenance import package_versions

    return {"dt_s": float(dt), "seed": seed, "device": device, "versions": package_versions()}


def export_network(built, *, dt, seed=None, device: str = "runtime", duration=None) -> Exported:
    """Export a built (and run) model network to unitless arrays (one trial).

    Parameters
    ----------
    built : pinglab_bio.sim.build.BuiltNetwork
    dt : brian2 Quantity
        The step the network was run at.
    seed : int, optional
        Recorded in ``meta``.
    duration : brian2 Quantity, optional
        Simulated time; defaults to the network's current time.
    """
    import brian2

    dt_s = float(dt)
    t_end = float(duration) if duration is not None else float(built.network.t)
    steps = int(round(t_end / dt_s))
    units, spikes, states, parameters = {}, {}, {}, {}
    for pop, mon in built.spike_monitors.items():
        n = len(built.groups[pop])
        arr = np.zeros((1, steps, n), dtype=np.uint8)
        idx = np.asarray(mon.i[:])
        step = np.asarray(np.round(np.asarray(mon.t[:] / brian2.second) / dt_s), dtype=np.int64)
        keep = step < steps
        arr[0, step[keep], idx[keep]] = 1
        spikes[pop] = arr
    for pop, mon in built.state_monitors.items():
        states[pop] = {}
        for var in mon.record_variables:
            values = getattr(mon, var)[:]
            states[pop][var] = _si(values).T[None]
            units[f"states.{pop}.{var}"] = _unit_name(values)
    for pop, group in built.groups.items():
        parameters[pop] = {}
        for var in group.equations.names:
            if group.equations[var].type == "subexpression":
                continue
            values = getattr(group, var)[:]
            parameters[pop][var] = _si(values)
            units[f"parameters.{pop}.{var}"] = _unit_name(values)
        for key, value in (group.namespace or {}).items():
            if hasattr(value, "dim") or isinstance(value, (int, float)):
                parameters[pop][key] = _si(value)
                units[f"parameters.{pop}.{key}"] = _unit_name(value)
    weights, signs = {}, {}
    for name, syn in built.synapses.items():
        n_pre, n_post = len(syn.source), len(syn.target)
        w = np.zeros((n_pre, n_post))
        np.add.at(w, (np.asarray(syn.i[:]), np.asarray(syn.j[:])), _si(syn.w[:]))
        weights[name] = w
        signs[name] = dale_signs(syn.source.name, n_pre)
        units[f"weights.{name}"] = _unit_name(syn.w[:])
    meta = {**_provenance(dt_s, seed, device), "units": units, "steps": steps}
    return Exported(spikes=spikes, states=states, weights=weights, signs=signs, parameters=parameters,
                    meta=meta)


def import_weights(built, weights: dict, *, units: dict | None = None, values: dict | None = None):
    """Write trained weights (and per-neuron values) into a network built from the same model.

    Parameters
    ----------
    built : pinglab_bio.sim.build.BuiltNetwork
    weights : dict
        ``{pathway: array [n_source, n_target]}`` in SI units; entries without a synapse in
        ``built`` must be zero.
    units : dict, optional
        ``{"weights.<pathway>": unit name}`` as in :attr:`Exported.meta` ``["units"]``; by
        default each pathway keeps the unit of its current weights.
    values : dict, optional
        ``{pop: {var: array [n]}}`` per-neuron values in SI units.
    """
    from ..units import parse_quantity

    for name, w in weights.items():
        if name not in built.synapses:
            raise PinglabError(f"cannot import weights of pathway '{name}': the network has "
                               f"{', '.join(built.synapses) or 'no pathways'}. Fix: build it from the "
                               "same model file")
        syn = built.synapses[name]
        w = np.asarray(w, dtype=float)
        shape = (len(syn.source), len(syn.target))
        if w.shape != shape:
            raise PinglabError(f"weights of '{name}' have shape {w.shape}, the network needs {shape}. "
                               "Fix: build the network from the same model file and sizes")
        i, j = np.asarray(syn.i[:]), np.asarray(syn.j[:])
        mask = np.zeros(shape, dtype=bool)
        mask[i, j] = True
        if np.any(w[~mask] != 0):
            raise PinglabError(f"weights of '{name}' are non-zero where the network has no synapse "
                               f"({int(np.count_nonzero(w[~mask]))} entries). Fix: build with the same "
                               "seed, or connect all-to-all")
        unit_name = (units or {}).get(f"weights.{name}")
        unit = parse_quantity(f"1 {unit_name}") if unit_name and unit_name != "1" else None
        if unit is None:
            current = syn.w[:]
            unit = parse_quantity(f"1 {_unit_name(current)}") if _unit_name(current) != "1" else 1.0
        syn.w[:] = w[i, j] * unit
    for pop, vars_ in (values or {}).items():
        group = built.groups[pop]
        for var, value in vars_.items():
            current = getattr(group, var)[:]
            unit_name = _unit_name(current)
            unit = parse_quantity(f"1 {unit_name}") if unit_name != "1" else 1.0
            setattr(group, var, np.asarray(value, dtype=float) * unit)


def simulate_brian2(model, weights: dict, inputs: np.ndarray, dt, *, init: dict | None = None,
                    record: dict | None = None, signs: dict | None = None, chunk: int = 128,
                    seed: int = 0) -> Exported:
    """Run a :class:`~pinglab_bio.model.network.NetworkModel` in Brian2 (runtime, numpy target).

    The network is made by the one Brian2 builder (:func:`pinglab_bio.sim.build.build`), the
    same that ``pinglab-bio run`` uses, with ``chunk`` trials side by side.

    Parameters
    ----------
    model : NetworkModel
        Populations (equations with units) and pathways.
    weights : dict
        ``{pathway: array [n_source, n_target]}`` in SI units of ``w`` (zero = no synapse).
    inputs : array [trials, steps, n_inputs]
        External spike counts per step (a count c > 1 becomes c generator neurons that spike
        together, so a summed bin acts as c spikes).
    dt : float or Quantity
        Integration step (seconds if a float).
    init : dict, optional
        ``{pop: {var: scalar, [n] or [trials, n]}}`` initial values in SI units.
    record : dict, optional
        ``{pop: [var, ...]}`` recorded after every step (``when="end"``).
    chunk : int
        Trials simulated side by side in one Brian2 network.

    Returns
    -------
    Exported
        spikes ``[trials, steps, n]`` of every spiking population and the recorded states.
    """
    import brian2

    from ..sim.build import build
    from ..sim.session import open_session

    inputs = np.asarray(inputs)
    if inputs.ndim != 3:
        raise SettingsError(f"inputs must be [trials, steps, n_inputs], got shape {inputs.shape}. "
                            "Fix: add the missing axis")
    dt_s = float(dt)
    trials, steps, n_in = inputs.shape
    if n_in != model.n_inputs:
        raise SettingsError(f"inputs have {n_in} channels, the network expects {model.n_inputs}. Fix: "
                            "encode the data for this network")
    record = record or {}
    spikes_out = {name: np.zeros((trials, steps, p.n), dtype=np.uint8)
                  for name, p in model.populations.items() if p.threshold}
    states_out = {pop: {var: np.zeros((trials, steps, model.populations[pop].n)) for var in vars_}
                  for pop, vars_ in record.items()}
    monitors = {pop: {"variables": list(vars_), "when": "end"} for pop, vars_ in record.items()}
    for start in range(0, trials, chunk):
        stop = min(trials, start + chunk)
        batch = inputs[start:stop]
        n_trials = stop - start
        with open_session("runtime", seed=seed, target="numpy"):
            built = build(model, dt=dt_s * brian2.second, seed=seed, trials=n_trials, weights=weights,
                          inputs=batch, init=_trial_values(init or {}, start, stop),
                          record=monitors)
            built.network.run(steps * dt_s * brian2.second, namespace={})
            for name, mon in built.spike_monitors.items():
                n = model.populations[name].n
                idx = np.asarray(mon.i[:])
                step = np.asarray(np.round(np.asarray(mon.t_[:]) / dt_s), dtype=np.int64)
                spikes_out[name][start + idx // n, step, idx % n] = 1
            for name, mon in built.state_monitors.items():
                n = model.populations[name].n
                for var in record[name]:
                    values = np.asarray(getattr(mon, var + "_")[:])  # [trials*n, steps], SI
                    values = values.reshape(n_trials, n, -1).transpose(0, 2, 1)
                    states_out[name][var][start:stop] = values[:, :steps]
    units = {f"states.{pop}.{var}": "SI" for pop, vars_ in record.items() for var in vars_}
    return Exported(spikes=spikes_out, states=states_out,
                    weights={k: np.asarray(v, dtype=float) for k, v in weights.items()},
                    signs=dict(signs or {}),
                    meta={**_provenance(dt_s, seed, "runtime"), "units": units, "steps": steps})


def _trial_values(init: dict, start: int, stop: int) -> dict:
    """The slice of per-trial initial values ``[trials, n]`` that one chunk of trials needs."""
    out = {}
    for pop, values in init.items():
        out[pop] = {var: (np.asarray(v)[start:stop] if np.ndim(v) == 2 else v) for var, v in values.items()}
    return out


def save_exported(exported: Exported, folder):
    """Write ``arrays.safetensors`` (no code runs on load) and ``meta.json`` into ``folder``."""
    from pathlib import Path

    from safetensors.numpy import save_file

    from ..files import write_json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for kind in ("spikes", "weights", "signs"):
        for k, v in getattr(exported, kind).items():
            tensors[f"{kind}.{k}"] = np.ascontiguousarray(v)
    for pop, d in exported.states.items():
        for var, v in d.items():
            tensors[f"states.{pop}.{var}"] = np.ascontiguousarray(v)
    for pop, d in exported.parameters.items():
        for var, v in d.items():
            tensors[f"parameters.{pop}.{var}"] = np.ascontiguousarray(np.atleast_1d(v))
    save_file(tensors, str(folder / "arrays.safetensors"))
    write_json(folder / "meta.json", exported.meta)


def load_exported(folder) -> Exported:
    """Read what :func:`save_exported` wrote."""
    from pathlib import Path

    from safetensors.numpy import load_file

    from ..files import read_json

    folder = Path(folder)
    if not (folder / "arrays.safetensors").is_file():
        raise PinglabError(f"{folder} has no arrays.safetensors. Fix: pass a folder written by "
                           "save_exported")
    tensors = load_file(str(folder / "arrays.safetensors"))
    out = Exported(spikes={}, meta=read_json(folder / "meta.json"))
    for key, value in tensors.items():
        kind, rest = key.split(".", 1)
        if kind in ("spikes", "weights", "signs"):
            getattr(out, kind)[rest] = value
        else:
            pop, var = rest.split(".", 1)
            getattr(out, kind).setdefault(pop, {})[var] = value
    return out
