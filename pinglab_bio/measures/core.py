"""Measures on neo spike trains, with elephant's definitions.

Most measures call elephant. Spike contrast, the population rate and the ISI CV count all trains
in one pass rather than elephant's one call per train, which made measuring cost more than a
compiled simulation in sweeps; each of them is tested equal to elephant on the same spikes.
:func:`summarize_arrays` computes a run's standard metrics straight from flat spike arrays.

Inputs are lists of :class:`neo.SpikeTrain` (units of time) or :class:`neo.AnalogSignal`;
outputs carry units (``quantities``) where they have any. Each function checks its input first,
then computes, then puts the units back.
"""

from __future__ import annotations

import contextlib
import logging
import warnings

import elephant.conversion
import elephant.spectral
import elephant.statistics
import neo
import numpy as np
import quantities as pq
import scipy.signal
from elephant.spike_train_correlation import spike_time_tiling_coefficient

from ..errors import PinglabError

__all__ = [
    "GAMMA_BAND",
    "PEAK_SEARCH_BAND",
    "firing_rates",
    "mean_rate",
    "population_rate",
    "rate_bin_size",
    "welch_psd",
    "multitaper_psd",
    "mean_spectrum",
    "gamma_peak",
    "cv_isi",
    "lv_isi",
    "fraction_active",
    "synchrony_index",
    "spike_contrast_flat",
    "sttc_pairs",
    "ei_lag",
    "cycle_participation",
    "summarize",
    "summarize_arrays",
]

GAMMA_BAND = (30.0, 100.0)  # Hz
PEAK_SEARCH_BAND = (5.0, 150.0)  # Hz, as in the reference PING analysis


@contextlib.contextmanager
def _quiet_binning():
    """Silence elephant's note on spikes sitting exactly on bin edges.

    Brian2 spike times lie on the dt grid, so with bins that are multiples of dt many spikes sit
    on an edge; elephant then logs one line per train while assigning them to the following
    bin, which is the assignment we want.
    """
    import elephant.utils

    # elephant names this logger after the module's file path
    logger = logging.getLogger(elephant.utils.__file__)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def check_spiketrains(spiketrains, name="spiketrains"):
    """A non-empty list of neo SpikeTrains, or a one-line :class:`PinglabError` saying what is wrong."""
    if isinstance(spiketrains, neo.SpikeTrain):
        raise PinglabError(f"{name} must be a list of neo.SpikeTrain, got one SpikeTrain. "
                           "Fix: wrap it in a list")
    spiketrains = list(spiketrains)
    if not spiketrains:
        raise PinglabError(f"{name} is empty. Fix: pass at least one neo.SpikeTrain")
    for st in spiketrains:
        if not isinstance(st, neo.SpikeTrain):
            raise PinglabError(f"{name} must hold neo.SpikeTrain objects, got {type(st).__name__}. "
                               "Fix: convert spikes with pinglab_bio.RunResult.spiketrains()")
    return spiketrains


def _window(spiketrains, t_start, t_stop):
    t_start = spiketrains[0].t_start if t_start is None else t_start
    t_stop = spiketrains[0].t_stop if t_stop is None else t_stop
    if not isinstance(t_start, pq.Quantity) or not isinstance(t_stop, pq.Quantity):
        raise PinglabError(f"t_start and t_stop need time units, got {t_start!r}, {t_stop!r}. "
                           "Fix: pass e.g. 0.1 * pq.s")
    if t_stop <= t_start:
        raise PinglabError(f"t_stop ({t_stop}) must be after t_start ({t_start}). Fix: widen the window")
    return t_start.rescale(pq.s), t_stop.rescale(pq.s)


def _slice(spiketrains, t_start, t_stop):
    """Trains cut to the window; trains already spanning exactly that window are reused."""
    a, b = float(t_start.rescale(pq.s)), float(t_stop.rescale(pq.s))
    out = []
    for st in spiketrains:
        factor = _factor_to_s(st)
        # 1 ns: windows built as t_start + n·bin differ from the same window by rounding only
        same = (abs(float(st.t_start.magnitude) * factor - a) <= 1e-9
                and abs(float(st.t_stop.magnitude) * factor - b) <= 1e-9)
        if same:
            out.append(st)
            continue
        t = np.asarray(st.magnitude, dtype=float) * factor
        keep = t[(t >= a) & (t <= b)]
        # A plain constructor call (times already in range) is several times faster than time_slice.
        out.append(neo.SpikeTrain(keep, units="s", t_start=a, t_stop=b,
                                  **{k: v for k, v in st.annotations.items() if k != "nix_name"}))
    return out


