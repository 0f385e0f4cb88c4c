#!/bin/bash
# The CPU benchmarks in one job on the 16-core GPU machine (Python 3.12, brian2 2.10.1 from the
# carried wheels; see device_job.sh). Usage: bash benchmarks/device_cpu_job.sh OUTDIR
out=${1:-/tmp/out}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
cd benchmarks
timeout 230 python3 bench_sweep.py --points 20 --duration "1 s" 2>&1 | tee "$out/bench_sweep.txt"
timeout 40 python3 bench_overhead.py --repeats 3 2>&1 | tee "$out/bench_overhead.txt"
timeout 90 python3 bench_targets.py 2>&1 | tee "$out/bench_targets.txt"
timeout 100 python3 bench_scaling.py --devices cpp_standalone --sizes 1000,4000,16000,64000 \
    --csv "$out/scaling_cpu.csv" 2>&1 | tee "$out/bench_scaling.txt"
