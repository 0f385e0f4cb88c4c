"""Δt transfer: does a network trained at one dt keep its accuracy when Brian2 runs it at others?

Trains up to four networks at each dt_train (`--models`): `ei` (the three-layer E/I network,
hidden current-based LIF from `ei_hidden_cuba`, derived torch step), `coba` (the E and I cells
of `ping_coba` with conductance synapses, inputs onto both, no E↔I pathway), `ping` (the
recurrent E↔I layer of `ping_coba`, E→I and I→E with their delays, trained end to end by BPTT
with the gradient through the membranes damped, and with a rate term in the loss that keeps its E
and I rates near targets so that it keeps its gamma rhythm: --rate-penalty, --rate-target-exc,
--rate-target-inh; --ei-lr-scale and --ei-anchor are the alternatives measured against it) and
`baseline` (the plain discrete-time LIF `U ← βU + Ws`). It freezes the weights and evaluates them
in Brian2 over a grid of dt. Inputs reach the new dt by re-binning the training-dt spikes
(upsample: zero-pad onto a finer grid; downsample: sum into coarser bins) or by fresh Poisson
draws at the new dt (resample). Reports
accuracy at dt_train, min/max accuracy over the grid, the max/min ratio of the hidden firing
rate (≤ 2× flat, ≥ 10× collapse; REFERENCES §2), the torch/Brian2 agreement at dt_train and,
for `coba` and `ping`, the E and I rates, the gamma peak of the E (and I) population with its
prominence, and the E→I lag of the population rates at each dt (Brian2 spikes). The trained
weights are saved in the run folder (`weights_<model>_<dt_train>ms.npz`, SI units), which
benchmarks/ping_dt_ceiling.py reads to locate the Δt ceiling of `ping`.

Reduced default (minutes on 2 cores): digits, `ei,baseline`, dt_train 1 ms, 6 epochs, 200 test
samples. All four networks at both training steps (see docs/readme/training.md for its cost):
--models ei,coba,ping,baseline --dt-train-values 0.1ms,1ms
--dt-values 0.05ms,0.1ms,0.2ms,0.25ms,0.5ms,1ms,1.25ms,2ms.
"""

from __future__ import annotations

import time

import numpy as np

from pinglab_bio.runs.folder import write_json
from pinglab_bio.train.studies.dt_transfer import RHYTHM, TRANSFER_MODELS, summarize_rows
from pinglab_bio.workflow.protocol import Param, main

__all__ = ["PARAMETERS", "check", "run"]

PARAMETERS = {
    "dt_train_values": Param("1ms", "training steps (comma-separated)", kind="quantity_list", unit="s"),
    "dt_values": Param("0.05ms,0.1ms,0.2ms,0.5ms,1ms,2ms", "evaluation grid (Brian2)",
                       kind="quantity_list", unit="s"),
    "models": Param("ei,baseline", "networks (comma-separated): ei (derived CUBA E/I), coba (conductance "
                    "E/I, no recurrence), ping (recurrent E↔I, damped BPTT), baseline (U ← βU + Ws)"),
    "transports": Param("rebin,resample", "input transports: rebin (upsample/downsample) and/or resample"),
    "dataset": Param("digits", "data set", kind="choice", choices=("digits", "fashion_mnist", "shd")),
    "data_dir": Param("", "folder of the Fashion-MNIST / SHD files"),
    "epochs": Param(6, "training epochs", kind="int"),
    "duration": Param("100ms", "trial length", kind="time"),
    "ei_ratio": Param(0.8, "E fraction of the hidden layer", kind="float"),
    "n_test": Param(200, "test samples evaluated in Brian2 (0: all)", kind="int"),
    "n_train": Param(0, "training samples (0: all)", kind="int"),
    "seed": Param(0, "seed of every random draw", kind="int"),
    "rate_penalty": Param(RHYTHM["rate_penalty"], "ping only, keeps its gamma rhythm: weight λ "
                          "(dimensionless) of λ·Σ((r−r*)/r*)² added to the loss, r the mean E and I rates "
                          "of a batch; 0: off",
                          kind="float"),
    "rate_target_exc": Param(f"{RHYTHM['rate_target_exc_hz']:g}Hz", "ping only: target r* of the mean E rate",
                             kind="quantity", unit="Hz"),
    "rate_target_inh": Param(f"{RHYTHM['rate_target_inh_hz']:g}Hz", "ping only: target r* of the mean I rate",
                             kind="quantity", unit="Hz"),
    "ei_lr_scale": Param(RHYTHM["ei_lr_scale"], "ping only: factor on the learning rate of the E→I and I→E "
                         "weights (1: as the input weights, 0: frozen at the model's)", kind="float"),
    "ei_anchor": Param(RHYTHM["ei_anchor"], "ping only: weight μ (dimensionless) of μ·Σ‖W−W0‖²/‖W0‖² added "
                       "to the loss, the relative change of the E→I and I→E weights from the model's; 0: off",
                       kind="float"),
}

