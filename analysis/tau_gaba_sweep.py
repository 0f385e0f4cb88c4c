"""Report of a `tau_gaba_sweep`: gamma frequency, rates and spectra against tau_GABA.

Each point's tau_GABA is read from its run.json (the model parameters as run); rows are means
± sd over seeds, spectra are averaged over seeds per value.
"""

from pinglab_bio.workflow.analysis import sweep_report

__all__ = ["analyze", "tau_gaba_ms"]


def tau_gaba_ms(info: dict) -> float:
    return float(info["parameters"]["shared"]["tau_gaba"]["si_value"]) * 1e3


def analyze(run_dirs, workdir):
    return sweep_report(
        run_dirs, workdir, x_of=tau_gaba_ms, xlabel="tau_GABA (ms)", title="gamma against tau_GABA"
    )
