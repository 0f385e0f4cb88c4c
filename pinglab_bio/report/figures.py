"""Figures of runs, sweeps and dt studies, as :class:`matplotlib.figure.Figure` objects.

No function here touches pyplot or the global backend, so drawing a report leaves a notebook's
own backend and figures alone: each plotting function makes its own ``Figure`` (or draws on the
``ax`` it is given) and returns the ``Figure``; :func:`save_figure` writes it as a PNG.

Populations are drawn by name. :data:`POPULATION_LABELS` and :data:`POPULATION_COLORS` hold the
catalogue's names; any other population is labelled by its own name and coloured from
matplotlib's ``tab10`` cycle.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import quantities as pq
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation

from ..measures import GAMMA_BAND, welch_psd_one_window

__all__ = ["POPULATION_LABELS", "POPULATION_COLORS", "PAIR_CLASS_COLORS", "population_label",
           "population_colors", "population_key", "new_figure", "save_figure", "legend_outside",
           "PlainLogFormatter", "plain_log_ticks",
           "figure_window", "raster_step", "subsampling_text", "raster", "draw_rates", "rates_panels",
           "rates_figure", "harmonics", "mark_harmonics", "psd_figure", "run_figure_captions", "run_figures",
           "spectra_figure", "spectrogram_figure",
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
    """Lay out and write ``fig`` as a PNG (folders made as needed); return the path.

    The saved area is cropped to what is drawn (``bbox_inches="tight"``), so legends placed
    outside the axes are kept.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, bbox_inches="tight", pad_inches=0.08)
    return path


def _axes(ax):
    return ax if ax is not None else new_figure()[1]


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


class PlainLogFormatter(LogFormatterSciNotation):
    """Tick labels of a log axis written as plain text: "10²", "10⁻³", "2×10¹".

    The labels and the ticks that get one are matplotlib's own (``LogFormatterSciNotation``);
    only the writing differs. Matplotlib writes them as mathtext (``$10^{2}$``), whose parser
    costs a few tenths of a second per figure; superscript digits show the same powers.
    """

    def __call__(self, x, pos=None):
        if not super().__call__(x, pos) or not np.isfinite(x) or x <= 0:
            return ""
        exponent = math.floor(math.log10(x) + 1e-9)
        coefficient = round(x / 10.0 ** exponent, 6)
        if coefficient >= 10:  # x just below a power of ten
            exponent, coefficient = exponent + 1, coefficient / 10
        power = "10" + str(exponent).translate(_SUPERSCRIPT)
        return power if coefficient == 1 else f"{coefficient:g}×{power}"


def plain_log_ticks(ax) -> None:
    """Label ``ax``'s log y axis with :class:`PlainLogFormatter`, major and minor ticks alike (as
    matplotlib's log scale sets its own formatter on both)."""
    ax.yaxis.set_major_formatter(PlainLogFormatter())
    ax.yaxis.set_minor_formatter(PlainLogFormatter())


def legend_outside(ax, **kwargs):
    """A legend to the right of ``ax``, outside the data (never on top of a trace)."""
    kwargs.setdefault("fontsize", 7)
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False, **kwargs)


def figure_window(t_stop_s: float) -> tuple[float, float]:
    """The window (s) the raster and rate figures of a run show: its last 0.5 s, or all of a
    run of 0.6 s or less."""
    return (max(0.0, t_stop_s - 0.5), t_stop_s) if t_stop_s > 0.6 else (0.0, t_stop_s)


def raster_step(n: int, max_neurons: int) -> int:
    """Every how many neurons a raster of ``n`` neurons draws, to show at most ``max_neurons``."""
    return max(1, int(np.ceil(n / max_neurons)))


def subsampling_text(populations: dict, max_neurons: int) -> str:
    """What a raster shows of each population, e.g. "E neurons 0–799, every 2nd (400 of 800); I all 200".

    ``populations`` maps a population to its size.
    """
    parts = []
    for pop, n in populations.items():
        step = raster_step(n, max_neurons)
        label = population_label(pop)
        if step == 1:
            parts.append(f"{label} all {n}")
        else:
            nth = {2: "2nd", 3: "3rd"}.get(step, f"{step}th")
            parts.append(f"{label} neurons 0–{n - 1}, every {nth} ({len(range(0, n, step))} of {n})")
    return "; ".join(parts)


