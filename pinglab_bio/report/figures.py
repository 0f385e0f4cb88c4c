"""Figures of runs, sweeps and dt studies, as :class:`matplotlib.figure.Figure` objects.

No function here touches pyplot or the global backend, so drawing a report leaves a notebook's
own backend and figures alone: each plotting function makes its own ``Figure`` (or draws on the
``ax`` it is given) and returns the ``Figure``; :func:`save_figure` writes it as a PNG.

Populations are drawn by name. :data:`POPULATION_LABELS` and :data:`POPULATION_COLORS` hold the
catalogue's names; any other population is labelled by its own name and coloured from
matplotlib's ``tab10`` cycle.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import quantities as pq
import scipy.signal
from matplotlib.figure import Figure

from ..measures import GAMMA_BAND, welch_psd

__all__ = ["POPULATION_LABELS", "POPULATION_COLORS", "PAIR_CLASS_COLORS", "population_label",
           "population_colors", "population_key", "new_figure", "save_figure", "raster", "draw_rates",
           "rates_figure", "psd_figure", "run_figures", "spectra_figure", "spectrogram_figure",
           "van_rossum_figure", "metric_figure", "drift_figure"]

#: Label and colour of the catalogue's populations (E red, I blue).
POPULATION_LABELS = {"exc": "E", "inh": "I"}
POPULATION_COLORS = {"exc": "#c0392b", "inh": "#2471a3"}
_COLOR_NAMES = {"#c0392b": "red", "#2471a3": "blue"}
PAIR_CLASS_COLORS = {"E-E": "#c0392b", "E-I": "#8e44ad", "I-I": "#2471a3"}


def population_label(population: str) -> str:
    """Short label of a population ("E", "I"), or its own name for a population the catalogue lacks."""
    return POPULATION_LABELS.get(population, population)


def population_colors(populations) -> dict:
    """``{population: colour}``: the catalogue's colours, ``tab10`` for the others (in order)."""
    cycle = [c for c in matplotlib.colormaps["tab10"].colors]
    out, k = {}, 0
    for pop in populations:
        if pop in POPULATION_COLORS:
            out[pop] = POPULATION_COLORS[pop]
        else:
            out[pop] = cycle[k % len(cycle)]
            k += 1
    return out


def population_key(populations) -> str:
    """Caption text naming each population's colour, e.g. "E red, I blue"."""
    colors = population_colors(populations)
    return ", ".join(f"{population_label(p)} {_COLOR_NAMES[colors[p]]}" if colors[p] in _COLOR_NAMES
                     else population_label(p) for p in populations)


def new_figure(width: float = 7.0, height: float = 3.2, ncols: int | None = None):
    """A new ``Figure`` (dpi 110, size in inches) and its axes: one ``Axes``, or a row of
    ``ncols`` axes as an array of shape (1, ncols)."""
    fig = Figure(figsize=(width, height), dpi=110)
    if ncols is None:
        return fig, fig.subplots()
    return fig, fig.subplots(1, ncols, squeeze=False)


