"""How do the E:I ratio and the initial hidden firing rate decide whether an E/I spiking network trains?

Kilgore, Kopsick, Ascoli and Adam (Sci. Rep. 2025; REFERENCES.md §3), on scikit-learn digits:
the three-layer E/I network (Poisson inputs → 100 current-based LIF hidden neurons, each E or I
under Dale's law → leaky-integrator outputs, max-over-time loss, plain SGD, projection after
every step) is trained for E:I ratios 50:50, 80:20, 95:5 and 100:0 and a grid of input-weight
scales sigma_in (weights |N(0, sigma_in)|) that sets the initial hidden rate, several seeds per
cell. Each run records the initial hidden rate, peak and final test accuracy, and E and I spikes
per sample over training. After training, Van Rossum distances (kernel exp(-t/τ), τ = 1 step,
D = sqrt(Σ_t (f_n - f_m)²/τ), averaged over --vr-samples test samples) between hidden pairs are
grouped E–E, E–I, I–I and compared by Kruskal–Wallis per ratio, for initial, successful and
failed networks, and network by network: the summary and the report say how many networks
order their own medians E–E < E–I < I–I (how often the order holds across seeds) beside the
pooled test. Successful: final test accuracy ≥ --success-threshold (0.8). The default scale
(lr 0.6, 20 epochs, σ_in 0.1 and 0.4, 3 seeds) was chosen with benchmarks/ei_ratio_scale.py:
over 8 seeds of 80:20 at σ_in 0.1, 7 order their own medians after 20 epochs at lr 0.6 (5 of 8
at lr 0.3). Writes runs.json, runs.csv, vr/*.npz (distance matrices), metrics.json, figures
and report.html. The paper's full scale: --sigma-in-values with 8+ points, --seeds 8,
--epochs 30 (the paper: lr 0.01, batch 256 on Fashion-MNIST).
"""

from pinglab_bio.workflow.analysis import write_protocol_report
from pinglab_bio.workflow.protocol import Param, main, require_torch

__all__ = ["PARAMETERS", "check", "run"]

PARAMETERS = {
    "ratios": Param("0.5,0.8,0.95,1.0", "E shares of the hidden layer (0.8 = 80:20)"),
    "sigma_in_values": Param("0.1,0.4", "input-weight scales sigma_in (set the initial hidden rate)"),
    "seeds": Param(3, "seeds per cell (seed, seed+1, ...); the paper used 8", kind="int"),
    "seed": Param(0, "first seed", kind="int"),
    "epochs": Param(20, "training epochs (paper: 30)", kind="int"),
    "batch_size": Param(64, "mini-batch size (paper: 256)", kind="int"),
    "lr": Param(0.6, "SGD learning rate (paper: 0.01 on Fashion-MNIST)", kind="float"),
    "sigma_out": Param(0.5, "hidden → output weight scale", kind="float"),
    "n_hidden": Param(100, "hidden neurons", kind="int"),
    "steps": Param(100, "time steps per sample (dt 1 ms)", kind="int"),
    "max_rate": Param(100.0, "Poisson rate of a white pixel (Hz)", kind="float"),
    "vr_samples": Param(100, "test samples the Van Rossum distance is averaged over", kind="int"),
    "success_threshold": Param(
        0.8, "final test accuracy at or above which a network counts as successful", kind="float"
    ),
    "fail_threshold": Param(
        0.2, "final test accuracy at or below which a network counts as failed", kind="float"
    ),
    "threads": Param(1, "torch CPU threads", kind="int"),
    "torch_device": Param("cpu", "torch device of the networks: cpu, cuda, cuda:1, ...", kind="str"),
}


def check(params):
    require_torch(params["torch_device"])
    from pinglab_bio.errors import SettingsError
    from pinglab_bio.train.studies.common import parse_list

    params["ratio_list"] = parse_list("--ratios", params["ratios"], float)
    params["sigma_list"] = parse_list("--sigma-in-values", params["sigma_in_values"], float)
    for name in ("seeds", "threads"):
        if params[name] < 1:
            raise SettingsError(f"--{name} must be ≥ 1, got {params[name]}. Fix: e.g. --{name} 2")
    if not 0 <= params["fail_threshold"] < params["success_threshold"] <= 1:
        raise SettingsError(
            f"need 0 ≤ --fail-threshold < --success-threshold ≤ 1, got "
            f"{params['fail_threshold']} and {params['success_threshold']}. "
            "Fix: e.g. --fail-threshold 0.2 --success-threshold 0.7"
        )
    for ratio in params["ratio_list"]:
        for sigma in params["sigma_list"]:
            _config(params, ratio, sigma, 0).check()


def _config(params, ratio, sigma, seed):
    from pinglab_bio.train.studies.ei_ratio import config_from_params

    return config_from_params(params, ratio, sigma, seed)


