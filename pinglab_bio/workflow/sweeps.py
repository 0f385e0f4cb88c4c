"""Parameter sweeps: one run folder per point, compiled once per structure, local or on Dask.

A sweep is a list of :class:`Point` (model overrides + seed). :func:`run_points` runs the points
that have no finished folder under ``out/points/<label>/`` yet, and never touches the ones that
have (so an interrupted sweep resumes where it stopped). Every point folder is written
atomically from a run that reached its end (an interrupted simulation raises
:class:`~pinglab_bio.errors.RunInterrupted` and is never saved), the rows returned are read
back from the point folders, and partial folders of killed runs are removed first (and named
in the log).

On standalone devices the points are grouped by what shapes the generated code: dt, sizes,
connectivity, equations, delays (any override :func:`~pinglab_bio.sim.build.sweep_targets` calls
structural) and the seed. Each group is built and compiled once, with the swept values as
state variables; each point then reruns the same binary with its values passed as ``run_args``.
On the runtime device every point is simply simulated.

Groups (split into chunks of points when there are more workers than groups) run in parallel
through Dask ``distributed``: an embedded ``LocalCluster``, or an existing cluster given by its
scheduler address. Each worker process claims its own build folder. ``scheduler="auto"`` (the
command line's default) picks this process or an embedded cluster by :func:`choose_scheduler`.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SettingsError
from ..model.spec import ModelSpec, apply_overrides, parse_model
from ..runs.folder import atomic_run_dir, read_json, remove_stale_partials
from ..runs.result import check_simulation, measure_run, simulate, structure_key, write_run
from ..sim.session import check_completed, open_session, read_monitors

__all__ = ["Point", "run_points", "parse_grid", "grid_points",
           "load_sweep_file", "point_done", "check_scheduler", "choose_scheduler", "usable_cores",
           "DASK_MIN_POINTS", "DASK_MIN_CORES", "SIM_KEYS"]

#: keyword arguments of :func:`pinglab_bio.simulate` a sweep passes through
SIM_KEYS = ("dt", "duration", "transient", "device", "target", "threads", "portable_random", "allow_large")

# One Brian2 device per process: Dask workers with several threads take turns.
_SIMULATION_LOCK = threading.Lock()

#: ``scheduler="auto"`` starts an embedded Dask cluster only for at least this many points ...
DASK_MIN_POINTS = 4
#: ... on at least this many usable cores (benchmarks/bench_scheduler.py: on 2 cores the cluster's
#: start-up, a Python with Brian2 per worker, was never won back)
DASK_MIN_CORES = 3


@dataclass(frozen=True)
class Point:
    """One simulation of a sweep: a label, model overrides and a seed.

    ``settings`` overrides run settings for this point (``{"dt": 0.05*ms}``: a dt scan);
    ``info`` adds entries to the point's run.json.
    """

    label: str
    overrides: dict = field(default_factory=dict)
    seed: int = 0
    values: dict = field(default_factory=dict)  # what the table shows for this point
    settings: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------------
# grids


_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_.=+-]")


def parse_grid(items) -> dict[str, list[str]]:
    """``["tau_gaba=4.5ms,6ms", ...]`` → ``{"tau_gaba": ["4.5ms", "6ms"]}``, checked."""
    grid = {}
    for item in items:
        key, sep, values = str(item).partition("=")
        key = key.strip()
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key or not vals:
            raise SettingsError(f"--grid needs KEY=V1,V2,..., got {item!r}. "
                                "Fix: e.g. --grid tau_gaba=4.5ms,6ms,9ms")
        if key in grid:
            raise SettingsError(f"--grid names '{key}' twice. Fix: give all its values in one --grid")
        if len(set(vals)) != len(vals):
            raise SettingsError(f"--grid {key} repeats a value ({','.join(vals)}). Fix: list each value once")
        grid[key] = vals
    return grid


def load_sweep_file(path) -> tuple[dict[str, list[str]], dict]:
    """Read a sweep file: ``[grid]`` (key = [values]) and optional ``[settings]``.

    Example::

        [grid]
        tau_gaba = ["4.5 ms", "6 ms", "9 ms"]
        "drive.exc.mean" = ["0.03 uS", "0.04 uS"]

        [settings]          # any flag of the protocol, e.g.
        duration = "0.5 s"
        device = "cpp_standalone"
    """
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"sweep file {str(path)!r} does not exist. Fix: pass the path of a .toml file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: not a text file (not UTF-8), so not a TOML sweep file. Fix: pass the "
                            "path of a .toml file") from None
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"{path}: not valid TOML ({err}). Fix: correct the syntax at that line") from None
    unknown = set(raw) - {"grid", "settings"}
    if unknown:
        raise SettingsError(f"{path}: unknown table(s) {', '.join(sorted(unknown))}. "
                            "Fix: use [grid] and optionally [settings]")
    grid_raw = raw.get("grid")
    if not isinstance(grid_raw, dict) or not grid_raw:
        raise SettingsError(f"{path}: needs a [grid] table with at least one key = [values]. "
                            "Fix: e.g. tau_gaba = [\"4.5 ms\", \"9 ms\"]")
    items = []
    for key, values in grid_raw.items():
        if not isinstance(values, list) or not values:
            raise SettingsError(f"{path}: [grid] {key} must be a list of values, got {values!r}. "
                                f"Fix: e.g. {key} = [\"4.5 ms\", \"9 ms\"]")
        items.append(f"{key}=" + ",".join(str(v) for v in values))
    settings = raw.get("settings", {})
    if not isinstance(settings, dict):
        raise SettingsError(f"{path}: [settings] must be a table. Fix: e.g. duration = \"0.5 s\"")
    return parse_grid(items), settings


def _display(key: str, texts: list[str]):
    """Numbers for the table and plot, in the unit of the first value."""
    from ..units import parse_quantity

    values = [parse_quantity(t) for t in texts]
    first = values[0]
    try:
        unit = first.get_best_unit()
        unit_name = str(unit)
        scale = float(1 * unit)
    except Exception:
        unit_name, scale = "", 1.0
    if unit_name in ("1", "Unit(1)", ""):
        unit_name, scale = "", 1.0
    return [float(f"{float(v) / scale:.12g}") for v in values], unit_name


def grid_points(grid: dict[str, list[str]], *, seed: int = 0, seeds: int = 1) -> tuple[list[Point], dict]:
    """Every combination of the grid (first key varies slowest) × seeds; and each key's unit."""
    numbers, units = {}, {}
    for key, texts in grid.items():
        numbers[key], units[key] = _display(key, texts)
    points = []
    keys = list(grid)
    for combo in itertools.product(*(range(len(grid[k])) for k in keys)):
        for s in range(seeds):
            overrides = {k: grid[k][i] for k, i in zip(keys, combo, strict=True)}
            text = "__".join(f"{k}={grid[k][i].replace(' ', '')}" for k, i in zip(keys, combo, strict=True))
            label = _LABEL_UNSAFE.sub("_", text) + f"-seed{seed + s}"
            values = {k: numbers[k][i] for k, i in zip(keys, combo, strict=True)}
            points.append(Point(label=label, overrides=overrides, seed=seed + s, values=values))
    return points, units


