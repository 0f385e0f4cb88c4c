"""A differentiable torch step derived from a model's Brian2 equations.

The update statements are not written a second time: Brian2's own state updater
(``StateUpdateMethod.apply_stateupdater``) turns the equations and the integration method into
statements such as ``_I = I*exp(-dt/tau_syn)``; this module checks each statement (Python
``ast``), compiles it once, and evaluates it on torch tensors of shape ``[batch, neurons]``.

One step does what Brian2's default schedule does within a time step, in the same order:

1. ``groups``: ``not_refractory = timestep(t - lastspike, dt) >= timestep(refractory, dt)``,
   then the state update; variables marked ``(unless refractory)`` are written only where
   ``not_refractory`` (Brian2's conditional write);
2. ``thresholds``: ``spike = (threshold condition) and not_refractory``, with a surrogate
   gradient; ``lastspike = t`` where a neuron spiked;
3. ``synapses``: every pathway whose ``on_pre`` is ``var_post += w`` (or ``-= w``) adds
   ``spikes @ W`` to ``var`` of the target, for spikes emitted ``delay/dt`` (rounded half up) steps ago;
   external input spikes (Brian2: a ``SpikeGeneratorGroup``) arrive here too;
4. ``resets``: the reset statements, applied where the neuron spiked.

How it runs: :func:`run_network` writes the statements of the whole sequence out once as one
generated Python function per network and dt (:func:`fused_program`): local tensors instead of
namespace dictionaries, constants for dt computed once, and for every population that nothing
later feeds back into, what reaches it from the inputs or an earlier population computed as one
matrix product over all steps. Where a population's update is affine in its state (``exact``
current-based LIF, the leaky readout, the discrete-time baseline), its backward pass is derived
too (:func:`linear_programs`): sympy differentiates the same folded statements, and a generated
loop runs the chain rule through time without building an autograd graph per step. Forward
values are the same numbers as :func:`network_step` gives statement by statement (the reference,
``run_network(..., fused=False)``); weight gradients differ only in the order their sum over
steps is taken.

Quantities are in SI units without their unit (stripped by :mod:`pinglab_bio.train.bridge` rules:
volt, siemens, ampere, second). ``dt`` is an explicit argument of every step. Supported: any
equations whose update statements use arithmetic and ``exp``, ``log``, ``sqrt``, ``abs``,
``int``, ``clip``, ``sin``, ``cos``, ``tanh`` (current-based LIF with exponential synapses and
conductance-based LIF with ``exact``/``exponential_euler``/``euler``/``rk2``/``rk4``);
stochastic terms (``xi``, ``rand()``, ``randn()``) and other on_pre forms raise
:class:`DerivationError` naming the statement.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import PinglabError
from ..model.network import NetworkModel, PathwayModel, PopulationModel
from .surrogates import get_surrogate, scale_grad

__all__ = ["DerivationError", "DerivedPopulation",
           "DerivedPathway", "DerivedNetwork", "derive_population", "derive_network", "network_step",
           "init_network_state", "run_network", "damp_gradient", "brian2_timestep", "fused_program",
           "linear_programs"]


class DerivationError(PinglabError):
    """A model statement cannot be turned into a torch step."""


# ------------------------------------------------------------------------------------------
# statement checking and compilation

_FUNCTIONS = {"exp", "log", "sqrt", "abs", "int", "clip", "sin", "cos", "tanh", "timestep"}
_STOCHASTIC = {"xi", "rand", "randn", "poisson"}
_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Load, ast.Constant,
            ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd, ast.Mod, ast.FloorDiv)


def _check_expression(expr: str, statement: str, where: str):
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        raise DerivationError(f"{where}: cannot parse statement '{statement}'. Fix: write plain "
                              "arithmetic on the model's variables") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and (node.id in _STOCHASTIC or node.id.startswith("xi_")):
            raise DerivationError(f"{where}: unsupported statement '{statement}': stochastic terms "
                                  f"('{node.id}') have no differentiable torch step. Fix: remove the "
                                  "noise term or feed noise as an input")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
                name = getattr(node.func, "id", ast.unparse(node.func))
                raise DerivationError(f"{where}: unsupported statement '{statement}': function "
                                      f"'{name}' is not supported. Fix: use only "
                                      f"{', '.join(sorted(_FUNCTIONS - {'timestep'}))}")
        elif not isinstance(node, _ALLOWED):
            raise DerivationError(f"{where}: unsupported statement '{statement}' "
                                  f"({type(node).__name__}). Fix: use plain arithmetic")
    return compile(tree, f"<{where}>", "eval")


def _is_tensor(x):
    return isinstance(x, torch.Tensor)


def _fn(torch_fn, math_fn):
    return lambda x: torch_fn(x) if _is_tensor(x) else math_fn(x)


def _int(x):
    if _is_tensor(x):
        return x.to(torch.get_default_dtype() if x.dtype == torch.bool else x.dtype).trunc()
    return int(x)


def _clip(x, low, high):
    if _is_tensor(x):
        return torch.clamp(x, min=low, max=high)
    return min(max(x, low), high)


def brian2_timestep(t, dt):
    """Brian2's ``timestep(t, dt)``: ``int64((t + 1e-3*dt)/dt)`` (truncation toward zero)."""
    if _is_tensor(t):
        return ((t + 1e-3 * dt) / dt).to(torch.int64)
    return int(np.int64((t + 1e-3 * dt) / dt))


_GLOBALS = {
    "__builtins__": {},
    "exp": _fn(torch.exp, math.exp), "log": _fn(torch.log, math.log), "sqrt": _fn(torch.sqrt, math.sqrt),
    "abs": _fn(torch.abs, abs), "sin": _fn(torch.sin, math.sin), "cos": _fn(torch.cos, math.cos),
    "tanh": _fn(torch.tanh, math.tanh), "int": _int, "clip": _clip, "timestep": brian2_timestep,
    "inf": math.inf, "pi": math.pi, "e": math.e, "True": True, "False": False,
}


def _split_statement(line: str, where: str):
    match = re.match(r"^\s*([A-Za-z_]\w*)\s*(\+=|-=|\*=|/=|=)\s*(.+?)\s*$", line)
    if not match:
        raise DerivationError(f"{where}: unsupported statement '{line.strip()}'. Fix: write "
                              "'var = expression' or 'var += expression'")
    return match.groups()