def _raster_spikes(result, pop, window_s, step):
    idx, t = result.spike_arrays(pop)
    keep = (idx % step == 0) & (t >= window_s[0]) & (t <= window_s[1])
    return idx[keep], t[keep]


def raster(result, ax=None, window_s=(0.0, 0.5), max_neurons=400) -> Figure:
    """Spike raster of a run in true neuron indices, times in ms.

    Without ``ax``: a new figure with one panel per population (the run's first population on
    top), each labelled on its y axis and sized by the neurons it shows. With ``ax``: one band
    per population on that axes, separated by a line, labelled at its edges with the true first
    and last index ("E 0", "E 799"). A population over ``max_neurons`` shows every k-th neuron
    (see :func:`subsampling_text`), which the panel or band label states.
    """
    pops = list(result.populations)
    sizes = {pop: int(result.info["populations"][pop]) for pop in pops}
    colors = population_colors(pops)
    steps = {pop: raster_step(sizes[pop], max_neurons) for pop in pops}
    if ax is None:
        shown = [max(40, len(range(0, sizes[p], steps[p]))) for p in pops]
        fig = Figure(figsize=(7.0, 1.2 + 3.0 * sum(shown) / max(shown) * 0.6), dpi=110, layout="constrained")
        axes = fig.subplots(len(pops), 1, sharex=True, squeeze=False, height_ratios=shown)[:, 0]
        for a, pop in zip(axes, pops, strict=True):
            idx, t = _raster_spikes(result, pop, window_s, steps[pop])
            a.scatter(t * 1e3, idx, s=1.5, c=colors[pop], marker="|", linewidths=0.6)
            a.set_ylim(-0.5, sizes[pop] - 0.5)
            note = f", every {steps[pop]}" if steps[pop] > 1 else ""
            a.set_ylabel(f"{population_label(pop)} neuron{note}", fontsize=8)
            a.tick_params(labelsize=7)
        axes[-1].set_xlabel("time (ms)")
        axes[-1].set_xlim(window_s[0] * 1e3, window_s[1] * 1e3)
        return fig
    offset, ticks, labels = 0, [], []
    for k, pop in enumerate(reversed(pops)):  # the first population on top, as in the panels
        idx, t = _raster_spikes(result, pop, window_s, steps[pop])
        step, n = steps[pop], sizes[pop]
        ax.scatter(t * 1e3, offset + idx / step, s=1.5, c=colors[pop], marker="|", linewidths=0.6)
        top = offset + (n - 1) // step
        label = population_label(pop)
        ticks += [offset, top]
        labels += [f"{label} 0", f"{label} {n - 1}"]
        note = f" (every {step})" if step > 1 else ""
        ax.text(1.01, (offset + top) / 2, f"{label}{note}", transform=ax.get_yaxis_transform(), va="center",
                ha="left", fontsize=8, color=colors[pop])
        if k:
            ax.axhline(offset - 2.5, color="0.3", lw=0.6)
        offset = top + 5
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_ylim(-2, offset - 3)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron (true index)")
    ax.set_xlim(window_s[0] * 1e3, window_s[1] * 1e3)
    return ax.figure


