"""Reservoir readouts: how well can readouts fitted from the exported state of a real PING network
classify its input, and do they keep their answers when put back into Brian2 as synapses?

A catalogue model runs unchanged (default `ping_coba`: 800 E / 200 I, tonic + OU drive with
independent noise per neuron and trial, delays, refractoriness), driven by an encoded data set
through an input block (the model's `[input]` table or the --input-* flags), chunks of trials
side by side in one Brian2 network. The state chosen by name (--state: window counts, filtered
traces, any model variable sampled at the end of each window) is exported into the run folder
(state.h5, read back as neo Blocks) and readouts are fitted from it (--readout: ridge, logistic,
leaky, spiking; Dale-constrained or free). Every readout then becomes synapses onto readout
neurons in the same Brian2 network, which runs the test set again. With --eval-dt and
--eval-devices the reservoir and its readouts also run at other dt and devices; the E/I rates
and the gamma peak during the stimulus are reported beside a run without input.

Examples:
  pinglab-bio run reservoir --dataset digits
  pinglab-bio run reservoir --model my_model.toml --state v,g_i --readout ridge,leaky,spiking
  pinglab-bio run reservoir --eval-dt 0.05ms,0.2ms,0.25ms,0.5ms --eval-devices cpp_standalone
"""

from __future__ import annotations

from pinglab_bio.workflow.protocol import Param, main

__all__ = ["PARAMETERS", "check", "run", "config_of"]

PARAMETERS = {
    "model": Param("ping_coba", "catalogue name or path of a model .toml (the reservoir)", kind="model"),
    "dataset": Param("digits", "data set", kind="choice", choices=("digits", "fashion_mnist", "shd")),
    "data_dir": Param("", "folder of the Fashion-MNIST / SHD files"),
    "state": Param(
        "counts",
        "exported state(s) the linear readouts use: counts, trace or model variables "
        "(v, g_e, g_i, ...), comma-separated",
    ),
    "readout": Param("ridge,logistic,leaky", "readouts: ridge, logistic, leaky, spiking (comma-separated)"),
    "constraint": Param(
        "dale",
        "readout weights: dale (from E ≥ 0, from I ≤ 0) or free",
        kind="choice",
        choices=("dale", "free"),
    ),
    "encoder": Param("poisson", "input spike code", kind="choice", choices=("poisson", "latency")),
    "max_rate": Param(200.0, "Poisson rate of a full-intensity pixel (Hz)", kind="float"),
    "input_targets": Param(
        "",
        "populations the inputs drive, comma-separated (default: the model's "
        "[input] table, else its first population)",
    ),
    "input_weight": Param("", "weight of an input synapse, e.g. 20nS (default: [input] table, else 60 nS)"),
    "input_p": Param("", "connection probability of the inputs (default: [input] table, else 0.2)"),
    "input_in_degree": Param("", "input channels per target neuron (instead of --input-p)"),
    "input_delay": Param("", "input delay, e.g. 1ms (default: [input] table, else 1 ms)"),
    "dt": Param("0.1 ms", "integration step (fit and first evaluation)", kind="time"),
    "duration": Param("100 ms", "stimulus length per trial", kind="time"),
    "window": Param("10 ms", "readout window: counts per window, samples at each window's end", kind="time"),
    "tau_trace": Param("20 ms", "time constant of the filtered spike traces (state 'trace')", kind="time"),
    "epochs": Param(10, "epochs of the leaky and spiking readouts", kind="int"),
    "lr": Param("", "Adam learning rate of the leaky and spiking readouts (empty: 1e-2)"),
    "batch_size": Param(64, "trials per step of the leaky and spiking readouts", kind="int"),
    "leaky_pool": Param(
        "last",
        "score of a leaky readout: its membrane at the end of the trial, its mean over the trial, "
        "or its maximum over time (which can stall training)",
        kind="choice",
        choices=("last", "mean", "max"),
    ),
    "chunk": Param(60, "trials simulated side by side in one Brian2 network", kind="int"),
    "n_train": Param(0, "training trials (0: the whole split)", kind="int"),
    "n_test": Param(0, "test trials (0: the whole split)", kind="int"),
    "eval_dt": Param("", "further dt values to run the fitted readouts at, e.g. 0.05ms,0.25ms,0.5ms"),
    "eval_devices": Param("", "further Brian2 devices for the fitted readouts, e.g. cpp_standalone"),
    "spontaneous_trials": Param(20, "trials without input, for the rhythm without stimulus", kind="int"),
    "seed": Param(0, "seed of every random draw", kind="int"),
}


def _ms(value) -> float:
    return float(value) * 1e3


def _optional(params, key, cast):
    from pinglab_bio.errors import SettingsError

    text = str(params[key]).strip()
    if not text:
        return None
    try:
        return cast(text)
    except ValueError:
        raise SettingsError(
            f"--{key.replace('_', '-')} got {text!r}. Fix: see `pinglab-bio run reservoir --help`"
        ) from None


