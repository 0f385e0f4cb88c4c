"""Reports of training run folders (``pinglab-bio train``): curves, accuracy, rates, settings.

A training folder holds ``run.json`` (``protocol`` ``train_<task>``, ``settings``, seed,
versions), ``metrics.json`` (final test accuracy in torch and in Brian2, hidden rate, ...) and,
for the surrogate-gradient tasks, ``curves.json`` (one entry per epoch). Nothing here needs
torch: the report reads those files only.
"""

from __future__ import annotations

import json
from pathlib import Path

from matplotlib.figure import Figure

from ..errors import PinglabError
from .figures import legend_outside, save_figure
from .html import escape, figure_tag, metrics_table, provenance_rows, table
from .metrics import column_label, format_value

__all__ = ["load_training_run", "curves_figure", "training_report"]

_CURVE_KEYS = ("epoch", "loss", "train_accuracy", "test_accuracy", "hidden_rate_hz")


def load_training_run(folder) -> dict:
    """``{"folder", "info", "metrics", "curves"}`` of a training run folder, checked.

    ``curves`` is the list of per-epoch rows (empty for a task without epochs, such as
    ``reservoir``). A folder without run.json/metrics.json, or whose run.json is not a training
    run, raises a one-line :class:`~pinglab_bio.errors.PinglabError`.
    """
    folder = Path(folder)
    fix = "Fix: pass a folder written by `pinglab-bio train`"
    data = {}
    for name in ("run.json", "metrics.json"):
        path = folder / name
        if not path.is_file():
            raise PinglabError(f"{folder} has no {name}, so it is not a training run folder. {fix}")
        try:
            data[name] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise PinglabError(f"{path} is not readable JSON ({err}). {fix}") from None
    info = data["run.json"]
    if not str(info.get("protocol", "")).startswith("train_"):
        raise PinglabError(f"{folder}/run.json names protocol {info.get('protocol')!r}, not a training task "
                           f"(train_...). {fix}")
    curves = []
    path = folder / "curves.json"
    if path.is_file():
        try:
            curves = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise PinglabError(f"{path} is not readable JSON ({err}). {fix}") from None
        bad = [k for k in _CURVE_KEYS if curves and k not in curves[0]]
        if bad:
            raise PinglabError(f"{path} lacks {', '.join(bad)} in its epochs. {fix}")
    return {"folder": folder, "info": info, "metrics": data["metrics.json"], "curves": curves}


def curves_figure(runs: list[dict]) -> Figure:
    """Loss, train and test accuracy, and hidden rate (Hz) per epoch; one line per run (a
    dashed line for train accuracy), the final Brian2 test accuracy as an open square."""
    fig = Figure(figsize=(10.5, 3.0), dpi=110, layout="constrained")
    axes = fig.subplots(1, 3)
    for k, run in enumerate(runs):
        rows, color = run["curves"], f"C{k}"
        label = run["label"]
        epochs = [r["epoch"] for r in rows]
        axes[0].plot(epochs, [r["loss"] for r in rows], color=color, marker="o", ms=3, label=label)
        axes[1].plot(epochs, [r["test_accuracy"] for r in rows], color=color, marker="o", ms=3,
                     label=f"{label}: test")
        axes[1].plot(epochs, [r["train_accuracy"] for r in rows], color=color, ls="--", lw=1,
                     label=f"{label}: train")
        b2 = run["metrics"].get("test_accuracy_brian2")
        if b2 is not None and epochs:
            axes[1].plot([epochs[-1]], [b2], "s", mfc="white", color=color, ms=7, label=f"{label}: Brian2")
        axes[2].plot(epochs, [r["hidden_rate_hz"] for r in rows], color=color, marker="o", ms=3, label=label)
    axes[0].set(xlabel="epoch", ylabel="loss (NLL)")
    axes[1].set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
    axes[2].set(xlabel="epoch", ylabel="hidden rate (Hz)")
    axes[2].set_ylim(bottom=0)
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
    legend_outside(axes[1] if len(runs) == 1 else axes[2])
    return fig


def _settings_rows(settings: dict) -> list:
    return [(k, format_value(v) if not isinstance(v, str) else v) for k, v in settings.items()]


