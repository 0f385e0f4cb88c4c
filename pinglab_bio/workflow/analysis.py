"""``pinglab-bio analyze``: run folders in, a report out (HTML, Markdown or JSON).

The analysis script is picked by protocol: ``analysis/<protocol>.py`` defines
``analyze(run_dirs, workdir) -> {"title", "numbers", "sections"}`` (see ``analysis/README.md``).
This module finds the protocol of the folders, runs the script in a temporary folder, and
renders the result. It also holds the measures of one simulation run that every script shares
(:func:`run_measures`), so a single run, a sweep point and a dt-study point are measured alike.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np
import quantities as pq

from ..errors import PinglabError
from ..paths import catalogue_dir, find_analysis, import_script

__all__ = ["FORMATS", "VR_TIME_CONSTANT", "resolve_runs", "load_analysis", "list_analyses", "analyze",
           "write_protocol_report",
           "render", "run_measures", "run_figures_full", "point_folders", "jsonable", "single_runs_report",
           "sweep_report"]

FORMATS = ("html", "md", "json")
VR_TIME_CONSTANT = 5 * pq.ms  # about a quarter of a gamma cycle: sensitive to spike timing within a cycle
VR_SAMPLE_PAIRS = 300         # pairs per class when the exact grid path cannot be used


def list_analyses() -> list[str]:
    folder = catalogue_dir("analysis")
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))


def _protocol_of(folder: Path) -> str:
    for name in ("run.json", "protocol.json"):
        path = folder / name
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise PinglabError(f"{path} is not readable JSON ({err}). Fix: point at a folder written by "
                                   "`pinglab-bio run`") from None
            if isinstance(data, dict) and isinstance(data.get("protocol"), str):
                return data["protocol"]
    raise PinglabError(f"{folder} has no run.json or protocol.json naming a protocol, so it is not a run "
                       "folder. Fix: pass folders written by `pinglab-bio run`")


def resolve_runs(run_dirs) -> tuple[str, list[Path]]:
    """The common protocol of the folders and the folders as paths (checked to exist)."""
    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        raise PinglabError("no run folder given. Fix: pass at least one folder written by `pinglab-bio run`")
    protocols = {}
    for folder in run_dirs:
        if not folder.is_dir():
            raise PinglabError(f"run folder '{folder}' does not exist. Fix: pass a folder under runs/")
        protocols[folder] = _protocol_of(folder)
    names = sorted(set(protocols.values()))
    if len(names) > 1:
        detail = ", ".join(f"{f.name}: {p}" for f, p in protocols.items())
        raise PinglabError(f"the run folders come from different protocols ({detail}). Fix: analyse one "
                           "protocol's folders at a time")
    return names[0], run_dirs


def load_analysis(protocol: str) -> ModuleType:
    """Import ``analysis/<protocol>.py``; a one-line error lists the scripts there are."""
    path = find_analysis(protocol)
    if path is None:
        raise PinglabError(f"protocol '{protocol}' has no analysis script (analysis/{protocol}.py). Fix: use "
                           f"folders of a protocol with one: {', '.join(list_analyses()) or 'none'}")
    module = import_script(path, f"pinglab_analysis_{protocol}")
    if not callable(getattr(module, "analyze", None)):
        raise PinglabError(f"analysis script {path} has no analyze(run_dirs, workdir). Fix: define it "
                           "(see analysis/README.md)")
    return module


def write_protocol_report(protocol: str, folder) -> dict:
    """Analyse one protocol folder with ``analysis/<protocol>.py`` and write its ``report.html``.

    Protocols call this at the end of ``run`` so that a fresh run folder already holds the same
    report ``pinglab-bio analyze`` would write. Returns the script's result dict.
    """
    from ..report.html import html_page

    folder = Path(folder)
    figures = folder / "figures"
    figures.mkdir(exist_ok=True)
    result = load_analysis(protocol).analyze([folder], figures)
    (folder / "report.html").write_text(html_page(result["title"], result["sections"]))
    return result


def jsonable(value):
    """Numbers and containers made JSON-safe: numpy scalars to floats, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    return value


