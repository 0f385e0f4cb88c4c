"""Trainable networks built from model files: the three-layer E/I classifier and its PING variant.

:func:`classifier_model` describes the network with units (a
:class:`~pinglab_bio.model.network.NetworkModel`); the same description is derived into the torch
step (:class:`EIClassifier`) and built in Brian2 (:func:`pinglab_bio.train.bridge.simulate_brian2`),
so both engines run the same equations.

Layers (REFERENCES §3): external spike inputs → hidden LIF (each hidden neuron E or I, by the
model's E:I ratio) → non-spiking leaky-integrator outputs. Input weights are ≥ 0; a hidden
neuron's outgoing weights are all ≥ 0 (E) or all ≤ 0 (I). With ``hidden="ping"`` the hidden
layer is a PING network (``exc`` and ``inh`` populations with their recurrent E↔I pathways from
the model file, e.g. ``ping_coba``); inputs drive E and the readout listens to E and I. With
``hidden="coba"`` the hidden layer holds the same E and I cells with their conductance synapses
but none of the model's pathways: inputs drive both, nothing recurs (an asynchronous
conductance-based layer).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import SettingsError
from ..model.lower import on_pre_target, population_model, variable_unit
from ..model.network import NetworkModel, PathwayModel, PopulationModel
from ..model.spec import POPULATIONS, ModelSpec, load_model
from .derive import derive_network, init_network_state, run_network

__all__ = ["READOUT_EQUATIONS", "classifier_model", "network_model_from_spec", "baseline_model",
           "EIClassifier", "readout_loss", "predict", "max_over_time", "fixed_pathway_weights",
           "ping_initial_values", "EXC", "INH"]

#: The model schema's excitatory and inhibitory populations (E and I in the text).
EXC, INH = POPULATIONS

#: Leaky-integrator readout (non-spiking), dimensionless: input spikes add ``w`` to ``I``.
READOUT_EQUATIONS = """
dv/dt = (I - v)/tau_mem : 1
dI/dt = -I/tau_syn : 1
"""


def _pop_model(spec: ModelSpec, pop: str, name: str, n: int) -> PopulationModel:
    return population_model(spec, pop, name, n, drive=False)


def classifier_model(spec: ModelSpec | str, n_inputs: int, n_outputs: int, *, hidden: str = "ei",
                     input_variable: str | None = None, tau_out=None, tau_out_syn=None) -> NetworkModel:
    """The network description (with units) of the E/I classifier.

    Parameters
    ----------
    spec : ModelSpec or str
        Hidden-layer model (``ei_hidden_cuba`` for ``hidden="ei"``, ``ping_coba`` for ``"ping"``).
    n_inputs, n_outputs : int
        Input channels and classes.
    hidden : {"ei", "ping", "coba"}
        ``"ei"``: one hidden population of ``n_exc + n_inh`` neurons with the ``exc`` equations
        (E and I must share their dynamics). ``"ping"``: ``exc`` and ``inh`` populations with the
        model's recurrent pathways; inputs onto E. ``"coba"``: the same two populations without
        any of the model's pathways; inputs onto E and onto I.
    input_variable : str, optional
        Hidden variable the inputs add to (default ``I`` for "ei", ``g_e`` otherwise).
    tau_out, tau_out_syn : Quantity, optional
        Readout time constants (default: the model's ``tau_mem``/``tau_syn``, else 10/5 ms).
    """
    import brian2

    if not isinstance(spec, ModelSpec):
        spec = load_model(spec)
    if hidden not in ("ei", "ping", "coba"):
        raise SettingsError(f"unknown hidden layer {hidden!r}. Fix: use 'ei', 'ping' or 'coba'")
    for value, what in ((n_inputs, "n_inputs"), (n_outputs, "n_outputs")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SettingsError(f"{what} must be a whole number ≥ 1, got {value!r}. Fix: pass e.g. 10")
    n_exc = spec.populations[EXC].n
    n_inh = spec.populations[INH].n if INH in spec.populations else 0
    tau_out = tau_out if tau_out is not None else spec.parameters.get("tau_mem", 10 * brian2.ms)
    tau_out_syn = tau_out_syn if tau_out_syn is not None else spec.parameters.get("tau_syn", 5 * brian2.ms)
    readout = PopulationModel(name="out", n=n_outputs, equations=READOUT_EQUATIONS, threshold="", reset="",
                              refractory=0 * brian2.ms, method="exact",
                              namespace={"tau_mem": tau_out, "tau_syn": tau_out_syn})
    zero = 0 * brian2.ms
    if hidden == "ei":
        if n_inh:
            e, i = spec.populations[EXC], spec.populations[INH]
            same = (e.equations, e.threshold, e.reset, e.method, e.parameters) == \
                   (i.equations, i.threshold, i.reset, i.method, i.parameters)
            if not same or float(e.refractory) != float(i.refractory):
                raise SettingsError(f"model '{spec.name}': hidden='ei' needs E and I cells with the same "
                                    "dynamics. Fix: give [neurons.inh] the exc equations, or use "
                                    "hidden='ping'")
        var = input_variable or "I"
        pops = {"hidden": _pop_model(spec, EXC, "hidden", n_exc + n_inh), "out": readout}
        paths = {
            "input_to_hidden": PathwayModel("input_to_hidden", "input", "hidden", f"{var}_post += w",
                                            zero, _var_unit(spec, EXC, var)),
            "hidden_to_out": PathwayModel("hidden_to_out", "hidden", "out", "I_post += w", zero, None),
        }
        return NetworkModel(populations=pops, pathways=paths, n_inputs=n_inputs)
    var = input_variable or "g_e"
    pops = {EXC: _pop_model(spec, EXC, EXC, n_exc)}
    if n_inh:
        pops[INH] = _pop_model(spec, INH, INH, n_inh)
    pops["out"] = readout
    paths = {f"input_to_{EXC}": PathwayModel(f"input_to_{EXC}", "input", EXC, f"{var}_post += w", zero,
                                             _var_unit(spec, EXC, var))}
    if hidden == "coba":
        if n_inh:
            paths[f"input_to_{INH}"] = PathwayModel(f"input_to_{INH}", "input", INH, f"{var}_post += w", zero,
                                                    _var_unit(spec, INH, var))
    for name, path in (spec.pathways.items() if hidden == "ping" else ()):
        paths[name] = PathwayModel(name, path.source, path.target, path.on_pre, path.delay,
                                   _var_unit(spec, path.target, on_pre_target(path.on_pre)))
    for pop in (EXC, INH)[: 1 + bool(n_inh)]:
        paths[f"{pop}_to_out"] = PathwayModel(f"{pop}_to_out", pop, "out", "I_post += w", zero, None)
    return NetworkModel(populations=pops, pathways=paths, n_inputs=n_inputs)


def _var_unit(spec: ModelSpec, pop: str, var: str):
    try:
        return variable_unit(spec, pop, var)
    except SettingsError as err:
        raise SettingsError(f"input variable {err}") from None


def max_over_time(trace: torch.Tensor) -> torch.Tensor:
    """``[batch, steps, classes]`` → ``[batch, classes]``: the maximum over time."""
    return trace.max(dim=1).values


def readout_loss(out_v: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """NLL of the log-softmax of each output's maximum membrane over time (REFERENCES §3)."""
    return nn.functional.cross_entropy(max_over_time(out_v), labels)


def predict(out_v) -> np.ndarray:
    """Class of each trial: the output whose membrane reaches the highest value."""
    out_v = out_v if isinstance(out_v, torch.Tensor) else torch.as_tensor(np.asarray(out_v))
    return max_over_time(out_v).argmax(dim=1).cpu().numpy()


class EIClassifier(nn.Module):
    """Thin module around the derived step: weights, Dale's law, weight noise.

    Parameters
    ----------
    model : NetworkModel
        From :func:`classifier_model`.
    signs : dict
        ``{pathway: array [n_source]}`` Dale signs of each pathway's source (+1 E, −1 I);
        input pathways are +1.
    sigma_init : dict
        ``{pathway: σ}``; initial weights are ``sign * |N(0, σ)|``.
    trainable : sequence of str, optional
        Pathways whose weights are learnt (default: all of them).
    seed : int
        Seeds the initial draw.
    damping : float or dict, optional
        Gradient damping through the membrane per step, for every population or ``{pop: factor}``
        (see :func:`pinglab_bio.train.derive.damp_gradient`).
    masks : dict, optional
        ``{pathway: array [n_source, n_target]}`` of 0/1: where the pathway has synapses. A masked
        pathway starts from ``fixed_weights`` (or a draw) times its mask, and :meth:`project_`
        keeps it zero elsewhere, so a trained recurrent pathway keeps its connectivity.
    """

    def __init__(self, model: NetworkModel, signs: dict, sigma_init: dict, *, trainable=None, seed: int = 0,
                 dtype=torch.float32, surrogate: str = "fast_sigmoid", slope: float = 100.0,
                 damping: float | dict | None = None, detach_reset: bool = True,
                 fixed_weights: dict | None = None, masks: dict | None = None):
        super().__init__()
        self.model = model
        self.derived = derive_network(model)
        self.surrogate, self.slope, self.damping, self.detach_reset = surrogate, slope, damping, detach_reset
        gen = torch.Generator().manual_seed(int(seed))
        self.weights = nn.ParameterDict()
        trainable = set(model.pathways) if trainable is None else set(trainable)
        fixed_weights = fixed_weights or {}
        for name, path in model.pathways.items():
            n_src = model.n_inputs if path.source == "input" else model.populations[path.source].n
            n_tgt = model.populations[path.target].n
            sign = torch.as_tensor(np.asarray(signs.get(name, np.ones(n_src)), dtype=float), dtype=dtype)
            self.register_buffer(f"sign_{name}", sign)
            if name in fixed_weights:
                w = torch.as_tensor(np.asarray(fixed_weights[name]), dtype=dtype)
            else:
                w = torch.randn(n_src, n_tgt, generator=gen, dtype=torch.float64).abs().to(dtype)
                w = w * float(sigma_init.get(name, 0.1)) * sign[:, None]
            if name in (masks or {}):
                mask = torch.as_tensor(np.asarray(masks[name], dtype=float), dtype=dtype)
                self.register_buffer(f"mask_{name}", mask)
                w = w * mask
            self.weights[name] = nn.Parameter(w, requires_grad=name in trainable)
        self.sigma_init = dict(sigma_init)
        #: initial values ``{pop: {var: SI value}}`` used by both engines (default: zeros)
        self.init_values: dict = {}
        #: run the fused sequence (:func:`~pinglab_bio.train.derive.fused_program`); False
        #: evaluates the derived statements one by one (the reference it is held to)
        self.fused = True

    def weight_dict(self) -> dict:
        return {name: w for name, w in self.weights.items()}

    def forward(self, x: torch.Tensor, dt: float, record_hidden: bool = False):
        """Run inputs ``[batch, steps, n_inputs]``; return ``(out_v [batch, steps, classes], spikes)``."""
        w = self.weight_dict()
        any_w = next(iter(w.values()))
        state = init_network_state(self.derived, x.shape[0], values=self.init_values, dtype=any_w.dtype,
                                   device=any_w.device)
        spikes, traces, _ = run_network(self.derived, x.to(any_w.dtype), w, dt, state=state,
                                        record={"out": ["v"]}, surrogate=self.surrogate,
                                        slope=self.slope, damping=self.damping,
                                        detach_reset=self.detach_reset, fused=self.fused)
        return traces["out"]["v"], spikes

    @torch.no_grad()
    def project_(self):
        """Dale's law: clamp every weight back to the sign of its source neuron."""
        for name, w in self.weights.items():
            sign = getattr(self, f"sign_{name}")[:, None]
            w.copy_(torch.where(sign >= 0, w.clamp(min=0), w.clamp(max=0)))
            mask = getattr(self, f"mask_{name}", None)
            if mask is not None:
                w.mul_(mask)

    @torch.no_grad()
    def add_weight_noise_(self, sigma: float, generator: torch.Generator | None = None, *,
                          relative: bool = True):
        """Add Gaussian noise to every trainable weight, then project back to Dale's signs.

        Parameters
        ----------
        sigma : float
            Standard deviation of the noise: relative to each pathway's ``σ_init`` when
            ``relative`` (``N(0, (sigma·σ_init)²)``), else in weight units for every pathway.
        generator : torch.Generator, optional
            Source of the draws (float64 normals on the CPU, so every device sees the same ones).
        relative : bool
            See ``sigma``.
        """
        for name, w in self.weights.items():
            if not w.requires_grad:
                continue
            scale = sigma * float(self.sigma_init.get(name, 0.1)) if relative else sigma
            noise = torch.randn(w.shape, generator=generator, dtype=torch.float64).to(w.dtype) * scale
            w.add_(noise.to(w.device))
        self.project_()

    def numpy_weights(self) -> dict:
        return {k: v.detach().cpu().double().numpy() for k, v in self.weights.items()}


def network_model_from_spec(spec: ModelSpec | str) -> NetworkModel:
    """The populations and pathways of a model file as a :class:`NetworkModel` (no inputs).

    Drives are not part of it: a tonic drive enters the derived step as a per-neuron value
    (e.g. ``g_drive``) in the initial state; OU noise has no derived step.
    """
    if not isinstance(spec, ModelSpec):
        spec = load_model(spec)
    pops = {pop: _pop_model(spec, pop, pop, p.n) for pop, p in spec.populations.items()}
    paths = {name: PathwayModel(name, path.source, path.target, path.on_pre, path.delay,
                                _var_unit(spec, path.target, on_pre_target(path.on_pre)))
             for name, path in spec.pathways.items()}
    return NetworkModel(populations=pops, pathways=paths, n_inputs=0)


def baseline_model(n_inputs: int, n_hidden: int, n_outputs: int, *, beta: float = float(np.exp(-0.1)),
                   beta_out: float | None = None) -> NetworkModel:
    """The plain discrete-time LIF baseline ``U ← βU + Ws`` as a Brian2 model.

    ``dv/dt = (beta - 1)*v/dt`` integrated with forward Euler gives exactly ``v ← βv`` per
    step whatever dt is, so the decay per step is fixed and the decay per unit time is not:
    evaluated at a finer dt the membrane forgets more slowly (REFERENCES §2: it collapses).
    Threshold 1, reset to 0; inputs and hidden spikes add ``w`` to ``v``.
    """
    import brian2

    beta_out = beta if beta_out is None else beta_out
    for value, what in ((beta, "beta"), (beta_out, "beta_out")):
        if not 0 < value < 1:
            raise SettingsError(f"{what} must lie in (0, 1), got {value!r}. Fix: e.g. 0.9")
    zero = 0 * brian2.ms
    hidden = PopulationModel("hidden", n_hidden, "dv/dt = (beta - 1)*v/dt : 1", "v > 1", "v = 0", zero,
                             "euler", {"beta": beta})
    out = PopulationModel("out", n_outputs, "dv/dt = (beta - 1)*v/dt : 1", "", "", zero, "euler",
                          {"beta": beta_out})
    paths = {"input_to_hidden": PathwayModel("input_to_hidden", "input", "hidden", "v_post += w", zero, None),
             "hidden_to_out": PathwayModel("hidden_to_out", "hidden", "out", "v_post += w", zero, None)}
    return NetworkModel(populations={"hidden": hidden, "out": out}, pathways=paths, n_inputs=n_inputs)


def fixed_pathway_weights(spec: ModelSpec, path, seed: int) -> np.ndarray:
    """Dense weights ``[n_source, n_target]`` of a model pathway: its weight where connected.

    Connections are drawn with probability ``path.p`` (or ``path.in_degree`` sources per target)
    from ``default_rng(seed + 7919)``, no self-connections within a population; the weight is
    the pathway's, in SI units.
    """
    rng = np.random.default_rng(seed + 7919)
    n_src, n_tgt = spec.populations[path.source].n, spec.populations[path.target].n
    if path.p is not None:
        mask = rng.random((n_src, n_tgt)) < path.p
    else:
        mask = np.zeros((n_src, n_tgt), dtype=bool)
        for j in range(n_tgt):
            mask[rng.choice(n_src, size=path.in_degree, replace=False), j] = True
    if path.source == path.target:
        np.fill_diagonal(mask, False)
    return mask * float(path.weight)


def ping_initial_values(spec: ModelSpec) -> dict:
    """``{pop: {var: SI value}}``: each cell at the middle of its initial range, drives at their mean."""
    values = {}
    for pop, p in spec.populations.items():
        values[pop] = {}
        for var, init in p.init.items():
            values[pop][var] = (float(init[1]) if init[0] == "constant"
                                else 0.5 * (float(init[1]) + float(init[2])))
        drive = spec.drives.get(pop)
        if drive is not None and drive.kind == "tonic_ou":
            values[pop][drive.variable] = float(drive.values["mean"])
    return values
