"""Toolkit overhead: pinglab-bio against a hand-written Brian2 script of the same network.

    python benchmarks/bench_overhead.py --repeats 3 --device runtime

Both build the default PING model (800 E, 200 I, conductance LIF, tonic + OU drive, random
connections with 1 ms delays; the numbers are read from the model file) and simulate 1 s at
dt 0.1 ms on the same device; neither measures anything afterwards. The arms alternate, and the best
of --repeats is kept for each. Goal: ratio ≤ 1.10.

First, the whole process as a user waits for it: ``pinglab-bio run ping_gamma`` (imports, model
check, build, run, measures, figures, report, run folder, interpreter exit) against a plain
Brian2 script of the same network with the model's numbers written in (``from brian2 import *``,
the numpy target as in the main job, build, run, print the spike counts: the same spikes), each
a fresh process, alternating. Goal: ratio ≤ 1.15. ``--phases`` then runs each arm once more with
timestamps and prints the seconds of each phase (imports, build, simulation, measures, figures,
files, interpreter exit).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import brian2 as b2
from _common import machine, run_raw, timer

from pinglab_bio.model.spec import load_model


def hand_written(spec, device: str, seed: int = 1) -> float:
    """The same network written directly in Brian2; returns the build + run wall time.

    The equations and numbers are those of ``spec`` (the catalogue's default model), so that
    both arms simulate the same network whatever the model file says today.
    """
    if device != "runtime":
        b2.set_device(device, directory=tempfile.mkdtemp(prefix="hand-"), build_on_run=True)
    b2.prefs.codegen.target = "numpy"
    exc_p, inh_p = spec.populations["exc"], spec.populations["inh"]
    drive = spec.drives["exc"].values
    ei, ie = spec.pathways["exc_to_inh"], spec.pathways["inh_to_exc"]
    with timer() as t:
        b2.seed(seed)
        dt = 0.1 * b2.ms
        exc = b2.NeuronGroup(exc_p.n, exc_p.equations + """
            g_drive_tonic : siemens (constant)
            g_drive_ou : siemens
            """, threshold="v > V_th", reset="v = V_reset", refractory=exc_p.refractory,
            method="exponential_euler", dt=dt,
            namespace={**spec.parameters, **exc_p.parameters, "mu": drive["mean"], "sigma": drive["sigma"],
                       "tau_ou": drive["tau"], "het": drive["heterogeneity"]})
        inh = b2.NeuronGroup(inh_p.n, inh_p.equations, threshold="v > V_th", reset="v = V_reset",
                             refractory=inh_p.refractory, method="exponential_euler", dt=dt,
                             namespace={**spec.parameters, **inh_p.parameters})
        exc.v = "-65*mV + rand()*15*mV"
        exc.g_drive_tonic = "mu*(1 + het*(2*rand() - 1))"
        exc.g_drive_ou = "sigma*randn()"
        exc.run_regularly("g_drive_ou = g_drive_ou*exp(-dt/tau_ou) "
                          "+ sigma*sqrt(1 - exp(-2*dt/tau_ou))*randn()\n"
                          "g_drive = clip(g_drive_tonic + g_drive_ou, 0*mu, inf*mu)", when="start")
        inh.v = "-65*mV + rand()*15*mV"
        s_ei = b2.Synapses(exc, inh, "w : siemens", on_pre=ei.on_pre, delay=ei.delay, dt=dt)
        s_ie = b2.Synapses(inh, exc, "w : siemens", on_pre=ie.on_pre, delay=ie.delay, dt=dt)
        s_ei.connect(p=ei.p)
        s_ei.w = ei.weight
        s_ie.connect(p=ie.p)
        s_ie.w = ie.weight
        mons = [b2.SpikeMonitor(exc), b2.SpikeMonitor(inh)]
        b2.Network(exc, inh, s_ei, s_ie, *mons).run(1 * b2.second, namespace={})
        spikes = mons[0].num_spikes + mons[1].num_spikes
    if device != "runtime":
        b2.device.reinit()
        b2.set_device("runtime")
    assert spikes > 0
    return t.s


def plain_script(spec, seed: int = 1) -> str:
    """A plain Brian2 script of ``spec``'s network with its numbers written in (no pinglab_bio)."""
    exc_p, inh_p = spec.populations["exc"], spec.populations["inh"]
    drive = spec.drives["exc"].values
    ei, ie = spec.pathways["exc_to_inh"], spec.pathways["inh_to_exc"]
    exc_ns = {**spec.parameters, **exc_p.parameters, "mu": drive["mean"], "sigma": drive["sigma"],
              "tau_ou": drive["tau"], "het": drive["heterogeneity"]}
    inh_ns = {**spec.parameters, **inh_p.parameters}

    def ns(values: dict) -> str:
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in values.items()) + "}"

    exc_eqs = exc_p.equations + "\ng_drive_tonic : siemens (constant)\ng_drive_ou : siemens\n"
    update = ("g_drive_ou = g_drive_ou*exp(-dt/tau_ou) + sigma*sqrt(1 - exp(-2*dt/tau_ou))*randn()\n"
              "g_drive = clip(g_drive_tonic + g_drive_ou, 0*mu, inf*mu)")
    lines = [
        "from brian2 import *",
        # the main job runs on the numpy target; Brian2's default ("auto") would pick cython
        # where it compiles, with extensions cached on disk by earlier runs
        "prefs.codegen.target = 'numpy'",
        f"seed({seed})",
        "step = 0.1*ms",
        f"exc = NeuronGroup({exc_p.n}, {exc_eqs!r}, threshold='v > V_th', reset='v = V_reset', "
        f"refractory={exc_p.refractory!r}, method='exponential_euler', dt=step, namespace={ns(exc_ns)})",
        f"inh = NeuronGroup({inh_p.n}, {inh_p.equations!r}, threshold='v > V_th', reset='v = V_reset', "
        f"refractory={inh_p.refractory!r}, method='exponential_euler', dt=step, namespace={ns(inh_ns)})",
        "exc.v = '-65*mV + rand()*15*mV'",
        "exc.g_drive_tonic = 'mu*(1 + het*(2*rand() - 1))'",
        "exc.g_drive_ou = 'sigma*randn()'",
        f"exc.run_regularly({update!r}, when='start')",
        "inh.v = '-65*mV + rand()*15*mV'",
        f"s_ei = Synapses(exc, inh, 'w : siemens', on_pre={ei.on_pre!r}, delay={ei.delay!r}, dt=step)",
        f"s_ie = Synapses(inh, exc, 'w : siemens', on_pre={ie.on_pre!r}, delay={ie.delay!r}, dt=step)",
        f"s_ei.connect(p={ei.p!r})",
        f"s_ei.w = {ei.weight!r}",
        f"s_ie.connect(p={ie.p!r})",
        f"s_ie.w = {ie.weight!r}",
        "m_exc, m_inh = SpikeMonitor(exc), SpikeMonitor(inh)",
        "run(1*second, namespace={})",
        "print('E spikes', m_exc.num_spikes, 'I spikes', m_inh.num_spikes)",
    ]
    return "\n".join(lines) + "\n"


