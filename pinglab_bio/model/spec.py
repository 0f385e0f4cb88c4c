"""Model files (TOML) → validated :class:`ModelSpec`.

A model file is checked completely before Brian2 builds anything from it. Every problem raises
:class:`~pinglab_bio.errors.ModelError` with one line that names the file, the key, the value
received and the fix.
"""

from __future__ import annotations

import copy
import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from brian2 import Equations
from brian2.core.functions import DEFAULT_FUNCTIONS
from brian2.units.fundamentalunits import Quantity, fail_for_dimension_mismatch
from brian2.utils.stringtools import get_identifiers

from ..errors import ModelError, SettingsError, quiet_dependency_warnings
from ..paths import find_model, list_models
from ..units import UNIT_NAMESPACE, parse_quantity, unit_name

__all__ = [
    "ModelSpec",
    "PopulationSpec",
    "PathwaySpec",
    "DriveSpec",
    "InputSpec",
    "input_spec",
    "INPUT_KEYS",
    "POPULATIONS",
    "PATHWAYS",
    "load_model",
    "parse_model",
    "apply_overrides",
    "check_run_settings",
    "MIN_STEPS",
    "MAX_SEED",
    "check_seed",
]

#: a run must be at least this many integration steps long
MIN_STEPS = 5
#: the largest seed numpy and Brian2 accept (seeds are 32-bit)
MAX_SEED = 2**32 - 1
# Brian2 counts time steps in int64
_MAX_STEPS_REPRESENTABLE = 2**62

POPULATIONS = ("exc", "inh")
PATHWAYS = {
    "exc_to_inh": ("exc", "inh"),
    "inh_to_exc": ("inh", "exc"),
    "exc_to_exc": ("exc", "exc"),
    "inh_to_inh": ("inh", "inh"),
}
DRIVE_KINDS = {
    "tonic_ou": {"kind", "variable", "mean", "heterogeneity", "sigma", "tau"},
    "poisson": {"kind", "variable", "n_sources", "rate", "weight"},
}
TOP_KEYS = {"model", "populations", "parameters", "neurons", "synapses", "drive", "input"}
#: keys of the optional ``[input]`` table: external spike channels (an encoded data set)
INPUT_KEYS = {"targets", "on_pre", "weight", "p", "in_degree", "delay"}
MODEL_KEYS = {"name", "description", "reference"}
POPULATION_KEYS = {"n_exc", "n_inh", "n_total", "ei_ratio"}
NEURON_KEYS = {"equations", "threshold", "reset", "refractory", "method", "parameters", "init"}
PATHWAY_KEYS = {"on_pre", "weight", "p", "in_degree", "delay"}
METHODS = {"exact", "linear", "exponential_euler", "euler", "rk2", "rk4", "heun", "milstein"}
# Identifiers Brian2 provides itself inside equations, thresholds and resets.
_BUILTIN_NAMES = (
    set(DEFAULT_FUNCTIONS) | set(UNIT_NAMESPACE)
    | {"t", "dt", "xi", "i", "N", "True", "False", "inf", "pi", "e", "not_refractory",
       "lastspike", "t_in_timesteps"}
)


@dataclass(frozen=True)
class PopulationSpec:
    """One neuron population: equations, spiking rule and parameters (all with units)."""

    name: str
    n: int
    equations: str
    threshold: str
    reset: str
    refractory: Quantity
    method: str
    parameters: dict
    init: dict

    @property
    def variables(self) -> set[str]:
        return set(Equations(self.equations).names)


@dataclass(frozen=True)
class PathwaySpec:
    """Synapses from one population to another, with per-synapse weight ``w``."""

    name: str
    source: str
    target: str
    on_pre: str
    weight: Quantity
    delay: Quantity
    p: float | None = None
    in_degree: int | None = None


