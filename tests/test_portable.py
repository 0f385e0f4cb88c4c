"""--portable-random: every random number drawn on the CPU, the same spikes on every device."""

import json
import shutil

import brian2
import numpy as np
import pytest

from pinglab_bio.cli.app import main
from pinglab_bio.errors import SettingsError
from pinglab_bio.model.spec import load_model
from pinglab_bio.runs.result import load_run, simulate
from pinglab_bio.sim.build import build_network
from pinglab_bio.sim.portable import (
    BYTES_PER_NEURON_STEP,
    PortableRandom,
    first_difference,
    format_bytes,
    noise_bytes,
)


def test_portable_streams_behavior():
    a = PortableRandom(7, dt=0.1 * brian2.ms, duration=10 * brian2.ms)
    b = PortableRandom(7, dt=0.1 * brian2.ms, duration=10 * brian2.ms)
    c = PortableRandom(8, dt=0.1 * brian2.ms, duration=10 * brian2.ms)
    assert (a.uniform("exc_init_v", 50) == b.uniform("exc_init_v", 50)).all()
    assert not (a.uniform("exc_init_v", 50) == c.uniform("exc_init_v", 50)).any()
    # Names are independent streams: drawing one does not shift another.
    assert not np.allclose(a.normal("x", 20), a.normal("y", 20))
    pre, post = a.bernoulli_pairs("exc_to_exc", 100, 100, 0.3, exclude_self=True)
    assert not (pre == post).any()
    assert 0.25 < len(pre) / (100 * 99) < 0.35   # 9,900 Bernoulli(0.3) draws: sd 0.005


def test_portable_memory_behavior():
    spec = load_model("ping_coba")
    dt, duration = 0.1 * brian2.ms, 50 * brian2.ms
    built = build_network(spec, dt=dt, seed=1, portable=True, duration=duration)
    n_exc = spec.populations["exc"].n
    assert BYTES_PER_NEURON_STEP == 8
    assert built.portable_bytes["exc_ou_xi"] == noise_bytes(n_exc, dt, duration) == 8 * 500 * n_exc
    assert built.portable_bytes["exc_init_v"] == 8 * n_exc


def test_first_difference_behavior():
    idx, t = np.array([0, 3, 1, 2]), np.array([0.010, 0.010, 0.025, 0.031])
    assert first_difference((idx, t), (idx.copy(), t.copy())) == float("inf")
    moved = t.copy()
    moved[2] += 1e-4  # one spike a step later
    assert first_difference((idx, t), (idx, moved)) == 0.025
    other = idx.copy()
    other[1] = 4  # another neuron fires in the first volley
    assert first_difference((idx, t), (other, t)) == 0.010
    assert first_difference((idx, t), (idx[:3], t[:3])) == 0.031  # one run has an extra spike


def test_portable_needs_duration_errors():
    with pytest.raises(SettingsError, match=r"portable random numbers need the duration"):
        build_network(load_model("ping_coba"), dt=0.1 * brian2.ms, seed=0, portable=True)


def test_portable_seed_behavior():
    a = simulate("ping_coba", duration="0.2 s", seed=3, portable_random=True)
    b = simulate("ping_coba", duration="0.2 s", seed=3, portable_random=True)
    c = simulate("ping_coba", duration="0.2 s", seed=4, portable_random=True)
    ia, ta = a.spike_arrays("exc")
    ib, tb = b.spike_arrays("exc")
    ic, tc = c.spike_arrays("exc")
    assert len(ta) > 200 and (ia == ib).all() and (ta == tb).all()
    assert len(ta) != len(tc) or not (ia == ic).all()
    assert a.info["portable_random"]["total_bytes"] > noise_bytes(800, 1e-4, 0.2)


@pytest.mark.cpp_standalone
@pytest.mark.skipif(shutil.which("g++") is None, reason="cpp_standalone needs g++")
def test_portable_runtime_equals_cpp_standalone_behavior(tmp_path, monkeypatch, capsys):
    """`run ping_gamma --portable-random` on both devices: identical spikes and metrics."""
    monkeypatch.chdir(tmp_path)
    for device in ("runtime", "cpp_standalone"):
        assert main(["run", "ping_gamma", "--portable-random", "--seed", "7", "--duration", "0.5s",
                     "--device", device, "--out", device, "--quiet"]) == 0
    out = capsys.readouterr().out
    runs = {d: load_run(tmp_path / d) for d in ("runtime", "cpp_standalone")}
    drawn = runs["runtime"].info["portable_random"]["total_bytes"]
    assert drawn > noise_bytes(800, 1e-4, 0.5)   # the OU noise array is the bulk of it
    assert f"portable random: {format_bytes(drawn)} of random numbers drawn on the CPU" in out
    assert runs["cpp_standalone"].info["device"]["name"] == "cpp_standalone"
    metrics = {d: json.loads((tmp_path / d / "metrics.json").read_text()) for d in runs}
    assert metrics["runtime"] == metrics["cpp_standalone"]
    for pop in ("exc", "inh"):
        trains = {d: r.block.segments[0].spiketrains for d, r in runs.items()}
        rt = [st for st in trains["runtime"] if st.annotations["population"] == pop]
        cp = [st for st in trains["cpp_standalone"] if st.annotations["population"] == pop]
        assert sum(len(st) for st in rt) > 1000
        assert all(np.array_equal(x.magnitude, y.magnitude) for x, y in zip(rt, cp, strict=True))