def save_figure(fig: Figure, path: Path) -> Path:
    """Lay out and write ``fig`` as a PNG (folders made as needed); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    return path


def _axes(ax):
    return ax if ax is not None else new_figure()[1]


def raster(result, ax=None, window_s=(0.0, 0.5), max_neurons=400) -> Figure:
    """Spike raster of a run, one band per population (the first at the bottom), coloured by
    population; populations over ``max_neurons`` show every k-th neuron. Times in ms."""
    ax = _axes(ax)
    colors = population_colors(result.populations)
    offset = 0
    for pop in result.populations:
        idx, t = result.spike_arrays(pop)
        n = result.info["populations"][pop]
        step = max(1, int(np.ceil(n / max_neurons)))
        keep = (idx % step == 0) & (t >= window_s[0]) & (t <= window_s[1])
        label = population_label(pop)
        ax.scatter(t[keep] * 1e3, offset + idx[keep] / step, s=1.5, c=colors[pop], marker="|",
                   linewidths=0.6, label=f"{label} (every {step})" if step > 1 else label)
        offset += int(np.ceil(n / step)) + 5
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    ax.set_xlim(window_s[0] * 1e3, window_s[1] * 1e3)
    ax.legend(loc="upper right", markerscale=6, fontsize=8)
    return ax.figure


def draw_rates(ax, rates: dict, window_s) -> Figure:
    """Population rates (Hz) against time (ms) inside ``window_s`` (s); ``rates`` maps a
    population to its ``neo.AnalogSignal``."""
    colors = population_colors(rates)
    for pop, sig in rates.items():
        t = sig.times.rescale(pq.s).magnitude
        keep = (t >= window_s[0]) & (t <= window_s[1])
        ax.plot(t[keep] * 1e3, np.asarray(sig.magnitude).reshape(-1)[keep], color=colors[pop], lw=0.8,
                label=population_label(pop))
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("population rate (Hz)")
    ax.legend(loc="upper right", fontsize=8)
    return ax.figure


def rates_figure(result, ax=None, window_s=(0.0, 0.5)) -> Figure:
    """Population rates (Hz) of every population of a run."""
    return draw_rates(_axes(ax), {pop: result.population_rate(pop) for pop in result.populations}, window_s)


def psd_figure(result, ax=None) -> Figure:
    """Welch PSD of each population rate, gamma band shaded, the run's gamma peak marked."""
    ax = _axes(ax)
    ax.axvspan(*GAMMA_BAND, color="0.9", label="30–100 Hz")
    colors = population_colors(result.populations)
    for pop in result.populations:
        freqs, psd = welch_psd(result.population_rate(pop))
        f = freqs.magnitude
        keep = (f > 0) & (f <= 200)
        ax.semilogy(f[keep], np.asarray(psd)[keep], color=colors[pop], lw=1, label=population_label(pop))
    peak = result.metrics["gamma_peak_hz"]
    ax.axvline(peak, color="k", ls="--", lw=0.8, label=f"peak {peak:.1f} Hz")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("PSD (Hz²/Hz)")
    ax.legend(fontsize=8)
    return ax.figure