_FACTORS: dict = {}


def _factor_to_s(st) -> float:
    """Seconds per unit of a train's times (cached by unit name: quantities' rescale is slow)."""
    key = st.dimensionality.string
    if key not in _FACTORS:
        _FACTORS[key] = float(pq.Quantity(1.0, key).rescale(pq.s))
    return _FACTORS[key]


def _seconds(st) -> np.ndarray:
    """Spike times of a train in seconds as a plain array."""
    return np.asarray(st.magnitude, dtype=float) * _factor_to_s(st)


def firing_rates(spiketrains, t_start=None, t_stop=None) -> pq.Quantity:
    """Firing rate of each neuron over ``[t_start, t_stop]``.

    Returns
    -------
    pq.Quantity, shape (n_neurons,)
        Rates in Hz.
    """
    spiketrains = check_spiketrains(spiketrains)
    t_start, t_stop = _window(spiketrains, t_start, t_stop)
    # elephant refuses an empty train; a silent neuron fires at 0 Hz.
    # Plain arrays in seconds: the same elephant computation without per-train unit bookkeeping.
    a, b = float(t_start), float(t_stop)
    rates = [float(elephant.statistics.mean_firing_rate(_seconds(st), t_start=a, t_stop=b))
             if len(st) else 0.0 for st in _slice(spiketrains, t_start, t_stop)]
    return np.array(rates) * pq.Hz


def mean_rate(spiketrains, t_start=None, t_stop=None) -> pq.Quantity:
    """Mean firing rate of the population (Hz)."""
    return firing_rates(spiketrains, t_start, t_stop).mean()


def rate_bin_size(dt: pq.Quantity, target=1 * pq.ms) -> pq.Quantity:
    """The smallest whole multiple of ``dt`` that is at least ``target`` (default 1 ms).

    Binning spikes that sit on a dt grid into bins that are a multiple of dt avoids the
    aliasing a non-multiple bin would put into the spectrum.
    """
    steps = max(1, int(np.ceil(float((target / dt).simplified) - 1e-9)))
    return (steps * dt).rescale(pq.ms)


def population_rate(spiketrains, bin_size, t_start=None, t_stop=None) -> neo.AnalogSignal:
    """Population rate: spikes per neuron per second, in bins of ``bin_size``.

    Returns
    -------
    neo.AnalogSignal, shape (n_bins, 1)
        Rate in Hz, sampled every ``bin_size`` from ``t_start``.
    """
    spiketrains = check_spiketrains(spiketrains)
    t_start, t_stop = _window(spiketrains, t_start, t_stop)
    if not isinstance(bin_size, pq.Quantity) or float(bin_size.rescale(pq.s)) <= 0:
        raise PinglabError(f"bin_size must be a positive time, got {bin_size}. Fix: pass e.g. 1 * pq.ms")
    units = spiketrains[0].units
    times = np.concatenate([np.asarray((st if st.units == units else st.rescale(units)).magnitude,
                                       dtype=float) for st in spiketrains])
    return _rate_signal(times * units, len(spiketrains), bin_size, t_start, t_stop)


def _rate_signal(times: pq.Quantity, n_neurons: int, bin_size, t_start, t_stop) -> neo.AnalogSignal:
    """Population rate of ``n_neurons`` whose spikes (any order) are ``times``.

    Counts in a bin add up over neurons, so binning all spikes as one train gives the counts
    of elephant's ``time_histogram`` over the separate trains (the same binning code, edge
    tolerance included); dividing by ``n_neurons · bin_size`` is its ``output="rate"``.
    """
    n_bins = int(np.floor(float(((t_stop - t_start) / bin_size).simplified) + 1e-9))
    t_stop = t_start + n_bins * bin_size.rescale(pq.s)
    mag = np.sort(np.asarray(times.magnitude, dtype=float))
    lo, hi = float(t_start.rescale(times.units)), float(t_stop.rescale(times.units))
    merged = neo.SpikeTrain(mag[(mag >= lo) & (mag <= hi)], units=times.units, t_start=t_start,
                            t_stop=t_stop)
    with _quiet_binning():
        binned = elephant.conversion.BinnedSpikeTrain([merged], bin_size=bin_size, t_start=t_start,
                                                      t_stop=t_stop)
    counts = binned.get_num_of_spikes(axis=0)
    rate = counts / (n_neurons * bin_size)
    return neo.AnalogSignal(np.expand_dims(rate, axis=1), sampling_period=bin_size, units=rate.units,
                            t_start=binned.t_start, normalization="rate").rescale(pq.Hz)


