"""How does the gamma frequency of a PING network depend on the GABA decay time tau_GABA?

The inhibitory volley silences E for a few tau_GABA, so the period should grow and the frequency
fall as tau_GABA grows (reference: about 67.5 / 59 / 48.5 / 43 / 33 Hz at 4.5 / 6 / 9 / 12 / 18
ms), with the E rate falling alongside. Writes one run folder per point under points/, a table
(results.csv) and a plot of frequency and E rate against tau_GABA.
"""

import numpy as np

from pinglab_bio.report.figures import population_label
from pinglab_bio.report.references import TAU_GABA_GAMMA
from pinglab_bio.workflow.protocol import Param, main, simulate_kwargs, simulation_parameters
from pinglab_bio.workflow.sweep_summary import row_populations, summarize_sweep
from pinglab_bio.workflow.sweeps import Point, run_points

PARAMETERS = {
    **simulation_parameters(model="ping_coba", dt="0.1 ms", duration="1 s", seed=0),
    "tau_gaba_values": Param("4.5ms,6ms,9ms,12ms,18ms", "comma-separated tau_GABA values",
                             kind="quantity_list", unit="s"),
    "seeds": Param(1, "seeds per point (seed, seed+1, ...), averaged in the table", kind="int"),
}


def check(params):
    from pinglab_bio.errors import SettingsError

    if params["seeds"] < 1:
        raise SettingsError(f"--seeds must be ≥ 1, got {params['seeds']}. Fix: e.g. --seeds 3")
    if "tau_gaba" not in params["model_spec"].parameters:
        raise SettingsError(f"model '{params['model_spec'].name}' has no shared parameter tau_gaba. "
                            "Fix: pick a PING model such as ping_coba")


def run(params, out, log=print):
    points = [Point(label=f"tau_gaba={float(tau) * 1e3:g}ms-seed{params['seed'] + s}",
                    overrides={"tau_gaba": f"{float(tau) * 1e3!r} ms"}, seed=params["seed"] + s,
                    values={"tau_gaba_ms": round(float(tau) * 1e3, 9)})
              for tau in params["tau_gaba_values"] for s in range(params["seeds"])]
    rows = run_points(params["model_spec"], points, out, sim_kwargs=simulate_kwargs(params),
                      protocol="tau_gaba_sweep", data_format=params["data_format"], log=log)
    summary = summarize_sweep(rows, "tau_gaba_ms", out, xlabel="tau_GABA (ms)",
                              title=f"{params['model_spec'].name}: gamma against tau_GABA",
                              references={"gamma_peak_hz": TAU_GABA_GAMMA})
    freqs = [r["gamma_peak_hz"] for r in summary["table"]]
    rhythm = rows[0]["rhythm_population"]  # E for PING models, I for an I-only (ING) model
    rates = [r[f"rate_{rhythm}_hz"] for r in summary["table"]]
    metrics = {**summary, "frequency_falls_monotonically": bool(np.all(np.diff(freqs) < 0))}
    if len(freqs) >= 2:
        slope, intercept = np.polyfit(freqs, rates, 1)
        r2 = float(np.corrcoef(freqs, rates)[0, 1] ** 2)
        metrics[f"rate_{rhythm}_vs_gamma_fit"] = {"intercept_hz": float(intercept), "slope": float(slope),
                                                  "r2": r2}
    from pinglab_bio.runs.folder import write_json

    write_json(out / "metrics.json", metrics)
    pops = row_populations(rows)

    def rate(value):
        return "n/a" if value is None else f"{value:.2f}"

    lines = ["tau_GABA (ms)   gamma peak (Hz)" + "".join(f"   {population_label(p) + ' rate (Hz)':>11}"
                                                      for p in pops)]
    lines += [f"{r['tau_gaba_ms']:>12g}   {r['gamma_peak_hz']:>15.1f}"
              + "".join(f"   {rate(r.get(f'rate_{p}_hz')):>11}" for p in pops) for r in summary["table"]]
    lines.append("frequency falls monotonically: "
                 + ("yes" if metrics["frequency_falls_monotonically"] else "NO"))
    if f"rate_{rhythm}_vs_gamma_fit" in metrics:
        fit = metrics[f"rate_{rhythm}_vs_gamma_fit"]
        lines.append(f"{population_label(rhythm)} rate ≈ {fit['intercept_hz']:.2f} + "
                     f"{fit['slope']:.3f}·f_gamma (R² {fit['r2']:.3f})")
    return {"summary": "\n".join(lines), "metrics": metrics}


if __name__ == "__main__":
    raise SystemExit(main(__file__))
