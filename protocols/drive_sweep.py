"""Does inhibition clamp the E rate? The input–output curve of a PING network against the same
network with E→I removed.

For each tonic drive level of the E population, E and I rates of the intact PING network and of
the network with the E→I pathway removed (I silent, no rhythm). Reference: as input grows, an
uninhibited network's E rate climbs steeply, while PING keeps E within a few Hz to tens of Hz
because each E volley recruits inhibition. Writes one run folder per point, a table and a plot.
"""

from pinglab_bio.units import format_quantity
from pinglab_bio.workflow.protocol import Param, main, simulate_kwargs, simulation_parameters
from pinglab_bio.workflow.sweep_summary import summarize_sweep
from pinglab_bio.workflow.sweeps import Point, run_points

PARAMETERS = {
    **simulation_parameters(model="ping_coba", dt="0.1 ms", duration="1 s", seed=0),
    "drive_values": Param("0.01uS,0.02uS,0.03uS,0.04uS,0.06uS,0.08uS",
                          "comma-separated mean tonic drive of E (the model's drive.exc.mean)",
                          kind="quantity_list"),
    "drive_key": Param("drive.exc.mean", "model entry that the drive values set"),
}


def check(params):
    from pinglab_bio.errors import SettingsError

    spec = params["model_spec"]
    if "exc_to_inh" not in spec.pathways:
        raise SettingsError(f"model '{spec.name}' has no exc_to_inh pathway to remove. "
                            "Fix: pick a PING model such as ping_coba")
    # Fail now, not after the first simulations, if a drive value has the wrong unit.
    for value in params["drive_values"]:
        spec.with_overrides({params["drive_key"]: format_quantity(value)})


def run(params, out, log=print):
    points = []
    for condition, extra in (("PING", {}), ("no E→I", {"exc_to_inh": "off"})):
        for value in params["drive_values"]:
            text = format_quantity(value)
            points.append(Point(label=f"{'ping' if not extra else 'no_ei'}-drive={text.replace(' ', '')}",
                                overrides={params["drive_key"]: text, **extra}, seed=params["seed"],
                                values={"condition": condition, "drive": text,
                                        "drive_si": float(value)}))
    rows = run_points(params["model_spec"], points, out, sim_kwargs=simulate_kwargs(params),
                      protocol="drive_sweep", data_format=params["data_format"], log=log)
    unit = str(params["drive_values"][0].get_best_unit())
    scale = float(1 * params["drive_values"][0].get_best_unit())
    for row in rows:
        row["drive_value"] = row["drive_si"] / scale
    summary = summarize_sweep(rows, "drive_value", out, xlabel=f"E drive ({unit})", group="condition",
                              title=f"{params['model_spec'].name}: input–output with and without E→I",
                              panels=(("rate_exc_hz", "E rate (Hz)"), ("rate_inh_hz", "I rate (Hz)"),
                                      ("gamma_power_share", "gamma power share")))
    from pinglab_bio.runs.folder import write_json

    write_json(out / "metrics.json", summary)
    lines = [f"drive ({unit})   PING E / I rate (Hz)   no E→I E / I rate (Hz)"]
    ping = [r for r in summary["table"] if r["condition"] == "PING"]
    noei = [r for r in summary["table"] if r["condition"] != "PING"]
    for a, b in zip(ping, noei, strict=True):
        lines.append(f"{a['drive_value']:>10g}   {a['rate_exc_hz']:>8.2f} / {a['rate_inh_hz']:<8.2f}"
                     f"     {b['rate_exc_hz']:>8.2f} / {b['rate_inh_hz']:<8.2f}")
    return {"summary": "\n".join(lines), "metrics": summary}


if __name__ == "__main__":
    raise SystemExit(main(__file__))
