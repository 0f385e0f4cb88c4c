"""Report of `ping_gamma` runs: does the E→I→E loop produce gamma?

One folder gives the full measures of that run: E and I rates, CV and LV of the ISIs, fraction
active, synchrony and STTC, Welch and multitaper spectra with the gamma peak, its power share
and Q factor, the E→I lag, the fraction of E cells firing per cycle, and the Van Rossum E–E /
E–I / I–I distances with a Kruskal–Wallis test; figures: raster, rates, PSD, spectrogram and the
distance distributions. Several folders (e.g. seeds) are compared side by side, with the
spectrum averaged over them.
"""

from pinglab_bio.workflow.analysis import single_runs_report

__all__ = ["analyze"]


def analyze(run_dirs, workdir):
    return single_runs_report(run_dirs, workdir, "ping_gamma")
