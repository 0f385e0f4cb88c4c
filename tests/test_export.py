"""Export from Brian2 (the one place units are stripped) and import of trained values."""

import brian2
import numpy as np
import pytest

from pinglab_bio import build_network, load_model
from pinglab_bio.errors import PinglabError
from pinglab_bio.train.bridge import export_network, import_weights, load_exported, save_exported


def _small(seed=1, **extra):
    spec = load_model("ping_coba", {"n_exc": 20, "n_inh": 5, **extra})
    brian2.seed(seed)
    return spec, build_network(spec, dt=0.1 * brian2.ms, seed=seed,
                               record={"exc": {"variables": ["v"], "indices": [0, 1]}})


def test_export_network_behavior():
    spec, built = _small()
    built.network.run(20 * brian2.ms, namespace={})
    ex = export_network(built, dt=0.1 * brian2.ms, seed=1)
    assert ex.spikes["exc"].shape == (1, 200, 20) and ex.spikes["inh"].shape == (1, 200, 5)
    n_spikes = len(built.spike_monitors["exc"].i)
    assert int(ex.spikes["exc"].sum()) == n_spikes > 0
    assert ex.states["exc"]["v"].shape == (1, 200, 2)
    assert -0.09 < ex.states["exc"]["v"].min() and ex.states["exc"]["v"].max() < -0.04  # volts, unit gone
    w = ex.weights["exc_to_inh"]
    syn = built.synapses["exc_to_inh"]
    assert w.shape == (20, 5) and np.count_nonzero(w) == len(syn.i)
    assert np.allclose(w[w != 0], 3e-9)  # 3 nS in siemens
    assert ex.signs["exc_to_inh"].tolist() == [1.0] * 20 and ex.signs["inh_to_exc"].tolist() == [-1.0] * 5
    assert ex.meta["units"]["weights.exc_to_inh"] == "S" and ex.meta["units"]["states.exc.v"] == "V"
    assert ex.meta["dt_s"] == pytest.approx(1e-4) and ex.meta["seed"] == 1 and "brian2" in ex.meta["versions"]
    assert ex.parameters["exc"]["C_m"] == pytest.approx(1e-9)


def test_import_weights_round_trip(tmp_path):
    pytest.importorskip("safetensors")
    spec, built = _small()
    ex = export_network(built, dt=0.1 * brian2.ms, duration=0 * brian2.ms)
    trained = {k: v * 2.0 for k, v in ex.weights.items()}
    _, fresh = _small()
    import_weights(fresh, trained, units=ex.meta["units"], values={"exc": {"v": np.full(20, -0.06)}})
    again = export_network(fresh, dt=0.1 * brian2.ms, duration=0 * brian2.ms)
    for name in trained:
        np.testing.assert_array_equal(again.weights[name], trained[name])
    assert np.all(fresh.groups["exc"].v[:] == -60 * brian2.mV)
    save_exported(ex, tmp_path / "exported")
    back = load_exported(tmp_path / "exported")
    np.testing.assert_array_equal(back.weights["inh_to_exc"], ex.weights["inh_to_exc"])
    assert back.meta["units"] == ex.meta["units"]


def test_import_weights_errors():
    _, built = _small()
    ex = export_network(built, dt=0.1 * brian2.ms, duration=0 * brian2.ms)
    with pytest.raises(PinglabError, match=r"weights of 'exc_to_inh' have shape \(3, 3\), "
                                           r"the network needs \(20, 5\)"):
        import_weights(built, {"exc_to_inh": np.zeros((3, 3))})
    with pytest.raises(PinglabError, match=r"pathway 'exc_to_exc': the network has exc_to_inh, inh_to_exc"):
        import_weights(built, {"exc_to_exc": np.zeros((20, 20))})
    dense = np.ones_like(ex.weights["exc_to_inh"])
    with pytest.raises(PinglabError, match=r"non-zero where the network has no synapse"):
        import_weights(built, {"exc_to_inh": dense})
    with pytest.raises(PinglabError, match=r"has no arrays.safetensors"):
        load_exported("/nonexistent-folder")
