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
   ``spikes @ W`` to ``var`` of the target, for spikes emitted ``round(delay/dt)`` steps ago;
   external input spikes (Brian2: a ``SpikeGeneratorGroup``) arrive here too;
4. ``resets``: the reset statements, applied where the neuron spiked.

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
           "init_network_state", "run_network", "damp_gradient", "brian2_timestep"]


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


def _fold(code_text: str, constant_names, lifted: list):
    tree = ast.parse(code_text.strip(), mode="eval")
    tree = ast.fix_missing_locations(_Folder(constant_names, lifted).visit(tree))
    return compile(tree, "<folded>", "eval")


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
    update, lifted = [], []
    for line in lines:
        target, op, expr = _split_statement(line, where)
        if op != "=":
            raise DerivationError(f"{where}: unsupported statement '{line}'. Fix: report the method")
        _check_expression(expr, line, where)
        update.append((target, _fold(expr, folded_names, lifted)))
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
        diff = _fold(f"({lhs}) - ({rhs})", scalar_constants, lifted)
        threshold = (diff, isinstance(tree.ops[0], (ast.GtE, ast.LtE)))
        names = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in differential]
        membrane = names[0] if names else membrane
    reset = []
    for line in (pop.reset or "").replace(";", "\n").splitlines():
        if not line.strip():
            continue
        target, op, expr = _split_statement(line, f"{where} reset")
        if target not in state_variables:
            raise DerivationError(f"{where}: unsupported reset statement '{line.strip()}': "
                                  f"'{target}' is not a variable. Fix: reset a model variable")
        _check_expression(expr, line.strip(), f"{where} reset")
        reset.append((target, op, _fold(expr, scalar_constants, lifted)))
    return DerivedPopulation(
        name=pop.name, n=pop.n, update=update, state_variables=state_variables,
        differential=differential, conditional=conditional, threshold=threshold, reset=reset,
        refractory_s=float(pop.refractory) if pop.threshold else 0.0, constants=constants,
        membrane=membrane, subexpressions=subexpressions, statements=lines, lifted=lifted,
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
        """Brian2's delay in steps: ``round(delay/dt)``."""
        return {name: int(np.round(p.delay_s / dt)) for name, p in self.pathways.items()}


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


def _population_update(pop: DerivedPopulation, s: dict, t: float, dt: float, damping: float | None):
    if damping is not None and pop.membrane:
        s = {**s, pop.membrane: damp_gradient(s[pop.membrane], damping)}
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
                 damping: float | None = None):
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
    damping : float, optional
        Multiply the gradient through each membrane update by this factor (see
        :func:`damp_gradient`).

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


_DELAYS: dict = {}


def _delay_cache(net: DerivedNetwork, dt: float) -> dict:
    key = (id(net), dt)
    if key not in _DELAYS:
        _DELAYS[key] = net.delay_steps(dt)
    return _DELAYS[key]


def run_network(net: DerivedNetwork, inputs, weights: dict, dt: float, *, state: dict | None = None,
                record: dict | None = None, **step_kwargs):
    """Run ``inputs`` (Tensor ``[batch, steps, n_inputs]``) through the network.

    Returns ``(spikes, traces, state)``: ``spikes[pop]`` is ``[batch, steps, n]``;
    ``traces[pop][var]`` the recorded variables (after each full step, as a Brian2
    StateMonitor with ``when="end"``).
    """
    batch, steps = inputs.shape[0], inputs.shape[1]
    if state is None:
        any_w = next(iter(weights.values()))
        state = init_network_state(net, batch, dtype=any_w.dtype, device=any_w.device)
    record = record or {}
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
