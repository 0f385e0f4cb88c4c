"""The one registry of metric names: each metric's label, unit and one-line meaning.

Every table of a report (HTML and Markdown), and ``pinglab-bio show``, looks a metric up here,
so a metric is described once. Keys with a population in them (``rate_exc_hz``) match a
template (``rate_{pop}_hz``); the population is filled into the label and the meaning.

Numbers are formatted here too: :func:`format_value` (significant digits, no float noise) and
:func:`format_p` (a p-value that underflows to 0 is written "< 1e-300", not "0").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["Metric", "METRICS", "GAMMA_SHARE_NOTE", "metric_info", "metric_rows", "format_value", "format_p",
           "format_mean_sd", "column_label"]

#: What the gamma power share counts, said once for every report that shows it.
GAMMA_SHARE_NOTE = ("The gamma power share is the fraction of the rhythm population's Welch power "
                    "(all f > 0) that lies in 30–100 Hz. It counts every peak in that band, so a "
                    "harmonic of the gamma peak that falls below 100 Hz (the 2nd harmonic of a "
                    "47 Hz rhythm at about 95 Hz) is counted with the fundamental.")


@dataclass(frozen=True)
class Metric:
    """How one metric is shown: ``label`` (short, for column headers), ``unit`` ("" when
    dimensionless) and ``meaning`` (one line)."""

    label: str
    unit: str
    meaning: str


# ``{pop}`` is the population's short label (E, I, or its own name) in labels and meanings.
METRICS: dict[str, Metric] = {
    "analysis_t_start_s": Metric("window start", "s", "start of the analysis window (the transient before it "
                                 "is left out)"),
    "analysis_t_stop_s": Metric("window end", "s", "end of the analysis window (the end of the run)"),
    "analysis_window_s": Metric("analysis window", "s", "start and end of the window every measure uses"),
    "rate_bin_ms": Metric("rate bin", "ms", "bin width of the population rate (a whole number of dt steps)"),
    "dt_ms": Metric("dt", "ms", "integration step of the run"),
    "rate_{pop}_hz": Metric("{pop} rate", "Hz", "mean firing rate of the {pop} neurons over the window"),
    "cv_isi_{pop}": Metric("{pop} CV ISI", "", "coefficient of variation of the inter-spike intervals "
                           "(0 regular, 1 Poisson), mean over {pop} neurons"),
    "lv_isi_{pop}": Metric("{pop} LV ISI", "", "local variation of successive intervals (0 regular, 1 "
                           "Poisson), mean over {pop} neurons"),
    "synchrony_{pop}": Metric("{pop} synchrony", "", "spike contrast of the {pop} trains (0 asynchronous, "
                              "1 all spikes together)"),
    "fraction_active_{pop}": Metric("{pop} fraction active", "", "fraction of {pop} neurons with at least "
                                    "one spike"),
    "sttc_{pop}": Metric("{pop} STTC", "", "spike-time tiling coefficient (±5 ms), mean over sampled {pop} "
                         "pairs"),
    "rhythm_population": Metric("rhythm population", "", "population whose rate the gamma measures use (E "
                                "where there is one)"),
    "gamma_peak_hz": Metric("gamma peak", "Hz", "peak of the Welch PSD of the rhythm population's rate in "
                            "5–150 Hz (parabolic refinement)"),
    "gamma_in_band": Metric("peak in band", "", "whether the peak lies in the gamma band, 30–100 Hz"),
    "gamma_power_share": Metric("gamma share", "", "fraction of the PSD's power in 30–100 Hz, harmonics "
                                "inside the band included"),
    "gamma_prominence": Metric("prominence", "×", "PSD at the peak over the median PSD in 5–150 Hz"),
    "gamma_q_factor": Metric("Q", "", "peak frequency over the peak's full width at half maximum"),
    "mean_spectrum_peak_hz": Metric("peak of mean PSD", "Hz", "gamma peak of the spectrum averaged over "
                                    "seeds"),
    "mean_spectrum_power_share": Metric("share of mean PSD", "", "gamma power share of the spectrum "
                                        "averaged over seeds"),
    "peak_freq_drift_pct": Metric("peak drift", "%", "change of the mean gamma peak from the finest dt"),
    "peak_freq_drift_hz": Metric("peak drift", "Hz", "change of the mean gamma peak from the finest dt"),
    "n_seeds": Metric("seeds", "", "runs averaged in the row"),
    # training runs
    "test_accuracy": Metric("test accuracy", "", "fraction of the test set classified correctly (torch "
                            "step)"),
    "test_accuracy_brian2": Metric("test accuracy (Brian2)", "", "the same trained weights run in Brian2, "
                                   "fraction correct"),
    "hidden_rate_hz": Metric("hidden rate", "Hz", "mean firing rate of the hidden neurons on the test set "
                             "(torch step)"),
    "hidden_rate_hz_brian2": Metric("hidden rate (Brian2)", "Hz", "mean hidden firing rate on the test set "
                                    "in Brian2"),
    "prediction_agreement": Metric("agreement", "", "fraction of test samples where torch and Brian2 "
                                   "predict the same class"),
    "epochs": Metric("epochs", "", "passes over the training set"),
    "train_wall_s": Metric("training time", "s", "wall time of the training loop"),
    "brian2_wall_s": Metric("Brian2 time", "s", "wall time of the Brian2 evaluation"),
    "n_train": Metric("training samples", "", "samples in the training set"),
    "n_test": Metric("test samples", "", "samples in the test set"),
    "device": Metric("torch device", "", "where torch trained the network"),
    "train_accuracy": Metric("train accuracy", "", "fraction of the training batches classified correctly "
                             "during the epoch"),
    "loss": Metric("loss", "", "mean batch loss (NLL of the readout) in the epoch"),
    "wall_s": Metric("epoch time", "s", "wall time of the epoch"),
    "hidden_spikes_identical": Metric("same hidden spikes", "", "whether Brian2 reproduced the exported "
                                      "reservoir spikes exactly"),
    "brian2_sim_s": Metric("Brian2 simulation", "s", "wall time of simulating the reservoir in Brian2"),
    "brian2_check_s": Metric("Brian2 check", "s", "wall time of running the readout back in Brian2"),
    "test_accuracy_fitted": Metric("test accuracy (fitted)", "", "fraction of the test set a reservoir "
                                   "readout classifies correctly as fitted (python / torch)"),
    "best_accuracy": Metric("best test accuracy", "", "test accuracy of the best fitted reservoir readout"),
    "baseline_logistic_pixels": Metric("logistic on pixels", "", "test accuracy of logistic regression on "
                                       "the raw pixels"),
    "baseline_logistic_input_counts": Metric("logistic on input counts", "", "test accuracy of logistic "
                                             "regression on the input spike counts per channel"),
}

_LABELS = {"exc": "E", "inh": "I"}


def _template(key: str):
    """``(template, population)`` of a key: an exact entry, or a ``{pop}`` template it matches."""
    if key in METRICS:
        return key, None
    for template in METRICS:
        if "{pop}" not in template:
            continue
        head, tail = template.split("{pop}")
        if key.startswith(head) and key.endswith(tail) and len(key) > len(head) + len(tail):
            return template, key[len(head):len(key) - len(tail)]
    return None, None


def metric_info(key: str, population_label=None) -> Metric | None:
    """The :class:`Metric` of ``key`` with its population filled in, or None for an unknown key.

    ``population_label(name)`` gives a population's short label (default: E for ``exc``, I for
    ``inh``, else the name itself).
    """
    template, pop = _template(key)
    if template is None:
        return None
    m = METRICS[template]
    if pop is None:
        return m
    label = (population_label or (lambda p: _LABELS.get(p, p)))(pop)
    return Metric(m.label.replace("{pop}", label), m.unit, m.meaning.replace("{pop}", label))


def column_label(key: str) -> str:
    """A table header for ``key``: its label with the unit in brackets ("E rate (Hz)"), or the key."""
    m = metric_info(key)
    if m is None:
        return key
    return f"{m.label} ({m.unit})" if m.unit else m.label


def format_value(value, digits: int = 4) -> str:
    """A value for a table cell: floats to ``digits`` significant digits (no float noise such as
    4.500000000000001), NaN/None as "n/a", booleans as yes/no, lists joined with " – "."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return " – ".join(format_value(v, digits) for v in value)
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        value = float(value)
        if not math.isfinite(value):
            return "n/a" if math.isnan(value) else ("∞" if value > 0 else "−∞")
        return f"{value:.{digits}g}"
    return str(value)