def analyze(run_dirs, fmt: str = "html") -> tuple[str, str, dict]:
    """Analyse run folders; return ``(protocol, rendered text, numbers)``."""
    if fmt not in FORMATS:
        raise PinglabError(f"unknown format '{fmt}'. Fix: use one of {', '.join(FORMATS)}")
    protocol, folders = resolve_runs(run_dirs)
    module = load_analysis(protocol)
    with tempfile.TemporaryDirectory(prefix="pinglab-analyze-") as workdir:
        result = module.analyze(folders, Path(workdir))
        for key in ("title", "numbers", "sections"):
            if key not in result:
                raise PinglabError(f"analysis/{protocol}.py returned no '{key}'. Fix: return title, numbers "
                                   "and sections (see analysis/README.md)")
        numbers = jsonable({"protocol": protocol, "runs": [str(f) for f in folders], **result["numbers"]})
        text = render(result["title"], result["sections"], numbers, fmt)
    return protocol, text, numbers


def render(title: str, sections: list, numbers: dict, fmt: str) -> str:
    from ..report.html import html_page, markdown_page, numbers_table

    if fmt == "json":
        return json.dumps(numbers, indent=2) + "\n"
    if fmt == "md":
        return markdown_page(title, sections, numbers)
    return html_page(title, list(sections) + [("All numbers", numbers_table(numbers))])


# ------------------------------------------------------------------------------------------
# measures of one simulation run, shared by the analysis scripts


def point_folders(folder: Path) -> list[Path]:
    """The run folders inside a protocol folder (``points/*``), or the folder itself."""
    folder = Path(folder)
    if (folder / "run.json").is_file():
        return [folder]
    points = sorted(p for p in (folder / "points").glob("*") if (p / "run.json").is_file()) \
        if (folder / "points").is_dir() else []
    if not points:
        raise PinglabError(f"{folder} holds no run (no run.json, no points/*/run.json). Fix: pass a folder "
                           "written by `pinglab-bio run`")
    return points


def _window(result):
    info = result.info
    seg = result.block.segments[0]
    t_start = float((info.get("transient") or {}).get("si_value", 0.0) or 0.0) * pq.s
    return t_start, seg.t_stop.rescale(pq.s), float(info["dt"]["si_value"]) * pq.s