def draw_rates(ax, rates: dict, window_s) -> Figure:
    """Population rates (Hz) against time (ms) inside ``window_s`` (s).

    ``rates`` maps a population to its ``neo.AnalogSignal``. ``ax`` is one ``Axes`` per
    population (a sequence: each rate on its own y axis, so an E rate of tens of Hz is not
    squashed under an I rate of hundreds) or a single ``Axes`` (all rates on it, legend outside).
    """
    colors = population_colors(rates)
    many = not hasattr(ax, "plot")
    axes = list(np.ravel(ax)) if many else [ax] * len(rates)
    if len(axes) != len(rates):
        raise ValueError(f"draw_rates got {len(axes)} axes for {len(rates)} populations; pass one each")
    for a, (pop, sig) in zip(axes, rates.items(), strict=True):
        t = sig.times.rescale(pq.s).magnitude
        keep = (t >= window_s[0]) & (t <= window_s[1])
        a.plot(t[keep] * 1e3, np.asarray(sig.magnitude).reshape(-1)[keep], color=colors[pop], lw=0.8,
               label=population_label(pop))
        if many:
            a.set_ylabel(f"{population_label(pop)} rate (Hz)", fontsize=8)
            a.set_ylim(bottom=0)
            a.tick_params(labelsize=7)
    axes[-1].set_xlabel("time (ms)")
    axes[-1].set_xlim(window_s[0] * 1e3, window_s[1] * 1e3)
    if not many:
        ax.set_ylabel("population rate (Hz)")
        legend_outside(ax)
    return axes[0].figure


def rates_panels(rates: dict, window_s) -> Figure:
    """A new figure of population rates, one panel (own y axis, Hz) per population, time in ms."""
    fig = Figure(figsize=(7.0, 1.0 + 1.5 * len(rates)), dpi=110, layout="constrained")
    axes = fig.subplots(len(rates), 1, sharex=True, squeeze=False)[:, 0]
    draw_rates(axes, rates, window_s)
    return fig


def rates_figure(result, ax=None, window_s=(0.0, 0.5)) -> Figure:
    """Population rates (Hz) of every population of a run: one panel each without ``ax``, all on
    ``ax`` (legend outside) with it."""
    rates = {pop: result.population_rate(pop) for pop in result.populations}
    if ax is None:
        return rates_panels(rates, window_s)
    return draw_rates(ax, rates, window_s)


