"""Run folders: written whole or not at all, and read back into the same objects.

Layout of ``runs/<protocol>-<utc time>-<short hash>/``::

    run.json        protocol, model (file text and hash), parameters with units, seed, dt,
                    duration, device, package versions, git revision, wall times
    metrics.json    the numbers (rate_exc_hz, rate_inh_hz, gamma_peak_hz, gamma_power_share, ...)
    spikes.h5       spikes and population rates (HDF5, layout below), or data.nix (NIX, neo)
    figures/*.png   raster, population rates, PSD with the gamma peak

``spikes.h5`` holds, per population ``P``: ``/spikes/P/times`` (float64, seconds),
``/spikes/P/indices`` (int32, neuron index within P) with attribute ``n_neurons``;
``/rates/P`` (float64, Hz) with attributes ``t_start_s`` and ``sampling_period_s``; and root
attributes ``t_start_s``, ``t_stop_s``, ``dt_s``. Any HDF5 reader opens it; no code runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import h5py
import neo
import numpy as np
import quantities as pq

from ..errors import PinglabError
from ..files import read_json, usual_mode, write_json

__all__ = ["atomic_run_dir", "remove_stale_partials", "final_of", "glob_escape",
           "write_json", "read_json", "write_spikes", "write_spike_arrays", "read_spikes",
           "DATA_FORMATS"]

DATA_FORMATS = ("h5", "nix")


_PARTIAL = ".partial-"


def _lock_path(parent: Path, name: str) -> Path:
    return parent / f".{name}.lock"


def _try_lock(path: Path):
    """Hold an exclusive ``flock`` on ``path`` (created if missing); the open fd, or None when a
    live process holds it. A lock file replaced meanwhile (unlinked by its last holder) is
    retried, so two processes never both believe they hold one name."""
    import fcntl

    for _ in range(20):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
    return None


def _release(path: Path, fd: int):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.close(fd)


def _partials_of(parent: Path, name: str) -> list[Path]:
    return sorted(parent.glob(f".{glob_escape(name)}{_PARTIAL}*"))


def glob_escape(text: str) -> str:
    """``text`` with the glob characters ``*?[`` taken literally."""
    import glob

    return glob.escape(text)


def remove_stale_partials(parent: Path) -> list[str]:
    """Remove the ``.NAME.partial-*`` folders in ``parent`` that no live process is writing.

    A run holds the lock file ``.NAME.lock`` (an ``flock``, released by the kernel when the
    process dies, even by SIGKILL) for as long as it writes ``.NAME.partial-*``; a partial
    folder whose name nobody holds is left over from a killed run. Returns the names removed.
    """
    parent = Path(parent)
    if not parent.is_dir():
        return []
    names = set()
    for entry in parent.iterdir():
        if entry.name.startswith(".") and _PARTIAL in entry.name:
            names.add(entry.name[1:entry.name.rindex(_PARTIAL)])
    removed = []
    for name in sorted(names):
        lock = _lock_path(parent, name)
        fd = _try_lock(lock)
        if fd is None:
            continue  # a live run writes this name
        try:
            for partial in _partials_of(parent, name):
                shutil.rmtree(partial, ignore_errors=True)
                removed.append(partial.name)
        finally:
            _release(lock, fd)
    return removed


def _claim(final: Path, unique: bool):
    """Take the lock of ``final``'s name (or of the next free ``final-2``, ``final-3``, ... when
    ``unique``); return ``(folder, lock path, fd)``."""
    base = final
    for k in range(1, 1000):
        candidate = base if k == 1 else base.with_name(f"{base.name}-{k}")
        lock = _lock_path(candidate.parent, candidate.name)
        fd = _try_lock(lock)
        if fd is not None and not candidate.exists():
            return candidate, lock, fd
        if fd is not None:
            _release(lock, fd)
        if not unique:
            if fd is None:
                raise PinglabError(f"run folder {final} is being written by another run right now. "
                                   "Fix: pass another --out, or wait for that run to finish")
            raise PinglabError(f"run folder {final} already exists. Fix: pass another --out or remove it")
    raise PinglabError(f"no free run folder name beside {final}. Fix: pass another --out")


def _writable_parent(final: Path):
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PinglabError(f"cannot create the folder {str(final.parent)!r} for run folder {final.name!r} "
                           f"({err.strerror or err}). Fix: pass an --out in a folder you can write to") \
            from None
    if not os.access(final.parent, os.W_OK | os.X_OK):
        raise PinglabError(f"cannot write into {str(final.parent)!r} (permission denied). Fix: pass an --out "
                           "in a folder you can write to")


@contextmanager
def atomic_run_dir(final: Path, *, unique: bool = False):
    """Yield a temporary folder beside ``final``; rename it to ``final`` only on success.

    On any exception (including KeyboardInterrupt) the temporary folder is removed, so a run
    folder exists whole or not at all. The name is claimed first (a lock file beside it, held
    until the rename), so a taken name is refused before any work is done, and two runs that
    pick the same name cannot both write it; with ``unique=True`` a taken name is replaced by
    the next free ``NAME-2``, ``NAME-3``, ... (the yielded folder's final name is then
    ``tmp.final``, see :func:`final_of`). Partial folders of killed runs in the same parent
    are removed first (see :func:`remove_stale_partials`).
    """
    final = Path(final)
    if final.exists() and not unique:
        raise PinglabError(f"run folder {final} already exists. Fix: pass another --out or remove it")
    _writable_parent(final)
    remove_stale_partials(final.parent)
    final, lock, fd = _claim(final, unique)
    try:
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}{_PARTIAL}", dir=final.parent))
        except OSError as err:
            raise PinglabError(f"cannot create run folder {final} ({err.strerror or err}). Fix: pass an "
                               "--out in a folder you can write to") from None
        _FINAL[str(tmp)] = final
        try:
            usual_mode(tmp, folder=True)
            yield tmp
            try:
                os.replace(tmp, final)
            except OSError as err:
                raise PinglabError(f"cannot put run folder {final} in place ({err.strerror or err}); "
                                   "nothing was saved. Fix: pass another --out") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            _FINAL.pop(str(tmp), None)
    finally:
        _release(lock, fd)


_FINAL: dict[str, Path] = {}


def final_of(tmp: Path) -> Path | None:
    """The name the temporary folder of :func:`atomic_run_dir` gets on success (None if unknown)."""
    return _FINAL.get(str(tmp))


def write_spikes(folder: Path, block: neo.Block, fmt: str = "h5") -> str:
    """Write a run's neo Block; return the file name written."""
    if fmt == "nix":
        from neo.io import NixIO

        name = "data.nix"
        with NixIO(str(Path(folder) / name), mode="ow") as io:
            io.write_block(block)
        return name
    seg = block.segments[0]
    by_pop: dict[str, list] = {}
    for st in seg.spiketrains:
        by_pop.setdefault(st.annotations["population"], []).append(st)
    spikes = {}
    for pop, trains in by_pop.items():
        times = [st.times.rescale(pq.s).magnitude for st in trains]
        spikes[pop] = (len(trains), np.concatenate([np.full(len(st), st.annotations["neuron_index"])
                                                    for st in trains]), np.concatenate(times))
    rates = {sig.annotations["population"]: sig for sig in seg.analogsignals}
    return write_spike_arrays(folder, spikes, rates, t_start=seg.t_start, t_stop=seg.t_stop,
                              dt=float(block.annotations["dt_s"]) * pq.s)


