"""Δt transfer report: accuracy and hidden rate of trained networks run in Brian2 across dt.

Input: folders written by ``pinglab-bio run dt_transfer`` (``results.json``). Accuracy against
dt (log scale) in one panel per model, a line per training dt and transport, with the published
figures of the same kind of network drawn beside (:data:`PUBLISHED`, REFERENCES §2); the hidden
rate against dt; the gamma peak of the E population of the conductance networks against dt; a
table with the accuracy at dt_train, min/max over the grid, the max/min hidden-rate ratio (≤ 2×
counts as flat, ≥ 10× as a collapse) and the torch/Brian2 agreement at dt_train.
"""

from __future__ import annotations

import json
from pathlib import Path

from pinglab_bio.errors import PinglabError
from pinglab_bio.report.html import figure_tag, table
from pinglab_bio.train.studies.dt_transfer import summarize_rows

__all__ = ["analyze", "load_rows", "PUBLISHED"]

_STYLE = {"ei": "-", "coba": "-", "ping": "-", "baseline": "--"}

#: Published Δt figures (REFERENCES §2, MNIST subset), drawn beside the measured curves:
#: ``band`` (accuracy range over a dt range), ``reference`` (accuracy at dt_train),
#: ``ceiling_ms`` (dt beyond which it fails), ``points`` ([(dt_ms, accuracy)]).
PUBLISHED = {
    "coba": {"label": "published COBA, trained at 0.1 ms: 87–89 % from 0.01 to 2 ms",
             "short": "published (0.1 ms): 87–89 %", "dt_train_ms": 0.1, "band": (0.01, 2.0, 0.87, 0.89)},
    "ping": {"label": "published PING, trained at 0.1 ms: 84.25–88.0 % (reference 87 %), ceiling near 1.5 ms",
             "short": "published (0.1 ms): 84.25–88 %, ceiling 1.5 ms", "dt_train_ms": 0.1,
             "band": (0.01, 1.5, 0.8425, 0.88), "reference": 0.87, "ceiling_ms": 1.5},
    "baseline": {"label": "published U ← βU + Ws, trained at 1 ms: 87.75 % → 10.25 % at 0.01 ms",
                 "short": "published (1 ms): 87.75 % → 10.25 %", "dt_train_ms": 1.0,
                 "points": [(0.01, 0.1025), (1.0, 0.8775)]},
}


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


def _groups(rows, models=None):
    keys = sorted({(r["model"], r["dt_train_ms"], r["transport"]) for r in rows})
    for group in keys:
        if models is None or group[0] in models:
            yield group, sorted((r for r in rows if (r["model"], r["dt_train_ms"], r["transport"]) == group),
                                key=lambda r: r["dt_ms"])


