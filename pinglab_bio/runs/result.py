"""Run a model on a device and collect a :class:`RunResult`; save and load run folders."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import brian2
import neo
import numpy as np
import quantities as pq

from ..errors import PinglabError, SettingsError, printable, quiet_dependency_warnings
from ..model.spec import ModelSpec, check_run_settings, check_seed, load_model
from ..provenance import git_revision, package_versions, short_hash, utc_stamp
from ..sim.build import build_network
from ..sim.estimate import check_run_size, estimate_run
from ..sim.session import check_completed, open_session, read_monitors
from ..units import parse_quantity, quantity_to_json
from .folder import (
    DATA_FORMATS,
    atomic_run_dir,
    make_block,
    read_json,
    read_spikes,
    write_json,
    write_spike_arrays,
    write_spikes,
)

__all__ = ["RunResult", "simulate", "write_run", "save_run", "load_run", "default_run_dir", "describe",
           "check_simulation", "check_analysis_window", "structure_key", "measure_run"]


class RunResult:
    """Spikes, population rates, metrics and provenance of one simulation.

    ``block`` is a neo Block with one Segment: a SpikeTrain per neuron annotated with
    ``population`` and ``neuron_index``, and one population-rate AnalogSignal per population.
    ``info`` is the content of ``run.json``; ``metrics`` that of ``metrics.json``.

    A fresh simulation keeps its spikes as flat arrays and builds the Block on first use, so a
    sweep that only measures and saves its points never makes a neo object per neuron.
    """

    def __init__(self, block: neo.Block | None = None, metrics: dict | None = None,
                 info: dict | None = None, states: dict | None = None, path: Path | None = None, *,
                 spikes: dict | None = None, rates: dict | None = None, window=None):
        if block is None and spikes is None:
            raise PinglabError("RunResult needs a neo Block or spike arrays. Fix: pass block= or spikes=")
        self._block = block
        self._spikes = spikes  # {population: (n_neurons, indices, times_s)}
        self._rates = rates or {}
        self._window = window  # (t_start, t_stop, dt) of the Block, quantities
        self.metrics = metrics if metrics is not None else {}
        self.info = info if info is not None else {}
        self.states = states if states is not None else {}
        self.path = path

    def __repr__(self):
        """One line: model, sizes, dt, duration, seed, device, and the gamma peak and rates."""
        info, m = self.info, self.metrics
        sizes = ", ".join(f"{pop}={n}" for pop, n in info.get("populations", {}).items())
        settings = "".join(f", {key}={info[key]['text']!r}" for key in ("dt", "duration")
                           if isinstance(info.get(key), dict) and "text" in info[key])
        found = ", ".join(f"{key}={m[key]:.4g}" for key in ("gamma_peak_hz", *(f"rate_{p}_hz" for p in
                          info.get("populations", {}))) if isinstance(m.get(key), (int, float)))
        model = (info.get("model") or {}).get("name", "?")
        return (f"RunResult({model!r}, {sizes}{settings}, seed={info.get('seed', '?')}, "
                f"device={(info.get('device') or {}).get('name', '?')!r}"
                f"{', ' + found if found else ''}{f', path={str(self.path)!r}' if self.path else ''})")

    @property
    def states(self) -> dict:
        """Recorded state variables (``simulate(..., record=...)``) with their units.

        Returns
        -------
        dict
            ``{population: {"t": Quantity, shape (n_steps,), seconds; variable: Quantity,
            shape (n_recorded, n_steps), in the variable's unit from the model's equations}}``.
            ``numpy.asarray(value)`` gives the SI numbers. A variable whose unit the model file
            does not declare (one added by the drive's lowering, such as ``g_drive_ou``, takes the
            unit of its variable, ``g_drive``) is returned as a bare array in SI units.
        """
        if self._states_with_units is None:
            self._states_with_units = {pop: self._with_units(pop, values)
                                       for pop, values in self._states_si.items()}
        return self._states_with_units

    @states.setter
    def states(self, value: dict):
        self._states_si, self._states_with_units = dict(value or {}), None

    def _with_units(self, population: str, values: dict) -> dict:
        import tomllib

        from brian2 import Equations, second
        from brian2.units.fundamentalunits import Quantity

        try:
            text = tomllib.loads(self.info["model"]["source"])["neurons"][population]["equations"]
            with quiet_dependency_warnings():
                dims = {name: eq.dim for name, eq in Equations(text).items()}
        except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError):
            dims = {}
        out = {}
        for name, array in values.items():
            if name == "t_s":
                out["t"] = np.asarray(array) * second
                continue
            base = name.removesuffix("_ou").removesuffix("_tonic")
            dim = dims.get(name, dims.get(base))
            out[name] = Quantity(np.asarray(array), dim=dim) if dim is not None else np.asarray(array)
        return out

    @property
    def block(self) -> neo.Block:
        if self._block is None:
            t_start, t_stop, dt = self._window
            self._block = make_block(self._spikes, self._rates, t_start=t_start, t_stop=t_stop, dt=dt)
        return self._block

    @block.setter
    def block(self, value: neo.Block):
        self._block, self._spikes = value, None

    def spiketrains(self, population: str | None = None) -> list:
        trains = self.block.segments[0].spiketrains
        return [st for st in trains if population is None or st.annotations["population"] == population]

    def population_rate(self, population: str, t_start=None) -> neo.AnalogSignal:
        """The population rate (Hz) that the run's measures used, from the end of the transient.

        The measures leave out the first ``transient`` of a run (``simulate(...,
        transient="100 ms")``, the default), so this signal starts there, at its ``t_start``,
        and ends at the run's ``t_stop``; the spike trains (:meth:`spiketrains`,
        :meth:`spike_arrays`) start at 0. The signal's annotations say so too:
        ``transient_s`` (s) and ``window_s`` (``[t_start, t_stop]``, s).

        Parameters
        ----------
        population : str
            A population of the run (see :attr:`populations`).
        t_start : str or Quantity, optional
            Return only the part from this time on (e.g. ``"0.5 s"``); it must lie inside the
            window above. Default: the whole window.

        Returns
        -------
        neo.AnalogSignal
            Shape ``(n_bins, 1)``, Hz, bins of the run's ``dt``.
        """
        sig = None
        if self._spikes is not None and population in self._rates:
            sig = self._rates[population]
        else:
            for candidate in self.block.segments[0].analogsignals:
                if candidate.annotations.get("population") == population:
                    sig = candidate
                    break
        if sig is None:
            raise PinglabError(f"run has no population {population!r}. Fix: use one of {self.populations}")
        window = [float(f"{float(t.rescale(pq.s)):.12g}") for t in (sig.t_start, sig.t_stop)]
        sig.annotations.setdefault("transient_s", window[0])
        sig.annotations.setdefault("window_s", window)
        if t_start is None:
            return sig
        start = None
        try:  # a text or Brian2 time ("0.5 s"), or a quantities time
            q = t_start.rescale(pq.s) if isinstance(t_start, pq.Quantity) else parse_quantity(t_start)
            if isinstance(q, pq.Quantity) or brian2.have_same_dimensions(q, brian2.second):
                start = float(q)
        except (ValueError, TypeError):
            pass
        if start is None:
            raise SettingsError(f"t_start={t_start!r} is not a time. "
                                f"Fix: pass e.g. t_start='{window[0]:g} s'")
        if not window[0] <= start < window[1]:
            raise SettingsError(f"t_start={t_start!r} lies outside the rate's window {window[0]:g}–"
                                f"{window[1]:g} s (it starts after the transient). Fix: pass e.g. "
                                f"t_start='{window[0]:g} s', or simulate with a shorter transient=")
        return sig.time_slice(start * pq.s, sig.t_stop)

    @property
    def populations(self) -> list[str]:
        return list(self.info["populations"])

    def spike_arrays(self, population: str) -> tuple[np.ndarray, np.ndarray]:
        """Every spike of a population as two flat arrays, the quick way to plot or count them.

        Parameters
        ----------
        population : str
            A population of the run (see :attr:`populations`).

        Returns
        -------
        indices : ndarray of int64, shape (n_spikes,)
            Neuron index within the population (0 … n − 1).
        times_s : ndarray of float64, shape (n_spikes,), seconds
            Spike times from the start of the run (0 s, transient included), sorted by time,
            then by index.
        """
        if self._spikes is not None:
            if population not in self._spikes:
                raise PinglabError(f"run has no population '{population}'. "
                                   f"Fix: use one of {self.populations}")
            _, idx, t = self._spikes[population]
            idx, t = np.asarray(idx, dtype=np.int64), np.asarray(t, dtype=float)
        else:
            trains = self.spiketrains(population)
            idx = np.concatenate([np.full(len(st), st.annotations["neuron_index"]) for st in trains])
            t = np.concatenate([st.times.rescale(pq.s).magnitude for st in trains])
        order = np.lexsort((idx, t))
        return idx[order].astype(np.int64), t[order]

    def write_data(self, folder: Path, data_format: str) -> str:
        """Write the spike data file into ``folder``; return its name."""
        if self._spikes is not None and data_format == "h5":
            t_start, t_stop, dt = self._window
            return write_spike_arrays(folder, self._spikes, self._rates, t_start=t_start, t_stop=t_stop,
                                      dt=dt)
        return write_spikes(folder, self.block, data_format)


def _progress_reporter(stream):
    started = time.perf_counter()

    def report(elapsed, completed, start, duration):
        if time.perf_counter() - started < 2.0 and completed < 1:
            return
        bar = "#" * int(completed * 20)
        stream.write(f"\r  simulating [{bar:<20}] {completed * 100:5.1f}% ({float(elapsed):.1f} s wall)")
        if completed >= 1:
            stream.write("\n")
        stream.flush()

    return report


def check_simulation(spec, *, dt, duration, seed, transient, device="runtime", target="numpy",
                     threads=None, record=None, portable_random=False, allow_large=False):
    """Check run settings before anything is built; return ``(spec, dt, duration, transient, seed)``.

    Besides each setting on its own: the analysis window (duration − transient) must be long
    enough for a spectrum, and the run's estimated steps and memory must lie within the limits
    of :mod:`pinglab_bio.sim.estimate` unless ``allow_large``.
    """
    from ..sim.devices import check_device

    if not isinstance(spec, ModelSpec):
        spec = load_model(spec)
    dt_q, dur_q = check_run_settings(dt, duration)
    try:
        transient_q = parse_quantity(transient)
    except ValueError as err:
        raise SettingsError(f"transient: {err}. Fix: pass e.g. 100 ms") from None
    if not 0 <= float(transient_q) < float(dur_q):
        raise SettingsError(f"transient {transient} must lie in [0, duration={duration}). "
                            "Fix: use a shorter transient or a longer duration")
    check_analysis_window(dt_q, dur_q, transient_q)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SettingsError(f"seed must be a whole number ≥ 0, got {seed!r}. Fix: pass e.g. --seed 1")
    seed = check_seed(seed)
    check_device(device, target, threads)
    check_run_size(estimate_run(spec, dt=dt_q, duration=dur_q, record=record, portable=portable_random),
                   allow_large=allow_large)
    return spec, dt_q, dur_q, transient_q, int(seed)


def _spectrum_bins(window_s: float, bin_s: float) -> int:
    """Frequencies of a one-window Welch spectrum of a rate binned at ``bin_s`` that fall in the
    peak search band."""
    from ..measures.spectral import PEAK_SEARCH_BAND

    n = int(round(window_s / bin_s))
    if n < 2:
        return 0
    freqs = np.fft.rfftfreq(n, d=bin_s)
    return int(np.count_nonzero((freqs >= PEAK_SEARCH_BAND[0]) & (freqs <= PEAK_SEARCH_BAND[1])))


def check_analysis_window(dt_q, dur_q, transient_q):
    """The measured stretch (duration − transient) must hold a spectrum with at least three
    frequencies in the peak search band; else one line with the shortest duration that works."""
    from ..measures.rates import rate_bin_size

    bin_s = float(rate_bin_size(float(dt_q) * pq.s).rescale(pq.s))
    window = float(dur_q) - float(transient_q)
    if _spectrum_bins(window, bin_s) >= 3:
        return
    need = window
    while _spectrum_bins(need, bin_s) < 3 and need < 1e4:
        need += bin_s
    shortest = float(transient_q) + need
    raise SettingsError(f"the analysis window (duration {float(dur_q):g} s − transient "
                        f"{float(transient_q):g} s = {window:g} s) is too short to measure a spectrum; it "
                        f"needs at least {need:.3g} s. "
                        f"Fix: use a duration of at least {shortest:.3g} s, or a shorter transient")


def structure_key(spec: ModelSpec, dt_q, dur_q, *, portable: bool = False, record=None,
                  sweepable=(), overrides: dict | None = None) -> str:
    """Text naming everything that shapes the generated code of a run (its build folder key).

    ``overrides`` defaults to the spec's own; a sweep passes only the overrides that are not
    swept (swept values are run-time data of one shared build).
    """
    overrides = spec.overrides if overrides is None else overrides
    return (f"{spec.sha256}|{sorted((k, str(v)) for k, v in overrides.items())}|{float(dt_q)!r}|"
            f"{float(dur_q)!r}|portable={portable}|record={record!r}|sweepable={sorted(sweepable)}")


def simulate(spec: ModelSpec | str, *, dt="0.1 ms", duration="1 s", seed: int = 0,
             device: str = "runtime", target: str = "numpy", transient="100 ms",
             record: dict | None = None, progress: bool = False, threads: int | None = None,
             portable_random: bool = False, allow_large: bool = False) -> RunResult:
    """Simulate a model and measure it.

    Parameters
    ----------
    spec : ModelSpec or str
        A validated model or a catalogue name / path.
    dt, duration, transient : str or Quantity
        Integration step, simulated time, and the initial stretch left out of the measures.
    seed : int
        Seeds every random draw (Brian2's generator and the connectivity generator).
    device : {"runtime", "cpp_standalone", "cuda_standalone", "genn"}
    target : {"numpy", "cython"}
        Code-generation target on the runtime device.
    record : dict, optional
        State variables to record, ``{population: {"variables": [...], "indices": [...]}}``.
    progress : bool
        Print a progress bar to stderr when the simulation takes more than two seconds.
    threads : int, optional
        OpenMP threads on ``cpp_standalone``.
    portable_random : bool
        Draw every random number on the CPU with numpy (see :mod:`pinglab_bio.sim.portable`), so
        that every device gets the same numbers and, where the arithmetic allows, the same spikes.
    allow_large : bool
        Run even past the step and memory limits of :mod:`pinglab_bio.sim.estimate`.

    Raises
    ------
    RunInterrupted
        When the simulation stopped before its end (a Ctrl-C during Brian2's run): a shortened
        run is never measured.
    """
    spec, dt_q, dur_q, transient_q, seed = check_simulation(
        spec, dt=dt, duration=duration, seed=seed, transient=transient, device=device, target=target,
        threads=threads, record=record, portable_random=portable_random, allow_large=allow_large)
    key = structure_key(spec, dt_q, dur_q, portable=portable_random, record=record)
    timings = {}
    with open_session(device, seed=seed, target=target, build_key=key, threads=threads,
                      portable=portable_random) as session:
        t0 = time.perf_counter()
        built = build_network(spec, dt=dt_q, seed=seed, record=record, portable=portable_random,
                              duration=dur_q)
        timings["build_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = _progress_reporter(sys.stderr) if progress and not session.standalone else None
        built.network.run(dur_q, report=report, report_period=1 * brian2.second, namespace={})
        session.finish()
        check_completed(built.network, dur_q, what=f"the simulation of {printable(spec.name)}")
        timings["run_s"] = time.perf_counter() - t0
        timings.update(session.timers)
        raw = read_monitors(built, record)
    return measure_run(spec, raw, dt_q=dt_q, dur_q=dur_q, transient_q=transient_q, seed=seed, device=device,
                       target=target, timings=timings, threads=threads, portable_random=portable_random,
                       portable_bytes=built.portable_bytes, build_dir=session.build_dir)


def measure_run(spec: ModelSpec, raw: tuple[dict, dict], *, dt_q, dur_q, transient_q, seed: int,
                device: str, target: str, timings: dict, threads=None, portable_random=False,
                portable_bytes=None, build_dir=None, extra_info: dict | None = None) -> RunResult:
    """Turn monitor arrays into a :class:`RunResult`: neo Block, metrics and run.json content."""
    from ..measures import summary  # elephant is imported by the first run, not at import

    spikes, states = raw
    t0 = time.perf_counter()
    t_stop = float(dur_q) * pq.s
    metrics, arrays = summary(spikes, dt=float(dt_q) * pq.s, t_start=float(transient_q) * pq.s, t_stop=t_stop)
    rates = arrays["rates"]
    for pop, sig in rates.items():
        sig.name = f"rate_{pop}"
        sig.annotations["population"] = pop
    timings = {**timings, "analysis_s": time.perf_counter() - t0}
    info = {
        "model": {
            "name": spec.name,
            "path": spec.path,
            "sha256": spec.sha256,
            "source": spec.source,
            "overrides": {k: str(v) for k, v in spec.overrides.items()},
        },
        "populations": {pop: p.n for pop, p in spec.populations.items()},
        "parameters": _parameters_json(spec),
        "seed": seed,
        "dt": quantity_to_json(dt_q),
        "duration": quantity_to_json(dur_q),
        "transient": quantity_to_json(transient_q),
        "device": {"name": device, "target": target if device == "runtime" else None,
                   "threads": threads, "build_dir": str(build_dir) if build_dir else None},
        "portable_random": {"enabled": bool(portable_random),
                            "bytes": dict(portable_bytes or {}),
                            "total_bytes": int(sum((portable_bytes or {}).values()))},
        "versions": package_versions(),
        "git_revision": git_revision(),
        "wall_time_s": timings,
        **(extra_info or {}),
    }
    return RunResult(metrics=metrics, info=info, states=states, spikes=spikes, rates=rates,
                     window=(0 * pq.s, t_stop, float(dt_q) * pq.s))


def _parameters_json(spec: ModelSpec) -> dict:
    out = {"shared": {k: quantity_to_json(v) for k, v in spec.parameters.items()}}
    for pop, p in spec.populations.items():
        out[pop] = {k: quantity_to_json(v) for k, v in p.parameters.items()}
        out[pop]["refractory"] = quantity_to_json(p.refractory)
        out[pop]["method"] = p.method
    for name, path in spec.pathways.items():
        out[name] = {"weight": quantity_to_json(path.weight), "delay": quantity_to_json(path.delay),
                     "p": path.p, "in_degree": path.in_degree}
    for pop, drive in spec.drives.items():
        out[f"drive_{pop}"] = {"kind": drive.kind, "variable": drive.variable,
                               **{k: quantity_to_json(v) if not isinstance(v, (int, float)) else v
                                  for k, v in drive.values.items()}}
    return out


def default_run_dir(protocol: str, payload, root: Path | str = "runs") -> Path:
    """``runs/<protocol>-<utc time>-<short hash>``."""
    return Path(root) / f"{protocol}-{utc_stamp()}-{short_hash(payload)}"


def write_run(result: RunResult, folder: Path, *, protocol: str = "ping_gamma", data_format: str = "h5",
              figures: bool = True, report: bool = True, extra_info: dict | None = None) -> Path:
    """Write a run's files into an existing (temporary) folder: run.json, metrics.json, data,
    figures and report.html. Use :func:`save_run` for the atomic version."""
    from ..report.figures import run_figures
    from ..report.html import write_run_report

    if data_format not in DATA_FORMATS:
        raise SettingsError(f"unknown data format '{data_format}'. Fix: use one of {', '.join(DATA_FORMATS)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    info = {"protocol": protocol, **result.info, **(extra_info or {})}
    info["data_file"] = result.write_data(folder, data_format)
    info["figures"] = run_figures(result, folder / "figures") if figures else []
    write_json(folder / "run.json", info)
    write_json(folder / "metrics.json", result.metrics)
    if report:
        write_run_report(folder, info, result.metrics, info["figures"])
    result.info = info
    return folder


def save_run(result: RunResult, folder: Path, **kwargs) -> Path:
    """Write a run folder atomically (temporary folder, then rename) and return its path."""
    folder = Path(folder)
    with atomic_run_dir(folder) as tmp:
        write_run(result, tmp, **kwargs)
    result.path = folder
    return folder


def load_run(path) -> RunResult:
    """Read a run folder back into a :class:`RunResult` (neo Block, metrics, info)."""
    folder = Path(path)
    if not (folder / "run.json").is_file():
        raise PinglabError(f"{folder} is not a run folder (no run.json). Fix: pass a folder "
                           "written by pinglab-bio run")
    info = read_json(folder / "run.json")
    metrics = read_json(folder / "metrics.json")
    try:
        block = read_spikes(folder)
    except PinglabError:
        raise
    except (OSError, KeyError, ValueError, TypeError, IndexError) as err:
        name = info.get("data_file", "spikes.h5") if isinstance(info, dict) else "spikes.h5"
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise PinglabError(f"{folder / str(name)} cannot be read ({printable(reason)}; truncated or "
                           "corrupt?). Fix: rerun the run that wrote it") from None
    return RunResult(block=block, metrics=metrics, info=info, path=folder)


def describe(result: RunResult) -> str:
    """A few lines for a terminal: rates, gamma peak and share, wall times."""
    m, info = result.metrics, result.info
    lines = [f"model {printable(info['model']['name'])}  dt {info['dt']['text']}  duration "
             f"{info['duration']['text']}  seed {info['seed']}  device {info['device']['name']}"]
    rates = "  ".join(f"{printable(pop).upper()} rate {m[f'rate_{pop}_hz']:.2f} Hz" for pop in ("exc", "inh")
                      if m.get(f"rate_{pop}_hz") is not None)
    lines.append(rates)
    if m.get("gamma_peak_hz") is None:
        lines.append(f"gamma peak ({printable(m['rhythm_population']).upper()} rate): none "
                     f"({m.get('gamma_peak_reason') or 'no spectral peak'})")
    else:
        lines.append(f"gamma peak ({printable(m['rhythm_population']).upper()} rate) "
                     f"{m['gamma_peak_hz']:.1f} Hz"
                     f"{'' if m['gamma_in_band'] else ' (outside 30–100 Hz)'}, power share in 30–100 Hz "
                     f"{m['gamma_power_share']:.2f}, prominence {m['gamma_prominence']:.1f}×")
    portable = info.get("portable_random") or {}
    if portable.get("enabled"):
        from ..sim.portable import BYTES_PER_NEURON_STEP, format_bytes

        lines.append(f"portable random: {format_bytes(portable['total_bytes'])} of random numbers drawn on "
                     f"the CPU ({BYTES_PER_NEURON_STEP} bytes per neuron-step of drive noise)")
    wall = info.get("wall_time_s", {})
    lines.append("wall time: " + ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in wall.items()))
    return "\n".join(lines)

