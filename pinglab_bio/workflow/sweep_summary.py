"""Sweep tables and plots: results.csv (every run), summary.csv (means over seeds), a figure and a report.

:func:`seed_means` (the mean-over-seeds table) and :func:`sweep_figure` (metric against
parameter) are the one implementation behind both a sweep's own summary (:func:`summarize_sweep`,
written when the sweep finishes) and the report ``pinglab-bio analyze`` makes of it
(:func:`pinglab_bio.workflow.analysis.sweep_report`).
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np

__all__ = ["write_table", "summarize_sweep", "seed_means", "sweep_figure", "row_populations", "mean_keys",
           "default_panels", "MEAN_KEYS", "csv_value", "x_sort_key", "summary_table", "reference_table"]

#: Metrics averaged over seeds; ``{}`` stands for each population of the rows, in their order.
MEAN_KEYS = ("gamma_peak_hz", "gamma_power_share", "gamma_prominence", "rate_{}_hz", "synchrony_{}")


def row_populations(rows: list[dict]) -> list[str]:
    """The populations of sweep rows: every ``P`` with a ``rate_P_hz`` key, in first-seen order."""
    keys = dict.fromkeys(k for r in rows for k in r)
    return [k[len("rate_"):-len("_hz")] for k in keys if k.startswith("rate_") and k.endswith("_hz")]


def mean_keys(populations, templates=MEAN_KEYS) -> list[str]:
    """``templates`` with ``{}`` filled in for each population (each template for all, in turn)."""
    return list(dict.fromkeys(k for t in templates for k in ([t.format(p) for p in populations]
                                                            if "{}" in t else [t])))


def default_panels(populations) -> list[tuple[str, str]]:
    """Gamma peak and the rate of each population: ``[(metric, ylabel), ...]``."""
    from ..report.figures import population_label

    return [("gamma_peak_hz", "gamma peak (Hz)")] + [(f"rate_{p}_hz", f"{population_label(p)} rate (Hz)")
                                                     for p in populations]


def csv_value(value):
    """A value as a CSV cell: floats to 12 significant digits, so that a value computed as
    4.500000000000001 is written 4.5 (12 digits keep far more than any measure resolves)."""
    if isinstance(value, (float, np.floating)) and not isinstance(value, bool):
        return f"{float(value):.12g}"
    return value


def write_table(rows: list[dict], path: Path):
    """Write rows (dicts) as CSV, columns in first-seen order, floats by :func:`csv_value`."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: csv_value(v) for k, v in row.items()} for row in rows)


_LEADING_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


