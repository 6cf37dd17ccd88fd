"""Report: many jobs at once, as a table, a chart, a pandas DataFrame or one self-contained HTML file.

``list_jobs(...)`` returns a :class:`JobList`; in a notebook it shows as a chart of jobs per day by
credentials (predicted, and observed where verified) with a table, and::

    jobs = list_jobs(sagemaker_session, since=timedelta(days=7), verify=True)
    jobs.to_frame()               # a pandas DataFrame, one row per job
    jobs.plot()                   # the chart (SVG): per day, and per user
    jobs.to_html("report.html")   # table and chart in one file: no server, no network, no script

The chart is drawn here as SVG, so it needs neither matplotlib nor a browser with network access.
"""

from __future__ import annotations

import csv
import html
import io
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from sagemaker_s3ag.ops.describe import JobRecord

# Credentials, in the order and colours the chart stacks them (colour-blind safe: Okabe-Ito).
SERIES = (
    ("access-grants", "#009E73"),
    ("mixed", "#E69F00"),
    ("iam-role", "#D55E00"),
    ("unknown", "#999999"),
    ("(no record)", "#CCCCCC"),
)
COLUMNS = (
    "created",
    "job_name",
    "job_type",
    "status",
    "user",
    "identity_propagation",
    "predicted",
    "observed",
    "verified",
    "adjustments",
    "fallback",
    "arn",
)


def row(record: JobRecord) -> dict[str, Any]:
    """One job as a flat row (the DataFrame's, the CSV's and the HTML table's)."""
    verification = record.verification
    return {
        "created": record.created,
        "job_name": record.job_name,
        "job_type": record.job_type,
        "status": record.status,
        "user": verification.user if verification else None,
        "identity_propagation": record.identity_propagation,
        "predicted": record.credentials or "(no record)",
        "observed": verification.observed if verification else None,
        "verified": verification.verdict if verification else record.record.get("s3ag:verified"),
        "adjustments": " ".join(record.adjustments) or None,
        "fallback": record.fallback,
        "arn": record.arn,
    }


class JobList(list):  # type: ignore[type-arg]
    """Jobs and their records (and verifications), newest first: a list with a DataFrame, a chart and a report."""

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per job (``created`` as a UTC timestamp)."""
        import pandas as pd

        frame = pd.DataFrame([row(r) for r in self], columns=list(COLUMNS))
        frame["created"] = pd.to_datetime(frame["created"], utc=True)
        return frame

    def to_csv(self) -> str:
        """The rows as CSV text."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(COLUMNS))
        writer.writeheader()
        for item in self:
            values = row(item)
            writer.writerow({k: _csv_cell(values[k]) for k in COLUMNS})
        return out.getvalue()

    def plot(self) -> Chart:
        """Jobs per day by credentials (predicted; observed beside it where verified), and per user."""
        return Chart(chart_svg(self))

    def to_html(self, path: Optional[str | Path] = None, *, title: str = "SageMaker jobs and S3 Access Grants") -> str:
        """The report as one HTML document (chart and table, no script, no external resource); written to ``path`` if given."""
        document = report_html(self, title=title)
        if path is not None:
            Path(path).write_text(document, encoding="utf-8")
        return document

    def _repr_html_(self) -> str:
        return chart_svg(self) + _table_html(self)


class Chart:
    """An SVG chart that a notebook shows (``_repr_svg_``) and a string holds (``str(chart)``)."""

    def __init__(self, svg: str) -> None:
        self.svg = svg

    def _repr_svg_(self) -> str:
        return self.svg

    def __str__(self) -> str:
        return self.svg


