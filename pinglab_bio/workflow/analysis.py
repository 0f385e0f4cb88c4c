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

from ..errors import PinglabError, printable
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
    """The protocol a run folder names: data only, checked against the catalogue, never imported."""
    for name in ("run.json", "protocol.json"):
        path = folder / name
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
                reason = getattr(err, "msg", None) or type(err).__name__
                raise PinglabError(f"{path} is not readable JSON ({reason}; truncated or edited?). Fix: "
                                   "point at a folder written by `pinglab-bio run`, or rerun it") from None
            if isinstance(data, dict) and isinstance(data.get("protocol"), str):
                protocol = data["protocol"]
                if protocol not in list_analyses() and protocol.isidentifier():
                    raise PinglabError(f"protocol '{protocol}' has no analysis script "
                                       f"(analysis/{protocol}.py). Fix: use folders of a protocol with one: "
                                       f"{', '.join(list_analyses()) or 'none'}")
                if protocol not in list_analyses():
                    raise PinglabError(
                        f"{path} names the protocol {printable(repr(protocol))}, which is not an analysis "
                        f"script of the catalogue ({', '.join(list_analyses()) or 'none'}); run folders are "
                        "data and never say which code runs. Fix: analyse folders of a catalogue protocol, "
                        "or pass your own script with --analysis-script PATH")
                return protocol
    raise PinglabError(f"{folder} has no run.json or protocol.json naming a protocol, so it is not a run "
                       "folder. Fix: pass folders written by `pinglab-bio run`")


def _user_folders(run_dirs) -> list[Path]:
    folders = [Path(d) for d in run_dirs]
    if not folders:
        raise PinglabError("no run folder given. Fix: pass at least one folder written by `pinglab-bio run`")
    for folder in folders:
        if not folder.is_dir():
            raise PinglabError(f"run folder '{printable(folder)}' does not exist. Fix: pass a folder "
                               "under runs/")
    return folders


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


def load_analysis(protocol: str, script: str | Path | None = None) -> ModuleType:
    """Import the catalogue's ``analysis/<protocol>.py``, or ``script`` when the user named one.

    Only a name the catalogue lists is imported (no paths, no ``..``); ``script`` is for a path
    that a user typed (``pinglab-bio analyze --analysis-script PATH``), never for one read from
    a run folder. A one-line error lists the scripts there are.
    """
    if script is not None:
        path = Path(script)
        if path.suffix != ".py" or not path.is_file():
            raise PinglabError(f"--analysis-script {str(script)!r} is not a .py file. Fix: pass the path of "
                               "an analysis script (see analysis/README.md)")
        module = import_script(path, f"pinglab_analysis_user_{path.stem}")
        if not callable(getattr(module, "analyze", None)):
            raise PinglabError(f"analysis script {path} has no analyze(run_dirs, workdir). Fix: define it "
                               "(see analysis/README.md)")
        return module
    if protocol not in list_analyses():
        raise PinglabError(f"protocol {printable(repr(protocol))} has no analysis script in the catalogue. "
                           f"Fix: use folders of a protocol with one: {', '.join(list_analyses()) or 'none'}")
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


