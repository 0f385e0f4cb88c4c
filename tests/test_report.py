"""Reports: the metric registry, number formatting, figures (panels, legends, harmonics), sweep
tables, Markdown with image files, and the training report. No simulation: fast."""

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from pinglab_bio.cli.app import main
from pinglab_bio.errors import PinglabError
from pinglab_bio.report.figures import (
    harmonics,
    metric_figure,
    raster,
    rates_panels,
    spectra_figure,
    subsampling_text,
)
from pinglab_bio.report.html import (
    figure_tag,
    html_page,
    html_to_markdown,
    markdown_page,
    table,
    write_report,
)
from pinglab_bio.report.metrics import (
    column_label,
    format_mean_sd,
    format_p,
    format_value,
    metric_info,
    metric_rows,
)
from pinglab_bio.report.references import TAU_GABA_GAMMA
from pinglab_bio.report.training import load_training_run
from pinglab_bio.runs.folder import read_json, write_json
from pinglab_bio.workflow.sweep_summary import csv_value, seed_means, summarize_sweep, x_sort_key

HOSTILE = '<img src=x onerror=alert(1)>"&'


def test_metric_registry_behavior():
    golden = read_json(Path(__file__).parent / "golden" / "ping_gamma_runtime_seed0.json")
    # every key a run folder's metrics.json holds has a label, and a meaning
    for key in golden["metrics"]:
        info = metric_info(key)
        assert info is not None, key
        assert info.meaning and info.label, key
    rate = metric_info("rate_exc_hz")
    assert (rate.label, rate.unit) == ("E rate", "Hz") and "E neurons" in rate.meaning
    assert metric_info("synchrony_inh").label == "I synchrony"
    assert metric_info("rate_granule_hz").label == "granule rate"  # a population the catalogue lacks
    assert metric_info("no_such_metric") is None
    assert column_label("gamma_peak_hz") == "gamma peak (Hz)" and column_label("gamma_q_factor") == "Q"
    rows = metric_rows({"rate_exc_hz": 10.83125, "gamma_in_band": True, "welch_exc": {"peak_hz": 47.0},
                        "new_measure": 1.5})
    assert rows == [("E rate", "10.83", "Hz", "mean firing rate of the E neurons over the window"),
                    ("peak in band", "yes", "", "whether the peak lies in the gamma band, 30–100 Hz"),
                    ("new_measure", "1.5", "", "")]  # nested entries left out, unknown keys kept


def test_format_behavior():
    assert format_p(0.0) == "< 1e-300"  # scipy's Kruskal–Wallis underflows to exactly 0
    assert format_p(1.3e-26) == "1.3e-26" and format_p(0.4237) == "0.424" and format_p(None) == "n/a"
    assert format_value(4.500000000000001) == "4.5" and format_value(float("nan")) == "n/a"
    assert format_value([0.1, 1.0]) == "0.1 – 1"
    assert format_mean_sd(47.48, None, 1) == "47.5"  # one seed: no "± 0"
    assert format_mean_sd(47.48, 0.0, 1) == "47.5"
    assert format_mean_sd(47.48, 0.31, 3) == "47.5 ± 0.31"
    assert csv_value(4.500000000000001) == "4.5" and csv_value(0.8071336993880103) == "0.807133699388"
    assert csv_value(3) == 3 and csv_value("x") == "x"


def test_seed_means_sorts_numerically_behavior():
    xs = [12.0, 18.0, 4.5, 6.0, 9.0]
    rows = [{"x": x, "seed": s, "gamma_peak_hz": 100 - x + s} for x in xs for s in (0, 1)]
    table_rows = seed_means(rows, "x", keys=["gamma_peak_hz"])
    assert [r["x"] for r in table_rows] == [4.5, 6.0, 9.0, 12.0, 18.0]
    assert table_rows[0]["gamma_peak_hz"] == pytest.approx(96.0)
    assert table_rows[0]["gamma_peak_hz_sd"] == pytest.approx(np.std([95.5, 96.5], ddof=1))
    assert sorted(["12ms", "18ms", "4.5ms", "6ms", "9ms"], key=x_sort_key) == ["4.5ms", "6ms", "9ms", "12ms",
                                                                              "18ms"]
    assert sorted(["b", 2.0, "a"], key=x_sort_key) == [2.0, "a", "b"]