@dataclass(frozen=True)
class DriveSpec:
    """External drive of one population: tonic + Ornstein–Uhlenbeck, or Poisson input."""

    population: str
    kind: str
    variable: str
    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class InputSpec:
    """External input channels (an encoded data set) and how they reach the network.

    Each target population gets synapses ``input → target`` with the statement ``on_pre``
    (default ``g_e_post += w``), weight ``weight`` per synapse, connected with probability
    ``p`` or ``in_degree`` channels per target neuron (drawn once, the same in every trial),
    after ``delay``.
    """

    targets: tuple
    on_pre: str
    weight: Quantity
    delay: Quantity
    p: float | None = None
    in_degree: int | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A validated model. ``raw`` is the TOML content after overrides; ``source`` the file text."""

    name: str
    description: str
    path: str | None
    source: str
    raw: dict
    parameters: dict
    populations: dict
    pathways: dict
    drives: dict
    overrides: dict = field(default_factory=dict)
    #: the ``[input]`` table, or None when the file has none
    input: InputSpec | None = None
    #: the text and value units Brian2's unit check depended on (see :mod:`pinglab_bio.model.check`)
    units_key: str = field(default="", repr=False, compare=False)

    def __repr__(self) -> str:
        """One line: name, sizes, pathways, overrides and file (``print(spec)`` in a notebook)."""
        sizes = ", ".join(f"{pop}={p.n}" for pop, p in self.populations.items())
        overrides = (f", overrides={ {k: str(v) for k, v in self.overrides.items()} }" if self.overrides
                     else "")
        return (f"ModelSpec({self.name!r}, {sizes}, pathways=[{', '.join(self.pathways)}]"
                f"{overrides}, path={self.path!r})")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    @property
    def n_neurons(self) -> int:
        return sum(p.n for p in self.populations.values())

    def namespace(self, population: str) -> dict:
        """Shared parameters overlaid by the population's own ones."""
        return {**self.parameters, **self.populations[population].parameters}

    def with_overrides(self, overrides: dict) -> "ModelSpec":
        """A new, re-validated spec with ``overrides`` (see :func:`apply_overrides`) applied."""
        merged = {**self.overrides, **overrides}
        raw = apply_overrides(self._original_raw(), merged, self._where())
        return parse_model(raw, source=self.source, path=self.path, overrides=merged,
                           units_checked=self.units_key)

    def _original_raw(self) -> dict:
        return tomllib.loads(self.source)

    def _where(self) -> str:
        return self.path or f"model '{self.name}'"


def load_model(name_or_path: str | Path, overrides: dict | None = None) -> ModelSpec:
    """Load a model from the catalogue by name (``"ping_coba"``) or from a TOML file path.

    Parameters
    ----------
    name_or_path : str or Path
        A catalogue name (see ``pinglab-bio models``) or the path of a ``.toml`` file.
    overrides : dict, optional
        ``{key: value}`` settings applied on top of the file, as with ``--set key=value``.
    """
    path = find_model(name_or_path)
    if path is None:
        raise ModelError(
            f"model '{name_or_path}' not found: it is neither a file nor a catalogue name; "
            f"available: {', '.join(list_models()) or 'none'}. Fix: pass a name from "
            "`pinglab-bio models` or the path of a .toml file"
        )
    where = str(path)
    try:
        source = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ModelError(f"{where}: not a text file (byte {err.start} is not UTF-8). Fix: pass a TOML model "
                         "file (see `pinglab-bio models`)") from None
    except OSError as err:
        raise ModelError(f"{where}: cannot be read ({err.strerror or err}). Fix: check the path and its "
                         "permissions") from None
    if "\x00" in source:
        raise ModelError(f"{where}: holds NUL bytes, so it is not a TOML text file. Fix: pass a TOML model "
                         "file (see `pinglab-bio models`)")
    try:
        raw = tomllib.loads(source)
    except tomllib.TOMLDecodeError as err:
        raise ModelError(f"{where}: not valid TOML ({err}). Fix: correct the syntax at that line") from None
    overrides = dict(overrides or {})
    raw = apply_overrides(raw, overrides, where, from_set=True)
    return parse_model(raw, source=source, path=where, overrides=overrides)


# ----------------------------------------------------------------------------------------
# overrides (--set key=value)


