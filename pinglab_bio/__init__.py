"""pinglab-bio: Brian2 toolkit for excitation–inhibition networks and PING gamma rhythms.

Typical use::

    from pinglab_bio import load_model, simulate, save_run, load_run
    result = simulate(load_model("ping_coba", {"tau_gaba": "12 ms"}), dt="0.1 ms", seed=1)
    print(result.metrics["gamma_peak_hz"])
    save_run(result, "runs/my-run")
"""

import warnings as _warnings

import elephant as _elephant  # noqa: F401  (first: its import adds a 'once' filter for UserWarning)
import pyparsing as _pyparsing

# Brian2 2.9 calls pyparsing APIs that pyparsing 3.3 marks deprecated; those notes concern
# Brian2's code, not the user's, so keep them off the user's terminal. The filter goes in after
# elephant's, which would otherwise show them once.
if hasattr(_pyparsing, "PyparsingDeprecationWarning"):
    _warnings.filterwarnings("ignore", category=_pyparsing.PyparsingDeprecationWarning)

from . import _moved  # noqa: E402
from .errors import DeviceError, ModelError, PinglabError, SettingsError  # noqa: E402
from .measures.core import (  # noqa: E402
    cv_isi,
    firing_rates,
    gamma_peak,
    mean_rate,
    population_rate,
    summarize,
    synchrony_index,
    welch_psd,
)
from .model.spec import ModelSpec, load_model  # noqa: E402
from .runs.result import RunResult, describe, load_run, save_run, simulate, write_run  # noqa: E402
from .sim.build import build_network  # noqa: E402

__version__ = "0.1.0"

_moved.install()  # the 0.1 module paths (pinglab_bio.spec, ...) keep working for one release

__all__ = [
    "PinglabError", "ModelError", "SettingsError", "DeviceError",
    "ModelSpec", "load_model", "build_network",
    "RunResult", "simulate", "save_run", "write_run", "load_run", "describe",
    "firing_rates", "mean_rate", "population_rate", "welch_psd", "gamma_peak", "cv_isi",
    "synchrony_index", "summarize",
]
