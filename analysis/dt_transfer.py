"""Δt transfer report: accuracy and hidden rate of trained networks run in Brian2 across dt.

Input: folders written by ``pinglab-bio run dt_transfer`` (``results.json``). Accuracy against
dt (log scale) in one panel per model, a line per training dt and transport, with the published
figures of the same kind of network drawn beside (:data:`PUBLISHED`, REFERENCES §2); the hidden
rate against dt; the gamma peak of the E population of the conductance networks against dt; a
table with the accuracy at dt_train, min/max over the grid, the max/min hidden-rate ratio (≤ 2×
counts as flat, ≥ 10× as a collapse), the E and I rates and the torch/Brian2 agreement at dt_train;
the peak prominence of the E rate spectrum beside its peak; and, where a run folder holds
``ping_dt_ceiling.json`` (benchmarks/ping_dt_ceiling.py), the ceiling experiment.
"""

from __future__ import annotations

import json
from pathlib import Path

from pinglab_bio.errors import PinglabError
from pinglab_bio.report.html import figure_tag, table
from pinglab_bio.train.studies.dt_transfer import summarize_rows

__all__ = ["analyze", "load_rows", "load_ceiling", "PUBLISHED", "CEILING_FILE"]

_STYLE = {"ei": "-", "coba": "-", "ping": "-", "baseline": "--"}

#: What benchmarks/ping_dt_ceiling.py writes into a run folder (shown when present).
CEILING_FILE = "ping_dt_ceiling.json"

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
        top = max([r[key] for r in rows] + [1.0])
        ax.set_ylim(0.0, 2.0 * top)  # rates are never negative: no tick below zero; room above the top
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
    """Gamma peak of the E population (Brian2 spikes) and its prominence against dt."""
    from matplotlib.figure import Figure

    sel_rows = [r for r in rows if r.get("gamma_peak_hz") is not None]
    if not sel_rows:
        return None
    fig = Figure(figsize=(12, 4))
    ax, ax_prom = fig.subplots(1, 2)
    for group, sel in _groups(sel_rows):
        label = f"{group[0]}, trained at {group[1]:g} ms, {group[2]}"
        style = "-" if group[0] == "ping" else ":"
        ax.plot([r["dt_ms"] for r in sel], [r["gamma_peak_hz"] for r in sel], style, marker="o", label=label)
        prominence = [r.get("gamma_prominence") or float("nan") for r in sel]
        ax_prom.plot([r["dt_ms"] for r in sel], prominence, style, marker="o", label=label)
    ax.axhspan(30, 100, color="#ddd", alpha=0.4, lw=0, label="gamma band 30–100 Hz")
    ax_prom.axhline(1.0, color="#999", lw=0.8, ls=":", label="1: flat spectrum, no rhythm")
    for a in (ax, ax_prom):
        a.set_xscale("log")
        a.set_xlabel("evaluation dt (ms), Brian2")
        a.legend(fontsize=7)
    ax.set_ylabel("peak of the E rate spectrum (Hz)")
    ax_prom.set_ylabel("peak prominence (peak / median density)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def load_ceiling(run_dirs) -> list:
    """Rows of ``ping_dt_ceiling.json`` (written by benchmarks/ping_dt_ceiling.py) in the run folders."""
    rows = []
    for folder in run_dirs:
        path = Path(folder) / CEILING_FILE
        if path.is_file():
            rows.extend(json.loads(path.read_text())["rows"])
    return rows


def _ceiling_figure(rows, path):
    """Accuracy and E rate against dt near the ceiling, one line per variant of the model."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4))
    ax, ax_rate = fig.subplots(1, 2)
    for variant in dict.fromkeys(r["variant"] for r in rows):
        sel = sorted((r for r in rows if r["variant"] == variant), key=lambda r: r["dt_ms"])
        ax.plot([r["dt_ms"] for r in sel], [r["accuracy"] for r in sel], marker="o", label=variant)
        ax_rate.plot([r["dt_ms"] for r in sel], [r["rates_hz"]["inh"] for r in sel], marker="o",
                     label=variant)
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("test accuracy (Brian2)")
    ax_rate.set_ylabel("I rate (Hz)")
    for a in (ax, ax_rate):
        a.set_xlabel("evaluation dt (ms), inputs re-binned")
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _ceiling_section(rows, workdir):
    fig = _ceiling_figure(rows, workdir / "dt_transfer_ceiling.png")
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    by_key = {(r["dt_ms"], r["variant"]): r for r in rows}

    def cell(r):
        if r is None:
            return "-"
        delay = "/".join(str(v) for v in r["delay_steps"].values())
        ref = "/".join(str(v) for v in r["refractory_steps"].values())
        gamma = ("-" if r.get("gamma_peak_hz") is None
                 else f"{r['gamma_peak_hz']:.0f} Hz ({r['gamma_prominence']:.1f})")
        return (f"{r['accuracy']:.2f}; E {r['rates_hz']['exc']:.0f} / I {r['rates_hz']['inh']:.0f} Hz; "
                f"delay {delay}, refractory {ref} steps; gamma {gamma}")

    body = []
    for dt in sorted({r["dt_ms"] for r in rows}):
        trial = next(r["trial_ms"] for r in rows if r["dt_ms"] == dt)
        body.append([f"{dt:g}", f"{trial:g}"] + [cell(by_key.get((dt, v))) for v in variants])
    legend = "accuracy; rates; E→I/I→E delay, E/I refractory; E gamma (prominence)"
    head = ["dt (ms)", "trial (ms)"] + [f"{v}: {legend}" if i == 0 else v for i, v in enumerate(variants)]
    return (figure_tag(fig, "the trained ping network near its Δt ceiling in Brian2: as trained, with the "
                            "E↔I delays changed (kept at ≥ one step, or rounded down) and/or the refractory "
                            "period rounded up to whole steps")
            + table(body, head))


def analyze(run_dirs, workdir) -> dict:
    rows = load_rows(run_dirs)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    summary = summarize_rows(rows)
    acc = _accuracy_figure(rows, workdir / "dt_transfer_accuracy.png")
    rate = _figure(rows, "hidden_rate_hz", "hidden rate (Hz)", workdir / "dt_transfer_rate.png")
    gamma = _gamma_figure(rows, workdir / "dt_transfer_gamma.png")
    header = ["model", "dt_train (ms)", "transport", "accuracy at dt_train", "min (at dt ms)", "max",
              "rate max/min", "E / I rate at dt_train (Hz)", "torch accuracy",
              "same prediction (float32 / float64)",
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
            " / ".join(f"{hz:.1f}" for hz in s.get("rates_at_train_hz", {}).values()) or "-",
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
            "-" if not r.get("rates_hz") else "/".join(f"{hz:.1f}" for hz in r["rates_hz"].values()),
            "-" if r.get("gamma_peak_inh_hz") is None else f"{r['gamma_peak_inh_hz']:.1f}",
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
    sections.append(("Published figures", published))
    ceiling = load_ceiling(run_dirs)
    if ceiling:
        sections.append(("Δt ceiling of ping", _ceiling_section(ceiling, workdir)))
    sections += [
        (
            "Every point",
            table(
                grid,
                ["model", "dt_train (ms)", "transport", "how", "dt (ms)", "accuracy", "hidden rate (Hz)",
                 "E gamma peak (Hz)", "peak prominence", "rate of each population (Hz, E/I)",
                 "I gamma peak (Hz)"],
            ),
        ),
    ]
    return {
        "title": "Δt transfer: trained networks run in Brian2 across dt",
        "numbers": {"summary": summary},
        "sections": sections,
    }