# ----------------------------------------------------------------------------------------
# running


def point_done(out: Path, point: Point) -> bool:
    """True when the point's run folder is complete (written atomically, so present = whole)."""
    folder = Path(out) / "points" / point.label
    return (folder / "metrics.json").is_file() and (folder / "run.json").is_file()


def _row(point: Point, metrics: dict) -> dict:
    return {"point": point.label, **point.values, "seed": point.seed, **metrics}


def _spec_with(source: str, path: str | None, overrides: dict) -> ModelSpec:
    raw = apply_overrides(tomllib.loads(source), overrides, path or "model")
    return parse_model(raw, source=source, path=path, overrides=overrides)


def _compiles_once(device: str) -> bool:
    """Devices whose compiled project can be rerun with new values (brian2genn cannot)."""
    from ..sim.devices import lookup

    return lookup(device).compiles_once


def _structure_of(spec: ModelSpec, point: Point, device: str) -> tuple[tuple, tuple]:
    """(structural overrides, swept keys) of a point: what forces a build, and what does not."""
    from ..sim.build import sweep_targets

    if not _compiles_once(device):
        return tuple(sorted(point.overrides.items())), ()
    structural, swept = [], []
    for key, value in sorted(point.overrides.items()):
        if sweep_targets(spec, key) is None:
            structural.append((key, value))
        else:
            swept.append(key)
    return tuple(structural), tuple(swept)


