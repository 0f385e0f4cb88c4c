"""Is the rhythm a property of the model or of the integration step? Δt stability of a PING network.

The same model and seeds are run at dt = 0.01, 0.025, 0.05, 0.1, 0.25, 0.5 and 1 ms (a dt is
skipped, with a note, where it exceeds a synaptic delay or refractory period of the model). Each
run is compared with the finest-dt run of its seed: gamma peak frequency, E and I rates, the
spectrum and the Van Rossum distance of every neuron's spike train (`pinglab-bio analyze`).
Variant `plain_euler` reruns the grid with forward Euler and zero synaptic delays (a one-step
latency that shrinks with dt): the "before" of the report. Variant `compare` runs the model with
the `--compare` overrides (e.g. the ping_coba of before this study:
`--compare inh.refractory=1.5ms,inh_to_exc.weight=1.5nS`). Several seeds, because one second of
one seed moves the Welch peak by several Hz.
"""

from pinglab_bio.workflow.protocol import Param, main, simulation_parameters

PARAMETERS = {
    **{k: v for k, v in simulation_parameters(model="ping_coba", duration="1 s", seed=0).items()
       if k != "dt"},
    "dt_values": Param("0.01ms,0.025ms,0.05ms,0.1ms,0.25ms,0.5ms,1ms", "comma-separated integration steps",
                       kind="quantity_list", unit="s"),
    "seeds": Param(5, "seeds per dt (seed, seed+1, ...)", kind="int"),
    "variants": Param("model,plain_euler", "comma-separated: model (as loaded, with --set), "
                      "plain_euler (forward Euler, zero delays), compare (the --compare overrides)"),
    "compare": Param("", "model overrides of the 'compare' variant, comma-separated KEY=VALUE, e.g. "
                     "inh.refractory=1.5ms,inh_to_exc.weight=1.5nS (the ping_coba of before the dt study)"),
}

VARIANTS = ("model", "plain_euler", "compare")


def variant_overrides(spec, variant: str, compare: dict | None = None) -> dict:
    """Model overrides of a variant: none for `model`; Euler and zero delays for `plain_euler`;
    the ``--compare`` overrides for `compare`."""
    if variant == "model":
        return {}
    if variant == "compare":
        return dict(compare or {})
    over = {f"{pop}.method": "euler" for pop in spec.populations}
    over.update({f"{name}.delay": "0 ms" for name in spec.pathways})
    return over


def allowed_dts(spec, dts):
    """``(kept, skipped)``: a dt is kept when it is ≤ every non-zero delay and refractory period."""
    limits = [(f"{name} delay", float(p.delay)) for name, p in spec.pathways.items() if float(p.delay) > 0]
    limits += [(f"{pop} refractory", float(p.refractory)) for pop, p in spec.populations.items()
               if float(p.refractory) > 0]
    kept, skipped = [], []
    for dt in dts:
        over = [(what, lim) for what, lim in limits if float(dt) > lim * (1 + 1e-9)]
        (skipped if over else kept).append((dt, over))
    return [d for d, _ in kept], skipped


def check(params):
    from pinglab_bio.errors import SettingsError
    from pinglab_bio.model.spec import check_run_settings

    if params["seeds"] < 1:
        raise SettingsError(f"--seeds must be ≥ 1, got {params['seeds']}. Fix: e.g. --seeds 5")
    names = [v.strip() for v in params["variants"].split(",") if v.strip()]
    bad = [v for v in names if v not in VARIANTS]
    if not names or bad:
        raise SettingsError(f"--variants must list some of {', '.join(VARIANTS)}, "
                            f"got {params['variants']!r}. "
                            "Fix: e.g. --variants model,plain_euler")
    compare = {}
    for item in (i.strip() for i in params["compare"].split(",")):
        key, sep, value = item.partition("=")
        if item and (not sep or not key.strip() or not value.strip()):
            raise SettingsError(f"--compare needs KEY=VALUE items, got {item!r}. "
                                "Fix: e.g. --compare inh.refractory=1.5ms,inh_to_exc.weight=1.5nS")
        if item:
            compare[key.strip()] = value.strip()
    if compare and "compare" not in names:
        names.append("compare")
    if "compare" in names and not compare:
        raise SettingsError("variant 'compare' needs --compare KEY=VALUE[,KEY=VALUE]. "
                            "Fix: e.g. --compare inh.refractory=1.5ms")
    if compare:
        params["model_spec"].with_overrides(compare)  # fails now, naming the key, if one is wrong
    params["compare_overrides"] = compare
    if len(params["dt_values"]) < 2:
        raise SettingsError(f"--dt-values needs at least two steps, got {len(params['dt_values'])}. "
                            "Fix: e.g. --dt-values 0.025ms,0.25ms")
    for dt in params["dt_values"]:
        check_run_settings(dt, params["duration"])
    params["variant_names"] = names


