"""Seconds per digits epoch of ``ei_readout``: the derived step against hand-written loops.

One epoch is the training pass of ``pinglab-bio train ei_readout`` over scikit-learn's digits
(1,437 training digits, Poisson inputs up to 200 Hz, batch 64, float32, CPU): forward through
64 inputs → 100 hidden current-based LIF (80:20) → 10 leaky-integrator outputs, max-over-time
loss, backward, Adam, Dale projection. The contenders run the same network, batch and steps:

* ``derived``: the step derived from the model's Brian2 equations, fused into generated torch
  code (:mod:`pinglab_bio.train.derive`; what training uses);
* ``derived-statements``: the same derived step evaluated statement by statement (the reference
  the fused step is held to; the speed of the step before it was fused);
* ``hand-written``: the network written directly in torch with precomputed decay factors of the
  exact solution, one matrix product per step and layer (``bench_train_step.hand_written_forward``);
* ``snntorch``: ``snntorch.Synaptic`` neurons (decay factors ``exp(-dt/tau)``, reset to zero,
  weights scaled by the exact solution's current-to-membrane factor, non-spiking readout), where
  snntorch is installed (``pip install -e ".[bench]"``). Its discrete update lets an input reach
  the membrane in the step it arrives, one step earlier than the exact solution, so its loss is
  close to, not equal to, the others'.

The contenders alternate within one process and the medians are printed with their ratios, at
dt 1 ms (100 steps) and 0.1 ms (1,000 steps), with each one's mean loss over the epoch (the same
for the derived and hand-written loops).

    .venv/bin/python benchmarks/bench_epoch.py [--repeats 5] [--repeats-fine 1] [--threads 1,2]
        [--device cpu|cuda] [--dt-ms 1,0.1] [--only derived,hand-written]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train_step import hand_written_forward  # noqa: E402

from pinglab_bio.data.datasets import load_digits_dataset  # noqa: E402
from pinglab_bio.train.loop import TrainConfig, build_classifier, encode_split, train_loop  # noqa: E402
from pinglab_bio.train.networks import readout_loss  # noqa: E402

__all__ = ["snntorch_forward", "main"]


def snntorch_forward(x, w_in, w_out, dt, tau_mem=10e-3, tau_syn=5e-3, slope=100.0):
    """The same network with snntorch's ``Synaptic`` neurons (None where snntorch is missing)."""
    try:
        import snntorch
    except ImportError:
        return None
    alpha, beta = math.exp(-dt / tau_syn), math.exp(-dt / tau_mem)
    # the exact solution feeds the current into the membrane with this factor; snntorch adds it whole
    c = tau_syn * (math.exp(dt / tau_syn) - math.exp(dt / tau_mem)) * beta * alpha / (tau_mem - tau_syn)
    w_in, w_out = w_in * c, w_out * c
    grad = snntorch.surrogate.fast_sigmoid(slope=slope)
    hidden = snntorch.Synaptic(alpha=alpha, beta=beta, threshold=1.0, spike_grad=grad,
                               reset_mechanism="zero", reset_delay=False)
    syn, mem = hidden.reset_mem()
    syn_out = torch.zeros(x.shape[0], w_out.shape[1], dtype=x.dtype, device=x.device)
    mem_out = torch.zeros_like(syn_out)
    trace = []
    for n in range(x.shape[1]):
        spk, syn, mem = hidden(x[:, n] @ w_in, syn, mem)
        syn_out = alpha * syn_out + spk @ w_out  # non-spiking readout, as snntorch's tutorials
        mem_out = beta * mem_out + syn_out
        trace.append(mem_out)
    return torch.stack(trace, dim=1)


