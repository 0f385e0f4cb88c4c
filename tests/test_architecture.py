"""The engine's shape: imports point down the layer table, never in a circle, never at private names.

Every module under ``pinglab_bio/`` is parsed (not imported) with :mod:`ast`; each import
statement, at module level or inside a function, relative or absolute, is one edge of the
import graph. See docs/ARCHITECTURE.md for what each layer does.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pinglab_bio"
ROOT = "pinglab_bio"

#: the layers, top to bottom: a module imports from its own layer or the layers below it
LAYERS = (
    ("cli",),
    ("workflow",),
    ("runs",),
    ("report",),
    ("train",),
    ("data",),
    ("measures",),
    ("sim",),
    ("model",),
    ("errors", "units", "paths", "provenance", "files", "_moved"),  # the ground floor
)
LAYER_OF = {top: depth for depth, tops in enumerate(LAYERS) for top in tops}

#: ``pinglab_bio/__init__.py`` is the public API over every layer: above them all, and no
#: module inside the package may import from it (that would be an upward import in disguise)
FACADE = ROOT

#: modules allowed to break the layer rule, with the reason (aliases of the 0.1 paths name every
#: layer, and only as strings)
EXEMPT_FROM_LAYERS = {f"{ROOT}._moved": "aliases of the 0.1 module paths"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


FILES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
         for name, path in FILES.items()}


def _where(module: str, node: ast.AST) -> str:
    return f"{FILES[module].relative_to(PACKAGE.parent)}:{node.lineno}"


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute dotted name a ``from X import ...`` statement reads from."""
    if node.level == 0:
        return node.module or ""
    package = module if _is_package(FILES[module]) else module.rpartition(".")[0]
    base = package.split(".")
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str):
    """``(target module, imported name or None, node)`` for every import of a pinglab_bio module.

    ``from pkg import name`` counts as an import of the module ``pkg.name`` when that is a
    module, else of ``pkg`` itself. A 0.1 path (``pinglab_bio.spec``) counts as its new home.
    """
    from pinglab_bio._moved import MOVED

    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == ROOT or alias.name.startswith(ROOT + "."):
                    yield MOVED.get(alias.name, alias.name), None, node
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            if source != ROOT and not source.startswith(ROOT + "."):
                continue
            source = MOVED.get(source, source)
            for alias in node.names:
                sub = MOVED.get(f"{source}.{alias.name}", f"{source}.{alias.name}")
                yield (sub, None, node) if sub in FILES else (source, alias.name, node)


def _known(target: str) -> str:
    """The module of ``target`` that exists (``pkg.mod.attr`` → ``pkg.mod``)."""
    while target not in FILES and "." in target:
        target = target.rpartition(".")[0]
    return target


def _layer(module: str):
    if module == FACADE:
        return -1
    return LAYER_OF.get(module.split(".")[1])


def _graph():
    edges = {}
    for module in FILES:
        for target, _, node in _imports(module):
            target = _known(target)
            if target != module:
                edges.setdefault(module, {}).setdefault(target, node)
    return edges


def _cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(FILES) + 100))
    for v in sorted(FILES):
        if v not in index:
            visit(v)
    return found


def _cycle_path(edges, component):
    """The shortest closed path through a component's first module, with the line of each import."""
    members = set(component)
    start = component[0]
    parent, queue = {start: None}, [start]
    for v in queue:  # breadth first: the first module found that imports `start` closes the loop
        if v != start and start in edges.get(v, {}):
            break
        for w in sorted(edges.get(v, {})):
            if w in members and w not in parent:
                parent[w] = v
                queue.append(w)
    path = [v]
    while parent[path[-1]] is not None:
        path.append(parent[path[-1]])
    path = [*reversed(path), start]
    steps = [f"{a} ({_where(a, edges[a][b])})" for a, b in zip(path, path[1:], strict=False)]
    return " → ".join(steps) + f" → {start}"


def test_every_module_is_in_a_layer_behavior():
    unknown = sorted(m for m in FILES if _layer(m) is None)
    assert not unknown, ("modules outside the layer table: " + ", ".join(unknown)
                         + ". Fix: put them in a package, or add the ground-floor module to LAYERS")


def test_no_import_cycles_behavior():
    edges = _graph()
    cycles = [_cycle_path(edges, c) for c in _cycles(edges)]
    assert not cycles, "import cycles (break each by moving the shared code down a layer):\n" + "\n".join(
        cycles)


def test_no_upward_imports_behavior():
    order = " > ".join("/".join(tops) for tops in LAYERS)
    bad = []
    for module in FILES:
        if module in EXEMPT_FROM_LAYERS or module == FACADE:
            continue
        for target, _, node in _imports(module):
            target = _known(target)
            if target == module:
                continue
            if target == FACADE:
                bad.append(f"{_where(module, node)}: {module} imports from the public API `{ROOT}`; "
                           "import the name from its home module")
            elif _layer(target) is not None and _layer(target) < _layer(module):
                bad.append(f"{_where(module, node)}: {module} ({LAYERS[_layer(module)][0]}) imports "
                           f"{target} ({LAYERS[_layer(target)][0]}), a layer above it")
    assert not bad, f"upward imports (layers, top to bottom: {order}):\n" + "\n".join(bad)


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_no_private_imports_behavior():
    """``from x import _y`` only for a private submodule of one's own package."""
    bad = []
    for module in FILES:
        for target, name, node in _imports(module):
            parts = target.split(".")
            for depth, part in enumerate(parts[1:], start=1):
                # a private module may be imported by the modules of the package that holds it
                if part.startswith("_") and not part.startswith("__") and \
                        not _inside(module, ".".join(parts[:depth])):
                    bad.append(f"{_where(module, node)}: {module} imports the private module {target}")
                    break
            if name is not None and name.startswith("_") and not name.startswith("__"):
                bad.append(f"{_where(module, node)}: {module} imports {target}.{name}, a private name; "
                           "make it public with a good name in its home module")
    assert not bad, "imports of private names:\n" + "\n".join(bad)