def run(params, out, log=print):
    from pathlib import Path

    from pinglab_bio.measures.drift import peak_frequency_drift
    from pinglab_bio.runs.folder import write_json
    from pinglab_bio.units import format_quantity
    from pinglab_bio.workflow.sweeps import Point, run_points

    spec0 = params["model_spec"]
    dts = sorted(params["dt_values"], key=float)
    seeds = [params["seed"] + k for k in range(params["seeds"])]
    points, notes = [], []
    for variant in params["variant_names"]:
        over = variant_overrides(spec0, variant, params.get("compare_overrides"))
        spec = spec0.with_overrides(over) if over else spec0
        kept, skipped = allowed_dts(spec, dts)
        for dt, why in skipped:
            note = (f"{variant}: dt {format_quantity(dt)} skipped: larger than "
                    + ", ".join(f"{w} ({lim * 1e3:g} ms)" for w, lim in why))
            notes.append(note)
            log(note)
        for seed in seeds:
            for dt in kept:
                dt_ms = float(dt) * 1e3
                study = {"variant": variant, "dt_ms": dt_ms, "seed": seed, "variant_overrides": over}
                points.append(Point(label=f"{variant}-dt={dt_ms:g}ms-seed{seed}", overrides=over, seed=seed,
                                    values={"variant": variant, "dt_ms": dt_ms}, settings={"dt": dt},
                                    info={"dt_study": study}))
    # One engine for every multi-run protocol: each point is a run folder written whole, and the
    # dt of a point is one of its run settings.
    found = run_points(spec0, points, Path(out), protocol="dt_stability", data_format=params["data_format"],
                       log=log, sim_kwargs={"duration": params["duration"], "transient": params["transient"],
                                            "device": params["device"], "target": params["target"]})
    rows = [{"variant": r["variant"], "dt_ms": r["dt_ms"], "seed": r["seed"], "peak_hz": r["gamma_peak_hz"],
             "rate_exc_hz": r.get("rate_exc_hz"), "rate_inh_hz": r.get("rate_inh_hz")} for r in found]
    lines = ["variant       dt (ms)   peak (Hz, mean over seeds)   drift vs finest"]
    summary = {}
    for variant in params["variant_names"]:
        sel = [r for r in rows if r["variant"] == variant]
        peaks = {}
        for r in sel:
            peaks.setdefault(r["dt_ms"], []).append(r["peak_hz"])
        drift = peak_frequency_drift(peaks)
        summary[variant] = {f"{d:g}": {key: v[key] for key in ("peak_hz", "peak_freq_drift_pct")}
                            for d, v in drift.items()}
        lines += [f"{variant:<12} {d:>8g}   {v['peak_hz']:>26.2f}   {v['peak_freq_drift_pct']:+.1f} %"
                  for d, v in drift.items()]
    write_json(Path(out) / "metrics.json", {"points": rows, "peak_by_dt": summary, "notes": notes})
    lines.append("full report: pinglab-bio analyze <this folder> --report dt.html")
    return {"summary": "\n".join(lines), "metrics": {"peak_by_dt": summary}}


if __name__ == "__main__":
    raise SystemExit(main(__file__))
