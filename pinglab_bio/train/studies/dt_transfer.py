"""The Δt-transfer study (protocol ``dt_transfer``): train at one dt, evaluate in Brian2 at others.

:func:`build_transfer_network` makes one of four networks (:data:`TRANSFER_MODELS`):

* ``ei``: the three-layer E/I network, derived current-based step of ``ei_hidden_cuba``;
* ``coba``: the E and I cells of ``ping_coba`` with their conductance synapses, inputs onto
  both, no E↔I pathway (an asynchronous conductance-based layer);
* ``ping``: the recurrent E↔I layer of ``ping_coba`` (E→I and I→E with their 1 ms delays;
  inputs onto E), every pathway trained by BPTT through the loop, with the gradient through
  the E and I membranes damped (REFERENCES §2: the E→I→E loop multiplies the backward signal
  once per cycle);
* ``baseline``: the plain discrete-time LIF ``U ← βU + Ws``.

:func:`train_transfer_network` trains it at one step as a configuration of
:func:`pinglab_bio.train.loop.train_loop` (Adam at a constant learning rate, Dale projection
after each step). The hidden sizes are :data:`HIDDEN_SIZES` (smaller than the published
networks, so that training at 0.1 ms fits on a CPU); the conductance settings are
:data:`CONDUCTANCE`. :func:`gamma_of` finds the gamma peak of E spikes with
:mod:`pinglab_bio.measures`; :func:`summarize_rows` condenses the Brian2 evaluations over the
dt grid (REFERENCES §2: a hidden-rate ratio ≤ 2× is flat, ≥ 10× a collapse).
"""

from __future__ import annotations

import numpy as np

__all__ = ["TRANSFER_MODELS", "HIDDEN_SIZES", "CONDUCTANCE", "RHYTHM", "build_transfer_network",
           "train_transfer_network", "rate_penalty", "anchor_penalty", "torch_agreement", "gamma_of",
           "ei_locking", "summarize_rows"]

#: The networks of the study.
TRANSFER_MODELS = ("ei", "coba", "ping", "baseline")

#: Hidden neurons of each network (E share set by ``ei_ratio``). The published conductance and
#: PING networks are larger (``ping_coba``: 800 E / 200 I); 100 keeps an epoch at 0.1 ms
#: (1,000 steps per 100 ms trial) near half a minute on one CPU thread.
HIDDEN_SIZES = {"ei": 100, "coba": 100, "ping": 100, "baseline": 100}

#: Settings of the conductance-based networks (SI units). The E↔I weights are ``ping_coba``'s
#: scaled for 80 E / 20 I at connection probability 0.5 (about 40 E → each I, 10 I → each E).
#: PING damping: ``damping_tau_s`` damps the gradient through the E and I membranes by
#: ``exp(−dt/τ)`` per step (the same share per millisecond at every dt_train), and
#: ``loop_damping`` multiplies the gradient back through each E→I and I→E spike, so that one
#: E→I→E cycle passes on at most ``loop_damping²`` of what it would undamped. The membrane part
#: alone barely bounds the loop: the conductances carry the signal past the membrane's own
#: step-to-step path (tests/test_derive_fast.py measures both).
CONDUCTANCE = {"model": "ping_coba", "sigma_in_s": 12e-9, "exc_to_inh_s": 15e-9, "inh_to_exc_s": 40e-9,
               "slope_per_volt": 1000.0, "damping_tau_s": 5e-3, "loop_damping": 0.5, "sigma_out": 0.5,
               "lr_scale": 8e-7}


#: Keeping the PING rhythm while the ``ping`` network learns (defaults of the protocol's
#: ``--rate-penalty``, ``--rate-target-exc``, ``--rate-target-inh``, ``--ei-lr-scale``,
#: ``--ei-anchor``). ``rate_penalty`` λ adds ``λ · Σ_pop ((r_pop − r*_pop) / r*_pop)²`` to the
#: loss, ``r_pop`` the mean rate of the population over the batch (surrogate spikes, so the term
#: has a gradient) and ``r*`` its target (Hz): the untrained layer's E and I rates on digits at
#: 0.1 ms (29 Hz and 61 Hz on 32 training digits), where it oscillates at about 50 Hz.
#: ``ei_lr_scale`` multiplies the learning rate of the E→I and I→E weights; ``ei_anchor`` μ adds
#: ``μ · Σ ‖W − W₀‖² / ‖W₀‖²`` over those two pathways (their relative change from the model's).
#: λ = 1 with E↔I learning at the full rate and no anchor was the best of the settings measured
#: (docs/readme/training.md, Δt transfer: 640 digits, 3 epochs at 0.1 ms); λ ≥ 2 made training
#: oscillate, and slowing or anchoring the E↔I weights left the I rate high and lost accuracy.
RHYTHM = {"rate_penalty": 1.0, "rate_target_exc_hz": 30.0, "rate_target_inh_hz": 60.0,
          "ei_lr_scale": 1.0, "ei_anchor": 0.0}


