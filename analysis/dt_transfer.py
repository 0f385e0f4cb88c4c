"""Δt transfer report: accuracy and hidden rate of trained networks run in Brian2 across dt.

Input: folders written by ``pinglab-bio run dt_transfer`` (``results.json``). One figure per
quantity (accuracy, hidden rate) with dt on the x axis (log scale), a line per model, training
dt and transport, and a table with the accuracy at dt_train, min/max over the grid and the
max/min hidden-rate ratio (≤ 2× counts as flat, ≥ 10× as a collapse; REFERENCES §2).
"""

from __future__ import annotations

import json
from pathlib import Path

from pinglab_bio.errors import PinglabError
from pinglab_bio.report.html import figure_tag, table
from pinglab_bio.train.studies.dt_transfer import summarize_rows

__all__ = ["analyze", "load_rows"]

_STYLE = {"ei": "-", "baseline": "--"}


def load_rows(run_dirs) -> list:
    rows = []
    for folder in run_dirs:
        path = Path(folder) / "results.json"
        if not path.is_file():
            raise PinglabError(
                f"{folder} has no results.json. Fix: pass folders written by `pinglab-bio run dt_transfer`"
            )
        rows.extend(json.loads(path.read_text())["rows"])
    if not rows:
        raise PinglabError("the dt_transfer folders hold no results. Fix: run the protocol again")
    return rows


def _figure(rows, key, ylabel, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for group in sorted({(r["model"], r["dt_train_ms"], r["transport"]) for r in rows}):
        sel = sorted(
            (r for r in rows if (r["model"], r["dt_train_ms"], r["transport"]) == group),
            key=lambda r: r["dt_ms"],
        )
        ax.plot(
            [r["dt_ms"] for r in sel],
            [r[key] for r in sel],
            _STYLE.get(group[0], "-"),
            marker="o",
            label=f"{group[0]}, trained at {group[1]:g} ms, {group[2]}",
        )
        ax.axvline(group[1], color="#999", lw=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("evaluation dt (ms), Brian2")
    ax.set_ylabel(ylabel)
    if key == "hidden_rate_hz":
        ax.set_yscale("symlog", linthresh=1.0)  # silent (0 Hz) and hundreds of Hz on one axis
        ax.set_ylim(bottom=0.0)  # rates are never negative: no tick below zero
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def analyze(run_dirs, workdir) -> dict:
    rows = load_rows(run_dirs)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    summary = summarize_rows(rows)
    acc = _figure(rows, "accuracy", "test accuracy", workdir / "dt_transfer_accuracy.png")
    rate = _figure(rows, "hidden_rate_hz", "hidden rate (Hz)", workdir / "dt_transfer_rate.png")
    header = ["model", "dt_train (ms)", "transport", "accuracy at dt_train", "min", "max", "rate max/min"]
    body = [
        [
            s["model"],
            s["dt_train_ms"],
            s["transport"],
            s["accuracy_at_train"],
            s["accuracy_min"],
            s["accuracy_max"],
            "silent at some dt" if s["rate_ratio"] is None else f"{s['rate_ratio']:.2f}×",
        ]
        for s in summary
    ]
    grid = [
        [
            r["model"],
            r["dt_train_ms"],
            r["transport"],
            r["how"],
            r["dt_ms"],
            r["accuracy"],
            r["hidden_rate_hz"],
        ]
        for r in sorted(rows, key=lambda r: (r["model"], r["dt_train_ms"], r["transport"], r["dt_ms"]))
    ]
    return {
        "title": "Δt transfer: trained networks run in Brian2 across dt",
        "numbers": {"summary": summary},
        "sections": [
            ("Summary", table(body, header)),
            ("Accuracy", figure_tag(acc, "test accuracy against the evaluation dt (Brian2)")),
            ("Hidden rate", figure_tag(rate, "mean hidden firing rate against the evaluation dt")),
            (
                "Every point",
                table(
                    grid,
                    ["model", "dt_train (ms)", "transport", "how", "dt (ms)", "accuracy", "hidden rate (Hz)"],
                ),
            ),
        ],
    }