def _figure(rows, key, ylabel, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for group, sel in _groups(rows):
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


def _draw_published(ax, model):
    pub = PUBLISHED.get(model)
    if pub is None:
        return
    if "band" in pub:
        lo, hi, a_lo, a_hi = pub["band"]
        ax.fill_between([lo, hi], [a_lo, a_lo], [a_hi, a_hi], color="#f4a261", alpha=0.35, lw=0,
                        label=pub["short"])
    if "reference" in pub:
        ax.axhline(pub["reference"], color="#e76f51", ls=":", lw=1)
    if "ceiling_ms" in pub:
        ax.axvline(pub["ceiling_ms"], color="#e76f51", ls="--", lw=1)
    if "points" in pub:
        ax.plot(*zip(*pub["points"], strict=True), ls=":", marker="s", color="#e76f51", label=pub["short"])


def _accuracy_figure(rows, path):
    """One panel per model: measured accuracy against dt, the published figures beside."""
    from matplotlib.figure import Figure

    models = [m for m in ("ei", "coba", "ping", "baseline") if any(r["model"] == m for r in rows)]
    models += sorted({r["model"] for r in rows} - set(models))
    fig = Figure(figsize=(4.6 * len(models), 4.2))
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, model in zip(axes, models, strict=True):
        _draw_published(ax, model)
        for group, sel in _groups(rows, {model}):
            ax.plot([r["dt_ms"] for r in sel], [r["accuracy"] for r in sel],
                    "-" if group[2] == "rebin" else "--", marker="o",
                    label=f"trained at {group[1]:g} ms, {group[2]}")
            ax.axvline(group[1], color="#999", lw=0.5)
        ax.set_xscale("log")
        ax.set_ylim(0.0, 1.0)
        ax.set_title(model)
        ax.set_xlabel("evaluation dt (ms), Brian2")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _gamma_figure(rows, path):
    """Gamma peak of the E population (Brian2 spikes) against dt, conductance networks only."""
    from matplotlib.figure import Figure

    sel_rows = [r for r in rows if r.get("gamma_peak_hz") is not None]
    if not sel_rows:
        return None
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for group, sel in _groups(sel_rows):
        ax.plot([r["dt_ms"] for r in sel], [r["gamma_peak_hz"] for r in sel],
                "-" if group[0] == "ping" else ":", marker="o",
                label=f"{group[0]}, trained at {group[1]:g} ms, {group[2]}")
    ax.axhspan(30, 100, color="#ddd", alpha=0.4, lw=0, label="gamma band 30–100 Hz")
    ax.set_xscale("log")
    ax.set_xlabel("evaluation dt (ms), Brian2")
    ax.set_ylabel("peak of the E rate spectrum (Hz)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def analyze(run_dirs, workdir) -> dict:
    rows = load_rows(run_dirs)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    summary = summarize_rows(rows)
    acc = _accuracy_figure(rows, workdir / "dt_transfer_accuracy.png")
    rate = _figure(rows, "hidden_rate_hz", "hidden rate (Hz)", workdir / "dt_transfer_rate.png")
    gamma = _gamma_figure(rows, workdir / "dt_transfer_gamma.png")
    header = ["model", "dt_train (ms)", "transport", "accuracy at dt_train", "min (at dt ms)", "max",
              "rate max/min", "torch accuracy", "same prediction (float32 / float64)",
              "identical hidden spikes (float64)"]

    def agree(s):
        if "agreement_float64" not in s:
            return "-", "-", "-"
        return (s["torch_accuracy"], f"{s['agreement_float32']:.3f} / {s['agreement_float64']:.3f}",
                f"{s['spikes_identical_float64']:.3f}")

    body = [
        [
            s["model"],
            s["dt_train_ms"],
            s["transport"],
            s["accuracy_at_train"],
            f"{s['accuracy_min']:.3f} ({s['dt_at_min_ms']:g})",
            s["accuracy_max"],
            "silent at some dt" if s["rate_ratio"] is None else f"{s['rate_ratio']:.2f}×",
            *agree(s),
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
            "-" if r.get("gamma_peak_hz") is None else f"{r['gamma_peak_hz']:.1f}",
            "-" if r.get("gamma_prominence") is None else f"{r['gamma_prominence']:.1f}",
        ]
        for r in sorted(rows, key=lambda r: (r["model"], r["dt_train_ms"], r["transport"], r["dt_ms"]))
    ]
    published = table([[m, p["label"]] for m, p in PUBLISHED.items()], ["model", "published (REFERENCES §2)"])
    sections = [
        ("Summary", table(body, header)),
        ("Accuracy", figure_tag(acc, "test accuracy against the evaluation dt (Brian2), published figures "
                                     "shaded or dotted beside")),
        ("Hidden rate", figure_tag(rate, "mean hidden firing rate against the evaluation dt")),
    ]
    if gamma is not None:
        sections.append(("Gamma peak", figure_tag(gamma, "peak of the E population-rate spectrum (Welch, "
                                                         "one Hann window per trial) against dt")))
    sections += [
        ("Published figures", published),
        (
            "Every point",
            table(
                grid,
                ["model", "dt_train (ms)", "transport", "how", "dt (ms)", "accuracy", "hidden rate (Hz)",
                 "gamma peak (Hz)", "peak prominence"],
            ),
        ),
    ]
    return {
        "title": "Δt transfer: trained networks run in Brian2 across dt",
        "numbers": {"summary": summary},
        "sections": sections,
    }
