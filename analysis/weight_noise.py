"""Analysis of ``weight_noise`` run folders: score per E:I ratio and noise level, t-tests against 100:0.

``analyze(run_dirs, workdir)`` pools the runs of every folder (``runs.json``). Each run is one
trial with one score (mean test accuracy over its last epochs); at each noise level every ratio
is compared with 100:0 by Welch's two-sample t-test over those scores, so no trial is counted
twice (the table's ``n`` and ``n_reference`` are the trials of each side).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from pinglab_bio.train.studies.common import ratio_label

__all__ = ["analyze", "load_runs", "score_table", "verdict", "measured_sigma_init"]


def load_runs(run_dirs):
    from pinglab_bio.errors import PinglabError

    records, meta = [], {}
    for folder in run_dirs:
        path = Path(folder) / "runs.json"
        if not path.is_file():
            raise PinglabError(
                f"{folder} has no runs.json, so it is not a weight_noise run folder. "
                "Fix: pass folders written by `pinglab-bio run weight_noise`"
            )
        data = json.loads(path.read_text())
        if "score_epochs" not in data:
            raise PinglabError(
                f"{folder}/runs.json holds no scores (score_epochs missing). "
                "Fix: pass folders written by `pinglab-bio run weight_noise`"
            )
        this = {"score_epochs": data["score_epochs"], "sigma_init": data["sigma_init"]}
        if meta and this != meta:
            raise PinglabError(
                f"{folder} was scored with {this}, an earlier folder with {meta}; their scores do not pool. "
                "Fix: analyse folders with the same --sigma-init and --score-epochs together"
            )
        meta = this
        records.extend(data["runs"])
    return records, meta


def score_table(records) -> list[dict]:
    """Mean and SD of the score per (noise, ratio) and Welch's t-test against 100:0."""
    import scipy.stats

    rows = []
    for noise in sorted({r["config"]["noise_rel"] for r in records}):
        at = [r for r in records if r["config"]["noise_rel"] == noise]
        reference = np.array([r["score"] for r in at if r["config"]["ei_ratio"] == 1.0])
        for ratio in sorted({r["config"]["ei_ratio"] for r in at}):
            scores = np.array([r["score"] for r in at if r["config"]["ei_ratio"] == ratio])
            t, p, diff = None, None, None
            if ratio != 1.0 and reference.size:
                diff = float(scores.mean() - reference.mean())
            if ratio != 1.0 and scores.size >= 2 and reference.size >= 2:
                if np.ptp(np.r_[scores, reference]) > 0:
                    res = scipy.stats.ttest_ind(scores, reference, equal_var=False)
                    t, p = float(res.statistic), float(res.pvalue)
            rows.append(
                {
                    "noise_rel": noise,
                    "ei_ratio": ratio,
                    "ratio_label": ratio_label(ratio),
                    "n": int(scores.size),
                    "n_reference": int(reference.size),
                    "diff_vs_100_0": diff,
                    "score_mean": float(scores.mean()),
                    "score_sd": float(scores.std(ddof=1)) if scores.size > 1 else 0.0,
                    "t_vs_100_0": t,
                    "p_vs_100_0": p,
                }
            )
    return rows


def measured_sigma_init(records) -> dict:
    """Median over the runs of each pathway's σ_init (std of its drawn weights), where recorded."""
    names = sorted({n for r in records for n in r.get("sigma_init", {})})
    return {n: float(np.median([r["sigma_init"][n] for r in records if n in r.get("sigma_init", {})]))
            for n in names}


def verdict(rows, alpha: float = 0.05) -> str:
    """One sentence: which ratios differ from 100:0 at p < ``alpha``, at which noise, in which direction."""
    found = [r for r in rows if r["p_vs_100_0"] is not None and r["p_vs_100_0"] < alpha]
    if not found:
        tested = [r for r in rows if r["p_vs_100_0"] is not None]
        low = min((r["p_vs_100_0"] for r in tested), default=None)
        return (f"No ratio differs from 100:0 at p < {alpha:g} at any noise level"
                + ("" if low is None else f" (smallest p {low:.2g})") + ".")
    parts = [
        f"{r['ratio_label']} {'above' if r['diff_vs_100_0'] > 0 else 'below'} 100:0 at σ_n = "
        f"{r['noise_rel']:g} σ_init ({r['diff_vs_100_0']:+.3f}, p {r['p_vs_100_0']:.2g})"
        for r in found
    ]
    return f"Differences from 100:0 at p < {alpha:g}: " + "; ".join(parts) + "."


