"""Van Rossum distances: the fast paths and the E–E / E–I / I–I table against elephant."""

import neo
import numpy as np
import pytest
import quantities as pq
import scipy.stats
from elephant.spike_train_dissimilarity import van_rossum_distance

from pinglab_bio import errors
from pinglab_bio.measures.dissimilarity import (
    PAIR_CLASSES,
    paired_van_rossum,
    van_rossum_by_class,
    van_rossum_matrix,
)

DT = 0.1e-3  # s: the spike-time grid of the test trains (a simulation dt)


def _grid_trains(n, seed, t_stop=0.5, max_spikes=40):
    """Trains with spikes on the 0.1 ms grid, some empty, some with spikes at t_start."""
    rng = np.random.default_rng(seed)
    trains = []
    for k in range(n):
        steps = np.unique(rng.integers(0, int(t_stop / DT), rng.integers(0, max_spikes)))
        if k == 1:
            steps = np.array([0, 1, 2])  # adjacent steps and a spike at t_start
        trains.append(neo.SpikeTrain(steps * DT * pq.s, t_stop=t_stop * pq.s))
    return trains


def _elephant(trains, tau):
    return np.asarray(van_rossum_distance([st.rescale(pq.ms) for st in trains], tau.rescale(pq.ms)))


def test_van_rossum_matrix_behavior():
    trains = _grid_trains(30, seed=0)
    tau = 5 * pq.ms
    reference = _elephant(trains, tau)
    fast = van_rossum_matrix(trains, tau, method="grid", grid_step=0.1 * pq.ms)
    # The task's bound: the faster path matches elephant to 1e-9 (it lands near 1e-14).
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-9)
    via_elephant = van_rossum_matrix(trains, tau, method="elephant")
    np.testing.assert_allclose(via_elephant, reference, rtol=0, atol=1e-12)
    # Normalisation: one spike against an empty train is at distance 1, a train against itself at 0.
    one = neo.SpikeTrain([0.01] * pq.s, t_stop=0.5 * pq.s)
    empty = neo.SpikeTrain([] * pq.s, t_stop=0.5 * pq.s)
    d = van_rossum_matrix([one, empty, one], tau, method="grid", grid_step=0.1 * pq.ms)
    np.testing.assert_allclose(d, [[0, 1, 0], [1, 0, 1], [0, 1, 0]], atol=1e-12)


def test_van_rossum_matrix_auto_falls_back_behavior():
    rng = np.random.default_rng(4)
    off_grid = [neo.SpikeTrain(np.sort(rng.uniform(0, 0.5, 12)) * pq.s, t_stop=0.5 * pq.s) for _ in range(6)]
    auto = van_rossum_matrix(off_grid, 3 * pq.ms, method="auto", grid_step=0.1 * pq.ms)
    # Off-grid spikes take elephant's path, so the numbers are elephant's own.
    np.testing.assert_allclose(auto, _elephant(off_grid, 3 * pq.ms), atol=1e-12)


def test_paired_van_rossum_behavior():
    a, b = _grid_trains(12, seed=1), _grid_trains(12, seed=2)
    tau = 8 * pq.ms
    reference = np.array([_elephant([x, y], tau)[0, 1] for x, y in zip(a, b, strict=True)])
    np.testing.assert_allclose(paired_van_rossum(a, b, tau), reference, rtol=0, atol=1e-9)


def test_van_rossum_by_class_table_matches_elephant_behavior():
    exc, inh = _grid_trains(14, seed=5), _grid_trains(6, seed=6)
    tau = 5 * pq.ms
    result = van_rossum_by_class(exc, inh, tau, grid_step=0.1 * pq.ms)
    assert result.method == "grid" and result.all_pairs
    full = _elephant(exc + inh, tau)
    ne = len(exc)
    expected = {"E-E": full[:ne, :ne][np.triu_indices(ne, 1)],
                "E-I": full[:ne, ne:].reshape(-1),
                "I-I": full[ne:, ne:][np.triu_indices(len(inh), 1)]}
    table = result.summary()["classes"]
    for cls in PAIR_CLASSES:
        # Same pairs in the same order, and each distance equal to elephant's to 1e-9.
        np.testing.assert_allclose(result.distances[cls], expected[cls], rtol=0, atol=1e-9)
        assert table[cls]["n_pairs"] == expected[cls].size
        assert table[cls]["median"] == pytest.approx(float(np.median(expected[cls])), abs=1e-9)
        assert table[cls]["q75"] == pytest.approx(float(np.percentile(expected[cls], 75)), abs=1e-9)
    h, p = scipy.stats.kruskal(*expected.values())
    assert result.kruskal_h == pytest.approx(h, rel=1e-9)
    assert result.kruskal_p == pytest.approx(p, rel=1e-9)