def write_spike_arrays(folder: Path, spikes: dict, rates: dict, *, t_start, t_stop, dt) -> str:
    """Write ``spikes.h5`` from ``{population: (n_neurons, indices, times_s)}`` and population
    rates; return its name. Spikes are stored sorted by time, then neuron index."""
    name = "spikes.h5"
    with h5py.File(Path(folder) / name, "w") as h5:
        h5.attrs["format"] = "pinglab-bio spikes v1"
        h5.attrs["t_start_s"] = float(t_start.rescale(pq.s))
        h5.attrs["t_stop_s"] = float(t_stop.rescale(pq.s))
        h5.attrs["dt_s"] = float(dt.rescale(pq.s))
        for pop, (n, indices, times) in spikes.items():
            idx = np.asarray(indices).astype(np.int32)
            t = times.rescale(pq.s).magnitude if isinstance(times, pq.Quantity) else times
            t = np.asarray(t, dtype=float)
            order = np.lexsort((idx, t))
            grp = h5.create_group(f"spikes/{pop}")
            grp.create_dataset("times", data=t[order])
            grp.create_dataset("indices", data=idx[order])
            grp.attrs["n_neurons"] = int(n)
        for pop, sig in rates.items():
            ds = h5.create_dataset(f"rates/{pop}", data=np.asarray(sig.rescale(pq.Hz)).reshape(-1))
            ds.attrs["t_start_s"] = float(sig.t_start.rescale(pq.s))
            ds.attrs["sampling_period_s"] = float(sig.sampling_period.rescale(pq.s))
    return name


