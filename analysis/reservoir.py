"""Reservoir report: readouts fitted from the exported state of a PING network, back in Brian2.

Input: folders written by ``pinglab-bio run reservoir`` (``results.json``). Sections: the readouts
side by side (fitted accuracy, Brian2 accuracy, identical predictions; bar figure with the
logistic-on-pixels and logistic-on-input-counts baselines), the confusion matrix of the best
readout in Brian2, accuracy against dt and device, and the rhythm during the stimulus (E/I
rates, gamma peak, population-rate spectra with and without input), the wall time of each phase.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pinglab_bio.errors import PinglabError
from pinglab_bio.report.html import figure_tag, table

__all__ = ["analyze", "load_results"]


def load_results(run_dirs) -> list:
    out = []
    for folder in run_dirs:
        path = Path(folder) / "results.json"
        if not path.is_file():
            raise PinglabError(
                f"{folder} has no results.json. Fix: pass folders written by `pinglab-bio run reservoir`"
            )
        out.append((Path(folder).name, json.loads(path.read_text())))
    return out


def _bars(results, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4))
    ax = fig.subplots()
    labels, fitted, brian2 = [], [], []
    for name, res in results:
        for row in res["readouts"]:
            labels.append(row["readout"] + ("" if len(results) == 1 else f"\n{name[:12]}"))
            fitted.append(row["accuracy_fitted"])
            brian2.append(row["accuracy_brian2"])
    x = np.arange(len(labels))
    ax.bar(x - 0.2, fitted, 0.4, label="fitted (python / torch)")
    ax.bar(x + 0.2, brian2, 0.4, label="readout synapses in Brian2")
    base = results[0][1]["baselines"]
    ax.axhline(base["logistic_pixels"], color="k", ls="--", lw=1, label="logistic on pixels")
    ax.axhline(base["logistic_input_counts"], color="grey", ls=":", lw=1.5, label="logistic on input counts")
    ax.set_xticks(x, labels)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    # above the axes: inside, it would hide the bars of the last readouts
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.01), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _confusion(matrix, title, path):
    from matplotlib.figure import Figure

    m = np.asarray(matrix)
    fig = Figure(figsize=(4.6, 4))
    ax = fig.subplots()
    im = ax.imshow(m, cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        if v:
            ax.text(
                j,
                i,
                str(v),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if v > m.max() / 2 else "black",
            )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="test trials")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _dt_figure(rows, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    for readout in sorted({r["readout"] for r in rows}):
        sel = sorted(
            (r for r in rows if r["readout"] == readout and r["device"] == "runtime"),
            key=lambda r: r["dt_ms"],
        )
        (line,) = ax.plot([r["dt_ms"] for r in sel], [r["accuracy"] for r in sel], marker="o", label=readout)
        for r in rows:
            if r["readout"] == readout and r["device"] != "runtime":
                ax.plot(
                    [r["dt_ms"]],
                    [r["accuracy"]],
                    marker="s",
                    ms=9,
                    mfc="none",
                    color=line.get_color(),
                    label=f"{readout} on {r['device']}",
                )
    ax.set_xscale("log")
    ax.set_xlabel("evaluation dt (ms), Brian2")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _psd_figure(psd, path):
    from matplotlib.figure import Figure

    pops = sorted({p for cond in psd.values() for p in cond})
    fig = Figure(figsize=(4 * len(pops), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(pops)))
    for ax, pop in zip(axes, pops, strict=True):
        for cond, by_pop in psd.items():
            if pop in by_pop:
                f, p = np.asarray(by_pop[pop]["freqs_hz"]), np.asarray(by_pop[pop]["psd"])
                keep = (f > 0) & (f <= 200)
                ax.semilogy(f[keep], p[keep], marker=".", label=cond)
        ax.axvspan(30, 100, color="#eee", zorder=0)
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel(f"PSD of the {pop} population rate (Hz²/Hz)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def analyze(run_dirs, workdir) -> dict:
    results = load_results(run_dirs)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # one folder: no run column (a fresh run's report is written before its folder gets its name)
    single = len(results) == 1

    def runs(rows, header):
        return ([r[1:] for r in rows], header[1:]) if single else (rows, header)

    body = []
    for name, res in results:
        for r in res["readouts"]:
            body.append(
                [
                    name,
                    r["readout"],
                    "Dale" if r["dale"] else "free",
                    r["states"],
                    r["train_accuracy"],
                    r["accuracy_fitted"],
                    r["accuracy_brian2"],
                    f"{100 * r['agreement']:.1f} %",
                    r.get("fit_s"),
                ]
            )
        b = res["baselines"]
        body.append([name, "logistic on pixels", "free", "pixels", "", b["logistic_pixels"], "", "", ""])
        body.append(
            [
                name,
                "logistic on input counts",
                "free",
                "input spike counts",
                "",
                b["logistic_input_counts"],
                "",
                "",
                "",
            ]
        )
    header = [
        "run",
        "readout",
        "weights",
        "state",
        "train acc.",
        "test acc. (fitted)",
        "test acc. (Brian2)",
        "identical predictions",
        "fit (s)",
    ]
    cost = [
        [name, phase.removesuffix("_s").replace("_", " "), seconds]
        for name, res in results
        for phase, seconds in res.get("timing", {}).items()
    ]
    bars = _bars(results, workdir / "reservoir_readouts.png")
    name, first = results[0]
    best = max(first["readouts"], key=lambda r: r["accuracy_brian2"])["readout"]
    conf = _confusion(
        first["confusion_brian2"][best],
        f"{best} readout in Brian2" + ("" if single else f" ({name[:24]})"),
        workdir / "reservoir_confusion.png",
    )
    eval_rows = [r for _, res in results for r in res["evaluation"]]
    dt_fig = _dt_figure(eval_rows, workdir / "reservoir_dt.png")
    pops = list(first["sizes"])
    eval_table = [
        [
            r["dt_ms"],
            r["device"],
            r["readout"],
            r["accuracy"],
            f"{100 * r['agreement_with_fitted']:.1f} %",
            *[r.get(f"rate_{p}_hz") for p in pops],
            *[r.get(f"gamma_{p}_hz") for p in pops],
            r["wall_s"],
        ]
        for r in sorted(eval_rows, key=lambda r: (r["device"], r["dt_ms"], r["readout"]))
    ]
    eval_header = [
        "dt (ms)",
        "device",
        "readout",
        "test accuracy",
        "same as fitted",
        *[f"{p} rate (Hz)" for p in pops],
        *[f"{p} gamma peak (Hz)" for p in pops],
        "Brian2 wall (s)",
    ]
    rhythm_rows = [
        [
            r["condition"],
            r["dt_ms"],
            r["device"],
            *[r.get(f"rate_{p}_hz") for p in pops],
            *[r.get(f"gamma_{p}_hz") for p in pops],
            *[r.get(f"gamma_share_{p}") for p in pops],
        ]
        for _, res in results
        for r in res["rhythm"]
    ]
    rhythm_header = [
        "condition",
        "dt (ms)",
        "device",
        *[f"{p} rate (Hz)" for p in pops],
        *[f"{p} gamma peak (Hz)" for p in pops],
        *[f"{p} gamma power share" for p in pops],
    ]
    psd = _psd_figure(first["psd"], workdir / "reservoir_psd.png")
    m = first["metrics"]
    settings = [[k, json.dumps(v) if isinstance(v, (list, dict)) else v] for k, v in first["config"].items()]
    return {
        "title": "Reservoir readouts from the exported state of a PING network",
        "numbers": {
            "readouts": [r for _, res in results for r in res["readouts"]],
            "baselines": first["baselines"],
            "evaluation": eval_rows,
            "metrics": m,
        },
        "sections": [
            (
                "Readouts",
                table(*runs(body, header))
                + figure_tag(
                    bars,
                    "test accuracy of each readout, fitted and as synapses in Brian2, with the baselines",
                ),
            ),
            ("Confusion matrix", figure_tag(conf, f"the {best} readout in Brian2 on the test split")),
            (
                "Accuracy against dt and device",
                table(eval_table, eval_header)
                + (
                    figure_tag(
                        dt_fig,
                        "readouts fitted at the default dt, run at other dt (lines) and devices (squares)",
                    )
                    if len({(r["dt_ms"], r["device"]) for r in eval_rows}) > 1
                    else "<p>Only the dt the readouts were fitted at: add other dt and devices with "
                    "<code>--eval-dt 0.05ms,0.25ms,0.5ms --eval-devices cpp_standalone</code>.</p>"
                ),
            ),
            (
                "Rhythm during the stimulus",
                table(rhythm_rows, rhythm_header)
                + figure_tag(psd, "spectra of the population rates, with the stimulus and without input"),
            ),
            (
                "Wall time",
                table(*runs(cost, ["run", "phase", "wall time (s)"]))
                if cost
                else "<p>not recorded in this run folder</p>",
            ),
            (
                "Input block and settings",
                table([[k, v] for k, v in first["input"].items()] + settings, ["setting", "value"]),
            ),
        ],
    }
