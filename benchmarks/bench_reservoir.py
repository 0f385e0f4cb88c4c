"""Brian2 evaluation of a reservoir readout: the digits test split on runtime/numpy against cpp_standalone.

    python benchmarks/bench_reservoir.py                 # whole test split (360 trials) × 100 ms
    python benchmarks/bench_reservoir.py --n-test 60     # a quicker look

The default 800 E / 200 I ``ping_coba`` with its tonic + OU drive, driven by the encoded test
digits, chunks of trials side by side, with a ridge readout of window counts built into the same
network as synapses (weights fitted on a few training trials: the cost does not depend on how
good they are). Both devices run the same trials in the same process; the standalone project is
compiled once (the first chunk) and reused by the others, and its compile time is printed apart.
Prints wall times and the ratio numpy / cpp_standalone.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import machine


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-test", type=int, default=0, help="test trials (0: the whole split)")
    ap.add_argument("--chunk", type=int, default=60)
    ap.add_argument("--dt-ms", type=float, default=0.1)
    args = ap.parse_args()

    from pinglab_bio.data.datasets import load_dataset
    from pinglab_bio.train.loop import encode_split
    from pinglab_bio.train.readouts import fit_linear, readout_network
    from pinglab_bio.train.reservoir import ReservoirConfig, load_reservoir_setup
    from pinglab_bio.train.reservoir_state import simulate

    data = load_dataset("digits")
    config = ReservoirConfig(dt_ms=args.dt_ms, chunk=args.chunk)
    _, _, network, _, _ = load_reservoir_setup(config, data.n_inputs)
    n_test = args.n_test or len(data.y_test)
    x_fit = encode_split(config, data.x_train[:40], (0, 11))
    fit_state = simulate(network, x_fit, config.dt_s, window_steps=config.window_steps, split="train")
    readout = fit_linear(
        "ridge", fit_state, data.y_train[:40], ["counts"], network.signs, n_classes=10, hyper=100.0
    )
    net_r = readout_network(
        {"ridge": readout},
        sizes=network.sizes,
        n_classes=10,
        dt_s=config.dt_s,
        window_s=config.window_ms * 1e-3,
    )
    x_test = encode_split(config, data.x_test[:n_test], (0, 12))
    print(machine())
    print(
        f"{n_test} test trials × {config.duration_ms:g} ms at dt {config.dt_ms:g} ms, "
        f"chunks of {config.chunk}, "
        f"{network.n_hidden} neurons per trial"
    )
    walls, accs = {}, {}
    for device in ("runtime", "cpp_standalone"):
        t0 = time.perf_counter()
        st = simulate(
            network,
            x_test,
            config.dt_s,
            window_steps=config.window_steps,
            readout=net_r,
            chunk=config.chunk,
            device=device,
        )
        walls[device] = time.perf_counter() - t0
        accs[device] = float(np.mean(np.argmax(st.readouts["ridge"], axis=1) == data.y_test[:n_test]))
        print(
            f"{device:<15} {walls[device]:8.1f} s  (build {st.meta['build_s']:.1f} s, run+compile "
            f"{st.meta['run_s']:.1f} s)  accuracy {accs[device]:.3f}"
        )
    print(f"ratio numpy / cpp_standalone: {walls['runtime'] / walls['cpp_standalone']:.2f}×")


if __name__ == "__main__":
    main()