TRANSPORT_NAMES = ("rebin", "resample")


def check(params):
    from pinglab_bio.errors import SettingsError

    for key, allowed in (("models", TRANSFER_MODELS), ("transports", TRANSPORT_NAMES)):
        items = [v.strip() for v in str(params[key]).split(",") if v.strip()]
        bad = [v for v in items if v not in allowed]
        if bad or not items:
            raise SettingsError(f"--{key} got {params[key]!r}. Fix: a comma-separated subset of "
                                f"{', '.join(allowed)}")
        params[key] = items
    duration = float(params["duration"])
    for dt in list(params["dt_train_values"]) + list(params["dt_values"]):
        steps = duration / float(dt)
        if abs(steps - round(steps)) > 1e-6:
            raise SettingsError(f"duration {params['duration']} is not a multiple of dt {dt}. "
                                "Fix: pick dt values that divide the duration")
    if params["epochs"] < 1:
        raise SettingsError("--epochs must be ≥ 1. Fix: e.g. --epochs 6")
    for key in ("rate_penalty", "ei_lr_scale", "ei_anchor"):
        if not params[key] >= 0:
            raise SettingsError(f"--{key.replace('_', '-')} must be ≥ 0, got {params[key]!r}. "
                                f"Fix: e.g. --{key.replace('_', '-')} {RHYTHM[key]:g}")
    for key in ("rate_target_exc", "rate_target_inh"):
        if not float(params[key]) > 0:
            raise SettingsError(f"--{key.replace('_', '-')} must be a positive rate, got {params[key]}. "
                                f"Fix: e.g. --{key.replace('_', '-')} {RHYTHM[key + '_hz']:g}Hz")