class _Folder(ast.NodeTransformer):
    """Lift every sub-expression made only of constants and ``dt`` into a named number.

    Products and quotients are regrouped so that all their constant factors form one number:
    ``I*tau_syn*(...)*exp(-dt/tau_mem)/(tau_mem - tau_syn)`` becomes ``I*_k0``. The numbers are
    computed once per dt (in float64), which leaves one tensor operation where the statement had
    several.
    """

    def __init__(self, constant_names, lifted: list):
        self.constant_names = set(constant_names) | {"dt", "inf", "pi", "e"}
        self.lifted = lifted

    def _const(self, node) -> bool:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id not in self.constant_names and sub.id not in _FUNCTIONS:
                return False
            if isinstance(sub, ast.Call) and getattr(sub.func, "id", "") == "timestep":
                return False
        return True

    def _lift(self, node):
        if isinstance(node, ast.Constant):
            return node
        name = f"_k{len(self.lifted)}"
        expr = ast.fix_missing_locations(ast.Expression(body=node))
        self.lifted.append((name, compile(expr, "<constant>", "eval")))
        return ast.Name(id=name, ctx=ast.Load())

    def _factors(self, node, inverted=False):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            return self._factors(node.left, inverted) + self._factors(node.right, inverted)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return self._factors(node.left, inverted) + self._factors(node.right, not inverted)
        return [(node, inverted)]

    def visit(self, node):
        if (isinstance(node, ast.expr) and not isinstance(node, (ast.Name, ast.Constant))
                and self._const(node)):
            return self._lift(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
            factors = self._factors(node)
            const = [(f, inv) for f, inv in factors if self._const(f)]
            var = [(self.visit(f), inv) for f, inv in factors if not self._const(f)]
            if len(const) >= 1 and len(factors) > 2 or len(const) >= 2:
                num = [f for f, inv in const if not inv]
                den = [f for f, inv in const if inv]
                k = num[0] if num else ast.Constant(1.0)
                for f in num[1:]:
                    k = ast.BinOp(k, ast.Mult(), f)
                for f in den:
                    k = ast.BinOp(k, ast.Div(), f)
                k = self._lift(k)
                var_num = [f for f, inv in var if not inv]
                var_den = [f for f, inv in var if inv]
                expr = var_num[0] if var_num else k
                for f in var_num[1:]:
                    expr = ast.BinOp(expr, ast.Mult(), f)
                if var_num:
                    expr = ast.BinOp(expr, ast.Mult(), k)
                for f in var_den:
                    expr = ast.BinOp(expr, ast.Div(), f)
                return expr
        return self.generic_visit(node)


def _fold(code_text: str, constant_names, lifted: list, texts: list | None = None):
    tree = ast.parse(code_text.strip(), mode="eval")
    tree = ast.fix_missing_locations(_Folder(constant_names, lifted).visit(tree))
    code = compile(tree, "<folded>", "eval")
    if texts is not None:
        texts.append(ast.unparse(tree))
    return code


# ------------------------------------------------------------------------------------------
# derived populations and pathways


@dataclass
class DerivedPopulation:
    """Compiled update, threshold and reset of one population (SI floats, no units)."""

    name: str
    n: int
    update: list              # [(target, code)] in Brian2's order
    state_variables: tuple    # every per-neuron variable (differential and parameter)
    differential: tuple       # variables the update writes
    conditional: frozenset    # variables written only where not_refractory
    threshold: object         # (code_lhs_minus_rhs, inclusive) or None
    reset: list               # [(target, op, code)]
    refractory_s: float
    constants: dict           # namespace in SI floats
    membrane: str             # the variable the threshold tests (for surrogate slope units)
    subexpressions: list = field(default_factory=list)  # [(name, code)]
    statements: list = field(default_factory=list)      # update statements as text
    lifted: list = field(default_factory=list)          # [(name, code)] constant parts, per dt
    texts: dict = field(default_factory=dict)           # folded text of each part, for the fused step
    _per_dt: dict = field(default_factory=dict)

    def constants_at(self, dt: float) -> dict:
        """The namespace constants plus the lifted numbers for this dt (computed once per dt)."""
        if dt not in self._per_dt:
            ns = dict(self.constants)
            ns.update({"dt": dt, "not_refractory": True})
            for name, code in self.lifted:
                ns[name] = eval(code, _GLOBALS, ns)  # noqa: S307 - checked statements only
            self._per_dt[dt] = ns
        return self._per_dt[dt]

    def _namespace(self, state, t, dt):
        ns = dict(self.constants_at(dt))
        ns.update(state)
        ns["t"] = t
        for name, code in self.subexpressions:
            ns[name] = eval(code, _GLOBALS, ns)  # noqa: S307 - checked by _check_expression
        return ns


@dataclass(frozen=True)
class DerivedPathway:
    """``target.variable += sign * (spikes(source) @ W)`` after ``delay_steps`` steps."""

    name: str
    source: str
    target: str
    variable: str
    sign: float
    delay_s: float


def _strip(value):
    try:
        return float(value)
    except TypeError:
        return np.asarray(value, dtype=float)


def derive_population(pop: PopulationModel) -> DerivedPopulation:
    """Derive the torch update of one population from its Brian2 equations and method."""
    import brian2
    from brian2 import Equations, NeuronGroup
    from brian2.stateupdaters.base import StateUpdateMethod

    where = f"population '{pop.name}'"
    eqs = pop.equations if isinstance(pop.equations, Equations) else Equations(pop.equations)
    group = NeuronGroup(1, eqs, threshold=pop.threshold or None, reset=pop.reset or None,
                        refractory=pop.refractory if pop.threshold else False, method=pop.method,
                        namespace=dict(pop.namespace), dt=0.1 * brian2.ms)
    group._network = "derivation"  # used only for its variables, never run: no 'unused' warning
    try:
        code = StateUpdateMethod.apply_stateupdater(group.equations, group.variables, pop.method,
                                                    group_name=group.name)
    except Exception as err:
        raise DerivationError(f"{where}: Brian2 cannot integrate the equations with method "
                              f"'{pop.method}' ({str(err).splitlines()[0]}). Fix: choose another method"
                              ) from None
    lines = [ln for ln in code.splitlines() if ln.strip()]
    scalar_constants = [k for k, v in pop.namespace.items() if np.ndim(_strip(v)) == 0]
    # int(not_refractory) is 1 wherever an update is written (see _population_update): a constant
    folded_names = scalar_constants + ["not_refractory"]
    update, lifted, update_texts = [], [], []
    for line in lines:
        target, op, expr = _split_statement(line, where)
        if op != "=":
            raise DerivationError(f"{where}: unsupported statement '{line}'. Fix: report the method")
        _check_expression(expr, line, where)
        update.append((target, _fold(expr, folded_names, lifted, update_texts)))
    differential = tuple(name for name in eqs.diff_eq_names)
    conditional = frozenset(name for name in differential
                            if "unless refractory" in eqs[name].flags)
    state_variables = tuple(name for name in eqs.names if eqs[name].type != "subexpression")
    subexpressions = [(name, _check_expression(str(eqs[name].expr), f"{name} = {eqs[name].expr}", where))
                      for name in eqs.subexpr_names]
    constants = {k: _strip(v) for k, v in pop.namespace.items()}
    threshold, membrane = None, differential[0] if differential else ""
    if pop.threshold:
        try:
            tree = ast.parse(pop.threshold.strip(), mode="eval").body
        except SyntaxError:
            tree = None
        if not (isinstance(tree, ast.Compare) and len(tree.ops) == 1
                and isinstance(tree.ops[0], (ast.Gt, ast.GtE, ast.Lt, ast.LtE))):
            raise DerivationError(f"{where}: unsupported threshold '{pop.threshold}'. Fix: write a "
                                  "single comparison such as 'v > V_th'")
        lhs, rhs = ast.unparse(tree.left), ast.unparse(tree.comparators[0])
        if isinstance(tree.ops[0], (ast.Lt, ast.LtE)):
            lhs, rhs = rhs, lhs
        _check_expression(f"({lhs}) - ({rhs})", pop.threshold, where)
        threshold_text = []
        diff = _fold(f"({lhs}) - ({rhs})", scalar_constants, lifted, threshold_text)
        threshold = (diff, isinstance(tree.ops[0], (ast.GtE, ast.LtE)))
        names = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in differential]
        membrane = names[0] if names else membrane
    reset, reset_texts = [], []
    for line in (pop.reset or "").replace(";", "\n").splitlines():
        if not line.strip():
            continue
        target, op, expr = _split_statement(line, f"{where} reset")
        if target not in state_variables:
            raise DerivationError(f"{where}: unsupported reset statement '{line.strip()}': "
                                  f"'{target}' is not a variable. Fix: reset a model variable")
        _check_expression(expr, line.strip(), f"{where} reset")
        reset.append((target, op, _fold(expr, scalar_constants, lifted, reset_texts)))
    texts = {"update": [(target, text) for (target, _), text in zip(update, update_texts, strict=True)],
             "threshold": threshold_text[0] if pop.threshold else None,
             "reset": [(target, op, text) for (target, op, _), text in zip(reset, reset_texts, strict=True)],
             "subexpressions": [(name, ast.unparse(ast.parse(str(eqs[name].expr).strip(), mode="eval")))
                                for name in eqs.subexpr_names]}
    return DerivedPopulation(
        name=pop.name, n=pop.n, update=update, state_variables=state_variables,
        differential=differential, conditional=conditional, threshold=threshold, reset=reset,
        refractory_s=float(pop.refractory) if pop.threshold else 0.0, constants=constants,
        membrane=membrane, subexpressions=subexpressions, statements=lines, lifted=lifted, texts=texts,
    )