def _calls_and_imports(module: str):
    """Names bound to ``matplotlib``/``brian2`` and their functions, then every call through them."""
    bound = {}  # local name → dotted name it refers to
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    calls = []
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Call):
            parts, func = [], node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name) and func.id in bound:
                calls.append((".".join([bound[func.id], *reversed(parts)]), node))
    return calls


def test_no_global_matplotlib_state_behavior():
    """Figures are ``matplotlib.figure.Figure`` objects: no backend switch, no pyplot."""
    bad = []
    for module in FILES:
        for node in ast.walk(TREES[module]):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name in ("matplotlib.pyplot", "pylab") or name.startswith("matplotlib.pyplot."):
                    bad.append(f"{_where(module, node)}: imports {name}")
                    break
        for name, node in _calls_and_imports(module):
            if name == "matplotlib.use":
                bad.append(f"{_where(module, node)}: calls matplotlib.use")
    assert not bad, ("global matplotlib state (use `matplotlib.figure.Figure(...)` and "
                     "`fig.savefig`):\n" + "\n".join(bad))


def test_brian2_seed_called_in_one_place_behavior():
    """One home seeds Brian2's random numbers, so every run is seeded the same way."""
    sites = [_where(module, node) for module in FILES for name, node in _calls_and_imports(module)
             if name == "brian2.seed"]
    assert len(sites) == 1, f"brian2.seed( is called in {len(sites)} places: {', '.join(sites) or 'none'}"


def test_every_module_declares_all_and_no_star_imports_behavior():
    bad = []
    for module, tree in TREES.items():
        declared = any(isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
            isinstance(t, ast.Name) and t.id == "__all__"
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))
            for node in tree.body)
        if not declared:
            bad.append(f"{FILES[module].relative_to(PACKAGE.parent)}: no __all__")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                bad.append(f"{_where(module, node)}: star import from {node.module}")
    assert not bad, "\n".join(bad)


def _run(code: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=PACKAGE.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


_STATE = """
import json, sys, warnings
def state():
    return {"filters": [repr(f) for f in warnings.filters], "excepthook": repr(sys.excepthook),
            "showwarning": repr(warnings.showwarning)}
"""


def test_import_changes_no_global_state_behavior():
    got = _run(_STATE + """
before = state()
import pinglab_bio
heavy = ("elephant", "brian2", "matplotlib", "torch")
print(json.dumps({"before": before, "after": state(), "loaded": [m for m in heavy if m in sys.modules]}))
""")
    assert got["after"] == got["before"], "import pinglab_bio changed warning filters or sys.excepthook"
    assert got["loaded"] == [], f"import pinglab_bio imported {got['loaded']}; import them where used"


def test_modules_change_no_global_state_at_import_behavior():
    """Import every module after the libraries they import: the modules themselves change nothing."""
    external = set()
    for tree in TREES.values():
        for node in tree.body:  # module level only: that is what runs at import
            if isinstance(node, ast.Import):
                external.update(a.name for a in node.names if not a.name.startswith(ROOT))
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and not node.module.startswith(ROOT):
                external.add(node.module)
    # a __main__ module is a script (python -m ...): importing it runs the command, by design
    modules = sorted(name for name in FILES if not name.endswith(".__main__"))
    got = _run(_STATE + f"""
import importlib
for name in {sorted(external)!r}:
    try:
        importlib.import_module(name)
    except ImportError:
        pass
before = state()
changed = []
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except ImportError:
        continue
    now = state()
    if now != before:
        changed.append(name)
        before = now
print(json.dumps({{"changed": changed}}))
""")
    assert got["changed"] == [], ("importing these modules changed warning filters, showwarning or "
                                  f"sys.excepthook: {', '.join(got['changed'])}")


def test_moved_paths_still_import_behavior():
    from pinglab_bio._moved import MOVED

    got = _run(f"""
import importlib, json, sys, warnings
out = {{}}
for old, new in {sorted(MOVED.items())!r}:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            module = importlib.import_module(old)
        except ImportError as err:
            out[old] = {{"error": repr(err)}}
            continue
    out[old] = {{"same": module is sys.modules[new],
                "warned": any(issubclass(w.category, DeprecationWarning) and new in str(w.message)
                              for w in caught)}}
print(json.dumps(out))
""")
    bad = [f"{old}: {info}" for old, info in got.items() if info != {"same": True, "warned": True}]
    assert not bad, "0.1 paths that no longer import as their new home with a DeprecationWarning:\n" + \
        "\n".join(bad)


@pytest.mark.parametrize("layer", [tops[0] for tops in LAYERS[:-1]])
def test_layer_table_matches_packages_behavior(layer):
    assert (PACKAGE / layer / "__init__.py").is_file(), f"LAYERS names {layer}/, which is not a package"
