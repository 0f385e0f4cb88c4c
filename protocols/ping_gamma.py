"""Does the E→I→E loop of a conductance-based LIF network produce a gamma rhythm (30–100 Hz)?

One simulation of the default PING model (800 E, 200 I, 1 s at dt 0.1 ms): E and I rates, the
gamma peak of the E population rate (Welch PSD, parabolic refinement) and its power share in
30–100 Hz, with a raster, population rates, the spectrum and an HTML report.
"""

from pinglab_bio.runs.result import describe, simulate, write_run
from pinglab_bio.workflow.protocol import main, simulate_kwargs, simulation_parameters

PARAMETERS = simulation_parameters(model="ping_coba", dt="0.1 ms", duration="1 s", seed=0)


def run(params, out, log=print):
    log(f"simulating {params['model_spec'].name} ({params['model_spec'].n_neurons} neurons, "
        f"{params['duration']} at dt {params['dt']}, {params['device']})")
    quiet = getattr(log, "quiet", False)  # --quiet: no progress bar either
    result = simulate(params["model_spec"], progress=not quiet, **simulate_kwargs(params))
    write_run(result, out, protocol="ping_gamma", data_format=params["data_format"])
    return {"summary": describe(result), "metrics": result.metrics}


if __name__ == "__main__":
    raise SystemExit(main(__file__))
