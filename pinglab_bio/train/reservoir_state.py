"""The reservoir: a catalogue model driven by an encoded data set, run in Brian2, its state exported by name.

:func:`reservoir_network` takes a model file unchanged (sizes, equations, delays, refractory
periods, tonic + Ornstein–Uhlenbeck drive) and adds the input channels of an
:class:`~pinglab_bio.model.spec.InputSpec`. Connections are drawn once in numpy from the seed and
handed to the one builder (:func:`pinglab_bio.sim.build.build`) as matrices, so that
:func:`simulate` can run chunks of trials side by side in one Brian2 network: every trial has
the same synapses and the same tonic level per neuron, and its own initial state and drive noise
(Brian2's generator, seeded per chunk from the seed, so the same seed gives the same state).

What is exported, by name (:data:`STATE_KINDS` plus any variable of a population):

* ``counts``: spikes per neuron in each time window ``[trials, windows, n]``;
* ``trace``: exponentially filtered spike trains (time constant ``tau_trace``) sampled at the
  end of each window, ``x_m = Σ_{spikes n < m S} exp(-(m S - n) dt / tau)``;
* a model variable (``v``, ``g_e``, ``g_i``, ...): its value at the end of each window (the
  state Brian2 holds at the start of step ``m S``), in SI units.

:class:`ReservoirState` holds them (spikes sparse, samples dense) with their units, hands them
out as arrays or tensors, and :func:`write_state` / :func:`read_state` keep them in a run folder
(HDF5 that any reader opens; :func:`read_state` returns neo Blocks, a Segment per trial).
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import PinglabError, SettingsError, chosen_names
from ..model.lower import input_pathways, lower
from ..model.network import INPUT, NetworkModel
from ..model.spec import ModelSpec

__all__ = [
    "STATE_KINDS",
    "ReservoirNetwork",
    "ReservoirState",
    "reservoir_network",
    "simulate",
    "state_names",
    "check_states",
    "write_state",
    "read_state",
    "load_state",
    "chunk_seed",
    "SAMPLE_ORDER",
]

#: state names computed from the spikes; every other name is a variable of the model
STATE_KINDS = ("counts", "trace")
#: scheduling slot and order of the samples: just before the summed-variable updaters (order −1)
#: of the ``groups`` slot, so a readout of sampled variables sees the values exported here
SAMPLE_ORDER = ("groups", -2)
_SPLIT_CODES = {"train": 1, "test": 2, "spontaneous": 3}


@dataclass
class ReservoirNetwork:
    """A model file's network with input channels and drawn connections.

    ``model`` keeps each population's drive and initial-value rules; ``weights`` are the
    matrices ``[n_source, n_target]`` (SI) of every pathway, inputs included; ``init`` fixes
    each driven neuron's tonic level (the same in every trial); ``hidden`` lists the spiking
    populations in order (E first), ``signs`` their Dale signs.
    """

    spec: ModelSpec
    model: NetworkModel
    weights: dict
    init: dict
    hidden: tuple
    signs: dict
    seed: int

    @property
    def sizes(self) -> dict:
        return {pop: self.model.populations[pop].n for pop in self.hidden}

    @property
    def n_hidden(self) -> int:
        return sum(self.sizes.values())

    def variables(self, pop: str) -> list:
        """Names of the state variables of population ``pop`` (equations and drive)."""
        from brian2 import Equations

        eqs = self.model.populations[pop].equations
        eqs = eqs if isinstance(eqs, Equations) else Equations(eqs)
        return sorted(name for name in eqs.names if eqs[name].type != "subexpression")


def _mask(rng, n_source, n_target, p=None, in_degree=None, recurrent=False):
    if p is not None:
        mask = rng.random((n_source, n_target)) < p
    else:
        mask = np.zeros((n_source, n_target), dtype=bool)
        for j in range(n_target):
            mask[rng.choice(n_source, size=in_degree, replace=False), j] = True
    if recurrent:
        np.fill_diagonal(mask, False)
    return mask


def reservoir_network(spec: ModelSpec, inputs, n_inputs: int, *, seed: int = 0) -> ReservoirNetwork:
    """The network of ``spec`` with ``n_inputs`` channels wired as ``inputs`` (an InputSpec).

    Every pathway's connections are drawn from ``default_rng([seed, crc32(name)])``: with
    probability ``p`` per pair, or ``in_degree`` sources per target (no self-connections within
    a population); the weight is the pathway's. A tonic drive's per-neuron level
    ``mean·(1 + heterogeneity·U(−1, 1))`` is drawn the same way.
    """
    from .bridge import dale_signs

    base = lower(spec)
    paths = {**input_pathways(spec, inputs), **base.pathways}
    model = NetworkModel(base.populations, paths, n_inputs)
    weights = {}
    for name, path in paths.items():
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        n_src = n_inputs if path.source == INPUT else model.populations[path.source].n
        n_tgt = model.populations[path.target].n
        if path.in_degree is not None and path.in_degree > n_src:
            raise SettingsError(
                f"pathway '{name}' has in_degree {path.in_degree}, more than its {n_src} "
                f"sources. Fix: use in_degree ≤ {n_src}"
            )
        mask = _mask(rng, n_src, n_tgt, path.p, path.in_degree, path.source == path.target)
        weights[name] = mask * float(path.weight)
    init = {}
    for pop, drive in spec.drives.items():
        if drive.kind != "tonic_ou":
            continue  # a Poisson drive draws its own input per neuron and trial
        rng = np.random.default_rng([seed, zlib.crc32(f"{pop}.tonic".encode())])
        n = spec.populations[pop].n
        mean, het = float(drive.values["mean"]), drive.values["heterogeneity"]
        init[pop] = {f"{drive.variable}_tonic": mean * (1 + het * (2 * rng.random(n) - 1))}
    hidden = tuple(pop for pop, p in model.populations.items() if p.threshold)
    signs = {pop: float(dale_signs(pop, 1)[0]) for pop in hidden}
    return ReservoirNetwork(spec, model, weights, init, hidden, signs, seed)


def state_names(network: ReservoirNetwork) -> list:
    """Every name :class:`ReservoirState` can export: :data:`STATE_KINDS` and the model's variables."""
    names = set()
    for pop in network.hidden:
        names.update(network.variables(pop))
    return list(STATE_KINDS) + sorted(names)


