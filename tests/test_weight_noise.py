"""weight_noise: noise after each step keeps Dale's signs; scores and t-tests count each trial once."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pinglab_bio.errors import SettingsError  # noqa: E402
from pinglab_bio.train.loop import build_classifier  # noqa: E402
from pinglab_bio.train.studies.ei_ratio import (  # noqa: E402
    RatioConfig,
    add_pathway_noise_,
    initial_weight_std,
    train_ratio_run,
)


def test_weight_noise_changes_weights_and_keeps_signs():
    config = RatioConfig(ei_ratio=0.5, n_hidden=40, sigma_in=0.1, sigma_out=0.5)
    net = build_classifier(config.classifier_config(), 16, 4)
    before = {k: w.detach().clone() for k, w in net.weights.items()}
    net.add_weight_noise_(0.01, torch.Generator().manual_seed(0), relative=False)
    w_in = net.weights["input_to_hidden"].detach()
    assert bool((w_in >= 0).all())
    out = net.weights["hidden_to_out"].detach()
    assert bool((out[:20] >= 0).all()) and bool((out[20:] <= 0).all())
    # Entries that stayed on their side move by N(0, 0.01²): 16·40 draws, SD within 15 % (> 4 SE)
    delta = (w_in - before["input_to_hidden"])[w_in > 0]
    assert float(delta.std()) == pytest.approx(0.01, rel=0.15)


def test_sigma_init_is_measured_from_the_drawn_weights():
    sigmas = []
    for ratio in (0.5, 0.8, 1.0):
        config = RatioConfig(ei_ratio=ratio, n_hidden=100, sigma_in=0.1, sigma_out=0.5, seed=3)
        net = build_classifier(config.classifier_config(), 64, 10)
        sigma = initial_weight_std(net)
        w_in = net.weights["input_to_hidden"].detach().double()
        assert sigma["input_to_hidden"] == pytest.approx(float(w_in.std()), rel=1e-12)  # all ≥ 0
        w_out = net.weights["hidden_to_out"].detach().double()
        assert sigma["hidden_to_out"] == pytest.approx(float(w_out.abs().std()), rel=1e-12)
        sigmas.append(sigma)
    half_normal = np.sqrt(1 - 2 / np.pi)
    for sigma in sigmas:
        # |N(0, 0.1)| has std 0.1·sqrt(1 − 2/π) = 0.0603, not the nominal 0.1: 6400 draws, SE ≈ 1 %
        assert sigma["input_to_hidden"] == pytest.approx(0.1 * half_normal, rel=0.05)
        # 1000 readout magnitudes |N(0, 0.5)| whatever the ratio: 0.301 (SE ≈ 2.3 %: within 10 %)
        assert sigma["hidden_to_out"] == pytest.approx(0.5 * half_normal, rel=0.1)


def test_pathway_noise_has_each_pathways_own_scale_and_keeps_signs():
    config = RatioConfig(ei_ratio=0.5, n_hidden=40, sigma_in=0.1, sigma_out=0.5)
    net = build_classifier(config.classifier_config(), 16, 4)
    before = {k: w.detach().clone() for k, w in net.weights.items()}
    add_pathway_noise_(net, {"input_to_hidden": 0.01, "hidden_to_out": 0.2}, torch.Generator().manual_seed(0))
    w_in, out = net.weights["input_to_hidden"].detach(), net.weights["hidden_to_out"].detach()
    assert bool((w_in >= 0).all())
    assert bool((out[:20] >= 0).all()) and bool((out[20:] <= 0).all())
    # entries that stayed on their side moved by N(0, σ²): ≥ 80 draws each, SD within 30 % (> 3 SE)
    delta_in = (w_in - before["input_to_hidden"])[w_in > 0]
    assert float(delta_in.std()) == pytest.approx(0.01, rel=0.3)
    kept = (out != 0)
    delta_out = (out - before["hidden_to_out"])[kept]
    assert float(delta_out.std()) == pytest.approx(0.2, rel=0.3)


def test_score_epochs_default_is_last_ten_or_last_third():
    from pinglab_bio.workflow.protocol import load_protocol

    score_epochs = load_protocol("weight_noise").score_epochs
    assert [score_epochs(e) for e in (1, 2, 8, 12, 29, 30, 60)] == [1, 1, 3, 4, 10, 10, 10]


def test_weight_noise_run_scales_noise_by_measured_sigma():
    from pinglab_bio.train.studies.common import digits_tensors

    x_tr, y_tr, x_te, y_te = digits_tensors()
    data = (x_tr[:64], y_tr[:64], x_te[:20], y_te[:20])
    config = RatioConfig(ei_ratio=0.8, n_hidden=20, steps=20, epochs=1, batch_size=32, noise_rel=0.4, seed=1)
    record, _ = train_ratio_run(config, data)
    drawn = build_classifier(config.classifier_config(), 64, 10)  # the same seed draws the same weights
    for name, w in drawn.weights.items():
        assert record["sigma_init"][name] == pytest.approx(float(w.detach().double().abs().std()), rel=1e-9)
        assert record["sigma_noise"][name] == pytest.approx(0.4 * record["sigma_init"][name], rel=1e-12)
    fixed, _ = train_ratio_run(RatioConfig(**{**config.__dict__, "sigma_noise_ref": 1e-3}), data)
    assert fixed["sigma_noise"] == {name: pytest.approx(4e-4) for name in drawn.weights}


def test_verdict_names_the_significant_differences():
    from pinglab_bio.workflow.analysis import load_analysis

    module = load_analysis("weight_noise")
    rows = module.score_table(_records({0.8: [0.80, 0.82, 0.79, 0.81], 1.0: [0.61, 0.59, 0.60, 0.62]}))
    assert module.verdict(rows).startswith("Differences from 100:0 at p < 0.05: 80:20 above 100:0")
    rows = module.score_table(_records({0.8: [0.60, 0.62, 0.59], 1.0: [0.61, 0.59, 0.60]}))
    assert module.verdict(rows).startswith("No ratio differs from 100:0 at p < 0.05")


def _records(scores_by_ratio, noise=0.2):
    return [
        {"config": {"noise_rel": noise, "ei_ratio": ratio}, "score": s, "accuracy_curve": [s]}
        for ratio, scores in scores_by_ratio.items()
        for s in scores
    ]


def test_score_table_t_test_each_trial_once():
    import scipy.stats

    from pinglab_bio.workflow.analysis import load_analysis

    module = load_analysis("weight_noise")
    better = [0.80, 0.82, 0.79, 0.81]
    same = [0.60, 0.62, 0.61, 0.58]
    reference = [0.61, 0.59, 0.60, 0.62]
    rows = {r["ei_ratio"]: r for r in module.score_table(_records({0.8: better, 0.95: same, 1.0: reference}))}
    assert rows[0.8]["n"] == 4 and rows[0.8]["n_reference"] == 4 and rows[1.0]["p_vs_100_0"] is None
    assert rows[0.8]["diff_vs_100_0"] == pytest.approx(np.mean(better) - np.mean(reference), rel=1e-12)
    assert rows[0.8]["p_vs_100_0"] < 1e-4 and rows[0.95]["p_vs_100_0"] > 0.05
    welch = scipy.stats.ttest_ind(better, reference, equal_var=False)
    assert rows[0.8]["p_vs_100_0"] == pytest.approx(welch.pvalue, rel=1e-12)


def test_weight_noise_errors():
    from pinglab_bio.workflow.protocol import load_protocol, parse_protocol_args

    module = load_protocol("weight_noise")
    with pytest.raises(SettingsError, match="--ratios must include 1.0"):
        parse_protocol_args(module, ["--ratios", "0.8,0.5"], "weight_noise")
    with pytest.raises(SettingsError, match="--seeds must be ≥ 2 for a t-test, got 1"):
        parse_protocol_args(module, ["--seeds", "1"], "weight_noise")
    with pytest.raises(SettingsError, match="--score-epochs must lie in 1..--epochs"):
        parse_protocol_args(module, ["--epochs", "3", "--score-epochs", "5"], "weight_noise")
    with pytest.raises(SettingsError, match="--noise-levels: values must be ≥ 0.0"):
        parse_protocol_args(module, ["--noise-levels", "-0.2"], "weight_noise")


def test_weight_noise_protocol_reduced_run(tmp_path):
    pytest.importorskip("sklearn")
    from pinglab_bio.workflow.protocol import load_protocol, parse_protocol_args, run_protocol

    module = load_protocol("weight_noise")
    params, _ = parse_protocol_args(
        module,
        [
            "--ratios",
            "0.8,1.0",
            "--noise-levels",
            "0.6",
            "--seeds",
            "2",
            "--epochs",
            "1",
            "--score-epochs",
            "1",
            "--n-hidden",
            "20",
            "--steps",
            "20",
        ],
        "weight_noise",
    )
    folder, _ = run_protocol(module, params, out=tmp_path / "run", quiet=True)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert (folder / "report.html").is_file()
    # one score per trial: two seeds on each side of the one t-test
    assert [r["n"] for r in metrics["table"]] == [2, 2]
    assert [r["n_reference"] for r in metrics["table"]] == [2, 2]
    runs = json.loads((folder / "runs.json").read_text())["runs"]
    assert len(runs) == 4 and all(len(r["accuracy_curve"]) == 1 for r in runs)
    assert metrics["sigma_init"] == "measured" and metrics["score_epochs"] == 1
    # the noise of every run is 0.6 × the std of that run's own drawn weights
    for r in runs:
        assert set(r["sigma_noise"]) == {"input_to_hidden", "hidden_to_out"}
        for name, s in r["sigma_init"].items():
            assert r["sigma_noise"][name] == pytest.approx(0.6 * s, rel=1e-12)
    median = float(np.median([r["sigma_init"]["input_to_hidden"] for r in runs]))
    assert metrics["sigma_init_measured"]["input_to_hidden"] == pytest.approx(median, rel=1e-12)


def test_weight_noise_analysis_refuses_mixed_noise_scales(tmp_path):
    from pinglab_bio.errors import PinglabError
    from pinglab_bio.workflow.analysis import load_analysis

    for name, sigma in (("a", 1e-3), ("b", 1e-2)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "runs.json").write_text(
            json.dumps(
                {"runs": _records({0.8: [0.7, 0.8], 1.0: [0.6, 0.7]}), "score_epochs": 4, "sigma_init": sigma}
            )
        )
    with pytest.raises(PinglabError, match="do not pool"):
        load_analysis("weight_noise").load_runs([tmp_path / "a", tmp_path / "b"])