def harmonics(peak_hz: float, fmax: float = 200.0) -> list[tuple[int, float]]:
    """``[(k, k·peak_hz), ...]`` for k ≥ 2 up to ``fmax`` (Hz): the harmonics of a gamma peak."""
    if peak_hz is None or not np.isfinite(peak_hz) or peak_hz <= 0:
        return []
    return [(k, k * peak_hz) for k in range(2, int(fmax // peak_hz) + 1)]


def mark_harmonics(ax, peak_hz: float, fmax: float = 200.0):
    """Dotted grey lines, labelled "2f", "3f", …, at the harmonics of ``peak_hz`` up to ``fmax``."""
    for k, f in harmonics(peak_hz, fmax):
        ax.axvline(f, color="0.45", ls=":", lw=0.8)
        ax.text(f, 1.0, f"{k}f", transform=ax.get_xaxis_transform(), fontsize=7, ha="center", va="bottom",
                color="0.35")


def psd_figure(result, ax=None) -> Figure:
    """Welch PSD of each population rate, gamma band shaded, the run's gamma peak (dashed) and its
    harmonics (dotted, "2f", "3f", …) marked, legend outside the axes."""
    ax = _axes(ax)
    ax.axvspan(*GAMMA_BAND, color="0.9", label="gamma band 30–100 Hz")
    colors = population_colors(result.populations)
    for pop in result.populations:
        freqs, psd = welch_psd_one_window(result.population_rate(pop))
        f = freqs.magnitude
        keep = (f > 0) & (f <= 200)
        ax.semilogy(f[keep], np.asarray(psd)[keep], color=colors[pop], lw=1, label=population_label(pop))
    plain_log_ticks(ax)
    peak = result.metrics.get("gamma_peak_hz")
    if peak is not None:  # a silent or nearly silent network has no peak (null, with the reason)
        ax.axvline(peak, color="k", ls="--", lw=0.8, label=f"peak {peak:.1f} Hz")
        mark_harmonics(ax, peak)
    ax.set_xlim(0, 200)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("PSD (Hz²/Hz)")
    legend_outside(ax)
    return ax.figure


def run_figure_captions(info: dict, metrics: dict, max_neurons: int = 400) -> dict:
    """Captions of :func:`run_figures`' figures, ``{stem: caption}``: what each shows, the
    window drawn and the analysis window of the metrics."""
    t_stop = float((info.get("duration") or {}).get("si_value", 0.0) or 0.0)
    a, b = figure_window(t_stop)
    w0, w1 = metrics.get("analysis_t_start_s"), metrics.get("analysis_t_stop_s")
    analysis = (f" Metrics use the analysis window {w0 * 1e3:g}–{w1 * 1e3:g} ms (the transient before "
                "it is left out)." if w0 is not None and w1 is not None else "")
    shown = f"{a * 1e3:g}–{b * 1e3:g} ms"
    pops = dict(info.get("populations") or {})
    key = population_key(list(pops))
    peak = metrics.get("gamma_peak_hz")
    harm = ", ".join(f"{k}f = {f:.0f} Hz" for k, f in harmonics(peak)) if peak else ""
    return {
        "raster": f"Spike raster, {shown}, one panel per population ({key}), in true neuron indices: "
                  f"{subsampling_text(pops, max_neurons)}.{analysis}",
        "rates": f"Population rates (Hz, bins of {metrics.get('rate_bin_ms', 'n/a')} ms), {shown}, each "
                 f"population on its own axis; the rates are computed over the analysis window only."
                 f"{analysis}",
        "psd": "Welch PSD of each population rate over the analysis window; gamma band 30–100 Hz shaded, "
               + (f"gamma peak {peak:.1f} Hz dashed" if peak else "gamma peak dashed")
               + (f", its harmonics dotted ({harm})" if harm else "")
               + ". The power share counts everything in 30–100 Hz, the 2nd harmonic included where it "
               "falls below 100 Hz.",
    }


def run_figures(result, folder: Path) -> list[str]:
    """Write raster.png, rates.png and psd.png; return their paths relative to the run folder.

    The raster and the rates are one panel per population (:func:`raster`, :func:`rates_panels`);
    :func:`run_figure_captions` says what each figure shows.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    duration = result.info.get("duration") or {}
    # run.json's duration is the Block's t_stop: reading it there spares building a neo Block
    t_stop = (float(duration["si_value"]) if "si_value" in duration
              else float(result.block.segments[0].t_stop.rescale(pq.s)))
    window = figure_window(t_stop)
    name = result.info["model"]["name"]
    written = []
    for stem, make, what in (("raster", lambda: raster(result, window_s=window), "spike raster"),
                             ("rates", lambda: rates_figure(result, window_s=window), "population rates"),
                             ("psd", lambda: psd_figure(result), "PSD of the population rates")):
        fig = make()
        fig.suptitle(f"{name}: {what}", fontsize=10)
        save_figure(fig, folder / f"{stem}.png")
        written.append(f"{folder.name}/{stem}.png")
    return written


def spectra_figure(spectra: dict, peaks: dict, title: str, fmax: float = 200.0,
                   harmonics_of: float | None = None) -> Figure:
    """PSDs on a log axis, gamma band shaded, each peak marked, legend outside the axes.

    ``spectra`` maps a label to ``(freqs_hz, psd, color, linestyle)``; ``peaks`` maps a label to
    a frequency (Hz) drawn as a dashed line; ``harmonics_of`` (Hz), when given, marks that
    frequency's harmonics up to ``fmax`` as dotted lines labelled "2f", "3f", ….
    """
    fig, ax = new_figure(7, 3.4)
    ax.axvspan(*GAMMA_BAND, color="0.92", label="gamma band 30–100 Hz")
    for label, (f, p, color, ls) in spectra.items():
        f, p = np.asarray(f), np.asarray(p)
        keep = (f > 0) & (f <= fmax)
        ax.semilogy(f[keep], p[keep], color=color, ls=ls, lw=1, label=label)
    plain_log_ticks(ax)
    for k, (label, f0) in enumerate(peaks.items()):
        if f0 is not None and np.isfinite(f0):
            ax.axvline(f0, color="k", ls="--", lw=0.7)
            # labels stepped down one line each so that close peaks stay readable
            ax.text(f0, 0.97 - 0.07 * k, f" {label} {f0:.1f} Hz", transform=ax.get_xaxis_transform(),
                    fontsize=7, va="top", ha="left",
                    bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 1})
    if harmonics_of is not None:
        mark_harmonics(ax, harmonics_of, fmax)
    ax.set_xlim(0, fmax)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("PSD (Hz²/Hz)")
    ax.set_title(title, fontsize=10, pad=12 if harmonics_of is not None else 6)
    legend_outside(ax)
    return fig


def spectrogram_figure(rate_hz, fs_hz: float, t0_s: float, title: str, fmax: float = 150.0,
                       window_s: float = 0.2) -> Figure:
    """Spectrogram (Hann windows of ``window_s`` s, 90 % overlap) of a population rate sampled at
    ``fs_hz`` from ``t0_s``; power in dB of Hz²/Hz up to ``fmax`` Hz."""
    import scipy.signal  # here, not with the module: scipy.signal's import loads scipy.stats

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
    legend_outside(ax)
    return fig


def metric_figure(panels: list, xlabel: str, title: str, *, log_x: bool = False,
                  legend: bool | None = None, references: dict | None = None) -> Figure:
    """Metrics against a parameter (mean ± sd as error bars), one panel each.

    Parameters
    ----------
    panels : list of (str, dict)
        ``[(ylabel, {series label: (xs, means, sds, color)})]``; ``color`` None takes the
        next colour of the cycle. Missing means are NaN; an sd of None draws no error bar.
        Points are drawn in increasing x.
    xlabel, title : str
    log_x : bool
        Log x axis with a tick at every x (for dt).
    legend : bool, optional
        Draw a legend (one for the figure, below the panels); by default where a panel has more
        than one series or a reference.
    references : dict, optional
        ``{panel index: (xs, ys, label)}``: a published curve drawn in grey with open squares
        on that panel.
    """
    references = references or {}
    fig, axes = new_figure(3.6 * len(panels), 3.2, ncols=len(panels))
    handles = {}
    for k, (ax, (ylabel, series)) in enumerate(zip(axes[0], panels, strict=True)):
        for label, (xs, means, sds, color) in series.items():
            order = np.argsort(np.asarray(xs, dtype=float), kind="stable")
            xs_o = np.asarray(xs, dtype=float)[order]
            means_o = np.asarray(means, dtype=float)[order]
            sds_o = None if sds is None or all(s is None for s in sds) else \
                np.asarray([np.nan if s is None else s for s in sds], dtype=float)[order]
            h = ax.errorbar(xs_o, means_o, yerr=sds_o, marker="o", ms=4, capsize=3, color=color, label=label)
            handles.setdefault(str(label), h)
        if k in references:
            rx, ry, rlabel = references[k]
            (h,) = ax.plot(rx, ry, color="0.4", ls="--", marker="s", mfc="white", ms=4, lw=1, label=rlabel)
            handles.setdefault(rlabel, h)
        if log_x:
            ax.set_xscale("log")
            ticks = sorted({float(x) for xs, _, _, _ in series.values() for x in xs})
            ax.set_xticks(ticks, [f"{d:g}" for d in ticks], fontsize=7, rotation=45)
            ax.minorticks_off()
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    if legend or (legend is None and (any(len(s) > 1 for _, s in panels) or references)):
        named = {k: v for k, v in handles.items() if k and k != "None" and not k.startswith("_")}
        if named:
            fig.legend(list(named.values()), list(named), loc="upper center", bbox_to_anchor=(0.5, 0.0),
                       ncol=min(4, len(named)), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig


def drift_figure(panels: list, title: str) -> Figure:
    """Metrics against dt (ms, log axis), one panel each, every series in the legend.

    ``panels`` is a list of ``(ylabel, {series label: (dts_ms, means, sds, color)})``.
    """
    return metric_figure(panels, "dt (ms)", title, log_x=True, legend=True)
