"""Writing a run folder against the number of spike trains: is it linear?

    python benchmarks/bench_writing.py --sizes 1000,4000,16000

For each size (4:1 E/I, the spikes of a 1 s run at about the default rates, drawn with numpy)
the script times, side by side in one process: building the neo Block the old way (one
``Segment.spiketrains.append`` per train, which neo checks against every train already there),
:func:`pinglab_bio.runs.folder.make_block` (the list built once), and writing ``spikes.h5``
from the flat arrays as ``pinglab-bio run`` does. It prints the seconds and two ratios: old/new
Block building, and how the new time grows per 4× neurons (linear: about 4).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import neo  # noqa: E402
import numpy as np  # noqa: E402
import quantities as pq  # noqa: E402
from _common import machine, timer  # noqa: E402

from pinglab_bio.runs.folder import make_block, write_spike_arrays  # noqa: E402


def spikes_of(n_total: int, seed: int = 0) -> dict:
    """``{population: (n, indices, times_s)}`` of 1 s: E at 11 Hz, I at 48 Hz (the default model)."""
    rng = np.random.default_rng(seed)
    n_exc = n_total * 4 // 5
    out = {}
    for pop, n, rate in (("exc", n_exc, 11.0), ("inh", n_total - n_exc, 48.0)):
        count = rng.poisson(rate * n)
        out[pop] = (n, rng.integers(0, n, count), np.sort(rng.uniform(0, 1, count)))
    return out


def old_make_block(spikes: dict) -> neo.Block:
    """The Block built one ``append`` at a time (each append scans the list: quadratic)."""
    block = neo.Block(name="run")
    seg = neo.Segment(name="trial 0")
    block.segments.append(seg)
    for pop, (n, indices, times) in spikes.items():
        order = np.argsort(indices, kind="stable")
        sorted_idx, sorted_t = indices[order], times[order]
        bounds = np.searchsorted(sorted_idx, np.arange(n + 1))
        for k in range(n):
            seg.spiketrains.append(neo.SpikeTrain(np.sort(sorted_t[bounds[k]:bounds[k + 1]]) * pq.s,
                                                  t_start=0 * pq.s, t_stop=1 * pq.s, population=pop,
                                                  neuron_index=k))
    return block


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,4000,16000", help="neuron counts, comma-separated")
    ap.add_argument("--skip-old-above", type=int, default=16000,
                    help="do not time the quadratic build above this size (default 16000)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"# {machine()}; 1 s of spikes, E 11 Hz / I 48 Hz, 4:1")
    print(f"{'neurons':>8} {'old Block (s)':>14} {'make_block (s)':>15} {'old/new':>8} {'spikes.h5 (s)':>14}")
    previous = None
    for n in sizes:
        spikes = spikes_of(n)
        with timer() as new:
            block = make_block(spikes, {}, t_start=0 * pq.s, t_stop=1 * pq.s, dt=1e-4 * pq.s)
        assert len(block.segments[0].spiketrains) == n
        old_s = float("nan")
        if n <= args.skip_old_above:
            with timer() as old:
                old_make_block(spikes)
            old_s = old.s
        with tempfile.TemporaryDirectory() as folder, timer() as h5:
            write_spike_arrays(Path(folder), spikes, {}, t_start=0 * pq.s, t_stop=1 * pq.s, dt=1e-4 * pq.s)
        growth = f"   ×{new.s / previous:.1f} per step" if previous else ""
        print(f"{n:>8} {old_s:>14.3f} {new.s:>15.3f} {old_s / new.s:>8.1f} {h5.s:>14.3f}{growth}")
        previous = new.s


if __name__ == "__main__":
    main()