def welch_psd(signal: neo.AnalogSignal, frequency_resolution=None):
    """Welch power spectral density of a rate signal, mean removed, Hann window.

    Parameters
    ----------
    signal : neo.AnalogSignal
        One channel (e.g. a population rate in Hz).
    frequency_resolution : pq.Quantity, optional
        Resolution of the estimate; the default uses the whole signal as one Hann window,
        as in the reference PING analysis.

    Returns
    -------
    freqs : pq.Quantity, shape (n_freqs,)
        Frequencies in Hz.
    psd : pq.Quantity, shape (n_freqs,)
        Density in (signal unit)² / Hz.
    """
    _check_signal(signal)
    kwargs = {"n_segments": 1} if frequency_resolution is None else {
        "frequency_resolution": frequency_resolution}
    freqs, psd = elephant.spectral.welch_psd(signal, window="hann", detrend="constant", **kwargs)
    return freqs.rescale(pq.Hz), np.asarray(psd).reshape(-1) * psd.units


def gamma_peak(freqs, psd, band=GAMMA_BAND, search=PEAK_SEARCH_BAND) -> dict:
    """Spectral peak in ``search`` (refined by 3-point parabolic interpolation) and gamma share.

    Returns
    -------
    dict
        ``peak_hz``: peak frequency (Hz), ``in_band``: whether it lies in ``band``,
        ``power_share``: fraction of the spectrum's power (f > 0) that lies in ``band``,
        ``prominence``: peak density over the median density in ``search``,
        ``q_factor``: peak frequency over the full width at half maximum of the peak (half-power
        crossings found by linear interpolation; NaN when the peak does not fall to half on
        both sides inside ``search``), ``fwhm_hz``: that width.
    """
    f = np.asarray(freqs.rescale(pq.Hz)) if isinstance(freqs, pq.Quantity) else np.asarray(freqs)
    p = np.asarray(psd, dtype=float).reshape(-1)
    if f.shape != p.shape:
        raise PinglabError(f"freqs and psd differ in shape ({f.shape} vs {p.shape}). Fix: pass the "
                           "pair returned by welch_psd")
    sel = np.flatnonzero((f >= search[0]) & (f <= search[1]))
    if sel.size < 3:
        raise PinglabError(f"only {sel.size} frequencies in {search[0]}–{search[1]} Hz. "
                           "Fix: use a longer signal for a finer spectrum")
    total = p[f > 0].sum()
    k = sel[np.argmax(p[sel])]
    peak = f[k]
    if 0 < k < len(p) - 1:
        a, b, c = p[k - 1], p[k], p[k + 1]
        denom = a - 2 * b + c
        if denom != 0:
            peak = f[k] + 0.5 * (a - c) / denom * (f[1] - f[0])
    median = np.median(p[sel])
    fwhm = _fwhm(f, p, k, sel)
    return {
        "peak_hz": float(peak),
        "in_band": bool(band[0] <= peak <= band[1]),
        "power_share": float(p[(f >= band[0]) & (f <= band[1])].sum() / total) if total > 0 else 0.0,
        "prominence": float(p[k] / median) if median > 0 else float("inf") if p[k] > 0 else 0.0,
        "fwhm_hz": fwhm,
        "q_factor": float(peak / fwhm) if np.isfinite(fwhm) and fwhm > 0 else float("nan"),
    }


def _fwhm(f, p, k, sel) -> float:
    """Width of the peak at index ``k`` at half its height, inside the search indices ``sel``."""
    half = p[k] / 2.0
    lo_lim, hi_lim = sel[0], sel[-1]
    left = k
    while left > lo_lim and p[left] > half:
        left -= 1
    right = k
    while right < hi_lim and p[right] > half:
        right += 1
    if p[left] > half or p[right] > half:
        return float("nan")

    def cross(i, j):  # p[i] <= half < p[j]: interpolate where the line through them meets half
        return f[i] + (half - p[i]) * (f[j] - f[i]) / (p[j] - p[i])

    return float(cross(right, right - 1) - cross(left, left + 1))


