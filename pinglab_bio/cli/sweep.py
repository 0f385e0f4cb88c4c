"""pinglab-bio sweep PROTOCOL --grid KEY=V1,V2 ...: a grid of runs, one run folder per point.

The sweep folder holds sweep.json (the plan), points/<label>/ (one complete run folder
per finished point), results.csv, summary.csv, figures/sweep.png (one- and
two-parameter grids) and report.html. It is written in place, not atomically, so that an
interrupted sweep keeps its finished points; --resume runs only the missing ones.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import SettingsError

__all__ = ["COMMANDS", "register", "handle", "sweep_parser"]

COMMANDS = ("sweep",)
_NEEDED = ("model", "dt", "duration", "seed", "device")


def register(subparsers):
    """Add the ``sweep`` subcommand (its options are parsed in :func:`handle`)."""
    p = subparsers.add_parser("sweep", help="run a protocol over a grid of model values", add_help=False)
    p.add_argument("protocol", nargs="?")
    p.add_argument("args", nargs=argparse.REMAINDER)


def sweep_parser(prog: str = "pinglab-bio sweep PROTOCOL") -> argparse.ArgumentParser:
    """The sweep's own options; the protocol's flags (--device, --duration, ...) come after."""
    from ..workflow.protocol import SettingsParser
    from ..workflow.sweeps import DASK_MIN_CORES, DASK_MIN_POINTS

    # no abbreviations: --seed (the protocol's) must not be taken for --seeds (the sweep's)
    parser = SettingsParser(prog=prog, add_help=False, description=__doc__, allow_abbrev=False,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                        help="a model entry (as for --set) and its values; repeat for a product grid")
    parser.add_argument("--sweep-file", default=None, metavar="FILE.toml",
                        help="[grid] key = [values] and optional [settings] (protocol flags)")
    parser.add_argument("--seeds", default="1", help="seeds per point: seed, seed+1, ... (default 1)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the sweep in --out DIR: run only the points without a folder")
    parser.add_argument("--scheduler", default="auto",
                        help="where points run: 'auto' (the default: this process for fewer than "
                             f"{DASK_MIN_POINTS} points or on fewer than {DASK_MIN_CORES} cores, else an "
                             "embedded Dask LocalCluster; the choice is printed), 'local' (an embedded "
                             "Dask LocalCluster), tcp://host:port (an existing Dask scheduler) or 'none' "
                             "(this process, one point after another)")
    parser.add_argument("--workers", default=None,
                        help="worker processes of the local Dask cluster (default: CPU count); with "
                             "--scheduler auto it asks for that cluster")
    return parser


def _int(flag, text, minimum):
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise SettingsError(f"{flag} must be a whole number, got {text!r}. Fix: e.g. {flag} 2") from None
    if value < minimum:
        raise SettingsError(f"{flag} must be ≥ {minimum}, got {value}. Fix: e.g. {flag} 2")
    return value


def _settings_argv(settings: dict) -> list[str]:
    argv = []
    for key, value in settings.items():
        flag = "--" + str(key).replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is not False:
            argv += [flag, str(value)]
    return argv


def _check_grid(spec, grid: dict, params: dict | None = None):
    """Every value must be accepted by the model (unit, key) before anything is written, and
    every point must fit the step and memory limits."""
    from brian2.units.fundamentalunits import have_same_dimensions

    from ..model.spec import check_run_settings
    from ..sim.estimate import check_run_size, estimate_run
    from ..units import parse_quantity

    def check_size(point_spec):
        if params is None:
            return
        dt_q, dur_q = check_run_settings(params["dt"], params["duration"])
        check_run_size(estimate_run(point_spec, dt=dt_q, duration=dur_q,
                                    portable=bool(params.get("portable_random"))),
                       allow_large=bool(params.get("allow_large")))

    for key, values in grid.items():
        check_size(spec.with_overrides({key: values[0]}))  # full validation of the key and its first value
        try:
            first = parse_quantity(values[0])
        except ValueError:
            first = None
        for value in values[1:]:
            if first is None:
                check_size(spec.with_overrides({key: value}))
                continue
            try:
                q = parse_quantity(value)
            except ValueError as err:
                raise SettingsError(f"--grid {key}: {err}. Fix: give every value a unit like {values[0]}") \
                    from None
            if not have_same_dimensions(q, first):
                raise SettingsError(f"--grid {key}: value {value!r} has another unit than {values[0]!r}. "
                                    f"Fix: give every value the unit of {values[0]}")
            if key.split(".")[-1].startswith("n_"):
                check_size(spec.with_overrides({key: value}))


def handle(ns) -> int:
    """Parse, check, then run the sweep; exit 0 when every point is finished."""
    from ..paths import list_protocols
    from ..provenance import short_hash, utc_stamp
    from ..runs.folder import read_json, write_json
    from ..workflow.protocol import load_protocol, parse_protocol_args
    from ..workflow.sweeps import grid_points, load_sweep_file, parse_grid

    if ns.protocol in (None, "-h", "--help"):
        sweep_parser().print_help()
        print("protocols: " + ", ".join(list_protocols()))
        return 0 if ns.protocol else 2
    module = load_protocol(ns.protocol)
    name = module.PROTOCOL_NAME
    prog = f"pinglab-bio sweep {name}"
    own, rest = sweep_parser(prog).parse_known_args(ns.args)
    if "-h" in rest or "--help" in rest:
        sweep_parser(prog).print_help()
        return 0
    missing = [k for k in _NEEDED if k not in module.PARAMETERS]
    lists = [k for k, p in module.PARAMETERS.items() if p.kind == "quantity_list"]
    if missing or lists:
        raise SettingsError(f"protocol '{name}' cannot be swept: it "
                            + (f"lacks the simulation settings {', '.join(missing)}" if missing
                               else f"is itself a sweep (it takes {', '.join(lists)})")
                            + ". Fix: sweep a single-run protocol, e.g. pinglab-bio sweep ping_gamma "
                              "--grid tau_gaba=4.5ms,9ms")
    grid = parse_grid(own.grid)
    settings = {}
    if own.sweep_file:
        file_grid, settings = load_sweep_file(own.sweep_file)
        for key in file_grid:
            if key in grid:
                raise SettingsError(f"'{key}' is in both --grid and {own.sweep_file}. Fix: keep one")
        grid = {**file_grid, **grid}
    if not grid:
        raise SettingsError("a sweep needs at least one --grid KEY=V1,V2 or a --sweep-file. "
                            "Fix: e.g. --grid tau_gaba=4.5ms,6ms,9ms")
    params, options = parse_protocol_args(module, _settings_argv(settings) + rest, prog)
    seeds = _int("--seeds", own.seeds, 1)
    from ..model.spec import MAX_SEED

    if params["seed"] + seeds - 1 > MAX_SEED:
        raise SettingsError(f"--seed {params['seed']} with --seeds {seeds} goes past the largest seed "
                            f"{MAX_SEED}. Fix: use a smaller --seed or fewer --seeds")
    workers = None if own.workers is None else _int("--workers", own.workers, 1)
    scheduler = None if own.scheduler == "none" else own.scheduler
    if own.workers is not None and scheduler not in ("local", "auto"):
        raise SettingsError(f"--workers sets the size of the local Dask cluster, but --scheduler is "
                            f"{own.scheduler!r}. Fix: drop --workers or use --scheduler local")
    spec = params["model_spec"]
    _check_grid(spec, grid, params)
    from ..workflow.sweeps import check_scheduler

    check_scheduler(scheduler)
    points, units = grid_points(grid, seed=params["seed"], seeds=seeds)
    plan = {"protocol": name, "model": spec.name, "model_sha256": spec.sha256,
            "base_overrides": {k: str(v) for k, v in spec.overrides.items()},
            "grid": grid, "units": units, "seeds": seeds, "seed": params["seed"],
            "settings": {k: str(params[k]) for k in ("dt", "duration", "transient", "device", "target",
                                                     "threads", "portable_random") if k in params},
            "points": [p.label for p in points]}
    if options["out"]:
        out = Path(options["out"])
    else:
        if own.resume:
            raise SettingsError("--resume needs the sweep folder. Fix: add --out DIR (the folder of "
                                "the interrupted sweep)")
        out = Path("runs") / f"sweep-{name}-{utc_stamp()}-{short_hash(plan)}"
    if own.resume:
        if not (out / "sweep.json").is_file():
            raise SettingsError(f"--resume: {out} holds no sweep (no sweep.json). Fix: pass the --out "
                                "folder of an earlier sweep, or drop --resume")
        old = read_json(out / "sweep.json")
        changed = [k for k in plan if old.get(k) != plan[k]]
        if changed:
            raise SettingsError(f"--resume: the sweep in {out} was run with other {', '.join(changed)}. "
                                "Fix: repeat the original command with --resume, or use a new --out")
    elif out.exists():
        raise SettingsError(f"sweep folder {out} already exists. Fix: add --resume to finish it, or "
                            "choose another --out")
    log = (lambda *a, **k: None) if options["quiet"] else (lambda *a, **k: print(*a, file=sys.stderr, **k))
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SettingsError(f"cannot create the sweep folder {str(out)!r} ({err.strerror or err}). "
                            "Fix: pass an --out in a folder you can write to") from None
    if not own.resume:
        write_json(out / "sweep.json", plan)
    try:
        return _run_and_summarize(spec, points, out, params, name, grid, units, seeds, log, scheduler,
                                  workers)
    except BaseException:
        if created and not any((out / "points").glob("*/metrics.json")):
            import shutil

            shutil.rmtree(out, ignore_errors=True)  # nothing finished: leave no sweep folder behind
        raise


def _run_and_summarize(spec, points, out, params, name, grid, units, seeds, log, scheduler, workers) -> int:
    from ..workflow.sweep_summary import summarize_sweep
    from ..workflow.sweeps import run_points

    log(f"sweep {name}: {len(points)} points ({' × '.join(f'{k} {len(v)}' for k, v in grid.items())}"
        f"{f' × {seeds} seeds' if seeds > 1 else ''}) on {params['device']} → {out}")
    from ..workflow.protocol import simulate_kwargs

    rows = run_points(spec, points, out, sim_kwargs=simulate_kwargs(params), protocol=name,
                      data_format=params["data_format"], log=log, scheduler=scheduler, workers=workers)
    keys = list(grid)
    x = keys[0]
    label = f"{x} ({units[x]})" if units[x] else x
    if len(keys) <= 2:
        summarize_sweep(rows, x, out, xlabel=label, group=keys[1] if len(keys) == 2 else None,
                        title=f"{spec.name}: {' × '.join(keys)}")
        print(f"report:  {out / 'report.html'}")
    else:
        from ..workflow.sweep_summary import write_table

        write_table(rows, out / "results.csv")
    print(f"{len(rows)} points finished")
    print(f"results: {out / 'results.csv'}")
    if (out / "figures" / "sweep.png").is_file():
        print(f"plot:    {out / 'figures' / 'sweep.png'}")
    return 0