def training_report(run_dirs, workdir: Path, task: str) -> dict:
    """The report of one or more training run folders of ``task`` (the ``analyze`` contract:
    ``{"title", "numbers", "sections"}``)."""
    workdir = Path(workdir)
    runs = [load_training_run(d) for d in run_dirs]
    for run in runs:
        if run["info"].get("protocol") != f"train_{task}":
            raise PinglabError(f"{run['folder']} is a {run['info'].get('protocol')} run, not train_{task}. "
                               "Fix: analyse one training task's folders at a time")
        run["label"] = (f"seed {run['info'].get('seed')}" if len(runs) == 1
                        else f"{run['folder'].name} (seed {run['info'].get('seed')})")
    sections = []
    first = runs[0]
    settings = first["info"].get("settings") or {}
    what = (f"task <b>{escape(task)}</b>, data set <b>{escape(settings.get('dataset', 'n/a'))}</b>, model "
            f"<b>{escape(settings.get('model', 'n/a'))}</b>")
    if "dt_ms" in settings:
        what += (f", dt {format_value(settings['dt_ms'])} ms, trials of "
                 f"{format_value(settings.get('duration_ms'))} ms")
    candidates = ("test_accuracy", "test_accuracy_brian2", "prediction_agreement", "hidden_rate_hz",
                  "hidden_rate_hz_brian2", "rate_exc_hz", "rate_inh_hz", "epochs", "n_train", "n_test",
                  "train_wall_s")
    summary_keys = [k for k in candidates if any(k in r["metrics"] for r in runs)]
    intro = f"<p>{what}. Accuracies are fractions of the test set classified correctly.</p>"
    if len(runs) == 1:
        body = intro + metrics_table(first["metrics"])
    else:
        rows = [[r["folder"].name, r["info"].get("seed")] + [r["metrics"].get(k) for k in summary_keys]
                for r in runs]
        body = intro + table(rows, ["run", "seed"] + [column_label(k) for k in summary_keys])
    sections.append(("Result", body))
    with_curves = [r for r in runs if r["curves"]]
    numbers = {"task": task, "runs_measured": [
        {"folder": str(r["folder"]), "seed": r["info"].get("seed"),
         **{k: r["metrics"].get(k) for k in summary_keys},
         "best_test_accuracy": max((c["test_accuracy"] for c in r["curves"]), default=None),
         "epochs_recorded": len(r["curves"])} for r in runs]}
    if with_curves:
        path = save_figure(curves_figure(with_curves), workdir / f"train_{task}_curves.png")
        caption = ("Training curves per epoch: loss, test accuracy (solid) and train accuracy (dashed, over "
                   "the epoch's batches), and the hidden neurons' mean rate on the test set (Hz); the open "
                   "square is the final test accuracy of the same weights run in Brian2.")
        rows = [[c["epoch"], c["loss"], c["train_accuracy"], c["test_accuracy"], c["hidden_rate_hz"],
                 c.get("wall_s")] for c in with_curves[0]["curves"]]
        epochs_table = table(rows, ["epoch", "loss", "train accuracy", "test accuracy", "hidden rate (Hz)",
                                    "epoch time (s)"])
        if len(with_curves) > 1:
            epochs_table = f"<p>Per epoch, {escape(with_curves[0]['label'])}:</p>" + epochs_table
        sections.append(("Curves", figure_tag(path, caption) + "<details><summary>per epoch</summary>"
                         + epochs_table + "</details>"))
    else:
        sections.append(("Curves", "<p>This task records no per-epoch curves (a readout fitted in one go); "
                                   "the result above is final.</p>"))
    sections.append(("Settings", table(_settings_rows(settings), ["setting", "value"])))
    prov = []
    for r in runs:
        rows = [(k, v) for k, v in provenance_rows(r["info"]) if v != "n/a"]
        rows.append(("settings hash", r["info"].get("settings_hash", "n/a")))
        prov.append(f"<p>{escape(r['folder'])}</p>" + table(rows, ["", "value"]))
    sections.append(("Provenance", "".join(prov)))
    title = f"train_{task}: {settings.get('model', task)} on {settings.get('dataset', 'n/a')}"
    return {"title": title, "numbers": numbers, "sections": sections}