def multitaper_psd(signal: neo.AnalogSignal, nw: float = 4.0):
    """Multitaper (DPSS) power spectral density of a rate signal, mean removed.

    Parameters
    ----------
    signal : neo.AnalogSignal
        One channel (e.g. a population rate in Hz).
    nw : float
        Time–half-bandwidth product; the spectral smoothing is ``nw / duration`` on each side
        and ``2·nw - 1`` tapers are averaged.

    Returns
    -------
    freqs : pq.Quantity, shape (n_freqs,)
        Frequencies in Hz.
    psd : pq.Quantity, shape (n_freqs,)
        One-sided density in (signal unit)² / Hz.
    """
    _check_signal(signal)
    if not np.isfinite(nw) or nw < 1:
        raise PinglabError(f"nw must be a number ≥ 1, got {nw!r}. Fix: pass e.g. nw=4")
    centred = signal - signal.mean(axis=0)
    fs = float(signal.sampling_rate.rescale(pq.Hz))
    freqs, psd = elephant.spectral.multitaper_psd(centred.magnitude.T, fs=fs, nw=nw, attach_units=False)
    return np.asarray(freqs) * pq.Hz, np.asarray(psd).reshape(-1) * (signal.units ** 2 / pq.Hz)


def _check_signal(signal):
    if not isinstance(signal, neo.AnalogSignal):
        raise PinglabError(f"signal must be a neo.AnalogSignal, got {type(signal).__name__}. "
                           "Fix: use population_rate() first")
    if signal.ndim != 2 or signal.shape[1] != 1:
        raise PinglabError(f"signal must have one channel, got shape {tuple(signal.shape)}. "
                           "Fix: pass one population rate at a time")
    if signal.shape[0] < 8:
        raise PinglabError(f"signal has {signal.shape[0]} samples; a spectrum needs at least 8. "
                           "Fix: simulate longer or use smaller bins")


def mean_spectrum(spectra):
    """Average power spectra over runs (e.g. seeds) that share one frequency axis.

    Parameters
    ----------
    spectra : list of (freqs, psd)
        Pairs as returned by :func:`welch_psd` or :func:`multitaper_psd`.

    Returns
    -------
    freqs : pq.Quantity, shape (n_freqs,)
        Frequencies in Hz.
    mean, sem : pq.Quantity, shape (n_freqs,)
        Mean density over runs and its standard error (zero for one run), in the PSD's unit.
    """
    spectra = list(spectra)
    if not spectra:
        raise PinglabError("spectra is empty. Fix: pass at least one (freqs, psd) pair")
    f0 = np.asarray(spectra[0][0].rescale(pq.Hz) if isinstance(spectra[0][0], pq.Quantity) else spectra[0][0])
    unit = spectra[0][1].units if isinstance(spectra[0][1], pq.Quantity) else pq.dimensionless
    rows = []
    for k, (f, p) in enumerate(spectra):
        f = np.asarray(f.rescale(pq.Hz) if isinstance(f, pq.Quantity) else f)
        if f.shape != f0.shape or not np.allclose(f, f0, rtol=1e-9, atol=1e-9):
            raise PinglabError(f"spectrum {k} has another frequency axis ({f.size} points up to "
                               f"{f[-1]:.4g} Hz, "
                               f"first has {f0.size} up to {f0[-1]:.4g} Hz). Fix: use runs of equal duration "
                               "and bin size")
        rows.append(np.asarray(p.rescale(unit) if isinstance(p, pq.Quantity) else p, dtype=float).reshape(-1))
    stack = np.vstack(rows)
    sem = stack.std(axis=0, ddof=1) / np.sqrt(len(rows)) if len(rows) > 1 else np.zeros(stack.shape[1])
    return f0 * pq.Hz, stack.mean(axis=0) * unit, sem * unit


def cv_isi(spiketrains, min_spikes: int = 3) -> float:
    """Mean coefficient of variation of the inter-spike intervals over neurons.

    The CV of one neuron is the population standard deviation of its intervals over their mean
    (as ``elephant.statistics.cv``, i.e. ``scipy.stats.variation``). Neurons with fewer than
    ``min_spikes`` spikes are left out; NaN if none is left.
    """
    spiketrains = check_spiketrains(spiketrains)
    return _mean_cv([_seconds(st) for st in spiketrains], min_spikes)


def _mean_cv(times_per_neuron, min_spikes: int = 3) -> float:
    """Mean ISI CV over neurons with at least ``min_spikes`` sorted spike times."""
    cvs = []
    for t in times_per_neuron:
        if len(t) >= min_spikes:
            isi = np.diff(t)
            cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else float("nan")