def run(params, out, log=print):
    from pinglab_bio.data.datasets import load_dataset
    from pinglab_bio.data.transport import move_spikes
    from pinglab_bio.train.loop import encode_split, evaluate_brian2, format_eta
    from pinglab_bio.train.studies.dt_transfer import (
        ei_locking,
        gamma_of,
        torch_agreement,
        train_transfer_network,
    )

    started = time.perf_counter()
    data = load_dataset(params["dataset"], data_dir=params["data_dir"] or None, seed=params["seed"])
    if params["n_train"]:
        data.x_train, data.y_train = data.x_train[:params["n_train"]], data.y_train[:params["n_train"]]
    n_test = params["n_test"] or len(data.y_test)
    x_test, y_test = data.x_test[:n_test], data.y_test[:n_test]
    duration = float(params["duration"])
    grid = sorted(float(dt) for dt in params["dt_values"])
    dt_trains = sorted(float(dt) for dt in params["dt_train_values"])
    n_evals = sum(len(set(grid) | {dt_train}) for dt_train in dt_trains) * len(params["transports"]) \
        * len(params["models"])
    rows, eval_walls, networks = [], [], []
    rhythm = {"rate_penalty": params["rate_penalty"], "rate_target_exc_hz": float(params["rate_target_exc"]),
              "rate_target_inh_hz": float(params["rate_target_inh"]), "ei_lr_scale": params["ei_lr_scale"],
              "ei_anchor": params["ei_anchor"]}
    for dt_train in dt_trains:
        for kind in params["models"]:
            t0 = time.perf_counter()
            net, config = train_transfer_network(kind, dt_train, data, epochs=params["epochs"],
                                                 duration_s=duration, ei_ratio=params["ei_ratio"],
                                                 seed=params["seed"], dataset_name=params["dataset"], log=log,
                                                 rhythm=rhythm)
            train_s = time.perf_counter() - t0
            weights_file = f"weights_{kind}_{dt_train * 1e3:g}ms.npz"  # the trained weights, SI units
            np.savez(out / weights_file, **net.numpy_weights())
            networks.append({"model": kind, "dt_train_ms": dt_train * 1e3, "weights": weights_file,
                             "ei_ratio": params["ei_ratio"], "seed": params["seed"], "train_s": train_s})
            base = encode_split(config, x_test, (params["seed"], 1_000_003), dt_s=dt_train,
                                steps=int(round(duration / dt_train)))
            at_train, agreement = None, {}
            for transport in params["transports"]:
                for dt in sorted(set(grid) | {dt_train}):
                    steps = int(round(duration / dt))
                    if transport == "rebin":
                        spikes = move_spikes(base, dt_train, dt)
                        how = "same" if dt == dt_train else ("upsample" if dt < dt_train else "downsample")
                    else:
                        spikes = base if dt == dt_train else encode_split(
                            config, x_test, (params["seed"], 1_000_003, int(round(dt * 1e7))), dt_s=dt,
                            steps=steps)
                        how = "same" if dt == dt_train else "resample"
                    t1 = time.perf_counter()
                    if how == "same" and at_train is not None:
                        result = at_train  # the same inputs at the same dt: the same Brian2 run
                    else:
                        result = evaluate_brian2(net, spikes, y_test, dt)
                    row = {"model": kind, "dt_train_ms": dt_train * 1e3, "transport": transport,
                           "how": how, "dt_ms": dt * 1e3, "accuracy": result["accuracy"],
                           "hidden_rate_hz": result["hidden_rate_hz"],
                           "rates_hz": result["rates_hz"], "gamma_peak_hz": None, "gamma_prominence": None}
                    if kind in ("coba", "ping"):
                        row.update(gamma_of(result["spikes"]["exc"], dt))
                        inh = gamma_of(result["spikes"]["inh"], dt)  # I on the E volleys: the same peak
                        row.update({"gamma_peak_inh_hz": inh["gamma_peak_hz"],
                                    "gamma_prominence_inh": inh["gamma_prominence"]})
                        if kind == "ping":  # coba has no E↔I pathway: no E→I lag to speak of
                            row.update(ei_locking(result["spikes"]["exc"], result["spikes"]["inh"], dt,
                                                  row["gamma_peak_hz"]))
                    if how == "same":
                        if at_train is None:
                            at_train = result
                            agreement = torch_agreement(net, spikes, y_test, dt, result)
                        row.update(agreement)
                    row.update({"eval_s": time.perf_counter() - t1, "train_s": train_s})
                    rows.append(row)
                    eval_walls.append(row["eval_s"])
                    left = (n_evals - len(rows)) * float(sum(eval_walls) / len(eval_walls))
                    lag = (f", E→I lag {row['ei_lag_ms']:.1f} ms at correlation {row['ei_correlation']:.2f}"
                           if row.get("ei_lag_ms") is not None else "")
                    inh_peak = row.get("gamma_peak_inh_hz")
                    gamma = (f", gamma {row['gamma_peak_hz']:.1f} Hz (prominence "
                             f"{row['gamma_prominence']:.1f}; I "
                             f"{'none' if inh_peak is None else f'{inh_peak:.1f} Hz'}{lag})"
                             if row["gamma_peak_hz"] is not None else "")
                    pops = ", ".join(f"{pop} {hz:.1f} Hz" for pop, hz in result["rates_hz"].items())
                    log(f"  [{len(rows)}/{n_evals}] {kind} dt_train {dt_train * 1e3:g} ms → "
                        f"dt {dt * 1e3:g} ms ({how}): accuracy {result['accuracy']:.3f}, "
                        f"hidden {result['hidden_rate_hz']:.1f} Hz ({pops}){gamma} "
                        f"(evaluations left: about {format_eta(left)})")
                    if how == "same" and agreement:
                        log(f"    torch at dt_train: accuracy {agreement['torch_accuracy']:.3f}; "
                            f"same prediction as Brian2 on {agreement['agreement_float32']:.3f} (float32), "
                            f"{agreement['agreement_float64']:.3f} (float64); identical hidden spikes on "
                            f"{agreement['spikes_identical_float64']:.3f} of the trials (float64)")
    summary = summarize_rows(rows)
    write_json(out / "results.json", {"rows": rows, "n_test": int(n_test), "dataset": params["dataset"],
                                      "rhythm": rhythm, "networks": networks,
                                      "duration_ms": duration * 1e3})
    write_json(out / "metrics.json", {"summary": summary, "wall_time_s": time.perf_counter() - started})
    lines = ["model     dt_train  transport  acc@train  min    max    rate max/min  torch=Brian2 (float64)"]
    for s in summary:
        ratio = f"{s['rate_ratio']:.1f}×" if s["rate_ratio"] is not None else "silent at some dt"
        agree = f"{s['agreement_float64']:.3f}" if "agreement_float64" in s else "-"
        lines.append(f"{s['model']:<9} {s['dt_train_ms']:>5g} ms  {s['transport']:<9}  "
                     f"{s['accuracy_at_train']:.3f}      {s['accuracy_min']:.3f}  {s['accuracy_max']:.3f}  "
                     f"{ratio:<12}  {agree}")
        if s.get("gamma_peak_hz"):
            lines.append("    gamma peak (Hz, prominence) by dt (ms): " + ", ".join(
                f"{dt}: {hz:.1f} ({s['gamma_prominence'][dt]:.1f})" for dt, hz in s["gamma_peak_hz"].items()))
        if s.get("rates_at_train_hz"):
            lines.append("    rates at dt_train: " + ", ".join(
                f"{pop} {hz:.1f} Hz" for pop, hz in s["rates_at_train_hz"].items()))
    return {"summary": "\n".join(lines), "metrics": {"summary": summary}}


if __name__ == "__main__":
    raise SystemExit(main(__file__))
