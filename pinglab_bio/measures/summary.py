"""One summary of a run's spikes, at three levels; every caller goes through :func:`summary`.

``"standard"`` is what a run folder's ``metrics.json`` holds (rates, ISI CV, synchrony, gamma
peak of the rhythm population). ``"sweep"`` adds what side-by-side reports of sweeps and
dt studies compare (LV of the ISIs, Q factor, the rhythm spectrum). ``"full"`` is what
``pinglab-bio analyze`` reports for one run (fraction active, STTC, Welch and multitaper
peaks per population, E→I lag, participation per cycle, Van Rossum distances by pair class).
A new measure is added here, at the level that needs it.

The standard measures work on flat spike arrays (one pass over all neurons); the numbers equal
those of :func:`~.rates.mean_rate`, :func:`~.rates.cv_isi`, :func:`~.synchrony.synchrony_index`
and :func:`~.rates.population_rate` on the same spikes as neo trains (tested), without the
per-neuron objects that cost more than the measures themselves in a sweep.
"""

from __future__ import annotations

import neo
import numpy as np
import quantities as pq

from ..errors import PinglabError
from .checks import check_spiketrains, check_times, times_in_seconds, trains_in_window
from .dissimilarity import van_rossum_by_class
from .rates import (
    cv_isi_times,
    fraction_active,
    lv_isi_times,
    population_rate_flat,
    rate_bin_size,
)
from .rhythm import EI_POPULATIONS, cycle_participation, ei_lag, ei_pair, rhythm_population
from .spectral import gamma_peak, multitaper_psd, welch_psd, welch_psd_one_window
from .synchrony import spike_contrast_flat, sttc_pairs

__all__ = ["LEVELS", "VR_TIME_CONSTANT", "VR_SAMPLE_PAIRS", "MIN_RHYTHM_SPIKES", "summary", "summarize",
           "summarize_arrays"]

LEVELS = ("standard", "sweep", "full")
VR_TIME_CONSTANT = 5 * pq.ms  # about a quarter of a gamma cycle: sensitive to spike timing within a cycle
VR_SAMPLE_PAIRS = 300         # pairs per class when the exact grid path cannot be used
STTC_PAIRS, STTC_WINDOW = 200, 5 * pq.ms
LAG_BIN = 0.25 * pq.ms        # volleys are a few ms apart: resolve the lag finely
#: fewer spikes than this in the analysis window make no rhythm: the gamma peak is null
MIN_RHYTHM_SPIKES = 10
_NO_PEAK = ("gamma_peak_hz", "gamma_in_band", "gamma_power_share", "gamma_prominence")


def _flat(pop, value):
    """``(n_neurons, indices, times_s)`` of one population given as arrays or as neo trains."""
    if (isinstance(value, (tuple, list)) and len(value) == 3 and isinstance(value[0], (int, np.integer))
            and not isinstance(value[0], bool)):
        n, indices, times = value
        idx = np.asarray(indices, dtype=np.int64)
        t = np.asarray(times, dtype=float)
        if idx.shape != t.shape or (idx.size and (idx.min() < 0 or idx.max() >= n)):
            raise PinglabError(f"spikes of '{pop}': indices must match times and lie in 0…{n - 1}. "
                               "Fix: pass (n_neurons, indices, times) of one population")
        return int(n), idx, t, None
    trains = check_spiketrains(value, f"spikes of '{pop}'")
    times = [times_in_seconds(st) for st in trains]
    return (len(trains), np.repeat(np.arange(len(trains)), [len(t) for t in times]), np.concatenate(times),
            trains)


def _trains(n, idx, t, a, b):
    """One neo train per neuron (s, window ``[a, b]``) from flat arrays already cut to the window."""
    order = np.lexsort((t, idx))
    t_sorted = t[order]
    bounds = np.searchsorted(idx[order], np.arange(n + 1))
    return [neo.SpikeTrain(t_sorted[bounds[k]:bounds[k + 1]], units="s", t_start=a, t_stop=b)
            for k in range(n)]