def synchrony_index(spiketrains, t_start=None, t_stop=None) -> float:
    """Spike-contrast synchrony: 0 for asynchronous, 1 for fully synchronous trains.

    The measure of Ciba et al. (2018) as elephant's ``spike_contrast`` defines it (minimum bin
    10 ms, bins shrinking by 0.9), computed for all trains at once instead of one histogram per
    train and bin size; the result equals elephant's (tested). NaN when fewer than two neurons
    spike in the window, or when no neuron spikes twice.
    """
    spiketrains = check_spiketrains(spiketrains)
    t_start, t_stop = _window(spiketrains, t_start, t_stop)
    units = spiketrains[0].units
    times = [np.asarray((st if st.units == units else st.rescale(units)).magnitude, dtype=float)
             for st in spiketrains]
    a, b = float(t_start.rescale(units)), float(t_stop.rescale(units))
    ids = np.repeat(np.arange(len(times)), [len(t) for t in times])
    t = np.concatenate(times)
    inside = (t >= a) & (t <= b)
    active, ids = np.unique(ids[inside], return_inverse=True)  # trains silent in the window drop out
    if active.size < 2:
        return float("nan")
    return spike_contrast_flat(ids, t[inside], active.size, a, b, float((10 * pq.ms).rescale(units)))


def spike_contrast_flat(train_ids, times, n_trains: int, t_start: float, t_stop: float,
                        min_bin: float, shrink: float = 0.9) -> float:
    """Spike-contrast synchrony of spikes given as flat arrays (one unit of time throughout).

    Parameters
    ----------
    train_ids : np.ndarray of int
        Train (0 … ``n_trains - 1``) of each spike.
    times : np.ndarray of float
        Spike times.
    n_trains : int
        Number of trains (those without spikes in the window count too).
    t_start, t_stop : float
        Window; spikes outside it are left out.
    min_bin : float
        Smallest bin size.
    shrink : float
        Factor between successive bin sizes, in (0, 1).

    For every bin size, from half the window down to ``max(min_bin, shortest ISI / 2)``, spikes
    are counted in bins of half that size (edges from ``t_start - isi_min``, the last bin
    closed) and neighbouring bins are added (half-overlapping bins). The synchrony at that size
    is the contrast (sum of absolute differences of the per-bin spike totals over twice the
    spike count) times the normalised mean number of active trains per spike; the result is its
    maximum over sizes. Counts are integers, so this equals a per-train computation bit for bit.
    Returns NaN when no train has two spikes in the window.
    """
    ids = np.asarray(train_ids, dtype=np.int64)
    t = np.asarray(times, dtype=float)
    keep = (t >= t_start) & (t <= t_stop)
    ids, t = ids[keep], t[keep]
    order = np.lexsort((t, ids))
    ids, t = ids[order], t[order]
    same = ids[1:] == ids[:-1]
    if n_trains < 2 or not same.any():
        return float("nan")
    isi_min = np.diff(t)[same].min()
    n_spikes = t.size
    bin_size = (t_stop - t_start) / 2
    bin_min = max(isi_min / 2, min_bin)
    lo, hi = t_start - isi_min, t_stop + isi_min
    best = None
    while bin_size >= bin_min:
        step = bin_size / 2
        edges = np.arange(lo, hi + step, step)
        n_bins = edges.size - 1
        # bins [e_k, e_k+1), the last one closed: np.histogram's assignment
        j = np.searchsorted(edges, t, side="right") - 1
        j[t == edges[-1]] = n_bins - 1
        ok = (j >= 0) & (j < n_bins)
        j_ok, ids_ok = j[ok], ids[ok]
        counts = np.bincount(j_ok, minlength=n_bins)
        theta = counts[:-1] + counts[1:]  # spikes per half-overlapping bin
        # a train is active in overlapping bin k when it spikes in bin k or k + 1
        cells = np.unique(ids_ok * n_bins + j_ok)
        marks = np.unique(np.concatenate([cells, cells[cells % n_bins > 0] - 1]))
        n_active = np.bincount(marks % n_bins, minlength=n_bins)[:-1]
        active = (np.sum(n_active * theta) / np.sum(theta) - 1) / (n_trains - 1)
        contrast = np.sum(np.abs(np.diff(theta))) / (2 * n_spikes)
        value = contrast * active
        best = value if best is None else max(best, value)
        bin_size *= shrink
    return float(best) if best is not None else float("nan")


