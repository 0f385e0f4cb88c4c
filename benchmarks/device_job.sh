#!/bin/bash
# One job on the GPU machine (see benchmarks/README.md): install the carried wheels, list the
# devices, run the GPU test, then the cuda_standalone vs cpp_standalone scaling benchmark.
# Usage (from the repository root): [SKIP_GPU_TEST=1] bash benchmarks/device_job.sh OUTDIR "SIZES" DURATION
out=${1:-/tmp/out}; sizes=${2:-1000,10000,100000}; duration=${3:-1 s}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 PINGLAB_BIO_CACHE=/tmp/plb-cache
export PATH=$PATH:/usr/local/cuda/bin
python3 -m pinglab_bio.cli devices 2>&1 | tee "$out/devices.txt"
nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader | tee -a "$out/devices.txt"
nvcc --version | tail -2 | tee -a "$out/devices.txt"
[ -z "$SKIP_GPU_TEST" ] && python3 -m pytest -p no:cacheprovider -m gpu -s -q tests/test_devices_gpu.py 2>&1 | tee "$out/gpu_test.txt"
cd benchmarks && python3 bench_scaling.py --devices cuda_standalone,cpp_standalone --threads 16 \
    --sizes "$sizes" --duration "$duration" --csv "$out/scaling_gpu.csv" 2>&1 | tee "$out/scaling_gpu.txt"
