"""Which E:I ratio trains best when every weight update is noisy?

Kilgore, Kopsick, Ascoli and Adam (Sci. Rep. 2025; REFERENCES.md §3), on scikit-learn digits: the
three-layer E/I network of ``ei_ratio`` is trained at a low initial rate; after every SGD step
each weight gets N(0, σ_n²) added and is projected back to its sign, with σ_n = 0.2, 0.4, 0.6 ×
σ_init. σ_init is measured from the weights actually drawn: the std of each pathway's initial
weight magnitudes (|N(0, σ_in)| has std 0.60 σ_in, not σ_in; magnitudes, so that the signs of a
mixed readout do not give one ratio more noise than another), so the noise has the paper's size
relative to these weights; --sigma-init X sets one σ_init in weight units instead (the paper's 1e-3 is
tiny beside digits' input weights, which start at σ_in = 0.1 for 64 pixels). Each run is scored
by its mean test accuracy over the last --score-epochs epochs (default: the paper's last 10, or
the last third of the epochs when there are fewer than 30); each ratio is compared with 100:0 at
the same σ_n by Welch's t-test over seeds, each trial counted once (one score per seed). Writes
runs.json, scores.csv, metrics.json, figures and report.html. Full scale: --seeds 8 --epochs 30.
"""

from pinglab_bio.workflow.analysis import write_protocol_report
from pinglab_bio.workflow.protocol import Param, main, require_torch

__all__ = ["PARAMETERS", "check", "run", "score_epochs"]

PARAMETERS = {
    "ratios": Param("0.5,0.8,0.95,1.0", "E shares of the hidden layer (1.0 = 100:0, the reference)"),
    "noise_levels": Param("0.2,0.4,0.6", "σ_n as multiples of σ_init"),
    "sigma_in": Param(0.1, "input-weight scale (a low initial hidden rate on digits)", kind="float"),
    "sigma_init": Param(
        0.0, "σ_init of the noise in weight units; 0 = measured (std of each pathway's drawn |w|)",
        kind="float"),
    "seeds": Param(3, "seeds per cell (paper: 8)", kind="int"),
    "seed": Param(0, "first seed", kind="int"),
    "epochs": Param(15, "training epochs (paper: 30)", kind="int"),
    "score_epochs": Param(
        0, "the score is the mean test accuracy of this many last epochs; 0 = 10 (the paper's), or "
        "the last third when --epochs < 30", kind="int"
    ),
    "batch_size": Param(64, "mini-batch size (paper: 256)", kind="int"),
    "lr": Param(0.6, "SGD learning rate, as ei_ratio (paper: 0.01 on Fashion-MNIST)", kind="float"),
    "sigma_out": Param(0.5, "hidden → output weight scale", kind="float"),
    "n_hidden": Param(100, "hidden neurons", kind="int"),
    "steps": Param(100, "time steps per sample (dt 1 ms)", kind="int"),
    "max_rate": Param(100.0, "Poisson rate of a white pixel (Hz)", kind="float"),
    "threads": Param(1, "torch CPU threads", kind="int"),
    "torch_device": Param("cpu", "torch device of the networks: cpu, cuda, cuda:1, ...", kind="str"),
}


def check(params):
    require_torch(params["torch_device"])
    from pinglab_bio.errors import SettingsError
    from pinglab_bio.train.studies.common import parse_list

    params["ratio_list"] = parse_list("--ratios", params["ratios"], float)
    params["noise_list"] = parse_list("--noise-levels", params["noise_levels"], float, minimum=0.0)
    if 1.0 not in params["ratio_list"]:
        raise SettingsError(
            f"--ratios must include 1.0 (100:0, the reference of the t-tests), got "
            f"{params['ratios']!r}. Fix: e.g. --ratios 0.8,1.0"
        )
    if params["seeds"] < 2:
        raise SettingsError(f"--seeds must be ≥ 2 for a t-test, got {params['seeds']}. Fix: e.g. --seeds 3")
    if params["threads"] < 1:
        raise SettingsError(f"--threads must be ≥ 1, got {params['threads']}. Fix: e.g. --threads 1")
    if params["sigma_init"] < 0:
        raise SettingsError(
            f"--sigma-init must be ≥ 0 (0 = measured from the drawn weights), got {params['sigma_init']}. "
            "Fix: e.g. --sigma-init 0 or --sigma-init 1e-3"
        )
    if params["epochs"] < 1:
        raise SettingsError(f"--epochs must be ≥ 1, got {params['epochs']}. Fix: e.g. --epochs 30")
    params["score_epochs_used"] = params["score_epochs"] or score_epochs(params["epochs"])
    if not 1 <= params["score_epochs_used"] <= params["epochs"]:
        raise SettingsError(
            f"--score-epochs must lie in 1..--epochs ({params['epochs']}), got "
            f"{params['score_epochs']}. Fix: e.g. --score-epochs {score_epochs(params['epochs'])} "
            "or 0 (automatic)"
        )
    for ratio in params["ratio_list"]:
        _config(params, ratio, 0.2, 0).check()


