"""The one GPU job (benchmarks/device_job.sh) runs its host steps and stops cleanly without a GPU."""

import json
import os
import subprocess
import sys

import pytest

from pinglab_bio.paths import repo_root
from pinglab_bio.sim.devices import device_status


@pytest.mark.skipif(device_status("cuda_standalone").usable,
                    reason="a GPU is here: the job would run in full")
def test_device_job_stops_before_the_gpu_behavior(tmp_path):
    out = tmp_path / "job"
    env = {**os.environ, "PYTHON": sys.executable, "PINGLAB_BIO_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(["bash", str(repo_root() / "benchmarks" / "device_job.sh"), str(out), "1000,4000",
                           "0.05 s"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "no usable GPU: stopped before the GPU steps" in proc.stdout
    summary = json.loads((out / "gpu.json").read_text())
    assert [row["n"] for row in summary["synapse_creation"]] == [1000, 4000]
    # 48 synapses per neuron: K_EI 80 onto the 20 % I cells, K_IE 40 onto the 80 % E cells
    assert all(row["synapses"] == 48 * row["n"] for row in summary["synapse_creation"])
    assert summary["gpu_steps"].startswith("not run: cuda_standalone: ")
    assert "whole_job_speedup" not in summary  # no figure without a GPU run
    assert "cuda_standalone" in (out / "devices.txt").read_text()
