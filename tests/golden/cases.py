"""Golden outputs: fixed runs whose spikes and metrics must not change when code is moved.

Each case returns a JSON-ready dict. Spikes are stored as counts and SHA-256 digests of the
exact bytes (indices as int64, times in seconds as float64, sorted by time then index), and
metrics as the floats themselves (JSON keeps every bit of a float64). ``record.py`` writes
them; ``tests/test_golden.py`` recomputes and compares.

Refresh them only for a change that is meant to alter results, and say so in the commit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def spike_record(result) -> dict:
    out = {}
    for pop in result.populations:
        idx, t = result.spike_arrays(pop)
        out[pop] = {"n": int(len(t)), "sha256": _digest(idx.astype(np.int64), t.astype(np.float64))}
    return out


def _metrics(m: dict) -> dict:
    return json.loads(json.dumps(m))


def ping_gamma(seed: int, device: str) -> dict:
    from pinglab_bio import simulate

    result = simulate("ping_coba", dt="0.1 ms", duration="1 s", seed=seed, device=device)
    return {"spikes": spike_record(result), "metrics": _metrics(result.metrics)}


def sweep(tmp: Path) -> dict:
    """Three tau_GABA points on the runtime, through the sweep engine, in this process."""
    from pinglab_bio import load_model
    from pinglab_bio.workflow.sweeps import grid_points, run_points

    spec = load_model("ping_coba")
    points, _ = grid_points({"tau_gaba": ["6 ms", "9 ms", "12 ms"]}, seed=0)
    rows = run_points(spec, points, tmp, sim_kwargs={"duration": "0.5 s"}, protocol="ping_gamma",
                      log=lambda *a, **k: None, scheduler=None)
    from pinglab_bio import load_run

    out = {}
    for point in points:
        run = load_run(tmp / "points" / point.label)
        out[point.label] = {"spikes": spike_record(run), "metrics": _metrics(run.metrics)}
    out["_rows"] = _metrics([{k: v for k, v in r.items()} for r in rows])
    return out


def ei_readout(tmp: Path) -> dict:
    """A short surrogate-gradient training of the E/I classifier, checked in Brian2."""
    import torch

    from pinglab_bio.train.loop import TrainConfig, train_classifier

    torch.set_num_threads(1)  # one reduction order, whatever the machine
    config = TrainConfig(epochs=1, limit=128, batch_size=32, seed=0, device="cpu")
    result = train_classifier(config, tmp / "train", log=lambda *a: None, brian2_check=True)
    net = result["net"]
    weights = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    return {"metrics": {k: v for k, v in _metrics(result["metrics"]).items()
                        if not k.endswith("wall_s")},
            "history": [{k: v for k, v in row.items() if k != "wall_s"} for row in result["history"]],
            "weights_sha256": {k: _digest(v) for k, v in sorted(weights.items())}}


def dt_stability(tmp: Path) -> dict:
    """The smallest grid of the dt_stability protocol: two steps, one seed, one variant."""
    from pinglab_bio.cli.app import main

    folder = tmp / "dt"
    code = main(["run", "dt_stability", "--dt-values", "0.1ms,0.25ms", "--seeds", "1",
                 "--variants", "model", "--duration", "0.5s", "--out", str(folder), "--quiet"])
    assert code == 0
    metrics = json.loads((folder / "metrics.json").read_text())
    from pinglab_bio import load_run

    points = {}
    for p in sorted((folder / "points").iterdir()):
        run = load_run(p)
        points[p.name] = {"spikes": spike_record(run), "metrics": _metrics(run.metrics)}
    return {"metrics": metrics, "points": points}


CASES = {
    "ping_gamma_runtime_seed0": lambda tmp: ping_gamma(0, "runtime"),
    "ping_gamma_runtime_seed1": lambda tmp: ping_gamma(1, "runtime"),
    "ping_gamma_cpp_seed0": lambda tmp: ping_gamma(0, "cpp_standalone"),
    "ping_gamma_cpp_seed1": lambda tmp: ping_gamma(1, "cpp_standalone"),
    "sweep_3_points": sweep,
    "ei_readout_short": ei_readout,
    "dt_stability_smallest": dt_stability,
}


def path_of(name: str) -> Path:
    return HERE / f"{name}.json"
