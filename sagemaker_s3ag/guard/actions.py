"""Actions: what the guard does about a verdict, in an order that survives redelivery.

EventBridge delivers an event at least once, so every action is safe to repeat and the job's tag
is written last, as the mark that the event was handled:

1. ``ListTags``: a job already tagged ``s3ag:guard-event`` = this event (its time and id) was
   handled: stop here; one tagged with a later event is judged by that one (EventBridge keeps no
   order: a redelivered ``CreatePipeline`` must not undo the verdict on a later ``UpdatePipeline``).
2. Publish the finding to SNS (a JSON message; subscribers deduplicate on its ``eventId``
   attribute) and, when asked, to AWS Security Hub (its ``Id`` is derived from the event, and an
   identical re-import is ignored by Security Hub).
3. Stop the job, when asked (``StopTrainingJob`` / ``StopProcessingJob`` /
   ``StopHyperParameterTuningJob``; a job that already ended is not an error).
4. Tag it: ``s3ag:guard`` = the verdict and ``s3ag:guard-event`` = the event's time and id, never
   touching another tag and never beyond 50 tags (with one tag of room, the verdict alone: then a
   redelivery acts again).

When a step fails after botocore's retries, the later ones still run but the mark is not written,
and :class:`ActionError` is raised, so Lambda retries the event and then hands it to the dead-letter
queue. No action needs an ``s3:`` permission. With ``clients=None`` nothing is called and each
action says what it would have done (``s3ag guard replay``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

from sagemaker_s3ag.core.errors import SageMakerS3agError
from sagemaker_s3ag.core.tags import MAX_TAGS, tag_value
from sagemaker_s3ag.guard.events import ApiCall
from sagemaker_s3ag.guard.verdict import Verdict

logger = logging.getLogger(__name__)

GUARD_TAG = "s3ag:guard"
EVENT_TAG = "s3ag:guard-event"
# Which verdicts an action is taken on, per setting.
TIERS: Mapping[str, frozenset[str]] = {
    "off": frozenset(),
    "violation": frozenset({"violation"}),
    "not-ok": frozenset({"violation", "unrecorded", "unchecked"}),
    "all": frozenset({"ok", "no-tip", "violation", "unrecorded", "unchecked"}),
}
_STOP = {
    "training": ("stop_training_job", "TrainingJobName"),
    "processing": ("stop_processing_job", "ProcessingJobName"),
    "tuning": ("stop_hyper_parameter_tuning_job", "HyperParameterTuningJobName"),
}
_ENDED = ("ValidationException",)  # SageMaker's answer for a job that already stopped or completed
MAX_SUBJECT = 100  # SNS


class ActionError(SageMakerS3agError):
    """An action failed after retries; the event is left unmarked so that it is delivered again."""


@dataclass(frozen=True)
class GuardConfig:
    """What the guard does, from the function's environment (the template's parameters).

    Attributes:
        identity_propagation: ``"auto"`` or ``"on"`` (see :func:`~sagemaker_s3ag.guard.verdict.judge`).
        tag: tag each judged job or pipeline (``s3ag:guard``).
        stop: ``"off"``, ``"violation"`` or ``"not-ok"`` (also unrecorded and unchecked jobs).
        notify: ``"off"``, ``"violation"``, ``"not-ok"`` or ``"all"``: which verdicts are published.
        topic_arn: the SNS topic to publish to (``""``: none).
        security_hub: also import each published finding into AWS Security Hub.
    """

    identity_propagation: str = "auto"
    tag: bool = True
    stop: str = "off"
    notify: str = "not-ok"
    topic_arn: str = ""
    security_hub: bool = False

    def __post_init__(self) -> None:
        if self.identity_propagation not in ("auto", "on"):
            raise ValueError(f"identity propagation must be 'auto' or 'on', not {self.identity_propagation!r}")
        if self.stop not in ("off", "violation", "not-ok"):
            raise ValueError(f"stop must be 'off', 'violation' or 'not-ok', not {self.stop!r}")
        if self.notify not in TIERS:
            raise ValueError(f"notify must be one of {', '.join(TIERS)}, not {self.notify!r}")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> GuardConfig:
        """The settings in ``S3AG_GUARD_*`` variables; a malformed one raises ``ValueError`` naming it."""

        def text(name: str, default: str, allowed: tuple[str, ...]) -> str:
            value = environ.get(name, "").strip() or default
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
            return value

        return cls(
            identity_propagation=text("S3AG_GUARD_IDENTITY_PROPAGATION", "auto", ("auto", "on")),
            tag=text("S3AG_GUARD_TAG", "true", ("true", "false")) == "true",
            stop=text("S3AG_GUARD_STOP", "off", ("off", "violation", "not-ok")),
            notify=text("S3AG_GUARD_NOTIFY", "not-ok", tuple(TIERS)),
            topic_arn=environ.get("S3AG_GUARD_TOPIC_ARN", "").strip(),
            security_hub=text("S3AG_GUARD_SECURITY_HUB", "false", ("true", "false")) == "true",
        )


@dataclass
class Outcome:
    """What happened to one event: ``done`` (or, dry, what would be done) and what failed; or
    nothing, because it was handled before (``duplicate``) or a later event was (``superseded``)."""

    duplicate: bool = False
    superseded: bool = False
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def act(call: ApiCall, verdict: Verdict, config: GuardConfig, clients: Optional[Mapping[str, Any]]) -> Outcome:
    """Carry out ``config`` for ``verdict`` (``clients``: ``sagemaker``, ``sns``, ``securityhub``; ``None``: dry).

    Raises:
        ActionError: an action failed after botocore's retries (the event is left unmarked).
    """
    outcome = Outcome()
    dry = clients is None
    if verdict.status == "skipped" or not call.arn:
        if not call.arn and verdict.status != "skipped":
            outcome.failed.append("no action: the event names no job or pipeline")
        return outcome
    existing: list[dict[str, Any]] = []
    if not dry and config.tag:
        try:
            existing = job_tags(clients, call.arn)
        except Exception as err:
            outcome.failed.append(f"read tags: {_reason(err)}")
        marked = next((str(t.get("Value", "")) for t in existing if t.get("Key") == EVENT_TAG), "")
        marked_time, _, marked_id = marked.partition(" ")
        if marked_id == call.event_id or marked == call.event_id:
            outcome.duplicate = True
            return outcome
        if marked_time and call.time and marked_time > call.time:
            outcome.superseded = True
            return outcome
    if verdict.status in TIERS[config.notify] and config.topic_arn:
        _step(outcome, f"publish to {config.topic_arn}", dry, lambda: _publish(clients, config.topic_arn, call, verdict))
    if verdict.status in TIERS[config.notify] and config.security_hub:
        _step(outcome, "import into Security Hub", dry, lambda: _import_finding(clients, call, verdict))
    if verdict.status in TIERS[config.stop] and call.kind in _STOP:
        if call.name:
            _step(outcome, f"stop {call.kind} job {call.name}", dry, lambda: _stop(clients, call))
        else:
            outcome.done.append("not stopped: the event does not name the job")
    if config.tag:
        if outcome.failed:
            outcome.failed.append("not tagged, so that the event is delivered again")
        else:
            _step(outcome, f"tag {GUARD_TAG}={verdict.tag_value}", dry, lambda: _tag(clients, call, verdict, existing))
    if outcome.failed and not dry:
        raise ActionError(f"{call.operation} {call.name or call.event_id}: " + "; ".join(outcome.failed))
    return outcome


def _step(outcome: Outcome, label: str, dry: bool, work: Any) -> None:
    if dry:
        outcome.done.append(f"would {label}")
        return
    try:
        note = work()
    except Exception as err:
        outcome.failed.append(f"{label}: {_reason(err)}")
        logger.warning("s3ag guard: %s failed: %s", label, _reason(err))
    else:
        outcome.done.append(f"{label}{f' ({note})' if note else ''}")


def job_tags(clients: Any, arn: str) -> list[dict[str, Any]]:
    """Every tag of a job or pipeline (``ListTags``, paged)."""
    sagemaker = clients["sagemaker"]
    tags: list[dict[str, Any]] = []
    token: Optional[str] = None
    for _page in range(10):  # a resource holds at most 50 tags
        kwargs: dict[str, Any] = {"ResourceArn": arn, "MaxResults": 100}
        if token:
            kwargs["NextToken"] = token
        response = sagemaker.list_tags(**kwargs)
        tags.extend(t for t in response.get("Tags", []) if isinstance(t, dict))
        token = response.get("NextToken")
        if not token:
            break
    return tags


def _tag(clients: Any, call: ApiCall, verdict: Verdict, existing: list[dict[str, Any]]) -> str:
    ours = {GUARD_TAG, EVENT_TAG}
    room = MAX_TAGS - len({t.get("Key") for t in existing if t.get("Key") not in ours})
    mark = tag_value(f"{call.time} {call.event_id}" if call.time else call.event_id)
    tags = [{"Key": GUARD_TAG, "Value": verdict.tag_value}, {"Key": EVENT_TAG, "Value": mark}][: max(room, 0)]
    if not tags:
        return f"not tagged: it already has {MAX_TAGS} tags"
    clients["sagemaker"].add_tags(ResourceArn=call.arn, Tags=tags)
    return "" if len(tags) == 2 else f"{EVENT_TAG} left out: {MAX_TAGS} tags"


def _stop(clients: Any, call: ApiCall) -> str:
    method, key = _STOP[call.kind]
    try:
        getattr(clients["sagemaker"], method)(**{key: call.name})
    except Exception as err:
        code = getattr(err, "response", {}).get("Error", {}).get("Code")
        if code in _ENDED:
            return f"not running: {_reason(err)}"
        raise
    return ""


def message(call: ApiCall, verdict: Verdict) -> dict[str, Any]:
    """The finding as published: who, what, where and why, never the request itself."""
    return {
        "eventId": call.event_id,
        "status": verdict.status,
        "tag": verdict.tag_value,
        "operation": call.operation,
        "kind": call.kind,
        "name": call.name,
        "arn": call.arn,
        "region": call.region,
        "account": call.account,
        "time": call.time,
        "caller": call.caller,
        "identity": {"userId": call.identity[0], "identityStoreArn": call.identity[1]} if call.identity else None,
        "invokedBy": call.invoked_by or None,
        "rulesApplied": verdict.rules_applied,
        "recorded": verdict.recorded,
        "rules": list(verdict.rules),
        "findings": [{"rule": f.rule, "where": f.where, "message": f.message} for f in verdict.findings],
        "notes": list(verdict.notes),
    }


def _subject(call: ApiCall, verdict: Verdict) -> str:
    text = f"s3ag guard: {verdict.tag_value}: {call.kind} {call.name or call.event_id}"
    text = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 3] + "..."


def _publish(clients: Any, topic_arn: str, call: ApiCall, verdict: Verdict) -> str:
    clients["sns"].publish(
        TopicArn=topic_arn,
        Subject=_subject(call, verdict),
        Message=json.dumps(message(call, verdict), indent=2),
        MessageAttributes={
            "eventId": {"DataType": "String", "StringValue": call.event_id},
            "status": {"DataType": "String", "StringValue": verdict.status},
        },
    )
    return ""


_SEVERITY = {"violation": "HIGH", "unchecked": "MEDIUM", "unrecorded": "LOW", "ok": "INFORMATIONAL", "no-tip": "INFORMATIONAL"}


def security_hub_finding(call: ApiCall, verdict: Verdict) -> dict[str, Any]:
    """The verdict in the AWS Security Finding Format, for ``BatchImportFindings``.

    Its ``Id`` comes from the event and its times from the call, so a redelivered event imports an
    identical finding, which Security Hub ignores.
    """
    partition = call.arn.split(":", 2)[1] if call.arn.count(":") >= 2 else "aws"
    description = "; ".join([*(str(f) for f in verdict.findings), *verdict.notes]) or f"{call.operation}: {verdict.status}"
    when = call.time or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # an event without its time
    return {
        "SchemaVersion": "2018-10-08",
        "Id": f"s3ag-guard/{call.event_id}",
        "ProductArn": f"arn:{partition}:securityhub:{call.region}:{call.account}:product/{call.account}/default",
        "GeneratorId": "sagemaker-s3ag-guard",
        "AwsAccountId": call.account,
        "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
        "CreatedAt": when,
        "UpdatedAt": when,
        "Severity": {"Label": _SEVERITY.get(verdict.status, "INFORMATIONAL")},
        "Title": _subject(call, verdict)[:256],
        "Description": description[:1024],
        "Resources": [
            {
                "Type": "Other",
                "Id": call.arn,
                "Partition": partition,
                "Region": call.region,
                "Details": {"Other": {"Operation": call.operation, "Verdict": verdict.tag_value[:1024]}},
            }
        ],
        "ProductFields": {"s3ag/status": verdict.status, "s3ag/rules": " ".join(verdict.rules) or "none"},
    }


def _import_finding(clients: Any, call: ApiCall, verdict: Verdict) -> str:
    response = clients["securityhub"].batch_import_findings(Findings=[security_hub_finding(call, verdict)])
    failed = response.get("FailedFindings") or []
    if failed:
        first = failed[0]
        raise ActionError(f"Security Hub refused the finding: {first.get('ErrorCode')} {first.get('ErrorMessage')}")
    return ""


def _reason(err: BaseException) -> str:
    response = getattr(err, "response", None)
    if isinstance(response, Mapping):
        error = response.get("Error") or {}
        return f"{error.get('Code', type(err).__name__)}: {error.get('Message', '')}".rstrip(": ")
    return f"{type(err).__name__}: {err}"
