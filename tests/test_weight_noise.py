"""weight_noise: noise after each step keeps Dale's signs; scores and t-tests count each trial once."""

import json

import pytest

torch = pytest.importorskip("torch")

from pinglab_bio.errors import SettingsError  # noqa: E402
from pinglab_bio.train.loop import build_classifier  # noqa: E402
from pinglab_bio.train.studies.ei_ratio import RatioConfig  # noqa: E402


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
    assert rows[0.8]["n"] == 4 and rows[1.0]["p_vs_100_0"] is None
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
    assert [r["n"] for r in metrics["table"]] == [2, 2]
    assert metrics["sigma_init"] == pytest.approx(1e-3)


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
