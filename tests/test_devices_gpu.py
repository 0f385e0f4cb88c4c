"""cuda_standalone against the runtime with CPU-drawn random numbers (needs an NVIDIA GPU).

Tolerances: the GPU evaluates exp() and divisions with its own libm (not bit-identical to
glibc or numpy), so a last-bit difference can move one spike by a step, after which the
network's chaotic dynamics let the trains drift apart. Population measures are robust to this:
rates must agree within 5 % and the gamma peak within 2 Hz (one bin of the 0.5 s Welch PSD is
about 2 Hz); spikes must be identical until the first difference, which must not come before
the first 20 ms (a wrong model or wrong random numbers differ from the first volley on).
"""

import pytest

from pinglab_bio.runs.result import simulate
from pinglab_bio.sim.devices import device_status
from pinglab_bio.sim.portable import first_difference

_CUDA = device_status("cuda_standalone")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not _CUDA.usable, reason=f"cuda_standalone: {_CUDA.reason}")]


def test_cuda_matches_runtime_behavior():
    kw = dict(duration="0.5 s", seed=7, portable_random=True)
    cpu = simulate("ping_coba", device="runtime", **kw)
    gpu = simulate("ping_coba", device="cuda_standalone", **kw)
    assert gpu.info["device"]["name"] == "cuda_standalone"
    report = []
    for pop in ("exc", "inh"):
        key = f"rate_{pop}_hz"
        assert gpu.metrics[key] == pytest.approx(cpu.metrics[key], rel=0.05)
        first = first_difference(cpu.spike_arrays(pop), gpu.spike_arrays(pop))
        report.append(f"{pop}: {len(cpu.spike_arrays(pop)[1])} vs {len(gpu.spike_arrays(pop)[1])} spikes, "
                      f"first difference at {first} s")
        assert first >= 0.02
    assert abs(gpu.metrics["gamma_peak_hz"] - cpu.metrics["gamma_peak_hz"]) <= 2.0
    print("cuda vs runtime:", "; ".join(report), f"rates {cpu.metrics['rate_exc_hz']:.3f}/"
          f"{gpu.metrics['rate_exc_hz']:.3f} Hz, peak {cpu.metrics['gamma_peak_hz']:.2f}/"
          f"{gpu.metrics['gamma_peak_hz']:.2f} Hz")


def _fixed_in_degree(n_total):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from _common import fixed_in_degree_model

    return fixed_in_degree_model(n_total)


@pytest.mark.parametrize("n_total", [pytest.param(1000, id="1e3"),
                                     pytest.param(1_000_000, id="1e6", marks=pytest.mark.long)])
def test_cuda_rates_agree_with_cpp_behavior(n_total):
    """Without --portable-random each device draws its own noise, so spikes differ; the network's
    statistics must not. E and I rates within 5 % (the seed-to-seed spread of 1 s of the 10^3
    network is about 3 %; at 10^6 it is far smaller) and the gamma peak within 2 Hz (one Welch
    bin of the 0.9 s analysis window is about 1 Hz, and the peak moves by a bin between seeds)."""
    spec = _fixed_in_degree(n_total)
    cpu = simulate(spec, device="cpp_standalone", duration="1 s", seed=3)
    gpu = simulate(spec, device="cuda_standalone", duration="1 s", seed=3)
    for pop in spec.populations:
        key = f"rate_{pop}_hz"
        assert gpu.metrics[key] == pytest.approx(cpu.metrics[key], rel=0.05)
    assert abs(gpu.metrics["gamma_peak_hz"] - cpu.metrics["gamma_peak_hz"]) <= 2.0