def _day(record: JobRecord) -> str:
    created = record.created
    if not isinstance(created, datetime):
        return "?"
    return (created if created.tzinfo else created.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%d")


def _counts(records: Iterable[JobRecord], key: Any) -> dict[str, Counter[str]]:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        group, value = key(record)
        if value is not None:
            table[group][value] += 1
    return table


def chart_svg(records: Iterable[JobRecord]) -> str:
    """Two panels of stacked bars: jobs per day (a wide bar predicted, a narrow one observed), and per user."""
    items = list(records)
    per_day = _counts(items, lambda r: (_day(r), r.credentials or "(no record)"))
    observed = _counts(items, lambda r: (_day(r), r.verification.observed if r.verification else None))
    per_user = _counts(
        items,
        lambda r: (
            (r.verification.user if r.verification and r.verification.user else "(unknown user)"),
            (
                r.verification.observed
                if r.verification and r.verification.observed != "unknown"
                else (r.credentials or "(no record)")
            ),
        ),
    )
    days = sorted(per_day)
    users = sorted(per_user, key=lambda u: -sum(per_user[u].values()))[:12]
    width, bar_area, left, top = 760, 180, 48, 28
    tallest = max([sum(c.values()) for c in per_day.values()] + [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + bar_area + 70 + 22 * len(users) + 60}" '
        'font-family="sans-serif" font-size="11" role="img" aria-label="jobs by credentials">',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">Jobs per day by credentials '
        "(wide: predicted; narrow: observed in CloudTrail)</text>",
    ]
    step = (width - left - 20) / max(len(days), 1)
    for index, day in enumerate(days):
        x = left + index * step
        _stack(parts, per_day[day], x, top + bar_area, step * 0.55, bar_area / tallest)
        if observed.get(day):
            _stack(parts, observed[day], x + step * 0.6, top + bar_area, step * 0.2, bar_area / tallest)
        if len(days) <= 16 or index % max(1, len(days) // 16) == 0:
            parts.append(f'<text x="{x:.1f}" y="{top + bar_area + 14}">{html.escape(day[5:])}</text>')
    parts.append(f'<text x="4" y="{top + 10}">{tallest}</text><text x="4" y="{top + bar_area}">0</text>')
    y = top + bar_area + 44
    parts.append(
        f'<text x="{left}" y="{y}" font-size="13" font-weight="bold">Jobs per IAM Identity Center user (observed where verified, else predicted)</text>'
    )
    widest = max([sum(per_user[u].values()) for u in users] + [1])
    for index, user in enumerate(users):
        row_y = y + 10 + index * 22
        parts.append(f'<text x="{left}" y="{row_y + 13}">{html.escape(user[:36])}</text>')
        x = left + 250
        for name, colour in SERIES:
            count = per_user[user].get(name, 0)
            if count:
                length = (width - left - 270) * count / widest
                parts.append(
                    f'<rect x="{x:.1f}" y="{row_y}" width="{length:.1f}" height="16" fill="{colour}"><title>{html.escape(user)}: {count} {name}</title></rect>'
                )
                x += length
    legend_y = y + 20 + 22 * len(users) + 10
    for index, (name, colour) in enumerate(SERIES):
        parts.append(f'<rect x="{left + index * 130}" y="{legend_y}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{left + index * 130 + 16}" y="{legend_y + 10}">{name}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _stack(parts: list[str], counts: Counter[str], x: float, base: float, width: float, scale: float) -> None:
    y = base
    for name, colour in SERIES:
        count = counts.get(name, 0)
        if count:
            height = count * scale
            y -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{colour}"><title>{count} {name}</title></rect>'
            )


def _table_html(records: Iterable[JobRecord]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS if c != "arn")
    body = []
    for record in records:
        values = row(record)
        style = ' style="background:#fde2d4"' if values["verified"] == "mismatch" else ""
        body.append(
            f"<tr{style}>" + "".join(f"<td>{html.escape(_cell(values[c]))}</td>" for c in COLUMNS if c != "arn") + "</tr>"
        )
    return f'<table border="1" cellspacing="0" cellpadding="3"><tr>{head}</tr>{"".join(body)}</table>'


def report_html(records: Iterable[JobRecord], *, title: str) -> str:
    """The whole report: a summary line, the chart and the table."""
    items = list(records)
    verdicts = Counter(row(r)["verified"] or "not verified" for r in items)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(verdicts.items()))
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:24px}}"
        "table{border-collapse:collapse;font-size:12px}th{background:#eee}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{len(items)} jobs; verification: {html.escape(summary)}. Generated {generated} "
        "by sagemaker-s3ag. <em>Predicted</em> is the s3ag:credentials record written before launch; <em>observed</em> "
        "is what CloudTrail shows (GetDataAccess calls in the job's window; S3 data events when an event data store was "
        "searched); a mismatch is highlighted.</p>"
        f"{chart_svg(items)}{_table_html(items)}</body></html>"
    )


def _csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run: text starting ``= + - @`` (a formula) gets a leading quote."""
    text = _cell(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")
    return str(value)