def score_epochs(epochs: int) -> int:
    """The epochs a score averages by default: the paper's last 10, or the last third (rounded up)
    of fewer than 30."""
    return 10 if epochs >= 30 else max(1, -(-epochs // 3))


def _config(params, ratio, noise_rel, seed):
    from pinglab_bio.train.studies.ei_ratio import config_from_params

    return config_from_params(params, ratio, params["sigma_in"], seed, noise_rel=noise_rel,
                              sigma_noise_ref=params["sigma_init"])


def run(params, out, log=print):
    import csv

    import numpy as np
    import torch

    from pinglab_bio.runs.folder import write_json
    from pinglab_bio.train.studies.common import StudyProgress, digits_tensors
    from pinglab_bio.train.studies.ei_ratio import train_ratio_run

    torch.set_num_threads(params["threads"])
    data = digits_tensors(seed=params["seed"])
    records = []
    k = params["score_epochs_used"]
    progress = StudyProgress(log, len(params["noise_list"]) * len(params["ratio_list"]) * params["seeds"],
                             params["epochs"])
    for noise in params["noise_list"]:
        for ratio in params["ratio_list"]:
            for s in range(params["seeds"]):
                config = _config(params, ratio, noise, params["seed"] + s)
                record, _ = train_ratio_run(config, data, on_epoch=lambda e, *_: progress.epoch_done(e))
                record["score"] = float(np.mean(record["accuracy_curve"][-k:]))
                records.append(record)
                noise_text = ", ".join(f"{name} {v:.2g}" for name, v in record["sigma_noise"].items())
                log(
                    f"σ_n {noise:g}×σ_init ({noise_text}), E:I {ratio:g}, seed {config.seed}: score "
                    f"{record['score']:.3f} (final {record['final_test_accuracy']:.3f}, "
                    f"{record['train_time_s']:.0f} s; {progress.run_done()})"
                )
    write_json(
        out / "runs.json",
        {"runs": records, "score_epochs": k, "epochs": params["epochs"],
         "sigma_init": params["sigma_init"] or "measured"},
    )
    with open(out / "scores.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["noise_rel", "ei_ratio", "seed", "score", "final_test_accuracy", "initial_rate_hz"])
        for r in records:
            c = r["config"]
            writer.writerow(
                [
                    c["noise_rel"],
                    c["ei_ratio"],
                    c["seed"],
                    r["score"],
                    r["final_test_accuracy"],
                    r["initial_rate_hz"],
                ]
            )
    result = write_protocol_report("weight_noise", out)
    write_json(out / "metrics.json", result["numbers"])
    numbers = result["numbers"]
    lines = [
        f"score = mean test accuracy of the last {k} of {params['epochs']} epochs; σ_init "
        + ("measured: " + ", ".join(f"{n} {v:.3g}" for n, v in numbers["sigma_init_measured"].items())
           if numbers["sigma_init"] == "measured" else f"{numbers['sigma_init']:g}"),
        "σ_n/σ_init  E:I     trials  score (mean ± SD)  vs 100:0  p (Welch)",
    ]
    for row in numbers["table"]:
        p = "reference" if row["p_vs_100_0"] is None else f"{row['p_vs_100_0']:.3g}"
        diff = "" if row["diff_vs_100_0"] is None else f"{row['diff_vs_100_0']:+.3f}"
        lines.append(
            f"{row['noise_rel']:>10g}  {row['ratio_label']:<6}  {row['n']:>6}  {row['score_mean']:.3f} ± "
            f"{row['score_sd']:.3f}      {diff:>7}   {p}"
        )
    lines.append(numbers["verdict"])
    return {"summary": "\n".join(lines), "metrics": result["numbers"]}


if __name__ == "__main__":
    raise SystemExit(main(__file__))