def lv_isi(spiketrains, min_spikes: int = 3) -> float:
    """Mean local variation (LV) of the inter-spike intervals over neurons (elephant ``lv``).

    LV is 0 for a regular train and 1 for a Poisson train, and unlike CV it is not inflated by
    slow rate changes. Neurons with fewer than ``min_spikes`` spikes are left out; NaN if none is
    left. Dimensionless.
    """
    spiketrains = check_spiketrains(spiketrains)
    _check_min_spikes(min_spikes, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lvs = [elephant.statistics.lv(elephant.statistics.isi(_seconds(st)))
               for st in spiketrains if len(st) >= min_spikes]
    return float(np.mean(lvs)) if lvs else float("nan")


def _check_min_spikes(value, least):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise PinglabError(f"min_spikes must be a whole number ≥ {least}, got {value!r}. "
                           f"Fix: pass e.g. {least}")


def fraction_active(spiketrains, t_start=None, t_stop=None, min_spikes: int = 1) -> float:
    """Fraction of neurons with at least ``min_spikes`` spikes in ``[t_start, t_stop]`` (0–1)."""
    spiketrains = check_spiketrains(spiketrains)
    _check_min_spikes(min_spikes, 1)
    t_start, t_stop = _window(spiketrains, t_start, t_stop)
    return float(np.mean([len(st) >= min_spikes for st in _slice(spiketrains, t_start, t_stop)]))


def sttc_pairs(spiketrains, n_pairs: int = 200, dt=5 * pq.ms, seed: int = 0) -> dict:
    """Spike-time tiling coefficient (elephant) of a seeded sample of pairs of active neurons.

    Parameters
    ----------
    spiketrains : list of neo.SpikeTrain
    n_pairs : int
        Pairs to draw (without replacement) among neurons that spike at least once.
    dt : pq.Quantity
        Coincidence window (± dt).
    seed : int
        Seed of the pair sample.

    Returns
    -------
    dict
        ``values`` (np.ndarray, one STTC in [-1, 1] per pair), ``mean``, ``median``,
        ``n_pairs``, ``dt_ms``. ``mean`` is NaN when fewer than two neurons spike.
    """
    spiketrains = check_spiketrains(spiketrains)
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
        raise PinglabError(f"n_pairs must be a whole number ≥ 1, got {n_pairs!r}. Fix: pass e.g. 200")
    if not isinstance(dt, pq.Quantity) or float(dt.rescale(pq.s)) <= 0:
        raise PinglabError(f"dt must be a positive time, got {dt!r}. Fix: pass e.g. 5 * pq.ms")
    active = [st for st in spiketrains if len(st) > 0]
    if len(active) < 2:
        return {"values": np.zeros(0), "mean": float("nan"), "median": float("nan"), "n_pairs": 0,
                "dt_ms": float(dt.rescale(pq.ms))}
    n = len(active)
    total = n * (n - 1) // 2
    rng = np.random.default_rng(seed)
    flat = rng.choice(total, size=min(n_pairs, total), replace=False)
    rows, cols = np.triu_indices(n, 1)
    values = np.array([spike_time_tiling_coefficient(active[rows[k]], active[cols[k]], dt=dt) for k in flat])
    return {"values": values, "mean": float(np.nanmean(values)), "median": float(np.nanmedian(values)),
            "n_pairs": int(values.size), "dt_ms": float(dt.rescale(pq.ms))}


def _rate_array(signal):
    return np.asarray(signal.magnitude, dtype=float).reshape(-1)


def ei_lag(rate_exc: neo.AnalogSignal, rate_inh: neo.AnalogSignal, peak_hz: float) -> dict:
    """Delay of the I volley after the E volley within one gamma cycle.

    The lag is where the cross-correlation of the mean-removed E and I population rates peaks,
    searched over lags from minus to plus half a period and refined by 3-point parabolic
    interpolation. Positive: the I volley follows the E volley (as PING predicts).

    Parameters
    ----------
    rate_exc, rate_inh : neo.AnalogSignal
        Population rates on the same time axis (see :func:`population_rate`).
    peak_hz : float
        Rhythm frequency (Hz), e.g. ``gamma_peak(...)["peak_hz"]``.

    Returns
    -------
    dict
        ``lag_ms`` (ms), ``phase`` (lag as a fraction of the period), ``correlation`` (normalised
        cross-correlation at the lag, in [-1, 1]). NaN where a rate is flat.
    """
    for sig in (rate_exc, rate_inh):
        _check_signal(sig)
    if rate_exc.shape != rate_inh.shape or abs(float(rate_exc.sampling_period.rescale(pq.s))
                                                 - float(rate_inh.sampling_period.rescale(pq.s))) > 1e-12:
        raise PinglabError(f"rate_exc and rate_inh differ in shape or sampling ({rate_exc.shape} vs "
                           f"{rate_inh.shape}). Fix: bin both populations with the same bin_size and window")
    if not np.isfinite(peak_hz) or peak_hz <= 0:
        raise PinglabError(f"peak_hz must be a positive frequency, got {peak_hz!r}. "
                           "Fix: pass the gamma peak in Hz")
    e = _rate_array(rate_exc) - _rate_array(rate_exc).mean()
    i = _rate_array(rate_inh) - _rate_array(rate_inh).mean()
    nan = {"lag_ms": float("nan"), "phase": float("nan"), "correlation": float("nan")}
    if not e.any() or not i.any():
        return nan
    h = float(rate_exc.sampling_period.rescale(pq.s))
    max_lag = max(1, int(round(0.5 / peak_hz / h)))
    norm = np.sqrt(np.dot(e, e) * np.dot(i, i))
    lags = np.arange(-max_lag, max_lag + 1)
    xc = np.array([np.dot(e[:e.size - m], i[m:]) if m >= 0 else np.dot(e[-m:], i[:i.size + m])
                   for m in lags]) / norm
    k = int(np.argmax(xc))
    shift = 0.0
    if 0 < k < xc.size - 1:
        a, b, c = xc[k - 1], xc[k], xc[k + 1]
        if a - 2 * b + c != 0:
            shift = 0.5 * (a - c) / (a - 2 * b + c)
    lag_s = (lags[k] + shift) * h
    return {"lag_ms": lag_s * 1e3, "phase": lag_s * peak_hz, "correlation": float(xc[k])}


def cycle_participation(spiketrains, reference_rate: neo.AnalogSignal, peak_hz: float) -> dict:
    """Fraction of neurons that fire in each gamma cycle.

    Cycles are delimited at the troughs of the reference population rate (smoothed with a
    Gaussian of sd 1/8 period): the minimum between consecutive peaks, peaks found at least
    0.6 period apart. A neuron takes part in a cycle if it spikes at least once in it.

    Parameters
    ----------
    spiketrains : list of neo.SpikeTrain
        The population to count (e.g. E).
    reference_rate : neo.AnalogSignal
        The rate that defines the cycles (e.g. the E or I population rate).
    peak_hz : float
        Rhythm frequency (Hz).

    Returns
    -------
    dict
        ``per_cycle`` (np.ndarray, fraction per complete cycle), ``mean``, ``n_cycles``.
    """
    spiketrains = check_spiketrains(spiketrains)
    _check_signal(reference_rate)
    if not np.isfinite(peak_hz) or peak_hz <= 0:
        raise PinglabError(f"peak_hz must be a positive frequency, got {peak_hz!r}. "
                           "Fix: pass the gamma peak in Hz")
    h = float(reference_rate.sampling_period.rescale(pq.s))
    t0 = float(reference_rate.t_start.rescale(pq.s))
    period = 1.0 / peak_hz / h
    x = _rate_array(reference_rate)
    smooth = np.convolve(x, _gaussian(period / 8.0), mode="same")
    peaks, _ = scipy.signal.find_peaks(smooth, distance=max(1, int(0.6 * period)))
    if peaks.size < 3:
        return {"per_cycle": np.zeros(0), "mean": float("nan"), "n_cycles": 0}
    troughs = np.array([a + int(np.argmin(smooth[a:b])) for a, b in zip(peaks[:-1], peaks[1:], strict=True)])
    edges = t0 + troughs * h
    counts = np.zeros(edges.size - 1)
    for st in spiketrains:
        t = st.times.rescale(pq.s).magnitude
        hit = np.unique(np.searchsorted(edges, t, side="right") - 1)
        hit = hit[(hit >= 0) & (hit < counts.size)]
        counts[hit] += 1
    per_cycle = counts / len(spiketrains)
    return {"per_cycle": per_cycle, "mean": float(per_cycle.mean()) if per_cycle.size else float("nan"),
            "n_cycles": int(per_cycle.size)}


def _gaussian(sd_bins):
    sd = max(float(sd_bins), 0.5)
    half = int(np.ceil(3 * sd))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sd) ** 2)
    return k / k.sum()


