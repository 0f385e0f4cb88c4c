"""Reports: figures, the metric registry and HTML/Markdown pages (escaped, self-contained)."""

from .html import (
    escape,
    figure_tag,
    html_page,
    html_to_markdown,
    markdown_page,
    metrics_table,
    model_section,
    numbers_table,
    provenance_rows,
    provenance_section,
    table,
    write_report,
    write_run_report,
    write_text_atomic,
)
from .metrics import (
    METRICS,
    Metric,
    column_label,
    format_mean_sd,
    format_p,
    format_value,
    metric_info,
    metric_rows,
)

__all__ = ["write_run_report", "html_page", "table", "figure_tag", "escape", "model_section",
           "provenance_section", "provenance_rows", "metrics_table", "numbers_table", "markdown_page",
           "html_to_markdown", "write_text_atomic", "write_report", "METRICS", "Metric", "metric_info",
           "metric_rows", "column_label", "format_value", "format_p", "format_mean_sd"]