_ON_PRE = re.compile(r"^\s*([A-Za-z_]\w*)_post\s*([+-])=\s*w\s*$")


def derive_pathway(path: PathwayModel) -> DerivedPathway:
    """``var_post += w`` → a matrix product; any other on_pre raises :class:`DerivationError`."""
    statements = [s for s in path.on_pre.replace(";", "\n").splitlines() if s.strip()]
    match = _ON_PRE.match(statements[0]) if len(statements) == 1 else None
    if match is None:
        bad = next((s.strip() for s in statements if not _ON_PRE.match(s)), path.on_pre.strip())
        raise DerivationError(f"pathway '{path.name}': unsupported on_pre statement '{bad}'. Fix: "
                              "use a single 'var_post += w' (or -= w)")
    return DerivedPathway(name=path.name, source=path.source, target=path.target,
                          variable=match.group(1), sign=1.0 if match.group(2) == "+" else -1.0,
                          delay_s=float(path.delay))


@dataclass
class DerivedNetwork:
    """Derived populations and pathways of a :class:`NetworkModel`."""

    model: NetworkModel
    populations: dict
    pathways: dict

    def delay_steps(self, dt: float) -> dict:
        """Brian2's delay in steps: ``delay/dt`` rounded half up, as its C++ spike queue does.

        (``np.round`` rounds half to even: a 1 ms delay at dt 2 ms would be 0 steps here and 1 in
        Brian2.)
        """
        return {name: int(p.delay_s / dt + 0.5) for name, p in self.pathways.items()}


def derive_network(model: NetworkModel) -> DerivedNetwork:
    """Derive every population and pathway; check that pathways name known variables."""
    pops = {name: derive_population(p) for name, p in model.populations.items()}
    paths = {}
    for name, p in model.pathways.items():
        d = derive_pathway(p)
        if d.target not in pops or (d.source != "input" and d.source not in pops):
            raise DerivationError(f"pathway '{name}' connects {d.source} → {d.target}, not populations "
                                  f"of the network ({', '.join(pops)}). Fix: name existing populations")
        if d.variable not in pops[d.target].state_variables:
            raise DerivationError(f"pathway '{name}': on_pre '{p.on_pre}' adds to '{d.variable}', "
                                  f"which population '{d.target}' does not have. Fix: use one of "
                                  f"{', '.join(pops[d.target].state_variables)}")
        paths[name] = d
    return DerivedNetwork(model=model, populations=pops, pathways=paths)


# ------------------------------------------------------------------------------------------
# the pure step


