"""Power spectra of population rates and the gamma peak, as elephant's ``spectral`` module.

Welch and multitaper densities of a rate signal, spectra averaged over runs, and the peak in the
search band with its gamma power share, prominence, width and Q factor.

:func:`welch_psd` is elephant's; :func:`welch_psd_one_window` is its default (the whole signal as
one Hann window) in numpy alone, equal to it to the last bit (tested), for the measures of every
run, which then need not import elephant (and scipy.signal).
"""

from __future__ import annotations

import neo
import numpy as np
import quantities as pq

from ..errors import PinglabError
from .checks import check_signal, elephant_module

__all__ = ["GAMMA_BAND", "PEAK_SEARCH_BAND", "welch_psd", "welch_psd_one_window", "multitaper_psd",
           "mean_spectrum", "gamma_peak"]

GAMMA_BAND = (30.0, 100.0)  # Hz
PEAK_SEARCH_BAND = (5.0, 150.0)  # Hz, as in the reference PING analysis


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
    check_signal(signal)
    kwargs = {"n_segments": 1} if frequency_resolution is None else {
        "frequency_resolution": frequency_resolution}
    freqs, psd = elephant_module("spectral").welch_psd(signal, window="hann", detrend="constant", **kwargs)
    return freqs.rescale(pq.Hz), np.asarray(psd).reshape(-1) * psd.units


def welch_psd_one_window(signal: neo.AnalogSignal):
    """:func:`welch_psd` with its default resolution (one Hann window over the whole signal),
    computed in numpy: the same numbers to the last bit, without importing elephant.

    Elephant's ``welch_psd`` hands this case to ``scipy.signal.welch`` with one segment: the
    mean is removed, the signal is multiplied by a periodic Hann window scaled to a density,
    and the squared magnitude of its real FFT is doubled at every frequency but 0 (and the
    Nyquist frequency of an even length). The operations below are those, in the same order,
    so that the results agree bit for bit (``tests/test_measures_light.py`` checks this
    against elephant).

    Parameters
    ----------
    signal : neo.AnalogSignal
        One channel (e.g. a population rate in Hz).

    Returns
    -------
    freqs : pq.Quantity, shape (n_freqs,)
        Frequencies in Hz, ``n_freqs = n_samples // 2 + 1``.
    psd : pq.Quantity, shape (n_freqs,)
        Density in (signal unit)² / Hz.
    """
    check_signal(signal)
    x = np.asarray(signal.magnitude, dtype=float).reshape(-1)
    n = x.size
    if n < 2:
        raise PinglabError(f"a spectrum needs at least 2 samples, got {n}. Fix: use a longer signal")
    period = 1 / signal.sampling_rate.rescale(pq.Hz).magnitude  # s
    window = 0.5 + 0.5 * np.cos(np.linspace(-np.pi, np.pi, n + 1))[:-1]  # periodic Hann
    # scaled to a density; the sum runs element by element, as scipy's does
    window = window * (1 / np.sqrt(sum(window ** 2) / period))
    spectrum = np.fft.rfft((x - np.mean(x)) * window, n)
    psd = spectrum.real ** 2 + spectrum.imag ** 2
    psd[1:-1 if n % 2 == 0 else None] *= 2  # one-sided: the negative frequencies folded in
    return np.fft.rfftfreq(n, period) * pq.Hz, psd * signal.units * signal.units / pq.Hz


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
        both sides inside ``search``), ``fwhm_hz``: that width. A spectrum that is zero in
        ``search`` (no spikes) has no peak: every value is None and ``reason`` says why.
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
    if not np.any(p[sel] > 0):  # a flat zero spectrum (no spikes) has no peak
        return {"peak_hz": None, "in_band": None, "power_share": None, "prominence": None, "fwhm_hz": None,
                "q_factor": None, "reason": f"the spectrum is zero in {search[0]}–{search[1]} Hz (no spikes)"}
    k = sel[np.argmax(p[sel])]
    peak = f[k]
    if 0 < k < len(p) - 1:
        a, b, c = p[k - 1], p[k], p[k + 1]
        denom = a - 2 * b + c
        # refine only a local maximum: then the vertex lies within half a bin of f[k]. At the edge
        # of the search band the largest value may sit on a slope rising out of the band, where
        # the parabola's vertex can fall anywhere (even below 0 Hz); keep the bin there.
        if b >= a and b >= c and denom != 0:
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
    check_signal(signal)
    if not np.isfinite(nw) or nw < 1:
        raise PinglabError(f"nw must be a number ≥ 1, got {nw!r}. Fix: pass e.g. nw=4")
    centred = signal - signal.mean(axis=0)
    fs = float(signal.sampling_rate.rescale(pq.Hz))
    freqs, psd = elephant_module("spectral").multitaper_psd(centred.magnitude.T, fs=fs, nw=nw,
                                                            attach_units=False)
    return np.asarray(freqs) * pq.Hz, np.asarray(psd).reshape(-1) * (signal.units ** 2 / pq.Hz)


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
