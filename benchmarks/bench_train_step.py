"""Time per training step: the step derived from Brian2's equations against a hand-written loop.

Both run the same three-layer E/I network (64 inputs → 100 hidden current-based LIF, 80:20 →
10 leaky-integrator outputs, 100 steps at dt 1 ms, batch 64, fast-sigmoid surrogate, reset
detached): forward, max-over-time loss, backward and an Adam step. The hand-written loop uses
precomputed decay factors of the exact solution. The two are first checked to give the same
loss; then they alternate, and the medians and their ratio are printed (goal ≤ 1.2).

    .venv/bin/python benchmarks/bench_train_step.py [--repeats 15] [--device cpu|cuda] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
import torch

from pinglab_bio.train.loop import TrainConfig, build_classifier
from pinglab_bio.train.networks import readout_loss
from pinglab_bio.train.surrogates import FastSigmoid

__all__ = ["hand_written_forward", "main"]


def hand_written_forward(x, w_in, w_out, dt, tau_mem=10e-3, tau_syn=5e-3, slope=100.0):
    """The same network written directly in torch (exact update of the linear CUBA equations)."""
    a_mem, a_syn = math.exp(-dt / tau_mem), math.exp(-dt / tau_syn)
    c = tau_syn * (math.exp(dt / tau_syn) - math.exp(dt / tau_mem)) * a_mem * a_syn / (tau_mem - tau_syn)
    batch, steps, _ = x.shape
    v = x.new_zeros(batch, w_in.shape[1])
    i_syn = torch.zeros_like(v)
    v_out = x.new_zeros(batch, w_out.shape[1])
    i_out = torch.zeros_like(v_out)
    trace = []
    for n in range(steps):
        v, i_syn = i_syn * c + v * a_mem, i_syn * a_syn
        v_out, i_out = i_out * c + v_out * a_mem, i_out * a_syn
        spk = FastSigmoid.apply(v - 1.0, slope, False)
        i_syn = i_syn + x[:, n] @ w_in
        i_out = i_out + spk @ w_out
        gate = spk.detach()
        v = gate * 0.0 + (1.0 - gate) * v
        trace.append(v_out)
    return torch.stack(trace, dim=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dt = 1e-3
    net = build_classifier(TrainConfig(), 64, 10).to(device)
    w_in = net.weights["input_to_hidden"].detach().clone().requires_grad_(True)
    w_out = net.weights["hidden_to_out"].detach().clone().requires_grad_(True)
    rng = np.random.default_rng(0)
    x = torch.as_tensor((rng.random((64, 100, 64)) < 0.06).astype(np.float32), device=device)
    y = torch.as_tensor(rng.integers(0, 10, 64), device=device)
    opt_derived = torch.optim.Adam(net.parameters(), lr=0.0)  # lr 0: every repeat sees the same weights
    opt_hand = torch.optim.Adam([w_in, w_out], lr=0.0)

    def derived_step():
        out_v, _ = net(x, dt)
        loss = readout_loss(out_v, y)
        opt_derived.zero_grad()
        loss.backward()
        opt_derived.step()
        return float(loss.detach())

    def hand_step():
        loss = readout_loss(hand_written_forward(x, w_in, w_out, dt), y)
        opt_hand.zero_grad()
        loss.backward()
        opt_hand.step()
        return float(loss.detach())

    same = abs(derived_step() - hand_step())
    print(f"loss difference derived vs hand-written: {same:.2e} (float32)")
    g_derived = net.weights["input_to_hidden"].grad.clone()
    print(f"largest input-weight gradient difference: {float((g_derived - w_in.grad).abs().max()):.2e}")
    times = {"derived": [], "hand": []}
    for _ in range(args.repeats):
        for name, fn in (("derived", derived_step), ("hand", hand_step)):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"device {device}, threads {args.threads}, batch 64, 100 steps, 64-100-10, {args.repeats} repeats")
    print(f"derived step     {med['derived'] * 1e3:8.1f} ms per training step (median)")
    print(f"hand-written     {med['hand'] * 1e3:8.1f} ms per training step (median)")
    print(f"ratio derived / hand-written: {med['derived'] / med['hand']:.2f} (goal ≤ 1.2)")


if __name__ == "__main__":
    main()
