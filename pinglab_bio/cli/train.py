"""``pinglab-bio train``: surrogate-gradient training of E/I networks (needs the ``train`` extra).

::

    pinglab-bio train ei_readout --dataset digits --ei-ratio 0.8 --out DIR
    pinglab-bio train ping_readout --dataset digits --out DIR      # PING hidden layer (ping_coba)
    pinglab-bio train reservoir --dataset digits --out DIR         # readout fitted to Brian2 PING spikes

The run folder holds ``run.json`` (settings, versions), ``metrics.json`` (``test_accuracy`` of
the torch step and ``test_accuracy_brian2`` of the same weights run in Brian2),
``curves.json``, ``figures/curves.png`` and ``weights.safetensors``. Per-epoch checkpoints are
kept in ``<parent>/.checkpoints/<settings hash>/`` until the run completes, so running an
interrupted command again resumes where it stopped.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

from ..errors import PinglabError, SettingsError

__all__ = ["COMMANDS", "TASKS", "register", "handle"]

COMMANDS = ("train",)
TASKS = {
    "ei_readout": {"model": "ei_hidden_cuba", "hidden": "ei"},
    "ping_readout": {"model": "ping_coba", "hidden": "ping"},
    "reservoir": {"model": "ping_coba", "hidden": "ping"},
}


def register(subparsers):
    p = subparsers.add_parser("train", help="train an E/I network with surrogate gradients",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=sorted(TASKS), help="what to train")
    p.add_argument("--dataset", default="digits", help="digits (default), fashion_mnist or shd")
    p.add_argument("--data-dir", default=None, help="folder with the Fashion-MNIST / SHD files")
    p.add_argument("--model", default=None, help="hidden-layer model (default: per task)")
    p.add_argument("--ei-ratio", type=float, default=0.8, help="E fraction of the hidden layer")
    p.add_argument("--n-hidden", type=int, default=100, help="hidden neurons (ei_readout)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--optimizer", default="adam", help="adam or sgd")
    p.add_argument("--schedule", default="cosine", help="learning rate: cosine (decays to 0) or constant")
    p.add_argument("--dt", type=float, default=1.0, help="integration step in ms")
    p.add_argument("--duration", type=float, default=100.0, help="trial length in ms")
    p.add_argument("--encoder", default="poisson", help="poisson or latency")
    p.add_argument("--max-rate", type=float, default=200.0, help="Poisson rate of a full pixel (Hz)")
    p.add_argument("--surrogate", default="fast_sigmoid")
    p.add_argument("--slope", type=float, default=100.0, help="surrogate slope (1/membrane unit)")
    p.add_argument("--weight-noise", type=float, default=0.0, help="σ_n relative to σ_init")
    p.add_argument("--damping", type=float, default=None, help="gradient damping through the membrane")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--no-brian2", action="store_true", help="skip the Brian2 check of the weights")
    p.add_argument("--out", default=None, help="run folder (default: runs/train_<task>-<time>-<hash>)")
    p.add_argument("--quiet", action="store_true")
    return p


def handle(ns) -> int:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise PinglabError("training needs torch. Fix: pip install 'pinglab-bio[train]'") from None
    from ..provenance import git_revision, package_versions, short_hash
    from ..runs.folder import atomic_run_dir, write_json
    from ..runs.result import default_run_dir
    from ..train.loop import TrainConfig, train_classifier

    task = TASKS[ns.task]
    if ns.seed < 0:
        raise SettingsError(f"--seed must be ≥ 0, got {ns.seed}. Fix: e.g. --seed 1")
    if ns.task == "reservoir":
        return _handle_reservoir(ns)
    config = TrainConfig(
        dataset=ns.dataset, data_dir=ns.data_dir, model=ns.model or task["model"], hidden=task["hidden"],
        ei_ratio=ns.ei_ratio, n_hidden=ns.n_hidden, dt_ms=ns.dt, duration_ms=ns.duration,
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
    shutil.rmtree(ckpt, ignore_errors=True)
    m = result["metrics"]
    line = f"test accuracy {m['test_accuracy']:.4f} (torch)"
    if "test_accuracy_brian2" in m:
        line += f", {m['test_accuracy_brian2']:.4f} (Brian2)"
    print(line)
    print(f"results: {folder}")
    return 0


def _handle_reservoir(ns) -> int:
    from dataclasses import asdict

    from ..data.datasets import load_dataset
    from ..provenance import git_revision, package_versions
    from ..runs.folder import atomic_run_dir, write_json
    from ..runs.result import default_run_dir
    from ..train.reservoir import ReservoirConfig, train_reservoir

    config = ReservoirConfig(seed=ns.seed, epochs=ns.epochs if ns.epochs != 30 else ReservoirConfig.epochs,
                             n_train=ns.limit or ReservoirConfig.n_train)
    data = load_dataset(ns.dataset, data_dir=ns.data_dir, seed=ns.seed)
    folder = Path(ns.out) if ns.out else default_run_dir("train_reservoir", asdict(config))
    log = (lambda *a: None) if ns.quiet else (lambda *a: print(*a, file=sys.stderr))
    with atomic_run_dir(folder) as tmp:
        metrics = train_reservoir(config, data, log=log)
        write_json(tmp / "run.json", {"protocol": "train_reservoir", "task": "reservoir",
                                      "settings": asdict(config), "seed": config.seed,
                                      "versions": package_versions(), "git_revision": git_revision()})
        write_json(tmp / "metrics.json", metrics)
    print(f"test accuracy {metrics['test_accuracy']:.4f} (torch readout on exported spikes), "
          f"{metrics['test_accuracy_brian2']:.4f} (readout put back into Brian2)")
    print(f"results: {folder}")
    return 0