def test_van_rossum_by_class_orders_classes_behavior():
    # E cells share one spike pattern (E–E distance 0); I cells are independent of each other
    # and of E: medians order E–E < E–I and I–I, and Kruskal–Wallis rejects equal groups.
    rng = np.random.default_rng(7)
    pattern = np.unique(rng.integers(0, 5000, 30)) * DT
    exc = [neo.SpikeTrain(pattern * pq.s, t_stop=0.5 * pq.s) for _ in range(10)]
    inh = [neo.SpikeTrain(np.unique(rng.integers(0, 5000, 30)) * DT * pq.s, t_stop=0.5 * pq.s)
           for _ in range(10)]
    res = van_rossum_by_class(exc, inh, 5 * pq.ms, grid_step=0.1 * pq.ms)
    med = {cls: float(np.median(d)) for cls, d in res.distances.items()}
    assert med["E-E"] == pytest.approx(0.0, abs=1e-9)
    assert med["E-E"] < med["E-I"] and med["E-E"] < med["I-I"]
    assert res.kruskal_p < 1e-6


def test_van_rossum_by_class_sample_behavior():
    exc, inh = _grid_trains(20, seed=8), _grid_trains(8, seed=9)
    tau = 5 * pq.ms
    a = van_rossum_by_class(exc, inh, tau, n_pairs=15, seed=3, grid_step=0.1 * pq.ms)
    b = van_rossum_by_class(exc, inh, tau, n_pairs=15, seed=3, method="elephant")
    c = van_rossum_by_class(exc, inh, tau, n_pairs=15, seed=4, grid_step=0.1 * pq.ms)
    full = _elephant(exc + inh, tau)
    for cls in PAIR_CLASSES:
        assert len(a.distances[cls]) == 15  # each class has more than 15 pairs
        np.testing.assert_array_equal(a.pairs[cls], b.pairs[cls])  # the seed fixes the sample
        np.testing.assert_allclose(a.distances[cls], b.distances[cls], atol=1e-9)
        i, j = a.pairs[cls].T
        np.testing.assert_allclose(a.distances[cls], full[i, j], atol=1e-9)
    assert any(not np.array_equal(a.pairs[cls], c.pairs[cls]) for cls in PAIR_CLASSES)


def test_van_rossum_errors():
    trains = _grid_trains(3, seed=0)
    with pytest.raises(errors.PinglabError, match=r"time_constant must be a time quantity, got 5"):
        van_rossum_matrix(trains, 5)
    with pytest.raises(errors.PinglabError, match=r"time_constant must be positive and finite, got 0\.0 ms"):
        van_rossum_matrix(trains, 0 * pq.ms)
    with pytest.raises(errors.PinglabError, match=r"unknown van Rossum method 'fast'"):
        van_rossum_matrix(trains, 5 * pq.ms, method="fast")
    with pytest.raises(errors.PinglabError, match=r"method 'grid' needs grid_step"):
        van_rossum_matrix(trains, 5 * pq.ms, method="grid")
    off = [neo.SpikeTrain([0.01234567] * pq.s, t_stop=1 * pq.s)]
    with pytest.raises(errors.PinglabError, match=r"spike times are not on the grid of step 0\.1 ms"):
        van_rossum_matrix(off, 5 * pq.ms, method="grid", grid_step=0.1 * pq.ms)
    with pytest.raises(errors.PinglabError, match=r"must be a list of neo\.SpikeTrain, got one SpikeTrain"):
        van_rossum_matrix(trains[0], 5 * pq.ms)
    with pytest.raises(errors.PinglabError, match=r"spiketrains_a has 3 trains and spiketrains_b 2"):
        paired_van_rossum(trains, trains[:2], 5 * pq.ms)
    with pytest.raises(errors.PinglabError, match=r"n_pairs must be a whole number ≥ 1 or None, got 0"):
        van_rossum_by_class(trains, trains, 5 * pq.ms, n_pairs=0)
    with pytest.raises(errors.PinglabError, match=r"inh is empty"):
        van_rossum_by_class(trains, [], 5 * pq.ms)
