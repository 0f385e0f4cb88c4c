"""Parsing of quantities written as strings ("20 ms", "0.05 uS", "-65 mV") into Brian2 units.

A unit expression is checked node by node before it is evaluated: names must be units, and a
power must be a unit (or a number) raised to a small literal exponent (``ms**-1``, ``metre**2``),
so that no text can make the evaluation hang (``10**10**10``) or overflow. A number must be
finite.
"""

from __future__ import annotations

import ast
import math
import re

import brian2
import numpy as np
from brian2.units.fundamentalunits import DIMENSIONLESS, Quantity, get_unit

__all__ = ["parse_quantity", "format_quantity", "quantity_to_json", "unit_name", "UNIT_NAMESPACE",
           "MAX_EXPONENT"]

#: largest absolute exponent a power in a unit expression may have (``ms**-1``, ``metre**2``)
MAX_EXPONENT = 4

# Every unit Brian2 knows by name (ms, mV, nF, uS, Hz, ...), plus the unicode micro sign.
UNIT_NAMESPACE: dict[str, Quantity] = {
    name: value
    for name, value in vars(brian2.units).items()
    if isinstance(value, Quantity) and not name.startswith("_")
}
# Brian2 spells the base units out; accept their SI symbols too ("1 s", "0.05 S").
for _symbol, _unit in {"s": brian2.second, "S": brian2.siemens, "V": brian2.volt, "A": brian2.amp,
                       "F": brian2.farad, "Ohm": brian2.ohm}.items():
    UNIT_NAMESPACE.setdefault(_symbol, _unit)
for _name, _value in list(UNIT_NAMESPACE.items()):
    if _name.startswith("u") and len(_name) > 1:
        UNIT_NAMESPACE.setdefault("µ" + _name[1:], _value)
        UNIT_NAMESPACE.setdefault("μ" + _name[1:], _value)

_NUMBER_THEN_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*\*?\s*(.*?)\s*$")
_ALLOWED_NODES = (
    ast.Expression, ast.BinOp, ast.Mult, ast.Div, ast.Pow, ast.Name, ast.Load, ast.Constant,
    ast.UnaryOp, ast.USub,
)


def _literal(node) -> float | None:
    """The value of a number literal, possibly negated; None for anything else."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _literal(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return float(node.value)
    return None


def _eval_unit(expr: str) -> Quantity:
    if len(expr) > 200:
        raise ValueError(f"unit expression of {len(expr)} characters is too long")
    tree = ast.parse(expr, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ValueError(f"'{expr}' is not a unit expression")
        if isinstance(node, ast.Name) and node.id not in UNIT_NAMESPACE:
            raise ValueError(f"unknown unit '{node.id}'")
        if isinstance(node, ast.Constant):
            value = _literal(node)
            if value is None or not math.isfinite(value) or abs(value) > 1e30:
                raise ValueError(f"'{expr}' holds the number {node.value!r}, which is not a finite number "
                                 "of a sensible size")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = _literal(node.right)
            if exponent is None or abs(exponent) > MAX_EXPONENT:
                raise ValueError(f"'{expr}' raises to a power that is not a literal between "
                                 f"-{MAX_EXPONENT} and {MAX_EXPONENT} (write e.g. ms**-1 or metre**2)")
            if not isinstance(node.left, (ast.Name, ast.Constant)):
                raise ValueError(f"'{expr}' raises an expression to a power; only a unit may be raised "
                                 "(write e.g. ms**-1 or metre**2)")
    try:
        value = eval(compile(tree, "<unit>", "eval"), {"__builtins__": {}}, UNIT_NAMESPACE)  # noqa: S307
    except (ArithmeticError, TypeError) as err:
        raise ValueError(f"'{expr}' cannot be evaluated ({err})") from None
    if not isinstance(value, (Quantity, int, float)) or \
            not np.all(np.isfinite(np.asarray(value, dtype=float))):
        raise ValueError(f"'{expr}' is not a finite unit")
    return value


def parse_quantity(value) -> Quantity:
    """Turn ``"20 ms"``, ``"0.05*uS"``, ``"3.5"`` or a number into a Brian2 quantity.

    Raises
    ------
    ValueError
        With a short reason, when the text is not a number followed by a known unit.
    """
    if isinstance(value, Quantity):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a number with a unit, got the boolean {value}")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        return Quantity(number)
    if not isinstance(value, str):
        raise ValueError(f"expected a string such as '20 ms', got {type(value).__name__}")
    match = _NUMBER_THEN_UNIT.match(value)
    if not match:
        raise ValueError(f"'{value}' is not a number followed by a unit (e.g. '20 ms')")
    number, unit_text = match.groups()
    if not math.isfinite(float(number)):
        raise ValueError(f"'{value}': the number {number} is too large to represent")
    if not unit_text:
        return Quantity(float(number))
    try:
        unit = _eval_unit(unit_text)
    except (SyntaxError, ValueError) as err:
        reason = err.args[0] if isinstance(err, ValueError) else f"'{unit_text}' is not a unit"
        raise ValueError(f"'{value}': {reason}") from None
    q = float(number) * unit
    if not np.all(np.isfinite(np.asarray(q, dtype=float))):
        raise ValueError(f"'{value}' is too large to represent")
    return q


def unit_name(dim) -> str:
    """A readable name of a Brian2 dimension (``volt``, ``farad``, ``siemens``; ``1`` for none).

    Parameters
    ----------
    dim : brian2 Dimension or Quantity
        What to name; a quantity is named by its dimension.
    """
    dim = getattr(dim, "dim", dim)
    if dim is DIMENSIONLESS:
        return "1 (no unit)"
    return repr(get_unit(dim))


def format_quantity(q) -> str:
    """Format a quantity in its natural unit, e.g. ``"20. ms"``; inverse of :func:`parse_quantity`."""
    q = Quantity(q)
    if q.dim is DIMENSIONLESS:
        return repr(float(q))
    return q.in_best_unit(python_code=False).replace(" * ", " ")


def quantity_to_json(q) -> dict:
    """A quantity as JSON: ``{"text": "20. ms", "si_value": 0.02, "si_unit": "s"}``."""
    q = Quantity(q)
    si_unit = "1" if q.dim is DIMENSIONLESS else str(get_unit(q.dim))
    return {"text": format_quantity(q), "si_value": float(q), "si_unit": si_unit}
