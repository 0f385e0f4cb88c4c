"""Time per training step of the E:I-ratio network and the E–I MLP, on CPU and (where there is one) CUDA.

Prints, per device, the seconds per SGD step of the three-layer E/I network at the paper's
Fashion-MNIST scale (784 inputs, 100 hidden, batch 256, 100 steps of 1 ms) and of an 8-layer
E–I MLP on digits (batch 64, T = 4), and the full-scale estimates the README quotes:
ei_ratio (4 ratios × 10 sigma_in × 8 seeds × 30 epochs × 235 steps) and ei_deep.

    python benchmarks/bench_ei_studies.py [--repeats 10]
"""

import argparse
import time

import torch

__all__ = ["measure", "main"]


def _time(fn, repeats, sync):
    fn()  # warm-up
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats


def measure(name: str, repeats: int) -> tuple[float, float]:
    """Seconds per step of the ei_ratio network (FMNIST scale) and of the depth-8 E–I MLP on ``name``."""
    from pinglab_bio.train.layers import SpikingMLP, project_dale_
    from pinglab_bio.train.loop import build_classifier
    from pinglab_bio.train.networks import readout_loss
    from pinglab_bio.train.studies.ei_ratio import RatioConfig

    device = torch.device(name)
    sync = torch.cuda.synchronize if name == "cuda" else (lambda: None)
    net = build_classifier(RatioConfig(sigma_in=0.02).classifier_config(), 784, 10).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = (torch.rand(256, 100, 784) < 0.02).float().to(device)
    y = torch.randint(0, 10, (256,), device=device)

    def ratio_step():
        out_v, _ = net(x, 1e-3)
        loss = readout_loss(out_v, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        net.project_()

    mlp = SpikingMLP(64, 128, 8, 10, norm="ei").to(device).train()
    xd = torch.rand(64, 64, device=device)
    yd = torch.randint(0, 10, (64,), device=device)
    mlp(xd)
    opt2 = torch.optim.Adam(mlp.parameters(), lr=1e-3)

    def deep_step():
        loss = torch.nn.functional.cross_entropy(mlp(xd), yd)
        opt2.zero_grad()
        loss.backward()
        opt2.step()
        project_dale_(mlp)

    return _time(ratio_step, repeats, sync), _time(deep_step, repeats, sync)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    for name in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        t_ratio, t_deep = measure(name, args.repeats)
        full_ratio_h = t_ratio * 235 * 30 * 4 * 10 * 8 / 3600
        print(
            f"{name}: ei_ratio network step (FMNIST scale, batch 256) {t_ratio * 1e3:.1f} ms -> paper full "
            f"scale (320 networks x 30 epochs x 235 steps) {full_ratio_h:.1f} h; depth-8 E-I MLP step "
            f"(digits, batch 64) {t_deep * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
