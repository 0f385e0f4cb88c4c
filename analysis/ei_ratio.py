"""Analysis of ``ei_ratio`` run folders: trainability against initial rate, and Van Rossum distances.

``analyze(run_dirs, workdir)`` pools the networks of every folder (``runs.json`` and the
distance matrices in ``vr/*.npz``) and produces: final accuracy against initial hidden rate per
E:I ratio; the share of networks that train per ratio; E and I spikes per sample over training;
the Van Rossum distance distributions of hidden pairs by class (E–E, E–I, I–I) for initial,
successful and failed networks with a Kruskal–Wallis test per ratio; and a table setting the
paper's finding beside this toolkit's.

Pairs are pooled over the networks of a group; each pair's distance is the mean over the test
samples the run used (``vr_samples``), not one sample per batch. Pairs of one network are not
independent, so the p-values are those of the paper's procedure, not of independent draws.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from pinglab_bio.train.studies.common import PAIR_CLASSES as CLASSES
from pinglab_bio.train.studies.common import class_order, ratio_label

__all__ = ["analyze", "load_runs", "van_rossum_groups"]


def load_runs(run_dirs):
    """All network records of the folders, each with ``folder`` set; and the thresholds used."""
    from pinglab_bio.errors import PinglabError

    records, thresholds = [], None
    for folder in run_dirs:
        path = Path(folder) / "runs.json"
        if not path.is_file():
            raise PinglabError(
                f"{folder} has no runs.json, so it is not an ei_ratio run folder. "
                "Fix: pass folders written by `pinglab-bio run ei_ratio`"
            )
        data = json.loads(path.read_text())
        thresholds = thresholds or (data["success_threshold"], data["fail_threshold"])
        for r in data["runs"]:
            r["folder"] = str(folder)
            records.append(r)
    return records, thresholds


def van_rossum_groups(records, success, fail) -> dict:
    """Per ratio and group (initial, successful, failed): pooled pair distances and their test.

    Each group also lists its networks one by one (``per_network``: label, seed, accuracy, the
    network's own medians, order and Kruskal–Wallis p) and counts how many order their own
    medians E–E < E–I < I–I (``n_ordered``) and how many of those have p < 0.01
    (``n_ordered_p01``): how often the order holds across seeds, beside the pooled test.
    """
    out = {}
    for ratio in sorted({r["config"]["ei_ratio"] for r in records}):
        groups = {"initial": [], "successful": [], "failed": []}
        for r in records:
            if r["config"]["ei_ratio"] != ratio or "vr_file" not in r:
                continue
            with np.load(Path(r["folder"]) / r["vr_file"], allow_pickle=False) as npz:
                n_exc = int(npz["n_exc"])
                groups["initial"].append((r, npz["initial"], n_exc))
                if r["final_test_accuracy"] >= success:
                    groups["successful"].append((r, npz["trained"], n_exc))
                elif r["final_test_accuracy"] <= fail:
                    groups["failed"].append((r, npz["trained"], n_exc))
        stats = {}
        for name, nets in groups.items():
            entry = class_order([(m, n) for _, m, n in nets])
            per = []
            for r, m, n in nets:
                own = class_order([(m, n)])
                per.append(
                    {
                        "label": r.get("label", ""),
                        "seed": r["config"].get("seed"),
                        "sigma_in": r["config"].get("sigma_in"),
                        "final_test_accuracy": r["final_test_accuracy"],
                        "medians": own["medians"],
                        "ordered": own["ordered"],
                        "kruskal_p": own["kruskal_p"],
                    }
                )
            entry["per_network"] = per
            entry["n_ordered"] = sum(bool(p["ordered"]) for p in per)
            entry["n_ordered_p01"] = sum(
                bool(p["ordered"]) and p["kruskal_p"] is not None and p["kruskal_p"] < 0.01 for p in per
            )
            stats[name] = entry
        out[f"{ratio:g}"] = stats
    return out


def _jsonable_vr(vr):
    return {
        ratio: {g: {k: v for k, v in e.items() if k != "distances"} for g, e in groups.items()}
        for ratio, groups in vr.items()
    }


def analyze(run_dirs, workdir) -> dict:
    from matplotlib.figure import Figure

    from pinglab_bio.report.html import figure_tag, table
    from pinglab_bio.train.studies.ei_ratio import PAPER_VR

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    records, (success, fail) = load_runs(run_dirs)
    ratios = sorted({r["config"]["ei_ratio"] for r in records})
    colors = {ratio: f"C{k}" for k, ratio in enumerate(ratios)}

    per_ratio = []
    for ratio in ratios:
        rs = [r for r in records if r["config"]["ei_ratio"] == ratio]
        final = np.array([r["final_test_accuracy"] for r in rs])
        per_ratio.append(
            {
                "ratio": ratio,
                "ratio_label": ratio_label(ratio),
                "n_runs": len(rs),
                "success_share": float((final >= success).mean()),
                "fail_share": float((final <= fail).mean()),
                "mean_final_accuracy": float(final.mean()),
                "mean_peak_accuracy": float(np.mean([r["peak_test_accuracy"] for r in rs])),
                "median_initial_rate_hz": float(np.median([r["initial_rate_hz"] for r in rs])),
            }
        )
    cells = []
    for ratio in ratios:
        for sigma in sorted({r["config"]["sigma_in"] for r in records}):
            rs = [r for r in records if r["config"]["ei_ratio"] == ratio and r["config"]["sigma_in"] == sigma]
            if rs:
                cells.append(
                    {
                        "ratio": ratio,
                        "sigma_in": sigma,
                        "n_runs": len(rs),
                        "initial_rate_hz": float(np.mean([r["initial_rate_hz"] for r in rs])),
                        "peak_accuracy": float(np.mean([r["peak_test_accuracy"] for r in rs])),
                        "final_accuracy": float(np.mean([r["final_test_accuracy"] for r in rs])),
                        "success_share": float(np.mean([r["final_test_accuracy"] >= success for r in rs])),
                    }
                )

    fig = Figure(figsize=(5.8, 3.8))
    ax = fig.subplots()
    for ratio in ratios:
        rs = [r for r in records if r["config"]["ei_ratio"] == ratio]
        ax.scatter(
            [max(r["initial_rate_hz"], 0.1) for r in rs],
            [r["final_test_accuracy"] for r in rs],
            color=colors[ratio],
            label=ratio_label(ratio),
            alpha=0.8,
        )
    ax.axhline(success, color="0.5", ls="--", lw=1)
    ax.axhline(fail, color="0.5", ls=":", lw=1)
    ax.set(
        xscale="log",
        xlabel="initial hidden rate (Hz; 0 shown at 0.1)",
        ylabel="final test accuracy",
        ylim=(0, 1),
    )
    ax.legend(title="E:I", frameon=False)
    fig.tight_layout()
    acc_png = workdir / "accuracy_vs_initial_rate.png"
    fig.savefig(acc_png, dpi=110)

    fig = Figure(figsize=(4.6, 3.2))
    ax = fig.subplots()
    ax.bar(
        [row["ratio_label"] for row in per_ratio],
        [row["success_share"] for row in per_ratio],
        color=[colors[row["ratio"]] for row in per_ratio],
    )
    ax.set(ylabel=f"share with final accuracy ≥ {success:g}", ylim=(0, 1), xlabel="E:I")
    fig.tight_layout()
    share_png = workdir / "share_trained.png"
    fig.savefig(share_png, dpi=110)

    fig = Figure(figsize=(8.5, 3.2))
    axes = fig.subplots(1, 2)
    for ratio in ratios:
        rs = [r for r in records if r["config"]["ei_ratio"] == ratio]
        n = min(len(r["exc_spikes_per_sample"]) for r in rs)  # pooled folders may differ in epochs
        e = np.mean([r["exc_spikes_per_sample"][:n] for r in rs], 0)
        i = np.mean([r["inh_spikes_per_sample"][:n] for r in rs], 0)
        axes[0].plot(np.arange(len(e)), e, color=colors[ratio], label=ratio_label(ratio))
        axes[1].plot(np.arange(len(i)), i, color=colors[ratio], label=ratio_label(ratio))
    axes[0].set(title="E spikes per sample", xlabel="epoch (0 = initial)")
    axes[1].set(title="I spikes per sample", xlabel="epoch (0 = initial)")
    axes[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    spikes_png = workdir / "spikes_over_training.png"
    fig.savefig(spikes_png, dpi=110)

    vr = van_rossum_groups(records, success, fail)
    vr_ratios = [k for k in vr if any(vr[k][g]["n_networks"] for g in vr[k])]
    vr_fig = ""
    if vr_ratios:
        fig = Figure(figsize=(9, 2.3 * len(vr_ratios)))
        axes = fig.subplots(len(vr_ratios), 3, squeeze=False, sharey=True)
        for row, key in zip(axes, vr_ratios, strict=False):
            for ax, group in zip(row, ("initial", "successful", "failed"), strict=False):
                entry = vr[key][group]
                data = [entry["distances"][c] for c in CLASSES]
                if any(d.size for d in data):
                    ax.boxplot([d if d.size else np.array([np.nan]) for d in data], showfliers=False)
                    ax.set_xticks([1, 2, 3], CLASSES)
                else:
                    ax.set_axis_off()
                    ax.text(0.5, 0.5, "no networks", ha="center", va="center", transform=ax.transAxes)
                p = entry["kruskal_p"]
                ax.set_title(
                    f"{ratio_label(float(key))} {group} (n={entry['n_networks']}"
                    + (f", p={p:.1e})" if p is not None else ")"),
                    fontsize=8,
                )
            row[0].set_ylabel("Van Rossum D")
        fig.tight_layout()
        vr_png = workdir / "van_rossum_by_class.png"
        fig.savefig(vr_png, dpi=110)
        vr_fig = figure_tag(
            vr_png, "Van Rossum distance of hidden pairs by class (box: quartiles, whiskers 1.5 IQR)"
        )

    def fmt(v, spec=".3f"):
        return "–" if v is None else format(v, spec)

    vr_rows = []
    for key in vr:
        for group in ("initial", "successful", "failed"):
            e = vr[key][group]
            if e["n_networks"]:
                vr_rows.append(
                    (
                        ratio_label(float(key)),
                        group,
                        e["n_networks"],
                        fmt(e["medians"]["E-E"]),
                        fmt(e["medians"]["E-I"]),
                        fmt(e["medians"]["I-I"]),
                        fmt(e["kruskal_p"], ".2g"),
                        "–" if e["ordered"] is None else ("yes" if e["ordered"] else "no"),
                        f"{e['n_ordered']}/{e['n_networks']} ({e['n_ordered_p01']} at p < 0.01)",
                    )
                )
    mine_t = vr.get("0.8", {}).get("successful")
    mine_0 = vr.get("0.8", {}).get("initial")
    seed_rows = []
    for group in ("initial", "successful"):
        for p in (vr.get("0.8", {}).get(group) or {}).get("per_network", []):
            seed_rows.append(
                (
                    group,
                    html.escape(p["label"] or f"seed {p['seed']}"),
                    fmt(p["final_test_accuracy"]),
                    *(fmt(p["medians"][c]) for c in CLASSES),
                    fmt(p["kruskal_p"], ".2g"),
                    "–" if p["ordered"] is None else ("yes" if p["ordered"] else "no"),
                )
            )

    def count(entry):
        if not entry or not entry["n_networks"]:
            return "no networks"
        return f"{entry['n_ordered']} of {entry['n_networks']} ({entry['n_ordered_p01']} with p < 0.01)"

    def mine(entry, cls):
        return "no networks" if not entry or not entry["n_networks"] else fmt(entry["medians"][cls])

    compare = [
        ("trained 80:20, E–E median", PAPER_VR["trained"]["E-E"], mine(mine_t, "E-E")),
        ("trained 80:20, E–I median", PAPER_VR["trained"]["E-I"], mine(mine_t, "E-I")),
        ("trained 80:20, I–I median", PAPER_VR["trained"]["I-I"], mine(mine_t, "I-I")),
        (
            "trained 80:20, Kruskal–Wallis p",
            PAPER_VR["trained"]["kruskal_p"],
            fmt(mine_t["kruskal_p"], ".2g") if mine_t and mine_t["n_networks"] else "–",
        ),
        (
            "trained 80:20, ordered E–E < E–I < I–I",
            "yes",
            ("yes" if mine_t["ordered"] else "no") if mine_t and mine_t["ordered"] is not None else "–",
        ),
        ("trained 80:20, networks ordered on their own", "–", count(mine_t)),
        ("initial 80:20, networks ordered on their own", "–", count(mine_0)),
        (
            "initial 80:20, medians E–E / E–I / I–I",
            "≈1.28 / 1.28 / 1.28",
            " / ".join(mine(mine_0, c) for c in CLASSES),
        ),
        (
            "initial 80:20, Kruskal–Wallis p",
            PAPER_VR["initial"]["kruskal_p"],
            fmt(mine_0["kruskal_p"], ".2g") if mine_0 and mine_0["n_networks"] else "–",
        ),
    ]
    n_samples = sorted({r["config"]["vr_samples"] for r in records})
    sections = [
        (
            "Question",
            "<p>Kilgore, Kopsick, Ascoli and Adam (Sci. Rep. 2025): low initial hidden rates train "
            "reliably, 80:20 is robust, and in trained 80:20 networks the Van Rossum medians order "
            "E–E &lt; E–I &lt; I–I while they are equal at initialisation. Data here: scikit-learn digits "
            f"({len(records)} networks). Successful: final test accuracy ≥ {success:g}; failed: ≤ {fail:g} "
            "(settable; the paper's own thresholds are not in REFERENCES.md).</p>",
        ),
        (
            "Paper against this toolkit",
            table(compare, ["quantity", "paper (Fashion-MNIST)", "this run (digits)"]),
        ),
        (
            "Accuracy against initial rate",
            figure_tag(acc_png, "final test accuracy against initial hidden rate")
            + table(
                [
                    (
                        ratio_label(c["ratio"]),
                        c["sigma_in"],
                        c["n_runs"],
                        f"{c['initial_rate_hz']:.1f}",
                        f"{c['peak_accuracy']:.3f}",
                        f"{c['final_accuracy']:.3f}",
                        f"{c['success_share']:.2f}",
                    )
                    for c in cells
                ],
                [
                    "E:I",
                    "sigma_in",
                    "networks",
                    "initial rate (Hz)",
                    "peak accuracy",
                    "final accuracy",
                    "share successful",
                ],
            ),
        ),
        (
            "Share of networks that train",
            figure_tag(share_png, "share of successful networks per E:I ratio")
            + table(
                [
                    (
                        row["ratio_label"],
                        row["n_runs"],
                        f"{row['success_share']:.2f}",
                        f"{row['fail_share']:.2f}",
                        f"{row['mean_final_accuracy']:.3f}",
                    )
                    for row in per_ratio
                ],
                ["E:I", "networks", "successful", "failed", "mean final accuracy"],
            ),
        ),
        (
            "E and I spikes over training",
            figure_tag(spikes_png, "mean E and I spikes per test sample per epoch"),
        ),
        (
            "Van Rossum distances by pair class",
            f"<p>Kernel exp(−t/τ), τ = 1 step; D = sqrt(Σ_t (f_n − f_m)²/τ) per test sample, averaged over "
            f"{html.escape(', '.join(str(n) for n in n_samples))} test samples per network; pairs pooled "
            "over the "
            "networks of a group; Kruskal–Wallis across the three classes.</p>"
            + table(
                vr_rows,
                [
                    "E:I",
                    "group",
                    "networks",
                    "E–E median",
                    "E–I median",
                    "I–I median",
                    "Kruskal–Wallis p",
                    "E–E < E–I < I–I",
                    "networks ordered on their own",
                ],
            )
            + vr_fig,
        ),
        (
            "How often the order holds across seeds (80:20)",
            "<p>Each 80:20 network's own medians and Kruskal–Wallis test (its pairs only), before "
            "and after training; the pooled test above pools the pairs of these networks.</p>"
            + table(seed_rows, ["group", "network", "final accuracy", "E–E", "E–I", "I–I",
                                "Kruskal–Wallis p", "E–E < E–I < I–I"]),
        ),
    ]
    numbers = {
        "per_ratio": per_ratio,
        "cells": cells,
        "van_rossum": _jsonable_vr(vr),
        "success_threshold": success,
        "fail_threshold": fail,
        "n_networks": len(records),
    }
    return {
        "title": "ei_ratio: E:I ratio, initial rate and trainability",
        "numbers": numbers,
        "sections": sections,
    }
