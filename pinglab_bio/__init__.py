"""pinglab-bio: Brian2 toolkit for excitation–inhibition networks and PING gamma rhythms.

Typical use::

    from pinglab_bio import load_model, simulate, save_run, load_run
    result = simulate(load_model("ping_coba", {"tau_gaba": "12 ms"}), dt="0.1 ms", seed=1)
    print(result.metrics["gamma_peak_hz"])
    save_run(result, "runs/my-run")

``import pinglab_bio`` loads only the errors; each public name below imports its module (and
Brian2, elephant, ...) the first time it is used, so importing the package is quick and changes
no process-wide state (warning filters, exception hook).
"""

import importlib as _importlib

from . import _moved
from .errors import DeviceError, ModelError, PinglabError, SettingsError

__version__ = "0.1.0"

#: public name → the module (below this package) that defines it
_HOMES = {
    **dict.fromkeys(("ModelSpec", "load_model"), "model.spec"),
    "build_network": "sim.build",
    **dict.fromkeys(("RunResult", "simulate", "save_run", "write_run", "load_run", "describe"),
                    "runs.result"),
    **dict.fromkeys(("firing_rates", "mean_rate", "population_rate", "welch_psd", "gamma_peak", "cv_isi",
                     "synchrony_index", "summarize"), "measures"),
}

#: the packages and ground-floor modules, reachable as attributes (``pinglab_bio.sim``) as before
_SUBMODULES = ("cli", "workflow", "runs", "report", "train", "data", "measures", "sim", "model",
               "errors", "units", "paths", "provenance")

_moved.install()  # the 0.1 module paths (pinglab_bio.spec, ...) keep working for one release

__all__ = [
    "PinglabError", "ModelError", "SettingsError", "DeviceError",
    "ModelSpec", "load_model", "build_network",
    "RunResult", "simulate", "save_run", "write_run", "load_run", "describe",
    "firing_rates", "mean_rate", "population_rate", "welch_psd", "gamma_peak", "cv_isi",
    "synchrony_index", "summarize",
]


def __getattr__(name):
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(_importlib.import_module(f"{__name__}.{home}"), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
