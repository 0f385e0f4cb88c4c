"""How often does the E–E < E–I < I–I Van Rossum order of trained 80:20 networks hold across seeds?

The measurement that chose the default scale of ``pinglab-bio run ei_ratio``. For each candidate
setting (input-weight scale σ_in, learning rate, and training length), it trains ``--seeds``
networks of one E:I ratio on digits (the network of ``ei_ratio``: 64 Poisson inputs → 100
current-based LIF hidden → 10 leaky-integrator outputs, plain SGD, batch 64) and measures the
Van Rossum distances of hidden pairs (τ = 1 step, averaged over ``--vr-samples`` test samples)
at initialisation and at each checkpoint epoch. A constant learning rate and the one training
generator make the network at epoch 20 of a 40-epoch run the same as a 20-epoch run's, so one
run per seed gives every checkpoint.

Prints, per setting and checkpoint: the test-accuracy range over the seeds, how many count as
successful (final accuracy ≥ each ``--thresholds`` value), how many of those order the medians
E–E < E–I < I–I on their own, how many of those have their own Kruskal–Wallis p < 0.01, and the
pooled test over the successful networks; and the same for the initial networks.

    python benchmarks/ei_ratio_scale.py --seeds 8 --epochs 40 --checkpoints 10,20,30,40 \\
        --sigma-in-values 0.1 --lrs 0.3 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

__all__ = ["measure_setting", "summarise", "main"]


def measure_setting(ratio, sigma_in, lr, seeds, first_seed, epochs, checkpoints, vr_samples, batch_size,
                    data, log=print):
    """Per seed: accuracy and Van Rossum order at initialisation and at each checkpoint epoch."""
    from pinglab_bio.train.studies.common import class_order
    from pinglab_bio.train.studies.ei_ratio import RatioConfig, train_ratio_run, van_rossum_discrete

    rows = []
    for seed in range(first_seed, first_seed + seeds):
        config = RatioConfig(ei_ratio=ratio, sigma_in=sigma_in, lr=lr, epochs=epochs, batch_size=batch_size,
                             vr_samples=vr_samples, seed=seed)
        at = {}

        def on_epoch(epoch, acc, hidden, at=at, n_exc=config.n_exc):
            if epoch in checkpoints:
                d = van_rossum_discrete(hidden[:vr_samples].transpose(1, 2))
                entry = class_order([(d, n_exc)])
                at[epoch] = {"accuracy": acc, "medians": entry["medians"], "ordered": entry["ordered"],
                             "kruskal_p": entry["kruskal_p"], "matrix": d}

        started = time.perf_counter()
        record, vr = train_ratio_run(config, data, on_epoch=on_epoch)
        init = class_order([(vr["initial"], config.n_exc)])
        rows.append({"seed": seed, "n_exc": config.n_exc, "initial_rate_hz": record["initial_rate_hz"],
                     "initial": {"medians": init["medians"], "ordered": init["ordered"],
                                 "kruskal_p": init["kruskal_p"], "matrix": vr["initial"]},
                     "checkpoints": at})
        log(f"  σ_in {sigma_in:g} lr {lr:g} seed {seed}: initial rate {record['initial_rate_hz']:.1f} Hz, "
            + ", ".join(f"ep {e} acc {at[e]['accuracy']:.3f} {'ordered' if at[e]['ordered'] else 'not'}"
                        for e in sorted(at))
            + f" ({time.perf_counter() - started:.0f} s)")
    return rows


def summarise(rows, epoch, threshold) -> dict:
    """Counts of one checkpoint at one success threshold (``epoch`` None: the initial networks)."""
    from pinglab_bio.train.studies.common import class_order

    if epoch is None:
        chosen = [r["initial"] for r in rows]
    else:
        chosen = [r["checkpoints"][epoch] for r in rows if r["checkpoints"][epoch]["accuracy"] >= threshold]
    n_exc = rows[0]["n_exc"]
    pooled = class_order([(c["matrix"], n_exc) for c in chosen]) if chosen else None
    return {
        "n_seeds": len(rows),
        "n_successful": len(chosen),
        "n_ordered": sum(bool(c["ordered"]) for c in chosen),
        "n_ordered_p01": sum(bool(c["ordered"]) and (c["kruskal_p"] or 1) < 0.01 for c in chosen),
        "per_seed_p": [c["kruskal_p"] for c in chosen],
        "pooled_medians": None if pooled is None else pooled["medians"],
        "pooled_p": None if pooled is None else pooled["kruskal_p"],
        "pooled_ordered": None if pooled is None else pooled["ordered"],
    }


def main(argv=None):
    import torch

    from pinglab_bio.train.studies.common import digits_tensors, parse_list

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ratio", type=float, default=0.8)
    ap.add_argument("--sigma-in-values", default="0.1")
    ap.add_argument("--lrs", default="0.3")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--checkpoints", default="10,20,30,40")
    ap.add_argument("--thresholds", default="0.7,0.8")
    ap.add_argument("--vr-samples", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="write the per-seed figures (without matrices) here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    checkpoints = parse_list("--checkpoints", args.checkpoints, int, minimum=1)
    thresholds = parse_list("--thresholds", args.thresholds, float)
    data = digits_tensors(seed=0)
    started = time.perf_counter()
    out = []
    for sigma in parse_list("--sigma-in-values", args.sigma_in_values, float):
        for lr in parse_list("--lrs", args.lrs, float):
            rows = measure_setting(args.ratio, sigma, lr, args.seeds, args.seed, args.epochs,
                                   [c for c in checkpoints if c <= args.epochs], args.vr_samples,
                                   args.batch_size, data)
            out.append({"sigma_in": sigma, "lr": lr, "rows": rows})
    print(f"\nE:I share {args.ratio:g}, {args.seeds} seeds from {args.seed}, batch {args.batch_size}, "
          f"{args.vr_samples} test samples; {time.perf_counter() - started:.0f} s in all")
    print("σ_in   lr     epoch  thr   accuracy (min–max)  successful  ordered  ordered&p<.01  "
          "pooled medians E–E/E–I/I–I  pooled p")
    for setting in out:
        rows = setting["rows"]
        head = f"{setting['sigma_in']:<6g} {setting['lr']:<6g}"
        s = summarise(rows, None, 0.0)
        m = s["pooled_medians"]
        print(f"{head} init   –     –                   {s['n_successful']:>2}/{s['n_seeds']:<7} "
              f"{s['n_ordered']:>2}       {s['n_ordered_p01']:>2}             "
              f"{m['E-E']:.3f}/{m['E-I']:.3f}/{m['I-I']:.3f}      {s['pooled_p']:.2g}")
        for epoch in sorted(rows[0]["checkpoints"]):
            accs = [r["checkpoints"][epoch]["accuracy"] for r in rows]
            for thr in thresholds:
                s = summarise(rows, epoch, thr)
                m = s["pooled_medians"]
                pooled = ("–" if m is None else f"{m['E-E']:.3f}/{m['E-I']:.3f}/{m['I-I']:.3f}      "
                          f"{s['pooled_p']:.2g}")
                print(f"{head} {epoch:<6} {thr:<4g}  {min(accs):.3f}–{max(accs):.3f}         "
                      f"{s['n_successful']:>2}/{s['n_seeds']:<7} {s['n_ordered']:>2}       "
                      f"{s['n_ordered_p01']:>2}             {pooled}")
    if args.json:
        def strip(entry):
            return {k: v for k, v in entry.items() if k != "matrix"}

        Path(args.json).write_text(json.dumps([
            {**{k: v for k, v in s.items() if k != "rows"},
             "rows": [{**{k: v for k, v in r.items() if k not in ("initial", "checkpoints")},
                       "initial": strip(r["initial"]),
                       "checkpoints": {str(e): strip(c) for e, c in r["checkpoints"].items()}}
                      for r in s["rows"]]}
            for s in out], indent=1))


if __name__ == "__main__":
    main()
