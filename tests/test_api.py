"""The Python API as a notebook uses it: the worked example of docs/python-api.md, figures that
leave the matplotlib backend alone, short reprs, units on recorded states, explicit windows and
errors worded for Python."""

import re
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from pinglab_bio import load_model, simulate
from pinglab_bio.errors import PinglabError, SettingsError
from pinglab_bio.paths import repo_root

SMALL = {"n_exc": 80, "n_inh": 20}


def _worked_example() -> str:
    text = (repo_root() / "docs" / "python-api.md").read_text()
    after = text.split("<!-- worked-example -->", 1)[1]
    return re.search(r"```python\n(.*?)```", after, re.S).group(1)


def test_python_api_worked_example_behavior(tmp_path):
    scope = {"run_dir": tmp_path}
    exec(compile(_worked_example(), "docs/python-api.md", "exec"), scope)
    fast, slow = scope["fast_run"], scope["slow_run"]
    for name in ("fig_raster", "fig_rates", "fig_psd"):
        assert isinstance(scope[name], Figure), name
    assert scope["slower"] is True  # a longer GABA decay slows the rhythm (REFERENCES §1)
    assert float(scope["rate"].t_start) == pytest.approx(0.1)  # starts at the transient, in s
    assert float(scope["late"].t_start) == pytest.approx(0.2)
    assert len(scope["trains"]) == 400
    assert np.all(np.diff(scope["times_s"]) >= 0) and scope["times_s"][0] >= 0
    assert (tmp_path / "fast" / "metrics.json").is_file()
    assert fast.metrics != slow.metrics


def test_save_run_keeps_matplotlib_backend_behavior(tmp_path):
    code = f"""
import matplotlib
matplotlib.use("svg")
from pinglab_bio import load_model, simulate, save_run
result = simulate(load_model("ping_coba", {SMALL!r}), duration="0.2 s")
save_run(result, {str(tmp_path / "run")!r})
from pinglab_bio.report.figures import raster, psd_figure
raster(result); psd_figure(result)
print(matplotlib.get_backend())
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "svg"  # the caller's backend, not Agg


@pytest.fixture(scope="module")
def recorded():
    return simulate(load_model("ping_coba", SMALL), duration="0.2 s", seed=2,
                    record={"exc": {"variables": ["v", "g_e"], "indices": [0, 3]}})


def test_reprs_are_short_behavior(recorded):
    spec = load_model("ping_coba", {"tau_gaba": "12 ms"})
    text = repr(spec)
    assert len(text) < 200 and "\n" not in text
    assert "exc=800" in text and "inh=200" in text and "tau_gaba" in text
    text = repr(recorded)
    assert len(text) < 300 and "exc=80" in text and "gamma_peak_hz=" in text and "\n" not in text


def test_states_carry_units_behavior(recorded):
    import brian2

    states = recorded.states["exc"]
    assert brian2.have_same_dimensions(states["v"], brian2.volt)
    assert brian2.have_same_dimensions(states["g_e"], brian2.siemens)
    assert brian2.have_same_dimensions(states["t"], brian2.second)
    assert states["v"].shape == (2, 2000) and states["t"].shape == (2000,)
    v_mv = np.asarray(states["v"] / brian2.mV)
    assert -90 < v_mv.min() and v_mv.max() < -40  # between E_GABA-ish and threshold, in mV


def test_population_rate_window_behavior(recorded):
    sig = recorded.population_rate("exc")
    assert float(sig.t_start) == pytest.approx(0.1)  # the default transient, s
    assert sig.annotations["transient_s"] == pytest.approx(0.1)
    assert sig.annotations["window_s"] == [pytest.approx(0.1), pytest.approx(0.2)]
    part = recorded.population_rate("exc", t_start="150 ms")
    assert float(part.t_start) == pytest.approx(0.15) and len(part) == len(sig) // 2


def test_population_rate_errors(recorded):
    with pytest.raises(SettingsError, match=r"t_start='50 ms' lies outside .* Fix: pass e.g. t_start="):
        recorded.population_rate("exc", t_start="50 ms")
    with pytest.raises(SettingsError, match=r"t_start='5 mV' is not a time"):
        recorded.population_rate("exc", t_start="5 mV")
    with pytest.raises(PinglabError, match=r"run has no population 'ecx'.*Fix: use one of"):
        recorded.population_rate("ecx")


def test_error_wording_behavior():
    err = SettingsError.about("portable_random", "{arg} needs a standalone device. Fix: pass {example}",
                              example=True)
    assert str(err) == "portable_random needs a standalone device. Fix: pass portable_random=True"
    assert err.cli_message == "--portable-random needs a standalone device. Fix: pass --portable-random True"
    plain = SettingsError("one wording")
    assert plain.cli_message is None and str(plain) == "one wording"
