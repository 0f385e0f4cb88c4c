"""Shared fixtures: every test starts on Brian2's runtime device with the numpy target."""

import warnings

import brian2
import pytest
from brian2.devices.device import get_device, runtime_device, set_device

from pinglab_bio.runs.result import simulate

brian2.BrianLogger.console_handler.setLevel("ERROR")


@pytest.fixture(autouse=True)
def _reset_brian2():
    """Restore the runtime device and the numpy target around each test."""
    brian2.prefs.codegen.target = "numpy"
    warnings.simplefilter("ignore", DeprecationWarning)
    yield
    if get_device() is not runtime_device:
        get_device().reinit()
        set_device(runtime_device)
    brian2.prefs.codegen.target = "numpy"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Standalone builds go to a per-session cache, never the user's ~/.cache."""
    monkeypatch.setenv("PINGLAB_BIO_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def default_run():
    """The default PING model, 1 s at dt 0.1 ms, seed 0 (simulated once per session)."""
    brian2.prefs.codegen.target = "numpy"
    return simulate("ping_coba", seed=0)


@pytest.fixture
def model_file(tmp_path):
    """Write a copy of a catalogue model with text replacements; return its path."""
    from pinglab_bio.paths import find_model

    def make(name="ping_coba", replace=(), append=""):
        text = find_model(name).read_text()
        for old, new in replace:
            assert old in text, f"test setup: {old!r} not in {name}.toml"
            text = text.replace(old, new, 1)
        path = tmp_path / f"edited_{name}.toml"
        path.write_text(text + append)
        return path

    return make


@pytest.fixture
def writer_child():
    """Start a process that holds ``atomic_run_dir(folder)`` open (a file written in it) until
    killed; return the running child once its partial folder exists. Killed children are reaped."""
    import subprocess
    import sys

    children = []

    def start(folder):
        code = ("import sys\nfrom pinglab_bio.runs.folder import atomic_run_dir\n"
                f"with atomic_run_dir({str(folder)!r}) as tmp:\n"
                "    (tmp / 'half.txt').write_text('x'); print('ready', flush=True); sys.stdin.read()\n")
        child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
        children.append(child)
        assert child.stdout.readline().strip() == "ready"
        return child

    yield start
    for child in children:
        child.kill()
        child.wait()
