"""A self-contained HTML report of a run folder: figures embedded, metrics, model, provenance."""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import tempfile
from html.parser import HTMLParser
from pathlib import Path

from ..files import usual_mode
from .metrics import format_value, metric_rows

__all__ = ["write_run_report", "html_page", "table", "figure_tag", "escape", "model_section",
           "provenance_section", "provenance_rows", "metrics_table", "numbers_table", "markdown_page",
           "html_to_markdown", "write_text_atomic", "write_report"]


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
    if isinstance(value, str):
        return value
    return format_value(value)


def table(rows, header=None) -> str:
    """An HTML table; every cell is escaped, numbers formatted by
    :func:`~pinglab_bio.report.metrics.format_value`. Wide tables scroll inside their own box
    rather than widening the page."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in header) if header else ""
    body = "".join("<tr>" + "".join(f"<td>{_esc(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<div class='tbl'><table>{'<tr>' + head + '</tr>' if head else ''}{body}</table></div>"


def metrics_table(metrics: dict) -> str:
    """The scalar metrics of a run: label, value, unit and one-line meaning, from the metric
    registry (:mod:`pinglab_bio.report.metrics`)."""
    return table(metric_rows(metrics), ["metric", "value", "unit", "meaning"])


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;
line-height:1.4}
h1{font-size:1.5em} h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.tbl{max-width:100%;overflow-x:auto;margin:.6em 0}
table{border-collapse:collapse;font-size:.85em} td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}
th{background:#f3f3f3}
figure{margin:1em 0} img{max-width:100%;height:auto} figcaption{font-size:.85em;color:#444;max-width:60em}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.8em} p.note{font-size:.9em;color:#444}
"""


def html_page(title: str, sections: list[tuple[str, str]]) -> str:
    """A full HTML document from ``[(heading, html body), ...]`` (bodies are trusted HTML)."""
    body = "".join(f"<section><h2>{_esc(h)}</h2>{b}</section>" for h, b in sections)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{_esc(title)}</h1>{body}</body></html>\n")


def write_run_report(folder: Path, info: dict, metrics: dict, figures: list[str],
                     target: Path | None = None) -> Path:
    """Write ``report.html`` for one simulation run (``folder`` holds the figures).

    Metrics carry their unit and meaning (the metric registry); each figure has a caption that
    says what it shows and the window; the provenance is a table.
    """
    from .figures import run_figure_captions
    from .metrics import GAMMA_SHARE_NOTE

    folder = Path(folder)
    captions = run_figure_captions(info, metrics)
    sections = [
        ("Metrics", metrics_table(metrics) + f"<p class='note'>{_esc(GAMMA_SHARE_NOTE)}</p>"),
        ("Figures", "".join(figure_tag(folder / f, captions.get(Path(f).stem, Path(f).stem))
                            for f in figures)),
        ("Model", model_section(info)),
        ("Provenance", provenance_section([info], [folder])),
    ]
    target = Path(target) if target else folder / "report.html"
    target.write_text(html_page(f"{info.get('protocol', 'run')}: {info['model']['name']}", sections))
    return target


def _param_rows(info: dict) -> list:
    params = info.get("parameters", {})
    return [(group, name, val.get("text", val) if isinstance(val, dict) else val)
            for group, values in params.items() if isinstance(values, dict) for name, val in values.items()]


_NOISY_FLOAT = re.compile(r"\d+\.\d{10,}")  # 18.000000000000004: a float written with its rounding noise


def model_section(info: dict) -> str:
    """The model's equations (the whole model file), its overrides and every parameter with its unit."""
    model = info.get("model", {})
    overrides = model.get("overrides") or {}
    over = (table([(k, _NOISY_FLOAT.sub(lambda m: f"{float(m.group()):.12g}", str(v)))
                   for k, v in sorted(overrides.items())], ["override (--set)", "value"]) if overrides
            else "<p>no overrides</p>")
    return (f"<p>model <b>{_esc(model.get('name'))}</b> · file {_esc(model.get('path'))} · sha256 "
            f"<code>{_esc(model.get('sha256'))}</code></p>{over}"
            f"<details><summary>parameters</summary>{table(_param_rows(info), ['group', 'name', 'value'])}"
            f"</details><details open><summary>model file (equations)</summary>"
            f"<pre>{_esc(model.get('source', ''))}</pre></details>")


