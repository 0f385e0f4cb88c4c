"""How many epochs and seeds make the depth-8 E–I result of ``ei_deep`` stable?

The measurement that chose the default scale of ``pinglab-bio run ei_deep``. For each block
(``--norms``) and depth it trains ``--seeds`` spiking MLPs on digits for ``--epochs`` epochs (the
settings of ``ei_deep``: width 128, T = 4, Adam, gradient clip 1, batch 64) and prints the test
accuracy at each checkpoint epoch: mean ± sd over the seeds, min, and how many reach the
trained threshold. Adam at a constant learning rate and one training generator make the
network at epoch 30 of a 100-epoch run the same as a 30-epoch run's, so one run per seed gives
every checkpoint. Also prints the seconds per epoch of each cell (the cost of the defaults).

    python benchmarks/ei_deep_scale.py --depths 8 --norms ei,batchnorm --seeds 8 --epochs 100 \\
        --checkpoints 15,30,60,100
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

__all__ = ["main"]


def main(argv=None):
    import torch

    from pinglab_bio.train.studies.common import digits_tensors, parse_list
    from pinglab_bio.train.studies.ei_deep import DeepConfig, train_mlp

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", default="8")
    ap.add_argument("--norms", default="ei,batchnorm")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--checkpoints", default="15,30,60,100")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = digits_tensors(seed=0)
    checkpoints = parse_list("--checkpoints", args.checkpoints, int, minimum=1)
    checkpoints = [c for c in checkpoints if c <= args.epochs]
    results = []
    for depth in parse_list("--depths", args.depths, int, minimum=1):
        for norm in parse_list("--norms", args.norms, str):
            curves, seconds = [], 0.0
            for seed in range(args.seed, args.seed + args.seeds):
                started = time.perf_counter()
                config = DeepConfig(depth=depth, norm=norm, epochs=args.epochs, lr=args.lr, seed=seed)
                r = train_mlp(config, data)
                seconds += time.perf_counter() - started
                curves.append(r["accuracy_curve"])
                at = ", ".join(f"ep {c} {r['accuracy_curve'][c - 1]:.3f}" for c in checkpoints)
                print(f"  {norm:<9} depth {depth} seed {seed}: {at}", flush=True)
            results.append((norm, depth, np.array(curves), seconds / (args.seeds * args.epochs)))
    print(f"\n{args.seeds} seeds from {args.seed}, Adam lr {args.lr:g}; "
          f"trained: test accuracy ≥ {args.threshold:g}")
    print("block      depth  epoch  accuracy mean ± sd   min     trained   s/epoch")
    for norm, depth, curves, per_epoch in results:
        for c in checkpoints:
            acc = curves[:, c - 1]
            sd = acc.std(ddof=1) if len(acc) > 1 else 0.0
            trained = f"{int((acc >= args.threshold).sum())}/{len(acc)}"
            print(f"{norm:<10} {depth:>5}  {c:>5}  {acc.mean():.3f} ± {sd:.3f}      {acc.min():.3f}   "
                  f"{trained:<9} {per_epoch:.2f}")


if __name__ == "__main__":
    main()