def analyze(run_dirs, fmt: str = "html", script: str | Path | None = None) -> tuple[str, str, dict]:
    """Analyse run folders; return ``(protocol, rendered text, numbers)``.

    The script is the catalogue's ``analysis/<protocol>.py`` of the folders' protocol, or
    ``script`` (a path the user typed). Nothing a run folder names is ever imported.
    """
    if fmt not in FORMATS:
        raise PinglabError(f"unknown format '{fmt}'. Fix: use one of {', '.join(FORMATS)}")
    if script is not None:
        folders = _user_folders(run_dirs)
        protocol = Path(script).stem
    else:
        protocol, folders = resolve_runs(run_dirs)
    module = load_analysis(protocol, script)
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
    """Raster and rates (one panel per population), spectra (Welch and multitaper with the peak
    and its harmonics), spectrogram, Van Rossum by class.

    Returns ``[(path, caption), ...]``; each caption says what the figure shows and its window.
    """
    from ..report.figures import (
        harmonics,
        population_colors,
        population_key,
        population_label,
        raster,
        rates_panels,
        save_figure,
        spectra_figure,
        spectrogram_figure,
        subsampling_text,
        van_rossum_figure,
    )
    workdir = Path(workdir)
    out = []
    pops = list(arrays["rates"])
    colors = population_colors(pops)
    t_stop = float(result.block.segments[0].t_stop.rescale(pq.s))
    window = (max(0.0, t_stop - 0.3), t_stop)
    a, b = numbers["analysis_t_start_s"], numbers["analysis_t_stop_s"]
    analysis = f"analysis window {a * 1e3:g}–{b * 1e3:g} ms"
    shown = f"{window[0] * 1e3:g}–{window[1] * 1e3:g} ms"
    sizes = {p: int(result.info["populations"][p]) for p in pops}
    fig = raster(result, window_s=window)
    fig.suptitle(f"{label}: spike raster", fontsize=10)
    out.append((save_figure(fig, workdir / f"{stem}_raster.png"),
                f"{label}: spike raster, {shown}, one panel per population ({population_key(pops)}), true "
                f"neuron indices; {subsampling_text(sizes, 400)}. Measures use the {analysis}."))
    fig = rates_panels(arrays["rates"], window)
    fig.suptitle(f"{label}: population rates", fontsize=10)
    out.append((save_figure(fig, workdir / f"{stem}_rates.png"),
                f"{label}: population rates (Hz, {numbers['rate_bin_ms']:g} ms bins), {shown}, each "
                f"population on its own axis. Measures use the {analysis}."))
    spectra, peaks = {}, {}
    for pop, (f, p) in arrays["welch"].items():
        spectra[f"{population_label(pop)} Welch"] = (f.magnitude, p.magnitude, colors[pop], "-")
    for pop, (f, p) in arrays["multitaper"].items():
        spectra[f"{population_label(pop)} multitaper"] = (f.magnitude, p.magnitude, colors[pop], ":")
    peak = numbers["gamma_peak_hz"]
    peaks["peak"] = peak
    fig = spectra_figure(spectra, peaks, f"{label}: PSD of the population rates", harmonics_of=peak)
    harm = ", ".join(f"{k}f {f:.0f} Hz" for k, f in harmonics(peak))
    out.append((save_figure(fig, workdir / f"{stem}_psd.png"),
                f"{label}: Welch (solid) and multitaper (dotted) PSD of each population rate over the "
                f"{analysis}; gamma band 30–100 Hz shaded, peak {peak:.1f} Hz dashed"
                + (f", harmonics dotted ({harm})" if harm else "")
                + ". The gamma power share counts all power in 30–100 Hz, the 2nd harmonic included where it "
                  "falls below 100 Hz."))
    rhythm = numbers["rhythm_population"]
    sig = arrays["rates"][rhythm]
    fig = spectrogram_figure(sig.magnitude.reshape(-1), float(sig.sampling_rate.rescale(pq.Hz)),
                             float(sig.t_start.rescale(pq.s)), f"{label}: spectrogram of the {rhythm} rate")
    out.append((save_figure(fig, workdir / f"{stem}_spectrogram.png"),
                f"{label}: spectrogram of the {rhythm} population rate over the {analysis} (0.2 s Hann "
                "windows, 90 % overlap); dotted lines at 30 and 100 Hz"))
    if "van_rossum" in arrays:
        vr = numbers["van_rossum"]
        fig = van_rossum_figure(arrays["van_rossum"], f"{label}: Van Rossum distance by pair class "
                                f"(τ {vr['time_constant_ms']:g} ms)")
        out.append((save_figure(fig, workdir / f"{stem}_vanrossum.png"),
                    f"{label}: distributions of the Van Rossum distance (τ {vr['time_constant_ms']:g} ms) "
                    f"of neuron pairs by class over the {analysis}; Kruskal–Wallis p "
                    f"{_p_text(vr['kruskal_p'])}"))
    return out


def _p_text(p) -> str:
    """"= 0.012" or "< 1e-300" (a p-value that underflowed): the relation and the value."""
    from ..report.metrics import format_p

    text = format_p(p)
    return text if text.startswith("<") else f"= {text}"


# ------------------------------------------------------------------------------------------
# shared shapes of analysis: one or more single runs, and sweeps


def single_runs_report(run_dirs, workdir: Path, title_prefix: str) -> dict:
    """Report of one or more single runs (e.g. ``ping_gamma`` seeds): full measures and figures
    for each, and, for several runs, a side-by-side table and the spectrum averaged over them."""
    from ..measures import gamma_peak
    from ..report.figures import population_colors, save_figure, spectra_figure
    from ..report.html import figure_tag, model_section, provenance_section, table
    from ..report.metrics import column_label
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
        sections.insert(0, ("Runs side by side", table(rows + [mean_row], [column_label(k) for k in keys])
                            + _column_notes(keys[1:])
                            + figure_tag(fig, "Welch PSD of the rhythm population averaged over the runs "
                                              "(seeds), each over its analysis window; gamma band shaded")))
    sections.append(("Model", model_section(results[0].info)))
    sections.append(("Provenance", provenance_section([r.info for r in results], folders)))
    return {"title": f"{title_prefix}: {results[0].info['model']['name']}", "numbers": out,
            "sections": sections}


