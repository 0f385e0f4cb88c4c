"""Analysis of ``ei_deep`` run folders: accuracy per depth and block, E/I input ratio per layer.

``analyze(run_dirs, workdir)`` pools the runs of every folder (``results.json``), tabulates the
mean test accuracy per (block, depth), plots accuracy against depth, the learning curves, and
the ratio of excitatory to subtractive input of each E–I layer at E–I Init and after training.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

__all__ = ["analyze", "load_runs", "PAPER_FINDING"]

PAPER_FINDING = (
    "DeepEISNN (ICLR 2026) trains deep E–I networks without normalisation (CIFAR-10 ResNet-18 "
    "92.06 %, VGG-16 91.01 %; CIFAR-100 VGG-16 65.90 %; DVS-Gesture VGG-8 95.83 %); "
    "plain networks without normalisation are expected to fail as depth grows."
)


def load_runs(run_dirs) -> list[dict]:
    from pinglab_bio.errors import PinglabError

    runs = []
    for folder in run_dirs:
        path = Path(folder) / "results.json"
        if not path.is_file():
            raise PinglabError(
                f"{folder} has no results.json, so it is not an ei_deep run folder. "
                "Fix: pass folders written by `pinglab-bio run ei_deep`"
            )
        runs.extend(json.loads(path.read_text())["runs"])
    return runs


def _first(run_dirs, key):
    data = json.loads((Path(run_dirs[0]) / "results.json").read_text())
    return data.get(key)


def _summary(runs, threshold):
    cells = {}
    for r in runs:
        cells.setdefault((r["config"]["norm"], r["config"]["depth"]), []).append(r)
    rows = []
    for (norm, depth), rs in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        acc = np.array([r["test_accuracy"] for r in rs])
        ratios = np.array([r["ei_ratio"] for r in rs]) if rs[0]["ei_ratio"] else None
        ratios0 = np.array([r["ei_ratio_init"] for r in rs]) if rs[0]["ei_ratio_init"] else None
        rows.append(
            {
                "norm": norm,
                "depth": depth,
                "n_runs": len(rs),
                "test_accuracy": float(acc.mean()),
                "test_accuracy_sd": float(acc.std(ddof=1)) if acc.size > 1 else 0.0,  # sample SD
                "test_accuracy_min": float(acc.min()),
                "peak_test_accuracy": float(np.mean([r["peak_test_accuracy"] for r in rs])),
                "n_trained": int((acc >= threshold).sum()),
                "ei_ratio_per_layer": None if ratios is None else np.nanmean(ratios, 0).tolist(),
                "ei_ratio_init_per_layer": None if ratios0 is None else np.nanmean(ratios0, 0).tolist(),
                "layer_rates": np.mean([r["layer_rates"] for r in rs], 0).tolist(),
            }
        )
    return rows


def analyze(run_dirs, workdir, threshold: float = 0.5) -> dict:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from pinglab_bio.report.html import figure_tag, table

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for folder in run_dirs:  # the threshold the run was made with, when it recorded one
        metrics = Path(folder) / "metrics.json"
        if metrics.is_file():
            threshold = json.loads(metrics.read_text()).get("train_threshold", threshold)
    runs = load_runs(run_dirs)
    rows = _summary(runs, threshold)
    norms = sorted({r["norm"] for r in rows})
    depths = sorted({r["depth"] for r in rows})

    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    for norm in norms:
        sel = [r for r in rows if r["norm"] == norm]
        ax.errorbar(
            [r["depth"] for r in sel],
            [r["test_accuracy"] for r in sel],
            yerr=[r["test_accuracy_sd"] for r in sel],
            marker="o",
            capsize=3,
            label=norm,
        )
    ax.axhline(0.1, color="0.6", ls=":", lw=1, label="chance")
    ax.set(xlabel="hidden layers", ylabel="test accuracy (digits)", ylim=(0, 1), xticks=depths)
    ax.legend(frameon=False)
    fig.tight_layout()
    acc_png = workdir / "accuracy_vs_depth.png"
    fig.savefig(acc_png, dpi=110)

    fig = Figure(figsize=(3.2 * len(depths), 3.0))
    axes = fig.subplots(1, len(depths), squeeze=False, sharey=True)
    for ax, depth in zip(axes[0], depths, strict=False):
        for r in runs:
            if r["config"]["depth"] == depth:
                ax.plot(
                    np.arange(1, len(r["accuracy_curve"]) + 1),
                    r["accuracy_curve"],
                    color={"ei": "C0", "batchnorm": "C1", "none": "C2"}.get(r["config"]["norm"], "k"),
                    alpha=0.8,
                    lw=1,
                )
        ax.set(title=f"depth {depth}", xlabel="epoch", ylim=(0, 1))
    axes[0][0].set_ylabel("test accuracy")
    handles = [
        Line2D([], [], color=c, label=n)
        for n, c in (("ei", "C0"), ("batchnorm", "C1"), ("none", "C2"))
        if n in norms
    ]
    axes[0][-1].legend(handles=handles, frameon=False)
    fig.tight_layout()
    curve_png = workdir / "learning_curves.png"
    fig.savefig(curve_png, dpi=110)

    sections = [("Question and paper", f"<p>{html.escape(PAPER_FINDING)}</p>")]
    acc_rows = []
    for depth in depths:
        row = [depth]
        for norm in norms:
            cell = next((r for r in rows if r["norm"] == norm and r["depth"] == depth), None)
            row.append(
                ""
                if cell is None
                else f"{cell['test_accuracy']:.3f} ± {cell['test_accuracy_sd']:.3f} "
                f"({cell['n_trained']}/{cell['n_runs']} trained)"
            )
        acc_rows.append(row)
    sections.append(
        (
            "Test accuracy per depth and block",
            table(acc_rows, ["hidden layers"] + list(norms))
            + "<p>Mean ± SD (sample SD) over seeds; a network counts as trained at test accuracy "
            f"≥ {threshold:g}. "
            "Chance is 0.1.</p>"
            + figure_tag(acc_png, "test accuracy against depth")
            + figure_tag(curve_png, "test accuracy per epoch"),
        )
    )
    ei_rows = [r for r in rows if r["ei_ratio_per_layer"]]
    figs = ""
    if ei_rows:
        fig = Figure(figsize=(5.5, 3.4))
        ax = fig.subplots()
        for r in ei_rows:
            layers = np.arange(1, len(r["ei_ratio_per_layer"]) + 1)
            (line,) = ax.plot(
                layers, r["ei_ratio_per_layer"], marker="o", label=f"depth {r['depth']} trained"
            )
            ax.plot(
                layers,
                r["ei_ratio_init_per_layer"],
                ls="--",
                color=line.get_color(),
                alpha=0.6,
                label=f"depth {r['depth']} at E–I Init",
            )
        ax.axhline(1.0, color="0.6", lw=1)
        ax.set(xlabel="E–I layer", ylabel="mean I_EE / mean W_EI·I_IE")
        ax.legend(frameon=False, fontsize=7)
        fig.tight_layout()
        ratio_png = workdir / "ei_ratio_per_layer.png"
        fig.savefig(ratio_png, dpi=110)
        figs = figure_tag(ratio_png, "excitatory over subtractive input per E–I layer (test set)")
        sections.append(
            (
                "E/I input ratio per layer",
                table(
                    [
                        (
                            r["depth"],
                            ", ".join(f"{v:.2f}" for v in r["ei_ratio_init_per_layer"]),
                            ", ".join(f"{v:.2f}" for v in r["ei_ratio_per_layer"]),
                            ", ".join(f"{v:.3f}" for v in r["layer_rates"]),
                        )
                        for r in ei_rows
                    ],
                    [
                        "depth",
                        "ratio at E–I Init (layer 1…)",
                        "ratio after training",
                        "spike rate per step after training",
                    ],
                )
                + "<p>Ratio = mean excitatory input I_EE over mean subtractive input W_EI·I_IE on the "
                "test set; E–I Init sets it to 1 in expectation.</p>" + figs,
            )
        )
    numbers = {
        "table": rows,
        "train_threshold": threshold,
        "n_runs": len(runs),
        "n_train": _first(run_dirs, "n_train"),
        "n_test": _first(run_dirs, "n_test"),
    }
    return {
        "title": "ei_deep: E–I layers against batch norm and no normalisation",
        "numbers": numbers,
        "sections": sections,
    }
