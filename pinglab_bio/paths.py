"""Where the catalogue lives: ``models/``, ``protocols/`` and ``analysis/``.

In a checkout (or an editable install) they sit beside the package; in an installed wheel they
are carried inside it as ``pinglab_bio/_catalogue/<kind>/``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["catalogue_dir", "find_model", "list_models", "find_protocol", "list_protocols",
           "find_analysis", "repo_root", "import_script", "cache_dir"]

_PACKAGE = Path(__file__).resolve().parent


def repo_root() -> Path | None:
    """The checkout holding this package, or None for an installed wheel."""
    root = _PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "models").is_dir() else None


def catalogue_dir(kind: str) -> Path:
    """The folder of ``models``, ``protocols`` or ``analysis``."""
    root = repo_root()
    return (root / kind) if root else (_PACKAGE / "_catalogue" / kind)


def _names(kind: str, suffix: str) -> list[str]:
    folder = catalogue_dir(kind)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob(f"*{suffix}") if not p.name.startswith("_"))


def list_models() -> list[str]:
    """Names of the catalogue's model files (``models/<name>.toml``), sorted."""
    return _names("models", ".toml")


def list_protocols() -> list[str]:
    """Names of the catalogue's protocol scripts (``protocols/<name>.py``), sorted."""
    return _names("protocols", ".py")


def find_model(name_or_path) -> Path | None:
    """The model file of a catalogue name or a path to a ``.toml`` file; None when there is none."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.is_file():
        return path
    candidate = catalogue_dir("models") / f"{name_or_path}.toml"
    return candidate if candidate.is_file() else None


def find_protocol(name_or_path) -> Path | None:
    """The protocol script of a catalogue name or a path to a ``.py`` file; None when there is none."""
    path = Path(name_or_path)
    if path.suffix == ".py" and path.is_file():
        return path
    candidate = catalogue_dir("protocols") / f"{name_or_path}.py"
    return candidate if candidate.is_file() else None


def find_analysis(protocol: str) -> Path | None:
    """The analysis script of a protocol (``analysis/<protocol>.py``); None when it has none."""
    candidate = catalogue_dir("analysis") / f"{protocol}.py"
    return candidate if candidate.is_file() else None


def import_script(path: Path, module_name: str):
    """Import a catalogue script (a protocol or an analysis) from its file as ``module_name``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cache_dir() -> Path:
    """Where builds and other caches are kept: ``$PINGLAB_BIO_CACHE`` or ``~/.cache/pinglab-bio``."""
    import os

    root = os.environ.get("PINGLAB_BIO_CACHE") or Path.home() / ".cache" / "pinglab-bio"
    return Path(root)
