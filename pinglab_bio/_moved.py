"""The 0.1 module paths, kept working for one release after the restructuring.

``import pinglab_bio.spec`` (and the other names in :data:`MOVED`) imports the module's new
home and warns once with a :class:`DeprecationWarning` naming it. This finder answers only for
those names; every other import goes past it untouched.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__all__ = ["MOVED", "install"]

#: old dotted path → new dotted path
MOVED = {
    "pinglab_bio.spec": "pinglab_bio.model.spec",
    "pinglab_bio.network": "pinglab_bio.sim.build",
    "pinglab_bio.devices": "pinglab_bio.sim.devices",
    "pinglab_bio.portable": "pinglab_bio.sim.portable",
    "pinglab_bio.runner": "pinglab_bio.runs.result",
    "pinglab_bio.runfolder": "pinglab_bio.runs.folder",
    "pinglab_bio.vanrossum": "pinglab_bio.measures.dissimilarity",
    "pinglab_bio.measures.core": "pinglab_bio.measures",
    "pinglab_bio.plots": "pinglab_bio.report.figures",
    "pinglab_bio.analyze": "pinglab_bio.workflow.analysis",
    "pinglab_bio.protocol": "pinglab_bio.workflow.protocol",
    "pinglab_bio.sweeps": "pinglab_bio.workflow.sweeps",
    "pinglab_bio.export": "pinglab_bio.train.bridge",
    "pinglab_bio.cli_analyze": "pinglab_bio.cli.analyze",
    "pinglab_bio.cli_devices": "pinglab_bio.cli.devices",
    "pinglab_bio.cli_sweep": "pinglab_bio.cli.sweep",
    "pinglab_bio.cli_train": "pinglab_bio.cli.train",
    "pinglab_bio.train.eideep": "pinglab_bio.train.studies.ei_deep",
    "pinglab_bio.train.eideep_ratio": "pinglab_bio.train.studies.ei_ratio",
    "pinglab_bio.train.eilayer": "pinglab_bio.train.layers",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str):
        self.new = new

    def create_module(self, spec):
        return importlib.import_module(self.new)

    def exec_module(self, module):
        pass  # the new module is already executed


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        new = MOVED.get(fullname)
        if new is None:
            return None
        warnings.warn(f"{fullname} moved to {new}; the old path goes in pinglab-bio 0.3",
                      DeprecationWarning, stacklevel=3)
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def install():
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