def summarize(spiketrains_by_population: dict, *, dt, t_start, t_stop) -> tuple[dict, dict]:
    """The standard metrics of one run and the population rates they were computed from.

    ``spiketrains_by_population`` maps a population name to its list of neo SpikeTrains (one per
    neuron); see :func:`summarize_arrays` for what is measured.
    """
    spikes = {}
    for pop, trains in spiketrains_by_population.items():
        trains = check_spiketrains(trains)
        times = [_seconds(st) for st in trains]
        spikes[pop] = (len(trains), np.repeat(np.arange(len(trains)), [len(t) for t in times]),
                       np.concatenate(times))
    return summarize_arrays(spikes, dt=dt, t_start=t_start, t_stop=t_stop)


def summarize_arrays(spikes: dict, *, dt, t_start, t_stop) -> tuple[dict, dict]:
    """The standard metrics of one run, from spikes held as flat arrays.

    Parameters
    ----------
    spikes : dict
        ``{population: (n_neurons, indices, times)}``: neuron index and time (s) of every spike.
    dt, t_start, t_stop : pq.Quantity
        Integration step (sets the rate bin, see :func:`rate_bin_size`) and the analysis window.

    The rhythm is measured on the E population when there is one, else on the I population. The
    numbers equal those of :func:`mean_rate`, :func:`cv_isi`, :func:`synchrony_index` and
    :func:`population_rate` on the same spikes as neo trains (tested); working on arrays spares
    the per-neuron objects, which cost more than the measures themselves in a sweep.

    Returns
    -------
    metrics : dict
        ``rate_exc_hz``, ``rate_inh_hz``, ``gamma_peak_hz``, ``gamma_power_share``,
        ``gamma_prominence``, ``gamma_in_band``, ``cv_isi_exc``/``_inh``, ``synchrony_exc``/``_inh``,
        ``rhythm_population``, ``analysis_t_start_s``, ``analysis_t_stop_s``, ``rate_bin_ms``.
    rates : dict
        ``{population: neo.AnalogSignal}`` population rates in Hz.
    """
    for name, value in (("dt", dt), ("t_start", t_start), ("t_stop", t_stop)):
        if not isinstance(value, pq.Quantity):
            raise PinglabError(f"{name} needs time units, got {value!r}. Fix: pass e.g. 0.1 * pq.s")
    a, b = float(t_start.rescale(pq.s)), float(t_stop.rescale(pq.s))
    if b <= a:
        raise PinglabError(f"t_stop ({t_stop}) must be after t_start ({t_start}). Fix: widen the window")
    bin_size = rate_bin_size(dt)
    metrics = {"analysis_t_start_s": a, "analysis_t_stop_s": b, "rate_bin_ms": float(bin_size.rescale(pq.ms))}
    rates = {}
    for pop, (n, indices, times) in spikes.items():
        idx = np.asarray(indices, dtype=np.int64)
        t = np.asarray(times, dtype=float)
        if idx.shape != t.shape or (idx.size and (idx.min() < 0 or idx.max() >= n)):
            raise PinglabError(f"spikes of '{pop}': indices must match times and lie in 0…{n - 1}. "
                               "Fix: pass (n_neurons, indices, times) of one population")
        inside = (t >= a) & (t <= b)
        idx, t = idx[inside], t[inside]
        metrics[f"rate_{pop}_hz"] = float(np.mean(np.bincount(idx, minlength=n) / (b - a)))
        order = np.lexsort((t, idx))
        t_sorted = t[order]
        bounds = np.searchsorted(idx[order], np.arange(n + 1))
        metrics[f"cv_isi_{pop}"] = _mean_cv(t_sorted[bounds[k]:bounds[k + 1]] for k in range(n))
        active, ids = np.unique(idx, return_inverse=True)
        metrics[f"synchrony_{pop}"] = (spike_contrast_flat(ids, t, active.size, a, b, 0.01)
                                       if active.size >= 2 else float("nan"))
        rates[pop] = _rate_signal(t * pq.s, n, bin_size, a * pq.s, b * pq.s)
    for pop in ("exc", "inh"):
        for key in (f"rate_{pop}_hz", f"cv_isi_{pop}", f"synchrony_{pop}"):
            metrics.setdefault(key, None)
    rhythm = "exc" if "exc" in rates else "inh"
    freqs, psd = welch_psd(rates[rhythm])
    peak = gamma_peak(freqs, psd)
    metrics.update({
        "rhythm_population": rhythm,
        "gamma_peak_hz": peak["peak_hz"],
        "gamma_in_band": peak["in_band"],
        "gamma_power_share": peak["power_share"],
        "gamma_prominence": peak["prominence"],
    })
    return metrics, rates