def _coerce(text):
    if not isinstance(text, str):
        return text
    low = text.strip().lower()
    if low in {"none", "off", "remove"}:
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def _resolve_override_path(raw: dict, key: str) -> list[str]:
    parts = key.split(".")
    if len(parts) == 1:
        name = parts[0]
        if name in raw.get("parameters", {}):
            return ["parameters", name]
        if name in POPULATION_KEYS:
            return ["populations", name]
        owners = [p for p, sec in raw.get("neurons", {}).items() if name in sec.get("parameters", {})]
        if len(owners) == 1:
            return ["neurons", owners[0], "parameters", name]
        if name in PATHWAYS:
            return ["synapses", name]
        known = sorted(set(raw.get("parameters", {})) | POPULATION_KEYS | set(PATHWAYS)
                       | {f"{pop}.{p}" for pop, sec in raw.get("neurons", {}).items()
                          for p in sec.get("parameters", {})})
        close = sorted(known, key=lambda k: _distance(k, name))[:1]
        hint = f"did you mean '{close[0]}'? " if close and _distance(close[0], name) <= 3 else ""
        raise SettingsError(f"override '{name}' matches no parameter of the model. Fix: {hint}use a "
                            f"shared parameter, population.parameter or a dotted path (e.g. drive.exc.mean); "
                            f"known names: {', '.join(known)}")
    if parts[0] in POPULATIONS and len(parts) == 2:
        section = raw.get("neurons", {}).get(parts[0], {})
        if parts[1] in NEURON_KEYS:
            return ["neurons", parts[0], parts[1]]
        own = sorted(section.get("parameters", {}))
        if parts[1] in own:
            return ["neurons", parts[0], "parameters", parts[1]]
        known = sorted(NEURON_KEYS) + own
        close = sorted(known, key=lambda k: _distance(k, parts[1]))[:1]
        hint = (f"did you mean '{parts[0]}.{close[0]}'? "
                if close and _distance(close[0], parts[1]) <= 3 else "")
        raise SettingsError(f"override '{key}' names no key or parameter of population '{parts[0]}'. "
                            f"Fix: {hint}use one of {', '.join(f'{parts[0]}.{k}' for k in known)}")
    if parts[0] in POPULATIONS:
        return ["neurons", *parts]
    if parts[0] in PATHWAYS:
        return ["synapses", *parts]
    if parts[0] not in TOP_KEYS:
        values = set(raw.get("parameters", {})) | POPULATION_KEYS | {
            p for sec in raw.get("neurons", {}).values() if isinstance(sec, dict)
            for p in sec.get("parameters", {})}
        if parts[0] in values:
            raise SettingsError(f"--set {key}: '{parts[0]}' is a value, not a table, so it has no key "
                                f"'{'.'.join(parts[1:])}'. Fix: set the value itself, e.g. "
                                f"--set {parts[0]}=...")
        raise SettingsError(f"--set {key}: '{parts[0]}' is neither a parameter nor a table of the model "
                            f"file. Fix: start the key with a parameter, a population "
                            f"({', '.join(POPULATIONS)}), a pathway or one of {', '.join(sorted(TOP_KEYS))}")
    return parts


def _check_override_unit(key: str, old, value, where: str):
    """A new value must have the unit of the value it replaces; the error blames the ``--set``."""
    if not isinstance(old, str) or not isinstance(value, str):
        return
    try:
        before = parse_quantity(old)
    except ValueError:
        return
    try:
        after = parse_quantity(value)
    except ValueError as err:
        raise SettingsError(f"--set {key}={value}: {err}. Fix: give a number and a unit like "
                            f"--set {key}={old.replace(' ', '')}") from None
    if before.dim != after.dim:
        raise SettingsError(f"--set {key}={value}: {key} is in {unit_name(before)} in {where}, but "
                            f"{value!r} is in {unit_name(after)}. Fix: give it in {unit_name(before)}, e.g. "
                            f"--set {key}={old.replace(' ', '')}")


def apply_overrides(raw: dict, overrides: dict, where: str = "model", *, from_set: bool = False) -> dict:
    """Apply ``{key: value}`` overrides to a raw model dict and return the new dict.

    Keys are a shared parameter (``tau_gaba``), a population key (``n_exc``), a population
    parameter (``exc.C_m``), a pathway key (``exc_to_inh.p``) or any dotted path
    (``drive.exc.mean``). A value of ``none``/``off`` removes the entry, e.g.
    ``exc_to_inh=off`` removes that pathway. With ``from_set`` (values typed as ``--set``), a
    value must have the unit of the value it replaces, and the error names the ``--set``.
    """
    raw = copy.deepcopy(raw)
    for key, value in overrides.items():
        if not isinstance(key, str) or not key or key.startswith(".") or key.endswith("."):
            raise SettingsError(f"override key {key!r} is not a name. Fix: use e.g. tau_gaba=9ms")
        path = _resolve_override_path(raw, key)
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise SettingsError(
                    f"--set {key}: the key goes through '{part}', which is a value, not a "
                    f"table, in {where}. Fix: name an existing key (see the model file)"
                )
            node = child
        value = _coerce(value)
        if value is not None and from_set:
            _check_override_unit(key, node.get(path[-1]), value, where)
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return raw