def rate_penalty(spikes: dict, dt_s: float, targets_hz: dict):
    """``Σ_pop ((r_pop − r*_pop) / r*_pop)²``: the relative distance of each mean rate to its target.

    ``spikes`` is ``{pop: tensor [batch, steps, n]}`` (0/1 per step, surrogate gradient);
    ``targets_hz`` ``{pop: r* (Hz)}``, each > 0. The mean rate is the mean spike count per step
    over the batch, steps and neurons, divided by ``dt_s``.
    """
    total = 0.0
    for pop, target in targets_hz.items():
        rate = spikes[pop].mean() / dt_s
        total = total + ((rate - target) / target) ** 2
    return total


def anchor_penalty(weights: dict, initial: dict):
    """``Σ ‖W − W₀‖² / ‖W₀‖²`` over the pathways of ``initial`` (``{name: W₀}``)."""
    total = 0.0
    for name, w0 in initial.items():
        total = total + ((weights[name] - w0) ** 2).sum() / (w0 ** 2).sum()
    return total


def _spec(kind: str, ei_ratio: float):
    from ...model.spec import load_model

    n = HIDDEN_SIZES[kind]
    n_exc = int(round(ei_ratio * n))
    overrides = {"n_exc": n_exc, "n_inh": n - n_exc, "drive.exc": "off",
                 "exc_to_inh.weight": f"{CONDUCTANCE['exc_to_inh_s'] * 1e9:g} nS",
                 "inh_to_exc.weight": f"{CONDUCTANCE['inh_to_exc_s'] * 1e9:g} nS"}
    return load_model(CONDUCTANCE["model"], overrides)