def whole_process(spec, repeats: int, workdir: Path) -> tuple[list, list]:
    """Wall times of ``pinglab-bio run ping_gamma`` and of the plain script, each a new process."""
    script = workdir / "plain.py"
    script.write_text(plain_script(spec))
    cli = Path(sys.executable).with_name("pinglab-bio")
    toolkit, plain = [], []
    for k in range(repeats + 1):  # the first pair fills the caches (unit check, disk) and is not kept
        t0 = time.perf_counter()
        subprocess.run([str(cli), "run", "ping_gamma", "--seed", "1", "--quiet", "--out",
                        str(workdir / f"run{k}")], check=True, capture_output=True, cwd=workdir)
        t1 = time.perf_counter()
        subprocess.run([sys.executable, str(script)], check=True, capture_output=True, cwd=workdir)
        t2 = time.perf_counter()
        if k:
            toolkit.append(t1 - t0)
            plain.append(t2 - t1)
    return toolkit, plain


# The toolkit arm with timestamps: the same command, its functions wrapped to note when they start and end.
TOOLKIT_MARKS = r"""
import atexit, json, os, sys, time
marks = [("started", time.time())]
def _save():
    marks.append(("exit handlers", time.time()))
    with open(os.environ["BENCH_MARKS"], "w") as fh:
        json.dump(marks, fh)
atexit.register(_save)  # registered first, so it runs after every other exit handler
import pinglab_bio.report.figures as figures
import pinglab_bio.report.html
import pinglab_bio.runs.result as result
import pinglab_bio.workflow.protocol
marks.append(("imported", time.time()))
def timed(module, name, label):
    inner = getattr(module, name)
    def wrapper(*args, **kwargs):
        marks.append((label + " start", time.time()))
        try:
            return inner(*args, **kwargs)
        finally:
            marks.append((label + " end", time.time()))
    setattr(module, name, wrapper)
timed(result, "build_network", "build")
timed(result, "measure_run", "measures")
timed(result, "write_run", "files")
timed(figures, "run_figures", "figures")
from pinglab_bio.cli.app import main
sys.exit(main(["run", "ping_gamma", "--seed", "1", "--quiet", "--out", sys.argv[1]]))
"""


def _marked_plain(spec) -> str:
    """The plain script with timestamps after its import, its build and its run."""
    head = "import atexit, json, os, time\nmarks = [('started', time.time())]\n"
    tail = ("def _save():\n    marks.append(('exit handlers', time.time()))\n"
            "    json.dump(marks, open(os.environ['BENCH_MARKS'], 'w'))\natexit.register(_save)\n")
    out = []
    for line in plain_script(spec).splitlines():
        if line.startswith("run("):
            out.append("marks.append(('built', time.time()))")
        out.append(line)
        if line.startswith("from brian2 import"):
            out.append("marks.append(('imported', time.time()))")
        if line.startswith("run("):
            out.append("marks.append(('ran', time.time()))")
    return head + tail + "\n".join(out) + "\n"