def format_p(p, digits: int = 3) -> str:
    """A p-value: "< 1e-300" where it underflowed to 0 (no test here resolves smaller), else
    ``digits`` significant digits ("1.3e-26", "0.42"); "n/a" where there is none."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    p = float(p)
    if p <= 0.0:
        return "< 1e-300"
    return f"{p:.{digits}g}"


def format_mean_sd(mean, sd=None, n: int | None = None, digits: int = 3) -> str:
    """"mean ± sd", or the mean alone where there is no sd (one seed: no "± 0")."""
    if mean is None or (isinstance(mean, float) and not math.isfinite(mean)):
        return "n/a"
    text = f"{float(mean):.{digits}g}"
    if sd is not None and (n is None or n > 1) and math.isfinite(float(sd)):
        text += f" ± {float(sd):.2g}"
    return text


_SKIP = re.compile(r"^(welch|multitaper)_|^ei_|_fraction_per_cycle$|^van_rossum$")


def metric_rows(metrics: dict, *, population_label=None) -> list[tuple[str, str, str, str]]:
    """``[(label, value, unit, meaning), ...]`` of the scalar metrics of a run, in the order given.

    Nested entries (per-population spectra, lag, Van Rossum tables) are left out: the reports
    show them in tables of their own. A key the registry lacks is shown under its own name with
    no unit or meaning, so a new metric is never dropped silently.
    """
    rows = []
    for key, value in metrics.items():
        if isinstance(value, dict) or _SKIP.search(key):
            continue
        m = metric_info(key, population_label)
        if m is None:
            rows.append((key, format_value(value), "", ""))
        else:
            rows.append((m.label, format_value(value), m.unit, m.meaning))
    return rows