def build_transfer_network(kind: str, dt_s: float, n_inputs: int, n_classes: int, *, ei_ratio: float = 0.8,
                           seed: int = 0, config=None):
    """One untrained network of the study; returns ``(net, lr_scale)``.

    ``lr_scale[pathway]`` multiplies the learning rate of that pathway's weights: Adam's step is
    in the weight's own unit, so a conductance (siemens) takes ``lr · CONDUCTANCE["lr_scale"]``
    (4 nS a step at lr 5e-3, a third of σ_in; of 8e-8, 3.2e-7 and 8e-7 S the largest trained
    both coba and ping fastest here: 3 epochs of 640 digits at 1 ms, train accuracy coba
    61 % → 83 %, ping 27 % → 59 % from the smallest to the largest).
    """
    from ...errors import SettingsError
    from ..loop import TrainConfig, build_classifier
    from ..networks import (
        INH,
        EIClassifier,
        baseline_model,
        classifier_model,
        fixed_pathway_weights,
        ping_initial_values,
    )

    if kind not in TRANSFER_MODELS:
        raise SettingsError(f"unknown dt_transfer model {kind!r}. "
                            f"Fix: use one of {', '.join(TRANSFER_MODELS)}")
    config = config or TrainConfig(dt_ms=dt_s * 1e3, ei_ratio=ei_ratio, seed=seed,
                                   n_hidden=HIDDEN_SIZES[kind])
    if kind == "ei":
        return build_classifier(config, n_inputs, n_classes), {}
    n_hidden = HIDDEN_SIZES[kind]
    n_exc = int(round(config.ei_ratio * n_hidden))
    if kind == "baseline":
        signs = {"hidden_to_out": np.concatenate([np.ones(n_exc), -np.ones(n_hidden - n_exc)])}
        # β = exp(-dt_train/tau) with tau = 10 ms: the baseline matches the E/I cell at dt_train only
        beta = float(np.exp(-dt_s / 0.01))
        model = baseline_model(n_inputs, n_hidden, n_classes, beta=beta)
        # input spikes jump v directly (no synaptic filter): smaller input weights than the E/I cell
        sigma = {"input_to_hidden": 0.05, "hidden_to_out": 0.5}
        return EIClassifier(model, signs, sigma, seed=config.seed), {}
    if not 1 <= n_exc < n_hidden:
        raise SettingsError(f"E:I ratio {config.ei_ratio} of {n_hidden} hidden neurons leaves no E or no I "
                            f"cell for the {kind} network. Fix: use a ratio such as 0.8")
    spec = _spec(kind, config.ei_ratio)
    model = classifier_model(spec, n_inputs, n_classes, hidden=kind)
    signs, sigma, fixed, masks, lr_scale = {}, {}, {}, {}, {}
    for name, path in model.pathways.items():
        if path.source == "input":
            sigma[name], lr_scale[name] = CONDUCTANCE["sigma_in_s"], CONDUCTANCE["lr_scale"]
            continue
        signs[name] = np.full(model.populations[path.source].n, -1.0 if path.source == INH else 1.0)
        sigma[name] = CONDUCTANCE["sigma_out"]
    damping = None
    if kind == "ping":
        for name, path in spec.pathways.items():  # E→I and I→E: model connectivity, trained weights
            fixed[name] = fixed_pathway_weights(spec, path, config.seed)
            masks[name] = (fixed[name] != 0).astype(float)
            signs[name] = np.ones(model.populations[path.source].n)  # g_i_post += w: w ≥ 0 from I
            lr_scale[name] = CONDUCTANCE["lr_scale"]
        factor = float(np.exp(-dt_s / CONDUCTANCE["damping_tau_s"]))
        damping = {"exc": factor, INH: factor, **dict.fromkeys(spec.pathways, CONDUCTANCE["loop_damping"])}
    net = EIClassifier(model, signs, sigma, seed=config.seed, slope=CONDUCTANCE["slope_per_volt"],
                       damping=damping, fixed_weights=fixed, masks=masks)
    net.init_values = ping_initial_values(spec)
    return net, lr_scale


