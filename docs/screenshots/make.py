"""Make the report screenshots in this folder: one small run of each report kind, rendered in
headless Chromium.

    .venv/bin/python docs/screenshots/make.py            # all kinds (reservoir alone: about 1.5 minutes)
    .venv/bin/python docs/screenshots/make.py ping_gamma # one kind

Kinds: ``ping_gamma`` (the run folder's own report and the ``analyze`` report), ``tau_gaba_sweep``
(the sweep's own report and the ``analyze`` report), ``dt_stability`` (a tiny grid),
``train_ei_readout`` (where torch is installed) and ``reservoir`` (its ``analyze`` report, the
same page as the run folder's own; 120 / 60 digits through the
800 / 200 network, all four readouts, one other dt; where torch and scikit-learn are installed).
Runs are short (0.5 s of network time), so the numbers differ from the README's 1 s runs; the
layout is what the screenshots show.

Each report.html is rendered at 1400 × 2000 pixels (the top of the page) and saved as a
palette PNG, a few hundred KB at most. Needs ``chromium`` (Debian) on the PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pinglab_bio.cli.app import main

__all__ = ["KINDS", "screenshot", "make"]

HERE = Path(__file__).resolve().parent
WINDOW = (1400, 2000)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def _cli(*argv) -> None:
    code = main([str(a) for a in argv])
    if code != 0:
        raise SystemExit(f"`pinglab-bio {' '.join(map(str, argv))}` exited {code}")


def screenshot(page: Path, png: Path, work: Path) -> Path:
    """Render ``page`` in headless Chromium at :data:`WINDOW` and save it as a palette PNG."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed. Fix: apt-get install chromium")
    raw = work / f"raw-{png.name}"
    profile = Path(tempfile.mkdtemp(prefix="profile-", dir=work))
    subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                    "--virtual-time-budget=10000", f"--screenshot={raw}", page.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    from PIL import Image

    with Image.open(raw) as img:
        img.convert("RGB").quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)
    print(f"{png.relative_to(HERE.parent.parent)}  {png.stat().st_size / 1024:.0f} KB")
    return png


def _ping_gamma(work: Path) -> list[tuple[Path, str]]:
    run = work / "ping_gamma"
    _cli("run", "ping_gamma", "--duration", "0.5s", "--out", run, "--quiet")
    _cli("analyze", run, "--report", work / "ping_gamma_analyze.html")
    return [(run / "report.html", "ping_gamma_run"), (work / "ping_gamma_analyze.html", "ping_gamma_analyze")]


def _tau_gaba_sweep(work: Path) -> list[tuple[Path, str]]:
    run = work / "tau_gaba_sweep"
    _cli("run", "tau_gaba_sweep", "--tau-gaba-values", "4.5ms,9ms,18ms", "--duration", "0.5s", "--out", run,
         "--quiet")
    _cli("analyze", run, "--report", work / "tau_gaba_sweep_analyze.html")
    return [(run / "report.html", "tau_gaba_sweep_run"),
            (work / "tau_gaba_sweep_analyze.html", "tau_gaba_sweep_analyze")]


def _dt_stability(work: Path) -> list[tuple[Path, str]]:
    run = work / "dt_stability"
    _cli("run", "dt_stability", "--dt-values", "0.05ms,0.1ms,0.25ms", "--seeds", "1", "--variants", "model",
         "--duration", "0.5s", "--out", run, "--quiet")
    _cli("analyze", run, "--report", work / "dt_stability_analyze.html")
    return [(work / "dt_stability_analyze.html", "dt_stability_analyze")]


def _train_ei_readout(work: Path) -> list[tuple[Path, str]]:
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch is not installed: no training screenshot (pip install -e '.[train]')")
        return []
    run = work / "train_ei_readout"
    _cli("train", "ei_readout", "--dataset", "digits", "--epochs", "4", "--limit", "400", "--out", run,
         "--quiet")
    _cli("analyze", run, "--report", work / "train_ei_readout_analyze.html")
    return [(work / "train_ei_readout_analyze.html", "train_ei_readout_analyze")]


def _reservoir(work: Path) -> list[tuple[Path, str]]:
    try:
        import sklearn  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        print("torch or scikit-learn is not installed: no reservoir screenshot (pip install -e '.[train]')")
        return []
    run = work / "reservoir"
    # the whole 800 E / 200 I network on a few digits: every readout, one other dt
    _cli("run", "reservoir", "--n-train", "120", "--n-test", "60", "--readout",
         "ridge,logistic,leaky,spiking", "--epochs", "6", "--batch-size", "16", "--eval-dt", "0.25ms",
         "--spontaneous-trials", "5", "--out", run, "--quiet")
    _cli("analyze", run, "--report", work / "reservoir_analyze.html")
    # the run folder's own report.html is this same page, so one screenshot shows both
    return [(work / "reservoir_analyze.html", "reservoir_analyze")]


KINDS = {"ping_gamma": _ping_gamma, "tau_gaba_sweep": _tau_gaba_sweep, "dt_stability": _dt_stability,
         "train_ei_readout": _train_ei_readout, "reservoir": _reservoir}


def make(kinds=None) -> list[Path]:
    """Run each kind in a temporary folder and write its screenshots here; return their paths."""
    kinds = list(kinds or KINDS)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise SystemExit(f"unknown kind {', '.join(unknown)}. Fix: use some of {', '.join(KINDS)}")
    out = []
    with tempfile.TemporaryDirectory(prefix="pinglab-screenshots-") as tmp:
        work = Path(tmp)
        for kind in kinds:
            for page, name in KINDS[kind](work):
                out.append(screenshot(page, HERE / f"{name}.png", work))
    return out


if __name__ == "__main__":
    make(sys.argv[1:])