def config_of(params):
    """The :class:`~pinglab_bio.train.reservoir.ReservoirConfig` of parsed protocol parameters."""
    from pinglab_bio.errors import SettingsError
    from pinglab_bio.train.reservoir import ReservoirConfig
    from pinglab_bio.units import parse_quantity

    eval_dt = []
    for text in (v for v in str(params["eval_dt"]).split(",") if v.strip()):
        try:
            q = parse_quantity(text)
        except ValueError as err:
            raise SettingsError(f"--eval-dt: {err}. Fix: e.g. --eval-dt 0.05ms,0.25ms") from None
        if getattr(q, "dim", None) != parse_quantity("1 s").dim or not float(q) > 0:
            raise SettingsError(
                f"--eval-dt {text!r} is not a positive time. Fix: e.g. --eval-dt 0.05ms,0.25ms"
            )
        eval_dt.append(_ms(q))
    devices = [v.strip() for v in str(params["eval_devices"]).split(",") if v.strip()]
    if devices:
        from pinglab_bio.sim.devices import DEVICES, check_device

        for dev in devices:
            if dev not in DEVICES:
                raise SettingsError(
                    f"--eval-devices: unknown device {dev!r}. Fix: use one of {', '.join(DEVICES)}"
                )
            check_device(dev, "numpy", None)
    lr = _optional(params, "lr", float)
    if lr is not None and not lr > 0:
        raise SettingsError(f"--lr {lr:g} is not a positive learning rate. Fix: e.g. --lr 1e-2")
    targets = _optional(
        params, "input_targets", lambda t: tuple(v.strip() for v in t.split(",") if v.strip())
    )
    return ReservoirConfig(
        model=params["model"],
        overrides=tuple(params.get("overrides", {}).items()),
        encoder=params["encoder"],
        max_rate_hz=params["max_rate"],
        input_targets=targets,
        input_weight=_optional(params, "input_weight", str),
        input_p=_optional(params, "input_p", float),
        input_in_degree=_optional(params, "input_in_degree", int),
        input_delay=_optional(params, "input_delay", str),
        dt_ms=_ms(params["dt"]),
        duration_ms=_ms(params["duration"]),
        window_ms=_ms(params["window"]),
        tau_trace_ms=_ms(params["tau_trace"]),
        states=tuple(v.strip() for v in str(params["state"]).split(",") if v.strip()),
        readouts=tuple(v.strip() for v in str(params["readout"]).split(",") if v.strip()),
        dale=params["constraint"] == "dale",
        epochs=params["epochs"],
        lr=lr,
        batch_size=params["batch_size"],
        leaky_pool=params["leaky_pool"],
        chunk=params["chunk"],
        n_train=params["n_train"],
        n_test=params["n_test"],
        seed=params["seed"],
        eval_dt_ms=tuple(eval_dt),
        eval_devices=tuple(devices),
        spontaneous_trials=params["spontaneous_trials"],
    )


def check(params):
    from pinglab_bio.data.datasets import load_dataset
    from pinglab_bio.train.reservoir import load_reservoir_setup
    from pinglab_bio.workflow.protocol import require_torch

    config = config_of(params)
    require_torch()
    data = load_dataset(params["dataset"], data_dir=params["data_dir"] or None, seed=params["seed"])
    load_reservoir_setup(config, data.n_inputs)  # every name and the input block, before any folder


def run(params, out, log=print):
    from pinglab_bio.data.datasets import load_dataset
    from pinglab_bio.runs.folder import write_json
    from pinglab_bio.train.reservoir import run_reservoir, save_readouts
    from pinglab_bio.train.reservoir_state import write_state
    from pinglab_bio.workflow.analysis import write_protocol_report

    config = config_of(params)
    data = load_dataset(params["dataset"], data_dir=params["data_dir"] or None, seed=params["seed"])
    result = run_reservoir(config, data, log=log)
    write_state(out, result["states"], tau_trace_s=config.tau_trace_ms * 1e-3)
    save_readouts(out, result["readouts"])
    write_json(out / "results.json", {**result["results"], "dataset": params["dataset"]})
    write_json(out / "metrics.json", result["metrics"])
    write_protocol_report("reservoir", out)  # the report `pinglab-bio analyze` writes, in the folder
    lines = ["readout    fitted   Brian2   identical"]
    for row in result["results"]["readouts"]:
        lines.append(
            f"{row['readout']:<10} {row['accuracy_fitted']:.4f}   {row['accuracy_brian2']:.4f}   "
            f"{100 * row['agreement']:.1f} %"
        )
    b = result["results"]["baselines"]
    lines.append(
        f"baselines: logistic on pixels {b['logistic_pixels']:.4f}, on input counts "
        f"{b['logistic_input_counts']:.4f}"
    )
    m = result["metrics"]
    rates = ", ".join(
        f"{k[5:-3]} {v:.1f} Hz" for k, v in m.items() if k.startswith("rate_") and k.endswith("_hz")
    )
    gamma = m.get("gamma_peak_hz")
    lines.append(
        f"during the stimulus: {rates}; gamma peak " + (f"{gamma:.1f} Hz" if gamma is not None else "none")
    )
    return {"summary": "\n".join(lines), "metrics": m}


if __name__ == "__main__":
    raise SystemExit(main(__file__))
