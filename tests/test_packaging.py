"""The wheel carries the catalogue, so an installed CLI finds models and protocols by name."""

import subprocess
import sys
import zipfile

import pytest

from pinglab_bio.paths import repo_root


def test_wheel_carries_catalogue_behavior(tmp_path):
    pytest.importorskip("hatchling")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path), str(repo_root())], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("pinglab_bio-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("pinglab_bio/_catalogue/models/ping_coba.toml", "pinglab_bio/_catalogue/models/ing.toml",
                     "pinglab_bio/_catalogue/protocols/ping_gamma.py",
                     "pinglab_bio/_catalogue/protocols/tau_gaba_sweep.py", "pinglab_bio/cli/__init__.py"):
        assert expected in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "pinglab-bio = pinglab_bio.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