def _seconds(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{float(value):.2f} s"
    return "n/a"


def provenance_rows(info: dict) -> list[tuple[str, str]]:
    """``[(what, value), ...]`` of one run's provenance, formatted: times with units, wall times
    to 0.01 s, versions as "name version" pairs."""
    device = info.get("device") or {}
    dev = device.get("name") or "n/a"
    if device.get("target"):
        dev += f" (target {device['target']})"
    if device.get("threads"):
        dev += f", {device['threads']} threads"
    walls = info.get("wall_time_s") or {}
    if isinstance(walls, dict):
        wall = ", ".join(f"{k.removesuffix('_s')} {_seconds(v)}" for k, v in walls.items())
    else:
        wall = _seconds(walls)
    portable = (info.get("portable_random") or {}).get("enabled")
    model = info.get("model") or {}
    versions = info.get("versions") or {}
    rows = [("protocol", info.get("protocol")), ("seed", info.get("seed")),
            ("dt", (info.get("dt") or {}).get("text")),
            ("duration", (info.get("duration") or {}).get("text")),
            ("transient left out", (info.get("transient") or {}).get("text")), ("device", dev),
            ("portable random numbers", "yes" if portable else "no" if portable is not None else None),
            ("model", model.get("name")), ("model sha256", model.get("sha256")),
            ("git revision", info.get("git_revision")), ("wall time", wall or None),
            ("package versions", ", ".join(f"{k} {v}" for k, v in versions.items()) or None)]
    return [(k, "n/a" if v is None else v) for k, v in rows]


def provenance_section(infos: list, folders: list) -> str:
    """Where each run came from: folder, seed, dt, duration, device, git revision, versions.

    One run: a two-column table of :func:`provenance_rows`. Several: one row per run, then the
    package versions of the first."""
    if len(infos) == 1:
        return table([("run folder", str(folders[0]))] + provenance_rows(infos[0]), ["", "value"])
    rows = []
    for info, folder in zip(infos, folders, strict=True):
        rows.append((str(folder), info.get("protocol"), info.get("seed"), (info.get("dt") or {}).get("text"),
                     (info.get("duration") or {}).get("text"), (info.get("device") or {}).get("name"),
                     info.get("git_revision"), (info.get("model") or {}).get("sha256", "")[:12]))
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


class _Markdown(HTMLParser):
    """The HTML the reports write (p, b, code, pre, table, figure, details, ul) as Markdown."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.text: list[str] = []
        self.table: list | None = None
        self.row: list | None = None
        self.cell: list | None = None
        self.pre: list | None = None
        self.image = None
        self.caption: list | None = None

    def _flush(self):
        text = "".join(self.text).strip()
        if text:
            self.out += [re.sub(r"\s+", " ", text), ""]
        self.text = []

    def _sink(self):
        if self.cell is not None:
            return self.cell
        if self.caption is not None:
            return self.caption
        return self.text

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.pre is not None:
            return
        if tag in ("p", "div", "section", "details", "ul", "figure"):
            self._flush()
        if tag == "table":
            self._flush()
            self.table = []
        elif tag == "tr" and self.table is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []
        elif tag == "pre":
            self._flush()
            self.pre = []
        elif tag == "img":
            self.image = (attrs.get("src", ""), attrs.get("alt", ""))
        elif tag == "figcaption":
            self.caption = []
        elif tag in ("b", "strong", "summary"):
            self._sink().append("**")
        elif tag == "code":
            self._sink().append("`")
        elif tag == "li":
            self._flush()
            self.text.append("- ")
        elif tag == "br":
            self._sink().append(" ")

    def handle_endtag(self, tag):
        if self.pre is not None:
            if tag == "pre":
                # "<" that could open a tag is escaped even here, so that no renderer that
                # mishandles fences can turn user text into markup; "v > V_th", "a < b" stay as they are
                body = re.sub(r"<(?=[A-Za-z/!?])", "&lt;", "".join(self.pre).rstrip("\n"))
                fence = "~~~~" if "```" in body else "```"
                self.out += [fence, body, fence, ""]
                self.pre = None
            return
        if tag in ("td", "th") and self.cell is not None:
            cell = re.sub(r"\s+", " ", "".join(self.cell)).strip().replace("|", "\\|")
            self.row.append(cell)
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.table.append(self.row)
            self.row = None
        elif tag == "table" and self.table is not None:
            rows, self.table = self.table, None
            if rows:
                width = max(len(r) for r in rows)
                rows = [r + [""] * (width - len(r)) for r in rows]
                self.out += ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * width]
                self.out += ["| " + " | ".join(r) + " |" for r in rows[1:]] + [""]
        elif tag == "figcaption":
            self.caption_text = re.sub(r"\s+", " ", "".join(self.caption)).strip()
            self.caption = None
        elif tag == "figure":
            src, alt = self.image or ("", "")
            caption = getattr(self, "caption_text", "") or alt
            self.out += [f"![{alt}]({src})", "", f"*{caption}*" if caption else "", ""]
            self.image, self.caption_text = None, ""
        elif tag in ("b", "strong", "summary"):
            self._sink().append("**")
            if tag == "summary":
                self._flush()
        elif tag == "code":
            self._sink().append("`")
        elif tag in ("p", "div", "details", "li", "ul", "section"):
            self._flush()

    def handle_data(self, data):
        if self.pre is not None:
            self.pre.append(data)
        else:
            self._sink().append(html.escape(data, quote=False))


def html_to_markdown(body: str) -> str:
    """Markdown of a report section's HTML: tables as pipe tables, figures as images with their
    caption, ``<pre>`` as fenced code. Text stays HTML-escaped (``&lt;`` is literal text in
    Markdown too), so user text never becomes markup."""
    parser = _Markdown()
    parser.feed(body)
    parser.close()
    parser._flush()
    return "\n".join(parser.out).strip() + "\n"


def markdown_page(title: str, sections: list, numbers: dict) -> str:
    """Markdown: the title, each section converted from its HTML (:func:`html_to_markdown`), then
    the numbers as a table. Figures are images embedded as data URIs until
    :func:`write_report` writes them as files beside the page."""
    rows: list = []
    _flat("", numbers, rows)
    lines = [f"# {_esc(title)}", ""]
    for heading, body in sections:
        lines += [f"## {_esc(heading)}", "", html_to_markdown(body)]
    lines += ["## Numbers", "", "| quantity | value |", "| --- | --- |"]
    lines += [f"| {_esc(k)} | {_esc(_fmt(v))} |" for k, v in rows]
    return "\n".join(lines) + "\n"


_DATA_IMAGE = re.compile(r"!\[([^\]]*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")


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


def write_report(path: Path, text: str) -> Path:
    """Write a rendered report atomically; a Markdown report (``.md``) gets its figures as PNG
    files in ``<name>_figures/`` beside it, linked by relative path, instead of inline data.

    The figure folder is written to a temporary folder and renamed before the page, so an error
    leaves neither half written. Returns ``path``.
    """
    path = Path(path)
    if path.suffix.lower() != ".md" or not _DATA_IMAGE.search(text):
        return write_text_atomic(path, text)
    folder = path.with_name(f"{path.stem}_figures")
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=path.parent))
    count = [0]

    def save(match):
        count[0] += 1
        name = f"figure{count[0]}.png"
        (tmp / name).write_bytes(base64.b64decode(match.group(2)))
        return f"![{match.group(1)}]({folder.name}/{name})"

    try:
        text = _DATA_IMAGE.sub(save, text)
        usual_mode(tmp, folder=True)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return write_text_atomic(path, text)
