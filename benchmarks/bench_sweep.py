"""A tau_GABA sweep on cpp_standalone: compiled once (run_args) against a rebuild per point.

    python benchmarks/bench_sweep.py --points 20 --duration "1 s"

Both arms do the same per-point work: simulate, measure, write a run folder. The rebuild arm
is what a sweep costs without the compile-once engine: every point is its own project (its
tau_gaba is a constant of the generated code), built and compiled in its own folder. The
compile-once arm is :func:`pinglab_bio.workflow.sweeps.run_points`: one project whose tau_gaba is a
state variable, rerun with ``run_args``. Prints both totals and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from _common import machine, timer

from pinglab_bio.model.spec import load_model
from pinglab_bio.runs.result import simulate, write_run
from pinglab_bio.workflow.sweeps import grid_points, run_points


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=20)
    ap.add_argument("--duration", default="1 s")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    values = [f"{v:.4g} ms" for v in np.linspace(4.5, 18, args.points)]
    spec = load_model("ping_coba")
    sim = {"duration": args.duration, "device": "cpp_standalone", "threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PINGLAB_BIO_CACHE"] = str(Path(tmp) / "cache")  # cold: nothing compiled yet
        points, _ = grid_points({"tau_gaba": values}, seed=0)
        with timer() as once:
            rows = run_points(spec, points, Path(tmp) / "once", sim_kwargs=sim, protocol="ping_gamma",
                              log=lambda *a: None)
        once_sim = 0.0
        for p in points:
            wall = json.loads(
                (Path(tmp) / "once" / "points" / p.label / "run.json").read_text())["wall_time_s"]
            once_sim += wall["build_s"] + wall["compile_s"] + wall["run_s"]
        with timer() as rebuild:
            freqs, rebuild_sim = [], 0.0
            for value in values:
                result = simulate(spec.with_overrides({"tau_gaba": value}), seed=0, **sim)
                write_run(result, Path(tmp) / "rebuild" / value.replace(" ", ""), report=False, figures=False)
                freqs.append(result.metrics["gamma_peak_hz"])
                rebuild_sim += result.info["wall_time_s"]["build_s"] + result.info["wall_time_s"]["run_s"]
    same = all(abs(a["gamma_peak_hz"] - b) < 1e-9 for a, b in zip(rows, freqs, strict=True))
    print(f"# {machine()}; {args.points} tau_gaba points, {args.duration} each, cpp_standalone")
    print(f"compiled once:       {once.s:7.1f} s ({once.s / args.points:.2f} s per point)")
    print(f"rebuild per point:   {rebuild.s:7.1f} s ({rebuild.s / args.points:.2f} s per point)")
    print(f"speed-up:            {rebuild.s / once.s:7.1f}×   (goal ≥ 10×; whole sweep: simulate, "
          "measure, write folders)")
    print(f"simulation only:     {once_sim:7.1f} s once vs {rebuild_sim:.1f} s rebuilding: "
          f"{rebuild_sim / once_sim:.1f}× (network building, compilation and binary runs)")
    print(f"same gamma peaks in both arms: {same}; peaks {rows[0]['gamma_peak_hz']:.1f} → "
          f"{rows[-1]['gamma_peak_hz']:.1f} Hz")


if __name__ == "__main__":
    main()
