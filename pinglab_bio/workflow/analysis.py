"""``pinglab-bio analyze``: run folders in, a report out (HTML, Markdown or JSON).

The analysis script is picked by protocol: ``analysis/<protocol>.py`` defines
``analyze(run_dirs, workdir) -> {"title", "numbers", "sections"}`` (see ``analysis/README.md``).
This module finds the protocol of the folders, runs the script in a temporary folder, and
renders the result. It also holds what the scripts share: the measures of one run folder
(:func:`run_measures`, a call of :func:`pinglab_bio.measures.summary`, so a single run, a sweep
point and a dt-study point are measured alike), its figures, and the reports of single runs and
of sweeps.
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
from ..measures import VR_TIME_CONSTANT, mean_spectrum, summary
from ..paths import catalogue_dir, find_analysis, import_script

__all__ = ["FORMATS", "VR_TIME_CONSTANT", "resolve_runs", "load_analysis", "list_analyses", "analyze",
           "write_protocol_report", "render", "point_folders", "run_window", "run_spiketrains",
           "run_measures", "run_figures_full", "jsonable", "single_runs_report", "sweep_report"]

FORMATS = ("html", "md", "json")


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


def run_window(result) -> tuple[pq.Quantity, pq.Quantity, pq.Quantity]:
    """``(t_start, t_stop, dt)`` of a run in s: the analysis window (after the transient) and the step."""
    info = result.info
    seg = result.block.segments[0]
    t_start = float((info.get("transient") or {}).get("si_value", 0.0) or 0.0) * pq.s
    return t_start, seg.t_stop.rescale(pq.s), float(info["dt"]["si_value"]) * pq.s


def run_spiketrains(result) -> dict:
    """``{population: list of neo.SpikeTrain}`` of a run, populations in the run's order."""
    return {pop: result.spiketrains(pop) for pop in result.populations}


def run_measures(result, *, vr_pairs: int | None = None, vr_seed: int = 0, with_vr: bool = True,
                 level: str = "full") -> tuple:
    """The measures of one run folder's spikes over its analysis window; returns ``(numbers, arrays)``.

    :func:`pinglab_bio.measures.summary` at ``level`` (by default ``"full"``: every measure
    ``pinglab-bio analyze`` reports), with the window and dt read from the run. ``vr_seed``
    seeds the sampled pairs (STTC, Van Rossum), ``with_vr`` includes the Van Rossum distances
    and ``vr_pairs`` samples that many pairs per class (``None``: all).
    """
    t_start, t_stop, dt = run_window(result)
    return summary(run_spiketrains(result), dt=dt, t_start=t_start, t_stop=t_stop, level=level, seed=vr_seed,
                   van_rossum=with_vr, vr_pairs=vr_pairs)


def run_figures_full(result, arrays: dict, numbers: dict, workdir: Path, stem: str, label: str) -> list:
    """Raster, rates, spectra (Welch and multitaper with peaks), spectrogram, Van Rossum by class.

    Returns ``[(path, caption), ...]``.
    """
    from ..report.figures import (
        draw_rates,
        new_figure,
        population_colors,
        population_key,
        population_label,
        raster,
        save_figure,
        spectra_figure,
        spectrogram_figure,
        van_rossum_figure,
    )

    workdir = Path(workdir)
    out = []
    pops = list(arrays["rates"])
    colors = population_colors(pops)
    t_stop = float(result.block.segments[0].t_stop.rescale(pq.s))
    window = (max(0.0, t_stop - 0.3), t_stop)
    shown = " and ".join(population_label(p) for p in pops)
    for name in ("raster", "rates"):
        fig, ax = new_figure()
        if name == "rates":
            draw_rates(ax, arrays["rates"], window)
        else:
            raster(result, ax=ax, window_s=window)
        what = f"spike raster ({population_key(pops)})" if name == "raster" else "population rates"
        ax.set_title(f"{label}: {what}", fontsize=10)
        out.append((save_figure(fig, workdir / f"{stem}_{name}.png"),
                    f"{label}: {f'raster, {shown} marked' if name == 'raster' else 'population rates'} "
                    f"(last {window[1] - window[0]:.1f} s)"))
    spectra, peaks = {}, {}
    for pop, (f, p) in arrays["welch"].items():
        spectra[f"{pop} Welch"] = (f.magnitude, p.magnitude, colors[pop], "-")
    for pop, (f, p) in arrays["multitaper"].items():
        spectra[f"{pop} multitaper"] = (f.magnitude, p.magnitude, colors[pop], ":")
    peaks["peak"] = numbers["gamma_peak_hz"]
    fig = spectra_figure(spectra, peaks, f"{label}: PSD of the population rates")
    out.append((save_figure(fig, workdir / f"{stem}_psd.png"),
                f"{label}: Welch (solid) and multitaper (dotted) PSD, gamma peak marked"))
    rhythm = numbers["rhythm_population"]
    sig = arrays["rates"][rhythm]
    fig = spectrogram_figure(sig.magnitude.reshape(-1), float(sig.sampling_rate.rescale(pq.Hz)),
                             float(sig.t_start.rescale(pq.s)), f"{label}: spectrogram of the {rhythm} rate")
    out.append((save_figure(fig, workdir / f"{stem}_spectrogram.png"),
                f"{label}: spectrogram of the {rhythm} population rate"))
    if "van_rossum" in arrays:
        vr = numbers["van_rossum"]
        fig = van_rossum_figure(arrays["van_rossum"], f"{label}: Van Rossum distance by pair class "
                                f"(τ {vr['time_constant_ms']:g} ms)")
        out.append((save_figure(fig, workdir / f"{stem}_vanrossum.png"),
                    f"{label}: Van Rossum distances by pair class, Kruskal–Wallis p = {vr['kruskal_p']:.3g}"))
    return out


