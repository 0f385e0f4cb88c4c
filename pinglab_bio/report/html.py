"""A self-contained HTML report of a run folder: figures embedded, metrics, model, provenance."""

from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from pathlib import Path

from ..files import usual_mode

__all__ = ["write_run_report", "html_page", "table", "figure_tag", "escape", "model_section",
           "provenance_section", "numbers_table", "markdown_page", "write_text_atomic"]


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def escape(value) -> str:
    """Any value as HTML text: ``<``, ``>``, ``&`` and quotes escaped."""
    return _esc(value)


def figure_tag(path: Path, caption: str = "") -> str:
    """An <img> with the PNG embedded as base64, so the report needs no other file."""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return (f'<figure><img alt="{_esc(caption or Path(path).stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(rows, header=None) -> str:
    """An HTML table; every cell is escaped."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in header) if header else ""
    body = "".join("<tr>" + "".join(f"<td>{_esc(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{'<tr>' + head + '</tr>' if head else ''}{body}</table>"


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222;line-height:1.4}
h1{font-size:1.5em} h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
figure{margin:1em 0} img{max-width:100%} figcaption{font-size:.85em;color:#555}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.8em}
"""


def html_page(title: str, sections: list[tuple[str, str]]) -> str:
    """A full HTML document from ``[(heading, html body), ...]`` (bodies are trusted HTML)."""
    body = "".join(f"<section><h2>{_esc(h)}</h2>{b}</section>" for h, b in sections)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{_esc(title)}</h1>{body}</body></html>\n")


def write_run_report(folder: Path, info: dict, metrics: dict, figures: list[str],
                     target: Path | None = None) -> Path:
    """Write ``report.html`` for one simulation run (``folder`` holds the figures)."""
    folder = Path(folder)
    metric_rows = [(k, v) for k, v in metrics.items()]
    params = info.get("parameters", {})
    param_rows = [(group, name, val.get("text", val) if isinstance(val, dict) else val)
                  for group, values in params.items() for name, val in values.items()]
    prov = {k: info.get(k) for k in ("protocol", "seed", "dt", "duration", "transient", "device",
                                     "git_revision", "wall_time_s", "versions")}
    sections = [
        ("Metrics", table(metric_rows, ["metric", "value"])),
        ("Figures", "".join(figure_tag(folder / f, Path(f).stem) for f in figures)),
        ("Parameters", table(param_rows, ["group", "name", "value"])),
        ("Model file", f"<p>{_esc(info['model'].get('path'))} · sha256 {_esc(info['model']['sha256'])}"
                       f" · overrides {_esc(info['model'].get('overrides'))}</p>"
                       f"<pre>{_esc(info['model']['source'])}</pre>"),
        ("Provenance", f"<pre>{_esc(json.dumps(prov, indent=2))}</pre>"),
    ]
    target = Path(target) if target else folder / "report.html"
    target.write_text(html_page(f"{info.get('protocol', 'run')}: {info['model']['name']}", sections))
    return target


def _param_rows(info: dict) -> list:
    params = info.get("parameters", {})
    return [(group, name, val.get("text", val) if isinstance(val, dict) else val)
            for group, values in params.items() if isinstance(values, dict) for name, val in values.items()]


def model_section(info: dict) -> str:
    """The model's equations (the whole model file), its overrides and every parameter with its unit."""
    model = info.get("model", {})
    overrides = model.get("overrides") or {}
    over = (table(sorted(overrides.items()), ["override (--set)", "value"]) if overrides
            else "<p>no overrides</p>")
    return (f"<p>model <b>{_esc(model.get('name'))}</b> · file {_esc(model.get('path'))} · sha256 "
            f"<code>{_esc(model.get('sha256'))}</code></p>{over}"
            f"<details><summary>parameters</summary>{table(_param_rows(info), ['group', 'name', 'value'])}"
            f"</details><details open><summary>model file (equations)</summary>"
            f"<pre>{_esc(model.get('source', ''))}</pre></details>")


def provenance_section(infos: list, folders: list) -> str:
    """Where each run came from: folder, seed, dt, duration, device, git revision, versions."""
    rows = []
    for info, folder in zip(infos, folders, strict=True):
        rows.append((str(folder), info.get("protocol"), info.get("seed"), info.get("dt", {}).get("text"),
                     info.get("duration", {}).get("text"), (info.get("device") or {}).get("name"),
                     info.get("git_revision"), info.get("model", {}).get("sha256", "")[:12]))
    first = infos[0] if infos else {}
    versions = first.get("versions", {})
    return (table(rows, ["run folder", "protocol", "seed", "dt", "duration", "device", "git", "model sha256"])
            + f"<p>package versions: {_esc(', '.join(f'{k} {v}' for k, v in versions.items()))}</p>")


def _flat(prefix, value, rows):
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, rows)
    elif isinstance(value, list) and value and all(isinstance(v, (int, float)) or v is None for v in value):
        rows.append((prefix, ", ".join(_fmt(v) for v in value[:12]) + (" …" if len(value) > 12 else "")))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for k, v in enumerate(value):
            _flat(f"{prefix}.{k}", v, rows)
    elif not isinstance(value, list):
        rows.append((prefix, value))


def numbers_table(numbers: dict) -> str:
    """A two-column table of a nested numbers dict (keys joined with dots)."""
    rows: list = []
    _flat("", numbers, rows)
    return table(rows, ["quantity", "value"])


def markdown_page(title: str, sections: list, numbers: dict) -> str:
    """Markdown: the title, each section (its HTML kept inline), then the numbers as a table."""
    rows: list = []
    _flat("", numbers, rows)
    lines = [f"# {_esc(title)}", ""]
    for heading, body in sections:
        lines += [f"## {_esc(heading)}", "", body, ""]
    lines += ["## Numbers", "", "| quantity | value |", "| --- | --- |"]
    lines += [f"| {_esc(k)} | {_esc(_fmt(v))} |" for k, v in rows]
    return "\n".join(lines) + "\n"


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path`` and rename it: never half written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        usual_mode(Path(tmp), folder=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