def _epoch_runner(name, net, spikes, labels, dt, batch_size, device):
    """A function that runs one training epoch of contender ``name`` and returns its mean loss."""
    w_in = net.weights["input_to_hidden"].detach().clone().requires_grad_(True)
    w_out = net.weights["hidden_to_out"].detach().clone().requires_grad_(True)
    signs = {"in": net.sign_input_to_hidden[:, None], "out": net.sign_hidden_to_out[:, None]}
    if name.startswith("derived"):
        params = [w for w in net.weights.values() if w.requires_grad]
        fused = name == "derived"

        def forward(x):
            net.fused = fused
            return net(x, dt)[0]

        def project():
            net.project_()
    else:
        params = [w_in, w_out]
        body = hand_written_forward if name == "hand-written" else snntorch_forward

        def forward(x):
            return body(x, w_in, w_out, dt)

        @torch.no_grad()
        def project():
            for w, s in ((w_in, signs["in"]), (w_out, signs["out"])):
                w.copy_(torch.where(s >= 0, w.clamp(min=0), w.clamp(max=0)))

    optimizer = torch.optim.Adam(params, lr=0.0)  # lr 0: every repeat sees the same weights
    x_all = torch.as_tensor(spikes, device=device)
    y_all = torch.as_tensor(labels, device=device)
    order = np.random.default_rng(0).permutation(len(labels))

    def batches(epoch):
        for start in range(0, len(order), batch_size):
            idx = torch.as_tensor(order[start:start + batch_size], device=device)
            yield x_all[idx], y_all[idx]

    class _Module(torch.nn.Module):
        pass

    module = _Module()

    def run_epoch():
        history = train_loop(module, optimizer, batches, readout_loss, epochs=1, forward=forward,
                             after_step=[project])
        return history[0].mean_batch_loss

    return run_epoch


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_dt(dt_ms, names, repeats, device, data):
    """Median seconds per epoch of each contender at ``dt_ms``; printed side by side."""
    config = TrainConfig(dt_ms=dt_ms, device=str(device))
    spikes = encode_split(config, data.x_train, (config.seed, 0)).astype(np.float32)
    net = build_classifier(config, data.n_inputs, data.n_classes).to(device)
    runners = {name: _epoch_runner(name, net, spikes, data.y_train, config.dt_s, config.batch_size, device)
               for name in names}
    runners = {k: v for k, v in runners.items() if k != "snntorch" or snntorch_forward(
        torch.zeros(1, 1, 64), torch.zeros(64, 100), torch.zeros(100, 10), 1e-3) is not None}
    losses = {}
    times = {name: [] for name in runners}
    for repeat in range(repeats + 1):  # the first round warms up (allocator, caches) and is not timed
        for name, run in runners.items():
            _sync(device)
            t0 = time.perf_counter()
            loss = run()
            _sync(device)
            if repeat:
                times[name].append(time.perf_counter() - t0)
            losses[name] = loss
    med = {k: statistics.median(v) for k, v in times.items()}
    steps = config.steps
    print(f"\ndt {dt_ms} ms ({steps} steps), batch {config.batch_size}, {len(data.y_train)} digits, "
          f"{repeats} timed repeats, device {device}, threads {torch.get_num_threads()}")
    for name in runners:
        print(f"  {name:20s} {med[name]:7.3f} s per epoch (median; min {min(times[name]):.3f})  "
              f"mean loss {losses[name]:.6f}")
    base = med.get("derived")
    if base is not None:
        for name in runners:
            if name != "derived":
                print(f"  ratio derived / {name:20s} {base / med[name]:.2f}")
    return med


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per contender at dt 1 ms")
    parser.add_argument("--repeats-fine", type=int, default=1, help="timed epochs per contender at 0.1 ms")
    parser.add_argument("--threads", default="1", help="torch threads; a list (1,2) repeats all per count")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dt-ms", default="1,0.1")
    parser.add_argument("--only", default="derived,derived-statements,hand-written,snntorch")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    names = [n for n in args.only.split(",") if n]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}, load average {load:.1f} at start")
    data = load_digits_dataset(seed=0)
    for threads in (int(v) for v in args.threads.split(",")):
        torch.set_num_threads(threads)
        for dt_ms in (float(v) for v in args.dt_ms.split(",")):
            bench_dt(dt_ms, names, args.repeats if dt_ms >= 1 else args.repeats_fine, device, data)


if __name__ == "__main__":
    main()
