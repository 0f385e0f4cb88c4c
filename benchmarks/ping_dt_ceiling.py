"""Where and why a trained PING network stops transferring to coarser dt (the Δt ceiling).

Loads a ``ping`` network trained by ``pinglab-bio run dt_transfer`` (its run folder holds the
weights, ``weights_ping_<dt>ms.npz``) and runs it in Brian2 on the same test digits at each
``--dt-values`` step, as trained and with one suspected cause of the failure removed at a time:

* ``as is``: the model as trained (Brian2 counts the 1 ms E→I and I→E delays as ``1 ms / dt``
  rounded half up, and the 3 ms refractory period as ``int(3 ms / dt)`` steps);
* ``delay ≥ 1 step``: each E↔I delay that Brian2 would apply as 0 steps set to one step (``dt``);
* ``delay rounded down``: each E↔I delay set to ``floor(1 ms / dt)`` steps (0 beyond 1 ms);
* ``refractory rounded up``: the refractory period set to ``ceil(3 ms / dt)`` steps;
* ``both`` (delay ≥ 1 step and refractory rounded up), ``delay down + refractory up``.

What Brian2 does with the 1 ms delays is printed, not assumed: each row shows the delay in steps
that Brian2 applies, read back from a one-synapse network at that dt (:func:`brian2_delay_steps`).

Inputs are the training-dt Poisson trains of the test digits re-binned into the coarser step (as
the protocol's ``rebin`` transport). A dt that does not divide the trial (e.g. 1.5 ms of 100 ms)
must be a whole multiple of dt_train; it is run over the whole number of steps that fits (66
steps, 99 ms: the inputs of the last 1 ms are dropped); the trial length used is printed beside
each row. Prints, per dt and variant, the delay and refractory period in steps,
the accuracy, the E and I rates and the gamma peak of the E population (with its prominence, the
peak over the median spectral density).

    python benchmarks/ping_dt_ceiling.py RUN_FOLDER [--dt-values 1ms,1.25ms,...,2ms] [--n-test 100]
        [--json out.json]

The rows go to ``RUN/ping_dt_ceiling.json`` unless ``--json`` says otherwise; ``pinglab-bio
analyze RUN`` then shows them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import brian2  # noqa: E402

brian2.BrianLogger.console_handler.setLevel("ERROR")

VARIANTS = ("as is", "delay ≥ 1 step", "delay rounded down", "refractory rounded up", "both",
            "delay down + refractory up")


class _Variant:
    """What :func:`pinglab_bio.train.loop.evaluate_brian2` reads of a network, with another model."""

    def __init__(self, net, model):
        self.model, self.init_values, self._net = model, net.init_values, net

    def numpy_weights(self):
        return self._net.numpy_weights()


def variant_model(model, variant: str, dt_s: float):
    """``model`` with the E↔I delays changed and/or the refractory period rounded up (see VARIANTS)."""
    pops, paths = dict(model.populations), dict(model.pathways)
    for name, path in paths.items():
        if path.source == "input" or path.target == "out":
            continue
        if variant in ("delay ≥ 1 step", "both") and brian2_delay_steps(float(path.delay), dt_s) < 1:
            paths[name] = dataclasses.replace(path, delay=dt_s * brian2.second)
        if variant in ("delay rounded down", "delay down + refractory up"):
            steps = math.floor(float(path.delay) / dt_s + 1e-9)
            paths[name] = dataclasses.replace(path, delay=steps * dt_s * brian2.second)
    if variant in ("refractory rounded up", "both", "delay down + refractory up"):
        for name, pop in pops.items():
            if pop.threshold and float(pop.refractory) > 0:
                steps = math.ceil(float(pop.refractory) / dt_s - 1e-9)
                pops[name] = dataclasses.replace(pop, refractory=steps * dt_s * brian2.second)
    return dataclasses.replace(model, populations=pops, pathways=paths)


_DELAY_STEPS: dict = {}  # (delay, dt) → steps, measured once per process


def brian2_delay_steps(delay_s: float, dt_s: float) -> int:
    """The delay in steps that Brian2 applies, read back from a one-synapse network.

    A spike at t = 0 reaches ``v`` through a synapse with the delay; the step at which ``v`` first
    changes, less the step for a zero delay, is the delay in steps.
    """
    key = (delay_s, dt_s)
    if key not in _DELAY_STEPS:
        import numpy as np

        first = []
        for d in (0.0, delay_s):
            brian2.start_scope()
            clock = {"dt": dt_s * brian2.second}
            src = brian2.SpikeGeneratorGroup(1, [0], [0] * brian2.second, **clock)
            tgt = brian2.NeuronGroup(1, "v : 1", **clock)
            syn = brian2.Synapses(src, tgt, on_pre="v_post += 1", delay=d * brian2.second, **clock)
            syn.connect()
            mon = brian2.StateMonitor(tgt, "v", record=0, **clock)
            brian2.Network(src, tgt, syn, mon).run((round(delay_s / dt_s) + 4) * dt_s * brian2.second,
                                                   namespace={})
            first.append(int(np.argmax(mon.v[0] > 0)))
        _DELAY_STEPS[key] = first[1] - first[0]
    return _DELAY_STEPS[key]


def steps_of(model, dt_s: float) -> dict:
    """Delay (as Brian2 applies it) and refractory period (Brian2's ``int(t_ref/dt)``) in steps."""
    delay = {name: brian2_delay_steps(float(p.delay), dt_s) for name, p in model.pathways.items()
             if p.source != "input" and p.target != "out"}
    refractory = {name: int((float(p.refractory) + 1e-3 * dt_s) / dt_s)
                  for name, p in model.populations.items() if p.threshold and float(p.refractory) > 0}
    return {"delay_steps": delay, "refractory_steps": refractory}


def main(argv=None):
    from pinglab_bio.errors import PinglabError

    try:
        return _main(argv)
    except PinglabError as err:  # bad input: one line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2


def _main(argv=None):
    import numpy as np
    import torch

    from pinglab_bio.data.datasets import load_dataset
    from pinglab_bio.data.transport import downsample, move_spikes
    from pinglab_bio.errors import SettingsError
    from pinglab_bio.train.loop import TrainConfig, encode_split, evaluate_brian2
    from pinglab_bio.train.studies.dt_transfer import build_transfer_network, gamma_of
    from pinglab_bio.units import parse_quantity

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder of `pinglab-bio run dt_transfer --models ping`")
    parser.add_argument("--dt-values", default="1ms,1.25ms,1.3ms,1.4ms,1.5ms,1.6ms,1.7ms,1.8ms,1.9ms,2ms,"
                                                "2.5ms")
    parser.add_argument("--n-test", type=int, default=100, help="test digits (the first of the split)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write the rows (default: RUN/ping_dt_ceiling.json, shown by "
                             "`pinglab-bio analyze RUN`)")
    args = parser.parse_args(argv)

    if not (args.run / "results.json").is_file():
        raise SettingsError(f"{args.run} has no results.json. Fix: pass the folder of "
                            "`pinglab-bio run dt_transfer --models ping`")
    results = json.loads((args.run / "results.json").read_text())
    nets = [n for n in results.get("networks", []) if n["model"] == "ping"]
    if not nets:
        raise SettingsError(f"{args.run} holds no trained ping network. Fix: pass the folder of "
                            "`pinglab-bio run dt_transfer --models ping`")
    info = nets[0]
    dt_train = info["dt_train_ms"] * 1e-3
    duration = results.get("duration_ms", 100.0) * 1e-3
    data = load_dataset(results.get("dataset", "digits"), seed=info["seed"])
    x_test, y_test = data.x_test[:args.n_test], data.y_test[:args.n_test]
    config = TrainConfig(dt_ms=dt_train * 1e3, duration_ms=duration * 1e3, ei_ratio=info["ei_ratio"],
                         seed=info["seed"], n_hidden=100)
    net, _ = build_transfer_network("ping", dt_train, data.n_inputs, data.n_classes, config=config)
    weights = np.load(args.run / info["weights"])
    with torch.no_grad():
        for name, w in net.weights.items():
            w.copy_(torch.as_tensor(weights[name], dtype=w.dtype))
    # the protocol's test inputs: the same seed key, so the figures line up with its rebin rows
    base = encode_split(config, x_test, (info["seed"], 1_000_003), dt_s=dt_train,
                        steps=int(round(duration / dt_train)))
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in variants if v not in VARIANTS]
    if bad or not variants:
        raise SettingsError(f"--variants got {args.variants!r}. Fix: a comma-separated subset of "
                            f"{', '.join(VARIANTS)}")
    rows = []
    print(f"ping trained at {dt_train * 1e3:g} ms ({args.run}), {len(y_test)} test digits, inputs re-binned")
    print(f"{'dt':>7}  {'trial':>8}  {'variant':<26} {'delay':>5} {'t_ref E/I':>9}  {'acc':>5}  "
          f"{'E Hz':>6} {'I Hz':>6}  gamma (prominence)")
    for dt_text in args.dt_values.split(","):
        dt = float(parse_quantity(dt_text.strip()))
        whole = abs(duration / dt - round(duration / dt)) < 1e-6
        if whole:  # the protocol's re-binning (any ratio onto a step that divides the trial)
            steps, spikes = int(round(duration / dt)), move_spikes(base, dt_train, dt)
        else:
            factor = dt / dt_train
            if abs(factor - round(factor)) > 1e-6:
                raise SettingsError(f"--dt-values {dt_text} neither divides the {duration * 1e3:g} ms trial "
                                    f"nor is a whole multiple of dt_train {dt_train * 1e3:g} ms. "
                                    "Fix: pick e.g. 1.5ms")
            factor = int(round(factor))
            steps = int(round(duration / dt_train)) // factor  # the whole steps that fit; the rest dropped
            spikes = downsample(base[:, :steps * factor], factor)
        done = {}
        for variant in variants:
            model = variant_model(net.model, variant, dt)
            key = (tuple(float(p.delay) for p in model.pathways.values()),
                   tuple(float(p.refractory) for p in model.populations.values()))
            t0 = time.perf_counter()
            if key not in done:  # a variant that changes nothing at this dt is the same Brian2 run
                done[key] = evaluate_brian2(_Variant(net, model), spikes, y_test, dt)
            result = done[key]
            gamma = gamma_of(result["spikes"]["exc"], dt)
            row = {"dt_ms": dt * 1e3, "trial_ms": steps * dt * 1e3, "variant": variant, **steps_of(model, dt),
                   "accuracy": result["accuracy"], "rates_hz": result["rates_hz"], **gamma,
                   "eval_s": time.perf_counter() - t0}
            rows.append(row)
            g = (f"{gamma['gamma_peak_hz']:.1f} Hz ({gamma['gamma_prominence']:.1f})"
                 if gamma["gamma_peak_hz"] is not None else "none")
            delay = "/".join(str(v) for v in row["delay_steps"].values())
            ref = "/".join(str(v) for v in row["refractory_steps"].values())
            rates = result["rates_hz"]
            print(f"{dt * 1e3:>5g}ms  {row['trial_ms']:>6.1f}ms  {variant:<26} {delay:>5} {ref:>9}  "
                  f"{result['accuracy']:>5.2f}  {rates['exc']:>6.1f} {rates['inh']:>6.1f}  {g}", flush=True)
    (args.json or args.run / "ping_dt_ceiling.json").write_text(
        json.dumps({"run": str(args.run), "n_test": len(y_test), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
