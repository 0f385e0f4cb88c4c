"""``pinglab-bio train``: surrogate-gradient training of E/I networks (needs the ``train`` extra).

Parses the flags, checks them (times carry units: ``--dt 1ms --duration 100ms``) and calls
:func:`pinglab_bio.train.loop.train_classifier` or
:func:`pinglab_bio.train.reservoir.train_reservoir`; ``pinglab-bio train --help`` describes the
tasks and the run folder.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

from ..errors import PinglabError, SettingsError

__all__ = ["COMMANDS", "TASKS", "DESCRIPTION", "register", "handle", "parse_time_ms"]

COMMANDS = ("train",)
TASKS = {
    "ei_readout": {"model": "ei_hidden_cuba", "hidden": "ei"},
    "ping_readout": {"model": "ping_coba", "hidden": "ping"},
    "reservoir": {"model": "ping_coba", "hidden": "ping"},
}
#: Integration step and trial length of each task when --dt / --duration are not given.
_TIMES = {"ei_readout": ("1ms", "100ms"), "ping_readout": ("1ms", "100ms"), "reservoir": ("0.25ms", "50ms")}

DESCRIPTION = """\
Train an E/I spiking network with surrogate gradients (needs the train extra: torch, safetensors).

tasks:
  ei_readout    inputs -> hidden layer of current-based LIF neurons, each E or I
                (models/ei_hidden_cuba.toml) -> leaky-integrator outputs
  ping_readout  the hidden layer is the PING network of ping_coba; its E<->I weights stay
                fixed, the input and readout weights are learnt (use --slope 1000: volts)
  reservoir     the short form of `pinglab-bio run reservoir`: Brian2 simulates the PING network
                of the model file (800 E / 200 I ping_coba, drive and noise unchanged) on the
                inputs, a leaky-integrator readout is fitted to the exported spikes in torch and
                put back into Brian2 as synapses (more readouts, states, dt and devices: use
                `pinglab-bio run reservoir`)

examples:
  pinglab-bio train ei_readout --dataset digits --ei-ratio 0.8 --out runs/ei-digits
  pinglab-bio train ei_readout --dt 0.5ms --duration 100ms --epochs 10
  pinglab-bio train ping_readout --slope 1000 --damping 0.5 --dt 0.5ms
  pinglab-bio train reservoir --dataset digits