def analyze(run_dirs, workdir) -> dict:
    from matplotlib.figure import Figure

    from pinglab_bio.report.html import figure_tag, table

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    records, meta = load_runs(run_dirs)
    rows = score_table(records)
    sigma_measured = measured_sigma_init(records)
    sentence = verdict(rows)
    ratios = sorted({r["ei_ratio"] for r in rows})
    noises = sorted({r["noise_rel"] for r in rows})

    fig = Figure(figsize=(5.6, 3.6))
    ax = fig.subplots()
    width = 0.8 / max(len(ratios), 1)
    for k, ratio in enumerate(ratios):
        sel = [r for r in rows if r["ei_ratio"] == ratio]
        x = np.array([noises.index(r["noise_rel"]) for r in sel]) + (k - (len(ratios) - 1) / 2) * width
        ax.bar(
            x,
            [r["score_mean"] for r in sel],
            width,
            yerr=[r["score_sd"] for r in sel],
            capsize=2,
            label=ratio_label(ratio),
        )
    ax.set_xticks(range(len(noises)), [f"{n:g}" for n in noises])
    ax.set(
        xlabel="σ_n / σ_init",
        ylabel=f"score (mean accuracy, last {meta['score_epochs']} epochs)",
        ylim=(0, 1),
    )
    ax.legend(title="E:I", frameon=False, fontsize=8)
    fig.tight_layout()
    png = workdir / "scores.png"
    fig.savefig(png, dpi=110)

    fig = Figure(figsize=(3.2 * len(noises), 3.0))
    axes = fig.subplots(1, len(noises), squeeze=False, sharey=True)
    for ax, noise in zip(axes[0], noises, strict=False):
        for k, ratio in enumerate(ratios):
            curves = [
                r["accuracy_curve"]
                for r in records
                if r["config"]["noise_rel"] == noise and r["config"]["ei_ratio"] == ratio
            ]
            if curves:
                n = min(len(c) for c in curves)  # pooled folders may differ in epochs
                mean = np.mean([c[:n] for c in curves], 0)
                ax.plot(np.arange(1, n + 1), mean, color=f"C{k}", label=ratio_label(ratio))
        ax.set(title=f"σ_n = {noise:g} σ_init", xlabel="epoch", ylim=(0, 1))
    axes[0][0].set_ylabel("test accuracy (mean over seeds)")
    axes[0][-1].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    curves_png = workdir / "curves.png"
    fig.savefig(curves_png, dpi=110)

    def fmt_p(p):
        return "reference" if p is None else f"{p:.3g}"

    sections = [
        (
            "Question",
            "<p>Kilgore, Kopsick, Ascoli and Adam (Sci. Rep. 2025) add N(0, σ_n²) to every weight "
            "after each step (σ_n = 0.2/0.4/0.6 × σ_init, then re-projection to the sign) and score "
            "each run by the mean accuracy of its last 10 of 30 epochs; their summary finding is that "
            "80:20 is robust. Which ratio each noise level favours is asked here by comparing every "
            "ratio with 100:0. Score = mean test accuracy of the last "
            f"{meta['score_epochs']} epochs; σ_init = "
            + (
                "measured, the std of each pathway's drawn initial weight magnitudes |w| ("
                + html.escape(", ".join(f"{n} {v:.3g}" for n, v in sigma_measured.items()))
                + ")"
                if meta["sigma_init"] == "measured"
                else f"{meta['sigma_init']:g} in weight units"
            )
            + "; Welch's t-test of each ratio against 100:0 at the same σ_n, one score per trial "
            f"(seed).</p><p><b>{html.escape(sentence)}</b></p>",
        ),
        (
            "Scores and t-tests",
            table(
                [
                    (
                        f"{r['noise_rel']:g}",
                        r["ratio_label"],
                        r["n"],
                        f"{r['score_mean']:.3f} ± {r['score_sd']:.3f}",
                        "" if r["diff_vs_100_0"] is None else f"{r['diff_vs_100_0']:+.3f}",
                        "" if r["t_vs_100_0"] is None else f"{r['t_vs_100_0']:.2f}",
                        fmt_p(r["p_vs_100_0"]) if r["ei_ratio"] != 1.0 else "reference",
                    )
                    for r in rows
                ],
                ["σ_n / σ_init", "E:I", "trials", "score (mean ± SD)", "difference vs 100:0", "t vs 100:0",
                 "p vs 100:0"],
            )
            + figure_tag(png, "score per E:I ratio and noise level")
            + figure_tag(curves_png, "accuracy per epoch"),
        ),
    ]
    return {
        "title": "weight_noise: E:I ratio under noisy weight updates",
        "numbers": {"table": rows, **meta, "sigma_init_measured": sigma_measured, "verdict": sentence,
                    "n_runs": len(records)},
        "sections": sections,
    }