# ----------------------------------------------------------------------------------------
# validation


def _err(where: str, key: str, message: str, fix: str):
    raise ModelError(f"{where}: [{key}] {message}. Fix: {fix}")


def _check_keys(where: str, table: str, found: dict, allowed: set[str]):
    if not isinstance(found, dict):
        _err(where, table, f"must be a table, got {found!r}", f"write it as [{table}] with keys")
    for key in found:
        if key not in allowed:
            close = sorted(allowed, key=lambda a: _distance(a, key))[:1]
            hint = f"did you mean '{close[0]}'? " if close and _distance(close[0], key) <= 3 else ""
            _err(where, table, f"unknown key '{key}'",
                 f"{hint}allowed keys are {', '.join(sorted(allowed))}")


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _quantity(where, key, value, *, dim=None, unit_hint="", positive=False, nonnegative=False):
    try:
        q = parse_quantity(value)
    except ValueError as err:
        _err(where, key, f"{err}", f"write a number and a unit, e.g. '{unit_hint or '20 ms'}'")
    if dim is not None:
        try:
            fail_for_dimension_mismatch(q, dim)
        except Exception:
            _err(where, key, f"'{value}' has the wrong unit",
                 f"give it a unit like '{unit_hint}'")
    if positive and not float(q) > 0:
        _err(where, key, f"must be positive, got '{value}'", f"use a value > 0, e.g. '{unit_hint}'")
    if nonnegative and float(q) < 0:
        _err(where, key, f"must not be negative, got '{value}'", f"use a value ≥ 0, e.g. '{unit_hint}'")
    return q


_SECOND = parse_quantity("1 s")


def _parameters(where: str, table: str, values: dict) -> dict:
    if not isinstance(values, dict):
        _err(where, table, f"must be a table of name = 'value unit', got {values!r}",
             "write e.g. tau_gaba = \"9 ms\"")
    out = {}
    for name, value in values.items():
        key = f"{table}.{name}"
        if not name.isidentifier() or not name.isascii():
            _err(where, key, f"'{name}' is not a valid name: Brian2 takes ASCII letters, digits and _ only",
                 "rename it with ASCII letters (e.g. tau_gaba for τ_gaba) here and in the equations")
        is_tau = name.startswith("tau")
        q = _quantity(where, key, value, dim=_SECOND if is_tau else None,
                      unit_hint="9 ms" if is_tau else "20 ms")
        if is_tau and not float(q) > 0:
            _err(where, key, f"time constant must be positive, got '{value}'", "use a value > 0, e.g. '9 ms'")
        out[name] = q
    return out


def _populations(where: str, raw: dict) -> dict[str, int]:
    table = raw.get("populations")
    if table is None:
        _err(where, "populations", "is missing", "add [populations] with n_exc and n_inh")
    _check_keys(where, "populations", table, POPULATION_KEYS)
    if "ei_ratio" in table or "n_total" in table:
        if "ei_ratio" not in table or "n_total" not in table:
            _err(where, "populations", "ei_ratio and n_total must be given together",
                 "give both (n_exc = round(ei_ratio·n_total)) or use n_exc/n_inh")
        if "n_exc" in table or "n_inh" in table:
            _err(where, "populations", "give either n_exc/n_inh or n_total/ei_ratio, not both",
                 "remove one of the two forms")
        ratio = table["ei_ratio"]
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
            _err(where, "populations.ei_ratio", f"E:I ratio must lie in (0, 1], got {ratio!r}",
                 "give the excitatory fraction, e.g. 0.8 for 80:20")
        total = _size(where, "populations.n_total", table["n_total"])
        n_exc = int(round(ratio * total))
        sizes = {"exc": n_exc, "inh": total - n_exc}
        if n_exc < 1:
            _err(where, "populations.ei_ratio", f"ratio {ratio} of {total} neurons leaves no E neuron",
                 "raise ei_ratio or n_total")
        return {k: v for k, v in sizes.items() if v > 0}
    sizes = {pop: _size(where, f"populations.n_{pop}", table[f"n_{pop}"])
             for pop in POPULATIONS if f"n_{pop}" in table}
    if not sizes:
        _err(where, "populations", "declares no population", "add n_exc and/or n_inh")
    return sizes


