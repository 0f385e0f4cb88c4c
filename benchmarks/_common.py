"""Shared helpers of the device and sweep benchmarks (not a benchmark itself)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import brian2  # noqa: E402

brian2.BrianLogger.console_handler.setLevel("ERROR")

__all__ = ["fixed_in_degree_model", "synaptic_events", "timer", "machine", "run_raw", "events_from_counts"]


def fixed_in_degree_model(n_total: int, k_ei: int = 80, k_ie: int = 40):
    """The default PING model at ``n_total`` neurons (4:1) with fixed in-degree.

    The per-synapse weights are scaled so that each cell receives the same total conductance as
    in the default model (whose pathways connect with probability p).
    """
    from pinglab_bio.model.spec import load_model

    base = load_model("ping_coba")
    n_exc = n_total * 4 // 5
    k = {"exc_to_inh": min(k_ei, n_exc), "inh_to_exc": min(k_ie, n_total - n_exc)}
    overrides = {"n_exc": n_exc, "n_inh": n_total - n_exc}
    for name, path in base.pathways.items():
        inputs = path.p * base.populations[path.source].n  # mean in-degree of the default model
        overrides.update({f"{name}.p": "off", f"{name}.in_degree": k[name],
                          f"{name}.weight": f"{float(path.weight) * 1e9 * inputs / k[name]!r} nS"})
    return load_model("ping_coba", overrides)


def synaptic_events(spec, result) -> int:
    """Spikes arriving at synapses: each presynaptic spike times the source's mean out-degree."""
    total = 0
    for path in spec.pathways.values():
        n_src, n_tgt = spec.populations[path.source].n, spec.populations[path.target].n
        k_in = path.in_degree if path.in_degree is not None else path.p * n_src
        spikes = len(result.spike_arrays(path.source)[1])
        total += spikes * k_in * n_tgt / n_src
    return int(total)


class timer:
    """``with timer() as t: ...; t.s`` seconds of wall time."""

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0


def machine() -> str:
    """One line naming the machine: CPU count, Python and Brian2 versions."""
    return (f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, brian2 {brian2.__version__}")


def run_raw(spec, device: str, duration="1 s", threads=None, seed: int = 1) -> dict:
    """Build, compile and run ``spec`` without the analysis; timings and spike counts.

    Returns ``{"job_s", "build_s", "compile_s", "loop_s", "counts"}``; ``loop_s`` is the
    simulation loop as timed by a standalone binary (the runtime's ``Network.run`` otherwise).
    """
    from pinglab_bio.runs.result import check_simulation, structure_key
    from pinglab_bio.sim.build import build_network
    from pinglab_bio.sim.devices import use_device

    spec, dt_q, dur_q, _, seed = check_simulation(spec, dt="0.1 ms", duration=duration, seed=seed,
                                                  transient="0 ms", device=device, threads=threads)
    with timer() as job:
        with use_device(device, build_key=structure_key(spec, dt_q, dur_q), threads=threads) as session:
            brian2.seed(seed)
            with timer() as build:
                built = build_network(spec, dt=dt_q, seed=seed)
            with timer() as run:
                built.network.run(dur_q, namespace={})
                session.finish()
            counts = {pop: int(mon.num_spikes) for pop, mon in built.spike_monitors.items()}
    return {"job_s": job.s, "build_s": build.s, "compile_s": session.timers.get("compile_s", 0.0),
            "loop_s": session.timers.get("loop_s", run.s), "counts": counts}


def events_from_counts(spec, counts: dict) -> int:
    """Synaptic events from spike counts: each spike times its population's mean out-degree."""
    total = 0.0
    for path in spec.pathways.values():
        n_src, n_tgt = spec.populations[path.source].n, spec.populations[path.target].n
        k_in = path.in_degree if path.in_degree is not None else path.p * n_src
        total += counts[path.source] * k_in * n_tgt / n_src
    return int(total)