def run_measures(result, *, vr_pairs: int | None = None, vr_seed: int = 0, with_vr: bool = True) -> tuple:
    """Every measure of one run; returns ``(numbers, arrays)``.

    ``numbers`` is JSON-ready: rates, CV and LV, fraction active, synchrony, STTC, Welch and
    multitaper gamma peaks (frequency, power share, Q), E→I lag, E participation per cycle and
    the Van Rossum E–E / E–I / I–I table with its Kruskal–Wallis test. ``arrays`` holds what
    the figures need (spectra, rates, distances).
    """
    from ..measures import core as m
    from ..measures.dissimilarity import van_rossum_by_class

    t_start, t_stop, dt = _window(result)
    bin_size = m.rate_bin_size(dt)
    pops = [p for p in ("exc", "inh") if p in result.populations]
    trains = {p: m._slice(result.spiketrains(p), t_start, t_stop) for p in pops}
    numbers: dict = {"dt_ms": float(dt.rescale(pq.ms)), "analysis_window_s": [float(t_start), float(t_stop)],
                     "rate_bin_ms": float(bin_size.rescale(pq.ms))}
    arrays: dict = {"rates": {}, "welch": {}, "multitaper": {}}
    for p in pops:
        tr = trains[p]
        rate = m.population_rate(tr, bin_size, t_start, t_stop)
        arrays["rates"][p] = rate
        numbers[f"rate_{p}_hz"] = float(m.mean_rate(tr, t_start, t_stop))
        numbers[f"cv_isi_{p}"] = m.cv_isi(tr)
        numbers[f"lv_isi_{p}"] = m.lv_isi(tr)
        numbers[f"fraction_active_{p}"] = m.fraction_active(tr, t_start, t_stop)
        numbers[f"synchrony_{p}"] = m.synchrony_index(tr, t_start, t_stop)
        numbers[f"sttc_{p}"] = m.sttc_pairs(tr, n_pairs=200, dt=5 * pq.ms, seed=vr_seed)["mean"]
        for name, fn in (("welch", m.welch_psd), ("multitaper", m.multitaper_psd)):
            f, psd = fn(rate)
            arrays[name][p] = (f, psd)
            peak = m.gamma_peak(f, psd)
            numbers[f"{name}_{p}"] = {"peak_hz": peak["peak_hz"], "power_share": peak["power_share"],
                                      "q_factor": peak["q_factor"], "prominence": peak["prominence"]}
    rhythm = "exc" if "exc" in pops else "inh"
    numbers["rhythm_population"] = rhythm
    numbers["gamma_peak_hz"] = numbers[f"welch_{rhythm}"]["peak_hz"]
    numbers["gamma_power_share"] = numbers[f"welch_{rhythm}"]["power_share"]
    numbers["gamma_q_factor"] = numbers[f"welch_{rhythm}"]["q_factor"]
    if "exc" in pops and "inh" in pops:
        peak_hz = numbers["gamma_peak_hz"]
        fine = m.rate_bin_size(dt, 0.25 * pq.ms)  # volleys are a few ms apart: resolve the lag finely
        numbers["ei_lag"] = m.ei_lag(m.population_rate(trains["exc"], fine, t_start, t_stop),
                                     m.population_rate(trains["inh"], fine, t_start, t_stop), peak_hz)
        numbers["ei_lag"]["bin_ms"] = float(fine.rescale(pq.ms))
        part = m.cycle_participation(trains["exc"], arrays["rates"]["inh"], peak_hz)
        arrays["participation"] = part["per_cycle"]
        numbers["exc_fraction_per_cycle"] = {
            "mean": part["mean"], "n_cycles": part["n_cycles"],
            "sd": float(np.std(part["per_cycle"])) if part["n_cycles"] else None}
        if with_vr:
            on_grid_ok = True
            try:
                vr = van_rossum_by_class(trains["exc"], trains["inh"], VR_TIME_CONSTANT, n_pairs=vr_pairs,
                                         seed=vr_seed, method="grid", grid_step=dt)
            except PinglabError:
                on_grid_ok = False
            if not on_grid_ok:
                vr = van_rossum_by_class(trains["exc"], trains["inh"], VR_TIME_CONSTANT,
                                         n_pairs=vr_pairs or VR_SAMPLE_PAIRS, seed=vr_seed, method="elephant")
            numbers["van_rossum"] = vr.summary()
            arrays["van_rossum"] = vr.distances
    return numbers, arrays


def run_figures_full(result, arrays: dict, numbers: dict, workdir: Path, stem: str, label: str) -> list:
    """Raster, rates, spectra (Welch and multitaper with peaks), spectrogram, Van Rossum by class.

    Returns ``[(path, caption), ...]``.
    """
    import matplotlib.pyplot as plt

    from ..report.figures import (
        POPULATION_COLORS,
        raster,
        rates_figure,
        save_figure,
        spectra_figure,
        spectrogram_figure,
        van_rossum_figure,
    )

    workdir = Path(workdir)
    out = []
    t_stop = float(result.block.segments[0].t_stop.rescale(pq.s))
    window = (max(0.0, t_stop - 0.3), t_stop)
    for name, draw in (("raster", raster), ("rates", rates_figure)):
        fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
        if name == "rates":
            _draw_rates(ax, arrays["rates"], window)
        else:
            draw(result, ax=ax, window_s=window)
        ax.set_title(f"{label}: {'spike raster (E red, I blue)' if name == 'raster' else 'population rates'}",
                     fontsize=10)
        out.append((save_figure(fig, workdir / f"{stem}_{name}.png"),
                    f"{label}: {'raster, E and I marked' if name == 'raster' else 'population rates'} "
                    f"(last {window[1] - window[0]:.1f} s)"))
    spectra, peaks = {}, {}
    for pop, (f, p) in arrays["welch"].items():
        spectra[f"{pop} Welch"] = (f.magnitude, p.magnitude, POPULATION_COLORS[pop], "-")
    for pop, (f, p) in arrays["multitaper"].items():
        spectra[f"{pop} multitaper"] = (f.magnitude, p.magnitude, POPULATION_COLORS[pop], ":")
    peaks["peak"] = numbers["gamma_peak_hz"]
    out.append((spectra_figure(spectra, peaks, f"{label}: PSD of the population rates",
                               workdir / f"{stem}_psd.png"),
                f"{label}: Welch (solid) and multitaper (dotted) PSD, gamma peak marked"))
    rhythm = numbers["rhythm_population"]
    sig = arrays["rates"][rhythm]
    out.append((spectrogram_figure(sig.magnitude.reshape(-1), float(sig.sampling_rate.rescale(pq.Hz)),
                                   float(sig.t_start.rescale(pq.s)),
                                   f"{label}: spectrogram of the {rhythm} rate",
                                   workdir / f"{stem}_spectrogram.png"),
                f"{label}: spectrogram of the {rhythm} population rate"))
    if "van_rossum" in arrays:
        vr = numbers["van_rossum"]
        out.append((van_rossum_figure(arrays["van_rossum"], f"{label}: Van Rossum distance by pair class "
                                      f"(τ {vr['time_constant_ms']:g} ms)",
                                      workdir / f"{stem}_vanrossum.png"),
                    f"{label}: Van Rossum distances by pair class, Kruskal–Wallis p = {vr['kruskal_p']:.3g}"))
    return out