def _column_notes(keys) -> str:
    """A collapsible table of what each column means: label, unit and meaning from the metric
    registry, with the population left out (the table has a row per population)."""
    import re

    from ..report.html import table
    from ..report.metrics import metric_info

    rows = []
    for key in keys:
        m = metric_info(key, lambda p: "")
        if m is not None:
            label, meaning = m.label.strip(), re.sub(r"\s+", " ", m.meaning)
            if all(r[0] != label for r in rows):
                rows.append((label, m.unit or "–", meaning))
    return (f"<details><summary>what the columns mean</summary>{table(rows, ['column', 'unit', 'meaning'])}"
            "</details>")


def _run_tables(numbers: dict, populations: list) -> str:
    from ..report.figures import population_label
    from ..report.html import escape, table
    from ..report.metrics import GAMMA_SHARE_NOTE

    rows = []
    for pop in populations:
        w, mt = numbers[f"welch_{pop}"], numbers[f"multitaper_{pop}"]
        rows.append([population_label(pop), numbers[f"rate_{pop}_hz"], numbers[f"cv_isi_{pop}"],
                     numbers[f"lv_isi_{pop}"], numbers[f"fraction_active_{pop}"], numbers[f"synchrony_{pop}"],
                     numbers[f"sttc_{pop}"], w["peak_hz"], w["power_share"], w["q_factor"], mt["peak_hz"]])
    a, b = numbers["analysis_t_start_s"], numbers["analysis_t_stop_s"]
    html = (f"<p>Analysis window {a * 1e3:g}–{b * 1e3:g} ms (the transient before it is left out), dt "
            f"{numbers['dt_ms']:g} ms, population rates in {numbers['rate_bin_ms']:g} ms bins; gamma peak "
            f"{numbers['gamma_peak_hz']:.2f} Hz of the {population_label(numbers['rhythm_population'])} "
            "rate, "
            f"prominence {numbers['gamma_prominence']:.4g}× (peak over the median PSD in 5–150 Hz).</p>")
    html += table(rows, ["population", "rate (Hz)", "CV ISI", "LV ISI", "fraction active", "synchrony",
                         "STTC (±5 ms)", "Welch peak (Hz)", "gamma share", "Q", "multitaper peak (Hz)"])
    keys = [f"{k}_{populations[0]}" for k in ("cv_isi", "lv_isi", "fraction_active", "synchrony", "sttc")]
    html += _column_notes([f"rate_{populations[0]}_hz"] + keys
                          + ["gamma_peak_hz", "gamma_power_share", "gamma_q_factor"])
    html += f"<p class='note'>{escape(GAMMA_SHARE_NOTE)}</p>"
    if "ei_lag" in numbers:
        exc, inh = (population_label(p) for p in numbers["ei_populations"])
        lag, part = numbers["ei_lag"], numbers[f"{numbers['ei_populations'][0]}_fraction_per_cycle"]
        html += table([[lag["lag_ms"], lag["phase"], part["mean"], part["n_cycles"]]],
                      [f"{exc}→{inh} lag (ms)", "lag (cycles)", f"{exc} cells firing per cycle", "cycles"])
        html += (f"<p class='note'>{exc}→{inh} lag: time of the peak of the cross-correlation of the two "
                 f"population rates within ±½ period (positive: {inh} after {exc}). Cells firing per cycle: "
                 f"fraction of {exc} cells with a spike in a cycle, cycles cut at troughs of the {inh} "
                 "rate.</p>")
    if "van_rossum" in numbers:
        vr = numbers["van_rossum"]
        html += table([[cls, c["n_pairs"], c["median"], c["mean"], c["q25"], c["q75"]]
                       for cls, c in vr["classes"].items()],
                      [f"pair class (VR τ {vr['time_constant_ms']:g} ms, {vr['method']})", "pairs", "median",
                       "mean", "q25", "q75"])
        html += (f"<p>Van Rossum distance (dimensionless; one spike against an empty train is 1). "
                 f"Kruskal–Wallis across E–E, E–I, I–I: H = {vr['kruskal_h']:.4g}, "
                 f"p {escape(_p_text(vr['kruskal_p']))}</p>")
    return html


