"""The single intermediate form: a network as Brian2 sees it, with units.

A model file is lowered to a :class:`NetworkModel` (:func:`pinglab_bio.model.lower.lower`); the
training layer builds its classifiers as one too. Every engine consumes this form: the Brian2
builder (:mod:`pinglab_bio.sim.build`) and the torch step derived from the same equations
(:mod:`pinglab_bio.train.derive`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PopulationModel", "PathwayModel", "NetworkModel", "INPUT"]

#: source name of the external spike inputs of a network
INPUT = "input"


@dataclass(frozen=True)
class PopulationModel:
    """A neuron population as Brian2 sees it (strings and quantities with units).

    ``threshold`` may be empty (a non-spiking population such as a leaky-integrator readout).
    ``equations`` include the internal variables of the drive; ``namespace`` holds the
    parameters, the bounds of uniform initial values and the drive's constants. ``init``
    maps a variable to ``("constant", q)`` or ``("uniform", low, high)``; ``drive`` is the
    model file's :class:`~pinglab_bio.model.spec.DriveSpec` or None.
    """

    name: str
    n: int
    equations: object  # Brian2 equation string or brian2.Equations
    threshold: str
    reset: str
    refractory: object  # brian2 Quantity (time)
    method: str
    namespace: dict
    init: dict = field(default_factory=dict)
    drive: object = None
    #: statements run at the end of every step (``((code, when), ...)``), e.g. a readout that
    #: adds a summed variable to its score at sampling steps
    run_regularly: tuple = ()


@dataclass(frozen=True)
class PathwayModel:
    """Synapses ``source → target`` with per-synapse weight ``w``; ``source`` may be ``"input"``.

    ``weight`` (a quantity), ``p`` or ``in_degree`` describe the connectivity of a model file;
    networks whose weights are given as matrices (trained classifiers) leave them None.
    ``namespace`` holds the constants ``on_pre`` may use (a model file's shared parameters).
    ``weight_names`` replaces the single weight ``w`` by several per-synapse weights (a readout
    with one weight per time window; matrices are then given stacked, ``[len(weight_names),
    n_source, n_target]``); ``equations`` adds synaptic equations (e.g. a ``(summed)``
    variable); an empty ``on_pre`` means the synapses act only through those equations.
    """

    name: str
    source: str
    target: str
    on_pre: str
    delay: object  # brian2 Quantity (time)
    weight_unit: object  # brian2 Unit of w
    weight: object = None
    p: float | None = None
    in_degree: int | None = None
    namespace: dict = field(default_factory=dict)
    weight_names: tuple = ()
    equations: str = ""


@dataclass(frozen=True)
class NetworkModel:
    """Populations and pathways of a network; ``n_inputs`` external spike sources."""

    populations: dict
    pathways: dict
    n_inputs: int = 0
