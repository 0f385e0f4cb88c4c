"""`pinglab-bio analyze`: dispatch by protocol, HTML / Markdown / JSON output, escaping, errors."""

import json
import re
import shutil

import pytest

from pinglab_bio.cli.app import main
from pinglab_bio.runs.folder import read_json, write_json

HOSTILE = '<img src=x onerror=alert(1)>"&'


@pytest.fixture(scope="module")
def gamma_run(tmp_path_factory):
    """A short ping_gamma run folder (0.3 s, seed 2)."""
    out = tmp_path_factory.mktemp("analyze") / "gamma"
    assert main(["run", "ping_gamma", "--duration", "0.3s", "--seed", "2", "--out", str(out), "--quiet"]) == 0
    return out


def test_analyze_json_to_stdout_behavior(gamma_run, capsys):
    assert main(["analyze", str(gamma_run), "--format", "json"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    assert numbers["protocol"] == "ping_gamma"
    (run,) = numbers["runs_measured"]
    metrics = read_json(gamma_run / "metrics.json")
    # The analysis measures the same run as the simulator's own summary: same rates and peak.
    assert run["rate_exc_hz"] == pytest.approx(metrics["rate_exc_hz"], rel=1e-9)
    assert run["gamma_peak_hz"] == pytest.approx(metrics["gamma_peak_hz"], rel=1e-9)
    for key in ("lv_isi_exc", "fraction_active_inh", "sttc_exc", "multitaper_exc", "ei_lag",
                "exc_fraction_per_cycle"):
        assert key in run, key
    vr = run["van_rossum"]
    assert vr["method"] == "grid" and vr["all_pairs"]
    assert vr["classes"]["E-E"]["n_pairs"] == 800 * 799 // 2
    assert vr["classes"]["E-I"]["n_pairs"] == 800 * 200
    assert 0.0 <= vr["kruskal_p"] <= 1.0
    # The I volley is set off by the first E spikes of a volley through a 1 ms delay, so it sits
    # within a few ms of the E volley (0.2 ms after it at this seed), far inside the ±10 ms searched.
    assert -1.0 <= run["ei_lag"]["lag_ms"] <= 3.0
    assert run["ei_lag"]["correlation"] > 0.3  # E and I volleys line up cycle by cycle


def test_analyze_html_report_behavior(gamma_run, tmp_path, capsys):
    target = tmp_path / "report.html"
    assert main(["analyze", str(gamma_run), "--report", str(target)]) == 0
    assert "report:" in capsys.readouterr().err
    page = target.read_text()
    # raster, rates, PSD, spectrogram and Van Rossum distributions, all embedded
    assert page.count("data:image/png;base64,") == 5
    assert 'src="http' not in page and "src='http" not in page  # nothing fetched from elsewhere
    for words in ("Kruskal–Wallis", "E→I lag", "multitaper", "model file (equations)", "Provenance",
                  "dv/dt = (g_L*(E_L - v)", "what the columns mean", "harmonic"):
        assert words in page, words
    assert "p = 0<" not in page and "p = 0 " not in page  # an underflowed p is "< 1e-300"
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", page)
    assert len(captions) == 5 and all("analysis window 100–300 ms" in c for c in captions), captions
    assert "every 2nd (400 of 800)" in captions[0]  # the raster states its subsampling
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left beside it


def test_analyze_markdown_report_behavior(gamma_run, tmp_path):
    target = tmp_path / "report.md"
    assert main(["analyze", str(gamma_run), "--report", str(target)]) == 0  # format from the suffix
    text = target.read_text()
    assert text.startswith("# ping_gamma: ping_coba")
    assert "## Model" in text and "## Numbers" in text
    assert re.search(r"^\| runs_measured\.0\.rate_exc_hz \| \d+\.\d+ \|$", text, re.M)
    assert "<table" not in text and "<p>" not in text and "<figure" not in text  # Markdown, not HTML
    assert re.search(r"^\| population \| rate \(Hz\) \| CV ISI \|", text, re.M)


def test_analyze_markdown_figures_beside_behavior(gamma_run, tmp_path):
    from pinglab_bio.report.html import write_report
    from pinglab_bio.workflow.analysis import analyze

    _, text, _ = analyze([gamma_run], "md")
    target = write_report(tmp_path / "gamma.md", text)
    page = target.read_text()
    assert "base64" not in page
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page)
    assert links == [f"gamma_figures/figure{k}.png" for k in range(1, 6)]
    for link in links:
        assert (tmp_path / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert target.stat().st_size < 60_000  # text alone; the figures are files beside it


def test_analyze_escapes_user_text_behavior(gamma_run, tmp_path):
    hostile_dir = tmp_path / f"run{HOSTILE.replace('/', '')}"
    shutil.copytree(gamma_run, hostile_dir)
    info = read_json(hostile_dir / "run.json")
    info["model"]["overrides"] = {"label": HOSTILE, HOSTILE: "9 ms"}
    info["model"]["name"] = HOSTILE
    info["model"]["source"] += f"\n# {HOSTILE}\n"
    write_json(hostile_dir / "run.json", info)
    target = tmp_path / "hostile.html"
    assert main(["analyze", str(hostile_dir), "--report", str(target)]) == 0
    page = target.read_text()
    assert "<img src=x" not in page  # the label never becomes markup
    assert "&lt;img src=x onerror=alert(1)&gt;&quot;&amp;" in page
    md = tmp_path / "hostile.md"
    assert main(["analyze", str(hostile_dir), "--report", str(md)]) == 0
    assert "<img src=x" not in md.read_text()


def test_analyze_sweep_side_by_side_behavior(tmp_path, capsys):
    out = tmp_path / "sweep"
    assert main(["run", "tau_gaba_sweep", "--tau-gaba-values", "5ms,14ms", "--duration", "0.3s",
                 "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    target = tmp_path / "sweep.html"
    assert main(["analyze", str(out), "--report", str(target)]) == 0
    assert main(["analyze", str(out), "--format", "json"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    rows = numbers["summary"]
    assert [r["x"] for r in rows] == pytest.approx([5.0, 14.0])
    assert rows[0]["gamma_peak_hz"] > rows[1]["gamma_peak_hz"]  # frequency falls with tau_GABA
    page = target.read_text()
    assert "Sweep side by side" in page and page.count("data:image/png;base64,") == 2
    assert not re.search(r"<td>[^<]*±", page)  # one seed per value: means alone, no "± 0"
    assert "67.5" in page and "published" in page  # the reference curve of REFERENCES §1
    assert "gamma peak (Hz)" in page  # headers carry units
    own = (out / "report.html").read_text()
    assert "REFERENCES.md §1" in own and not re.search(r"<td>[^<]*±", own)


ERRORS = [
    (["analyze", "no/such/run"], r"run folder 'no/such/run' does not exist"),
    (["analyze", "{empty}"], r"has no run\.json or protocol\.json naming a protocol"),
    (["analyze", "{unknown}"], r"protocol 'mystery' has no analysis script \(analysis/mystery\.py\)\. "
                               r"Fix: use "
                               r"folders of a protocol with one: .*dt_stability.*ping_gamma"),
    (["analyze", "{gamma}", "{other}"], r"the run folders come from different protocols"),
    (["analyze", "{gamma}", "--format", "pdf"], r"invalid choice: 'pdf'"),
    (["analyze", "{gamma}", "--report", "{missing}/r.html"], r"folder '.*missing' does not exist"),
]


@pytest.mark.parametrize("argv,message", ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
def test_analyze_errors(gamma_run, tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "unknown").mkdir()
    write_json(tmp_path / "unknown" / "run.json", {"protocol": "mystery"})
    (tmp_path / "other").mkdir()
    write_json(tmp_path / "other" / "protocol.json", {"protocol": "tau_gaba_sweep"})
    subs = {"{empty}": tmp_path / "empty", "{unknown}": tmp_path / "unknown", "{gamma}": gamma_run,
            "{other}": tmp_path / "other", "{missing}": tmp_path / "missing"}
    argv = [str(subs[a]) if a in subs else a.replace("{missing}", str(tmp_path / "missing")) for a in argv]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert re.search(message, err), err
    assert "Fix:" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_analyze_seeds_side_by_side_behavior(gamma_run, tmp_path, capsys):
    twin = tmp_path / "twin"
    shutil.copytree(gamma_run, twin)
    assert main(["analyze", str(gamma_run), str(twin), "--format", "json"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    assert len(numbers["runs_measured"]) == 2
    single = numbers["runs_measured"][0]
    # Two copies of one run: the mean over runs and the peak of the averaged spectrum are that run's.
    assert numbers["mean_over_runs"]["rate_exc_hz"] == pytest.approx(single["rate_exc_hz"], rel=1e-12)
    assert numbers["mean_spectrum_peak_hz"] == pytest.approx(single["gamma_peak_hz"], rel=1e-9)