def _draw_rates(ax, rates: dict, window):
    from ..report.figures import POPULATION_COLORS, POPULATION_LABELS

    for pop, sig in rates.items():
        t = sig.times.rescale(pq.s).magnitude
        keep = (t >= window[0]) & (t <= window[1])
        ax.plot(t[keep] * 1e3, sig.magnitude.reshape(-1)[keep], color=POPULATION_COLORS[pop], lw=0.8,
                label=POPULATION_LABELS[pop])
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("population rate (Hz)")
    ax.legend(fontsize=8, loc="upper right")


# ------------------------------------------------------------------------------------------
# shared shapes of analysis: one or more single runs, and sweeps


def single_runs_report(run_dirs, workdir: Path, title_prefix: str) -> dict:
    """Report of one or more single runs (e.g. ``ping_gamma`` seeds): full measures and figures
    for each, and, for several runs, a side-by-side table and the spectrum averaged over them."""
    from ..measures import core as m
    from ..report.figures import POPULATION_COLORS, spectra_figure
    from ..report.html import figure_tag, model_section, provenance_section, table
    from ..runs.result import load_run

    folders = [f for d in run_dirs for f in point_folders(d)]
    results = [load_run(f) for f in folders]
    per_run, sections, arrays_all = [], [], []
    for k, (folder, result) in enumerate(zip(folders, results, strict=True)):
        numbers, arrays = run_measures(result, vr_seed=int(result.info.get("seed", 0)))
        arrays_all.append(arrays)
        label = f"seed {result.info.get('seed')}" + (f" ({folder.name})" if len(folders) > 1 else "")
        figs = run_figures_full(result, arrays, numbers, workdir, f"run{k}", label)
        per_run.append({"folder": str(folder), "seed": result.info.get("seed"), **numbers})
        sections.append((f"Run {label}", _run_tables(numbers) + "".join(figure_tag(p, c) for p, c in figs)))
    out = {"runs_measured": per_run}
    if len(results) > 1:
        keys = ["seed", "rate_exc_hz", "rate_inh_hz", "gamma_peak_hz", "gamma_power_share", "gamma_q_factor",
                "synchrony_exc", "lv_isi_exc"]
        rows = [[r.get(k) for k in keys] for r in per_run]
        mean_row = ["mean"] + [float(np.nanmean([r[k] for r in per_run if r.get(k) is not None]))
                               for k in keys[1:]]
        spectra, peaks = {}, {}
        for pop in ("exc", "inh"):
            if pop in arrays_all[0]["welch"]:
                f, mean, sem = m.mean_spectrum([a["welch"][pop] for a in arrays_all])
                spectra[f"{pop} (mean of {len(results)})"] = (f.magnitude, mean.magnitude,
                                                              POPULATION_COLORS[pop], "-")
                if pop == per_run[0]["rhythm_population"]:
                    peak = m.gamma_peak(f, mean)
                    peaks["mean peak"] = peak["peak_hz"]
                    out["mean_spectrum_peak_hz"] = peak["peak_hz"]
                    out["mean_spectrum_power_share"] = peak["power_share"]
        fig = spectra_figure(spectra, peaks, "Welch PSD averaged over runs", workdir / "mean_psd.png")
        out["mean_over_runs"] = dict(zip(keys[1:], mean_row[1:], strict=True))
        sections.insert(0, ("Runs side by side", table(rows + [mean_row], keys)
                            + figure_tag(fig, "Welch PSD averaged over the runs (seeds)")))
    sections.append(("Model", model_section(results[0].info)))
    sections.append(("Provenance", provenance_section([r.info for r in results], folders)))
    return {"title": f"{title_prefix}: {results[0].info['model']['name']}", "numbers": out,
            "sections": sections}


