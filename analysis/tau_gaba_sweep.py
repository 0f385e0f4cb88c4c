"""Report of a `tau_gaba_sweep`: gamma frequency, rates and spectra against tau_GABA.

Each point's tau_GABA is read from its run.json (the model parameters as run); rows are means
± sd over seeds, spectra are averaged over seeds per value. The frequency panel draws the
published curve of a trained PING network (REFERENCES.md §1: 67.5 / 59 / 48.5 / 43 / 33 Hz at
4.5 / 6 / 9 / 12 / 18 ms) beside this model's.
"""

from pinglab_bio.report.references import TAU_GABA_GAMMA
from pinglab_bio.workflow.analysis import sweep_report

__all__ = ["analyze", "tau_gaba_ms"]


def tau_gaba_ms(info: dict) -> float:
    """tau_GABA of a point in ms (rounded to 1e-9 ms, so 4.5 ms is 4.5 and not 4.500000000000001)."""
    return round(float(info["parameters"]["shared"]["tau_gaba"]["si_value"]) * 1e3, 9)


def analyze(run_dirs, workdir):
    return sweep_report(
        run_dirs, workdir, x_of=tau_gaba_ms, xlabel="tau_GABA (ms)", title="gamma against tau_GABA",
        references={"gamma_peak_hz": TAU_GABA_GAMMA},
    )