def _write_point(result, out: Path, point: Point, protocol: str, data_format: str):
    folder = Path(out) / "points" / point.label
    if point_done(out, point):
        return folder  # finished by someone else meanwhile: never rewrite it
    with atomic_run_dir(folder) as tmp:
        write_run(result, tmp, protocol=protocol, data_format=data_format, report=False, figures=False,
                  extra_info={"sweep_point": {"label": point.label, "values": point.values,
                                              "overrides": point.overrides}, **point.info})
    return folder


def _run_task(task: dict) -> list[dict]:
    """Run one group of points (one build on standalone devices); return their rows.

    A plain function of plain data, so that Dask can ship it to any worker.
    """
    with _SIMULATION_LOCK:
        return _run_task_locked(task)


def _run_task_locked(task: dict) -> list[dict]:
    points = [Point(**p) for p in task["points"]]
    sim = task["sim"]
    out = Path(task["out"])
    base = task["base_overrides"]
    rows = []
    if not _compiles_once(sim["device"]):
        for point in points:
            spec = _spec_with(task["source"], task["path"], {**base, **point.overrides})
            result = simulate(spec, seed=point.seed, **sim)
            _write_point(result, out, point, task["protocol"], task["data_format"])
            rows.append(_row(point, result.metrics))
        return rows

    from brian2.devices.device import get_device

    from ..sim.build import build_network

    structural = dict(task["structural"])
    swept = task["swept"]
    first = _spec_with(task["source"], task["path"], {**base, **points[0].overrides})
    spec, dt_q, dur_q, transient_q, seed = check_simulation(
        first, dt=sim["dt"], duration=sim["duration"], seed=points[0].seed, transient=sim["transient"],
        device=sim["device"], target=sim["target"], threads=sim["threads"],
        portable_random=sim["portable_random"], allow_large=sim.get("allow_large", False))
    key = structure_key(first, dt_q, dur_q, portable=sim["portable_random"], sweepable=swept,
                        overrides={**base, **structural}) + f"|seed={seed}"
    with open_session(sim["device"], seed=seed, target=sim["target"], build_key=key, threads=sim["threads"],
                      portable=sim["portable_random"]) as session:
        t0 = time.perf_counter()
        built = build_network(first, dt=dt_q, seed=seed, portable=sim["portable_random"], duration=dur_q,
                              sweepable=swept, apply_run_args=get_device().apply_run_args)
        built.network.run(dur_q, namespace={})
        build_s = time.perf_counter() - t0
        session.compile()
        compile_s = session.timers["compile_s"]
        for k, point in enumerate(points):
            spec = _spec_with(task["source"], task["path"], {**base, **point.overrides})
            t0 = time.perf_counter()
            session.run_binary(built.run_args({key_: point.overrides[key_] for key_ in swept}),
                               results=f"results-{point.label}")
            check_completed(what=f"the simulation of point {point.label}")
            raw = read_monitors(built)
            run_s = time.perf_counter() - t0
            timings = {"build_s": build_s if k == 0 else 0.0, "compile_s": compile_s if k == 0 else 0.0,
                       "run_s": run_s}
            result = measure_run(spec, raw, dt_q=dt_q, dur_q=dur_q, transient_q=transient_q, seed=seed,
                                 device=sim["device"], target=sim["target"], timings=timings,
                                 threads=sim["threads"], portable_random=sim["portable_random"],
                                 portable_bytes=built.portable_bytes, build_dir=session.build_dir,
                                 extra_info={"compiled_once": {"points_in_build": len(points),
                                                               "swept_run_args": list(swept)}})
            _write_point(result, out, point, task["protocol"], task["data_format"])
            rows.append(_row(point, result.metrics))
            _remove_results(session.build_dir / f"results-{point.label}")
    return rows