# ------------------------------------------------------------------------------------------
# shared shapes of analysis: one or more single runs, and sweeps


def single_runs_report(run_dirs, workdir: Path, title_prefix: str) -> dict:
    """Report of one or more single runs (e.g. ``ping_gamma`` seeds): full measures and figures
    for each, and, for several runs, a side-by-side table and the spectrum averaged over them."""
    from ..measures import gamma_peak
    from ..report.figures import population_colors, save_figure, spectra_figure
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
        sections.append((f"Run {label}", _run_tables(numbers, list(arrays["rates"]))
                         + "".join(figure_tag(p, c) for p, c in figs)))
    out = {"runs_measured": per_run}
    if len(results) > 1:
        pops = list(arrays_all[0]["rates"])
        rhythm = per_run[0]["rhythm_population"]
        keys = (["seed"] + [f"rate_{p}_hz" for p in pops]
                + ["gamma_peak_hz", "gamma_power_share", "gamma_q_factor", f"synchrony_{rhythm}",
                   f"lv_isi_{rhythm}"])
        rows = [[r.get(k) for k in keys] for r in per_run]
        mean_row = ["mean"] + [float(np.nanmean([r[k] for r in per_run if r.get(k) is not None]))
                               for k in keys[1:]]
        spectra, peaks = {}, {}
        colors = population_colors(pops)
        for pop in arrays_all[0]["welch"]:
            f, mean, _ = mean_spectrum([a["welch"][pop] for a in arrays_all])
            spectra[f"{pop} (mean of {len(results)})"] = (f.magnitude, mean.magnitude, colors[pop], "-")
            if pop == rhythm:
                peak = gamma_peak(f, mean)
                peaks["mean peak"] = peak["peak_hz"]
                out["mean_spectrum_peak_hz"] = peak["peak_hz"]
                out["mean_spectrum_power_share"] = peak["power_share"]
        fig = save_figure(spectra_figure(spectra, peaks, "Welch PSD averaged over runs"),
                          workdir / "mean_psd.png")
        out["mean_over_runs"] = dict(zip(keys[1:], mean_row[1:], strict=True))
        sections.insert(0, ("Runs side by side", table(rows + [mean_row], keys)
                            + figure_tag(fig, "Welch PSD averaged over the runs (seeds)")))
    sections.append(("Model", model_section(results[0].info)))
    sections.append(("Provenance", provenance_section([r.info for r in results], folders)))
    return {"title": f"{title_prefix}: {results[0].info['model']['name']}", "numbers": out,
            "sections": sections}


def _run_tables(numbers: dict, populations: list) -> str:
    from ..report.figures import population_label
    from ..report.html import table

    rows = []
    for pop in populations:
        w, mt = numbers[f"welch_{pop}"], numbers[f"multitaper_{pop}"]
        rows.append([population_label(pop), numbers[f"rate_{pop}_hz"], numbers[f"cv_isi_{pop}"],
                     numbers[f"lv_isi_{pop}"], numbers[f"fraction_active_{pop}"], numbers[f"synchrony_{pop}"],
                     numbers[f"sttc_{pop}"], w["peak_hz"], w["power_share"], w["q_factor"], mt["peak_hz"]])
    html = table(rows, ["population", "rate (Hz)", "CV ISI", "LV ISI", "fraction active", "synchrony",
                        "STTC (±5 ms)", "Welch peak (Hz)", "gamma share", "Q", "multitaper peak (Hz)"])
    if "ei_lag" in numbers:
        exc, inh = (population_label(p) for p in numbers["ei_populations"])
        lag, part = numbers["ei_lag"], numbers[f"{numbers['ei_populations'][0]}_fraction_per_cycle"]
        html += table([[lag["lag_ms"], lag["phase"], part["mean"], part["n_cycles"]]],
                      [f"{exc}→{inh} lag (ms)", "lag (cycles)", f"{exc} cells firing per cycle", "cycles"])
    if "van_rossum" in numbers:
        vr = numbers["van_rossum"]
        html += table([[cls, c["n_pairs"], c["median"], c["mean"], c["q25"], c["q75"]]
                       for cls, c in vr["classes"].items()],
                      [f"pair class (VR τ {vr['time_constant_ms']:g} ms, {vr['method']})", "pairs", "median",
                       "mean", "q25", "q75"])
        html += (f"<p>Kruskal–Wallis across E–E, E–I, I–I: H = {vr['kruskal_h']:.4g}, "
                 f"p = {vr['kruskal_p']:.3g}</p>")
    return html


