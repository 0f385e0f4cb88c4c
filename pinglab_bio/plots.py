"""Figures of a run: raster (E and I marked), population rates, PSD with the gamma peak."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import quantities as pq  # noqa: E402

from .measures import GAMMA_BAND, welch_psd  # noqa: E402

__all__ = ["run_figures", "raster", "rates_figure", "psd_figure", "POPULATION_COLORS"]

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
