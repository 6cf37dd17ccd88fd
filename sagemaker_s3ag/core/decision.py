"""Decision: everything sagemaker-s3ag decided about one job, and how it is announced.

After ``est.fit(...)`` the decision is ``est.latest_decision``; it prints as a table and renders
as HTML in a notebook::

    est.latest_decision            # in a notebook cell
    print(est.latest_decision)     # anywhere else
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Optional

from sagemaker_s3ag._version import __version__
from sagemaker_s3ag.core.considerations import (
    CODE_REASON,
    SCRIPT_REASON,
    BackgroundSessions,
    background_findings,
    reader,
    script_locations,
    tuning_finding,
)
from sagemaker_s3ag.core.errors import ConsiderationError, GrantFallbackError, warn
from sagemaker_s3ag.core.fallback import check_fallback, check_scripts
from sagemaker_s3ag.core.findings import Finding
from sagemaker_s3ag.core.identity import HOW_TO_SAY_IT, IdentityPropagation
from sagemaker_s3ag.core.outcomes import LocationOutcome, as_pipeline_execution, credentials_verdict, fallback_summary
from sagemaker_s3ag.core.request import JobType, Request, copy_request, job_name
from sagemaker_s3ag.core.rules import enforce
from sagemaker_s3ag.core.settings import Settings
from sagemaker_s3ag.core.tags import earlier_record, merge_tags

logger = logging.getLogger(__name__)

CREDENTIALS = ("access-grants", "iam-role", "mixed", "unknown")  # the values of s3ag:credentials


@dataclass(frozen=True)
class Decision:
    """What sagemaker-s3ag decided for one training or processing job.

    Attributes:
        job_type: ``"training"`` or ``"processing"``.
        job_name: the job's name (``None`` until the SDK names it; a pipeline step's job is named
            only when the pipeline runs).
        identity_propagation: whether TIP was on, and where that was read.
        findings: what the rules found, changed or refused, in rule order.
        credentials: ``"access-grants"``, ``"iam-role"``, ``"mixed"`` or ``"unknown"``: which
            credentials SageMaker is expected to use for the job's S3 locations.
        tags: the ``s3ag:`` record as it was written onto the job.
        record: the full ``s3ag:`` record, including any tag that did not fit on the job.
        locations: per-location outcomes of the Access Grants preflight, when it ran.
        script_locations: S3 URIs in hyperparameters and environment variables, read in the
            container with the IAM role: by your code (``role (read by your code)``), or the source
            code the training toolkit downloads (``role (read by the training toolkit)``).
        fallback_warning: the ``on_fallback="warn"`` warning text, when one is due.
        identity_warning: the warning that TIP could not be determined, when it could not.
        refused: ``True`` for a plan the rules refuse (``plan()`` returns it instead of raising).
        planned: ``True`` for what ``plan()`` returns: nothing was launched.
        step: the SageMaker Pipelines step this job is, when it is one.
    """

    job_type: JobType
    job_name: Optional[str]
    identity_propagation: IdentityPropagation
    findings: tuple[Finding, ...]
    credentials: str
    record: Mapping[str, str]
    tags: tuple[Mapping[str, str], ...] = ()
    locations: tuple[LocationOutcome, ...] = ()
    script_locations: tuple[LocationOutcome, ...] = ()
    fallback_warning: Optional[str] = field(default=None, repr=False)
    script_warning: Optional[str] = field(default=None, repr=False)
    identity_warning: Optional[str] = field(default=None, repr=False)
    refused: bool = False
    planned: bool = False
    step: Optional[str] = None

    @property
    def label(self) -> str:
        """How the job is named in messages: its name, its pipeline step, or ``(not yet named)``."""
        if self.job_name:
            return self.job_name
        return f"(pipeline step {self.step})" if self.step else "(not yet named)"

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
            f"sagemaker-s3ag {'plan' if self.planned else 'decision'} for {self.job_type} job {self.label}",
            f"  identity propagation: {self.identity_propagation.label} ({self.identity_propagation.source})",
            f"  credentials:          {self.credentials}",
            f"  adjustments:          {' '.join(self.adjustments) or 'none'}",
        ]
        if self.refused:
            lines.append("  REFUSED: this job is not sent (fit()/run() raise ConsiderationError)")
        if self.findings:
            lines.append("  findings:")
            lines.extend(
                f"    {f.action:<8} {f.rule:<18} {f.where}: {f.message}" + ("" if f.explicit else " (SDK default)")
                for f in self.findings
            )
        if self.locations:
            lines.append("  S3 locations:")
            lines.extend(f"    {location}" for location in self.locations)
        if self.script_locations:
            lines.append("  S3 locations read in the container with the role:")
            lines.extend(f"    {reader(o.reason)}  {o.uri}  ({', '.join(o.places)})" for o in self.script_locations)
        lines.append("  tags: " + (", ".join(f"{t['Key']}={t['Value']}" for t in self.tags) or "(none)"))
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
            f"<b>sagemaker-s3ag {'plan' if self.planned else 'decision'}</b> · {esc(self.job_type)} job <code>{esc(self.label)}</code>"
            f"<br>identity propagation: <b>{esc(self.identity_propagation.label)}</b> "
            f"<small>({esc(self.identity_propagation.source)})</small>"
            f" · credentials: <b>{esc(self.credentials)}</b>"
            f" · adjustments: <b>{esc(' '.join(self.adjustments) or 'none')}</b>"
            + ("<br><b style='color:#b00'>REFUSED</b>: this job would not be sent" if self.refused else "")
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
            places = (
                "<table><tr><th>outcome</th><th>permission</th><th>S3 location</th><th>why</th><th>grant</th></tr>"
                + "".join(
                    f"<tr><td><b>{esc(o.outcome)}</b></td><td>{esc(o.permission)}</td><td><code>{esc(o.uri)}</code></td>"
                    f"<td>{esc(o.reason)}</td><td>{esc(o.grant_target or '')} {esc(o.grantee_type or '')}</td></tr>"
                    for o in self.locations
                )
                + "</table>"
            )
        if self.script_locations:
            places += (
                "<p>S3 locations read in the container with the IAM role:</p><table>"
                + "".join(
                    f"<tr><td><b>{esc(reader(o.reason))}</b></td><td><code>{esc(o.uri)}</code></td>"
                    f"<td>{esc(', '.join(o.places))}</td></tr>"
                    for o in self.script_locations
                )
                + "</table>"
            )
        tags = "<br>tags: " + ", ".join(f"<code>{esc(t['Key'])}={esc(t['Value'])}</code>" for t in self.tags)
        return f"<div>{head}{table}{places}{tags}</div>"


# (request, job type, name for the AuditContext) -> one outcome per S3 location: core.preflight.Preflight
Preflight = Callable[[Request, JobType, Optional[str]], Sequence[LocationOutcome]]


def decide(
    request: Mapping[str, Any],
    job_type: JobType,
    *,
    settings: Settings,
    identity_propagation: IdentityPropagation,
    sdk_defaults: frozenset[str] = frozenset(),
    preflight: Optional[Preflight] = None,
    pipeline: bool = False,
    step: Optional[str] = None,
    background: Optional[BackgroundSessions] = None,
) -> tuple[Request, Decision]:
    """The request to send and the decision, from the request the SDK built.

    With TIP on the rules fix or refuse the request (:func:`enforce`), then ``preflight`` (when
    given) says per S3 location whether the job will use the user's grant, and ``on_fallback`` is
    applied. With TIP off only the ``s3ag:`` tags are added. Warnings are left to :func:`announce`.

    ``pipeline=True`` marks a SageMaker Pipelines job: it runs in a pipeline execution, which
    carries no user identity, so grants to directory users and groups count as fallbacks. ``step``
    names the pipeline step (its job has no name yet). ``background`` says whether the user's
    background sessions are enabled (a job launched by hand runs on one).

    The considerations (:mod:`sagemaker_s3ag.core.considerations`) are applied with TIP on: the
    background session a job runs on, S3 URIs its own code reads with the role, and tuning.

    Raises:
        ConsiderationError: the job breaks a rule that cannot be fixed, or ``on_violation="error"``.
        GrantFallbackError: ``on_fallback="deny"`` and some location would not use a grant.
        ValueError: the request holds itself, or nests or repeats far beyond any SageMaker request.
    """
    name = job_name(request, job_type)
    label = name or (f"(pipeline step {step})" if step else "(unnamed)")
    job = f"{job_type} job {label}"
    outcomes: tuple[LocationOutcome, ...] = ()
    scripts: tuple[LocationOutcome, ...] = ()
    warning = script_warning = None
    extra: dict[str, str] = {}
    identity_warning = _unknown_identity(identity_propagation, settings, f"{job_type} job {label}")
    if identity_propagation.enabled:
        fixed, findings = enforce(
            request,
            job_type,
            on_violation=settings.on_violation,
            pipe_mode_replacement=settings.pipe_mode_replacement,
            sdk_defaults=sdk_defaults,
        )
        verdict = "unknown"
        if not pipeline and job_type in ("training", "processing"):
            findings += background_findings(fixed, job_type, background, settings.background_session_duration)
        if job_type == "tuning":
            findings.append(tuning_finding())
        if preflight is not None:
            outcomes = tuple(preflight(fixed, job_type, name or (f"pipeline step {step}" if step else None)))
            if pipeline:
                outcomes = as_pipeline_execution(outcomes)
            verdict = credentials_verdict(outcomes)
            if job_type == "tuning" and verdict != "iam-role":  # the role for all is true with or without TIP
                verdict = "unknown"
            warning = check_fallback(outcomes, settings.on_fallback, job)
        if job_type == "tuning" and settings.on_fallback == "deny":
            raise GrantFallbackError(
                f"[s3ag:tuning] {job}: {tuning_finding().message} (on_fallback='deny' needs a proven grant; nothing was created)",
                locations=[],
                findings=[replace(tuning_finding(), action="refused")],
            )
        scripts = tuple(
            LocationOutcome(loc.uri, "READ", "fallback", CODE_REASON if loc.kind == "code" else SCRIPT_REASON, (loc.where,))
            for loc in script_locations(fixed, job_type)
        )
        yours = [o for o in scripts if o.reason == SCRIPT_REASON]
        script_warning = check_scripts(yours, settings.on_fallback, settings.script_locations, job)
        script_part = f"script {len(yours)}: read by your code with the role" if yours else ""
        # the short script part first, so that a long list of reasons cannot cut it off at 256 characters
        summary = " - ".join(part for part in (script_part, fallback_summary(outcomes)) if part)
        if summary:
            extra["s3ag:fallback"] = summary
    else:
        fixed, findings = copy_request(request), []
        verdict = "iam-role"
    # A request settled before keeps what was changed then: this pass finds nothing left to change.
    earlier = earlier_record(request.get("Tags")).get("s3ag:adjustments", "none")
    adjustments = list(dict.fromkeys([*(a for a in earlier.split() if a != "none"), *(f.rule for f in findings if f.changed)]))
    record = {
        "s3ag:credentials": verdict,
        "s3ag:identity-propagation": identity_propagation.label,
        "s3ag:adjustments": " ".join(adjustments) or "none",
        **extra,
        "s3ag:launched-by": "pipeline" if pipeline else "user",
        "s3ag:version": __version__,
    }
    tags, tag_findings = merge_tags(fixed.get("Tags"), record)
    fixed["Tags"] = tags
    ours = tuple(t for t in tags if t["Key"].startswith("s3ag:"))
    decision = Decision(
        job_type=job_type,
        job_name=name,
        identity_propagation=identity_propagation,
        findings=tuple(findings) + tuple(tag_findings),
        credentials=verdict,
        record=record,
        tags=ours,
        locations=outcomes,
        script_locations=scripts,
        fallback_warning=warning,
        script_warning=script_warning,
        identity_warning=identity_warning,
        step=step,
    )
    return fixed, decision


def _unknown_identity(identity: IdentityPropagation, settings: Settings, job: str) -> Optional[str]:
    """With TIP unknown: the warning for this job, or (``on_fallback="deny"``) the refusal."""
    if identity.known:
        return None
    message = (
        f"{job}: cannot tell whether trusted identity propagation is on ({identity.source}); the rules were "
        f"applied as if it were, and the job is recorded s3ag:identity-propagation=unknown. To decide it, {HOW_TO_SAY_IT}"
    )
    if settings.on_fallback == "deny":
        finding = Finding("identity-propagation", "refused", "(domain)", message)
        raise ConsiderationError(
            f"[s3ag:identity-propagation] {message} (on_fallback='deny'; nothing was created)",
            rule="identity-propagation",
            findings=[finding],
        )
    return f"[s3ag:identity-propagation] {message}"


def plan(
    request: Mapping[str, Any],
    job_type: JobType,
    *,
    settings: Settings,
    identity_propagation: IdentityPropagation,
    sdk_defaults: frozenset[str] = frozenset(),
    preflight: Optional[Preflight] = None,
    pipeline: bool = False,
    step: Optional[str] = None,
    background: Optional[BackgroundSessions] = None,
) -> Decision:
    """:func:`decide` for a job not launched yet: a refusal comes back as a ``refused`` decision."""
    try:
        decision = decide(
            request,
            job_type,
            settings=settings,
            identity_propagation=identity_propagation,
            sdk_defaults=sdk_defaults,
            preflight=preflight,
            pipeline=pipeline,
            step=step,
            background=background,
        )[1]
        return replace(decision, planned=True)
    except ConsiderationError as err:
        return replace(refused_decision(request, job_type, identity_propagation, err, step=step), planned=True)


def refused_decision(
    request: Mapping[str, Any],
    job_type: JobType,
    identity_propagation: IdentityPropagation,
    err: ConsiderationError,
    *,
    step: Optional[str] = None,
) -> Decision:
    """The decision for a job the rules (or ``on_fallback="deny"``) refused: nothing was sent."""
    return Decision(
        job_type=job_type,
        job_name=job_name(request, job_type),
        identity_propagation=identity_propagation,
        findings=err.findings,
        credentials="unknown",
        record={},
        refused=True,
        step=step,
    )


def announce(decision: Decision) -> None:
    """One warning per rule that changed what the user asked for, one about fallbacks; the rest at INFO."""
    by_rule: dict[str, list[Finding]] = {}
    for finding in decision.findings:
        if finding.explicit and finding.action != "refused":
            by_rule.setdefault(finding.rule, []).append(finding)
        else:
            logger.info("%s job %s: %s", decision.job_type, decision.label, finding)
    for rule, findings in by_rule.items():
        if len(findings) == 1:
            warn(str(findings[0]))
        else:
            warn(f"[s3ag:{rule}] " + "; ".join(f"{f.where}: {f.message}" for f in findings))
    if decision.identity_warning:
        warn(decision.identity_warning)
    if decision.fallback_warning:
        warn(decision.fallback_warning)
    if decision.script_warning:
        warn(decision.script_warning)
