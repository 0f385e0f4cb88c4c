"""Scaling of the PING network at fixed in-degree: loop time and synaptic events per second.

    python benchmarks/bench_scaling.py --devices cpp_standalone --sizes 1000,4000,16000,64000
    python benchmarks/bench_scaling.py --devices cuda_standalone,cpp_standalone --threads 16 \
        --sizes 1000,10000,100000,1000000

For each size and device: the whole job (network building, code generation, compilation, run,
reading the spikes back; no analysis), the simulation loop as timed by the compiled binary, and
synaptic events per second of loop time. With two devices it prints the ratio of their loop
times. Each line is also appended to --csv when given.
"""

from __future__ import annotations

import argparse
import csv

from _common import events_from_counts, fixed_in_degree_model, machine, run_raw


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", default="cpp_standalone")
    ap.add_argument("--sizes", default="1000,4000,16000,64000")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--duration", default="1 s")
    ap.add_argument("--csv", default=None)
    args = ap.parse_args()
    devices = args.devices.split(",")
    seconds = float(args.duration.split()[0])
    print(f"# {machine()}; fixed in-degree K_EI 80, K_IE 40; {args.duration} at dt 0.1 ms; "
          f"cpp threads {args.threads}")
    print(f"{'N':>9} {'device':>16} {'job s':>8} {'compile s':>9} {'loop s':>8} {'events':>12} "
          f"{'events/s':>10} {'E Hz':>6} {'I Hz':>6}", flush=True)
    for n in (int(x) for x in args.sizes.split(",")):
        spec = fixed_in_degree_model(n)
        loops = {}
        for device in devices:
            r = run_raw(spec, device, args.duration,
                        threads=args.threads if device == "cpp_standalone" else None)
            events = events_from_counts(spec, r["counts"])
            loops[device] = r["loop_s"]
            rates = {pop: r["counts"][pop] / (spec.populations[pop].n * seconds) for pop in r["counts"]}
            row = {"n": n, "device": device, "job_s": round(r["job_s"], 2),
                   "compile_s": round(r["compile_s"], 2),
                   "loop_s": round(r["loop_s"], 3), "events": events,
                   "events_per_s": f"{events / r['loop_s']:.3g}",
                   "rate_exc_hz": round(rates["exc"], 2), "rate_inh_hz": round(rates["inh"], 2)}
            print(f"{n:>9} {device:>16} {r['job_s']:>8.1f} {r['compile_s']:>9.1f} {r['loop_s']:>8.3f} "
                  f"{events:>12} {events / r['loop_s']:>10.3g} {rates['exc']:>6.2f} {rates['inh']:>6.2f}",
                  flush=True)
            if args.csv:
                with open(args.csv, "a", newline="") as fh:
                    writer = csv.DictWriter(fh, fieldnames=list(row))
                    if fh.tell() == 0:
                        writer.writeheader()
                    writer.writerow(row)
        if len(devices) == 2:
            a, b = devices
            print(f"{'':>9} loop time {b} / {a}: {loops[b] / loops[a]:.2f}", flush=True)


if __name__ == "__main__":
    main()