def summary(spikes: dict, *, dt, t_start, t_stop, level: str = "standard", seed: int = 0,
            van_rossum: bool = True, vr_pairs: int | None = None, ei=None) -> tuple[dict, dict]:
    """The measures of one run at ``level``, and the arrays they were computed from.

    Parameters
    ----------
    spikes : dict
        ``{population: (n_neurons, indices, times)}`` (neuron index and time in s of every
        spike) or ``{population: list of neo.SpikeTrain}`` (one train per neuron).
    dt, t_start, t_stop : pq.Quantity
        Integration step (sets the rate bin, see :func:`~.rates.rate_bin_size`) and the
        analysis window; spikes outside the window are left out.
    level : {"standard", "sweep", "full"}
        How much to measure (see the module docstring); each level holds the one before.
    seed : int
        Seed of the sampled pairs (STTC; Van Rossum when sampled), ``"full"`` only.
    van_rossum : bool
        Whether ``"full"`` includes the Van Rossum distances by pair class (the costliest part).
    vr_pairs : int, optional
        Pairs per class for Van Rossum; ``None`` takes every pair.
    ei : (str, str), optional
        The excitatory and inhibitory population names for the E→I measures; by default
        :data:`~.rhythm.EI_POPULATIONS` when the run has both.

    The rhythm is measured on the population :func:`~.rhythm.rhythm_population` picks: E when
    there is one, else I.

    Returns
    -------
    numbers : dict
        JSON-ready. ``"standard"``: ``analysis_t_start_s``, ``analysis_t_stop_s``, ``rate_bin_ms``;
        per population ``P``: ``rate_P_hz`` (Hz), ``cv_isi_P``, ``synchrony_P`` (None for a
        catalogue population the run lacks); ``rhythm_population``, ``gamma_peak_hz`` (Hz),
        ``gamma_in_band``, ``gamma_power_share``, ``gamma_prominence``. ``"sweep"`` adds
        ``lv_isi_P`` and ``gamma_q_factor``. ``"full"`` adds ``dt_ms``, ``analysis_window_s``,
        ``fraction_active_P``, ``sttc_P``, ``welch_P`` and ``multitaper_P`` (peak in Hz, power
        share, Q, prominence) and, with E and I, ``ei_populations`` (their names), ``ei_lag``
        (ms), ``E_fraction_per_cycle`` and ``van_rossum`` (the table of
        :meth:`~.dissimilarity.PairClassDistances.summary`).
    arrays : dict
        ``rates``: ``{population: neo.AnalogSignal}`` population rates in Hz; from ``"sweep"``
        ``welch``: ``{population: (freqs, psd)}`` (the rhythm population; all at ``"full"``);
        ``"full"`` adds ``multitaper``, ``participation`` (fraction per cycle) and
        ``van_rossum`` (distances by pair class).
    """
    check_times(dt=dt, t_start=t_start, t_stop=t_stop)
    if level not in LEVELS:
        raise PinglabError(f"unknown summary level {level!r}. Fix: use one of {', '.join(LEVELS)}")
    depth = LEVELS.index(level)
    a, b = float(t_start.rescale(pq.s)), float(t_stop.rescale(pq.s))
    if b <= a:
        raise PinglabError(f"t_stop ({t_stop}) must be after t_start ({t_start}). Fix: widen the window")
    bin_size = rate_bin_size(dt)
    numbers = {"analysis_t_start_s": a, "analysis_t_stop_s": b, "rate_bin_ms": float(bin_size.rescale(pq.ms))}
    arrays: dict = {"rates": {}}
    if depth >= LEVELS.index("full"):
        numbers.update(dt_ms=float(dt.rescale(pq.ms)), analysis_window_s=[a, b])
        arrays.update(welch={}, multitaper={})
    flat, trains = {}, {}
    for pop, value in spikes.items():
        n, idx, t, given = _flat(pop, value)
        inside = (t >= a) & (t <= b)
        idx, t = idx[inside], t[inside]
        flat[pop] = (n, idx, t)
        numbers[f"rate_{pop}_hz"] = float(np.mean(np.bincount(idx, minlength=n) / (b - a)))
        order = np.lexsort((t, idx))
        t_sorted = t[order]
        bounds = np.searchsorted(idx[order], np.arange(n + 1))
        per_neuron = [t_sorted[bounds[k]:bounds[k + 1]] for k in range(n)]
        numbers[f"cv_isi_{pop}"] = cv_isi_times(per_neuron)
        active, ids = np.unique(idx, return_inverse=True)
        numbers[f"synchrony_{pop}"] = (spike_contrast_flat(ids, t, active.size, a, b, 0.01)
                                       if active.size >= 2 else float("nan"))
        rate = population_rate_flat(t * pq.s, n, bin_size, a * pq.s, b * pq.s)
        arrays["rates"][pop] = rate
        if depth >= LEVELS.index("sweep"):
            numbers[f"lv_isi_{pop}"] = lv_isi_times(per_neuron)
        if depth >= LEVELS.index("full"):
            tr = (trains_in_window(given, a * pq.s, b * pq.s) if given is not None
                  else _trains(n, idx, t, a, b))
            trains[pop] = tr
            numbers[f"fraction_active_{pop}"] = fraction_active(tr, a * pq.s, b * pq.s)
            numbers[f"sttc_{pop}"] = sttc_pairs(tr, n_pairs=STTC_PAIRS, dt=STTC_WINDOW, seed=seed)["mean"]
            for name, spectrum in (("welch", welch_psd), ("multitaper", multitaper_psd)):
                f, psd = spectrum(rate)
                arrays[name][pop] = (f, psd)
                peak = gamma_peak(f, psd)
                numbers[f"{name}_{pop}"] = {key: peak[key] for key in
                                            ("peak_hz", "power_share", "q_factor", "prominence")}
    # metrics.json of every model holds the catalogue's keys, so tables across models line up
    for pop in EI_POPULATIONS:
        for key in (f"rate_{pop}_hz", f"cv_isi_{pop}", f"synchrony_{pop}"):
            numbers.setdefault(key, None)
    rhythm = rhythm_population(arrays["rates"])
    freqs, psd = arrays.get("welch", {}).get(rhythm) or welch_psd_one_window(arrays["rates"][rhythm])
    peak = gamma_peak(freqs, psd)
    n_spikes = int(flat[rhythm][1].size)
    if n_spikes < MIN_RHYTHM_SPIKES:
        peak = {**peak, **{k: None for k in ("peak_hz", "in_band", "power_share", "prominence", "q_factor")},
                "reason": f"{n_spikes} spike(s) of '{rhythm}' in the analysis window, fewer than the "
                          f"{MIN_RHYTHM_SPIKES} a rhythm needs"}
    numbers.update({
        "rhythm_population": rhythm,
        "gamma_peak_hz": peak["peak_hz"],
        "gamma_in_band": peak["in_band"],
        "gamma_power_share": peak["power_share"],
        "gamma_prominence": peak["prominence"],
    })
    if peak["peak_hz"] is None:
        numbers["gamma_peak_reason"] = peak.get("reason") or "no spectral peak"
    if depth >= LEVELS.index("sweep"):
        numbers["gamma_q_factor"] = peak["q_factor"]
        arrays.setdefault("welch", {})[rhythm] = (freqs, psd)
    if depth >= LEVELS.index("full"):
        pair = tuple(ei) if ei is not None else ei_pair(arrays["rates"])
        if pair is not None:
            _ei_measures(numbers, arrays, pair, flat, trains, dt=dt, seed=seed, van_rossum=van_rossum,
                         vr_pairs=vr_pairs)
    return numbers, arrays