def _sweep_rows():
    rows = []
    for tau in (12.0, 4.500000000000001, 9.0):  # out of order, with float noise, one seed each
        rows.append({"point": f"tau={tau:g}", "tau_gaba_ms": tau, "seed": 0, "gamma_peak_hz": 500 / (tau + 2),
                     "gamma_power_share": 0.8, "gamma_prominence": 900.0, "rate_exc_hz": 50 / tau,
                     "rate_inh_hz": 500 / (tau + 2), "synchrony_exc": 0.2, "synchrony_inh": 0.99})
    return rows


def test_summarize_sweep_report_behavior(tmp_path):
    out = summarize_sweep(_sweep_rows(), "tau_gaba_ms", tmp_path, xlabel="tau_GABA (ms)", title="t",
                          references={"gamma_peak_hz": TAU_GABA_GAMMA})
    assert out["report"] == "report.html"
    page = (tmp_path / "report.html").read_text()
    assert "± 0" not in page and not re.search(r"<td>[^<]*±", page)  # one seed: means alone
    cells = re.findall(r"<tr><td>([\d.]+)</td><td>1</td>", page)
    assert cells == ["4.5", "9", "12"]  # sorted by value, no float noise
    assert "gamma peak (Hz)" in page and "E rate (Hz)" in page  # headers with units
    assert "67.5" in page and "REFERENCES.md §1" in page  # the published curve is tabled
    assert "harmonic" in page  # the share's definition is stated
    text = (tmp_path / "results.csv").read_text() + (tmp_path / "summary.csv").read_text()
    assert "4.500000000000001" not in text
    with open(tmp_path / "summary.csv") as fh:
        assert [r["tau_gaba_ms"] for r in csv.DictReader(fh)] == ["4.5", "9", "12"]
    assert (tmp_path / "figures" / "sweep.png").stat().st_size > 5000


def _inside(inner, outer):
    return inner.x0 >= outer.x0 - 1 and inner.x1 <= outer.x1 + 1 and inner.y0 >= outer.y0 - 1 \
        and inner.y1 <= outer.y1 + 1


def test_legends_outside_data_behavior():
    f = np.linspace(0, 200, 201)
    p = 1 + 100 * np.exp(-((f - 47.5) / 2) ** 2)
    fig = spectra_figure({"E": (f, p, "r", "-"), "I": (f, p * 3, "b", "-")}, {"peak": 47.5}, "t",
                         harmonics_of=47.5)
    fig.canvas.draw()
    (ax,) = fig.axes
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # to the right of the plotting area, never over a trace
    marks = [t.get_text() for t in ax.texts]
    assert {"2f", "3f", "4f"} <= set(marks)  # 95, 142.5 and 190 Hz marked
    assert harmonics(47.5) == [(2, 95.0), (3, 142.5), (4, 190.0)]
    assert harmonics(None) == [] and harmonics(120.0) == []
    fig = metric_figure([("f (Hz)", {"a": ([1, 2], [3, 4], [None, None], None),
                                     "b": ([1, 2], [2, 3], [0.1, 0.1], None)})], "x", "t",
                        references={0: ([1, 2], [3.5, 2.5], "published")})
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()
    assert legend.y1 <= fig.axes[0].get_window_extent().y0  # below the panels
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b", "published"]


class _FakeRun:
    """The parts of a RunResult that the raster reads: 800 E and 200 I neurons."""

    populations = ["exc", "inh"]
    info = {"populations": {"exc": 800, "inh": 200}, "model": {"name": "m"}}

    def spike_arrays(self, pop):
        n = self.info["populations"][pop]
        idx = np.arange(n)
        return idx, 0.1 + idx * 1e-4

    def population_rate(self, pop):
        import neo
        import quantities as pq

        return neo.AnalogSignal(np.full(100, 10.0 if pop == "exc" else 400.0), units="Hz",
                                sampling_period=1 * pq.ms, t_start=0.1 * pq.s)


