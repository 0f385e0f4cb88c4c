"""Van Rossum distances over all pairs: elephant's `van_rossum_distance` against the grid path.

Spike trains of the default model (10 s at dt 0.1 ms, seed 0). Elephant's cost grows as
N² × spikes per train in Python loops, so it is timed on the first N neurons (E and I in the
4:1 ratio) for growing N; the grid path (one matrix product over the filtered trains) is timed on
the same N and on all 1,000 neurons. Prints both times, their ratio and the largest difference.

    .venv/bin/python benchmarks/bench_analysis_vanrossum.py [--duration 10s] [--sizes 50,100,200]
"""

import argparse
import time

import brian2
import numpy as np
import quantities as pq

from pinglab_bio.measures.dissimilarity import van_rossum_matrix
from pinglab_bio.runs.result import simulate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="10 s")
    parser.add_argument("--sizes", default="50,100,200")
    args = parser.parse_args()
    brian2.BrianLogger.console_handler.setLevel("ERROR")
    result = simulate("ping_coba", duration=args.duration, seed=0)
    exc, inh = result.spiketrains("exc"), result.spiketrains("inh")
    tau, grid = 5 * pq.ms, 0.1 * pq.ms
    print(f"{args.duration} run, τ = 5 ms; mean spikes per train: E {np.mean([len(s) for s in exc]):.0f}, "
          f"I {np.mean([len(s) for s in inh]):.0f}")
    print(f"{'N':>6} {'elephant (s)':>13} {'grid (s)':>9} {'ratio':>7} {'max |diff|':>11}")
    for n in [int(x) for x in args.sizes.split(",")]:
        trains = exc[: n * 4 // 5] + inh[: n - n * 4 // 5]
        t = time.perf_counter()
        ref = van_rossum_matrix(trains, tau, method="elephant")
        t_el = time.perf_counter() - t
        t = time.perf_counter()
        fast = van_rossum_matrix(trains, tau, method="grid", grid_step=grid)
        t_gr = time.perf_counter() - t
        print(f"{n:>6} {t_el:>13.2f} {t_gr:>9.3f} {t_el / t_gr:>7.0f} {np.max(np.abs(ref - fast)):>11.1e}")
    t = time.perf_counter()
    van_rossum_matrix(exc + inh, tau, method="grid", grid_step=grid)
    t_all = time.perf_counter() - t
    sizes = [int(x) for x in args.sizes.split(",")]
    # elephant scales as N²: extrapolate its time from the largest N measured
    est = t_el * (1000 / sizes[-1]) ** 2
    print(f"  1000 grid path: {t_all:.1f} s for {1000 * 999 // 2} pairs; elephant extrapolated "
          f"(N² from N={sizes[-1]}): ~{est:.0f} s, ratio ~{est / t_all:.0f}")


if __name__ == "__main__":
    main()
