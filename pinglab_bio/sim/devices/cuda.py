"""brian2cuda's ``cuda_standalone``: a generated CUDA project, compiled by nvcc."""

from __future__ import annotations

import importlib.util

from . import probe
from .base import Device, DeviceStatus

__all__ = ["CudaStandalone"]


class CudaStandalone(Device):
    name = "cuda_standalone"
    compiles_once = True
    # brian2cuda's synapse templates read defaultclock directly
    default_clock_device = "CUDAStandaloneDevice"
    language = "CUDA"
    first_compile = "about 30–40 s with nvcc"

    def status(self, target: str = "numpy") -> DeviceStatus:
        if importlib.util.find_spec("brian2cuda") is None:
            return DeviceStatus(self.name, False, "brian2cuda is not installed. Fix: pip install -e "
                                                  ".[cuda] (needs Python ≥ 3.12: brian2cuda 1.0b1 pins "
                                                  "brian2 2.10.1)")
        nvcc = probe.nvcc()
        if nvcc is None:
            return DeviceStatus(self.name, False, "the CUDA compiler nvcc was not found (PATH, $CUDA_PATH, "
                                                  "/usr/local/cuda). Fix: install the CUDA toolkit and set "
                                                  "CUDA_PATH")
        if probe.compiler() is None:
            return DeviceStatus(self.name, False, "needs a host C++ compiler (g++) for nvcc. "
                                                  "Fix: apt-get install g++")
        gpus, why = probe.gpus()
        if not gpus:
            return DeviceStatus(self.name, False, f"no usable NVIDIA GPU: {why}. Fix: run on a machine "
                                                  "with an NVIDIA GPU and driver")
        if not probe.has_curand(nvcc):
            return DeviceStatus(self.name, False, "libcurand was found neither in the CUDA toolkit nor in "
                                                  "the nvidia-curand package. Fix: pip install nvidia-curand")
        return DeviceStatus(self.name, True, f"GPU {gpus[0]}; nvcc {nvcc}", {"gpus": gpus, "nvcc": nvcc})

    def prefs(self, *, threads: int | None = None, portable: bool = False) -> dict:
        """Preferences that let brian2cuda 1.0b1 build on a CUDA 12/13 toolkit (C++17)."""
        gpus, _ = probe.gpus()
        capability = float(gpus[0].split(",")[-1]) if gpus else 9.0
        nvcc_args = ["-w", "-std=c++17"] if portable else ["-w", "-use_fast_math", "-std=c++17"]
        import brian2

        gcc = [a for a in brian2.prefs.codegen.cpp.extra_compile_args_gcc if not a.startswith("-std=")]
        include, lib = probe.curand_dirs()
        cpp = brian2.prefs.codegen.cpp
        return {
            "devices.cuda_standalone.cuda_backend.extra_compile_args_nvcc": nvcc_args,
            "codegen.cpp.extra_compile_args_gcc": gcc + ["-std=c++17"],
            "devices.cuda_standalone.cuda_backend.detect_gpus": False,
            "devices.cuda_standalone.cuda_backend.gpu_id": 0,
            "devices.cuda_standalone.cuda_backend.compute_capability": capability,
            "codegen.cpp.include_dirs": list(cpp.include_dirs) + include,
            "codegen.cpp.library_dirs": list(cpp.library_dirs) + lib,
            "codegen.cpp.runtime_library_dirs": list(cpp.runtime_library_dirs) + lib,
        }

    def activate(self, build_dir):
        import brian2cuda  # noqa: F401  (registers the device)

        super().activate(build_dir)