def run_figures(result, folder: Path) -> list[str]:
    """Write raster.png, rates.png and psd.png; return their paths relative to the run folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    t_stop = float(result.block.segments[0].t_stop.rescale(pq.s))
    window = (max(0.0, t_stop - 0.5), t_stop) if t_stop > 0.6 else (0.0, t_stop)
    written = []
    for name, draw, kwargs in (("raster", raster, {"window_s": window}),
                               ("rates", rates_figure, {"window_s": window}),
                               ("psd", psd_figure, {})):
        fig, ax = new_figure()
        draw(result, ax=ax, **kwargs)
        ax.set_title(f"{result.info['model']['name']}: {name}", fontsize=10)
        save_figure(fig, folder / f"{name}.png")
        written.append(f"{folder.name}/{name}.png")
    return written


def spectra_figure(spectra: dict, peaks: dict, title: str, fmax: float = 200.0) -> Figure:
    """PSDs on a log axis, gamma band shaded, each peak marked.

    ``spectra`` maps a label to ``(freqs_hz, psd, color, linestyle)``; ``peaks`` maps a label to
    a frequency (Hz) drawn as a dashed line.
    """
    fig, ax = new_figure(7, 3.4)
    ax.axvspan(*GAMMA_BAND, color="0.92", label="30–100 Hz")
    for label, (f, p, color, ls) in spectra.items():
        f, p = np.asarray(f), np.asarray(p)
        keep = (f > 0) & (f <= fmax)
        ax.semilogy(f[keep], p[keep], color=color, ls=ls, lw=1, label=label)
    for k, (label, f0) in enumerate(peaks.items()):
        if f0 is not None and np.isfinite(f0):
            ax.axvline(f0, color="k", ls="--", lw=0.7)
            # labels stepped down one line each so that close peaks stay readable
            ax.text(f0, 0.98 - 0.07 * k, f" {label} {f0:.1f} Hz", transform=ax.get_xaxis_transform(),
                    fontsize=7, va="top", ha="left")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("PSD (Hz²/Hz)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    return fig


def spectrogram_figure(rate_hz, fs_hz: float, t0_s: float, title: str, fmax: float = 150.0,
                       window_s: float = 0.2) -> Figure:
    """Spectrogram (Hann windows of ``window_s`` s, 90 % overlap) of a population rate sampled at
    ``fs_hz`` from ``t0_s``; power in dB of Hz²/Hz up to ``fmax`` Hz."""
    x = np.asarray(rate_hz, dtype=float).reshape(-1)
    nper = max(16, min(x.size, int(round(window_s * fs_hz))))
    f, t, sxx = scipy.signal.spectrogram(x - x.mean(), fs=fs_hz, window="hann", nperseg=nper,
                                         noverlap=int(nper * 0.9), detrend="constant", scaling="density")
    keep = f <= fmax
    fig, ax = new_figure()
    mesh = ax.pcolormesh((t + t0_s) * 1e3, f[keep], 10 * np.log10(sxx[keep] + 1e-12), shading="auto",
                         cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="dB (Hz²/Hz)")
    ax.axhline(GAMMA_BAND[0], color="w", lw=0.5, ls=":")
    ax.axhline(GAMMA_BAND[1], color="w", lw=0.5, ls=":")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title, fontsize=10)
    return fig


def van_rossum_figure(distances: dict, title: str) -> Figure:
    """Distributions (histograms, shared bins) of Van Rossum distances (dimensionless) by pair class."""
    fig, ax = new_figure()
    values = [np.asarray(d) for d in distances.values() if len(d)]
    if values:
        allv = np.concatenate(values)
        bins = np.linspace(allv.min(), allv.max() if allv.max() > allv.min() else allv.min() + 1, 60)
        for cls, d in distances.items():
            d = np.asarray(d)
            if d.size:
                ax.hist(d, bins=bins, density=True, histtype="step", lw=1.4,
                        color=PAIR_CLASS_COLORS.get(cls, "k"),
                        label=f"{cls} (n={d.size}, median {np.median(d):.3g})")
    ax.set_xlabel("Van Rossum distance")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return fig


def metric_figure(panels: list, xlabel: str, title: str, *, log_x: bool = False,
                  legend: bool | None = None) -> Figure:
    """Metrics against a parameter (mean ± sd as error bars), one panel each.

    Parameters
    ----------
    panels : list of (str, dict)
        ``[(ylabel, {series label: (xs, means, sds, color)})]``; ``color`` None takes the
        next colour of the cycle. Missing means are NaN.
    xlabel, title : str
    log_x : bool
        Log x axis with a tick at every x (for dt).
    legend : bool, optional
        Draw legends; by default where a panel has more than one series.
    """
    fig, axes = new_figure(3.6 * len(panels), 3.2, ncols=len(panels))
    for ax, (ylabel, series) in zip(axes[0], panels, strict=True):
        for label, (xs, means, sds, color) in series.items():
            ax.errorbar(xs, means, yerr=sds, marker="o", ms=4, capsize=3, color=color, label=label)
        if log_x:
            ax.set_xscale("log")
            ticks = sorted({float(x) for xs, _, _, _ in series.values() for x in xs})
            ax.set_xticks(ticks, [f"{d:g}" for d in ticks], fontsize=7, rotation=45)
            ax.minorticks_off()
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if legend or (legend is None and len(series) > 1):
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return fig


def drift_figure(panels: list, title: str) -> Figure:
    """Metrics against dt (ms, log axis), one panel each, every series in the legend.

    ``panels`` is a list of ``(ylabel, {series label: (dts_ms, means, sds, color)})``.
    """
    return metric_figure(panels, "dt (ms)", title, log_x=True, legend=True)
