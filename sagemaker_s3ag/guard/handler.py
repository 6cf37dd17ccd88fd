"""The Lambda handler: every SageMaker job launched in the account, judged by the same rules.

Deployed by ``s3ag guard template`` on an EventBridge rule for "AWS API Call via CloudTrail"
events of ``CreateTrainingJob``, ``CreateProcessingJob``, ``CreateHyperParameterTuningJob``,
``CreatePipeline``, ``UpdatePipeline`` and ``UpdateTrainingJob``. For each event it reads the request back
(:mod:`~sagemaker_s3ag.guard.events`), judges it with the core rules in check mode
(:mod:`~sagemaker_s3ag.guard.verdict`) and acts (:mod:`~sagemaker_s3ag.guard.actions`): tag,
publish, stop, as the ``S3AG_GUARD_*`` environment says. Handler string for Lambda::

    sagemaker_s3ag.guard.handler.handler

An event it cannot read is logged and counted (``Outcome=malformed``), never raised: EventBridge
would only deliver it again. Each event writes one CloudWatch embedded-metric line (namespace
``sagemaker-s3ag/guard``, dimension ``Outcome``), so counts cost no API call. Importing this module
loads no SageMaker SDK; ``boto3`` (the Lambda runtime's) only on the first event.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from typing import Any, Optional

from sagemaker_s3ag.guard.actions import ActionError, GuardConfig, Outcome, act, job_tags
from sagemaker_s3ag.guard.events import EventError, is_sagemaker_call, read_event
from sagemaker_s3ag.guard.verdict import judge

logger = logging.getLogger(__name__)

NAMESPACE = "sagemaker-s3ag/guard"
_clients: Optional[dict[str, Any]] = None


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """The Lambda entry point: one EventBridge event in, a summary out (also logged as JSON)."""
    # Lambda's Python runtime leaves the root logger at WARNING: each summary is logged at INFO.
    logging.getLogger("sagemaker_s3ag").setLevel(logging.INFO)
    return guard(event, GuardConfig.from_environment(os.environ), clients=_default_clients(), metrics=True)


def guard(
    event: Any,
    config: GuardConfig,
    *,
    clients: Optional[Mapping[str, Any]] = None,
    metrics: bool = False,
) -> dict[str, Any]:
    """Judge one event and act on it; ``clients=None`` acts dry (says what it would do).

    Returns a summary: ``eventId``, ``outcome`` (a verdict status, ``duplicate``, ``malformed`` or
    ``ignored``), the ``tag`` value, ``findings``, ``notes``, ``actions`` and ``failed``.

    Raises:
        ActionError: an action failed after retries; the event is left unmarked, for Lambda to retry.
    """
    summary: dict[str, Any]
    if not is_sagemaker_call(event):
        reason = _why_not(event)
        summary = {
            "eventId": _event_id(event),
            "outcome": "ignored" if reason is None else "malformed",
            "notes": [reason or "not a call the guard judges"],
        }
    else:
        try:
            call = read_event(event)
        except EventError as err:
            summary = {"eventId": _event_id(event), "outcome": "malformed", "notes": [str(err)]}
        else:
            tags = None
            if call.operation == "UpdateTrainingJob" and clients is not None and call.arn:
                try:
                    tags = job_tags(clients, call.arn)  # the job's record says whether TIP was on
                except Exception as err:  # judged without it; acting will meet the same failure
                    logger.warning("s3ag guard: could not read the tags of %s: %s", call.arn, err)
            verdict = judge(call, config.identity_propagation, tags)
            summary = {
                "eventId": call.event_id,
                "operation": call.operation,
                "name": call.name,
                "arn": call.arn,
                "outcome": verdict.status,
                "tag": verdict.tag_value,
                "findings": [str(f) for f in verdict.findings],
                "notes": list(verdict.notes),
            }
            try:
                outcome = act(call, verdict, config, clients)
            except ActionError as err:
                summary.update(actions=[], failed=[str(err)])
                _report(summary, metrics, "action-failed")
                raise
            _record(summary, outcome)
    _report(summary, metrics, summary["outcome"])
    return summary


def _record(summary: dict[str, Any], outcome: Outcome) -> None:
    if outcome.duplicate:
        summary["outcome"] = "duplicate"
        summary["notes"] = [*summary.get("notes", []), "handled before: the job is tagged with this event's id"]
    elif outcome.superseded:
        summary["outcome"] = "superseded"
        summary["notes"] = [*summary.get("notes", []), "a later event was handled already: its verdict stands"]
    summary["actions"] = outcome.done
    summary["failed"] = outcome.failed


def _report(summary: Mapping[str, Any], metrics: bool, outcome: str) -> None:
    level = logging.WARNING if outcome in ("malformed", "violation", "unchecked", "action-failed") else logging.INFO
    logger.log(level, "s3ag guard: %s", json.dumps(summary, default=str))
    if metrics:  # CloudWatch embedded metric format: one JSON line on stdout
        line = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {"Namespace": NAMESPACE, "Dimensions": [["Outcome"]], "Metrics": [{"Name": "Events", "Unit": "Count"}]}
                ],
            },
            "Outcome": outcome,
            "Events": 1,
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()


def _why_not(event: Any) -> Optional[str]:
    """``None`` for a well-formed event of another call (ignored); otherwise why it is malformed."""
    if not isinstance(event, Mapping):
        return f"not an EventBridge event: expected a JSON object, got {type(event).__name__}"
    detail = event.get("detail") if "detail-type" in event else event
    if not isinstance(detail, Mapping):
        return "the event has no CloudTrail record (detail)"
    if not isinstance(detail.get("eventName"), str) or not isinstance(detail.get("eventSource"), str):
        return "the CloudTrail record has no eventName or eventSource"
    return None


def _event_id(event: Any) -> str:
    if isinstance(event, Mapping):
        detail = event.get("detail")
        for source in (detail if isinstance(detail, Mapping) else {}, event):
            for key in ("eventID", "id"):
                if isinstance(source.get(key), str):
                    return str(source[key])
    return ""


def _default_clients() -> dict[str, Any]:
    """The function's clients, made once per container, with botocore's standard retries."""
    global _clients
    if _clients is None:
        import boto3
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=15)
        session = boto3.Session()
        _clients = {name: session.client(name, config=config) for name in ("sagemaker", "sns", "securityhub")}
    return _clients
