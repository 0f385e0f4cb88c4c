"""genn (brian2genn) against the runtime with CPU-drawn random numbers.

Runs only in a brian2genn environment with the GeNN library (see 'genn' in
docs/readme/devices-and-sweeps.md); elsewhere it skips. On GeNN's single-threaded CPU backend the
generated C++ does the runtime's double-precision arithmetic, so the spikes must be identical.
On its CUDA backend the GPU's own exp() may move a spike by one step, after which the trains
drift apart: then rates must agree within 5 % and the gamma peak within 2 Hz (about one bin of
the 0.5 s spectrum), and the first difference must not come before 20 ms (a wrong model or wrong
random numbers differ from the first volley on).
"""

import pytest

from pinglab_bio.runs.result import simulate
from pinglab_bio.sim.devices import device_status, genn_backend
from pinglab_bio.sim.portable import first_difference

_GENN = device_status("genn")
pytestmark = [pytest.mark.genn, pytest.mark.skipif(not _GENN.usable, reason=f"genn: {_GENN.reason}")]


def test_genn_matches_runtime_behavior():
    kw = dict(duration="0.5 s", seed=7, portable_random=True)
    cpu = simulate("ping_coba", device="runtime", **kw)
    genn = simulate("ping_coba", device="genn", **kw)
    assert genn.info["device"]["name"] == "genn"
    assert genn.metrics["rate_exc_hz"] > 1.0  # the drive reached the cells (not left out)
    gpu, _ = genn_backend()
    for pop in ("exc", "inh"):
        first = first_difference(cpu.spike_arrays(pop), genn.spike_arrays(pop))
        if gpu is None:
            assert first == float("inf"), f"{pop}: spikes differ from {first} s"
        else:
            assert first >= 0.02
            key = f"rate_{pop}_hz"
            assert genn.metrics[key] == pytest.approx(cpu.metrics[key], rel=0.05)
    assert abs(genn.metrics["gamma_peak_hz"] - cpu.metrics["gamma_peak_hz"]) <= (2.0 if gpu else 0.0)