def sweep_report(run_dirs, workdir: Path, *, x_of, group_of=None, xlabel: str, title: str,
                 panels=None) -> dict:
    """Side-by-side report of a sweep: one row per parameter value (mean ± sd over seeds), metric
    against parameter, spectra averaged over seeds per value.

    ``x_of(info) -> float`` reads the swept value from a point's run.json; ``group_of(info)``
    names a condition (e.g. with and without E→I) or is None. ``panels`` is
    ``[(metric, ylabel), ...]`` (default: the gamma peak and each population's rate). The table and figure are
    those of a sweep's own summary (:func:`~.sweep_summary.seed_means`,
    :func:`~.sweep_summary.sweep_figure`), on the measures at level ``"sweep"``.
    """
    import matplotlib

    from ..measures import gamma_peak
    from ..report.figures import save_figure, spectra_figure
    from ..report.html import figure_tag, model_section, provenance_section, table
    from ..runs.result import load_run
    from .sweep_summary import default_panels, seed_means, sweep_figure

    folders = [f for d in run_dirs for f in point_folders(d)]
    rows, infos, spectra = [], [], {}
    for folder in folders:
        result = load_run(folder)
        numbers, arrays = run_measures(result, level="sweep")
        info = result.info
        infos.append(info)
        group = group_of(info) if group_of else ""
        x = x_of(info)
        rows.append({"folder": folder.name, "group": group, "x": x, "seed": info.get("seed"), **numbers})
        spectra.setdefault((group, x), []).append(arrays["welch"][numbers["rhythm_population"]])
    panels = default_panels(list(infos[0]["populations"])) if panels is None else panels
    metrics = list(dict.fromkeys([k for k, _ in panels] + ["gamma_power_share", "gamma_q_factor"]))
    ordered = sorted(rows, key=lambda r: (str(r["group"]), r["x"]))
    summary_rows = seed_means(ordered, "x", group="group", keys=metrics)
    table_rows = []
    for entry in summary_rows:
        g, x = entry["group"], entry["x"]
        f, mean, _ = mean_spectrum(spectra[(g, x)])
        entry["mean_spectrum_peak_hz"] = gamma_peak(f, mean)["peak_hz"]
        table_rows.append([g, x, entry["n_seeds"]]
                          + [f"{entry[k]:.3g} ± {entry.get(k + '_sd', 0.0):.2g}" if entry[k] is not None
                             else "n/a" for k in metrics] + [entry["mean_spectrum_peak_hz"]])
    fig = sweep_figure(summary_rows, "x", panels, xlabel=xlabel, title=title, group="group",
                       series_label=lambda g: str(g) or "runs")
    fig_path = save_figure(fig, workdir / "sweep_metrics.png")
    groups = list(dict.fromkeys(e["group"] for e in summary_rows))
    cmap = matplotlib.colormaps["viridis"]
    spec_lines = {}
    for j, entry in enumerate(summary_rows):
        g, x = entry["group"], entry["x"]
        f, mean, _ = mean_spectrum(spectra[(g, x)])
        color = cmap(j / max(1, len(summary_rows) - 1))
        style = "-" if g == groups[0] else ":"
        spec_lines[f"{g} {x:g}".strip()] = (f.magnitude, mean.magnitude, color, style)
    spec_fig = spectra_figure(spec_lines, {}, "Welch PSD of the rhythm population, mean over seeds")
    spec_path = save_figure(spec_fig, workdir / "sweep_spectra.png")
    sections = [
        ("Sweep side by side (mean ± sd over seeds)",
         table(table_rows, ["condition", xlabel, "seeds"] + metrics + ["peak of mean spectrum (Hz)"])
         + figure_tag(fig_path, f"{title}: metric against parameter")
         + figure_tag(spec_path, "spectra averaged over seeds, one line per parameter value")),
        ("Every run", table([[r["folder"], r["group"], r["x"], r["seed"]] + [r.get(k) for k in metrics]
                             for r in rows], ["run", "condition", xlabel, "seed"] + metrics)),
        ("Model", model_section(infos[0])),
        ("Provenance", provenance_section(infos, folders)),
    ]
    return {"title": title, "numbers": {"x_label": xlabel, "summary": summary_rows, "runs_measured": rows},
            "sections": sections}
