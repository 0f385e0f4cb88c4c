"""Run a list of simulation points into one protocol folder and tabulate their metrics."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from .runner import describe, simulate, write_run
from .spec import ModelSpec

__all__ = ["Point", "run_points", "write_table", "summarize_sweep"]


@dataclass(frozen=True)
class Point:
    """One simulation of a sweep: a label, model overrides and a seed."""

    label: str
    overrides: dict = field(default_factory=dict)
    seed: int = 0
    values: dict = field(default_factory=dict)  # what the table shows for this point


def run_points(spec: ModelSpec, points: list[Point], out: Path, *, sim_kwargs: dict, protocol: str,
               data_format: str = "h5", log=print) -> list[dict]:
    """Simulate every point into ``out/points/<label>/``; return one row (values + metrics) each."""
    rows = []
    for k, point in enumerate(points, 1):
        point_spec = spec.with_overrides(point.overrides) if point.overrides else spec
        result = simulate(point_spec, **{**sim_kwargs, "seed": point.seed})
        write_run(result, Path(out) / "points" / point.label, protocol=protocol, data_format=data_format,
                  report=False)
        log(f"[{k}/{len(points)}] {point.label}: " + describe(result).splitlines()[1]
            + f", peak {result.metrics['gamma_peak_hz']:.1f} Hz")
        rows.append({"point": point.label, **point.values, "seed": point.seed, **result.metrics})
    return rows


def write_table(rows: list[dict], path: Path):
    """Write rows (dicts) as CSV, columns in first-seen order."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


MEAN_KEYS = ("gamma_peak_hz", "gamma_power_share", "gamma_prominence", "rate_exc_hz", "rate_inh_hz",
             "synchrony_exc", "synchrony_inh")


def _mean_rows(rows: list[dict], x: str, group: str | None) -> list[dict]:
    import numpy as np

    keys = list(dict.fromkeys((r.get(group) if group else None, r[x]) for r in rows))
    table = []
    for g, xv in keys:
        members = [r for r in rows if r[x] == xv and (group is None or r.get(group) == g)]
        row = ({group: g} if group else {}) | {x: xv, "n_seeds": len(members)}
        for key in MEAN_KEYS:
            vals = [r[key] for r in members if r.get(key) is not None]
            row[key] = float(np.mean(vals)) if vals else None
            if len(vals) > 1:
                row[key + "_sd"] = float(np.std(vals, ddof=1))
        table.append(row)
    return table


def summarize_sweep(rows: list[dict], x: str, out: Path, *, xlabel: str, title: str,
                    group: str | None = None, panels=(("gamma_peak_hz", "gamma peak (Hz)"),
                                                      ("rate_exc_hz", "E rate (Hz)"),
                                                      ("rate_inh_hz", "I rate (Hz)"))) -> dict:
    """Write results.csv (every run), summary.csv (means over seeds), sweep.png and report.html."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report import figure_tag, html_page, table

    out = Path(out)
    write_table(rows, out / "results.csv")
    summary = _mean_rows(rows, x, group)
    write_table(summary, out / "summary.csv")
    (out / "figures").mkdir(exist_ok=True)
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), dpi=110)
    groups = list(dict.fromkeys(r.get(group) for r in summary)) if group else [None]
    for ax, (key, label) in zip(axes, panels):
        for g in groups:
            sel = [r for r in summary if group is None or r[group] == g]
            xs = [r[x] for r in sel]
            ys = [r[key] if r[key] is not None else float("nan") for r in sel]
            err = [r.get(key + "_sd", 0.0) for r in sel]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=str(g) if g else None)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        if group:
            ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "figures" / "sweep.png")
    plt.close(fig)
    columns = list(summary[0])
    page = html_page(title, [
        ("Summary (mean over seeds)", table([[r[c] for c in columns] for r in summary], columns)),
        ("Figure", figure_tag(out / "figures" / "sweep.png", title)),
        ("Runs", "<p>One run folder per point under <code>points/</code>; every run in results.csv.</p>"),
    ])
    (out / "report.html").write_text(page)
    return {"table": summary, "figures": ["figures/sweep.png"]}