The run folder holds run.json (settings, versions), metrics.json (test_accuracy of the torch
step, test_accuracy_brian2 of the same weights run in Brian2), curves.json, figures/curves.png
and weights.safetensors. Per-epoch checkpoints stay in <parent>/.checkpoints/<settings hash>/
until the run completes: running an interrupted command again resumes where it stopped.
"""

_RESERVOIR_FLAGS = "dataset, data-dir, model, dt, duration, epochs, limit, seed, out, quiet"


def parse_time_ms(flag: str, text: str, example: str = "1ms") -> float:
    """A time flag such as ``--dt 0.5ms`` in milliseconds; a one-line SettingsError otherwise.

    Parameters
    ----------
    flag : str
        The flag, named in the error.
    text : str
        A number with a time unit: ``"1ms"``, ``"0.25 ms"``, ``"0.1s"``.
    example : str
        A valid value, shown in the fix.

    Returns
    -------
    float
        The time in ms, rounded to 12 significant digits (so ``"0.3ms"`` is 0.3).
    """
    import brian2
    from brian2.units.fundamentalunits import have_same_dimensions

    from ..units import parse_quantity

    try:
        q = parse_quantity(text)
    except ValueError as err:
        raise SettingsError(f"{flag}: {err}. Fix: e.g. {flag} {example}") from None
    if not have_same_dimensions(q, brian2.second):
        raise SettingsError(f"{flag} {text!r} is not a time. Fix: give it a time unit, e.g. {flag} {example}")
    return float(f"{float(q / brian2.ms):.12g}")


def register(subparsers):
    p = subparsers.add_parser("train", help="train an E/I network with surrogate gradients",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog=f"reservoir reads only: {_RESERVOIR_FLAGS}.")
    p.add_argument("task", choices=sorted(TASKS), metavar="TASK",
                   help="what to train: " + ", ".join(sorted(TASKS)))
    p.add_argument("--dataset", default="digits",
                   help="digits (scikit-learn, offline), fashion_mnist or shd (default: digits)")
    p.add_argument("--data-dir", default=None,
                   help="folder with the Fashion-MNIST or SHD files (default: none; digits needs none)")
    p.add_argument("--model", default=None,
                   help="hidden-layer model name or .toml file (default: ei_hidden_cuba for ei_readout, "
                        "ping_coba for ping_readout and reservoir)")
    p.add_argument("--ei-ratio", type=float, default=0.8,
                   help="E share of the hidden layer of ei_readout, in (0, 1] (default: 0.8, i.e. 80:20)")
    p.add_argument("--n-hidden", type=int, default=100, help="hidden neurons of ei_readout (default: 100)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default: 30)")
    p.add_argument("--batch-size", type=int, default=64, help="mini-batch size (default: 64)")
    p.add_argument("--lr", type=float, default=5e-3,
                   help="learning rate (default: 0.005; the PING inputs, in siemens, learn at lr × 1e-6 S)")
    p.add_argument("--optimizer", default="adam", help="adam or sgd (default: adam)")
    p.add_argument("--schedule", default="cosine",
                   help="learning rate over the epochs: cosine (decays to 0) or constant (default: cosine)")
    p.add_argument("--dt", default=None, metavar="TIME",
                   help="integration step, with a unit (default: 1ms; reservoir: 0.25ms)")
    p.add_argument("--duration", default=None, metavar="TIME",
                   help="trial length, with a unit, a multiple of --dt (default: 100ms; reservoir: 50ms)")
    p.add_argument("--encoder", default="poisson",
                   help="input spike code: poisson or latency (default: poisson)")
    p.add_argument("--max-rate", type=float, default=200.0,
                   help="Poisson rate of a full-intensity pixel, in Hz (default: 200)")
    p.add_argument("--surrogate", default="fast_sigmoid",
                   help="surrogate gradient: fast_sigmoid, arctan, sigmoid or triangle "
                        "(default: fast_sigmoid)")
    p.add_argument("--slope", type=float, default=100.0,
                   help="surrogate slope, in 1/(membrane unit); 1000 for a membrane in volts (default: 100)")
    p.add_argument("--weight-noise", type=float, default=0.0,
                   help="noise added after each step, σ_n relative to σ_init (default: 0, none)")
    p.add_argument("--damping", type=float, default=None,
                   help="gradient damping per step through the membrane, in (0, 1] (default: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default: 0)")
    p.add_argument("--device", default="auto",
                   help="torch device: auto (CUDA when available), cpu or cuda (default: auto)")
    p.add_argument("--dtype", default="float32", help="torch dtype: float32 or float64 (default: float32)")
    p.add_argument("--limit", type=int, default=None,
                   help="use only the first N training samples (default: all)")
    p.add_argument("--no-brian2", action="store_true",
                   help="skip running the trained weights in Brian2 (default: run them)")
    p.add_argument("--out", default=None,
                   help="run folder to create (default: runs/train_<task>-<utc time>-<hash>)")
    p.add_argument("--quiet", action="store_true", help="print only the result lines (default: off)")
    return p


def _times(ns) -> tuple[float, float]:
    dt_default, duration_default = _TIMES[ns.task]
    return (parse_time_ms("--dt", ns.dt or dt_default, dt_default),
            parse_time_ms("--duration", ns.duration or duration_default, duration_default))


def handle(ns) -> int:
    dt_ms, duration_ms = _times(ns)
    try:
        import torch  # noqa: F401
    except ImportError:
        raise PinglabError("training needs torch. Fix: pip install 'pinglab-bio[train]'") from None
    from ..provenance import git_revision, package_versions, short_hash
    from ..runs.folder import atomic_run_dir, write_json
    from ..runs.result import default_run_dir
    from ..train.loop import TrainConfig, train_classifier
    from ..workflow.analysis import write_protocol_report

    task = TASKS[ns.task]
    if ns.seed < 0:
        raise SettingsError(f"--seed must be ≥ 0, got {ns.seed}. Fix: e.g. --seed 1")
    if ns.task == "reservoir":
        return _handle_reservoir(ns, dt_ms, duration_ms)
    config = TrainConfig(
        dataset=ns.dataset, data_dir=ns.data_dir, model=ns.model or task["model"], hidden=task["hidden"],
        ei_ratio=ns.ei_ratio, n_hidden=ns.n_hidden, dt_ms=dt_ms, duration_ms=duration_ms,
        encoder=ns.encoder, max_rate_hz=ns.max_rate, epochs=ns.epochs, batch_size=ns.batch_size, lr=ns.lr,
        optimizer=ns.optimizer, schedule=ns.schedule, weight_noise=ns.weight_noise, surrogate=ns.surrogate,
        slope=ns.slope, damping=ns.damping, seed=ns.seed, dtype=ns.dtype, device=ns.device, limit=ns.limit,
    ).check()
    from ..data.datasets import DATASETS

    if config.dataset not in DATASETS:
        raise SettingsError(f"unknown data set {config.dataset!r}. Fix: use one of {', '.join(DATASETS)}")
    from ..model.spec import load_model

    load_model(config.model)  # a bad model name fails here, before any folder exists
    settings = asdict(config)
    key = short_hash({"task": ns.task, **settings})
    folder = Path(ns.out) if ns.out else default_run_dir(f"train_{ns.task}", {"task": ns.task, **settings})
    if folder.exists():
        raise PinglabError(f"run folder {folder} already exists. Fix: pass another --out or remove it")
    ckpt = folder.parent / ".checkpoints" / key
    log = (lambda *a: None) if ns.quiet else (lambda *a: print(*a, file=sys.stderr))
    with atomic_run_dir(folder) as tmp:
        result = train_classifier(config, tmp, checkpoint_dir=ckpt, log=log, brian2_check=not ns.no_brian2)
        write_json(tmp / "run.json", {"protocol": f"train_{ns.task}", "task": ns.task, "settings": settings,
                                      "seed": config.seed, "dt": {"si_value": config.dt_s, "si_unit": "s"},
                                      "settings_hash": key, "versions": package_versions(),
                                      "git_revision": git_revision()})
        write_json(tmp / "metrics.json", result["metrics"])
        write_protocol_report(f"train_{ns.task}", tmp)  # report.html, as analyze would write it
    shutil.rmtree(ckpt, ignore_errors=True)
    m = result["metrics"]
    line = f"test accuracy {m['test_accuracy']:.4f} (torch)"
    if "test_accuracy_brian2" in m:
        line += f", {m['test_accuracy_brian2']:.4f} (Brian2)"
    print(line)
    print(f"results: {folder}")
    return 0


def _handle_reservoir(ns, dt_ms: float, duration_ms: float) -> int:
    from ..data.datasets import load_dataset
    from ..provenance import git_revision, package_versions
    from ..runs.folder import atomic_run_dir, write_json
    from ..runs.result import default_run_dir
    from ..train.reservoir import ReservoirConfig, train_reservoir
    from ..workflow.analysis import write_protocol_report

    config = ReservoirConfig(model=ns.model or "ping_coba", seed=ns.seed, epochs=ns.epochs, dt_ms=dt_ms,
                             duration_ms=duration_ms, window_ms=duration_ms, n_train=ns.limit or 300,
                             readouts=("leaky",), spontaneous_trials=0)
    steps = config.duration_ms / config.dt_ms
    if not config.dt_ms > 0 or abs(steps - round(steps)) > 1e-6 or round(steps) < 1:
        raise SettingsError(f"--duration {config.duration_ms:g} ms is not a positive multiple of --dt "
                            f"{config.dt_ms:g} ms. Fix: e.g. --dt 0.25ms --duration 50ms")
    data = load_dataset(ns.dataset, data_dir=ns.data_dir, seed=ns.seed)
    from ..train.reservoir import load_reservoir_setup

    load_reservoir_setup(config, data.n_inputs)  # a bad model or setting fails before any folder exists
    folder = Path(ns.out) if ns.out else default_run_dir("train_reservoir", asdict(config))
    log = (lambda *a: None) if ns.quiet else (lambda *a: print(*a, file=sys.stderr))
    with atomic_run_dir(folder) as tmp:
        metrics = train_reservoir(config, data, log=log)
        write_json(tmp / "run.json", {"protocol": "train_reservoir", "task": "reservoir",
                                      "settings": asdict(config), "seed": config.seed,
                                      "versions": package_versions(), "git_revision": git_revision()})
        write_json(tmp / "metrics.json", metrics)
        write_protocol_report("train_reservoir", tmp)
    print(f"test accuracy {metrics['test_accuracy']:.4f} (torch readout on exported spikes), "
          f"{metrics['test_accuracy_brian2']:.4f} (readout put back into Brian2)")
    print(f"results: {folder}")
    return 0