def x_sort_key(value):
    """Sort key of a swept value: numbers (and text starting with one, "4.5ms") by their value,
    before other text; so 4.5, 6, 9, 12, 18 and not 12, 18, 4.5, 6, 9."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return (0, float(value), "")
    match = _LEADING_NUMBER.match(str(value))
    if match:
        return (0, float(match.group(1)), str(value))
    return (1, 0.0, str(value))


def _finite(value) -> bool:
    return value is not None and isinstance(value, (int, float, np.integer, np.floating)) \
        and not isinstance(value, bool) and math.isfinite(value)


def seed_means(rows: list[dict], x: str, *, group: str | None = None, keys=None) -> list[dict]:
    """One row per parameter value (and group): the mean of each metric over the seeds there.

    Parameters
    ----------
    rows : list of dict
        One per run: the swept value under ``x``, the group under ``group`` and the metrics.
    x : str
        Key of the swept value.
    group : str, optional
        Key of a condition (e.g. with and without E→I) that splits the rows.
    keys : sequence of str, optional
        Metrics to average; by default :data:`MEAN_KEYS` for the populations of the rows.

    Returns
    -------
    list of dict
        Groups in first-seen order, values in increasing order within each (numerically, see
        :func:`x_sort_key`): ``{group: g, x: value, "n_seeds": n, key: mean, ...}``,
        with ``key + "_sd"`` (sample sd, ddof 1) where two or more seeds have a finite value.
        A mean is over the finite values; None where there is none.
    """
    keys = mean_keys(row_populations(rows)) if keys is None else keys
    pairs = list(dict.fromkeys((r.get(group) if group else None, r[x]) for r in rows))
    groups = list(dict.fromkeys(g for g, _ in pairs))
    pairs.sort(key=lambda p: (groups.index(p[0]), x_sort_key(p[1])))
    table = []
    for g, xv in pairs:
        members = [r for r in rows if r[x] == xv and (group is None or r.get(group) == g)]
        row = ({group: g} if group else {}) | {x: xv, "n_seeds": len(members)}
        for key in keys:
            vals = [r[key] for r in members if _finite(r.get(key))]
            row[key] = float(np.mean(vals)) if vals else None
            if len(vals) > 1:
                row[key + "_sd"] = float(np.std(vals, ddof=1))
        table.append(row)
    return table


def sweep_figure(table: list[dict], x: str, panels, *, xlabel: str, title: str, group: str | None = None,
                 series_label=None, references: dict | None = None):
    """Metric against the swept value, mean ± sd over seeds, one line per group, one panel per metric.

    ``table`` is the output of :func:`seed_means`; ``panels`` is ``[(metric, ylabel), ...]``;
    ``series_label(g)`` names a group's line in the legend (default: the group's value);
    ``references`` is ``{metric: (xs, ys, label)}``, a published curve drawn on that metric's
    panel. Points with one seed have no error bar. Returns the
    :class:`matplotlib.figure.Figure`.
    """
    from ..report.figures import metric_figure

    groups = list(dict.fromkeys(r.get(group) for r in table)) if group else [None]
    label_of = series_label or (lambda g: None if g is None else str(g))
    fig_panels = []
    for key, ylabel in panels:
        series = {}
        for g in groups:
            sel = [r for r in table if group is None or r[group] == g]
            series[label_of(g)] = ([r[x] for r in sel],
                                   [r[key] if r.get(key) is not None else float("nan") for r in sel],
                                   [r.get(key + "_sd") for r in sel], None)
        fig_panels.append((ylabel, series))
    keys = [k for k, _ in panels]
    refs = {keys.index(k): ref for k, ref in (references or {}).items() if k in keys}
    return metric_figure(fig_panels, xlabel, title, legend=bool(group) or bool(refs) or None, references=refs)


def summary_table(summary: list[dict], x: str, keys, *, xlabel: str, group: str | None = None) -> str:
    """HTML table of :func:`seed_means` rows: the swept value, the seeds, then each metric as
    "mean ± sd" (the mean alone with one seed), headers with units from the metric registry."""
    from ..report.html import table
    from ..report.metrics import column_label, format_mean_sd, format_value

    header = ([group] if group else []) + [xlabel, "seeds"] + [column_label(k) for k in keys]
    rows = [([r.get(group)] if group else []) + [format_value(r[x]), r["n_seeds"]]
            + [format_mean_sd(r.get(k), r.get(k + "_sd"), r["n_seeds"]) for k in keys] for r in summary]
    return table(rows, header)


def reference_table(key: str, reference, xlabel: str) -> str:
    """HTML table of a published curve ``(xs, ys, label)`` for ``key``, with its source."""
    from ..report.html import escape, table
    from ..report.metrics import column_label, format_value

    xs, ys, label = reference[:3]
    source = getattr(reference, "source", "") or label
    return (f"<p class='note'>Reference ({escape(source)}):</p>"
            + table([[format_value(v) for v in xs], [format_value(v) for v in ys]], None)
            .replace("<tr><td>", f"<tr><th>{escape(xlabel)}</th><td>", 1)
            .replace("</tr><tr><td>", f"</tr><tr><th>{escape(column_label(key))}</th><td>", 1))


def summarize_sweep(rows: list[dict], x: str, out: Path, *, xlabel: str, title: str,
                    group: str | None = None, panels=None, references: dict | None = None) -> dict:
    """Write results.csv (every run), summary.csv (means over seeds), figures/sweep.png and report.html.

    ``panels`` is ``[(metric, ylabel), ...]``, by default :func:`default_panels` of the rows;
    ``references`` is ``{metric: (xs, ys, label)}``, published values drawn and tabled beside
    that metric.

    Returns ``{"table": the mean-over-seeds rows, "figures": ["figures/sweep.png"],
    "report": "report.html"}`` (paths relative to ``out``).
    """
    from ..report.figures import save_figure
    from ..report.html import figure_tag, html_page
    from ..report.metrics import GAMMA_SHARE_NOTE

    out = Path(out)
    write_table(rows, out / "results.csv")
    summary = seed_means(rows, x, group=group)
    panels = default_panels(row_populations(rows)) if panels is None else panels
    write_table(summary, out / "summary.csv")
    fig = sweep_figure(summary, x, panels, xlabel=xlabel, title=title, group=group,
                       series_label=lambda g: f"{group} {g}" if group and g is not None else "this model",
                       references=references)
    path = save_figure(fig, out / "figures" / "sweep.png")
    keys = mean_keys(row_populations(rows))
    n_seeds = sorted({r["n_seeds"] for r in summary})
    seeds = f"{n_seeds[0]}" if len(n_seeds) == 1 else f"{n_seeds[0]}–{n_seeds[-1]}"
    what = " and ".join(ylabel for _, ylabel in panels)
    refs = references or {}
    page = html_page(title, [
        ("Summary (mean over seeds)",
         f"<p>{seeds} seed(s) per value; cells are the mean, ± the sample sd where two or more seeds were "
         "averaged. Each run is measured over its analysis window (after the transient).</p>"
         + summary_table(summary, x, keys, xlabel=xlabel, group=group)
         + f"<p class='note'>{GAMMA_SHARE_NOTE}</p>"
         + "".join(reference_table(k, ref, xlabel) for k, ref in refs.items())),
        ("Figure", figure_tag(path, f"{what} against {xlabel}, mean over seeds (error bars ± sd where two or "
                                    "more seeds)" + ("; published reference in grey, open squares"
                                                     if refs else ""))),
        ("Runs", "<p>One run folder per point under <code>points/</code>; every run in results.csv, the "
                 "means in summary.csv. <code>pinglab-bio analyze</code> on this folder gives the full "
                 "report "
                 "(spectra per value, model, provenance).</p>"),
    ])
    (out / "report.html").write_text(page)
    return {"table": summary, "figures": ["figures/sweep.png"], "report": "report.html"}
