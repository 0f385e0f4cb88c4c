"""Fixed in-degree connectivity drawn once in numpy, handed to Brian2 as arrays, and cached."""

import brian2
import numpy as np
import pytest

from pinglab_bio.errors import SettingsError
from pinglab_bio.model.spec import load_model
from pinglab_bio.sim import connectivity
from pinglab_bio.sim.build import build_network
from pinglab_bio.sim.connectivity import fixed_in_degree, pathway_arrays


@pytest.mark.parametrize("n_source, k", [(5000, 40), (60, 40)], ids=["rejection", "random-keys"])
@pytest.mark.parametrize("recurrent", [False, True])
def test_fixed_in_degree_behavior(n_source, k, recurrent):
    n_target = n_source if recurrent else 300
    pre, post = fixed_in_degree(n_source, n_target, k, recurrent=recurrent, rng=np.random.default_rng(3))
    assert pre.dtype == np.int32 and post.dtype == np.int32 and len(pre) == len(post) == n_target * k
    assert pre.min() >= 0 and pre.max() < n_source
    by_target = pre.reshape(n_target, k)
    assert np.all(np.sort(by_target, axis=1)[:, 1:] != np.sort(by_target, axis=1)[:, :-1])  # distinct
    assert np.array_equal(post, np.repeat(np.arange(n_target), k))
    if recurrent:
        assert not np.any(by_target == np.arange(n_target)[:, None])  # no autapse
    # Every source is equally likely: its out-degree is Binomial-like with mean n_target*k/n_choices.
    # 6 standard deviations of the largest of n_source such counts: cannot fail by chance (p < 1e-5).
    n_choices = n_source - 1 if recurrent else n_source
    out_degree = np.bincount(pre, minlength=n_source)
    mean = n_target * k / n_choices
    assert out_degree.sum() == n_target * k
    assert np.abs(out_degree - mean).max() < 6 * np.sqrt(mean)


def test_fixed_in_degree_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(SettingsError, match=r"in-degree 10 needs 10 distinct sources, but only 9 are there"):
        fixed_in_degree(10, 10, 10, recurrent=True, rng=rng)
    assert len(fixed_in_degree(10, 5, 0, recurrent=False, rng=rng)[0]) == 0


def test_pathway_arrays_seeded_and_cached_behavior(monkeypatch):
    a = pathway_arrays("exc_to_inh", 400, 100, 20, recurrent=False, seed=4)
    b = pathway_arrays("exc_to_inh", 400, 100, 20, recurrent=False, seed=5)
    c = pathway_arrays("inh_to_exc", 400, 100, 20, recurrent=False, seed=4)
    assert not np.array_equal(a[0], b[0]) and not np.array_equal(a[0], c[0])

    def no_second_draw(*args, **kwargs):
        raise AssertionError("drawn again although the same arrays are in the cache")

    monkeypatch.setattr(connectivity, "fixed_in_degree", no_second_draw)
    again = pathway_arrays("exc_to_inh", 400, 100, 20, recurrent=False, seed=4)
    assert np.array_equal(again[0], a[0]) and np.array_equal(again[1], a[1])


def test_in_degree_network_behavior(model_file):
    path = model_file("ping_coba", replace=[("p = 0.5", "in_degree = 30"), ("p = 0.5", "in_degree = 20")])
    spec = load_model(path, {"n_exc": 200, "n_inh": 50})
    first = build_network(spec, dt=0.1 * brian2.ms, seed=2)
    counts = {name: len(syn.i) for name, syn in first.synapses.items()}
    assert counts == {"exc_to_inh": 50 * 30, "inh_to_exc": 200 * 20}
    second = build_network(spec, dt=0.1 * brian2.ms, seed=2)
    for name, syn in first.synapses.items():
        assert np.array_equal(syn.i[:], second.synapses[name].i[:])  # same seed, same synapses
        assert np.all(np.bincount(np.asarray(syn.j[:])) == counts[name] // len(syn.target))