def _run_tables(numbers: dict) -> str:
    from ..report.html import table

    rows = []
    for pop, name in (("exc", "E"), ("inh", "I")):
        if f"rate_{pop}_hz" in numbers:
            w, mt = numbers[f"welch_{pop}"], numbers[f"multitaper_{pop}"]
            rows.append([name, numbers[f"rate_{pop}_hz"], numbers[f"cv_isi_{pop}"], numbers[f"lv_isi_{pop}"],
                         numbers[f"fraction_active_{pop}"], numbers[f"synchrony_{pop}"],
                         numbers[f"sttc_{pop}"],
                         w["peak_hz"], w["power_share"], w["q_factor"], mt["peak_hz"]])
    html = table(rows, ["population", "rate (Hz)", "CV ISI", "LV ISI", "fraction active", "synchrony",
                        "STTC (±5 ms)", "Welch peak (Hz)", "gamma share", "Q", "multitaper peak (Hz)"])
    if "ei_lag" in numbers:
        lag, part = numbers["ei_lag"], numbers["exc_fraction_per_cycle"]
        html += table([[lag["lag_ms"], lag["phase"], part["mean"], part["n_cycles"]]],
                      ["E→I lag (ms)", "lag (cycles)", "E cells firing per cycle", "cycles"])
    if "van_rossum" in numbers:
        vr = numbers["van_rossum"]
        html += table([[cls, c["n_pairs"], c["median"], c["mean"], c["q25"], c["q75"]]
                       for cls, c in vr["classes"].items()],
                      [f"pair class (VR τ {vr['time_constant_ms']:g} ms, {vr['method']})", "pairs", "median",
                       "mean", "q25", "q75"])
        html += (f"<p>Kruskal–Wallis across E–E, E–I, I–I: H = {vr['kruskal_h']:.4g}, "
                 f"p = {vr['kruskal_p']:.3g}</p>")
    return html


def _light_measures(result) -> tuple[dict, tuple]:
    """Rates, Welch peak, share, Q, LV and synchrony of one run, plus its rhythm spectrum."""
    from ..measures import core as m

    t_start, t_stop, dt = _window(result)
    bin_size = m.rate_bin_size(dt)
    out = {}
    spectrum = None
    rhythm = "exc" if "exc" in result.populations else "inh"
    for pop in ("exc", "inh"):
        if pop not in result.populations:
            out[f"rate_{pop}_hz"] = None
            continue
        tr = m._slice(result.spiketrains(pop), t_start, t_stop)
        out[f"rate_{pop}_hz"] = float(m.mean_rate(tr, t_start, t_stop))
        out[f"lv_isi_{pop}"] = m.lv_isi(tr)
        if pop == rhythm:
            f, psd = m.welch_psd(m.population_rate(tr, bin_size, t_start, t_stop))
            peak = m.gamma_peak(f, psd)
            out.update(gamma_peak_hz=peak["peak_hz"], gamma_power_share=peak["power_share"],
                       gamma_q_factor=peak["q_factor"])
            spectrum = (f, psd)
    return out, spectrum


