"""Report of a `drive_sweep`: E and I rates and gamma share against the E drive, PING against
the same network without E→I (does inhibition clamp E?).

The drive of each point is read from its run.json (``drive_exc.mean``, shown in µS or nA); the
condition is "no E→I" where the run had no exc_to_inh pathway.
"""

from pinglab_bio.workflow.analysis import sweep_report

__all__ = ["analyze", "drive_value", "condition"]


def drive_value(info: dict) -> float:
    mean = info["parameters"]["drive_exc"]["mean"]
    scale = 1e6 if mean.get("si_unit") == "S" else 1e9 if mean.get("si_unit") == "A" else 1.0
    return float(mean["si_value"]) * scale


def condition(info: dict) -> str:
    return "PING" if "exc_to_inh" in info["parameters"] else "no E→I"


def analyze(run_dirs, workdir):
    return sweep_report(
        run_dirs,
        workdir,
        x_of=drive_value,
        group_of=condition,
        xlabel="E drive (µS or nA)",
        title="input–output with and without E→I",
        panels=(
            ("rate_exc_hz", "E rate (Hz)"),
            ("rate_inh_hz", "I rate (Hz)"),
            ("gamma_power_share", "gamma power share"),
        ),
    )