def _marks(argv: list[str], workdir: Path) -> tuple[dict, float, float]:
    """Run ``argv`` with BENCH_MARKS set; its marks (s since launch), total wall time and exit time."""
    marks_file = workdir / "marks.json"
    launched = time.time()
    subprocess.run(argv, check=True, capture_output=True, cwd=workdir, env={**os.environ,
                                                                            "BENCH_MARKS": str(marks_file)})
    ended = time.time()
    marks = {name: t - launched for name, t in json.loads(marks_file.read_text())}
    return marks, ended - launched, ended - launched - marks["exit handlers"]


def phases(spec, repeats: int, workdir: Path) -> tuple[dict, dict]:
    """Seconds per phase of each arm, from its fastest of ``repeats`` timestamped runs."""
    script = workdir / "plain_marked.py"
    script.write_text(_marked_plain(spec))
    best_toolkit, best_plain = None, None
    for k in range(repeats):
        tk = _marks([sys.executable, "-c", TOOLKIT_MARKS, str(workdir / f"marked{k}")], workdir)
        pl = _marks([sys.executable, str(script)], workdir)
        best_toolkit = tk if best_toolkit is None or tk[1] < best_toolkit[1] else best_toolkit
        best_plain = pl if best_plain is None or pl[1] < best_plain[1] else best_plain
    m, total, exit_s = best_toolkit
    figures = m["figures end"] - m["figures start"]
    toolkit = {
        "interpreter start": m["started"],
        "imports": m["imported"] - m["started"],
        "flags, model file, unit check, device": m["build start"] - m["imported"],
        "build the network": m["build end"] - m["build start"],
        "simulate 1 s": m["measures start"] - m["build end"],
        "measures (metrics.json)": m["measures end"] - m["measures start"],
        "figures (3 PNG)": figures,
        "spikes.h5, run.json, metrics.json, report.html": m["files end"] - m["files start"] - figures,
        "printing (toolkit: protocol.json, folder rename)": m["exit handlers"] - m["files end"],
        "interpreter exit": exit_s,
        "total": total,
    }
    m, total, exit_s = best_plain
    plain = {
        "interpreter start": m["started"],
        "imports": m["imported"] - m["started"],
        "build the network": m["built"] - m["imported"],
        "simulate 1 s": m["ran"] - m["built"],
        "printing (toolkit: protocol.json, folder rename)": m["exit handlers"] - m["ran"],
        "interpreter exit": exit_s,
        "total": total,
    }
    return toolkit, plain


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="runtime")
    ap.add_argument("--whole-process-only", action="store_true", help="skip the in-process comparison")
    ap.add_argument("--phases", action="store_true", help="also time each phase of both arms")
    args = ap.parse_args()
    os.environ.setdefault("PINGLAB_BIO_CACHE", tempfile.mkdtemp(prefix="bench-cache-"))
    spec = load_model("ping_coba")
    print(f"# {machine()}; default PING model, 1 s at dt 0.1 ms")
    with tempfile.TemporaryDirectory() as workdir:
        whole, plain = whole_process(spec, args.repeats, Path(workdir))
        split = phases(spec, args.repeats, Path(workdir)) if args.phases else None
    print(f"whole process, pinglab-bio run ping_gamma: best {min(whole):6.2f} s   "
          f"all {', '.join(f'{x:.2f}' for x in whole)}")
    print(f"whole process, plain Brian2 script:        best {min(plain):6.2f} s   "
          f"all {', '.join(f'{x:.2f}' for x in plain)}")
    print(f"whole-process ratio:                       {min(whole) / min(plain):6.3f}   (goal ≤ 1.15)")
    medians = statistics.median(whole) / statistics.median(plain)
    print(f"ratio of the medians:                      {medians:6.3f}")
    if split is not None:
        toolkit, hand = split
        print("phase (fastest timestamped run of each arm)        | pinglab-bio (s) | plain Brian2 (s)")
        for name, seconds in toolkit.items():
            other = f"{hand[name]:16.2f}" if name in hand else f"{'—':>16}"
            print(f"{name:<51}| {seconds:15.2f} | {other}")
    if args.whole_process_only:
        return
    toolkit, hand = [], []
    for _ in range(args.repeats):
        toolkit.append(run_raw(spec, args.device, "1 s")["job_s"])
        hand.append(hand_written(spec, args.device))
    print(f"in one process, build + run only, device {args.device}:")
    print(f"toolkit (build + run):      best {min(toolkit):6.2f} s   "
          f"all {', '.join(f'{x:.2f}' for x in toolkit)}")
    print(f"hand-written Brian2:        best {min(hand):6.2f} s   all {', '.join(f'{x:.2f}' for x in hand)}")
    print(f"overhead ratio:             {min(toolkit) / min(hand):6.3f}   (goal ≤ 1.10)")


if __name__ == "__main__":
    main()
