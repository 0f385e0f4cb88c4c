"""Dynamics regression: the properties a PING network must keep (numpy target, 1 s runs).

Tolerances come from runs of seeds 0–4 (see each comment); they leave room for seed-to-seed
variation but not for a broken rhythm.
"""

import numpy as np
import pytest

from pinglab_bio.model.spec import load_model
from pinglab_bio.runs.result import simulate


def test_default_gamma_peak_in_band_behavior(default_run):
    m = default_run.metrics
    # Seeds 0–4 peak at 46.9–47.6 Hz; the test asks for the gamma band itself.
    assert 30.0 <= m["gamma_peak_hz"] <= 100.0
    assert m["gamma_in_band"] is True
    # Seeds 0–4 put 0.78–0.80 of the E-rate power in 30–100 Hz; a flat spectrum gives 0.14.
    assert m["gamma_power_share"] >= 0.6


def test_default_rates_in_band_behavior(default_run):
    m = default_run.metrics
    # Seeds 0–4: E 11.02–11.20 Hz (sparse: about one E spike in four cycles), I 46.7–47.8 Hz
    # (the 3 ms I refractory lets an I cell fire once per cycle). Bands are ±~30 % of those.
    assert 7.0 <= m["rate_exc_hz"] <= 15.0
    assert 33.0 <= m["rate_inh_hz"] <= 62.0
    assert m["rate_inh_hz"] > m["rate_exc_hz"]


def test_default_spectrum_matches_population_rate(default_run):
    # The stored E population rate has the same mean as the per-neuron rates (1 ms bins).
    sig = default_run.population_rate("exc")
    assert float(np.mean(np.asarray(sig))) == pytest.approx(default_run.metrics["rate_exc_hz"], rel=1e-3)


def test_frequency_falls_with_tau_gaba_behavior():
    # 4.5 → 9 → 18 ms: 73 / 47 / 28 Hz at seed 1 (0.6 s); steps of ≥ 19 Hz dwarf the ~2 Hz seed spread.
    freqs, rates = [], []
    for tau in ("4.5 ms", "9 ms", "18 ms"):
        m = simulate(load_model("ping_coba", {"tau_gaba": tau}), seed=1, duration="0.6 s").metrics
        freqs.append(m["gamma_peak_hz"])
        rates.append(m["rate_exc_hz"])
    assert np.all(np.diff(freqs) < -3.0), freqs
    assert np.all(np.diff(rates) < 0), rates  # E rate falls with the frequency (REFERENCES §1)


def test_removing_exc_to_inh_removes_peak_behavior(default_run):
    no_loop = simulate(load_model("ping_coba", {"exc_to_inh": "off"}), seed=0).metrics
    # Without E→I the I cells stay silent and E cells fire independently: seeds 0–2 put only
    # 0.085–0.127 of the power in 30–100 Hz (near the 0.14 of a flat spectrum).
    assert no_loop["rate_inh_hz"] == 0.0
    assert no_loop["gamma_power_share"] < 0.25
    assert no_loop["gamma_power_share"] < default_run.metrics["gamma_power_share"] / 3
    # and inhibition no longer clamps E: 85 Hz instead of ~11 Hz
    assert no_loop["rate_exc_hz"] > 4 * default_run.metrics["rate_exc_hz"]


def test_ing_control_oscillates_behavior():
    m = simulate("ing", seed=0, duration="0.6 s").metrics
    assert m["rhythm_population"] == "inh"
    assert m["rate_exc_hz"] is None
    # Seeds 0–1: 79–80 Hz with 0.64–0.65 of the I-rate power in 30–100 Hz.
    assert 30.0 <= m["gamma_peak_hz"] <= 100.0
    assert m["gamma_power_share"] >= 0.45


def test_current_based_ping_oscillates_behavior():
    m = simulate("ping_cuba", seed=0, duration="0.6 s").metrics
    # Seeds 0–2 (0.6 s): 42.5–42.8 Hz, share 0.77–0.79, E 9.8–10.0 Hz, I 42 Hz (I refractory
    # 3 ms: one I spike per cycle); the band checks are what the model promises.
    assert 30.0 <= m["gamma_peak_hz"] <= 100.0
    assert m["gamma_power_share"] >= 0.5
    assert m["rate_inh_hz"] > m["rate_exc_hz"] > 1.0


def test_same_seed_gives_identical_spikes_behavior(default_run):
    again = simulate("ping_coba", seed=0)
    for pop in ("exc", "inh"):
        i0, t0 = default_run.spike_arrays(pop)
        i1, t1 = again.spike_arrays(pop)
        np.testing.assert_array_equal(i0, i1)
        np.testing.assert_array_equal(t0, t1)


def test_different_seed_gives_different_spikes_behavior(default_run):
    other = simulate("ping_coba", seed=1)
    i0, t0 = default_run.spike_arrays("exc")
    i1, t1 = other.spike_arrays("exc")
    assert len(t0) != len(t1) or not np.array_equal(t0, t1)