def test_plain_log_formatter_behavior():
    """Plain-text log tick labels: the ticks matplotlib labels, with the same powers of ten."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogFormatterSciNotation

    from pinglab_bio.report.figures import PlainLogFormatter

    for low, high in ((1e-4, 5e3), (2.0, 40.0), (3e-7, 1e-6)):  # many decades, one, less than one
        ax = Figure().subplots()
        ax.semilogy([0, 1], [low, high])
        ticks = np.concatenate([ax.yaxis.get_majorticklocs(), ax.yaxis.get_minorticklocs()])
        ours, theirs = PlainLogFormatter(), LogFormatterSciNotation()
        for formatter in (ours, theirs):
            formatter.set_axis(ax.yaxis)
            formatter.set_locs(ticks)
        for x in ticks:
            label, reference = ours(x), theirs(x)
            assert bool(label) == bool(reference), (x, label, reference)
            if label:  # "$\\mathdefault{2\\times10^{-7}}$" reads "2×10⁻⁷"
                plain = (reference.replace("$", "").replace("\\mathdefault", "").replace("\\times", "×")
                         .replace("{", "").replace("}", ""))
                power = re.fullmatch(r"(?:([0-9.]+)×)?10\^(−?-?[0-9]+)", plain)
                assert power, plain
                exponent = power.group(2).replace("−", "-")
                expected = ("10" if power.group(1) is None else f"{power.group(1)}×10") + exponent.translate(
                    str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
                assert label == expected, (x, label, reference)
    assert PlainLogFormatter()(0.0) == ""


def test_raster_panels_true_indices_behavior():
    fig = raster(_FakeRun(), window_s=(0.0, 0.5))
    e_ax, i_ax = fig.axes
    assert e_ax.get_ylim() == pytest.approx((-0.5, 799.5)) and i_ax.get_ylim() == pytest.approx((-0.5, 199.5))
    assert "every 2" in e_ax.get_ylabel() and e_ax.get_ylabel().startswith("E")
    assert i_ax.get_ylabel() == "I neuron"  # 200 ≤ 400: every neuron, no subsampling note
    ys = e_ax.collections[0].get_offsets()[:, 1]
    assert ys.max() == 798 and np.all(ys % 2 == 0)  # true indices of every 2nd neuron
    assert subsampling_text({"exc": 800, "inh": 200}, 400) == ("E neurons 0–799, every 2nd (400 of 800); "
                                                               "I all 200")
    # bands on one axes: labelled with the true first and last index of each population
    import matplotlib.figure

    ax = matplotlib.figure.Figure().subplots()
    raster(_FakeRun(), ax=ax, window_s=(0.0, 0.5))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["I 0", "I 199", "E 0", "E 799"]
    fig = rates_panels({p: _FakeRun().population_rate(p) for p in ("exc", "inh")}, (0.1, 0.2))
    e_ax, i_ax = fig.axes
    assert e_ax.get_ylim()[1] < 20 < i_ax.get_ylim()[1]  # each rate on its own y axis


def test_markdown_is_markdown_behavior(tmp_path):
    png = tmp_path / "fig.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    body = (table([[HOSTILE, 1.5], ["a|b", 4.500000000000001]], ["name", "value (Hz)"])
            + "<p>some <b>bold</b> text and <code>code</code></p>" + figure_tag(png, "the caption")
            + "<details><summary>model file</summary><pre>dv/dt = -v/tau : volt\n</pre></details>")
    md = html_to_markdown(body)
    assert "<table" not in md and "<div" not in md and "<img src=x" not in md
    assert "| name | value (Hz) |\n| --- | --- |\n| &lt;img src=x onerror=alert(1)&gt;\"&amp; | 1.5 |" in md
    assert r"| a\|b | 4.5 |" in md
    assert "some **bold** text and `code`" in md
    assert "```\ndv/dt = -v/tau : volt\n```" in md and "*the caption*" in md
    page = markdown_page("T", [("Figures", body)], {"x": 1.0})
    (tmp_path / "out").mkdir()
    target = write_report(tmp_path / "out" / "report.md", page)
    text = target.read_text()
    assert "base64" not in text
    (link,) = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert link == "report_figures/figure1.png"
    assert (target.parent / link).read_bytes() == png.read_bytes()
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.md", "report_figures"]  # no temp left
    html = html_page("T", [("Figures", body)])
    assert write_report(tmp_path / "r.html", html).read_text() == html  # HTML keeps its embedded figures


def _training_folder(tmp_path, name="train", protocol="train_ei_readout"):
    folder = tmp_path / name
    folder.mkdir()
    write_json(folder / "run.json", {"protocol": protocol, "task": "ei_readout", "seed": 3,
                                     "settings": {"dataset": "digits", "model": "ei_hidden_cuba",
                                                  "dt_ms": 1.0, "duration_ms": 100.0, "epochs": 2,
                                                  "lr": 0.001},
                                     "dt": {"si_value": 0.001, "si_unit": "s"}, "settings_hash": "abc123",
                                     "versions": {"torch": "2.13.0"}, "git_revision": "deadbeef"})
    write_json(folder / "metrics.json", {"test_accuracy": 0.9123456789, "test_accuracy_brian2": 0.91,
                                         "hidden_rate_hz": 12.345678, "epochs": 2, "n_train": 100,
                                         "n_test": 50})
    (folder / "curves.json").write_text(json.dumps([
        {"epoch": 1, "loss": 2.0, "train_accuracy": 0.5, "test_accuracy": 0.6, "hidden_rate_hz": 20.0,
         "wall_s": 1.0},
        {"epoch": 2, "loss": 1.0, "train_accuracy": 0.8, "test_accuracy": 0.9, "hidden_rate_hz": 12.0,
         "wall_s": 1.0}]))
    return folder


def test_training_report_behavior(tmp_path, capsys):
    folder = _training_folder(tmp_path)
    target = tmp_path / "train.html"
    assert main(["analyze", str(folder), "--report", str(target)]) == 0
    page = target.read_text()
    assert page.count("data:image/png;base64,") == 1  # the curves
    for words in ("test accuracy", "fraction of the test set classified correctly", "0.9123", "hidden rate",
                  "Hz", "settings hash", "abc123", "ei_hidden_cuba"):
        assert words in page, words
    assert "0.9123456789" not in page  # formatted, not raw
    capsys.readouterr()
    assert main(["analyze", str(folder), "--format", "json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)["runs_measured"]
    assert run["best_test_accuracy"] == 0.9 and run["epochs_recorded"] == 2
    assert run["test_accuracy_brian2"] == 0.91


def test_training_report_errors(tmp_path):
    folder = _training_folder(tmp_path)
    (folder / "metrics.json").unlink()
    with pytest.raises(PinglabError, match=r"has no metrics\.json, so it is not a training run folder\. "
                                           r"Fix: pass a folder written by `pinglab-bio train`"):
        load_training_run(folder)
    other = _training_folder(tmp_path, "gamma", protocol="ping_gamma")
    with pytest.raises(PinglabError, match=r"names protocol 'ping_gamma', not a training task"):
        load_training_run(other)
    broken = _training_folder(tmp_path, "broken")
    (broken / "curves.json").write_text(json.dumps([{"epoch": 1}]))
    with pytest.raises(PinglabError, match=r"curves\.json lacks loss, train_accuracy, test_accuracy"):
        load_training_run(broken)


def test_silent_network_report_behavior(model_file, tmp_path, capsys):
    """A network whose threshold is never reached has no gamma peak: the run still writes its
    report (figures without a peak line) and metrics.json holds null with the reason."""
    import json

    from pinglab_bio.cli import main

    path = model_file("ping_coba", replace=[('threshold = "v > V_th"', 'threshold = "v > -10*V_th"'),
                                            ('threshold = "v > V_th"', 'threshold = "v > -10*V_th"')])
    out = tmp_path / "silent"
    assert main(["run", "ping_gamma", "--model", str(path), "--duration", "0.3s", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["gamma_peak_hz"] is None and "fewer than" in metrics["gamma_peak_reason"]
    assert (out / "figures" / "psd.png").is_file() and (out / "report.html").is_file()
    assert "gamma peak (EXC rate): none" in capsys.readouterr().out
