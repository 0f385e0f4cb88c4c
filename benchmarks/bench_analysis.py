"""Analysis time of a 1,000-neuron, 10-s PING run: every measure and the HTML report.

Simulates the default model (800 E / 200 I, 10 s at dt 0.1 ms, seed 0) into a temporary run
folder, then times `pinglab-bio analyze` on it step by step (load, measures, Van Rossum over all
E–E / E–I / I–I pairs, figures, rendering). Prints seconds and ratios to the simulation wall
time and to the simulated time. Nothing is asserted: the machines are shared and noisy.

    .venv/bin/python benchmarks/bench_analysis.py [--duration 10s]
"""

import argparse
import tempfile
import time
from pathlib import Path

import brian2

from pinglab_bio.report.html import html_page
from pinglab_bio.runs.result import load_run, save_run, simulate
from pinglab_bio.workflow.analysis import run_figures_full, run_measures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="10 s")
    args = parser.parse_args()
    brian2.BrianLogger.console_handler.setLevel("ERROR")
    t0 = time.perf_counter()
    result = simulate("ping_coba", duration=args.duration, seed=0)
    sim_s = time.perf_counter() - t0
    simulated_s = float(result.info["duration"]["si_value"])
    n_spikes = sum(len(st) for st in result.spiketrains())
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_run(result, Path(tmp) / "run", figures=False, report=False)
        timings = {}
        t = time.perf_counter()
        loaded = load_run(folder)
        timings["load run folder"] = time.perf_counter() - t
        t = time.perf_counter()
        run_measures(loaded, level="standard")
        timings["standard metrics (metrics.json)"] = time.perf_counter() - t
        t = time.perf_counter()
        run_measures(loaded, with_vr=False)
        timings["rates, ISI, synchrony, STTC, spectra, lag, cycles"] = time.perf_counter() - t
        t = time.perf_counter()
        numbers_vr, arrays_vr = run_measures(loaded, with_vr=True)
        timings["Van Rossum, all pairs (grid path)"] = time.perf_counter() - t - timings[
            "rates, ISI, synchrony, STTC, spectra, lag, cycles"]
        t = time.perf_counter()
        figs = run_figures_full(loaded, arrays_vr, numbers_vr, Path(tmp), "bench", "seed 0")
        timings["figures (5 PNG)"] = time.perf_counter() - t
        t = time.perf_counter()
        from pinglab_bio.report.html import figure_tag

        page = html_page("bench", [("figures", "".join(figure_tag(p, c) for p, c in figs))])
        timings["HTML rendering"] = time.perf_counter() - t
        t = time.perf_counter()
        from pinglab_bio.workflow.analysis import analyze

        analyze([folder], "html")
        whole = time.perf_counter() - t
    vr = numbers_vr["van_rossum"]["classes"]
    print(f"run: 1,000 neurons, {simulated_s:g} s simulated, {n_spikes} spikes; "
          f"simulation wall {sim_s:.1f} s")
    for name, sec in timings.items():
        print(f"  {name:<52} {sec:7.2f} s")
    print(f"  Van Rossum pairs: E-E {vr['E-E']['n_pairs']}, E-I {vr['E-I']['n_pairs']}, "
          f"I-I {vr['I-I']['n_pairs']}")
    print(f"whole `pinglab-bio analyze` (all measures + report): {whole:.1f} s; "
          f"report {len(page) / 1e6:.1f} MB")
    print(f"ratio analysis / simulation wall time: {whole / sim_s:.2f}")
    print(f"ratio analysis / simulated time:       {whole / simulated_s:.2f}")


if __name__ == "__main__":
    main()
