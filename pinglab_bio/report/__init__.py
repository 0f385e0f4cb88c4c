"""Reports: figures and HTML/Markdown pages (escaped, self-contained)."""

from .html import (
    escape,
    figure_tag,
    html_page,
    markdown_page,
    model_section,
    numbers_table,
    provenance_section,
    table,
    write_run_report,
    write_text_atomic,
)

__all__ = ["write_run_report", "html_page", "table", "figure_tag", "escape", "model_section",
           "provenance_section", "numbers_table", "markdown_page", "write_text_atomic"]
