"""Verdict: what the guard makes of one SageMaker call, with the core rules in check mode.

A call is

* ``ok``: the rules were applied and find nothing, and the job carries an ``s3ag:`` record;
* ``no-tip``: the job carries a record, and TIP was not on for it, so the rules were not applied;
* ``violation``: the rules find something TIP forbids (Pipe mode, Debugger, Profiler, remote
  debugging, a DatasetDefinition, ...), whoever launched it;
* ``unrecorded``: nothing forbidden, but no ``s3ag:`` record: launched without sagemaker-s3ag;
* ``unchecked``: the event withholds or lacks what the rules read (CloudTrail hid a field, a
  pipeline definition passed by S3 location), so nothing can be said; never taken as ``ok``;
* ``skipped``: nothing to judge: the call failed, an ``UpdatePipeline`` left the definition as it
  was, or an ``UpdateTrainingJob`` switched nothing forbidden on (the job keeps its verdict).

No preflight runs (the guard never reads S3 or asks S3 Access Grants)::

    verdict = judge(read_event(event), identity_propagation="auto")
    verdict.status, verdict.tag_value       # "violation", "violation debugger pipe-mode"
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from sagemaker_s3ag.core.findings import Finding
from sagemaker_s3ag.core.pipeline import job_steps, step_label, unreadable_job_steps
from sagemaker_s3ag.core.request import JobType
from sagemaker_s3ag.core.rules import check, update_findings
from sagemaker_s3ag.core.tags import earlier_record, tag_value
from sagemaker_s3ag.guard.events import HIDDEN, ApiCall

Status = Literal["ok", "no-tip", "violation", "unrecorded", "unchecked", "skipped"]
IDENTITY_PROPAGATION = ("auto", "on")
# Values the user writes for their own code; CloudTrail hiding them hides nothing the rules read.
_USERS_OWN = (".HyperParameters", ".StaticHyperParameters", ".Environment")


@dataclass(frozen=True)
class Verdict:
    """The guard's judgement of one call.

    Attributes:
        status: ``ok``, ``no-tip``, ``violation``, ``unrecorded``, ``unchecked`` or ``skipped``.
        findings: what the rules found (for a pipeline, ``where`` names the step).
        notes: sentences: why a call is unchecked, why the rules were not applied, a record that
            contradicts the request.
        recorded: the job (every job step of a pipeline) carries an ``s3ag:`` record.
        rules_applied: the rules were applied (TIP on for the call, or ``identity_propagation="on"``).
    """

    status: Status
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()
    recorded: bool = False
    rules_applied: bool = False

    @property
    def rules(self) -> tuple[str, ...]:
        """The ids of the rules with findings, sorted."""
        return tuple(sorted({f.rule for f in self.findings}))

    @property
    def tag_value(self) -> str:
        """The ``s3ag:guard`` tag value: ``ok``, ``no-tip``, ``violation RULE ...``, ``unrecorded`` or ``unchecked``."""
        if self.status == "violation":
            return tag_value(" ".join(("violation", *self.rules)))
        return self.status


def judge(call: ApiCall, identity_propagation: str = "auto", job_tags: Any = None) -> Verdict:
    """The verdict on ``call``.

    Args:
        identity_propagation: ``"auto"``: the rules apply when the call carries an IAM Identity
            Center user (``userIdentity.onBehalfOf``) or the job's record says TIP was on;
            ``"on"``: they apply to every job (an account where every job must read through grants).
        job_tags: for an ``UpdateTrainingJob``, the job's tags now (its record says whether TIP
            was on when it was launched); the update itself carries none.

    Never raises for an event of any content: what cannot be read is ``unchecked``.
    """
    if identity_propagation not in IDENTITY_PROPAGATION:
        raise ValueError(f"identity_propagation must be 'auto' or 'on', not {identity_propagation!r}")
    if call.error:
        return Verdict("skipped", notes=(f"the call failed ({call.error}): nothing was created",))
    if call.request is None:
        return Verdict("unchecked", notes=("the event holds no request parameters",))
    try:
        if call.kind == "pipeline":
            return _judge_pipeline(call, identity_propagation)
        if call.operation == "UpdateTrainingJob":
            return _judge_update(call, call.request, identity_propagation, job_tags)
        return _judge_job(call, call.request, call.job_type, identity_propagation)  # type: ignore[arg-type]
    except Exception as err:  # a guard that crashes is a guard that is silent
        return Verdict("unchecked", notes=(f"the guard could not judge this call ({type(err).__name__}: {err})",))


def _judge_job(call: ApiCall, request: Mapping[str, Any], job_type: JobType, identity_propagation: str) -> Verdict:
    record = earlier_record(request.get("Tags"))
    applies, why_not = _rules_apply(call, [record], identity_propagation)
    hidden = _withheld(call.hidden)
    findings = tuple(check(request, job_type)) if applies else ()
    notes = [*_hidden_notes(hidden), *why_not, *_contradictions(record, findings)]
    return Verdict(_status(findings, hidden, bool(record), applies), findings, tuple(notes), bool(record), applies)


def _judge_update(call: ApiCall, request: Mapping[str, Any], identity_propagation: str, job_tags: Any) -> Verdict:
    record = earlier_record(job_tags)
    applies, why_not = _rules_apply(call, [record], identity_propagation)
    if not applies:
        return Verdict("skipped", notes=tuple(why_not), recorded=bool(record))
    hidden = _withheld(call.hidden)
    findings = tuple(update_findings(request, call.operation))
    if findings:
        return Verdict("violation", findings, tuple(_hidden_notes(hidden)), bool(record), True)
    if hidden:
        return Verdict("unchecked", notes=tuple(_hidden_notes(hidden)), recorded=bool(record), rules_applied=True)
    return Verdict("skipped", notes=("the update switches nothing forbidden on: the job keeps its verdict",), rules_applied=True)


def _judge_pipeline(call: ApiCall, identity_propagation: str) -> Verdict:
    request = call.request or {}
    text = request.get("PipelineDefinition")
    where = request.get("PipelineDefinitionS3Location")
    if call.operation == "UpdatePipeline" and text is None and where is None and "PipelineDefinition" not in call.hidden:
        return Verdict("skipped", notes=("the update leaves the pipeline definition as it was",))
    if not isinstance(text, str) or text == HIDDEN:
        reason = (
            f"the definition is passed by S3 location ({_location(where)}); the guard does not read S3"
            if where
            else "the event holds no pipeline definition"
        )
        return Verdict("unchecked", notes=(reason,))
    try:
        definition = json.loads(text)
    except ValueError:
        return Verdict("unchecked", notes=("the pipeline definition is not JSON",))
    steps = list(job_steps(definition)) if isinstance(definition, dict) else []
    unreadable = unreadable_job_steps(definition) if isinstance(definition, dict) else []
    records = [earlier_record(step["Arguments"].get("Tags")) for step, _job_type in steps]
    applies, why_not = _rules_apply(call, records, identity_propagation)
    findings: list[Finding] = []
    if applies:
        for step, job_type in steps:
            label = step_label(step.get("Name") if isinstance(step.get("Name"), str) else None)
            findings.extend(replace(f, where=f"{label}: {f.where}") for f in check(step["Arguments"], job_type))
    hidden = _withheld(call.hidden)
    recorded = bool(steps) and all(records)
    notes = [*_hidden_notes(hidden), *why_not]
    if unreadable:
        notes.insert(0, f"job steps whose Arguments cannot be read: {', '.join(unreadable)}")
        hidden += tuple(f"{name}.Arguments" for name in unreadable)  # what the rules could not read
    if not steps and not unreadable:
        notes.append("the definition has no training, processing or tuning step")
        recorded = True  # nothing to record: a pipeline of other steps is not unrecorded
    for record in records:
        notes.extend(_contradictions(record, findings))
    return Verdict(
        _status(tuple(findings), hidden, recorded, applies), tuple(findings), tuple(dict.fromkeys(notes)), recorded, applies
    )


def _rules_apply(call: ApiCall, records: Iterable[Mapping[str, str]], identity_propagation: str) -> tuple[bool, list[str]]:
    if identity_propagation == "on" or call.identity is not None:
        return True, []
    if any(record.get("s3ag:identity-propagation") == "enabled" for record in records):
        return True, []
    return False, [
        "rules not applied: the caller carries no IAM Identity Center user (no onBehalfOf) and no s3ag: "
        "record says TIP was on; set identity_propagation='on' to apply them to every job"
    ]


def _withheld(hidden: Iterable[str]) -> tuple[str, ...]:
    """The withheld places the rules read (not the user's own hyperparameters or environment)."""
    return tuple(place for place in hidden if not any(mark in f".{place}" for mark in _USERS_OWN))


def _hidden_notes(hidden: tuple[str, ...]) -> list[str]:
    if not hidden:
        return []
    shown = ", ".join(hidden[:5]) + (f" and {len(hidden) - 5} more" if len(hidden) > 5 else "")
    return [f"CloudTrail withheld what the rules read: {shown}"]


def _contradictions(record: Mapping[str, str], findings: tuple[Finding, ...] | list[Finding]) -> list[str]:
    if findings and record.get("s3ag:identity-propagation") == "enabled":
        return [
            "the s3ag: record says the rules were applied with TIP on, yet the request breaks them: "
            "the record was copied, edited or forged"
        ]
    return []


def _status(findings: tuple[Finding, ...], hidden: tuple[str, ...], recorded: bool, applied: bool) -> Status:
    if findings:
        return "violation"
    if hidden:
        return "unchecked"
    if not recorded:
        return "unrecorded"
    return "ok" if applied else "no-tip"


def _location(where: Any) -> str:
    if isinstance(where, Mapping):
        bucket, key = where.get("Bucket"), where.get("ObjectKey")
        if isinstance(bucket, str) and isinstance(key, str):
            return f"s3://{bucket}/{key}"
    return "an S3 location"
