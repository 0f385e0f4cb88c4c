"""Collect the figures of one device_job.sh run into JSON (stdout): ``python gpu_summary.py OUTDIR``.

Keys: ``whole_job_speedup`` and ``loop_speedup`` at the largest size (cpp_standalone ÷
cuda_standalone), per size the job, compile and loop seconds and the E/I rates on each device,
the host synapse-creation times, the compile time of an unchanged rerun, and where the GPU
steps did not run, why.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _synapses(path: Path) -> list[dict]:
    rows = []
    if not path.is_file():
        return rows
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and re.fullmatch(r"\d+", parts[0]) and len(parts) >= 6:
            rows.append({"n": int(parts[0]), "synapses": float(parts[1]), "per_target_s": float(parts[2]),
                         "vectorised_s": float(parts[3]), "cached_s": float(parts[4])})
    return rows


def summary(out: Path) -> dict:
    status = (out / "cuda_status.txt").read_text().strip() if (out / "cuda_status.txt").is_file() else ""
    scaling = _rows(out / "scaling.csv")
    by_size: dict = {}
    for row in scaling:
        by_size.setdefault(int(row["n"]), {})[row["device"]] = {
            k: float(row[k]) for k in ("job_s", "compile_s", "loop_s", "rate_exc_hz", "rate_inh_hz")}
    result = {"synapse_creation": _synapses(out / "synapses.txt"), "sizes": by_size}
    full = [n for n, d in by_size.items() if {"cuda_standalone", "cpp_standalone"} <= set(d)]
    if full:
        n = max(full)
        cpu, gpu = by_size[n]["cpp_standalone"], by_size[n]["cuda_standalone"]
        result.update({"largest_n": n, "whole_job_speedup": cpu["job_s"] / gpu["job_s"],
                       "loop_speedup": cpu["loop_s"] / gpu["loop_s"]})
    rerun = _rows(out / "rerun.csv")
    if rerun:
        result["rerun_compile_s"] = float(rerun[-1]["compile_s"])
    if "whole_job_speedup" not in result:
        result["gpu_steps"] = f"not run: {status or 'no cuda_status.txt'}"
    return result


if __name__ == "__main__":
    print(json.dumps(summary(Path(sys.argv[1])), indent=2))
