"""One run of the default PING model on runtime/numpy, runtime/cython and cpp_standalone.

    python benchmarks/bench_targets.py --duration "1 s"

Each is run twice: the first run includes compilation (cython extensions, the C++ project), the
second reuses it (Brian2's cython cache, the toolkit's build folder). Both caches start empty
(fresh temporary folders), so the first run is a cold one. Prints wall times of build + run
(no analysis) and ratios to numpy.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from _common import machine, run_raw

from pinglab_bio.model.spec import load_model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", default="1 s")
    args = ap.parse_args()
    os.environ["PINGLAB_BIO_CACHE"] = tempfile.mkdtemp(prefix="bench-cache-")
    import brian2

    # an empty cython cache: the first cython run compiles every extension, as on a new machine
    brian2.prefs.codegen.runtime.cython.cache_dir = tempfile.mkdtemp(prefix="bench-cython-")
    spec = load_model("ping_coba")
    arms = {"runtime/numpy": ("runtime", "numpy"), "runtime/cython": ("runtime", "cython"),
            "cpp_standalone": ("cpp_standalone", "numpy")}
    times = {}
    from pinglab_bio.sim.devices import use_device  # noqa: F401  (import cost outside the timing)

    for label, (device, target) in arms.items():
        runs = []
        for _ in range(2):
            if device == "runtime":
                import brian2

                brian2.prefs.codegen.target = target
            runs.append(run_raw(spec, device, args.duration, seed=1) if target == "numpy"
                        else _cython(spec, args.duration))
        times[label] = runs
    print(f"# {machine()}; default PING model, {args.duration} at dt 0.1 ms")
    base = times["runtime/numpy"][1]["job_s"]
    for label, (first, second) in times.items():
        print(f"{label:<16} first {first['job_s']:7.2f} s   warm {second['job_s']:7.2f} s   "
              f"loop {second['loop_s']:6.2f} s   warm/numpy {second['job_s'] / base:5.2f}")


def _cython(spec, duration):
    """run_raw on the runtime device with the cython target."""
    import brian2
    from _common import timer

    from pinglab_bio.runs.result import check_simulation
    from pinglab_bio.sim.build import build_network
    from pinglab_bio.sim.devices import use_device

    spec, dt_q, dur_q, _, seed = check_simulation(spec, dt="0.1 ms", duration=duration, seed=1,
                                                  transient="0 ms", target="cython")
    with timer() as job:
        with use_device("runtime", target="cython"):
            brian2.seed(seed)
            built = build_network(spec, dt=dt_q, seed=seed)
            with timer() as loop:
                built.network.run(dur_q, namespace={})
    return {"job_s": job.s, "loop_s": loop.s}


if __name__ == "__main__":
    main()
