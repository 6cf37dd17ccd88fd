"""Decision: everything sagemaker-s3ag decided about one job, and how it is announced.

After ``est.fit(...)`` the decision is ``est.latest_decision``; it prints as a table and renders
as HTML in a notebook::

    est.latest_decision            # in a notebook cell
    print(est.latest_decision)     # anywhere else
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from ._errors import warn
from ._findings import Finding
from ._identity_propagation import IdentityPropagation
from ._request import JobType, Request, copy_request, job_name
from ._rules import enforce
from ._settings import Settings
from ._tags import merge_tags
from ._version import __version__

logger = logging.getLogger(__name__)

CREDENTIALS = ("access-grants", "iam-role", "mixed", "unknown")


@dataclass(frozen=True)
class Decision:
    """What sagemaker-s3ag decided for one training or processing job.

    Attributes:
        job_type: ``"training"`` or ``"processing"``.
        job_name: the job's name (``None`` until the SDK names it).
        identity_propagation: whether TIP was on, and where that was read.
        findings: what the rules found, changed or refused, in rule order.
        credentials: ``"access-grants"``, ``"iam-role"``, ``"mixed"`` or ``"unknown"``: which
            credentials SageMaker is expected to use for the job's S3 locations.
        tags: the ``s3ag:`` record as it was written onto the job.
        record: the full ``s3ag:`` record, including any tag that did not fit on the job.
        locations: per-location outcomes of the Access Grants preflight, when it ran.
    """

    job_type: JobType
    job_name: Optional[str]
    identity_propagation: IdentityPropagation
    findings: tuple[Finding, ...]
    credentials: str
    record: Mapping[str, str]
    tags: tuple[Mapping[str, str], ...] = ()
    locations: tuple[Any, ...] = field(default=())

    @property
    def adjustments(self) -> tuple[str, ...]:
        """Ids of the rules that changed the request, in rule order."""
        seen: dict[str, None] = {}
        for finding in self.findings:
            if finding.changed and finding.rule != "tags":
                seen.setdefault(finding.rule)
        return tuple(seen)

    def __str__(self) -> str:
        lines = [
            f"sagemaker-s3ag decision for {self.job_type} job {self.job_name or '(not yet named)'}",
            f"  identity propagation: {self.identity_propagation.label} ({self.identity_propagation.source})",
            f"  credentials:          {self.credentials}",
            f"  adjustments:          {' '.join(self.adjustments) or 'none'}",
        ]
        if self.findings:
            lines.append("  findings:")
            lines.extend(
                f"    {f.action:<8} {f.rule:<18} {f.where}: {f.message}"
                + ("" if f.explicit else " (SDK default)")
                for f in self.findings
            )
        if self.locations:
            lines.append("  S3 locations:")
            lines.extend(f"    {location}" for location in self.locations)
        lines.append("  tags: " + ", ".join(f"{t['Key']}={t['Value']}" for t in self.tags))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Decision(job_type={self.job_type!r}, job_name={self.job_name!r}, "
            f"identity_propagation={self.identity_propagation.label!r}, credentials={self.credentials!r}, "
            f"adjustments={list(self.adjustments)!r}, findings={len(self.findings)})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython plain-text display
        printer.text(str(self))

    def _repr_html_(self) -> str:
        esc = html.escape
        head = (
            f"<b>sagemaker-s3ag</b> · {esc(self.job_type)} job <code>{esc(self.job_name or '(not yet named)')}</code>"
            f"<br>identity propagation: <b>{esc(self.identity_propagation.label)}</b> "
            f"<small>({esc(self.identity_propagation.source)})</small>"
            f" · credentials: <b>{esc(self.credentials)}</b>"
            f" · adjustments: <b>{esc(' '.join(self.adjustments) or 'none')}</b>"
        )
        rows = "".join(
            f"<tr><td>{esc(f.action)}</td><td><code>{esc(f.rule)}</code></td><td><code>{esc(f.where)}</code></td>"
            f"<td>{esc(f.message)}{'' if f.explicit else ' <i>(SDK default)</i>'}</td></tr>"
            for f in self.findings
        )
        table = (
            "<table><tr><th>action</th><th>rule</th><th>where</th><th>what</th></tr>" + rows + "</table>"
            if rows
            else "<p>No rule changed this job.</p>"
        )
        places = ""
        if self.locations:
            places = "<table><tr><th>S3 location</th></tr>" + "".join(
                f"<tr><td>{esc(str(location))}</td></tr>" for location in self.locations
            ) + "</table>"
        tags = "<br>tags: " + ", ".join(f"<code>{esc(t['Key'])}={esc(t['Value'])}</code>" for t in self.tags)
        return f"<div>{head}{table}{places}{tags}</div>"


def decide(
    request: Mapping[str, Any],
    job_type: JobType,
    *,
    settings: Settings,
    identity_propagation: IdentityPropagation,
    sdk_defaults: frozenset[str] = frozenset(),
    credentials: Optional[str] = None,
    extra_record: Optional[Mapping[str, str]] = None,
    locations: tuple[Any, ...] = (),
) -> tuple[Request, Decision]:
    """The request to send and the decision, from the request the SDK built.

    With TIP on the rules fix or refuse the request (:func:`enforce`); with TIP off only the
    ``s3ag:`` tags are added. Nothing is announced here: see :func:`announce`.

    Raises:
        ConsiderationError: the job breaks a rule that cannot be fixed, or ``on_violation="error"``.
    """
    if identity_propagation.enabled:
        fixed, findings = enforce(
            request,
            job_type,
            on_violation=settings.on_violation,
            pipe_mode_replacement=settings.pipe_mode_replacement,
            sdk_defaults=sdk_defaults,
        )
        verdict = credentials or "unknown"
    else:
        fixed, findings = copy_request(request), []
        verdict = "iam-role"
    adjustments = list(dict.fromkeys(f.rule for f in findings if f.changed))
    record = {
        "s3ag:credentials": verdict,
        "s3ag:identity-propagation": identity_propagation.label,
        "s3ag:adjustments": " ".join(adjustments) or "none",
        **(extra_record or {}),
        "s3ag:version": __version__,
    }
    tags, tag_findings = merge_tags(fixed.get("Tags"), record)
    fixed["Tags"] = tags
    ours = tuple(t for t in tags if t["Key"].startswith("s3ag:"))
    decision = Decision(
        job_type=job_type,
        job_name=job_name(fixed, job_type),
        identity_propagation=identity_propagation,
        findings=tuple(findings) + tuple(tag_findings),
        credentials=verdict,
        record=record,
        tags=ours,
        locations=locations,
    )
    return fixed, decision


def announce(decision: Decision) -> None:
    """Warn about each change to what the user asked for; log the quiet ones at INFO."""
    for finding in decision.findings:
        if finding.explicit and finding.action != "refused":
            warn(str(finding))
        else:
            logger.info("%s job %s: %s", decision.job_type, decision.job_name, finding)
