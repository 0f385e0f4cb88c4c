"""Figures of a run: raster (E and I marked), population rates, PSD with the gamma peak."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import quantities as pq  # noqa: E402

from ..measures.core import GAMMA_BAND, welch_psd  # noqa: E402

__all__ = ["run_figures", "raster", "rates_figure", "psd_figure", "POPULATION_COLORS", "save_figure",
           "spectra_figure", "spectrogram_figure", "van_rossum_figure", "drift_figure", "metric_figure"]

POPULATION_COLORS = {"exc": "#c0392b", "inh": "#2471a3"}
POPULATION_LABELS = {"exc": "E", "inh": "I"}


def raster(result, ax=None, window_s=(0.0, 0.5), max_neurons=400):
    """Spike raster; E neurons below, I neurons above, coloured by population."""
    ax = ax or plt.gca()
    offset = 0
    for pop in result.populations:
        idx, t = result.spike_arrays(pop)
        n = result.info["populations"][pop]
        step = max(1, int(np.ceil(n / max_neurons)))
        keep = (idx % step == 0) & (t >= window_s[0]) & (t <= window_s[1])
        ax.scatter(t[keep] * 1e3, offset + idx[keep] / step, s=1.5, c=POPULATION_COLORS[pop],
                   marker="|", linewidths=0.6, label=f"{POPULATION_LABELS[pop]} (every {step})" if step > 1
                   else POPULATION_LABELS[pop])
        offset += int(np.ceil(n / step)) + 5
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    ax.set_xlim(window_s[0] * 1e3, window_s[1] * 1e3)
    ax.legend(loc="upper right", markerscale=6, fontsize=8)
    return ax


def rates_figure(result, ax=None, window_s=(0.0, 0.5)):
    """Population rates (Hz) of E and I."""
    ax = ax or plt.gca()
    for pop in result.populations:
        sig = result.population_rate(pop)
        t = sig.times.rescale(pq.ms).magnitude
        keep = (t >= window_s[0] * 1e3) & (t <= window_s[1] * 1e3)
        ax.plot(t[keep], np.asarray(sig).reshape(-1)[keep], color=POPULATION_COLORS[pop], lw=0.8,
                label=POPULATION_LABELS[pop])
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("population rate (Hz)")
    ax.legend(loc="upper right", fontsize=8)
    return ax


def psd_figure(result, ax=None):
    """Welch PSD of the population rates, gamma band shaded, peak marked."""
    ax = ax or plt.gca()
    ax.axvspan(*GAMMA_BAND, color="0.9", label="30–100 Hz")
    for pop in result.populations:
        freqs, psd = welch_psd(result.population_rate(pop))
        f = freqs.magnitude
        keep = (f > 0) & (f <= 200)
        ax.semilogy(f[keep], np.asarray(psd)[keep], color=POPULATION_COLORS[pop], lw=1,
                    label=POPULATION_LABELS[pop])
    peak = result.metrics["gamma_peak_hz"]
    ax.axvline(peak, color="k", ls="--", lw=0.8, label=f"peak {peak:.1f} Hz")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("PSD (Hz²/Hz)")
    ax.legend(fontsize=8)
    return ax


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
        fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
        draw(result, ax=ax, **kwargs)
        ax.set_title(f"{result.info['model']['name']}: {name}", fontsize=10)
        fig.tight_layout()
        fig.savefig(folder / f"{name}.png")
        plt.close(fig)
        written.append(f"{folder.name}/{name}.png")
    return written


def save_figure(fig, path: Path) -> Path:
    """Lay out, write a PNG and close the figure; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def spectra_figure(spectra: dict, peaks: dict, title: str, path: Path, fmax: float = 200.0) -> Path:
    """PSDs on a log axis, gamma band shaded, each peak marked.

    ``spectra`` maps a label to ``(freqs_hz, psd, color, linestyle)``; ``peaks`` maps a label to
    a frequency (Hz) drawn as a dashed line.
    """
    fig, ax = plt.subplots(figsize=(7, 3.4), dpi=110)
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
    return save_figure(fig, path)


def spectrogram_figure(rate_hz, fs_hz: float, t0_s: float, title: str, path: Path, fmax: float = 150.0,
                       window_s: float = 0.2) -> Path:
    """Spectrogram (Hann windows of ``window_s``, 90 % overlap) of a population rate."""
    import scipy.signal

    x = np.asarray(rate_hz, dtype=float).reshape(-1)
    nper = max(16, min(x.size, int(round(window_s * fs_hz))))
    f, t, sxx = scipy.signal.spectrogram(x - x.mean(), fs=fs_hz, window="hann", nperseg=nper,
                                         noverlap=int(nper * 0.9), detrend="constant", scaling="density")
    keep = f <= fmax
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    mesh = ax.pcolormesh((t + t0_s) * 1e3, f[keep], 10 * np.log10(sxx[keep] + 1e-12), shading="auto",
                         cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="dB (Hz²/Hz)")
    ax.axhline(GAMMA_BAND[0], color="w", lw=0.5, ls=":")
    ax.axhline(GAMMA_BAND[1], color="w", lw=0.5, ls=":")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


PAIR_CLASS_COLORS = {"E-E": "#c0392b", "E-I": "#8e44ad", "I-I": "#2471a3"}


def van_rossum_figure(distances: dict, title: str, path: Path) -> Path:
    """Distributions (histograms, shared bins) of Van Rossum distances by pair class."""
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
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
    return save_figure(fig, path)


def drift_figure(panels: list, title: str, path: Path) -> Path:
    """Metrics against dt (log axis), one panel each.

    ``panels`` is a list of ``(ylabel, {series label: (means, sds, color, dts_ms)})``.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), dpi=110, squeeze=False)
    for ax, (ylabel, series) in zip(axes[0], panels, strict=True):
        for label, (means, sds, color, dts_ms) in series.items():
            ax.errorbar(dts_ms, means, yerr=sds, marker="o", ms=4, capsize=3, color=color, label=label)
        ax.set_xscale("log")
        ticks = sorted({float(d) for _, _, _, dts in series.values() for d in dts})
        ax.set_xticks(ticks, [f"{d:g}" for d in ticks], fontsize=7, rotation=45)
        ax.minorticks_off()
        ax.set_xlabel("dt (ms)")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def metric_figure(xs, panels: list, xlabel: str, title: str, path: Path) -> Path:
    """Metrics against a swept parameter: ``panels`` = ``[(ylabel, {series: (means, sds)})]``."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), dpi=110, squeeze=False)
    for ax, (ylabel, series) in zip(axes[0], panels, strict=True):
        for label, (means, sds) in series.items():
            ax.errorbar(xs, means, yerr=sds, marker="o", ms=4, capsize=3, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if len(series) > 1:
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
