"""Reservoir mode: readouts fitted from the exported state of a catalogue model run in Brian2.

1. The model file runs unchanged (``ping_coba``: 800 E / 200 I, tonic + Ornstein–Uhlenbeck
   drive with independent noise per neuron and trial, delays, refractoriness), driven by an
   encoded data set through an input block (:class:`~pinglab_bio.model.spec.InputSpec`: the
   model file's ``[input]`` table, overridden by settings), chunks of trials side by side in one
   Brian2 network (:mod:`pinglab_bio.train.reservoir_state`).
2. The state is exported by name (window counts, filtered traces, any model variable sampled
   at the end of each window) and readouts are fitted from it
   (:mod:`pinglab_bio.train.readouts`: ridge, logistic, leaky, spiking; Dale or free).
3. Every readout goes back into Brian2 as synapses onto readout neurons in the same network,
   which runs the test set again; its accuracy and predictions are compared with the fitted ones.
4. Optionally the reservoir and its readouts run at other dt and on other devices.

:func:`run_reservoir` does all of it and returns the numbers and arrays a run folder keeps;
:func:`train_reservoir` is the short form that ``pinglab-bio train reservoir`` uses.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import PinglabError, SettingsError

__all__ = [
    "DEFAULT_INPUT",
    "ReservoirConfig",
    "run_reservoir",
    "train_reservoir",
    "input_block",
    "rhythm",
    "save_readouts",
    "load_reservoir_setup",
]


#: input settings used where neither the model's ``[input]`` table nor a setting gives one:
#: 60 nS per input synapse (at 2–20 nS the tonic drive and the OU noise swamp the digits;
#: measured in docs/readme/reservoir.md)
DEFAULT_INPUT = {"weight": "60 nS"}


@dataclass
class ReservoirConfig:
    """Settings of a reservoir run. Times in ms, rates in Hz; ``input_weight`` and
    ``input_delay`` are quantity texts (``"2 nS"``); ``overrides`` are ``--set`` pairs.

    Input fields left None come from the model file's ``[input]`` table, else the defaults of
    :func:`pinglab_bio.model.spec.input_spec`. ``n_exc``/``n_inh`` resize the model (None: as in
    the file). ``n_train``/``n_test`` 0 take the whole split.
    """

    model: str = "ping_coba"
    overrides: tuple = ()
    n_exc: int | None = None
    n_inh: int | None = None
    encoder: str = "poisson"
    max_rate_hz: float = 200.0
    input_targets: tuple | None = None
    input_weight: str | None = None
    input_p: float | None = None
    input_in_degree: int | None = None
    input_delay: str | None = None
    dt_ms: float = 0.1
    duration_ms: float = 100.0
    window_ms: float = 10.0
    tau_trace_ms: float = 20.0
    states: tuple = ("counts",)
    readouts: tuple = ("ridge", "logistic")
    dale: bool = True
    epochs: int = 10
    lr: float | None = None  # None: the readouts' own default (readouts.LEARNING_RATE)
    leaky_pool: str = "last"  # how a leaky readout's membrane becomes its score (readouts.POOLS)
    batch_size: int = 64
    chunk: int = 60
    n_train: int = 0
    n_test: int = 0
    seed: int = 0
    eval_dt_ms: tuple = ()
    eval_devices: tuple = ()
    spontaneous_trials: int = 20
    rhythm_trials: int = 100

    @property
    def dt_s(self) -> float:
        return self.dt_ms * 1e-3

    @property
    def steps(self) -> int:
        return int(round(self.duration_ms / self.dt_ms))

    @property
    def window_steps(self) -> int:
        return int(round(self.window_ms / self.dt_ms))


def _whole(a: float, b: float) -> bool:
    ratio = a / b
    return abs(ratio - round(ratio)) < 1e-6 and round(ratio) >= 1


def input_block(spec, config: ReservoirConfig):
    """The :class:`~pinglab_bio.model.spec.InputSpec`: the file's ``[input]`` table, overridden by
    the settings that are not None; SettingsError naming the flag for a bad value."""
    from ..model.spec import input_spec

    table = {**DEFAULT_INPUT, **spec.raw.get("input", {})}
    for key, value in (
        ("targets", config.input_targets),
        ("weight", config.input_weight),
        ("delay", config.input_delay),
    ):
        if value is not None:
            table[key] = list(value) if key == "targets" else value
    if config.input_p is not None or config.input_in_degree is not None:
        table.pop("p", None)
        table.pop("in_degree", None)
        if config.input_p is not None:
            table["p"] = config.input_p
        if config.input_in_degree is not None:
            table["in_degree"] = config.input_in_degree
    return input_spec(
        spec.populations, table, "input block (--input-* flags or the model's [input])", error=SettingsError
    )


def _check(config: ReservoirConfig):
    if config.encoder not in ("poisson", "latency"):
        raise SettingsError(
            f"--encoder must be poisson or latency, got {config.encoder!r}. Fix: --encoder poisson"
        )
    for name, value in (
        ("dt", config.dt_ms),
        ("duration", config.duration_ms),
        ("window", config.window_ms),
        ("tau-trace", config.tau_trace_ms),
    ):
        if not value > 0:
            raise SettingsError(f"--{name} must be positive, got {value:g} ms. Fix: e.g. --{name} 10ms")
    if not _whole(config.window_ms, config.dt_ms) or not _whole(config.duration_ms, config.window_ms):
        raise SettingsError(
            f"--window {config.window_ms:g} ms must be a multiple of --dt {config.dt_ms:g} ms and "
            f"divide --duration {config.duration_ms:g} ms. Fix: e.g. --window 10ms"
        )
    for dt in config.eval_dt_ms:
        if not _whole(config.window_ms, dt):
            raise SettingsError(
                f"--eval-dt {dt:g} ms does not divide the window {config.window_ms:g} ms. Fix: "
                "pick dt values such as 0.05ms,0.1ms,0.2ms,0.25ms,0.5ms"
            )
    from .readouts import POOLS

    if config.leaky_pool not in POOLS:
        raise SettingsError(
            f"--leaky-pool must be one of {', '.join(POOLS)}, got {config.leaky_pool!r}. "
            "Fix: --leaky-pool last"
        )
    if config.epochs < 1 or config.chunk < 1 or config.batch_size < 1:
        raise SettingsError("--epochs, --chunk and --batch-size must be ≥ 1. Fix: e.g. --epochs 10")


def load_reservoir_setup(config: ReservoirConfig, n_inputs: int):
    """Model, input block, network, states and readouts of ``config``, all checked (nothing runs)."""
    from ..model.spec import load_model
    from .readouts import check_readouts
    from .reservoir_state import check_states, reservoir_network

    _check(config)
    overrides = dict(config.overrides)
    for key, value in (("n_exc", config.n_exc), ("n_inh", config.n_inh)):
        if value is not None:
            overrides[key] = value
    spec = load_model(config.model, overrides)
    inputs = input_block(spec, config)
    network = reservoir_network(spec, inputs, n_inputs, seed=config.seed)
    states = check_states(network, config.states)
    readouts = check_readouts(config.readouts)
    return spec, inputs, network, states, readouts


def rhythm(state, *, max_trials: int = 100) -> dict:
    """E/I rates and the gamma peak of each population's rate during the stimulus.

    Welch spectrum (one Hann window per trial, :func:`pinglab_bio.measures.welch_psd`) of the
    population rate in bins of about 1 ms, averaged over up to ``max_trials`` trials
    (:func:`~pinglab_bio.measures.mean_spectrum`); peak by :func:`~pinglab_bio.measures.gamma_peak`.
    """
    import quantities as pq

    from ..measures import gamma_peak, mean_spectrum, population_rate_flat, rate_bin_size, welch_psd

    out = {"rates_hz": state.rates_hz(), "gamma": {}, "psd": {}}
    dt = state.dt_s * pq.s
    bin_size = rate_bin_size(dt)
    t_stop = state.steps * dt
    n_trials = min(state.n_trials, max_trials)
    for pop, (trial, step, _neuron) in state.spikes.items():
        spectra = []
        for b in range(n_trials):
            times = step[trial == b] * state.dt_s * pq.s
            sig = population_rate_flat(times, state.sizes[pop], bin_size, 0 * pq.s, t_stop)
            spectra.append(welch_psd(sig))
        try:
            freqs, mean, _sem = mean_spectrum(spectra)
            peak = gamma_peak(freqs, mean)
        except PinglabError as err:  # a trial too short for a spectrum: no peak, and why
            out["gamma"][pop] = {"peak_hz": None, "power_share": None, "reason": str(err)}
            continue
        out["gamma"][pop] = {
            k: (None if v is None else (bool(v) if isinstance(v, (bool, np.bool_)) else float(v)))
            for k, v in peak.items()
            if k in ("peak_hz", "power_share", "in_band", "prominence")
        }
        out["psd"][pop] = {
            "freqs_hz": np.asarray(freqs.rescale(pq.Hz)).tolist(),
            "psd": np.asarray(mean.magnitude).tolist(),
            "unit": str(mean.dimensionality),
        }
    return out


def _predictions(readout, state, tau_s) -> np.ndarray:
    from .readouts import LinearReadout, torch_predictions

    if isinstance(readout, LinearReadout):
        return np.argmax(readout.scores(state, tau_trace_s=tau_s), axis=1)
    return torch_predictions(readout, state)


def _brian2_predictions(readouts: dict, state) -> dict:
    from .readouts import leaky_prediction, spiking_prediction

    out = {}
    for name, readout in readouts.items():
        if name in state.readouts:
            out[name] = np.argmax(state.readouts[name], axis=1)
        elif getattr(readout, "kind", "") == "spiking":
            trial, step, neuron = state.readout_spikes[name]
            dense = np.zeros((state.n_trials, state.steps, next(iter(readout.weights.values())).shape[1]))
            dense[trial, step, neuron] = 1
            out[name] = spiking_prediction(dense)
        else:
            out[name] = leaky_prediction(state.readout_traces[name], readout.pool)
    return out


def _confusion(y, pred, n_classes) -> list:
    m = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(m, (np.asarray(y), np.asarray(pred)), 1)
    return m.tolist()


def run_reservoir(config: ReservoirConfig, dataset, *, log=None) -> dict:
    """Simulate, export, fit, put back into Brian2 and evaluate; return results and arrays.

    Returns
    -------
    dict
        ``metrics`` (flat numbers), ``results`` (rows for the report: readouts, baselines, dt and
        device evaluation, rhythm, confusion matrices), ``states`` (``{"train", "test"}``
        :class:`~pinglab_bio.train.reservoir_state.ReservoirState`), ``readouts`` (fitted
        objects), ``network``.
    """
    from ..data.transport import move_spikes
    from .loop import encode_split
    from .readouts import LINEAR, fit_linear, logistic_baseline, readout_network, train_spiking_readout
    from .reservoir_state import STATE_KINDS, simulate

    log = log or (lambda *a: None)
    started = time.perf_counter()
    n_in, n_classes = dataset.n_inputs, dataset.n_classes
    spec, inputs, network, states, readout_names = load_reservoir_setup(config, n_in)
    n_train = config.n_train or len(dataset.y_train)
    n_test = config.n_test or len(dataset.y_test)
    x_train, y_train = dataset.x_train[:n_train], np.asarray(dataset.y_train[:n_train])
    x_test, y_test = dataset.x_test[:n_test], np.asarray(dataset.y_test[:n_test])
    variables = [s for s in states if s not in STATE_KINDS]
    dt_s, tau_s, window_s = config.dt_s, config.tau_trace_ms * 1e-3, config.window_ms * 1e-3
    s_train = encode_split(config, x_train, (config.seed, 11))
    s_test = encode_split(config, x_test, (config.seed, 12))
    log(
        f"reservoir: model {spec.name} ({', '.join(f'{p} {n}' for p, n in network.sizes.items())}), inputs "
        f"{n_in} channels → {', '.join(inputs.targets)} ({inputs.weight}, "
        f"{'p ' + format(inputs.p, 'g') if inputs.p is not None else 'in-degree ' + str(inputs.in_degree)}), "
        f"dt {config.dt_ms:g} ms, {config.duration_ms:g} ms per trial, {n_train} + {n_test} trials"
    )
    common = {"window_steps": config.window_steps, "variables": variables, "chunk": config.chunk, "log": log}
    t0 = time.perf_counter()
    st_train = simulate(network, s_train, dt_s, split="train", labels=y_train, **common)
    st_test = simulate(network, s_test, dt_s, split="test", labels=y_test, **common)
    sim_s = time.perf_counter() - t0
    rates = st_test.rates_hz()
    log(
        "reservoir state exported: "
        + ", ".join(f"{p} {r:.1f} Hz" for p, r in rates.items())
        + f" ({sim_s:.0f} s in Brian2)"
    )
    fitted, fit_s = {}, {}
    for kind in readout_names:
        t1 = time.perf_counter()
        log(f"  fitting {kind} readout ({'Dale' if config.dale else 'free'})")
        if kind in LINEAR:
            fitted[kind] = fit_linear(
                kind,
                st_train,
                y_train,
                states,
                network.signs,
                n_classes=n_classes,
                dale=config.dale,
                tau_trace_s=tau_s,
                seed=config.seed,
                log=log,
            )
        else:
            fitted[kind] = train_spiking_readout(
                kind,
                st_train,
                y_train,
                network.signs,
                n_classes=n_classes,
                dale=config.dale,
                epochs=config.epochs,
                lr=config.lr,
                batch_size=config.batch_size,
                pool=config.leaky_pool,
                seed=config.seed,
                log=log,
            )
        fit_s[kind] = time.perf_counter() - t1
        log(f"  {kind} readout fitted in {fit_s[kind]:.0f} s")
    fitted_pred = {k: _predictions(r, st_test, tau_s) for k, r in fitted.items()}
    train_acc = {k: float(np.mean(_predictions(r, st_train, tau_s) == y_train)) for k, r in fitted.items()}

    def evaluate(dt_eval_s, device, spikes_in):
        units = {var: _brian2_unit(st_test.unit(var)) for var in variables}
        net_r = readout_network(
            fitted,
            sizes=network.sizes,
            n_classes=n_classes,
            dt_s=dt_eval_s,
            window_s=window_s,
            tau_trace_s=tau_s,
            variable_units=units,
        )
        t2 = time.perf_counter()
        st = simulate(
            network,
            spikes_in,
            dt_eval_s,
            window_steps=int(round(window_s / dt_eval_s)),
            readout=net_r,
            chunk=config.chunk,
            split="test",
            device=device,
            labels=y_test,
            log=log,
        )
        return st, _brian2_predictions(fitted, st), time.perf_counter() - t2

    log("readouts back in Brian2: running the test set again")
    st_back, b2_pred, check_s = evaluate(dt_s, "runtime", s_test)
    log(f"  readouts ran in Brian2 in {check_s:.0f} s")
    same_hidden = all(
        all(np.array_equal(a, b) for a, b in zip(st_back.spikes[p], st_test.spikes[p], strict=True))
        for p in network.hidden
    )
    rows = []
    for kind in readout_names:
        acc_fit = float(np.mean(fitted_pred[kind] == y_test))
        acc_b2 = float(np.mean(b2_pred[kind] == y_test))
        rows.append(
            {
                "readout": kind,
                "dale": config.dale,
                "states": "spikes" if kind not in LINEAR else ",".join(states),
                "train_accuracy": train_acc[kind],
                "accuracy_fitted": acc_fit,
                "accuracy_brian2": acc_b2,
                "agreement": float(np.mean(fitted_pred[kind] == b2_pred[kind])),
                "fit_s": fit_s[kind],
                **{f"hyper_{k}": v for k, v in getattr(fitted[kind], "hyper", {}).items()},
            }
        )
        log(
            f"  {kind}: {acc_fit:.4f} fitted, {acc_b2:.4f} in Brian2, "
            f"{100 * rows[-1]['agreement']:.1f} % identical "
            "predictions"
        )
    t3 = time.perf_counter()
    input_counts_train, input_counts_test = s_train.sum(axis=1), s_test.sum(axis=1)
    baselines = {
        "logistic_pixels": logistic_baseline(x_train, y_train, x_test, y_test),
        "logistic_input_counts": logistic_baseline(input_counts_train, y_train, input_counts_test, y_test),
    }
    baselines_s = time.perf_counter() - t3
    log(
        f"  baselines: logistic on pixels {baselines['logistic_pixels']:.4f}, on input counts "
        f"{baselines['logistic_input_counts']:.4f} ({baselines_s:.0f} s)"
    )
    t4 = time.perf_counter()
    rhythm_stim = rhythm(st_test, max_trials=config.rhythm_trials)
    rhythm_rows = [
        {"condition": "stimulus", "dt_ms": config.dt_ms, "device": "runtime", **_rhythm_row(rhythm_stim)}
    ]
    psd = {"stimulus": rhythm_stim["psd"]}
    if config.spontaneous_trials:
        quiet = np.zeros((config.spontaneous_trials, config.steps, n_in), dtype=np.uint8)
        st_quiet = simulate(network, quiet, dt_s, split="spontaneous", **common)
        rhythm_quiet = rhythm(st_quiet, max_trials=config.rhythm_trials)
        rhythm_rows.append(
            {"condition": "no input", "dt_ms": config.dt_ms, "device": "runtime", **_rhythm_row(rhythm_quiet)}
        )
        psd["no input"] = rhythm_quiet["psd"]
    rhythm_s = time.perf_counter() - t4
    eval_rows = [
        {
            "dt_ms": config.dt_ms,
            "device": "runtime",
            "readout": k,
            "accuracy": float(np.mean(b2_pred[k] == y_test)),
            "agreement_with_fitted": float(np.mean(b2_pred[k] == fitted_pred[k])),
            "wall_s": check_s,
            **_rhythm_row(rhythm_stim),
        }
        for k in readout_names
    ]
    grid = [(dt, "runtime") for dt in config.eval_dt_ms if abs(dt - config.dt_ms) > 1e-12]
    grid += [(config.dt_ms, dev) for dev in config.eval_devices if dev != "runtime"]
    for dt_ms, device in grid:
        dt_e = dt_ms * 1e-3
        log(f"evaluating at dt {dt_ms:g} ms on {device}")
        spikes_in = move_spikes(s_test, dt_s, dt_e) if abs(dt_e - dt_s) > 1e-15 else s_test
        st_e, pred_e, wall_e = evaluate(dt_e, device, spikes_in)
        rh = rhythm(st_e, max_trials=config.rhythm_trials)
        rhythm_rows.append({"condition": "stimulus", "dt_ms": dt_ms, "device": device, **_rhythm_row(rh)})
        for k in readout_names:
            eval_rows.append(
                {
                    "dt_ms": dt_ms,
                    "device": device,
                    "readout": k,
                    "accuracy": float(np.mean(pred_e[k] == y_test)),
                    "agreement_with_fitted": float(np.mean(pred_e[k] == fitted_pred[k])),
                    "wall_s": wall_e,
                    **_rhythm_row(rh),
                }
            )
            log(f"  {k}: accuracy {eval_rows[-1]['accuracy']:.4f} at dt {dt_ms:g} ms ({device})")
    grid_s = sum(r["wall_s"] for r in eval_rows[len(readout_names) :: len(readout_names)])
    wall_s = time.perf_counter() - started
    timing = {
        "simulate_s": sim_s,
        **{f"fit_{k}_s": v for k, v in fit_s.items()},
        "brian2_readouts_s": check_s,
        "baselines_s": baselines_s,
        "rhythm_s": rhythm_s,
        "other_dt_devices_s": grid_s,
        "total_s": wall_s,
    }
    log("wall time: " + ", ".join(f"{k[:-2]} {v:.0f} s" for k, v in timing.items()))
    best = max(rows, key=lambda r: r["accuracy_fitted"])
    first = rows[0]
    metrics = {
        "test_accuracy": first["accuracy_fitted"],
        "test_accuracy_brian2": first["accuracy_brian2"],
        "prediction_agreement": first["agreement"],
        "primary_readout": first["readout"],
        "best_readout": best["readout"],
        "best_accuracy": best["accuracy_fitted"],
        "hidden_spikes_identical": bool(same_hidden),
        **{f"rate_{p}_hz": r for p, r in rates.items()},
        "gamma_peak_hz": rhythm_stim["gamma"].get(network.hidden[0], {}).get("peak_hz"),
        "brian2_sim_s": sim_s,
        "brian2_check_s": check_s,
        "n_train": int(n_train),
        "n_test": int(n_test),
        "wall_time_s": wall_s,
        **{f"baseline_{k}": v for k, v in baselines.items()},
    }
    for r in rows:
        metrics[f"{r['readout']}_accuracy_fitted"] = r["accuracy_fitted"]
        metrics[f"{r['readout']}_accuracy_brian2"] = r["accuracy_brian2"]
        metrics[f"{r['readout']}_agreement"] = r["agreement"]
    results = {
        "config": asdict(config),
        "readouts": rows,
        "baselines": baselines,
        "evaluation": eval_rows,
        "rhythm": rhythm_rows,
        "psd": psd,
        "sizes": network.sizes,
        "n_classes": int(n_classes),
        "input": {
            "targets": list(inputs.targets),
            "weight": str(inputs.weight),
            "p": inputs.p,
            "in_degree": inputs.in_degree,
            "delay": str(inputs.delay),
            "on_pre": inputs.on_pre,
        },
        "confusion": {k: _confusion(y_test, fitted_pred[k], n_classes) for k in readout_names},
        "confusion_brian2": {k: _confusion(y_test, b2_pred[k], n_classes) for k in readout_names},
        "state_units": {s: st_test.unit(s) for s in states},
        "timing": timing,
        "metrics": metrics,
    }
    return {
        "metrics": metrics,
        "results": results,
        "states": {"train": st_train, "test": st_test},
        "readouts": fitted,
        "network": network,
    }


def _rhythm_row(rh) -> dict:
    row = {f"rate_{p}_hz": r for p, r in rh["rates_hz"].items()}
    for p, g in rh["gamma"].items():
        row[f"gamma_{p}_hz"] = g.get("peak_hz")
        row[f"gamma_share_{p}"] = g.get("power_share")
    return row


def _brian2_unit(name: str) -> str:
    """A unit name as exported (``"V"``, ``"S"``) → Brian2 equation text (``"volt"``, ``"siemens"``)."""
    if name in ("1", ""):
        return "1"
    from ..model.lower import unit_text
    from ..units import parse_quantity

    return unit_text(parse_quantity(f"1 {name}"))


def save_readouts(folder, readouts: dict) -> str:
    """Write every fitted readout's weights to ``readouts.safetensors`` (SI units; no code runs on load)."""
    from pathlib import Path

    from safetensors.numpy import save_file

    tensors = {}
    for name, r in readouts.items():
        for key, w in r.weights.items():
            label = key if isinstance(key, str) else ".".join(key)
            tensors[f"{name}.{label}"] = np.ascontiguousarray(w)
        if hasattr(r, "bias"):
            tensors[f"{name}.bias"] = np.ascontiguousarray(r.bias)
    save_file(tensors, str(Path(folder) / "readouts.safetensors"))
    return "readouts.safetensors"


def train_reservoir(config: ReservoirConfig, dataset, *, log=None) -> dict:
    """Run :func:`run_reservoir` and return its flat metrics (what ``pinglab-bio train reservoir`` prints)."""
    return run_reservoir(config, dataset, log=log)["metrics"]