def damp_gradient(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Identity forward; the backward signal through ``x`` is multiplied by ``factor``.

    Applied to the membrane before each update, it scales the gradient carried from one step to
    the previous one through the membrane by ``factor`` (0 < factor ≤ 1), so a chain of ``k``
    steps contributes at most ``factor**k`` times its undamped value.
    """
    return scale_grad(x, factor)


def init_network_state(net: DerivedNetwork, batch: int, *, values: dict | None = None,
                       dtype=torch.float64, device=None, dt: float | None = None) -> dict:
    """Initial state: zeros, overlaid by ``values[pop][var]`` (scalar, ``[n]`` or ``[batch, n]``).

    ``lastspike`` starts at -1e4 s (as in Brian2); delay queues are empty.
    """
    values = values or {}
    state = {}
    for name, pop in net.populations.items():
        s = {}
        for var in pop.state_variables:
            given = values.get(name, {}).get(var, 0.0)
            s[var] = torch.as_tensor(np.asarray(given, dtype=float), dtype=dtype, device=device
                                     ).expand(batch, pop.n).clone()
        s["lastspike"] = torch.full((batch, pop.n), -1e4, dtype=torch.float64, device=device)
        state[name] = s
    state["_queue"] = {}
    return state


def _damping_of(damping, name: str):
    """The damping factor of population ``name``: one number for all, or ``{pop: factor}``."""
    if isinstance(damping, dict):
        return damping.get(name)
    return damping


def _damping_key(damping):
    """A hashable form of ``damping`` for the program caches."""
    if isinstance(damping, dict):
        return tuple(sorted((k, float(v)) for k, v in damping.items() if v is not None))
    return damping


def _population_update(pop: DerivedPopulation, s: dict, t: float, dt: float, damping):
    factor = _damping_of(damping, pop.name)
    if factor is not None and pop.membrane:
        s = {**s, pop.membrane: damp_gradient(s[pop.membrane], factor)}
    if pop.threshold is not None and pop.refractory_s > 0:
        not_ref = brian2_timestep(t - s["lastspike"], dt) >= brian2_timestep(pop.refractory_s, dt)
    else:
        not_ref = None
    # int(not_refractory) is 1 wherever a written value is kept (conditional write below), so it
    # is evaluated as 1 (see constants_at); refractory neurons keep their old value, as in Brian2.
    ns = pop._namespace(s, t, dt)
    for target, code in pop.update:
        ns[target] = eval(code, _GLOBALS, ns)  # noqa: S307 - checked statements only
    new = dict(s)
    for var in pop.differential:
        value = ns[var]
        if not _is_tensor(value):
            value = torch.full_like(s[var], float(value))
        if var in pop.conditional and not_ref is not None:
            value = torch.where(not_ref, value, s[var])
        new[var] = value
    return new, not_ref


def network_step(net: DerivedNetwork, inputs, state: dict, weights: dict, t: float, dt: float, *,
                 surrogate: str = "fast_sigmoid", slope: float = 100.0, detach_reset: bool = False,
                 damping: float | dict | None = None):
    """One time step of the whole network (pure function).

    Parameters
    ----------
    net : DerivedNetwork
    inputs : Tensor [batch, n_inputs] or None
        External spikes (counts) of this step.
    state : dict
        ``{pop: {var: Tensor [batch, n]}, "_queue": {...}}`` from :func:`init_network_state`.
    weights : dict
        ``{pathway: Tensor [n_source, n_target]}`` in SI units of the target variable.
    t, dt : float
        Time of this step (``step * dt``) and the step, in seconds.
    surrogate, slope : str, float
        Surrogate gradient and its slope (inverse units of the membrane variable).
    detach_reset : bool
        Do not differentiate through the reset.
    damping : float or dict, optional
        Multiply the gradient through each membrane update by this factor (see
        :func:`damp_gradient`): one number for every population with a membrane, or a dict
        whose keys name populations (their membrane is damped, the others' not) and pathways
        (the gradient back through the spikes that pathway carries is multiplied by the factor,
        once per crossing: a recurrent loop loses that share once per cycle, whatever dt is).

    Returns
    -------
    (spikes, state) : ``{pop: Tensor [batch, n]}`` and the new state.
    """
    fn = get_surrogate(surrogate)
    new_state, spikes, not_refs = {}, {}, {}
    for name, pop in net.populations.items():
        new_state[name], not_refs[name] = _population_update(pop, state[name], t, dt, damping)
    for name, pop in net.populations.items():
        s = new_state[name]
        if pop.threshold is None:
            continue
        ns = pop._namespace({k: v for k, v in s.items() if k != "lastspike"}, t, dt)
        x = eval(pop.threshold[0], _GLOBALS, ns)  # noqa: S307
        sp = fn.apply(x, slope, pop.threshold[1])
        if not_refs[name] is not None:
            sp = sp * not_refs[name].to(sp.dtype)
        spikes[name] = sp
        if pop.refractory_s > 0:  # with no refractory period lastspike never matters
            s["lastspike"] = torch.where(sp.detach() > 0, torch.full_like(s["lastspike"], t), s["lastspike"])
    queue = dict(state.get("_queue", {}))
    delays = _delay_cache(net, dt)
    additions: dict = {}
    for name, path in net.pathways.items():
        if path.source == "input":
            pre = inputs
        else:
            d = delays[name]
            if d == 0:
                pre = spikes[path.source]
            else:
                past = queue.get(path.source, [])
                pre = past[-d] if len(past) >= d else None
            factor = _damping_of(damping, name)
            if pre is not None and factor is not None:
                pre = damp_gradient(pre, factor)
        if pre is None:
            continue
        w = weights[name]
        delivered = pre.to(w.dtype) @ w
        key = (path.target, path.variable)
        contribution = delivered if path.sign > 0 else -delivered
        additions[key] = contribution if key not in additions else additions[key] + contribution
    for (target, var), add in additions.items():
        new_state[target][var] = new_state[target][var] + add
    for name, pop in net.populations.items():
        if pop.threshold is None or not pop.reset:
            continue
        s, sp = new_state[name], spikes[name]
        gate = sp.detach() if detach_reset else sp
        for target, op, code in pop.reset:
            ns = pop._namespace({k: v for k, v in s.items() if k != "lastspike"}, t, dt)
            value = eval(code, _GLOBALS, ns)  # noqa: S307
            old = s[target]
            if op == "=":
                s[target] = gate * value + (1.0 - gate) * old
            elif op == "+=":
                s[target] = old + gate * value
            elif op == "-=":
                s[target] = old - gate * value
            elif op == "*=":
                s[target] = old * (1.0 + gate * (value - 1.0))
            else:
                s[target] = old / (1.0 + gate * (value - 1.0))
    max_delay = max([d for d in delays.values()] + [0])
    if max_delay:
        for name in spikes:
            past = list(queue.get(name, []))
            past.append(spikes[name])
            queue[name] = past[-max_delay:]
    new_state["_queue"] = queue
    return spikes, new_state


def _delay_cache(net: DerivedNetwork, dt: float) -> dict:
    cache = net.__dict__.setdefault("_delays", {})  # on the network: no module-level state
    if dt not in cache:
        cache[dt] = net.delay_steps(dt)
    return cache[dt]


def run_network(net: DerivedNetwork, inputs, weights: dict, dt: float, *, state: dict | None = None,
                record: dict | None = None, fused: bool = True, **step_kwargs):
    """Run ``inputs`` (Tensor ``[batch, steps, n_inputs]``) through the network.

    Returns ``(spikes, traces, state)``: ``spikes[pop]`` is ``[batch, steps, n]``;
    ``traces[pop][var]`` the recorded variables (after each full step, as a Brian2
    StateMonitor with ``when="end"``).

    With ``fused`` (the default) the whole sequence runs as one generated function
    (:func:`fused_program`); without it, :func:`network_step` evaluates the statements one by one
    for every step. Both compute the same spikes and states; the fused form sums a weight's
    gradient over all steps in one matrix product. A state that carries spikes still in flight
    on delayed pathways always takes the statement-by-statement path.
    """
    batch, steps = inputs.shape[0], inputs.shape[1]
    if state is None:
        any_w = next(iter(weights.values()))
        state = init_network_state(net, batch, dtype=any_w.dtype, device=any_w.device)
    record = record or {}
    if fused and not any(state.get("_queue", {}).values()):
        if torch.is_grad_enabled():
            dtype = next(iter(weights.values())).dtype if weights else inputs.dtype
            programs = linear_programs(net, dt, record=record, dtype=dtype, **step_kwargs)
            if programs:
                return _run_linear(net, programs, inputs, weights, state, steps,
                                   damping=step_kwargs.get("damping"))
        program, _ = fused_program(net, dt, record=record, **step_kwargs)
        return program(inputs, weights, state, steps)
    spikes = {name: [] for name, p in net.populations.items() if p.threshold is not None}
    traces = {pop: {var: [] for var in vars_} for pop, vars_ in record.items()}
    for n in range(steps):
        sp, state = network_step(net, inputs[:, n], state, weights, n * dt, dt, **step_kwargs)
        for name, value in sp.items():
            spikes[name].append(value)
        for pop, vars_ in record.items():
            for var in vars_:
                traces[pop][var].append(state[pop][var])
    spikes = {k: torch.stack(v, dim=1) for k, v in spikes.items()}
    traces = {pop: {var: torch.stack(v, dim=1) for var, v in d.items()} for pop, d in traces.items()}
    return spikes, traces, state


# ------------------------------------------------------------------------------------------
# the fused sequence: the same statements, generated into one Python function per network


class _Renamer(ast.NodeTransformer):
    def __init__(self, names: dict):
        self.names = names

    def visit_Name(self, node):
        if node.id in self.names:
            return ast.copy_location(ast.Name(id=self.names[node.id], ctx=node.ctx), node)
        return node


def _rename(text: str, names: dict) -> str:
    tree = _Renamer(names).visit(ast.parse(text, mode="eval"))
    return ast.unparse(tree)


def _names_in(text: str) -> set:
    return {n.id for n in ast.walk(ast.parse(text, mode="eval")) if isinstance(n, ast.Name)}


def _stages(net: DerivedNetwork) -> list:
    """Populations grouped into strongly connected parts, sources before targets.

    A part that no later part feeds back into can run over the whole sequence before the parts
    it drives: what reaches them from it is known for every step at once.
    """
    pops = list(net.populations)
    edges = {p: set() for p in pops}
    for path in net.pathways.values():
        if path.source != "input":
            edges[path.source].add(path.target)
    reach = {}
    for p in pops:
        seen, todo = set(), [p]
        while todo:
            for q in edges[todo.pop()]:
                if q not in seen:
                    seen.add(q)
                    todo.append(q)
        reach[p] = seen
    parts, placed = [], set()
    for p in pops:
        if p not in placed:
            part = [q for q in pops if q == p or (q in reach[p] and p in reach[q])]
            placed.update(part)
            parts.append(part)
    ordered = []
    while parts:  # a part goes after every part that sends it spikes
        free = next(part for part in parts
                    if not any(tgt in part for other in parts if other is not part
                               for src in other for tgt in edges[src]))
        ordered.append(free)
        parts.remove(free)
    return ordered


class _Writer:
    def __init__(self):
        self.lines = []

    def __call__(self, indent: int, line: str):
        self.lines.append("    " * indent + line)


def _fused_source(net: DerivedNetwork, dt: float, *, surrogate: str, slope: float, detach_reset: bool,
                  damping, record: dict):
    """Python source of the whole sequence, and the globals it runs with."""
    fn = get_surrogate(surrogate)
    glb = dict(_GLOBALS)
    glb.update({"_torch": torch, "_surrogate": fn, "_damp": damp_gradient, "_full_like": torch.full_like,
                "_where": torch.where, "_Tensor": torch.Tensor, "_int64": torch.int64,
                "__builtins__": {"range": range, "isinstance": isinstance, "float": float}})
    pops = list(net.populations)
    index = {name: i for i, name in enumerate(pops)}
    delays = net.delay_steps(dt)
    max_delay = max(list(delays.values()) + [0])
    out = _Writer()
    out(0, "def _run(inputs, weights, state, steps):")
    for name, i in index.items():
        pop = net.populations[name]
        for var in pop.state_variables:
            out(1, f"p{i}_{var} = state[{name!r}][{var!r}]")
        out(1, f"p{i}_lastspike = state[{name!r}]['lastspike']")
        for cname, value in pop.constants_at(dt).items():
            glb[f"c{i}_{cname}"] = value
    for k, name in enumerate(net.pathways):
        out(1, f"w{k} = weights[{name!r}]")
    path_index = {name: k for k, name in enumerate(net.pathways)}
    spiking = [name for name in pops if net.populations[name].threshold is not None]
    stage_of = {}
    for s, part in enumerate(_stages(net)):
        for name in part:
            stage_of[name] = s

    def env(i, pop, with_lastspike):
        names = {cname: f"c{i}_{cname}" for cname in pop.constants_at(dt)}
        names.update({var: f"p{i}_{var}" for var in pop.state_variables})
        if with_lastspike:
            names["lastspike"] = f"p{i}_lastspike"
        names.update({sub: f"x{i}_{sub}" for sub, _ in pop.texts["subexpressions"]})
        names["t"] = "t"
        return names

    def subexpressions(level, i, pop, names, text):
        """Brian2 recomputes subexpressions from the current state before each use."""
        subs = pop.texts["subexpressions"]
        if subs and _names_in(text) & {sub for sub, _ in subs}:
            for sub, sub_text in subs:
                out(level, f"x{i}_{sub} = {_rename(sub_text, names)}")

    for s, part in enumerate(_stages(net)):
        members = [name for name in pops if name in part]
        out(1, f"# part {s}: {', '.join(members)}")
        # what reaches this part from inputs and earlier parts, for every step at once
        incoming = {}
        for pname, path in net.pathways.items():
            if path.target not in part:
                continue
            k = path_index[pname]
            if path.source == "input":
                out(1, f"e{k} = (inputs.transpose(0, 1).to(w{k}.dtype) @ w{k}).unbind(0)")
                incoming[pname] = ("pre", f"e{k}[n]", 0)
            elif path.source not in part:
                src = index[path.source]
                factor = _damping_of(damping, pname)
                seq = f"_damp(s{src}_seq, {float(factor)!r})" if factor is not None else f"s{src}_seq"
                out(1, f"e{k} = ({seq}.to(w{k}.dtype) @ w{k}).unbind(0)")
                incoming[pname] = ("pre", f"e{k}[n - {delays[pname]}]" if delays[pname] else f"e{k}[n]",
                                   delays[pname])
            else:
                src = index[path.source]
                pre = f"s{src}[n - {delays[pname]}]" if delays[pname] else f"sp{src}"
                factor = _damping_of(damping, pname)
                if factor is not None:
                    pre = f"_damp({pre}, {float(factor)!r})"
                incoming[pname] = ("loop", f"({pre}.to(w{k}.dtype) @ w{k})", delays[pname])
        for name in members:
            i = index[name]
            if name in spiking:
                out(1, f"s{i} = []")
            for var in record.get(name, ()):
                out(1, f"r{i}_{var} = []")
        out(1, "for n in range(steps):")
        out(2, f"t = n * {dt!r}")
        # 1. state update (Brian2's groups slot)
        for name in members:
            i, pop = index[name], net.populations[name]
            factor = _damping_of(damping, name)
            if factor is not None and pop.membrane:
                out(2, f"p{i}_{pop.membrane} = _damp(p{i}_{pop.membrane}, {float(factor)!r})")
            refractory = pop.threshold is not None and pop.refractory_s > 0
            if refractory:
                out(2, f"nr{i} = ((t - p{i}_lastspike + {1e-3 * dt!r}) / {dt!r}).to(_int64) >= "
                       f"{brian2_timestep(pop.refractory_s, dt)!r}")
            names = env(i, pop, True)
            texts = [text for _, text in pop.texts["update"]]
            subexpressions(2, i, pop, names, " + ".join(texts) if texts else "0")
            ns = dict(names)
            # names that hold tensors: the state, and whatever is computed from it
            tensors = {f"p{i}_{var}" for var in pop.state_variables} | {f"p{i}_lastspike"}
            tensors |= {f"x{i}_{sub}" for sub, _ in pop.texts["subexpressions"]}
            for k, (target, text) in enumerate(pop.texts["update"]):
                local, expr = f"u{i}_{k}", _rename(text, ns)
                out(2, f"{local} = {expr}")
                if _names_in(expr) & tensors:
                    tensors.add(local)
                ns[target] = local
            for var in pop.differential:
                value = ns[var]
                if value == f"p{i}_{var}":
                    continue
                if value not in tensors:
                    value = (f"({value} if isinstance({value}, _Tensor) "
                             f"else _full_like(p{i}_{var}, float({value})))")
                if var in pop.conditional and refractory:
                    value = f"_where(nr{i}, {value}, p{i}_{var})"
                out(2, f"p{i}_{var} = {value}")
        # 2. thresholds
        for name in members:
            i, pop = index[name], net.populations[name]
            if pop.threshold is None:
                continue
            names = env(i, pop, False)
            subexpressions(2, i, pop, names, pop.texts["threshold"])
            out(2, f"sp{i} = _surrogate.apply({_rename(pop.texts['threshold'], names)}, {float(slope)!r}, "
                   f"{bool(pop.threshold[1])!r})")
            if pop.refractory_s > 0:
                out(2, f"sp{i} = sp{i} * nr{i}.to(sp{i}.dtype)")
                out(2, f"p{i}_lastspike = p{i}_lastspike.masked_fill(sp{i}.detach() > 0, t)")
            out(2, f"s{i}.append(sp{i})")
        # 3. synapses, summed per target variable in pathway order, as network_step does
        sums: dict = {}
        for pname, path in net.pathways.items():
            if pname in incoming:
                sums.setdefault((path.target, path.variable), []).append((pname, path, incoming[pname]))
        for (target, var), terms in sums.items():
            i = index[target]
            signed = [(expr if path.sign > 0 else f"(-{expr})", delay) for _, path, (_, expr, delay) in terms]
            if all(delay == 0 for _, delay in signed):
                total = signed[0][0]
                for expr, _ in signed[1:]:
                    total = f"{total} + {expr}"
                out(2, f"p{i}_{var} = p{i}_{var} + ({total})" if len(signed) > 1 else
                       f"p{i}_{var} = p{i}_{var} + {total}")
            else:
                out(2, "acc = None")
                for expr, delay in signed:
                    guard = f"if n >= {delay}: " if delay else ""
                    out(2, f"{guard}acc = {expr} if acc is None else acc + {expr}")
                out(2, f"if acc is not None: p{i}_{var} = p{i}_{var} + acc")
        # 4. resets where the neuron spiked
        for name in members:
            i, pop = index[name], net.populations[name]
            if pop.threshold is None or not pop.reset:
                continue
            out(2, f"g{i} = sp{i}.detach()" if detach_reset else f"g{i} = sp{i}")
            for target, op, text in pop.texts["reset"]:
                names = env(i, pop, False)
                subexpressions(2, i, pop, names, text)
                value, old = _rename(text, names), f"p{i}_{target}"
                if op == "=" and detach_reset:
                    # a detached gate is 0 or 1: this selects exactly what gate*value + (1-gate)*old gives
                    out(2, f"{old} = _where(g{i} > 0, {value}, {old})")
                elif op == "=":
                    out(2, f"{old} = g{i} * ({value}) + (1.0 - g{i}) * {old}")
                elif op == "+=":
                    out(2, f"{old} = {old} + g{i} * ({value})")
                elif op == "-=":
                    out(2, f"{old} = {old} - g{i} * ({value})")
                elif op == "*=":
                    out(2, f"{old} = {old} * (1.0 + g{i} * (({value}) - 1.0))")
                else:
                    out(2, f"{old} = {old} / (1.0 + g{i} * (({value}) - 1.0))")
        for name in members:
            i = index[name]
            for var in record.get(name, ()):
                out(2, f"r{i}_{var}.append(p{i}_{var})")
        for name in members:
            if name in spiking:
                i = index[name]
                out(1, f"s{i}_seq = _torch.stack(s{i}, 0)")
    spikes = ", ".join(f"{name!r}: s{index[name]}_seq.transpose(0, 1)" for name in spiking)
    traces = ", ".join(f"{name!r}: {{{', '.join(f'{v!r}: _torch.stack(r{index[name]}_{v}, 1)' for v in vs)}}}"
                       for name, vs in record.items())
    final = ", ".join(f"{name!r}: {{{', '.join(f'{v!r}: p{index[name]}_{v}' for v in pop.state_variables)}, "
                      f"'lastspike': p{index[name]}_lastspike}}" for name, pop in net.populations.items())
    queue = (", ".join(f"{name!r}: s{index[name]}[-{max_delay}:]" for name in spiking)
             if max_delay else "")
    out(1, f"return {{{spikes}}}, {{{traces}}}, {{{final}, '_queue': {{{queue}}}}}")
    return "\n".join(out.lines) + "\n", glb


def fused_program(net: DerivedNetwork, dt: float, *, surrogate: str = "fast_sigmoid", slope: float = 100.0,
                  detach_reset: bool = False, damping: float | dict | None = None,
                  record: dict | None = None):
    """The whole sequence of ``net`` at ``dt`` as one generated function (cached per settings).

    The function runs exactly the statements :func:`network_step` evaluates, in the same order,
    written out once as Python over local tensors: no namespace dictionaries, no ``eval`` per
    statement, constants for ``dt`` computed once. Populations that nothing later feeds back
    into run over all steps before the populations they drive, so what reaches a population from
    the inputs or from such a population is one matrix product for the whole sequence. Returns
    ``(function, source)``; ``function(inputs, weights, state, steps)`` gives what
    :func:`run_network` returns.
    """
    record = {pop: tuple(vars_) for pop, vars_ in (record or {}).items()}
    key = (float(dt), surrogate, float(slope), bool(detach_reset), _damping_key(damping),
           tuple(sorted(record.items())))
    cache = net.__dict__.setdefault("_programs", {})
    if key not in cache:
        source, glb = _fused_source(net, float(dt), surrogate=surrogate, slope=slope,
                                    detach_reset=detach_reset, damping=damping, record=record)
        code = compile(source, "<fused step>", "exec")
        namespace: dict = {}
        exec(code, glb, namespace)  # noqa: S102 - generated from statements checked by _check_expression
        cache[key] = (namespace["_run"], source)
    return cache[key]


# ------------------------------------------------------------------------------------------
# linear parts: the same forward statements, and a backward pass derived from them (sympy)


def _linear_part(net: DerivedNetwork, name: str, part: list, dt: float, detach_reset: bool):
    """The derived backward of a population whose update is affine in its state, or None.

    Applies to a population on its own (no pathway from itself to itself, no delayed input), with
    no refractoriness, no subexpressions, resets to constants (with the reset detached) and an
    update and threshold whose derivatives by the state are constants (``exact`` current-based
    LIF, the readout, the discrete-time baseline). Returns ``(jacobian, threshold_gradient)``:
    ``jacobian[(j, i)] = ∂ new_j / ∂ old_i`` and ``threshold_gradient[i] = ∂ x / ∂ v_i``, numbers
    for this dt, differentiated by sympy from the same folded statements the forward pass runs.
    """
    import sympy

    pop = net.populations[name]
    if len(part) != 1 or pop.texts["subexpressions"]:
        return None
    if pop.threshold is not None and (pop.refractory_s > 0 or (pop.reset and not detach_reset)):
        return None
    delays = net.delay_steps(dt)
    for pname, path in net.pathways.items():
        if path.target == name and (path.source == name or delays[pname]):
            return None
    consts = pop.constants_at(dt)
    state = {var: sympy.Symbol(f"s_{var}") for var in pop.state_variables}
    if any(np.ndim(v) for k, v in consts.items() if not isinstance(v, bool)):
        return None
    local = {k: sympy.Float(float(v), 30) if not isinstance(v, bool) else sympy.Integer(int(v))
             for k, v in consts.items()}
    functions = {"exp": sympy.exp, "log": sympy.log, "sqrt": sympy.sqrt, "sin": sympy.sin, "cos": sympy.cos,
                 "tanh": sympy.tanh}
    texts = [text for _, text in pop.texts["update"]] + [pop.texts["threshold"] or "0"]
    texts += [text for _, _, text in pop.texts["reset"]]
    allowed = set(consts) | set(pop.state_variables) | set(functions) | {tg for tg, _ in pop.texts["update"]}
    if any(_names_in(text) - allowed for text in texts):
        return None  # t, lastspike, int(), clip(), abs(), ...: leave it to autograd
    for _, op, text in pop.texts["reset"]:
        if op != "=" or _names_in(text) & set(pop.state_variables):
            return None
    symbols = dict(state)
    try:
        for target, text in pop.texts["update"]:
            symbols[target] = sympy.sympify(text, locals={**local, **functions, **symbols})
        thr = (sympy.sympify(pop.texts["threshold"], locals={**local, **functions, **symbols})
               if pop.threshold is not None else None)
    except (sympy.SympifyError, TypeError, SyntaxError):
        return None
    jacobian = {}
    for j in pop.differential:
        for i in pop.state_variables:
            d = sympy.diff(symbols[j], state[i])
            if d.free_symbols:
                return None
            if d != 0:
                jacobian[(j, i)] = float(d)
    gradient = {}
    if thr is not None:
        # the threshold reads the updated state: x = thr(new), so ∂x/∂new_i
        new = {var: sympy.Symbol(f"n_{var}") for var in pop.state_variables}
        thr_new = sympy.sympify(pop.texts["threshold"], locals={**local, **functions, **new})
        for i in pop.state_variables:
            d = sympy.diff(thr_new, new[i])
            if d.free_symbols:
                return None
            if d != 0:
                gradient[i] = float(d)
    return jacobian, gradient


def _reset_value(pop, dt: float, text: str):
    """The number a reset statement made only of constants gives at this dt."""
    return eval(compile(text, "<reset>", "eval"), _GLOBALS, dict(pop.constants_at(dt)))  # noqa: S307


def _linear_source(net: DerivedNetwork, name: str, dt: float, jacobian: dict, gradient: dict, *,
                   damping, record: tuple, dtype):
    """Forward and backward of one linear population over a sequence, as Python source."""
    pop = net.populations[name]
    incoming = [(pname, path) for pname, path in net.pathways.items() if path.target == name]
    # Brian2 hands out the variable names as a set: sort them, so that the backward pass sums its
    # terms in the same order in every process
    variables = tuple(sorted(pop.state_variables))
    differential = sorted(pop.differential)
    out = _Writer()
    args = ", ".join([f"e{k}" for k in range(len(incoming))] + [f"p_{v}" for v in variables])
    out(0, f"def _forward({args}, steps):")
    names = {cname: f"c_{cname}" for cname in pop.constants_at(dt)}
    names.update({var: f"p_{var}" for var in variables})
    spiking = pop.threshold is not None
    out(1, "xs = []" if spiking else "pass")
    if spiking:
        out(1, "ss = []")
    for var in record:
        out(1, f"r_{var} = []")
    out(1, "for n in range(steps):")
    ns = dict(names)
    for k, (target, text) in enumerate(pop.texts["update"]):
        out(2, f"u_{k} = {_rename(text, ns)}")
        ns[target] = f"u_{k}"
    for var in pop.differential:
        if ns[var] != f"p_{var}":
            out(2, f"p_{var} = {ns[var]}")
    if spiking:
        out(2, f"x = {_rename(pop.texts['threshold'], names)}")
        # sign(relu(x)) is exactly the surrogate's forward (x > 0) as a number, in two float ops
        out(2, "sp = (x >= 0).to(x.dtype)" if pop.threshold[1] else "sp = x.relu().sign()")
        out(2, "xs.append(x)")
        out(2, "ss.append(sp)")
    sums: dict = {}
    for k, (_, path) in enumerate(incoming):
        sums.setdefault(path.variable, []).append(f"e{k}[n]" if path.sign > 0 else f"(-e{k}[n])")
    for var, terms in sums.items():
        total = " + ".join(terms)
        out(2, f"p_{var} = p_{var} + ({total})" if len(terms) > 1 else f"p_{var} = p_{var} + {total}")
    if spiking and pop.reset:
        for target, _, text in pop.texts["reset"]:
            if _reset_value(pop, dt, text) == 0.0:  # sp is 0 or 1: the same number as selecting 0
                out(2, f"p_{target} = p_{target} * (_one - sp)")
            else:
                out(2, f"p_{target} = _where(sp > 0, {_rename(text, names)}, p_{target})")
    for var in record:
        out(2, f"r_{var}.append(p_{var})")
    finals = ", ".join(f"p_{v}" for v in variables)
    traces = ", ".join(f"r_{v}" for v in record)
    out(1, f"return {'xs, ss' if spiking else 'None, None'}, ({traces}{',' if record else ''}), ({finals},)")
    # backward: g_<var> is ∂L/∂(state after step n); walk the steps in reverse
    out(0, "")
    out(0, "def _backward(gs, masks, gr, gf, like, steps):")
    for k, var in enumerate(variables):
        out(1, f"g_{var} = gf[{k}] if gf[{k}] is not None else _torch.zeros_like(like)")
    receiving = list(sums)
    for var in receiving:
        out(1, f"d_{var} = []")
    out(1, "for n in range(steps - 1, -1, -1):")
    for k, var in enumerate(record):
        out(2, f"if gr[{k}] is not None: g_{var} = g_{var} + gr[{k}][n]")
    reset_targets = [target for target, _, _ in pop.texts["reset"]] if spiking and pop.reset else []
    for target in reset_targets:
        out(2, f"g_{target} = g_{target} * masks[n]")
    for var in receiving:
        out(2, f"d_{var}.append(g_{var})")
    for var, c in gradient.items():
        term = f"_torch.add(g_{var}, gs[n])" if c == 1.0 else f"_torch.add(g_{var}, gs[n], alpha={c!r})"
        out(2, f"if gs is not None: g_{var} = {term}")
    factors = {}
    for i in variables:
        terms = [(f"g_{j}", jacobian[(j, i)]) for j in differential if (j, i) in jacobian]
        if i not in pop.differential:
            terms = [(f"g_{i}", 1.0)] + terms  # a parameter keeps its value and its gradient
        value = "_torch.zeros_like(like)"
        for k, (g, c) in enumerate(terms):  # one operation per term: a + c*b
            factor = factors.setdefault(c, f"j_{len(factors)}")
            if k == 0:
                value = g if c == 1.0 else f"{g} * {factor}"
            else:
                value = f"_torch.add({value}, {g})" if c == 1.0 else f"_torch.addcmul({value}, {g}, {factor})"
        factor = _damping_of(damping, name)
        if factor is not None and i == pop.membrane:
            value = f"({value}) * {float(factor)!r}"
        out(2, f"h_{i} = {value}")
    for i in variables:
        out(2, f"g_{i} = h_{i}")
    grads = [f"_torch.stack(d_{path.variable}[::-1], 0)" + ("" if path.sign > 0 else ".neg()")
             for _, path in incoming]
    out(1, f"return ({', '.join(grads)}{',' if grads else ''}), ({', '.join(f'g_{v}' for v in variables)},)")
    glb = dict(_GLOBALS)
    # numbers as 0-d tensors of the run's dtype: the same products as with Python floats, which
    # torch also rounds to the tensor's dtype, without wrapping a new scalar for every operation
    glb.update({f"c_{k}": v if isinstance(v, bool) else torch.tensor(float(v), dtype=dtype)
                for k, v in pop.constants_at(dt).items()})
    glb.update({name: torch.tensor(c, dtype=dtype) for c, name in factors.items()})
    glb.update({"_torch": torch, "_where": torch.where, "_one": torch.tensor(1.0, dtype=dtype),
                "__builtins__": {"range": range, "isinstance": isinstance, "float": float}})
    return "\n".join(out.lines) + "\n", glb, incoming, variables


class _LinearSequence(torch.autograd.Function):
    """One linear population over the whole sequence; backward from the derived Jacobian."""

    @staticmethod
    def forward(ctx, program, n_inputs, steps, *tensors):
        inputs, state = tensors[:n_inputs], tensors[n_inputs:]
        xs, ss, traces, finals = program.forward(*(e.unbind(0) for e in inputs), *state, steps)
        ctx.program, ctx.n_inputs, ctx.steps = program, n_inputs, steps
        ctx.set_materialize_grads(False)
        spikes = torch.stack(ss, 0) if ss is not None else None
        if ss is not None:
            x = torch.stack(xs, 0)
            ctx.save_for_backward(program.surrogate.derivative(x, program.slope), spikes)
        traces = tuple(torch.stack(r, 0) for r in traces)
        ctx.like = state[0]
        ctx.n_traces = len(traces)
        return (spikes,) + traces + tuple(finals)

    @staticmethod
    def backward(ctx, *grads):
        program = ctx.program
        g_spikes, g_traces, g_finals = grads[0], grads[1:1 + ctx.n_traces], grads[1 + ctx.n_traces:]
        gs = masks = None
        if ctx.saved_tensors:
            derivative, spikes = ctx.saved_tensors
            masks = (1.0 - spikes).unbind(0)  # 0 where the neuron spiked and was reset
            gs = (g_spikes * derivative).unbind(0) if g_spikes is not None else None
        gr = tuple(g.unbind(0) if g is not None else None for g in g_traces)
        d_inputs, d_state = program.backward(gs, masks, gr, g_finals, ctx.like, ctx.steps)
        return (None, None, None) + tuple(d_inputs) + tuple(d_state)


@dataclass
class _LinearProgram:
    forward: object
    backward: object
    incoming: list
    variables: tuple
    record: tuple
    surrogate: object
    slope: float
    source: str


def linear_programs(net: DerivedNetwork, dt: float, *, surrogate: str = "fast_sigmoid", slope: float = 100.0,
                    detach_reset: bool = False, damping: float | dict | None = None,
                    record: dict | None = None, dtype=torch.float64):
    """Per population, the forward and derived backward over a sequence (None where not linear).

    Returns ``{pop: program}`` when every population qualifies (see :func:`_linear_part`), each
    part feeding only later ones, else None. Cached per settings.
    """
    record = {pop: tuple(vars_) for pop, vars_ in (record or {}).items()}
    key = ("linear", float(dt), surrogate, float(slope), bool(detach_reset), _damping_key(damping),
           tuple(sorted(record.items())), dtype)
    cache = net.__dict__.setdefault("_programs", {})
    if key in cache:
        return cache[key]
    programs = {}
    for part in _stages(net):
        name = part[0]
        found = _linear_part(net, name, part, float(dt), detach_reset)
        if found is None:
            programs = None
            break
        source, glb, incoming, variables = _linear_source(net, name, float(dt), *found, damping=damping,
                                               record=record.get(name, ()), dtype=dtype)
        namespace: dict = {}
        exec(compile(source, f"<linear sequence {name}>", "exec"), glb, namespace)  # noqa: S102
        programs[name] = _LinearProgram(namespace["_forward"], namespace["_backward"], incoming, variables,
                                        record.get(name, ()), get_surrogate(surrogate), float(slope), source)
    cache[key] = programs
    return programs


def _run_linear(net: DerivedNetwork, programs: dict, inputs, weights: dict, state: dict, steps: int, *,
                damping=None):
    spikes_seq, spikes, traces, final = {}, {}, {}, {}
    for name, program in programs.items():
        pres = []
        for pname, path in program.incoming:
            w = weights[pname]
            src = inputs.transpose(0, 1) if path.source == "input" else spikes_seq[path.source]
            factor = _damping_of(damping, pname) if path.source != "input" else None
            if factor is not None:
                src = damp_gradient(src, factor)
            pres.append(src.to(w.dtype) @ w)
        init = [state[name][var] for var in program.variables]
        outs = _LinearSequence.apply(program, len(pres), steps, *pres, *init)
        n_rec = len(program.record)
        if outs[0] is not None:
            spikes_seq[name] = outs[0]
            spikes[name] = outs[0].transpose(0, 1)
        if program.record:
            traces[name] = {var: r.transpose(0, 1) for var, r in zip(program.record, outs[1:1 + n_rec],
                                                                     strict=True)}
        final[name] = dict(zip(program.variables, outs[1 + n_rec:], strict=True))
        final[name]["lastspike"] = state[name]["lastspike"]
    final["_queue"] = {}
    return spikes, traces, final
