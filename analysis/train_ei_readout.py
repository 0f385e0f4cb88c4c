"""Report of a `pinglab-bio train ei_readout` run folder: training curves, test accuracy in torch and
in Brian2, hidden firing rates, settings and provenance.

Input: folders written by `pinglab-bio train ei_readout` (run.json with protocol `train_ei_readout`,
metrics.json, curves.json where the task records epochs). Several folders (e.g. seeds) are
tabled side by side, their curves drawn together.
"""

from pinglab_bio.report.training import training_report

__all__ = ["analyze"]


def analyze(run_dirs, workdir):
    return training_report(run_dirs, workdir, "ei_readout")
