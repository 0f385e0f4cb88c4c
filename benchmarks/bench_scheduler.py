"""Where a small sweep should run: in this process, or on an embedded Dask cluster.

    python benchmarks/bench_scheduler.py --points 2,3,4,6 --duration "0.5 s"

For each number of points, the same ``pinglab-bio sweep ping_gamma --grid tau_gaba=...`` runs
with ``--scheduler none`` (this process, one point after another) and ``--scheduler local`` (an
embedded Dask LocalCluster, one single-threaded worker process per usable core, at most one per
point), each a fresh process, alternating; the best of --repeats is kept. Both write the same
point folders. It also times what the cluster costs before any point runs: starting a
LocalCluster and having one worker import Brian2 and pinglab-bio. ``--scheduler auto`` (the
default) decides by ``pinglab_bio.workflow.sweeps.choose_scheduler``; these numbers are what
its thresholds rest on.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, timer

from pinglab_bio.workflow.sweeps import DASK_MIN_CORES, DASK_MIN_POINTS, choose_scheduler, usable_cores

TAU_GABA_MS = (4.5, 6.0, 7.5, 9.0, 10.5, 12.0, 13.5, 15.0, 16.5, 18.0)


def _import_toolkit() -> float:
    t0 = time.perf_counter()
    import pinglab_bio.runs.result  # noqa: F401  (what a worker imports before its first point)

    return time.perf_counter() - t0


def cluster_start(workers: int) -> tuple[float, float]:
    """Seconds to start a LocalCluster of ``workers`` processes, and until one worker has
    imported Brian2 and pinglab-bio."""
    from distributed import Client, LocalCluster

    with timer() as start:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        client = Client(cluster)
    try:
        with timer() as ready:
            client.submit(_import_toolkit, pure=False).result()
    finally:
        client.close()
        cluster.close()
    return start.s, start.s + ready.s


def sweep(n_points: int, scheduler: str, duration: str, workdir: Path, tag: str) -> float:
    """Wall time of a whole ``pinglab-bio sweep`` process of ``n_points`` tau_gaba values."""
    values = ",".join(f"{v:g}ms" for v in TAU_GABA_MS[:n_points])
    cli = Path(sys.executable).with_name("pinglab-bio")
    with timer() as t:
        subprocess.run([str(cli), "sweep", "ping_gamma", "--grid", f"tau_gaba={values}", "--duration",
                        duration, "--scheduler", scheduler, "--quiet", "--out", str(workdir / tag)],
                       check=True, capture_output=True, cwd=workdir)
    return t.s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", default="2,3,4,6", help="comma-separated numbers of points")
    ap.add_argument("--duration", default="0.5 s", help="simulated time per point")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    counts = [int(x) for x in args.points.split(",")]
    if max(counts) > len(TAU_GABA_MS):
        raise SystemExit(f"at most {len(TAU_GABA_MS)} points")
    cores = usable_cores()
    print(f"# {machine()}; {cores} usable cores; points of {args.duration} at dt 0.1 ms (ping_coba)")
    start, ready = cluster_start(min(cores, max(counts)))
    print(f"LocalCluster start: {start:.2f} s; first worker ready (Brian2 and pinglab-bio imported): "
          f"{ready:.2f} s")
    print("points | in-process (s) | Dask LocalCluster (s) | Dask / in-process | auto picks")
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        for n in counts:
            inproc, dask = [], []
            for k in range(args.repeats):
                inproc.append(sweep(n, "none", args.duration, workdir, f"none-{n}-{k}"))
                dask.append(sweep(n, "local", args.duration, workdir, f"local-{n}-{k}"))
            pick = choose_scheduler(n, cores)[0] or "in-process"
            print(f"{n:6d} | {min(inproc):14.2f} | {min(dask):21.2f} | {min(dask) / min(inproc):17.2f} | "
                  f"{pick}")
    print(f"auto: Dask from {DASK_MIN_POINTS} points on at least {DASK_MIN_CORES} usable cores")


if __name__ == "__main__":
    main()