def train_transfer_network(kind: str, dt_s: float, dataset, *, epochs: int, duration_s: float,
                           ei_ratio: float = 0.8, seed: int = 0, dataset_name: str = "digits", log=print,
                           rhythm: dict | None = None):
    """Train one network at step ``dt_s``; return ``(net, config)``.

    Parameters
    ----------
    kind : {"ei", "coba", "ping", "baseline"}
        See :func:`build_transfer_network`.
    dt_s : float
        Training step (s).
    dataset : pinglab_bio.data.datasets.Dataset
        Intensities in [0, 1], encoded afresh each epoch.
    epochs : int
    duration_s : float
        Trial length (s).
    ei_ratio : float
        E share of the hidden layer (sets the signs of the hidden → output weights, and the E and
        I population sizes of ``coba`` and ``ping``).
    seed : int
        Seeds the weights, the encoding and the order of the samples.
    dataset_name : str
        Recorded in the returned :class:`~pinglab_bio.train.loop.TrainConfig`.
    log : callable
        Receives one line per epoch, and a first line with the expected time.
    rhythm : dict, optional
        For ``ping`` only: the rhythm-keeping settings, keys as in :data:`RHYTHM` (missing keys
        take its values; ``rate_penalty`` 0 and ``ei_anchor`` 0 with ``ei_lr_scale`` 1 train on the
        readout loss alone). Ignored by the other networks.
    """
    import time

    import torch

    from ..loop import Progress, TrainConfig, encode_split, format_eta, torch_threads, train_loop
    from ..networks import predict, readout_loss

    config = TrainConfig(dataset=dataset_name, epochs=epochs, dt_ms=dt_s * 1e3, duration_ms=duration_s * 1e3,
                         ei_ratio=ei_ratio, seed=seed, n_hidden=HIDDEN_SIZES.get(kind, 100)).check()
    net, lr_scale = build_transfer_network(kind, dt_s, dataset.n_inputs, dataset.n_classes, config=config)
    from ...errors import SettingsError

    unknown = sorted(set(rhythm or {}) - set(RHYTHM))
    if unknown:
        raise SettingsError(f"unknown rhythm setting(s) {', '.join(unknown)}. Fix: use keys of RHYTHM "
                            f"({', '.join(RHYTHM)})")
    rhythm = {**RHYTHM, **(rhythm or {})} if kind == "ping" else {**RHYTHM, "rate_penalty": 0.0,
                                                                     "ei_lr_scale": 1.0, "ei_anchor": 0.0}
    for key in ("rate_target_exc_hz", "rate_target_inh_hz"):
        if not float(rhythm[key]) > 0:
            raise SettingsError(f"{key} must be a positive rate (Hz), got {rhythm[key]!r}. "
                                f"Fix: e.g. {RHYTHM[key]:g}")
    loop_paths = [name for name, path in net.model.pathways.items()
                  if path.source != "input" and path.target != "out"]  # E→I and I→E (ping only)
    targets = {"exc": float(rhythm["rate_target_exc_hz"]), "inh": float(rhythm["rate_target_inh_hz"])}
    initial = {name: net.weights[name].detach().clone() for name in loop_paths}
    groups = [{"params": [w], "lr": config.lr * lr_scale.get(name, 1.0)
               * (float(rhythm["ei_lr_scale"]) if name in loop_paths else 1.0)}
              for name, w in net.weights.items() if w.requires_grad]
    opt = torch.optim.Adam(groups)
    correct = {"n": 0, "t0": 0.0, "spikes": {}, "steps": 0}
    n_batches = -(-len(dataset.y_train) // config.batch_size)
    progress = Progress(lambda line: log(f"  {kind} dt_train {dt_s * 1e3:g} ms {line}"), n_batches, epochs)

    def batches(epoch):
        correct["n"], correct["t0"], correct["spikes"], correct["steps"] = 0, time.perf_counter(), {}, 0
        spikes = encode_split(config, dataset.x_train, (config.seed, epoch))
        order = np.random.default_rng([config.seed, epoch, 1]).permutation(len(dataset.y_train))
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            yield torch.as_tensor(spikes[idx]), torch.as_tensor(dataset.y_train[idx])
            progress.batch_done(epoch)

    def count_correct(output, y):
        correct["n"] += int((predict(output[0].detach()) == y.numpy()).sum())
        for pop, sp in output[1].items():  # neuron-steps and spikes of each population, for its rate
            correct["spikes"][pop] = correct["spikes"].get(pop, 0.0) + float(sp.detach().sum())
        correct["steps"] += int(y.shape[0]) * config.steps

    def loss_fn(output, y):
        loss = readout_loss(output[0], y)
        if rhythm["rate_penalty"]:
            loss = loss + float(rhythm["rate_penalty"]) * rate_penalty(output[1], dt_s, targets)
        if rhythm["ei_anchor"] and initial:
            loss = loss + float(rhythm["ei_anchor"]) * anchor_penalty(net.weights, initial)
        return loss

    def log_epoch(stats):
        wall = time.perf_counter() - correct["t0"]
        rates = ", ".join(f"{pop} {n / (correct['steps'] * net.model.populations[pop].n) / dt_s:.1f} Hz"
                          for pop, n in correct["spikes"].items())
        log(f"  {kind} dt_train {dt_s * 1e3:g} ms epoch {stats.epoch + 1}/{config.epochs} "
            f"loss {stats.mean_batch_loss:.3f} train {correct['n'] / stats.n_samples:.3f} "
            f"(training rates {rates}; {wall:.1f} s, ETA {format_eta(progress.epoch_done(wall))})")

    with torch_threads(1):  # many small operations: one thread is faster, and fair to a busy machine
        train_loop(net, opt, batches, loss_fn, epochs=config.epochs,
                   forward=lambda x: net(x, dt_s), after_step=[net.project_], on_batch=count_correct,
                   on_epoch_end=log_epoch)
    return net, config


def torch_agreement(net, spikes: np.ndarray, labels: np.ndarray, dt_s: float, brian2: dict, *,
                    batch_size: int = 128) -> dict:
    """The torch step against Brian2 on the same inputs at ``dt_s`` (the training step).

    ``brian2`` is what :func:`~pinglab_bio.train.loop.evaluate_brian2` returned for these inputs.
    Runs the trained weights in torch as trained (float32) and in float64 (Brian2's precision);
    returns the float32 accuracy, the share of trials whose prediction matches Brian2's in each
    precision, and the share of trials whose hidden spikes are identical to Brian2's (float64).
    """
    import copy

    import torch

    from ..networks import predict

    out = {}
    for label, dtype in (("float32", torch.float32), ("float64", torch.float64)):
        model = copy.deepcopy(net).to(dtype)
        preds, same = [], []
        with torch.no_grad():
            for start in range(0, len(labels), batch_size):
                x = torch.as_tensor(spikes[start:start + batch_size], dtype=dtype)
                v, hidden = model(x, dt_s)
                preds.append(predict(v))
                stop = start + x.shape[0]
                match = [np.all(h.numpy().astype(np.uint8) == brian2["spikes"][pop][start:stop], axis=(1, 2))
                         for pop, h in hidden.items()]
                same.append(np.logical_and.reduce(match))
        preds = np.concatenate(preds)
        out[label] = {"accuracy": float(np.mean(preds == labels)),
                      "agreement": float(np.mean(preds == brian2["predictions"])),
                      "spikes_identical": float(np.mean(np.concatenate(same)))}
    return {"torch_accuracy": out["float32"]["accuracy"], "agreement_float32": out["float32"]["agreement"],
            "agreement_float64": out["float64"]["agreement"],
            "spikes_identical_float64": out["float64"]["spikes_identical"]}


def gamma_of(exc_spikes: np.ndarray, dt_s: float, *, bin_s: float = 2e-3, max_trials: int = 200) -> dict:
    """Gamma peak of the E population rate: ``{"gamma_peak_hz", "gamma_prominence"}``.

    ``exc_spikes`` is ``[trials, steps, n]`` (0/1). Per trial, the population rate in bins of
    ``bin_s`` (2 ms: a whole number of steps at every dt of the default grids, Nyquist 250 Hz),
    its Welch spectrum with one Hann window (:func:`pinglab_bio.measures.welch_psd`); the
    spectra of up to ``max_trials`` trials are averaged (:func:`~pinglab_bio.measures.mean_spectrum`)
    and the peak in 5–150 Hz found with parabolic refinement
    (:func:`~pinglab_bio.measures.gamma_peak`), as REFERENCES §1 describes. No spikes, or a trial
    too short for a spectrum in 5–150 Hz: both None.
    """
    import quantities as pq

    from ...errors import PinglabError
    from ...measures import PEAK_SEARCH_BAND, gamma_peak, mean_spectrum, population_rate_flat, welch_psd

    trials, steps, n = exc_spikes.shape
    duration = steps * dt_s
    spectra = []
    for trial in range(min(trials, max_trials)):
        step, _ = np.nonzero(exc_spikes[trial])
        rate = population_rate_flat(step * dt_s * pq.s, n, bin_s * pq.s, 0 * pq.s, duration * pq.s)
        spectra.append(welch_psd(rate))
    if not spectra or not exc_spikes.any():
        return {"gamma_peak_hz": None, "gamma_prominence": None}
    freqs, mean, _ = mean_spectrum(spectra)
    try:
        peak = gamma_peak(freqs, mean)
    except PinglabError:  # a trial too short for three frequencies in 5–150 Hz: no peak to find
        return {"gamma_peak_hz": None, "gamma_prominence": None}
    low, high = PEAK_SEARCH_BAND
    if peak["peak_hz"] is None or not low <= peak["peak_hz"] <= high:
        # the largest density sits on the edge of the band and the parabola through it and its
        # neighbour outside the band points outside too: no peak inside the band
        return {"gamma_peak_hz": None, "gamma_prominence": None}
    return {"gamma_peak_hz": peak["peak_hz"], "gamma_prominence": peak["prominence"]}


def ei_locking(exc_spikes: np.ndarray, inh_spikes: np.ndarray, dt_s: float, peak_hz: float | None, *,
               max_trials: int = 200) -> dict:
    """Does I fire on the E volleys? ``{"ei_lag_ms", "ei_correlation"}``, means over trials.

    Per trial, the E and I population rates in bins of the smallest whole number of steps that is
    at least 1 ms, and their E→I lag (:func:`pinglab_bio.measures.ei_lag`: the peak of their
    normalised cross-correlation within half a period of ``peak_hz``; positive when I follows E).
    PING locks them: a correlation near 1 at a lag of a few ms. No peak or no spikes: both None.
    """
    import quantities as pq

    from ...measures import ei_lag, population_rate_flat

    if peak_hz is None or not exc_spikes.any() or not inh_spikes.any():
        return {"ei_lag_ms": None, "ei_correlation": None}
    trials, steps, _ = exc_spikes.shape
    bin_s = dt_s * int(np.ceil(1e-3 / dt_s - 1e-9))
    duration = steps * dt_s * pq.s
    lags, corr = [], []
    for trial in range(min(trials, max_trials)):
        rates = []
        for spikes in (exc_spikes[trial], inh_spikes[trial]):
            step, _ = np.nonzero(spikes)
            rates.append(population_rate_flat(step * dt_s * pq.s, spikes.shape[1], bin_s * pq.s, 0 * pq.s,
                                              duration))
        result = ei_lag(rates[0], rates[1], peak_hz)
        if np.isfinite(result["correlation"]):
            lags.append(result["lag_ms"])
            corr.append(result["correlation"])
    if not corr:
        return {"ei_lag_ms": None, "ei_correlation": None}
    return {"ei_lag_ms": float(np.mean(lags)), "ei_correlation": float(np.mean(corr))}


def summarize_rows(rows: list) -> list:
    """Per (model, dt_train, transport): accuracy at dt_train, min/max over the grid, rate ratio.

    Parameters
    ----------
    rows : list of dict
        One evaluation each: ``model``, ``dt_train_ms``, ``transport``, ``dt_ms`` (ms),
        ``accuracy``, ``hidden_rate_hz`` (Hz); optionally ``gamma_peak_hz`` (Hz), and at dt_train
        ``torch_accuracy``, ``agreement_float32``, ``agreement_float64``, ``spikes_identical_float64``.

    Returns
    -------
    list of dict
        ``accuracy_at_train``, ``accuracy_min``, ``accuracy_max``, ``dt_at_min_ms``,
        ``worst_relative`` (min/at-train), ``rate_min_hz``, ``rate_max_hz``, ``rate_ratio``
        (max/min; None when the network is silent at some dt), ``gamma_peak_hz`` (``{dt_ms: Hz}``
        where measured) with ``gamma_prominence`` (peak over the median density: near 1 means no
        rhythm), ``rates_at_train_hz`` (``{pop: Hz}`` at dt_train where the rows have ``rates_hz``)
        and the torch/Brian2 agreement at dt_train where recorded.
    """
    out = []
    for key in sorted({(r["model"], r["dt_train_ms"], r["transport"]) for r in rows}):
        sel = sorted((r for r in rows if (r["model"], r["dt_train_ms"], r["transport"]) == key),
                     key=lambda r: r["dt_ms"])
        at_rows = [r for r in sel if abs(r["dt_ms"] - key[1]) < 1e-9]
        at = at_rows[0]["accuracy"] if at_rows else None
        rates = [r["hidden_rate_hz"] for r in sel]
        low = min(rates)
        worst = min(sel, key=lambda r: r["accuracy"])
        entry = {"model": key[0], "dt_train_ms": key[1], "transport": key[2],
                 "accuracy_at_train": at,
                 "accuracy_min": worst["accuracy"], "dt_at_min_ms": worst["dt_ms"],
                 "accuracy_max": max(r["accuracy"] for r in sel),
                 "worst_relative": (worst["accuracy"] / at) if at else None,
                 "rate_min_hz": low, "rate_max_hz": max(rates),
                 "rate_ratio": (max(rates) / low) if low > 0 else None}
        gamma = {f"{r['dt_ms']:g}": r["gamma_peak_hz"] for r in sel if r.get("gamma_peak_hz") is not None}
        if gamma:
            entry["gamma_peak_hz"] = gamma
            entry["gamma_prominence"] = {f"{r['dt_ms']:g}": r.get("gamma_prominence") for r in sel
                                         if r.get("gamma_peak_hz") is not None}
        if at_rows and at_rows[0].get("rates_hz"):
            entry["rates_at_train_hz"] = dict(at_rows[0]["rates_hz"])
        for name in ("torch_accuracy", "agreement_float32", "agreement_float64", "spikes_identical_float64"):
            if at_rows and at_rows[0].get(name) is not None:
                entry[name] = at_rows[0][name]
        out.append(entry)
    return out
