#!/bin/bash
# Every GPU check and benchmark in one call (about 8 minutes on an H200/H100 machine), so scarce
# GPU time is spent on one run. Writes its figures to OUTDIR/gpu.json (copy it to
# benchmarks/results/gpu.json and commit it) and a log per step beside it.
#
#   bash benchmarks/device_job.sh OUTDIR [SIZES] [DURATION]
#
# Steps: devices and toolkit versions; synapse creation on the host (vectorised against one
# call per target); the GPU tests (portable-random spike identity, rate agreement without it);
# cuda_standalone against cpp_standalone whole job and loop at SIZES; a second, unchanged
# cuda run that must compile nothing; genn on GeNN's CUDA backend where brian2genn is there.
# Without a usable GPU it stops after the host steps, says why, and exits 3.
# Carried wheels (brian2cuda and its pins, for a machine without a package index) are installed
# from .whl/ when that folder exists.
set -u -o pipefail
out=${1:-/tmp/device-job}; sizes=${2:-1000,10000,100000,1000000}; duration=${3:-1 s}
mkdir -p "$out"
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
py=$(command -v "${PYTHON:-python3}"); py="$(cd "$(dirname "$py")" && pwd)/$(basename "$py")"  # absolute, links kept (a venv)
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$here
else
    export PYTHONPATH=$here
fi
export PYTHONUNBUFFERED=1 PINGLAB_BIO_CACHE=${PINGLAB_BIO_CACHE:-/tmp/plb-cache}
export PATH=$PATH:/usr/local/cuda/bin

$py -m pinglab_bio.cli devices 2>&1 | tee "$out/devices.txt"
(nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader; nvcc --version | tail -2) \
    >> "$out/devices.txt" 2>&1

# host side: drawing 4.8e7 synapses at 10^6 neurons must not dominate the GPU job
(cd benchmarks && $py bench_synapses.py --sizes "$sizes") 2>&1 | tee "$out/synapses.txt"

if ! $py -c "import sys; from pinglab_bio.sim.devices import device_status; \
s = device_status('cuda_standalone'); print('cuda_standalone:', s.reason); sys.exit(0 if s.usable else 1)" \
        | tee "$out/cuda_status.txt"; then
    echo "no usable GPU: stopped before the GPU steps (see $out/cuda_status.txt)" | tee -a "$out/cuda_status.txt"
    $py benchmarks/gpu_summary.py "$out" > "$out/gpu.json"
    exit 3
fi

$py -m pytest -p no:cacheprovider -m "gpu or genn" -s -q tests/test_devices_gpu.py tests/test_devices_genn.py \
    2>&1 | tee "$out/gpu_tests.txt"
(cd benchmarks && $py bench_scaling.py --devices cuda_standalone,cpp_standalone --threads "$(nproc)" \
    --sizes "$sizes" --duration "$duration" --csv "$out/scaling.csv") 2>&1 | tee "$out/scaling.txt"
# an unchanged model, run again: the build folder is reused and nvcc must not run
(cd benchmarks && $py bench_scaling.py --devices cuda_standalone --sizes 1000 --duration "$duration" \
    --csv "$out/rerun.csv") 2>&1 | tee "$out/rerun.txt"
$py benchmarks/gpu_summary.py "$out" | tee "$out/gpu.json"