def sweep_report(run_dirs, workdir: Path, *, x_of, group_of=None, xlabel: str, title: str,
                 panels=(("gamma_peak_hz", "gamma peak (Hz)"), ("rate_exc_hz", "E rate (Hz)"),
                         ("rate_inh_hz", "I rate (Hz)"))) -> dict:
    """Side-by-side report of a sweep: one row per parameter value (mean ± sd over seeds), metric
    against parameter, spectra averaged over seeds per value.

    ``x_of(info) -> float`` reads the swept value from a point's run.json; ``group_of(info)``
    names a condition (e.g. with and without E→I) or is None.
    """
    from ..measures import core as m
    from ..report.figures import metric_figure, spectra_figure
    from ..report.html import figure_tag, model_section, provenance_section, table
    from ..runs.result import load_run

    folders = [f for d in run_dirs for f in point_folders(d)]
    rows, infos, spectra = [], [], {}
    for folder in folders:
        result = load_run(folder)
        numbers, spectrum = _light_measures(result)
        info = result.info
        infos.append(info)
        group = group_of(info) if group_of else ""
        x = x_of(info)
        rows.append({"folder": folder.name, "group": group, "x": x, "seed": info.get("seed"), **numbers})
        spectra.setdefault((group, x), []).append(spectrum)
    keys = sorted({(r["group"], r["x"]) for r in rows}, key=lambda gx: (str(gx[0]), gx[1]))
    metrics = [k for k, _ in panels] + ["gamma_power_share", "gamma_q_factor"]
    metrics = list(dict.fromkeys(metrics))
    table_rows, summary = [], []
    for g, x in keys:
        sel = [r for r in rows if r["group"] == g and r["x"] == x]
        entry = {"group": g, "x": x, "n_seeds": len(sel)}
        for k in metrics:
            vals = [r[k] for r in sel if r.get(k) is not None and np.isfinite(r[k])]
            entry[k] = float(np.mean(vals)) if vals else None
            entry[k + "_sd"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
        f, mean, _ = m.mean_spectrum([s for s in spectra[(g, x)] if s is not None]) \
            if any(s is not None for s in spectra[(g, x)]) else (None, None, None)
        if f is not None:
            entry["mean_spectrum_peak_hz"] = m.gamma_peak(f, mean)["peak_hz"]
        summary.append(entry)
        table_rows.append([g, x, len(sel)] + [f"{entry[k]:.3g} ± {entry[k + '_sd']:.2g}"
                                              if entry[k] is not None else "n/a" for k in metrics]
                          + [entry.get("mean_spectrum_peak_hz")])
    groups = list(dict.fromkeys(g for g, _ in keys))
    xs_all = sorted({x for _, x in keys})
    fig_panels = []
    for k, label in panels:
        series = {}
        for g in groups:
            means = [next((e[k] for e in summary if e["group"] == g and e["x"] == x), None) for x in xs_all]
            sds = [next((e[k + "_sd"] for e in summary if e["group"] == g and e["x"] == x), 0.0)
                   for x in xs_all]
            series[str(g) or "runs"] = ([np.nan if v is None else v for v in means], sds)
        fig_panels.append((label, series))
    fig = metric_figure(xs_all, fig_panels, xlabel, title, workdir / "sweep_metrics.png")
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    spec_lines = {}
    for j, (g, x) in enumerate(keys):
        sp = [s for s in spectra[(g, x)] if s is not None]
        if sp:
            f, mean, _ = m.mean_spectrum(sp)
            spec_lines[f"{g} {x:g}".strip()] = (f.magnitude, mean.magnitude, cmap(j / max(1, len(keys) - 1)),
                                                "-" if not groups or g == groups[0] else ":")
    spec_fig = spectra_figure(spec_lines, {}, "Welch PSD of the rhythm population, mean over seeds",
                              workdir / "sweep_spectra.png")
    sections = [
        ("Sweep side by side (mean ± sd over seeds)",
         table(table_rows, ["condition", xlabel, "seeds"] + metrics + ["peak of mean spectrum (Hz)"])
         + figure_tag(fig, f"{title}: metric against parameter")
         + figure_tag(spec_fig, "spectra averaged over seeds, one line per parameter value")),
        ("Every run", table([[r["folder"], r["group"], r["x"], r["seed"]] + [r.get(k) for k in metrics]
                             for r in rows], ["run", "condition", xlabel, "seed"] + metrics)),
        ("Model", model_section(infos[0])),
        ("Provenance", provenance_section(infos, folders)),
    ]
    return {"title": title, "numbers": {"x_label": xlabel, "summary": summary, "runs_measured": rows},
            "sections": sections}