def run(params, out, log=print):
    import csv

    import numpy as np
    import torch

    from pinglab_bio.runs.folder import write_json
    from pinglab_bio.train.studies.common import StudyProgress, digits_tensors
    from pinglab_bio.train.studies.ei_ratio import train_ratio_run

    torch.set_num_threads(params["threads"])
    data = digits_tensors(seed=params["seed"])
    (out / "vr").mkdir()
    records = []
    progress = StudyProgress(log, len(params["ratio_list"]) * len(params["sigma_list"]) * params["seeds"],
                             params["epochs"])
    for ratio in params["ratio_list"]:
        for sigma in params["sigma_list"]:
            for s in range(params["seeds"]):
                config = _config(params, ratio, sigma, params["seed"] + s)
                record, vr = train_ratio_run(config, data, on_epoch=lambda e, *_: progress.epoch_done(e))
                label = f"ratio{ratio:g}-sigma{sigma:g}-seed{config.seed}"
                record["label"] = label
                if vr:
                    np.savez_compressed(
                        out / "vr" / f"{label}.npz",
                        initial=vr["initial"],
                        trained=vr["trained"],
                        n_exc=np.array(config.n_exc),
                    )
                    record["vr_file"] = f"vr/{label}.npz"
                records.append(record)
                log(
                    f"E:I {ratio:g} sigma_in {sigma:g} seed {config.seed}: initial rate "
                    f"{record['initial_rate_hz']:.1f} Hz, accuracy final {record['final_test_accuracy']:.3f} "
                    f"peak {record['peak_test_accuracy']:.3f} ({record['train_time_s']:.0f} s; "
                    f"{progress.run_done()})"
                )
    write_json(
        out / "runs.json",
        {
            "runs": records,
            "n_train": len(data[0]),
            "n_test": len(data[2]),
            "success_threshold": params["success_threshold"],
            "fail_threshold": params["fail_threshold"],
        },
    )
    with open(out / "runs.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "ei_ratio",
                "sigma_in",
                "seed",
                "initial_rate_hz",
                "peak_test_accuracy",
                "final_test_accuracy",
                "exc_spikes_per_sample_final",
                "inh_spikes_per_sample_final",
            ]
        )
        for r in records:
            c = r["config"]
            writer.writerow(
                [
                    c["ei_ratio"],
                    c["sigma_in"],
                    c["seed"],
                    r["initial_rate_hz"],
                    r["peak_test_accuracy"],
                    r["final_test_accuracy"],
                    r["exc_spikes_per_sample"][-1],
                    r["inh_spikes_per_sample"][-1],
                ]
            )
    result = write_protocol_report("ei_ratio", out)
    write_json(out / "metrics.json", result["numbers"])
    return {"summary": _summary_text(result["numbers"]), "metrics": result["numbers"]}


def _summary_text(numbers):
    lines = ["E:I     networks  trained share  median initial rate (Hz)  mean final accuracy"]
    for row in numbers["per_ratio"]:
        lines.append(
            f"{row['ratio_label']:<7} {row['n_runs']:>8}  {row['success_share']:>13.2f}  "
            f"{row['median_initial_rate_hz']:>24.1f}  {row['mean_final_accuracy']:>19.3f}"
        )
    vr = numbers.get("van_rossum", {}).get("0.8", {})
    for group in ("initial", "successful"):
        entry = vr.get(group)
        if not entry or not entry.get("n_networks"):
            if group == "successful":
                lines.append(f"80:20 successful: none (final accuracy ≥ {numbers['success_threshold']:g})")
            continue
        med = entry["medians"]
        p = "–" if entry["kruskal_p"] is None else f"{entry['kruskal_p']:.2g}"
        lines.append(
            f"80:20 {group} ({entry['n_networks']} networks"
            + (f", final accuracy ≥ {numbers['success_threshold']:g}" if group == "successful" else "")
            + f"): pooled Van Rossum medians E–E {med['E-E']:.3f}, E–I {med['E-I']:.3f}, "
            f"I–I {med['I-I']:.3f}; "
            f"Kruskal–Wallis p {p}; ordered E–E < E–I < I–I: {'yes' if entry['ordered'] else 'no'}; "
            f"per network ordered {entry['n_ordered']} of {entry['n_networks']} "
            f"({entry['n_ordered_p01']} with their own p < 0.01)"
        )
        for net in entry["per_network"]:
            m = net["medians"]
            own_p = "–" if net["kruskal_p"] is None else f"{net['kruskal_p']:.2g}"
            lines.append(
                f"    {net['label']}: accuracy {net['final_test_accuracy']:.3f}, medians {m['E-E']:.3f} / "
                f"{m['E-I']:.3f} / {m['I-I']:.3f}, p {own_p}, "
                f"{'ordered' if net['ordered'] else 'not ordered'}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main(__file__))