def _size(where, key, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _err(where, key, f"must be a whole number, got {value!r}", "write e.g. 800")
    if value < 1:
        _err(where, key, f"size must be at least 1, got {value}", "use a size ≥ 1 or remove the population")
    return value


def _check_identifiers(where, key, code, known: set[str], kind: str, fix_table: str):
    used = code.identifiers if isinstance(code, Equations) else get_identifiers(code)
    missing = sorted(set(used) - known - _BUILTIN_NAMES)
    if missing:
        _err(where, key, f"{kind} use {', '.join(repr(m) for m in missing)}, "
             "which is neither a variable of the equations nor a parameter",
             f"add {missing[0]} = \"<value> <unit>\" to {fix_table} or declare it in the equations")


def _population(where: str, name: str, section: dict, n: int, shared: dict) -> PopulationSpec:
    table = f"neurons.{name}"
    _check_keys(where, table, section, NEURON_KEYS)
    for key in ("equations", "threshold", "method"):
        if key not in section:
            _err(where, table, f"is missing '{key}'", f"add {key} = ... to [{table}]")
    try:
        eqs = Equations(section["equations"])
    except Exception as err:  # Brian2 raises several types for bad equation strings
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        _err(where, f"{table}.equations", f"Brian2 cannot parse the equations ({first})",
             "write one 'name = expr : unit' or 'dname/dt = expr : unit' per line")
    method = section["method"]
    if method not in METHODS:
        _err(where, f"{table}.method", f"unknown integration method '{method}'",
             f"use one of {', '.join(sorted(METHODS))}")
    params = _parameters(where, f"{table}.parameters", section.get("parameters", {}))
    refractory = _quantity(where, f"{table}.refractory", section.get("refractory", "0 ms"),
                           dim=_SECOND, unit_hint="2 ms", nonnegative=True)
    known = set(eqs.names) | set(shared) | set(params)
    _check_identifiers(where, f"{table}.equations", eqs, known, "the equations",
                       f"[{table}.parameters] or [parameters]")
    _check_identifiers(where, f"{table}.threshold", section["threshold"], known, "the threshold",
                       f"[{table}.parameters] or [parameters]")
    _check_identifiers(where, f"{table}.reset", section.get("reset", ""), known, "the reset",
                       f"[{table}.parameters] or [parameters]")
    init = section.get("init", {})
    if not isinstance(init, dict):
        _err(where, f"{table}.init", f"must be a table, got {init!r}", "write e.g. v = \"-65 mV\"")
    parsed_init = {}
    for var, value in init.items():
        key = f"{table}.init.{var}"
        if var not in eqs.names:
            _err(where, key, f"'{var}' is not a variable of the equations",
                 f"initialise one of {', '.join(sorted(eqs.names))}")
        dim = eqs[var].dim
        if isinstance(value, dict):
            if (set(value) == {"uniform"} and isinstance(value["uniform"], list)
                    and len(value["uniform"]) == 2):
                low, high = (_quantity(where, key, v, dim=dim, unit_hint="-65 mV") for v in value["uniform"])
                if float(high) < float(low):
                    _err(where, key, f"uniform bounds are reversed ({value['uniform']})", "write [low, high]")
                parsed_init[var] = ("uniform", low, high)
            else:
                _err(where, key, f"unknown initial distribution {value!r}",
                     "write a value with unit, or { uniform = [\"low unit\", \"high unit\"] }")
        else:
            parsed_init[var] = ("constant", _quantity(where, key, value, dim=dim, unit_hint="-65 mV"))
    return PopulationSpec(
        name=name, n=n, equations=section["equations"], threshold=section["threshold"],
        reset=section.get("reset", ""), refractory=refractory, method=method,
        parameters=params, init=parsed_init,
    )


def _pathway(where: str, name: str, section: dict, populations: dict) -> PathwaySpec:
    table = f"synapses.{name}"
    if name not in PATHWAYS:
        _err(where, table, f"unknown pathway '{name}'", f"use one of {', '.join(PATHWAYS)}")
    _check_keys(where, table, section, PATHWAY_KEYS)
    source, target = PATHWAYS[name]
    for pop in (source, target):
        if pop not in populations:
            _err(where, table, f"connects population '{pop}', which the model does not have",
                 f"add n_{pop} to [populations] or remove [{table}]")
    if "on_pre" not in section or "weight" not in section:
        _err(where, table, "needs on_pre and weight",
             "add e.g. on_pre = \"g_e_post += w\" and weight = \"1 nS\"")
    if ("p" in section) == ("in_degree" in section):
        _err(where, table, "needs exactly one of p (connection probability) and in_degree",
             "give p = 0.2 or in_degree = 80")
    p = section.get("p")
    if p is not None and (isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1):
        _err(where, f"{table}.p", f"connection probability must lie in [0, 1], got {p!r}", "use e.g. p = 0.2")
    k = section.get("in_degree")
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            _err(where, f"{table}.in_degree", f"must be a whole number ≥ 0, got {k!r}",
                 "use e.g. in_degree = 80")
        n_source = populations[source].n
        if k > n_source:
            _err(where, f"{table}.in_degree", f"{k} exceeds the {n_source} neurons of '{source}'",
                 f"use in_degree ≤ {n_source}")
    weight = _quantity(where, f"{table}.weight", section["weight"], unit_hint="1 nS", nonnegative=True)
    delay = _quantity(where, f"{table}.delay", section.get("delay", "0 ms"), dim=_SECOND,
                      unit_hint="1 ms", nonnegative=True)
    on_pre = section["on_pre"]
    targets_vars = populations[target].variables
    sources_vars = populations[source].variables
    for ident in get_identifiers(on_pre) - _BUILTIN_NAMES - {"w", "delay"}:
        base = ident.rsplit("_", 1)[0] if ident.endswith(("_post", "_pre")) else ident
        pool = (targets_vars if ident.endswith("_post")
                else sources_vars if ident.endswith("_pre") else targets_vars)
        if base not in pool:
            _err(where, f"{table}.on_pre", f"uses '{ident}', but '{base}' is not a variable of population "
                 f"'{target if not ident.endswith('_pre') else source}'",
                 f"use one of {', '.join(sorted(v + '_post' for v in targets_vars))}")
    return PathwaySpec(name=name, source=source, target=target, on_pre=on_pre, weight=weight,
                       delay=delay, p=None if p is None else float(p), in_degree=k)


def _drive(where: str, pop: str, section: dict, populations: dict) -> DriveSpec:
    table = f"drive.{pop}"
    if pop not in populations:
        _err(where, table, f"drives population '{pop}', which the model does not have",
             f"remove [{table}] or add n_{pop} to [populations]")
    kind = section.get("kind")
    if kind not in DRIVE_KINDS:
        _err(where, f"{table}.kind", f"unknown drive kind {kind!r}", f"use one of {', '.join(DRIVE_KINDS)}")
    _check_keys(where, table, section, DRIVE_KINDS[kind])
    missing = DRIVE_KINDS[kind] - set(section) - {"heterogeneity", "sigma", "tau"}
    if missing:
        _err(where, table, f"is missing {', '.join(sorted(missing))}", f"add {sorted(missing)[0]} = ...")
    variable = section["variable"]
    eqs = Equations(populations[pop].equations)
    if variable not in eqs.names:
        _err(where, f"{table}.variable", f"'{variable}' is not a variable of population '{pop}'",
             f"declare it in [neurons.{pop}] equations (e.g. '{variable} : siemens') or pick one of "
             f"{', '.join(sorted(eqs.names))}")
    dim = eqs[variable].dim
    values = {}
    if kind == "tonic_ou":
        if eqs[variable].type != "parameter":
            _err(where, f"{table}.variable", f"'{variable}' must be a plain variable ('{variable} : unit'), "
                 "not a differential equation or subexpression", "declare it as a parameter line")
        values["mean"] = _quantity(where, f"{table}.mean", section["mean"], dim=dim, unit_hint="20 nS")
        values["sigma"] = _quantity(where, f"{table}.sigma", section.get("sigma", 0), dim=dim,
                                    unit_hint="5 nS", nonnegative=True)
        values["tau"] = _quantity(where, f"{table}.tau", section.get("tau", "3 ms"), dim=_SECOND,
                                  unit_hint="3 ms", positive=True)
        het = section.get("heterogeneity", 0.0)
        if isinstance(het, bool) or not isinstance(het, (int, float)) or not 0 <= het < 1:
            _err(where, f"{table}.heterogeneity", f"must lie in [0, 1), got {het!r}",
                 "use e.g. 0.05 for ±5 %")
        values["heterogeneity"] = float(het)
    else:
        n = section["n_sources"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            _err(where, f"{table}.n_sources", f"must be a whole number ≥ 1, got {n!r}", "use e.g. 100")
        values["n_sources"] = n
        values["rate"] = _quantity(where, f"{table}.rate", section["rate"], dim=parse_quantity("1 Hz"),
                                   unit_hint="10 Hz", nonnegative=True)
        values["weight"] = _quantity(where, f"{table}.weight", section["weight"], dim=dim, unit_hint="1 nS")
    return DriveSpec(population=pop, kind=kind, variable=variable, values=values)


def input_spec(populations: dict, table: dict, where: str = "model", *, error=ModelError) -> InputSpec:
    """Validate an ``[input]`` table (see :class:`InputSpec`) against a model's populations.

    Parameters
    ----------
    populations : dict
        ``{name: PopulationSpec}`` of the model (``spec.populations``).
    table : dict
        ``targets`` (a name or a list), ``on_pre``, ``weight``, ``p`` or ``in_degree``, ``delay``
        (values as in a model file: ``"2 nS"``, ``"1 ms"``).
    where : str
        Names the file (or the flags) in errors.
    error : type
        The error raised (:class:`ModelError` for a file, :class:`SettingsError` for flags).
    """
    def fail(key, message, fix):
        raise error(f"{where}: [input.{key}] {message}. Fix: {fix}")

    if not isinstance(table, dict):
        fail("", f"must be a table, got {table!r}", "write it as [input] with keys")
    unknown = sorted(set(table) - INPUT_KEYS)
    if unknown:
        fail(unknown[0], f"unknown key '{unknown[0]}'", f"allowed keys are {', '.join(sorted(INPUT_KEYS))}")
    targets = table.get("targets", [next(iter(populations))])
    targets = [targets] if isinstance(targets, str) else list(targets)
    if not targets:
        fail("targets", "names no population", f"use one or more of {', '.join(populations)}")
    for pop in targets:
        if pop not in populations:
            fail("targets", f"targets population {pop!r}, which the model does not have",
                 f"use one or more of {', '.join(populations)}")
    on_pre = table.get("on_pre", "g_e_post += w")
    if not isinstance(on_pre, str) or "_post" not in on_pre:
        fail("on_pre", f"must be a statement on a target variable, got {on_pre!r}",
             "write e.g. 'g_e_post += w'")
    variable = on_pre.split("_post")[0].strip()
    p, k = table.get("p"), table.get("in_degree")
    if p is None and k is None:
        p = 0.2
    if p is not None and k is not None:
        fail("p", "needs exactly one of p (connection probability) and in_degree",
             "give p = 0.2 or in_degree = 13")
    if p is not None and (isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1):
        fail("p", f"connection probability must lie in (0, 1], got {p!r}", "use e.g. p = 0.2")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        fail("in_degree", f"must be a whole number ≥ 1, got {k!r}", "use e.g. in_degree = 13")
    try:
        weight = parse_quantity(table.get("weight", "2 nS"))
        delay = parse_quantity(table.get("delay", "1 ms"))
    except ValueError as err:
        fail("weight", str(err), "write a number and a unit, e.g. '2 nS' and '1 ms'")
    if float(weight) < 0:
        fail("weight", f"must not be negative, got {table.get('weight')!r}",
             "inputs are excitatory: e.g. '2 nS'")
    if getattr(delay, "dim", None) != _SECOND.dim or float(delay) < 0:
        fail("delay", f"must be a time ≥ 0, got {table.get('delay')!r}", "write e.g. '1 ms'")
    for pop in targets:
        eqs = Equations(populations[pop].equations)
        if variable not in eqs.names:
            fail("on_pre", f"'{variable}' is not a variable of population '{pop}'",
                 f"use one of {', '.join(sorted(v + '_post' for v in eqs.names))}")
        if eqs[variable].dim != getattr(weight, "dim", None):
            fail("weight", f"{table.get('weight')!r} does not have the unit of {variable} "
                 f"({unit_name(parse_quantity('1 ' + repr(eqs[variable].unit)))})",
                 f"give the weight in the unit of {variable}")
    return InputSpec(targets=tuple(targets), on_pre=on_pre, weight=weight, delay=delay,
                     p=None if p is None else float(p), in_degree=k)


@quiet_dependency_warnings()
def parse_model(raw: dict, *, source: str = "", path: str | None = None,
                overrides: dict | None = None, units_checked: str | None = None) -> ModelSpec:
    """Validate a raw model dict (as read from TOML) and return a :class:`ModelSpec`.

    ``units_checked`` is the :attr:`ModelSpec.units_key` of a model that passed Brian2's unit
    check; a model with the same key (same text, values of the same units) is not checked again.
    """
    where = path or "model"
    _check_keys(where, "top level", raw, TOP_KEYS)
    meta = raw.get("model", {})
    _check_keys(where, "model", meta, MODEL_KEYS)
    name = meta.get("name") or (Path(path).stem if path else "model")
    sizes = _populations(where, raw)
    shared = _parameters(where, "parameters", raw.get("parameters", {}))
    neurons = raw.get("neurons", {})
    _check_keys(where, "neurons", neurons, set(POPULATIONS))
    populations = {}
    for pop, n in sizes.items():
        if pop not in neurons:
            _err(where, f"neurons.{pop}", f"population '{pop}' has a size but no equations",
                 f"add a [neurons.{pop}] table")
        populations[pop] = _population(where, pop, neurons[pop], n, shared)
    for pop in neurons:
        if pop not in sizes:
            _err(where, f"neurons.{pop}", f"population '{pop}' has equations but no size",
                 f"add n_{pop} to [populations]")
    synapses = raw.get("synapses", {})
    _check_keys(where, "synapses", synapses, set(PATHWAYS))
    pathways = {n: _pathway(where, n, s, populations) for n, s in synapses.items()}
    drive = raw.get("drive", {})
    _check_keys(where, "drive", drive, set(POPULATIONS))
    drives = {pop: _drive(where, pop, s, populations) for pop, s in drive.items()}
    inputs = input_spec(populations, raw["input"], where) if "input" in raw else None
    from .check import check_units, units_key

    key = units_key(raw)
    spec = ModelSpec(
        name=name, description=meta.get("description", ""), path=path, source=source, raw=raw,
        parameters=shared, populations=populations, pathways=pathways, drives=drives,
        overrides=dict(overrides or {}), units_key=key, input=inputs,
    )
    if key != units_checked:  # the same text with values of the same units passed before
        check_units(spec)
    return spec


def _positive_time(argument: str, value, example: str):
    """``value`` as a positive time quantity, or a SettingsError worded for Python and the CLI."""
    try:
        q = parse_quantity(value)
        fail_for_dimension_mismatch(q, _SECOND)
    except Exception:
        raise SettingsError.about(argument, "{arg} {value!r} is not a time. Fix: pass e.g. {example}",
                                  example=example, value=value) from None
    if not float(q) > 0:
        raise SettingsError.about(argument, "{arg} must be positive, got {value!r}. Fix: pass e.g. {example}",
                                  example=example, value=value)
    return q


def check_run_settings(dt, duration):
    """Check dt > 0 and that duration is a positive whole multiple of dt; return both as quantities."""
    dt_q = _positive_time("dt", dt, "0.1 ms")
    dur_q = _positive_time("duration", duration, "1 s")
    steps = float(dur_q) / float(dt_q)
    if not steps < _MAX_STEPS_REPRESENTABLE:
        raise SettingsError(f"duration {duration} at dt {dt} is {steps:.3g} steps, more than Brian2 can "
                            "count. Fix: use a shorter --duration or a larger --dt")
    if steps < MIN_STEPS - 1e-9:
        raise SettingsError(
            f"duration {duration} is only {steps:.3g} step(s) of dt {dt}; a run needs at least {MIN_STEPS}. "
            f"Fix: use a duration of at least {MIN_STEPS * float(dt_q):g} s, or a smaller dt")
    if abs(steps - round(steps)) > 1e-6 * max(1.0, steps):
        raise SettingsError(
            f"duration {duration} is not a multiple of dt {dt} ({steps:.6g} steps). "
            f"Fix: use a duration of {round(steps) * float(dt_q):g} s or a dt that divides it"
        )
    return dt_q, dur_q


def check_seed(seed, flag: str = "--seed") -> int:
    """A seed must be a whole number in [0, 2**32 - 1] (what numpy and Brian2 accept)."""
    if isinstance(seed, bool) or not isinstance(seed, int) and not hasattr(seed, "__index__"):
        raise SettingsError(f"{flag} must be a whole number, got {seed!r}. Fix: e.g. {flag} 1")
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise SettingsError(f"{flag} must lie in 0…{MAX_SEED}, got {seed}. Fix: e.g. {flag} 1")
    return seed
