"""Synapse creation at fixed in-degree: one generator call per target against one vectorised draw.

    python benchmarks/bench_synapses.py --sizes 10000,100000,1000000
    python benchmarks/bench_synapses.py --sizes 10000,100000 --device cpp_standalone

The default PING network at fixed in-degree (K_EI 80, K_IE 40; it has no I→I pathway) has 48
synapses per neuron: 4.8e7 at 10^6 neurons. For each size it times, side by side in this
process:

- ``per-target``: the rule the builder used before, ``rng.choice(n_source, k, replace=False)``
  once per target neuron (kept here as the reference);
- ``vectorised``: :func:`pinglab_bio.sim.connectivity.fixed_in_degree`, every target in one go;
- ``cached``: the same arrays read back from the connectivity cache (a rerun or a sweep point).

With ``--device cpp_standalone`` it also times building the network on that device (our part of
synapse creation: drawing and handing the arrays to Brian2, then code generation) with each rule.
Prints seconds and the ratio per-target / vectorised.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from _common import fixed_in_degree_model, machine

from pinglab_bio.sim import connectivity


def per_target(n_source: int, n_target: int, k: int, *, recurrent: bool, rng) -> tuple:
    """The rule of before: one generator call per target neuron."""
    pre = np.empty(n_target * k, dtype=np.int64)
    for j in range(n_target):
        if recurrent:
            choice = rng.choice(n_source - 1, size=k, replace=False)
            choice[choice >= j] += 1
        else:
            choice = rng.choice(n_source, size=k, replace=False)
        pre[j * k:(j + 1) * k] = choice
    return pre, np.repeat(np.arange(n_target), k)


def _pathways(spec):
    for name, path in spec.pathways.items():
        yield (name, spec.populations[path.source].n, spec.populations[path.target].n, path.in_degree,
               path.source == path.target)


def draw_all(spec, rule, seed=0) -> tuple[float, int]:
    t0 = time.perf_counter()
    total = 0
    for _name, n_src, n_tgt, k, recurrent in _pathways(spec):
        pre, _ = rule(n_src, n_tgt, k, recurrent=recurrent, rng=np.random.default_rng(seed))
        total += len(pre)
    return time.perf_counter() - t0, total


def cached_all(spec, seed=0) -> float:
    for name, n_src, n_tgt, k, recurrent in _pathways(spec):  # fill the cache
        connectivity.pathway_arrays(name, n_src, n_tgt, k, recurrent=recurrent, seed=seed)
    t0 = time.perf_counter()
    for name, n_src, n_tgt, k, recurrent in _pathways(spec):
        connectivity.pathway_arrays(name, n_src, n_tgt, k, recurrent=recurrent, seed=seed)
    return time.perf_counter() - t0


def build_on(spec, device: str, rule) -> float:
    """Seconds to build the network on ``device`` with ``rule`` drawing the in-degree pathways."""
    import brian2

    from pinglab_bio.sim import build as build_module
    from pinglab_bio.sim.build import build_network
    from pinglab_bio.sim.session import open_session

    original = build_module.pathway_arrays

    def arrays(name, n_source, n_target, k, *, recurrent, seed):
        return rule(n_source, n_target, k, recurrent=recurrent, rng=np.random.default_rng(seed))

    build_module.pathway_arrays = arrays
    try:
        with open_session(device, seed=0, build_key=f"bench-synapses-{spec.n_neurons}-{rule.__name__}"):
            t0 = time.perf_counter()
            built = build_network(spec, dt=0.1 * brian2.ms, seed=0)
            built.network.run(0.1 * brian2.ms, namespace={})  # code generation of every object
            return time.perf_counter() - t0
    finally:
        build_module.pathway_arrays = original


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--device", default=None, help="also time the network build on this device")
    args = ap.parse_args()
    import os

    os.environ.setdefault("PINGLAB_BIO_CACHE", tempfile.mkdtemp(prefix="bench-synapses-"))
    print(f"# {machine()}; fixed in-degree K_EI 80, K_IE 40")
    print(f"{'N':>9} {'synapses':>11} {'per-target s':>13} {'vectorised s':>13} {'cached s':>9} {'ratio':>7}"
          + (f" {'build per-target s':>19} {'build vectorised s':>19}" if args.device else ""), flush=True)
    for n in (int(x) for x in args.sizes.split(",")):
        spec = fixed_in_degree_model(n)
        slow, total = draw_all(spec, per_target)
        fast, total_fast = draw_all(spec, connectivity.fixed_in_degree)
        assert total == total_fast
        cached = cached_all(spec)
        line = f"{n:>9} {total:>11.3g} {slow:>13.2f} {fast:>13.2f} {cached:>9.2f} {slow / fast:>6.1f}×"
        if args.device:
            line += f" {build_on(spec, args.device, per_target):>19.2f}"
            line += f" {build_on(spec, args.device, connectivity.fixed_in_degree):>19.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