def _remove_results(folder: Path):
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _tasks(spec: ModelSpec, points: list[Point], out: Path, sim: dict, protocol: str, data_format: str,
           workers: int) -> list[dict]:
    groups: dict[tuple, list[Point]] = {}
    swept_of = {}
    for point in points:
        structural, swept = _structure_of(spec, point, sim["device"])
        settings = tuple(sorted((k, repr(v)) for k, v in point.settings.items()))
        gkey = (structural, swept, point.seed if _compiles_once(sim["device"]) else 0, settings)
        groups.setdefault(gkey, []).append(point)
        swept_of[gkey] = swept
    chunks = []
    for gkey, members in groups.items():
        if not _compiles_once(sim["device"]):
            parts = [[p] for p in members]
        else:
            n = max(1, min(len(members), workers // max(1, len(groups))))
            parts = [members[i::n] for i in range(n)]
        for part in parts:
            chunks.append({
                "source": spec.source, "path": spec.path, "base_overrides": dict(spec.overrides),
                "structural": list(gkey[0]), "swept": list(swept_of[gkey]),
                "points": [{"label": p.label, "overrides": p.overrides, "seed": p.seed, "values": p.values,
                            "settings": p.settings, "info": p.info} for p in part],
                "sim": {**sim, **part[0].settings}, "out": str(out), "protocol": protocol,
                "data_format": data_format,
            })
    return chunks


def _sim_settings(sim_kwargs: dict) -> dict:
    sim = {"dt": "0.1 ms", "duration": "1 s", "transient": "100 ms", "device": "runtime",
           "target": "numpy", "threads": None, "portable_random": False, "allow_large": False}
    for key, value in sim_kwargs.items():
        if key == "seed":
            continue
        if key not in SIM_KEYS:
            raise SettingsError(f"sweep setting '{key}' is not one of {', '.join(SIM_KEYS)}. Fix: drop it")
        sim[key] = value  # quantities as given: a text round trip ("100. us") can change dt's last bit
    return sim


def run_points(spec: ModelSpec, points: list[Point], out: Path, *, sim_kwargs: dict, protocol: str,
               data_format: str = "h5", log=print, scheduler: str | None = None,
               workers: int | None = None) -> list[dict]:
    """Simulate every unfinished point into ``out/points/<label>/``; return one row per point.

    Parameters
    ----------
    spec : ModelSpec
        The model the points' overrides apply to.
    points : list of Point
    out : Path
        Sweep folder. Finished points (a complete run folder) are read back, not recomputed.
    sim_kwargs : dict
        :func:`pinglab_bio.simulate` settings (dt, duration, transient, device, target, threads,
        portable_random); a ``seed`` entry is ignored (each point has its own).
    scheduler : str, optional
        None runs in this process; ``"local"`` starts a Dask ``LocalCluster`` with ``workers``
        single-threaded processes; ``"tcp://host:port"`` uses an existing Dask scheduler;
        ``"auto"`` picks None or ``"local"`` by :func:`choose_scheduler` from the points left to
        run and the usable cores, and logs the choice with its reason (one line,
        ``scheduler: ...``).
    workers : int, optional
        Parallel workers of the embedded cluster (default: CPU count).
    """
    out = Path(out)
    sim = _sim_settings(sim_kwargs)
    removed = remove_stale_partials(out / "points")
    if removed:
        log(f"removed {len(removed)} partial point folder(s) left by killed runs: {', '.join(removed)}")
    todo = [p for p in points if not point_done(out, p)]
    done = {p.label: _row(p, read_json(out / "points" / p.label / "metrics.json"))
            for p in points if p not in todo}
    if done:
        log(f"{len(done)} of {len(points)} points already finished; running the other {len(todo)}")
    if scheduler == "auto":
        scheduler, reason = choose_scheduler(len(todo), usable_cores(), workers)
        if todo:
            log(f"scheduler: {reason}")
    n_workers = workers or 1
    if scheduler is not None and workers is None:
        import os

        n_workers = os.cpu_count() or 1
    tasks = _tasks(spec, todo, out, sim, protocol, data_format, n_workers if scheduler else 1)
    if scheduler == "local":
        n_workers = max(1, min(n_workers, len(tasks)))  # no idle worker processes
    finished = dict(done)
    progress = {"n": len(done)}

    def record(rows):
        for row in rows:
            finished[row["point"]] = row
            progress["n"] += 1
            rate = "  ".join(f"{pop.upper()} {row[f'rate_{pop}_hz']:.2f} Hz" for pop in spec.populations
                             if row.get(f"rate_{pop}_hz") is not None)
            peak = row.get("gamma_peak_hz")
            log(f"[{progress['n']}/{len(points)}] {row['point']}: {rate}, peak "
                + (f"{peak:.1f} Hz" if peak is not None else "none"))

    if scheduler is None:
        for task in tasks:
            record(_run_task(task))
    elif tasks:
        _run_on_dask(tasks, scheduler, n_workers, record, log)
    # the table is rebuilt from what the point folders hold, not from what this process computed
    return [_row(p, read_json(out / "points" / p.label / "metrics.json")) for p in points]


_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the system has one)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def choose_scheduler(n_points: int, cores: int, workers: int | None = None) -> tuple[str | None, str]:
    """Where ``scheduler="auto"`` runs a sweep's points, and why, in a few words.

    An embedded Dask ``LocalCluster`` first starts its worker processes, each a Python that
    imports Brian2 and pinglab-bio (seconds each, on cores the points could use), so it pays off
    only for enough points on enough cores: at least :data:`DASK_MIN_POINTS` points on at least
    :data:`DASK_MIN_CORES` usable cores. Fewer run in this process, one after another. ``workers``
    (``--workers N``) asks for a cluster of that size, so it always gets one.

    Parameters
    ----------
    n_points : int
        Points left to run (finished ones of a resumed sweep not counted).
    cores : int
        Usable CPU cores (:func:`usable_cores`).
    workers : int, optional
        Worker processes asked for.

    Returns
    -------
    scheduler : None or "local"
        None runs the points in this process.
    reason : str
        E.g. ``"in-process (3 points, 2 cores; a Dask cluster pays off from 4 points on 3 cores)"``.
    """
    points = f"{n_points} point{'s' if n_points != 1 else ''}"
    cores_text = f"{cores} core{'s' if cores != 1 else ''}"
    if workers is not None:
        return "local", f"Dask LocalCluster ({points}, --workers {workers})"
    if n_points >= DASK_MIN_POINTS and cores >= DASK_MIN_CORES:
        return "local", (f"Dask LocalCluster ({points}, {cores_text}; at least {DASK_MIN_POINTS} points "
                         f"on {DASK_MIN_CORES} cores pay for starting it)")
    return None, (f"in-process ({points}, {cores_text}; a Dask cluster pays off from {DASK_MIN_POINTS} "
                  f"points on {DASK_MIN_CORES} cores)")


def check_scheduler(scheduler: str | None) -> None:
    """Check a ``--scheduler`` value before anything is written: ``None``/``"auto"``/``"local"``,
    or the address of a Dask scheduler that accepts a connection now.

    Raises
    ------
    SettingsError
        For a malformed address or one where nothing listens (one line, with the fix).
    """
    if scheduler in (None, "auto", "local") or str(scheduler).startswith(("inproc://", "ucx://")):
        return
    match = _ADDRESS.match(str(scheduler))
    if not match:
        raise SettingsError(f"--scheduler must be 'auto', 'local', 'none' or an address like "
                            f"tcp://host:8786, got {scheduler!r}. Fix: e.g. --scheduler tcp://127.0.0.1:8786")
    host, port = match.group(2).strip("[]"), int(match.group(3))
    if not 0 < port < 65536:
        raise SettingsError(f"--scheduler {scheduler}: port {port} is not in 1…65535. "
                            "Fix: e.g. --scheduler tcp://127.0.0.1:8786")
    import socket

    try:
        with socket.create_connection((host, port), timeout=5):
            pass
    except OSError as err:
        raise SettingsError(f"cannot reach the Dask scheduler at {scheduler} ({err.strerror or err}). Fix: "
                            "start one (dask scheduler) or leave out --scheduler") from None


def _run_on_dask(tasks: list[dict], scheduler: str, workers: int, record, log):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise SettingsError("--scheduler needs Dask distributed, which is not installed. "
                            "Fix: pip install -e .[dask]") from None
    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        address = cluster.scheduler_address
    elif scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        address = scheduler
    else:
        raise SettingsError(f"--scheduler must be 'auto', 'local', 'none' or an address like "
                            f"tcp://host:8786, got {scheduler!r}. Fix: e.g. --scheduler tcp://127.0.0.1:8786")
    try:
        try:
            client = Client(address, timeout="20s")
        except OSError as err:
            raise SettingsError(f"cannot reach the Dask scheduler at {address} ({err}). Fix: start one "
                                "(dask scheduler) or leave out --scheduler") from None
        with client:
            log(f"dask: {len(tasks)} task(s) on {address} "
                f"({len(client.scheduler_info().get('workers', {}))} workers)")
            futures = [client.submit(_run_task, task, pure=False) for task in tasks]
            for future in as_completed(futures):
                record(future.result())
    finally:
        if cluster is not None:
            cluster.close()