def sweep_report(run_dirs, workdir: Path, *, x_of, group_of=None, xlabel: str, title: str,
                 panels=None, references=None) -> dict:
    """Side-by-side report of a sweep: one row per parameter value (mean ± sd over seeds), metric
    against parameter, spectra averaged over seeds per value.

    ``x_of(info) -> float`` reads the swept value from a point's run.json; ``group_of(info)``
    names a condition (e.g. with and without E→I) or is None. ``panels`` is
    ``[(metric, ylabel), ...]`` (default: the gamma peak and each population's rate);
    ``references`` is ``{metric: (xs, ys, label)}``, published values drawn beside that
    metric's panel. The table and figure are those of a sweep's own summary
    (:func:`~.sweep_summary.seed_means`, :func:`~.sweep_summary.sweep_figure`), on the measures at
    level ``"sweep"``. Rows are in increasing parameter value; "± sd" appears only where two or
    more seeds were averaged.
    """
    import matplotlib

    from ..measures import gamma_peak
    from ..report.figures import save_figure, spectra_figure
    from ..report.html import figure_tag, model_section, provenance_section, table
    from ..report.metrics import GAMMA_SHARE_NOTE, column_label, format_mean_sd, format_value
    from ..runs.result import load_run
    from .sweep_summary import default_panels, reference_table, seed_means, sweep_figure

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
    groups_seen = list(dict.fromkeys(r["group"] for r in rows))
    ordered = sorted(rows, key=lambda r: (groups_seen.index(r["group"]), r["x"], r["seed"] or 0))
    summary_rows = seed_means(ordered, "x", group="group", keys=metrics)
    table_rows = []
    many_groups = len(groups_seen) > 1
    for entry in summary_rows:
        g, x = entry["group"], entry["x"]
        f, mean, _ = mean_spectrum(spectra[(g, x)])
        entry["mean_spectrum_peak_hz"] = gamma_peak(f, mean)["peak_hz"]
        table_rows.append(([g] if many_groups else []) + [format_value(x), entry["n_seeds"]]
                          + [format_mean_sd(entry[k], entry.get(k + "_sd"), entry["n_seeds"])
                             for k in metrics]
                          + [format_value(entry["mean_spectrum_peak_hz"])])
    refs = references or {}
    fig = sweep_figure(summary_rows, "x", panels, xlabel=xlabel, title=title, group="group",
                       series_label=lambda g: str(g) or "this model", references=refs)
    fig_path = save_figure(fig, workdir / "sweep_metrics.png")
    cmap = matplotlib.colormaps["viridis"]
    spec_lines = {}
    for j, entry in enumerate(summary_rows):
        g, x = entry["group"], entry["x"]
        f, mean, _ = mean_spectrum(spectra[(g, x)])
        color = cmap(j / max(1, len(summary_rows) - 1))
        style = "-" if g == groups_seen[0] else ":"
        spec_lines[f"{g} {xlabel} {x:g}".strip()] = (f.magnitude, mean.magnitude, color, style)
    spec_fig = spectra_figure(spec_lines, {}, "Welch PSD of the rhythm population, mean over seeds")
    spec_path = save_figure(spec_fig, workdir / "sweep_spectra.png")
    n_seeds = sorted({e["n_seeds"] for e in summary_rows})
    seeds_text = (f"{n_seeds[0]} seed{'s' if n_seeds[0] > 1 else ''} per value" if len(n_seeds) == 1
                  else f"{n_seeds[0]}–{n_seeds[-1]} seeds per value")
    a, b = rows[0]["analysis_t_start_s"], rows[0]["analysis_t_stop_s"]
    intro = (f"<p>{seeds_text}; each run measured over its analysis window ({a * 1e3:g}–{b * 1e3:g} ms for "
             f"the first). Cells are the mean over seeds, ± the sample sd where there are two or more.</p>")
    ref_html = "".join(reference_table(key, ref, xlabel) for key, ref in refs.items())
    header = (["condition"] if many_groups else []) + [xlabel, "seeds"] + [column_label(k) for k in metrics] \
        + ["peak of mean PSD (Hz)"]
    what = " and ".join(ylabel for _, ylabel in panels)
    ref_note = "; the published reference in grey (open squares)" if refs else ""
    every = [([r["group"]] if many_groups else []) + [r["folder"], format_value(r["x"]), r["seed"]]
             + [r.get(k) for k in metrics] for r in ordered]
    sections = [
        ("Sweep side by side",
         intro + table(table_rows, header) + _column_notes(metrics)
         + f"<p class='note'>{GAMMA_SHARE_NOTE}</p>"
         + figure_tag(fig_path, f"{what} against {xlabel}: mean over seeds, error bars ± sd where two or "
                                f"more seeds{ref_note}")
         + ref_html
         + figure_tag(spec_path, "Welch PSD of the rhythm population's rate averaged over seeds, one line "
                                 "per parameter value; gamma band shaded")),
        ("Every run", table(every, (["condition"] if many_groups else []) + ["run", xlabel, "seed"]
                            + [column_label(k) for k in metrics])),
        ("Model", model_section(infos[0])),
        ("Provenance", provenance_section(infos, folders)),
    ]
    return {"title": title, "numbers": {"x_label": xlabel, "summary": summary_rows, "runs_measured": rows},
            "sections": sections}
