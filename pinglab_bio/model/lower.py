"""Lowering: a validated :class:`~pinglab_bio.model.spec.ModelSpec` → :class:`NetworkModel`.

This is the one place where a model file becomes the form every engine consumes. The drive's
internal variables (``<var>_tonic``, ``<var>_ou``) join the population's equations, and its
constants (``<var>_ou_mean``, ...) and the bounds of uniform initial values join the namespace.

Every function takes a validated :class:`~pinglab_bio.model.spec.ModelSpec` as ``spec`` (by
its attributes: this module does not import the validator, which imports it for the unit check).
"""

from __future__ import annotations

from brian2 import Equations
from brian2.units.fundamentalunits import DIMENSIONLESS, get_unit

from ..errors import SettingsError
from .network import INPUT, NetworkModel, PathwayModel, PopulationModel

__all__ = ["lower", "population_model", "pathway_model", "population_equations", "population_namespace",
           "unit_of", "unit_text", "variable_unit", "on_pre_target", "drive_update", "drive_init",
           "is_conductance", "input_pathways"]


def unit_of(q):
    """The Brian2 unit of a quantity (``1`` for a dimensionless one)."""
    dim = getattr(q, "dim", DIMENSIONLESS)
    return get_unit(dim)


def unit_text(q) -> str:
    """The unit of a quantity as Brian2 equation text (``"siemens"``, ``"1"``)."""
    return "1" if getattr(q, "dim", DIMENSIONLESS) is DIMENSIONLESS else repr(unit_of(q))


def is_conductance(q) -> bool:
    from brian2 import siemens

    return getattr(q, "dim", DIMENSIONLESS) == siemens.dim


def drive_update(drive, xi: str = "randn()") -> str:
    """The statement a tonic + Ornstein–Uhlenbeck drive runs at the start of every step.

    It is the exact OU transition over one step (mean 0, stationary sd sigma, for any dt);
    ``xi`` is the source of standard normal numbers (Brian2's ``randn()`` or a function of
    CPU-drawn numbers). A conductance drive is clipped at zero.
    """
    var = drive.variable
    update = (f"{var}_ou = {var}_ou*exp(-dt/{var}_ou_tau) "
              f"+ {var}_ou_sigma*sqrt(1 - exp(-2*dt/{var}_ou_tau))*{xi}\n")
    if is_conductance(drive.values["mean"]):
        return update + f"{var} = clip({var}_tonic + {var}_ou, 0*{var}_ou_mean, inf*{var}_ou_mean)"
    return update + f"{var} = {var}_tonic + {var}_ou"


def drive_init(drive) -> dict:
    """``{variable: expression}`` of the drive's initial state: a tonic level spread uniformly by
    ±heterogeneity, and the OU part drawn from its stationary law."""
    var = drive.variable
    return {f"{var}_tonic": f"{var}_ou_mean*(1 + {var}_ou_heterogeneity*(2*rand() - 1))",
            f"{var}_ou": f"{var}_ou_sigma*randn()"}


def population_equations(spec, pop: str) -> Equations:
    """The population's equations plus the internal variables its drive needs."""
    eqs = Equations(spec.populations[pop].equations)
    drive = spec.drives.get(pop)
    if drive is not None and drive.kind == "tonic_ou":
        unit = repr(eqs[drive.variable].unit)
        eqs = eqs + Equations(f"{drive.variable}_tonic : {unit} (constant)\n{drive.variable}_ou : {unit}")
    return eqs


def population_namespace(spec, pop: str) -> dict:
    """Shared and own parameters, the bounds of uniform initial values and the drive's constants."""
    ns = dict(spec.namespace(pop))
    for var, init in spec.populations[pop].init.items():
        if init[0] == "uniform":
            ns[f"init_{var}_low"], ns[f"init_{var}_high"] = init[1], init[2]
    drive = spec.drives.get(pop)
    if drive is not None and drive.kind == "tonic_ou":
        for key in ("mean", "sigma", "tau"):
            ns[f"{drive.variable}_ou_{key}"] = drive.values[key]
        ns[f"{drive.variable}_ou_heterogeneity"] = drive.values["heterogeneity"]
    return ns


def variable_unit(spec, pop: str, var: str):
    """The unit of variable ``var`` of population ``pop``; SettingsError naming the valid ones."""
    eqs = Equations(spec.populations[pop].equations)
    if var not in eqs.names:
        raise SettingsError(f"'{var}' is not a variable of population '{pop}' of model '{spec.name}'. "
                            f"Fix: use one of {', '.join(sorted(eqs.names))}")
    return get_unit(eqs[var].dim)


def on_pre_target(on_pre: str) -> str:
    """The target variable of an ``on_pre`` statement ``var_post += w``."""
    return on_pre.split("_post")[0].strip()


def population_model(spec, pop: str, name: str | None = None, n: int | None = None, *,
                     drive: bool = True) -> PopulationModel:
    """Population ``pop`` of a model file, optionally renamed or resized.

    With ``drive=False`` the population keeps its equations (drive variables included, so a
    caller can set them) but has no drive process and no initial-value rule: what a trained
    network, whose state is given as values, needs.
    """
    p = spec.populations[pop]
    return PopulationModel(name=name or pop, n=p.n if n is None else n,
                           equations=population_equations(spec, pop), threshold=p.threshold, reset=p.reset,
                           refractory=p.refractory, method=p.method,
                           namespace=population_namespace(spec, pop), init=dict(p.init) if drive else {},
                           drive=spec.drives.get(pop) if drive else None)


def pathway_model(spec, name: str) -> PathwayModel:
    """Pathway ``name`` of a model file, with its weight and connectivity."""
    path = spec.pathways[name]
    return PathwayModel(name, path.source, path.target, path.on_pre, path.delay,
                        unit_of(path.weight), weight=path.weight, p=path.p, in_degree=path.in_degree,
                        namespace=dict(spec.parameters))


def lower(spec) -> NetworkModel:
    """Every population and pathway of a model file, in file order, with no external inputs."""
    return NetworkModel(populations={pop: population_model(spec, pop) for pop in spec.populations},
                        pathways={name: pathway_model(spec, name) for name in spec.pathways}, n_inputs=0)


def input_pathways(spec, inputs) -> dict:
    """``{f"input_to_{pop}": PathwayModel}`` of an :class:`~pinglab_bio.model.spec.InputSpec`.

    Each keeps the input's weight and connectivity (``p`` or ``in_degree``); the caller draws
    the connections (they are the same in every trial) or lets the builder draw them.
    """
    return {f"{INPUT}_to_{pop}": PathwayModel(f"{INPUT}_to_{pop}", INPUT, pop, inputs.on_pre, inputs.delay,
                                              unit_of(inputs.weight), weight=inputs.weight, p=inputs.p,
                                              in_degree=inputs.in_degree, namespace=dict(spec.parameters))
            for pop in inputs.targets}
