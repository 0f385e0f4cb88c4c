"""Sweep tables and plots: results.csv (every run), summary.csv (means over seeds), a figure and a report."""

from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["write_table", "summarize_sweep", "MEAN_KEYS"]


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

    from ..report.html import figure_tag, html_page, table

    out = Path(out)
    write_table(rows, out / "results.csv")
    summary = _mean_rows(rows, x, group)
    write_table(summary, out / "summary.csv")
    (out / "figures").mkdir(exist_ok=True)
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), dpi=110)
    groups = list(dict.fromkeys(r.get(group) for r in summary)) if group else [None]
    for ax, (key, label) in zip(axes, panels, strict=False):
        for g in groups:
            sel = [r for r in summary if group is None or r[group] == g]
            xs = [r[x] for r in sel]
            ys = [r[key] if r[key] is not None else float("nan") for r in sel]
            err = [r.get(key + "_sd", 0.0) for r in sel]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3,
                        label=f"{group} {g}" if group and g is not None else None)
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
