"""Run folders: written atomically, read back equal, openable without pinglab-bio."""

import json

import h5py
import numpy as np
import pytest

from pinglab_bio import errors, load_run, save_run


def _assert_same_run(a, b):
    assert a.metrics == b.metrics
    for pop in ("exc", "inh"):
        ia, ta = a.spike_arrays(pop)
        ib, tb = b.spike_arrays(pop)
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(np.asarray(a.population_rate(pop)), np.asarray(b.population_rate(pop)))
    trains = b.spiketrains("inh")
    assert [st.annotations["neuron_index"] for st in trains] == list(range(200))
    assert {st.annotations["population"] for st in trains} == {"inh"}


@pytest.mark.parametrize("data_format", ["h5", "nix"])
def test_saved_run_loads_back_equal_behavior(default_run, tmp_path, data_format):
    folder = save_run(default_run, tmp_path / "run", data_format=data_format, figures=False, report=False)
    loaded = load_run(folder)
    _assert_same_run(default_run, loaded)
    info = loaded.info
    assert info["seed"] == 0 and info["dt"]["text"] == "100. us"
    assert info["model"]["sha256"] == default_run.info["model"]["sha256"]
    assert "brian2" in info["versions"] and info["versions"]["brian2"]
    assert {"build_s", "run_s", "analysis_s"} <= set(info["wall_time_s"])
    assert info["parameters"]["shared"]["tau_gaba"]["si_unit"] == "s"


def test_run_folder_contents_behavior(default_run, tmp_path):
    folder = save_run(default_run, tmp_path / "run")
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*")}
    assert {"run.json", "metrics.json", "spikes.h5", "report.html", "figures/raster.png",
            "figures/rates.png", "figures/psd.png"} <= names
    metrics = json.loads((folder / "metrics.json").read_text())
    assert {"rate_exc_hz", "rate_inh_hz", "gamma_peak_hz", "gamma_power_share"} <= set(metrics)
    # plain HDF5: spike counts equal the monitors' without any pinglab-bio code
    with h5py.File(folder / "spikes.h5") as h5:
        n_exc_spikes = h5["spikes/exc/times"].shape[0]
        assert h5["spikes/exc"].attrs["n_neurons"] == 800
    assert n_exc_spikes == len(default_run.spike_arrays("exc")[1])
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary left


def test_failed_write_leaves_no_folder_behavior(default_run, tmp_path, monkeypatch):
    import pinglab_bio.runs.folder as runfolder

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(runfolder.h5py, "File", broken)  # the data file cannot be written
    with pytest.raises(RuntimeError, match="disk full"):
        save_run(default_run, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_run_folder_errors(default_run, tmp_path):
    (tmp_path / "exists").mkdir()
    with pytest.raises(errors.PinglabError,
                       match=r"run folder .*exists already exists\. Fix: pass another --out"):
        save_run(default_run, tmp_path / "exists")
    with pytest.raises(errors.PinglabError, match=r"is not a run folder \(no run\.json\)"):
        load_run(tmp_path / "exists")
    with pytest.raises(errors.SettingsError, match=r"unknown data format 'csv'"):
        save_run(default_run, tmp_path / "other", data_format="csv")
    assert not (tmp_path / "other").exists()


def test_run_folders_and_reports_are_readable_by_the_group_behavior(default_run, tmp_path):
    """Run folders are renamed from private temporary folders: they must end up with the
    permissions of a plain mkdir (0o777 less the umask), so colleagues can read them."""
    import os
    import stat

    from pinglab_bio.report.html import write_text_atomic

    old = os.umask(0o022)
    try:
        folder = save_run(default_run, tmp_path / "run", figures=False)
        report = write_text_atomic(tmp_path / "report.html", "<p>report</p>")
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert stat.S_IMODE(report.stat().st_mode) == 0o644
    assert stat.S_IMODE((folder / "metrics.json").stat().st_mode) == 0o644
