"""Δt stability report: how the rhythm, the rates, the spectrum and the spike trains drift with dt.

Input: the folder written by ``pinglab-bio run dt_stability`` (or its ``points/*`` folders).
For each variant (``model``: the model as given; ``plain_euler``: forward Euler, zero delays)
and each dt, over seeds: Welch peak frequency, E and I rates, the mean PSD, and the Van Rossum
distance (τ 5 ms) of every neuron's spike train to the same neuron in the finest-dt run of the
same seed. Drift numbers are relative to the finest dt of the variant.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import quantities as pq

from pinglab_bio.errors import PinglabError
from pinglab_bio.measures import (
    VR_TIME_CONSTANT,
    paired_van_rossum,
    peak_frequency_drift,
    percent_drift,
    trains_in_window,
)
from pinglab_bio.report.figures import drift_figure, population_label, save_figure, spectra_figure
from pinglab_bio.report.html import figure_tag, model_section, provenance_section, table
from pinglab_bio.runs.result import load_run
from pinglab_bio.workflow.analysis import point_folders, run_measures, run_window

__all__ = ["analyze", "TARGET_DTS_MS"]

TARGET_DTS_MS = (0.025, 0.25)  # the window of the stability target: drift of the mean peak < 5 %
_COLORS = {"model": "#1e8449", "plain_euler": "#ca6f1e", "compare": "#7d3c98"}


def _load_points(run_dirs):
    points = []
    for folder in run_dirs:
        for point in point_folders(folder):
            result = load_run(point)
            study = result.info.get("dt_study")
            if study is None:
                raise PinglabError(
                    f"{point} has no dt_study entry in run.json. Fix: pass folders written by "
                    "`pinglab-bio run dt_stability`"
                )
            points.append((point, result, study))
    return points


def _measure(result):
    """Rates, Welch peak, share and Q of one point, its rhythm spectrum, and its trains in the window."""
    numbers, arrays = run_measures(result, level="sweep")
    rhythm = numbers["rhythm_population"]
    f, psd = arrays["welch"][rhythm]
    out = {f"rate_{pop}_hz": numbers[f"rate_{pop}_hz"] for pop in result.populations}
    out.update(rhythm_population=rhythm, peak_hz=numbers["gamma_peak_hz"],
               power_share=numbers["gamma_power_share"], q_factor=numbers["gamma_q_factor"],
               _spectrum=(f.magnitude, psd.magnitude))
    t_start, t_stop, _ = run_window(result)
    trains = {pop: trains_in_window(result.spiketrains(pop), t_start, t_stop) for pop in result.populations}
    return out, trains


def _num(value, spec):
    """A number for a table cell; "n/a" where it is missing or not finite."""
    return "n/a" if value is None or not np.isfinite(value) else format(value, spec)


def _mean_sd(values):
    vals = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if vals.size == 0:
        return float("nan"), float("nan")
    return float(vals.mean()), float(vals.std(ddof=1)) if vals.size > 1 else 0.0


def _series(by_dt, dts, name, color):
    """``(dts, means, sds, color)`` of one quantity of a variant, for the drift figure."""
    return (dts, [by_dt[d][name] for d in dts], [by_dt[d][name + "_sd"] for d in dts], color)


def analyze(run_dirs, workdir):
    workdir = Path(workdir)
    points = _load_points(run_dirs)
    variants = list(dict.fromkeys(s["variant"] for _, _, s in points))
    pops = list(points[0][1].populations)
    per = {}  # (variant, dt, seed) -> measures
    trains = {}
    infos, folders = [], []
    for folder, result, study in points:
        key = (study["variant"], float(study["dt_ms"]), int(study["seed"]))
        per[key], trains[key] = _measure(result)
        infos.append(result.info)
        folders.append(folder)
    rhythm = next(iter(per.values()))["rhythm_population"]
    numbers = {
        "variants": {},
        "van_rossum_time_constant_ms": float(VR_TIME_CONSTANT.rescale(pq.ms)),
        "target_window_dt_ms": list(TARGET_DTS_MS),
    }
    sections = []
    drift_panels = {"peak": {}, **{f"rate_{p}": {} for p in pops}, "vr": {}}
    summary_rows = []
    for variant in variants:
        dts = sorted({k[1] for k in per if k[0] == variant})
        seeds = sorted({k[2] for k in per if k[0] == variant})
        finest = dts[0]
        by_dt = {}
        spectra = {}
        for dt in dts:
            keys = [(variant, dt, s) for s in seeds if (variant, dt, s) in per]
            vr = {p: [] for p in pops}
            for key in keys:
                ref = (variant, finest, key[2])
                if ref in trains and key != ref:
                    for pop in pops:
                        if pop in trains[key]:
                            d = paired_van_rossum(trains[key][pop], trains[ref][pop], VR_TIME_CONSTANT)
                            vr[pop].append(float(np.mean(d)))
                elif key == ref:
                    for pop in pops:
                        vr[pop].append(0.0)
            entry = {"dt_ms": dt, "n_seeds": len(keys)}
            for name in ("peak_hz", "power_share", "q_factor") + tuple(f"rate_{p}_hz" for p in pops):
                entry[name], entry[name + "_sd"] = _mean_sd([per[k].get(name) for k in keys])
            for pop in pops:
                entry[f"vr_distance_{pop}"], entry[f"vr_distance_{pop}_sd"] = _mean_sd(vr[pop])
            f_axis = per[keys[0]]["_spectrum"][0]
            stack = [np.interp(f_axis, *per[k]["_spectrum"]) for k in keys]
            spectra[dt] = (f_axis, np.mean(stack, axis=0))
            by_dt[dt] = entry
        drift = peak_frequency_drift({dt: [per[(variant, dt, s)]["peak_hz"] for s in seeds
                                           if (variant, dt, s) in per] for dt in dts})
        ref = by_dt[finest]
        for dt, entry in by_dt.items():
            entry["peak_freq_drift_hz"] = drift[dt]["peak_freq_drift_hz"]
            entry["peak_freq_drift_pct"] = drift[dt]["peak_freq_drift_pct"]
            for pop in pops:
                r0 = ref.get(f"rate_{pop}_hz")
                entry[f"rate_{pop}_drift_pct"] = (
                    percent_drift(entry[f"rate_{pop}_hz"], r0) if r0 and np.isfinite(r0) else None
                )
            f0, p0 = spectra[finest]
            f1, p1 = spectra[dt]
            band = (f0 >= 5) & (f0 <= 150)
            p1 = np.interp(f0, f1, p1)  # another rate bin (dt > 1 ms) gives another frequency axis
            entry["psd_drift_rel_l2"] = float(np.linalg.norm(p1[band] - p0[band]) / np.linalg.norm(p0[band]))
        peaks = [by_dt[d]["peak_hz"] for d in dts]
        summary = {
            "finest_dt_ms": finest,
            "seeds": seeds,
            "peak_freq_drift_hz_max": float(max(abs(by_dt[d]["peak_freq_drift_hz"]) for d in dts)),
            "peak_freq_drift_pct_max": float(max(abs(by_dt[d]["peak_freq_drift_pct"]) for d in dts)),
            "peak_freq_range_hz": float(max(peaks) - min(peaks)),
        }
        lo, hi = TARGET_DTS_MS
        if lo in by_dt and hi in by_dt:
            f_lo, f_hi = by_dt[lo]["peak_hz"], by_dt[hi]["peak_hz"]
            summary["peak_freq_drift_hz_target"] = f_hi - f_lo
            summary["peak_freq_drift_pct_target"] = percent_drift(f_hi, f_lo)
            summary["peak_freq_drift_pct_target_per_seed"] = [
                percent_drift(per[(variant, hi, s)]["peak_hz"], per[(variant, lo, s)]["peak_hz"])
                for s in seeds
                if (variant, hi, s) in per and (variant, lo, s) in per
            ]
        for pop in pops:
            rates = [by_dt[d][f"rate_{pop}_hz"] for d in dts if np.isfinite(by_dt[d][f"rate_{pop}_hz"])]
            if rates and min(rates) > 0:
                summary[f"rate_ratio_max_min_{pop}"] = float(max(rates) / min(rates))
        vr = [by_dt[d][f"vr_distance_{rhythm}"] for d in dts[1:]]
        if len(vr) >= 2 and vr[0] > 0:
            summary[f"distance_growth_{rhythm}"] = float(vr[-1] / vr[0])
        numbers["variants"][variant] = {"summary": summary, "by_dt": [by_dt[d] for d in dts]}
        rows = [
            [d, e["n_seeds"],
             f"{e['peak_hz']:.2f}" + (f" ± {e['peak_hz_sd']:.2f}" if e["n_seeds"] > 1 else ""),
             f"{e['peak_freq_drift_pct']:+.1f}"]
            + [f"{e[f'rate_{p}_hz']:.2f}" for p in pops]
            + [f"{e[f'vr_distance_{p}']:.2f}" for p in pops]
            + [f"{e['power_share']:.2f}", f"{e['psd_drift_rel_l2']:.2f}"]
            for d, e in by_dt.items()
        ]
        color = _COLORS.get(variant, "k")
        drift_panels["peak"][variant] = _series(by_dt, dts, "peak_hz", color)
        for pop in pops:
            drift_panels[f"rate_{pop}"][variant] = _series(by_dt, dts, f"rate_{pop}_hz", color)
        drift_panels["vr"][variant] = _series(by_dt, dts, f"vr_distance_{rhythm}", color)
        cmap = matplotlib.colormaps["viridis"]
        spec_fig = spectra_figure(
            {
                f"dt {d:g} ms": (spectra[d][0], spectra[d][1], cmap(k / max(1, len(dts) - 1)), "-")
                for k, d in enumerate(dts)
            },
            {f"{finest:g} ms": ref["peak_hz"], f"{dts[-1]:g} ms": by_dt[dts[-1]]["peak_hz"]},
            f"{variant}: mean Welch PSD of the {population_label(rhythm)} rate over {len(seeds)} seeds",
        )
        spec_path = save_figure(spec_fig, workdir / f"psd_{variant}.png")
        header = (["dt (ms)", "seeds", "peak (Hz)", "peak drift (%)"]
                  + [f"{population_label(p)} rate (Hz)" for p in pops]
                  + [f"VR dist. {population_label(p)}" for p in pops]
                  + ["gamma share", "PSD drift (rel. L2)"])
        sections.append((f"Variant {variant}: per dt (mean over seeds)",
                         table(rows, header) + figure_tag(spec_path, f"{variant}: mean PSD per dt")))
        summary_rows.append(
            [
                variant,
                _num(summary.get("peak_freq_drift_pct_target"), "+.2f"),
                _num(summary.get("peak_freq_drift_hz_target"), "+.2f"),
                _num(summary["peak_freq_drift_pct_max"], ".1f"),
            ]
            + [_num(summary.get(f"rate_ratio_max_min_{p}"), ".2f") for p in pops]
            + [_num(summary.get(f"distance_growth_{rhythm}"), ".2f"), len(seeds)]
        )
    panels = ([("gamma peak (Hz)", drift_panels["peak"])]
              + [(f"{population_label(p)} rate (Hz)", drift_panels[f"rate_{p}"]) for p in pops]
              + [(f"VR distance to finest dt ({population_label(rhythm)})", drift_panels["vr"])])
    fig = save_figure(drift_figure(panels, "drift against dt (mean ± sd over seeds)"), workdir / "drift.png")
    intro = (
        f"<p>Each variant compared side by side. Drift is against the finest dt of the variant; the "
        f"target window is dt {TARGET_DTS_MS[0]:g} → {TARGET_DTS_MS[1]:g} ms (mean peak over seeds). "
        "Van "
        f"Rossum distances (τ {float(VR_TIME_CONSTANT.rescale(pq.ms)):g} ms) compare each neuron with "
        "itself in the finest-dt run of the same seed; the drive noise is drawn per step, so runs at "
        "different dt also see different noise and the distance mixes integration error with noise.</p>"
    )
    overrides = {s["variant"]: s.get("variant_overrides") for _, _, s in points}
    intro += table(
        [[v, ", ".join(f"{k}={val}" for k, val in (overrides.get(v) or {}).items()) or "none (as loaded)"]
         for v in variants],
        ["variant", "overrides on top of the model"],
    )
    header = (["variant", f"peak drift {TARGET_DTS_MS[0]:g}→{TARGET_DTS_MS[1]:g} ms (%)", "(Hz)",
               "max |peak drift| (%)"] + [f"{population_label(p)} rate max/min" for p in pops]
              + ["VR distance growth", "seeds"])
    sections.insert(0, ("Summary: before (plain_euler, compare) and after (model)",
                        intro + table(summary_rows, header)
                        + figure_tag(fig, "drift against dt (mean ± sd over seeds)")))
    sections.append(("Model", model_section(infos[0])))
    sections.append(("Provenance", provenance_section(infos, folders)))
    return {"title": f"dt stability: {infos[0]['model']['name']}", "numbers": numbers, "sections": sections}