def check_states(network: ReservoirNetwork, states) -> list:
    """The requested state names, checked; SettingsError listing the valid ones."""
    return chosen_names(
        states, state_names(network), flag="state", what=f"an exported state of model '{network.spec.name}'"
    )


def chunk_seed(seed: int, split: str, start: int) -> int:
    """Brian2's seed for the chunk of trials of ``split`` that starts at trial ``start``."""
    return int(
        np.random.SeedSequence([int(seed), _SPLIT_CODES.get(split, 9), int(start)]).generate_state(1)[0]
    )


@dataclass
class ReservoirState:
    """The exported state of a set of trials, unitless (SI) with the units recorded.

    ``spikes[pop]``: ``(trial, step, neuron)`` int arrays of every spike in ``[0, steps)``;
    ``samples[var][pop]``: ``[trials, windows, n]`` float64, the variable at the end of each
    window; ``readouts[name]``: ``[trials, classes]`` scores of readout populations;
    ``readout_traces[name]``: ``[trials, steps, classes]`` membranes of leaky readouts;
    ``readout_spikes[name]``: ``(trial, step, neuron)`` of spiking readouts; ``units``:
    ``{"samples.<var>": unit}``; ``labels``: ``[trials]``.
    """

    sizes: dict
    dt_s: float
    steps: int
    window_steps: int
    spikes: dict
    samples: dict = field(default_factory=dict)
    units: dict = field(default_factory=dict)
    labels: np.ndarray | None = None
    readouts: dict = field(default_factory=dict)
    readout_traces: dict = field(default_factory=dict)
    readout_spikes: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def n_trials(self) -> int:
        first = next(iter(self.spikes.values()))
        return int(self.meta.get("n_trials", (first[0].max() + 1) if len(first[0]) else 0))

    @property
    def n_windows(self) -> int:
        return self.steps // self.window_steps

    def counts(self, pop: str) -> np.ndarray:
        """Spikes per window ``[trials, windows, n]`` (float64, a count)."""
        trial, step, neuron = self.spikes[pop]
        n, m = self.sizes[pop], self.n_windows
        flat = (np.asarray(trial) * m + np.asarray(step) // self.window_steps) * n + np.asarray(neuron)
        return np.bincount(flat, minlength=self.n_trials * m * n).astype(float).reshape(self.n_trials, m, n)

    def trace(self, pop: str, tau_s: float) -> np.ndarray:
        """Filtered spike trains at the end of each window ``[trials, windows, n]`` (dimensionless)."""
        trial, step, neuron = self.spikes[pop]
        out = np.zeros((self.n_trials, self.n_windows, self.sizes[pop]))
        for m in range(1, self.n_windows + 1):
            end = m * self.window_steps
            sel = step < end
            np.add.at(out, (trial[sel], m - 1, neuron[sel]), np.exp(-(end - step[sel]) * self.dt_s / tau_s))
        return out

    def state(self, name: str, pop: str, *, tau_trace_s: float | None = None) -> np.ndarray | None:
        """State ``name`` of population ``pop`` ``[trials, windows, n]``, or None where it has none."""
        if name == "counts":
            return self.counts(pop)
        if name == "trace":
            if tau_trace_s is None:
                raise SettingsError("the trace state needs its time constant. Fix: pass tau_trace_s")
            return self.trace(pop, tau_trace_s)
        return self.samples.get(name, {}).get(pop)

    def unit(self, name: str) -> str:
        """Unit of a state (``"1"`` for counts and traces, SI unit names for variables)."""
        return "1" if name in STATE_KINDS else self.units.get(f"samples.{name}", "?")

    def dense_spikes(self, trials, order) -> np.ndarray:
        """Spikes ``[len(trials), steps, Σ n]`` (float64) of the populations in ``order``, side by side."""
        trials = np.asarray(trials)
        where = np.full(self.n_trials, -1)
        where[trials] = np.arange(len(trials))
        out = np.zeros((len(trials), self.steps, sum(self.sizes[p] for p in order)))
        offset = 0
        for pop in order:
            trial, step, neuron = self.spikes[pop]
            sel = where[trial] >= 0
            out[where[trial[sel]], step[sel], offset + neuron[sel]] = 1.0
            offset += self.sizes[pop]
        return out

    def rates_hz(self) -> dict:
        """Mean firing rate of each population over the trials and the stimulus (Hz)."""
        duration = self.steps * self.dt_s
        return {
            pop: float(len(s[0]) / (self.n_trials * self.sizes[pop] * duration)) if self.n_trials else 0.0
            for pop, s in self.spikes.items()
        }

    def to_torch(self, names, *, tau_trace_s=None, dtype=None):
        """``{name: {pop: tensor [trials, windows, n]}}`` (torch imported here) and their units."""
        import torch

        dtype = dtype or torch.float64
        out = {
            name: {
                pop: torch.as_tensor(a, dtype=dtype)
                for pop in self.sizes
                if (a := self.state(name, pop, tau_trace_s=tau_trace_s)) is not None
            }
            for name in names
        }
        return out, {name: self.unit(name) for name in names}


def _progress(log, what, done, total, started):
    elapsed = time.perf_counter() - started
    from .loop import format_eta

    eta = elapsed / done * (total - done) if done else 0.0
    log(f"  {what}: {done}/{total} trials simulated, {format_eta(elapsed)} so far, ETA {format_eta(eta)}")


def simulate(
    network: ReservoirNetwork,
    inputs: np.ndarray,
    dt_s: float,
    *,
    window_steps: int,
    variables=(),
    readout=None,
    chunk: int = 60,
    split: str = "test",
    device: str = "runtime",
    labels=None,
    log=None,
) -> ReservoirState:
    """Run ``inputs`` ``[trials, steps, n_inputs]`` through the reservoir in Brian2, chunk by chunk.

    Parameters
    ----------
    network : ReservoirNetwork
    inputs : array [trials, steps, n_inputs]
        Spike counts per step (an encoded data set at ``dt_s``).
    dt_s : float
        Integration step (s).
    window_steps : int
        Steps per window; ``steps`` must be a multiple of it.
    variables : sequence of str
        Model variables to sample at the end of each window (in every population that has them).
    readout : ReadoutNetwork, optional
        Readout populations and pathways (:mod:`pinglab_bio.train.readouts`) built into the same
        network; their scores are read back.
    chunk : int
        Trials side by side in one Brian2 network. The last chunk is padded to full size (with
        copies of its first trial, thrown away), so that a standalone device compiles once.
    split : str
        Which data split (``train``, ``test``): it enters each chunk's seed.
    device : str
        ``runtime`` (numpy target) or a standalone device such as ``cpp_standalone``.
    labels : array [trials], optional
        Kept with the state.
    log : callable, optional
        Progress lines with an ETA after every chunk.
    """
    import brian2

    from ..sim.build import build
    from ..sim.session import check_completed, open_session

    log = log or (lambda *a: None)
    inputs = np.asarray(inputs)
    trials, steps, n_in = inputs.shape
    if n_in != network.model.n_inputs:
        raise SettingsError(
            f"inputs have {n_in} channels, the network has {network.model.n_inputs}. Fix: "
            "encode the data set the network was built for"
        )
    if window_steps < 1 or steps % window_steps:
        raise SettingsError(
            f"{steps} steps are not a whole number of windows of {window_steps} steps. "
            "Fix: pick a window that divides the duration"
        )
    n_windows = steps // window_steps
    model = network.model
    weights = dict(network.weights)
    init = {pop: dict(v) for pop, v in network.init.items()}
    if readout is not None:
        model = NetworkModel(
            {**model.populations, **readout.populations},
            {**model.pathways, **readout.pathways},
            model.n_inputs,
        )
        weights.update(readout.weights)
        for pop, values in readout.init.items():
            init.setdefault(pop, {}).update(values)
    have = {var: [pop for pop in network.hidden if var in network.variables(pop)] for var in variables}
    record = {}
    for var, pops in have.items():
        for pop in pops:
            record.setdefault(
                pop,
                {
                    "variables": [],
                    "when": SAMPLE_ORDER[0],
                    "order": SAMPLE_ORDER[1],
                    "dt": window_steps * dt_s * brian2.second,
                },
            )["variables"].append(var)
    traces = readout.traces if readout is not None else ()
    for name in traces:
        record[name] = {"variables": ["v"], "when": "end"}
    sizes = network.sizes
    spikes = {pop: ([], [], []) for pop in network.hidden}
    samples = {
        var: {pop: np.zeros((trials, n_windows, sizes[pop])) for pop in pops} for var, pops in have.items()
    }
    units = {}
    scores = {name: np.zeros((trials, readout.n_classes)) for name in (readout.scored if readout else ())}
    trace_out = {name: np.zeros((trials, steps, readout.n_classes)) for name in traces}
    rspikes = {name: ([], [], []) for name in (readout.spiking if readout else ())}
    chunk = max(1, min(int(chunk), trials))
    started = time.perf_counter()
    key = (
        f"reservoir|{network.spec.sha256}|{dt_s!r}|{steps}|{chunk}|{sorted(record)}|"
        f"{sorted(readout.pathways) if readout else ''}"
    )
    wall = {"build_s": 0.0, "run_s": 0.0}
    for start in range(0, trials, chunk):
        stop = min(trials, start + chunk)
        real = stop - start
        batch = inputs[start:stop]
        if real < chunk and device != "runtime":
            batch = np.concatenate([batch, np.repeat(batch[:1], chunk - real, axis=0)])
        n_run = len(batch)
        t0 = time.perf_counter()
        with open_session(
            device, seed=chunk_seed(network.seed, split, start), target="numpy", build_key=key
        ) as session:
            built = build(
                model,
                dt=dt_s * brian2.second,
                seed=network.seed,
                trials=n_run,
                weights=weights,
                inputs=batch,
                init=init,
                record=record,
            )
            t1 = time.perf_counter()
            duration = (steps + 1) * dt_s * brian2.second  # one step more: the last window's sample
            built.network.run(duration, namespace={})
            session.finish()
            check_completed(built.network, duration, what="the reservoir simulation")
            wall["build_s"] += t1 - t0
            wall["run_s"] += time.perf_counter() - t1
            for pop in network.hidden:
                mon = built.spike_monitors[pop]
                idx = np.asarray(mon.i[:])
                step = np.asarray(np.round(np.asarray(mon.t_[:]) / dt_s), dtype=np.int64)
                keep = (step < steps) & (idx < real * sizes[pop])
                spikes[pop][0].append(start + idx[keep] // sizes[pop])
                spikes[pop][1].append(step[keep])
                spikes[pop][2].append(idx[keep] % sizes[pop])
            for pop, what in record.items():
                mon = built.state_monitors[pop]
                for var in what["variables"]:
                    values = np.asarray(getattr(mon, var + "_")[:])  # [n_run * n, ticks], SI
                    if pop in trace_out:
                        n = readout.n_classes
                        trace_out[pop][start:stop] = values.reshape(n_run, n, -1).transpose(0, 2, 1)[
                            :real, :steps
                        ]
                        continue
                    if values.shape[1] != n_windows + 1:
                        raise PinglabError(
                            f"sampling {var} gave {values.shape[1]} samples, expected "
                            f"{n_windows + 1}. Fix: pick a window that is a multiple of dt"
                        )
                    n = sizes[pop]
                    samples[var][pop][start:stop] = values.reshape(n_run, n, -1).transpose(0, 2, 1)[:real, 1:]
                    units[f"samples.{var}"] = _unit_name(getattr(built.groups[pop], var))
            for name in scores:
                value = np.asarray(built.groups[name].variables["score"].get_value())
                scores[name][start:stop] = value.reshape(n_run, -1)[:real]
            for name in rspikes:
                mon = built.spike_monitors[name]
                idx = np.asarray(mon.i[:])
                step = np.asarray(np.round(np.asarray(mon.t_[:]) / dt_s), dtype=np.int64)
                keep = (step < steps) & (idx < real * readout.n_classes)
                rspikes[name][0].append(start + idx[keep] // readout.n_classes)
                rspikes[name][1].append(step[keep])
                rspikes[name][2].append(idx[keep] % readout.n_classes)
        del built
        _progress(log, f"{split} at dt {dt_s * 1e3:g} ms ({device})", stop, trials, started)

    def cat(parts):
        return tuple(np.concatenate(p).astype(np.int64) if p else np.zeros(0, dtype=np.int64) for p in parts)

    return ReservoirState(
        sizes=dict(sizes),
        dt_s=float(dt_s),
        steps=int(steps),
        window_steps=int(window_steps),
        spikes={pop: cat(s) for pop, s in spikes.items()},
        samples=samples,
        units=units,
        labels=None if labels is None else np.asarray(labels),
        readouts=scores,
        readout_traces=trace_out,
        readout_spikes={k: cat(v) for k, v in rspikes.items()},
        meta={
            "n_trials": int(trials),
            "device": device,
            "chunk": int(chunk),
            "seed": int(network.seed),
            "split": split,
            **wall,
        },
    )


def _unit_name(values) -> str:
    from brian2.units.fundamentalunits import DIMENSIONLESS, get_unit

    dim = getattr(values, "dim", DIMENSIONLESS)
    return "1" if dim is DIMENSIONLESS else str(get_unit(dim))


def write_state(folder, states: dict, *, tau_trace_s: float | None = None) -> str:
    """Write ``{split: ReservoirState}`` to ``state.h5`` in ``folder``; return the file name.

    Layout, per split ``S``: ``/S/spikes/P/{trial, step, neuron}`` (int32) with attribute
    ``n_neurons``; ``/S/samples/VAR/P`` (float64 ``[trials, windows, n]``) with attribute
    ``unit``; ``/S/labels``; attributes ``dt_s``, ``steps``, ``window_steps``, ``n_trials``.
    """
    import h5py

    name = "state.h5"
    with h5py.File(Path(folder) / name, "w") as h5:
        h5.attrs["format"] = "pinglab-bio reservoir state v1"
        if tau_trace_s is not None:
            h5.attrs["tau_trace_s"] = float(tau_trace_s)
        for split, st in states.items():
            grp = h5.create_group(split)
            for key in ("dt_s", "steps", "window_steps"):
                grp.attrs[key] = getattr(st, key)
            grp.attrs["n_trials"] = st.n_trials
            if st.labels is not None:
                grp.create_dataset("labels", data=np.asarray(st.labels, dtype=np.int32))
            for pop, (trial, step, neuron) in st.spikes.items():
                g = grp.create_group(f"spikes/{pop}")
                g.attrs["n_neurons"] = int(st.sizes[pop])
                for k, arr in (("trial", trial), ("step", step), ("neuron", neuron)):
                    g.create_dataset(k, data=arr.astype(np.int32), compression="gzip", compression_opts=1)
            for var, by_pop in st.samples.items():
                for pop, arr in by_pop.items():
                    ds = grp.create_dataset(
                        f"samples/{var}/{pop}", data=arr, compression="gzip", compression_opts=1
                    )
                    ds.attrs["unit"] = st.unit(var)
    return name


def _open_split(folder, split):
    import h5py

    path = Path(folder) / "state.h5"
    if not path.is_file():
        raise PinglabError(
            f"{folder} has no state.h5. Fix: pass a folder written by `pinglab-bio run reservoir`"
        )
    h5 = h5py.File(path, "r")
    if split not in h5:
        names = ", ".join(h5)
        h5.close()
        raise PinglabError(f"{path} has no split {split!r} (it has {names}). Fix: use one of those")
    return h5


def load_state(folder, split: str = "train") -> ReservoirState:
    """The exported state of a run folder's ``split`` as a :class:`ReservoirState` (to refit
    readouts without simulating again)."""
    with _open_split(folder, split) as h5:
        grp = h5[split]
        sizes, spikes = {}, {}
        for pop, g in grp["spikes"].items():
            sizes[pop] = int(g.attrs["n_neurons"])
            spikes[pop] = tuple(g[k][()].astype(np.int64) for k in ("trial", "step", "neuron"))
        samples, units = {}, {}
        for var, g in grp.get("samples", {}).items():
            samples[var] = {pop: ds[()] for pop, ds in g.items()}
            units[f"samples.{var}"] = str(next(iter(g.values())).attrs["unit"])
        return ReservoirState(
            sizes=sizes,
            dt_s=float(grp.attrs["dt_s"]),
            steps=int(grp.attrs["steps"]),
            window_steps=int(grp.attrs["window_steps"]),
            spikes=spikes,
            samples=samples,
            units=units,
            labels=grp["labels"][()].astype(np.int64) if "labels" in grp else None,
            meta={"n_trials": int(grp.attrs["n_trials"]), "split": split},
        )


def read_state(folder, split: str = "test", *, trials=None):
    """The exported state of a run folder's ``split`` as a neo Block: a Segment per trial.

    Each Segment holds one SpikeTrain per population (times in s, ``array_annotations``
    ``neuron_index``, annotation ``population``) and one AnalogSignal ``[windows, n]`` per
    sampled variable and population (its unit, ``t_start`` = the first window's end,
    ``sampling_period`` = the window), annotated with the trial's ``label``.
    """
    import neo
    import quantities as pq

    with _open_split(folder, split) as h5:
        grp = h5[split]
        dt, steps, window = float(grp.attrs["dt_s"]), int(grp.attrs["steps"]), int(grp.attrs["window_steps"])
        n_trials = int(grp.attrs["n_trials"])
        labels = grp["labels"][()] if "labels" in grp else None
        spikes = {
            pop: (int(g.attrs["n_neurons"]), g["trial"][()], g["step"][()], g["neuron"][()])
            for pop, g in grp["spikes"].items()
        }
        samples = {
            var: {pop: (ds[()], str(ds.attrs["unit"])) for pop, ds in g.items()}
            for var, g in grp.get("samples", {}).items()
        }
    block = neo.Block(name=f"reservoir {split}", dt_s=dt, window_s=window * dt)
    t_stop = steps * dt * pq.s
    for b in range(n_trials) if trials is None else trials:
        seg = neo.Segment(name=f"trial {b}", trial=int(b), label=None if labels is None else int(labels[b]))
        for pop, (n, trial, step, neuron) in spikes.items():
            sel = trial == b
            order = np.argsort(step[sel], kind="stable")
            seg.spiketrains.append(
                neo.SpikeTrain(
                    step[sel][order] * dt * pq.s,
                    t_stop=t_stop,
                    population=pop,
                    n_neurons=n,
                    array_annotations={"neuron_index": neuron[sel][order]},
                )
            )
        for var, by_pop in samples.items():
            for pop, (arr, unit) in by_pop.items():
                units = pq.dimensionless if unit == "1" else pq.Quantity(1.0, unit).units
                seg.analogsignals.append(
                    neo.AnalogSignal(
                        arr[b],
                        units=units,
                        sampling_period=window * dt * pq.s,
                        t_start=window * dt * pq.s,
                        name=f"{pop}.{var}",
                        population=pop,
                        variable=var,
                    )
                )
        block.segments.append(seg)
    return block