def _ei_measures(numbers, arrays, pair, flat, trains, *, dt, seed, van_rossum, vr_pairs):
    """E→I lag, E participation per cycle of the I rate, and Van Rossum distances by pair class."""
    exc, inh = pair
    for pop in pair:
        if pop not in flat:
            raise PinglabError(f"ei names population '{pop}', which the run does not have. "
                               f"Fix: use two of {', '.join(flat)}")
    a, b = numbers["analysis_t_start_s"], numbers["analysis_t_stop_s"]
    peak_hz = numbers["gamma_peak_hz"]
    numbers["ei_populations"] = [exc, inh]
    if peak_hz is None:  # no rhythm: no cycles to measure a lag or a participation over
        numbers["ei_lag"] = None
        numbers[f"{exc}_fraction_per_cycle"] = {"mean": None, "n_cycles": 0, "sd": None}
        arrays["participation"] = np.zeros(0)
    else:
        fine = rate_bin_size(dt, LAG_BIN)
        lag_rates = [population_rate_flat(flat[p][2] * pq.s, flat[p][0], fine, a * pq.s, b * pq.s)
                     for p in pair]
        numbers["ei_lag"] = ei_lag(*lag_rates, peak_hz)
        numbers["ei_lag"]["bin_ms"] = float(fine.rescale(pq.ms))
        part = cycle_participation(trains[exc], arrays["rates"][inh], peak_hz)
        arrays["participation"] = part["per_cycle"]
        numbers[f"{exc}_fraction_per_cycle"] = {
            "mean": part["mean"], "n_cycles": part["n_cycles"],
            "sd": float(np.std(part["per_cycle"])) if part["n_cycles"] else None}
    if not van_rossum:
        return
    try:
        vr = van_rossum_by_class(trains[exc], trains[inh], VR_TIME_CONSTANT, n_pairs=vr_pairs, seed=seed,
                                 method="grid", grid_step=dt)
    except PinglabError:  # spikes off the dt grid (e.g. a resampled run): elephant on a sample
        vr = van_rossum_by_class(trains[exc], trains[inh], VR_TIME_CONSTANT,
                                 n_pairs=vr_pairs or VR_SAMPLE_PAIRS, seed=seed, method="elephant")
    numbers["van_rossum"] = vr.summary()
    arrays["van_rossum"] = vr.distances


def summarize(spiketrains_by_population: dict, *, dt, t_start, t_stop) -> tuple[dict, dict]:
    """The standard metrics of one run and its population rates, from neo trains.

    ``summary(spiketrains_by_population, dt=dt, t_start=t_start, t_stop=t_stop)`` with the rates
    alone as second value; see :func:`summary`.
    """
    numbers, arrays = summary(spiketrains_by_population, dt=dt, t_start=t_start, t_stop=t_stop)
    return numbers, arrays["rates"]


def summarize_arrays(spikes: dict, *, dt, t_start, t_stop) -> tuple[dict, dict]:
    """The standard metrics of one run and its population rates, from flat spike arrays.

    ``spikes`` is ``{population: (n_neurons, indices, times_s)}``; the same as :func:`summarize`,
    kept for the callers that pass arrays.
    """
    numbers, arrays = summary(spikes, dt=dt, t_start=t_start, t_stop=t_stop)
    return numbers, arrays["rates"]
