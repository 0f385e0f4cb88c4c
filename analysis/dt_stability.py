"""Δt stability report: how the rhythm, the rates, the spectrum and the spike trains drift with dt.

Input: the folder written by ``pinglab-bio run dt_stability`` (or its ``points/*`` folders).
For each variant (``model``: the model as given; ``plain_euler``: forward Euler, zero delays)
and each dt, over seeds: Welch peak frequency, E and I rates, the mean PSD, and the Van Rossum
distance (τ 5 ms) of every neuron's spike train to the same neuron in the finest-dt run of the
same seed. Drift numbers are relative to the finest dt of the variant.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import quantities as pq

from pinglab_bio.errors import PinglabError
from pinglab_bio.measures import core as m
from pinglab_bio.measures.dissimilarity import paired_van_rossum
from pinglab_bio.report.figures import drift_figure, spectra_figure
from pinglab_bio.report.html import figure_tag, model_section, provenance_section, table
from pinglab_bio.runs.result import load_run
from pinglab_bio.workflow.analysis import VR_TIME_CONSTANT, point_folders

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
    t_start = float(result.info["transient"]["si_value"]) * pq.s
    t_stop = result.block.segments[0].t_stop.rescale(pq.s)
    dt = float(result.info["dt"]["si_value"]) * pq.s
    bin_size = m.rate_bin_size(dt)
    out, trains = {}, {}
    for pop in ("exc", "inh"):
        if pop not in result.populations:
            continue
        tr = m._slice(result.spiketrains(pop), t_start, t_stop)
        trains[pop] = tr
        rate = m.population_rate(tr, bin_size, t_start, t_stop)
        out[f"rate_{pop}_hz"] = float(m.mean_rate(tr, t_start, t_stop))
        if pop == ("exc" if "exc" in result.populations else "inh"):
            f, psd = m.welch_psd(rate)
            peak = m.gamma_peak(f, psd)
            out.update(peak_hz=peak["peak_hz"], power_share=peak["power_share"], q_factor=peak["q_factor"])
            out["_spectrum"] = (f.magnitude, psd.magnitude)
    return out, trains


def _num(value, spec):
    """A number for a table cell; "n/a" where it is missing or not finite."""
    return "n/a" if value is None or not np.isfinite(value) else format(value, spec)


def _mean_sd(values):
    vals = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if vals.size == 0:
        return float("nan"), float("nan")
    return float(vals.mean()), float(vals.std(ddof=1)) if vals.size > 1 else 0.0


def analyze(run_dirs, workdir):
    workdir = Path(workdir)
    points = _load_points(run_dirs)
    variants = list(dict.fromkeys(s["variant"] for _, _, s in points))
    per = {}  # (variant, dt, seed) -> measures
    trains = {}
    infos, folders = [], []
    for folder, result, study in points:
        key = (study["variant"], float(study["dt_ms"]), int(study["seed"]))
        per[key], trains[key] = _measure(result)
        infos.append(result.info)
        folders.append(folder)
    numbers = {
        "variants": {},
        "van_rossum_time_constant_ms": float(VR_TIME_CONSTANT.rescale(pq.ms)),
        "target_window_dt_ms": list(TARGET_DTS_MS),
    }
    sections = []
    drift_panels = {"peak": {}, "rate_exc": {}, "rate_inh": {}, "vr": {}}
    summary_rows = []
    for variant in variants:
        dts = sorted({k[1] for k in per if k[0] == variant})
        seeds = sorted({k[2] for k in per if k[0] == variant})
        finest = dts[0]
        rows, by_dt = [], {}
        spectra = {}
        for dt in dts:
            keys = [(variant, dt, s) for s in seeds if (variant, dt, s) in per]
            vr_e, vr_i = [], []
            for key in keys:
                ref = (variant, finest, key[2])
                if ref in trains and key != ref:
                    for pop, store in (("exc", vr_e), ("inh", vr_i)):
                        if pop in trains[key]:
                            store.append(
                                float(
                                    np.mean(
                                        paired_van_rossum(
                                            trains[key][pop], trains[ref][pop], VR_TIME_CONSTANT
                                        )
                                    )
                                )
                            )
                elif key == ref:
                    vr_e.append(0.0)
                    vr_i.append(0.0)
            entry = {"dt_ms": dt, "n_seeds": len(keys)}
            for name in ("peak_hz", "power_share", "q_factor", "rate_exc_hz", "rate_inh_hz"):
                entry[name], entry[name + "_sd"] = _mean_sd([per[k].get(name) for k in keys])
            entry["vr_distance_exc"], entry["vr_distance_exc_sd"] = _mean_sd(vr_e)
            entry["vr_distance_inh"], entry["vr_distance_inh_sd"] = _mean_sd(vr_i)
            f_axis = per[keys[0]]["_spectrum"][0]
            stack = [np.interp(f_axis, *per[k]["_spectrum"]) for k in keys]
            spectra[dt] = (f_axis, np.mean(stack, axis=0))
            by_dt[dt] = entry
        ref = by_dt[finest]
        for dt, entry in by_dt.items():
            entry["peak_freq_drift_hz"] = entry["peak_hz"] - ref["peak_hz"]
            entry["peak_freq_drift_pct"] = 100.0 * entry["peak_freq_drift_hz"] / ref["peak_hz"]
            for pop in ("exc", "inh"):
                r0 = ref.get(f"rate_{pop}_hz")
                entry[f"rate_{pop}_drift_pct"] = (
                    100.0 * (entry[f"rate_{pop}_hz"] - r0) / r0 if r0 and np.isfinite(r0) else None
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
            summary["peak_freq_drift_pct_target"] = 100.0 * (f_hi - f_lo) / f_lo
            summary["peak_freq_drift_pct_target_per_seed"] = [
                100.0
                * (per[(variant, hi, s)]["peak_hz"] - per[(variant, lo, s)]["peak_hz"])
                / per[(variant, lo, s)]["peak_hz"]
                for s in seeds
                if (variant, hi, s) in per and (variant, lo, s) in per
            ]
        for pop in ("exc", "inh"):
            rates = [by_dt[d][f"rate_{pop}_hz"] for d in dts if np.isfinite(by_dt[d][f"rate_{pop}_hz"])]
            if rates and min(rates) > 0:
                summary[f"rate_ratio_max_min_{pop}"] = float(max(rates) / min(rates))
        vr = [by_dt[d]["vr_distance_exc"] for d in dts[1:]]
        if len(vr) >= 2 and vr[0] > 0:
            summary["distance_growth_exc"] = float(vr[-1] / vr[0])
        numbers["variants"][variant] = {"summary": summary, "by_dt": [by_dt[d] for d in dts]}
        rows = [
            [
                d,
                e["n_seeds"],
                f"{e['peak_hz']:.2f} ± {e['peak_hz_sd']:.2f}",
                f"{e['peak_freq_drift_pct']:+.1f}",
                f"{e['rate_exc_hz']:.2f}",
                f"{e['rate_inh_hz']:.1f}",
                f"{e['vr_distance_exc']:.2f}",
                f"{e['vr_distance_inh']:.2f}",
                f"{e['power_share']:.2f}",
                f"{e['psd_drift_rel_l2']:.2f}",
            ]
            for d, e in by_dt.items()
        ]
        color = _COLORS.get(variant, "k")
        drift_panels["peak"][variant] = (
            [by_dt[d]["peak_hz"] for d in dts],
            [by_dt[d]["peak_hz_sd"] for d in dts],
            color,
            dts,
        )
        drift_panels["rate_exc"][variant] = (
            [by_dt[d]["rate_exc_hz"] for d in dts],
            [by_dt[d]["rate_exc_hz_sd"] for d in dts],
            color,
            dts,
        )
        drift_panels["rate_inh"][variant] = (
            [by_dt[d]["rate_inh_hz"] for d in dts],
            [by_dt[d]["rate_inh_hz_sd"] for d in dts],
            color,
            dts,
        )
        drift_panels["vr"][variant] = (
            [by_dt[d]["vr_distance_exc"] for d in dts],
            [by_dt[d]["vr_distance_exc_sd"] for d in dts],
            color,
            dts,
        )
        cmap = __import__("matplotlib").colormaps["viridis"]
        spec_fig = spectra_figure(
            {
                f"dt {d:g} ms": (spectra[d][0], spectra[d][1], cmap(k / max(1, len(dts) - 1)), "-")
                for k, d in enumerate(dts)
            },
            {f"{finest:g} ms": ref["peak_hz"], f"{dts[-1]:g} ms": by_dt[dts[-1]]["peak_hz"]},
            f"{variant}: mean Welch PSD of the E rate over {len(seeds)} seeds",
            workdir / f"psd_{variant}.png",
        )
        sections.append(
            (
                f"Variant {variant}: per dt (mean over seeds)",
                table(
                    rows,
                    [
                        "dt (ms)",
                        "seeds",
                        "peak (Hz)",
                        "peak drift (%)",
                        "E rate (Hz)",
                        "I rate (Hz)",
                        "VR dist. E",
                        "VR dist. I",
                        "gamma share",
                        "PSD drift (rel. L2)",
                    ],
                )
                + figure_tag(spec_fig, f"{variant}: mean PSD per dt"),
            )
        )
        summary_rows.append(
            [
                variant,
                _num(summary.get("peak_freq_drift_pct_target"), "+.2f"),
                _num(summary.get("peak_freq_drift_hz_target"), "+.2f"),
                _num(summary["peak_freq_drift_pct_max"], ".1f"),
                _num(summary.get("rate_ratio_max_min_exc"), ".2f"),
                _num(summary.get("rate_ratio_max_min_inh"), ".2f"),
                _num(summary.get("distance_growth_exc"), ".2f"),
                len(seeds),
            ]
        )
    panels = []
    for key, label in (
        ("peak", "gamma peak (Hz)"),
        ("rate_exc", "E rate (Hz)"),
        ("rate_inh", "I rate (Hz)"),
        ("vr", "VR distance to finest dt (E)"),
    ):
        panels.append((label, drift_panels[key]))
    fig = drift_figure(panels, "drift against dt (mean ± sd over seeds)", workdir / "drift.png")
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
    sections.insert(
        0,
        (
            "Summary: before (plain_euler, compare) and after (model)",
            intro
            + table(
                summary_rows,
                [
                    "variant",
                    f"peak drift {TARGET_DTS_MS[0]:g}→{TARGET_DTS_MS[1]:g} ms (%)",
                    "(Hz)",
                    "max |peak drift| (%)",
                    "E rate max/min",
                    "I rate max/min",
                    "VR distance growth",
                    "seeds",
                ],
            )
            + figure_tag(fig, "drift against dt (mean ± sd over seeds)"),
        ),
    )
    sections.append(("Model", model_section(infos[0])))
    sections.append(("Provenance", provenance_section(infos, folders)))
    return {"title": f"dt stability: {infos[0]['model']['name']}", "numbers": numbers, "sections": sections}