def make_block(spikes: dict, rates: dict, *, t_start, t_stop, dt, name="run") -> neo.Block:
    """A neo Block from ``{population: (n_neurons, indices, times)}`` and population rates.

    Spike trains are annotated with ``population`` and ``neuron_index``; rates are
    AnalogSignals annotated with ``population``. The cost grows linearly with the number of
    trains: the segment's list is built once (neo's ``append`` compares every new train with all
    the trains already in the list, which is quadratic).
    """
    from neo.core.spiketrainlist import SpikeTrainList

    block = neo.Block(name=name, dt_s=float(dt.rescale(pq.s)))
    seg = neo.Segment(name="trial 0")
    block.segments.append(seg)
    trains = []
    for pop, (n, indices, times) in spikes.items():
        indices = np.asarray(indices)
        times = np.asarray(times.rescale(pq.s).magnitude if isinstance(times, pq.Quantity) else times)
        order = np.lexsort((times, indices))  # by neuron, then by time within a neuron
        sorted_idx, sorted_t = indices[order], times[order]
        bounds = np.searchsorted(sorted_idx, np.arange(n + 1))
        for k in range(n):
            st = neo.SpikeTrain(sorted_t[bounds[k]:bounds[k + 1]] * pq.s, t_start=t_start, t_stop=t_stop,
                                population=pop, neuron_index=int(k))
            st.segment = seg
            trains.append(st)
    seg.spiketrains = SpikeTrainList(items=trains, parent=seg)
    for pop, sig in rates.items():
        sig = sig.copy()
        sig.name = f"rate_{pop}"
        sig.annotations["population"] = pop
        seg.analogsignals.append(sig)
    return block


def read_spikes(folder: Path) -> neo.Block:
    """Read the Block of a run folder (``spikes.h5`` or ``data.nix``)."""
    folder = Path(folder)
    if (folder / "data.nix").is_file():
        from neo.io import NixIO

        with NixIO(str(folder / "data.nix"), mode="ro") as io:
            block = io.read_block()
        for st in block.segments[0].spiketrains:
            st.annotations.pop("nix_name", None)
            st.annotations["neuron_index"] = int(st.annotations["neuron_index"])
        return block
    path = folder / "spikes.h5"
    if not path.is_file():
        raise PinglabError(f"{folder} has no spikes.h5 or data.nix. Fix: point at a run folder "
                           "written by pinglab-bio run")
    with h5py.File(path, "r") as h5:
        t_start, t_stop = h5.attrs["t_start_s"] * pq.s, h5.attrs["t_stop_s"] * pq.s
        dt = h5.attrs["dt_s"] * pq.s
        spikes = {pop: (int(g.attrs["n_neurons"]), g["indices"][()], g["times"][()] * pq.s)
                  for pop, g in h5["spikes"].items()}
        rates = {}
        for pop, ds in h5.get("rates", {}).items():
            rates[pop] = neo.AnalogSignal(ds[()].reshape(-1, 1) * pq.Hz, t_start=ds.attrs["t_start_s"] * pq.s,
                                          sampling_period=ds.attrs["sampling_period_s"] * pq.s)
    return make_block(spikes, rates, t_start=t_start, t_stop=t_stop, dt=dt)
