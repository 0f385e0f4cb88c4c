"""Do normalisation-free E–I layers (DeepEISNN) train deep spiking MLPs where un-normalised ones fail?

Spiking MLPs of 2, 4 and 8 hidden layers (128 LIF neurons each, tau 2 steps, threshold 1, soft
reset, sigmoid surrogate, T = 4 steps) are trained on scikit-learn digits with three hidden
blocks: the E–I layer (E and I populations under Dale's law, subtractive and divisive
inhibition, E–I Init on the first batch, E–I Prop), linear → batch norm → LIF, and linear → LIF
with no normalisation. Reports test accuracy per depth and block, and the ratio of excitatory to
subtractive (inhibitory) input per E–I layer at initialisation and after training
(REFERENCES.md §4), with mean ± SD over seeds per depth and block. The default scale (Adam 3e-4,
40 epochs, 3 seeds) was chosen with benchmarks/ei_deep_scale.py: at Adam 1e-3 two of eight
depth-8 E–I seeds stay below 0.5 (and one at 0.64) even after 100 epochs. Writes results.json, results.csv,
metrics.json, figures and report.html.
"""

from pinglab_bio.workflow.analysis import write_protocol_report
from pinglab_bio.workflow.protocol import Param, main, require_torch

__all__ = ["PARAMETERS", "check", "run"]

PARAMETERS = {
    "depths": Param("2,4,8", "comma-separated numbers of hidden layers"),
    "norms": Param("ei,batchnorm,none", "hidden blocks: ei (E–I layer), batchnorm, none"),
    "width": Param(128, "neurons per hidden layer (E neurons for E–I layers; I = width/4)", kind="int"),
    "epochs": Param(40, "training epochs", kind="int"),
    "batch_size": Param(64, "mini-batch size", kind="int"),
    "lr": Param(3e-4, "learning rate (1e-3 leaves some depth-8 E–I seeds stuck near 0.4)", kind="float"),
    "optimiser": Param("adam", "optimiser", kind="choice", choices=("adam", "sgd")),
    "clip": Param(1.0, "gradient-norm clip, 0 = off", kind="float"),
    "steps": Param(4, "time steps per static image (T)", kind="int"),
    "seeds": Param(3, "seeds per cell (seed, seed+1, ...)", kind="int"),
    "seed": Param(0, "first seed", kind="int"),
    "train_threshold": Param(
        0.5, "test accuracy at or above which a network counts as trained", kind="float"
    ),
    "threads": Param(1, "torch CPU threads (1 suits a shared 2-core machine)", kind="int"),
    "torch_device": Param("cpu", "torch device of the networks: cpu, cuda, cuda:1, ...", kind="str"),
}


def check(params):
    require_torch(params["torch_device"])
    from pinglab_bio.errors import SettingsError
    from pinglab_bio.train.layers import NORMALISATIONS
    from pinglab_bio.train.studies.common import parse_list

    params["depth_list"] = parse_list("--depths", params["depths"], int, minimum=1)
    params["norm_list"] = parse_list("--norms", params["norms"], allowed=NORMALISATIONS)
    for name in ("seeds", "threads"):
        if params[name] < 1:
            raise SettingsError(f"--{name} must be ≥ 1, got {params[name]}. Fix: e.g. --{name} 1")
    if not 0.0 <= params["train_threshold"] <= 1.0:
        raise SettingsError(
            f"--train-threshold must lie in [0, 1], got {params['train_threshold']}. "
            "Fix: e.g. --train-threshold 0.5"
        )
    _config(params).check()


def _config(params, **cell):
    """The training settings shared by every cell of the grid, plus one cell's own."""
    from pinglab_bio.train.studies.ei_deep import DeepConfig

    return DeepConfig(width=params["width"], epochs=params["epochs"], batch_size=params["batch_size"],
                      lr=params["lr"], optimiser=params["optimiser"], clip=params["clip"],
                      steps=params["steps"], **cell)


def run(params, out, log=print):
    import csv

    import torch

    from pinglab_bio.runs.folder import write_json
    from pinglab_bio.train.studies.common import StudyProgress, digits_tensors
    from pinglab_bio.train.studies.ei_deep import train_mlp

    torch.set_num_threads(params["threads"])
    data = digits_tensors(seed=params["seed"])
    runs = []
    progress = StudyProgress(log, len(params["depth_list"]) * len(params["norm_list"]) * params["seeds"],
                             params["epochs"])
    for depth in params["depth_list"]:
        for norm in params["norm_list"]:
            for s in range(params["seeds"]):
                config = _config(params, depth=depth, norm=norm, seed=params["seed"] + s,
                                 device=params["torch_device"])
                result = train_mlp(config, data, on_epoch=lambda e, _: progress.epoch_done(e))
                runs.append(result)
                log(
                    f"{norm:<9} depth {depth} seed {config.seed}: "
                    f"test accuracy {result['test_accuracy']:.3f} "
                    f"(peak {result['peak_test_accuracy']:.3f}), {result['train_time_s']:.0f} s; "
                    f"{progress.run_done()}"
                )
    write_json(out / "results.json", {"runs": runs, "n_train": len(data[0]), "n_test": len(data[2])})
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "norm",
                "depth",
                "seed",
                "test_accuracy",
                "peak_test_accuracy",
                "initial_test_accuracy",
                "mean_ei_ratio_init",
                "mean_ei_ratio",
                "train_time_s",
            ]
        )
        for r in runs:
            c = r["config"]
            writer.writerow(
                [
                    c["norm"],
                    c["depth"],
                    c["seed"],
                    r["test_accuracy"],
                    r["peak_test_accuracy"],
                    r["initial_test_accuracy"],
                    _mean(r["ei_ratio_init"]),
                    _mean(r["ei_ratio"]),
                    r["train_time_s"],
                ]
            )
    write_json(out / "metrics.json", {"train_threshold": params["train_threshold"]})
    metrics = write_protocol_report("ei_deep", out)["numbers"]
    write_json(out / "metrics.json", metrics)
    lines = ["block       depth   test accuracy mean ± SD (min)   trained   mean E/I input ratio"]
    for row in metrics["table"]:
        per_layer = row["ei_ratio_per_layer"]
        ratio = "" if per_layer is None else f"{sum(per_layer) / len(per_layer):.2f}"
        acc = f"{row['test_accuracy']:.3f} ± {row['test_accuracy_sd']:.3f} ({row['test_accuracy_min']:.3f})"
        lines.append(
            f"{row['norm']:<11} {row['depth']:>5}   {acc:>29}   "
            f"{row['n_trained']}/{row['n_runs']:<5} {ratio}"
        )
    return {"summary": "\n".join(lines), "metrics": metrics}


def _mean(values):
    return sum(values) / len(values) if values else ""


if __name__ == "__main__":
    raise SystemExit(main(__file__))
