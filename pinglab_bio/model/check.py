"""Brian2's own unit check of a model file, run once when the file is loaded.

Brian2 checks the units of equations, thresholds, resets and ``on_pre`` statements when it
prepares code for them. This module prepares a one-neuron copy of each population (with its
drive) and a one-synapse copy of each pathway on the numpy target, runs them for 0 ms, and
turns Brian2's complaint into a :class:`~pinglab_bio.errors.ModelError` that names the table.
The copies are thrown away; networks that run are built by :mod:`pinglab_bio.sim.build`.
A passed check is remembered on disk (under the cache folder, keyed by the Brian2 version and
the model's text and value units), so a model is checked once, not in every process.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import brian2
from brian2 import Equations, Network, NeuronGroup, Synapses

from ..errors import ModelError
from ..paths import cache_dir
from ..units import parse_quantity
from .lower import drive_init, drive_update, lower, unit_text

__all__ = ["check_units", "units_key"]


def units_key(raw) -> str:
    """What the unit check depends on: the model's text and the units (not the numbers) of its
    values. Two models with the same key pass or fail the check alike, so a sweep's points
    need no new check."""

    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items()}
        if isinstance(node, list):
            return [strip(v) for v in node]
        if isinstance(node, str):
            try:
                return f"<{parse_quantity(node).dim!r}>"
            except Exception:
                return node
        return f"<{type(node).__name__}>"

    return repr(strip(raw))


def _root_message(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    text = str(err).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " ".join(lines[:2]).rstrip(".") if lines else type(err).__name__


@contextlib.contextmanager
def _quiet_numpy_target():
    previous_target = brian2.prefs.codegen.target
    level = brian2.BrianLogger.console_handler.level
    brian2.prefs.codegen.target = "numpy"
    brian2.BrianLogger.console_handler.setLevel("ERROR")
    try:
        yield
    finally:
        brian2.prefs.codegen.target = previous_target
        brian2.BrianLogger.console_handler.setLevel(level)


def _one_neuron(pop, name: str) -> NeuronGroup:
    eqs = pop.equations if isinstance(pop.equations, Equations) else Equations(pop.equations)
    return NeuronGroup(1, eqs, threshold=pop.threshold or None, reset=pop.reset or None,
                       refractory=pop.refractory, method=pop.method, namespace=dict(pop.namespace),
                       name=name, dt=0.1 * brian2.ms)


def check_units(spec) -> None:
    """Ask Brian2 to check the units of every equation, threshold, reset and on_pre statement.

    Only on the runtime device: standalone devices check units themselves when they build.
    """
    from brian2.devices.device import get_device, runtime_device

    if get_device() is not runtime_device:
        return
    marker = _passed_marker(spec.units_key or units_key(spec.raw))
    if marker.is_file():
        return  # the same text with values of the same units passed before, in any process
    where = spec.path or f"model '{spec.name}'"
    model = lower(spec)
    with _quiet_numpy_target():
        for name, pop in model.populations.items():
            try:
                group = _one_neuron(pop, f"check_{name}")
                if pop.drive is not None and pop.drive.kind == "tonic_ou":
                    for target, expression in drive_init(pop.drive).items():
                        setattr(group, target, expression)
                    group.run_regularly(drive_update(pop.drive), when="start")
                Network(group).run(0 * brian2.ms, namespace={})
            except Exception as err:
                raise ModelError(f"{where}: [neurons.{name}] Brian2 rejects the model: "
                                 f"{_root_message(err)}. Fix: make every term of each equation, "
                                 "the threshold and the reset carry the same unit") from None
        for name, path in model.pathways.items():
            try:
                pre = _one_neuron(model.populations[path.source], f"check_source_of_{name}")
                post = _one_neuron(model.populations[path.target], f"check_target_of_{name}")
                syn = Synapses(pre, post, model=f"w : {unit_text(path.weight_unit)}", on_pre=path.on_pre,
                               namespace=dict(path.namespace), name=f"check_{name}")
                syn.connect(i=0, j=0)
                Network(pre, post, syn).run(0 * brian2.ms, namespace={})
            except Exception as err:
                raise ModelError(f"{where}: [synapses.{name}] Brian2 rejects on_pre "
                                 f"'{path.on_pre}' with weight {path.weight}: {_root_message(err)}. "
                                 "Fix: give weight the unit of the variable it is added to") from None
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass  # an unwritable cache only costs the check's time next run


def _passed_marker(key: str) -> Path:
    """The file that records a passed check: keyed by the Brian2 version and :func:`units_key`."""
    digest = hashlib.sha256(f"brian2 {brian2.__version__}|{key}".encode()).hexdigest()[:32]
    return cache_dir() / "unit-checks" / digest
