"""describe_job: read a job's ``s3ag:`` record back from its tags.

In a notebook::

    from sagemaker_s3ag import describe_job
    describe_job("my-training-job-2026-11-30-10-00-00-000")
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from sagemaker_s3ag.core.errors import JobRecordNotFound
from sagemaker_s3ag.core.outcomes import LocationOutcome, as_pipeline_execution
from sagemaker_s3ag.core.preflight import Preflight
from sagemaker_s3ag.core.settings import check_seconds
from sagemaker_s3ag.core.tags import record_from_tags
from sagemaker_s3ag.sdk.installed import sdk_class

if TYPE_CHECKING:
    from sagemaker_s3ag.ops.verify import Verification

_NOT_FOUND = ("ValidationException", "ResourceNotFound", "ResourceNotFoundException")


@dataclass(frozen=True)
class JobRecord:
    """A training or processing job and what sagemaker-s3ag recorded on it.

    Attributes:
        job_name, job_type, arn, status: the job as SageMaker describes it.
        record: the ``s3ag:`` tags, key to value (empty when the job was not launched grant-aware).
        locations: with ``describe_job(..., locations=True)``, the job's S3 locations resolved
            against S3 Access Grants again, now, with the session's credentials.
        created: when the job was created.
        verification: with ``list_jobs(..., verify=True)``, what CloudTrail shows it used.
    """

    job_name: str
    job_type: str
    arn: str
    status: Optional[str]
    record: Mapping[str, str] = field(default_factory=dict)
    locations: tuple[LocationOutcome, ...] = ()
    created: Optional[datetime] = None
    verification: Optional[Verification] = None

    @property
    def recorded(self) -> bool:
        """Whether the job carries a sagemaker-s3ag launch record (not only a later verification or guard tag)."""
        return "s3ag:identity-propagation" in self.record or "s3ag:version" in self.record

    @property
    def credentials(self) -> Optional[str]:
        """``access-grants`` / ``iam-role`` / ``mixed`` / ``unknown``, as recorded."""
        return self.record.get("s3ag:credentials")

    @property
    def identity_propagation(self) -> Optional[str]:
        """``enabled`` / ``disabled``, as recorded."""
        return self.record.get("s3ag:identity-propagation")

    @property
    def adjustments(self) -> tuple[str, ...]:
        """Ids of the rules that changed the job's request."""
        value = self.record.get("s3ag:adjustments", "none")
        return () if value in ("", "none") else tuple(value.split())

    @property
    def fallback(self) -> Optional[str]:
        """Why some location falls back to the IAM role, as recorded."""
        return self.record.get("s3ag:fallback")

    @property
    def version(self) -> Optional[str]:
        """The sagemaker-s3ag version that launched the job."""
        return self.record.get("s3ag:version")

    def _rows(self) -> list[tuple[str, str]]:
        rows = [("job", f"{self.job_type} job {self.job_name} ({self.status or 'unknown status'})")]
        if not self.recorded:
            rows.append(("record", "none: this job was not launched by a grant-aware class"))
            return rows
        rows += [
            ("identity propagation", self.identity_propagation or "?"),
            ("credentials", self.credentials or "?"),
            ("adjustments", " ".join(self.adjustments) or "none"),
        ]
        if self.fallback:
            rows.append(("fallback", self.fallback))
        rows.append(("recorded by", f"sagemaker-s3ag {self.version or '?'}"))
        rows.extend(("S3 location (now)", str(location)) for location in self.locations)
        return rows

    def __str__(self) -> str:
        return "\n".join(f"{name:<21} {value}" for name, value in self._rows())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in self._rows()
        )
        return f"<table>{rows}</table>"


def job_tags(client: Any, arn: str) -> list[Mapping[str, Any]]:
    """Every tag of a SageMaker resource (``ListTags`` pages)."""
    tags: list[Mapping[str, Any]] = []
    for page in client.get_paginator("list_tags").paginate(ResourceArn=arn):
        tags.extend(page.get("Tags", ()))
    return tags


def describe_job_request(client: Any, job_name: str, job_type: Optional[str] = None) -> tuple[str, dict[str, Any]]:
    """``(job type, description)`` of a training or processing job (a description has its request's shapes).

    Args:
        job_type: ``"training"`` or ``"processing"``; ``None`` looks for both (a training and a
            processing job may share a name: then ``job_type`` is needed).

    Raises:
        JobRecordNotFound: no such job.
        ValueError: ``job_type`` is ``None`` and both a training and a processing job have that name.
    """
    from botocore.exceptions import ClientError

    found: list[tuple[str, dict[str, Any]]] = []
    for kind, method, name_key in (
        ("training", "describe_training_job", "TrainingJobName"),
        ("processing", "describe_processing_job", "ProcessingJobName"),
    ):
        if job_type not in (None, kind):
            continue
        try:
            found.append((kind, getattr(client, method)(**{name_key: job_name})))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in _NOT_FOUND:
                continue
            raise
    if not found:
        raise JobRecordNotFound(job_name)
    if len(found) > 1:
        raise ValueError(f"both a training and a processing job are named {job_name!r}: say which (--type training|processing)")
    return found[0]


def describe_job(job_name: str, sagemaker_session: Any = None, *, locations: bool = False, timeout: float = 5.0) -> JobRecord:
    """Read the ``s3ag:`` record of a training or processing job from its tags.

    Args:
        job_name: the training or processing job's name.
        sagemaker_session: the ``sagemaker.session.Session`` to ask (default: a new one, from the
            environment's credentials and Region).
        locations: also rebuild the per-location table: the job's S3 locations (from its
            description) resolved against S3 Access Grants now, with this session's credentials.
        timeout: seconds for that look-up.

    Raises:
        JobRecordNotFound: no training or processing job has that name.
        ValueError: ``timeout`` is not a number of seconds above 0 and at most 600.
    """
    check_seconds(timeout, "timeout")
    if sagemaker_session is None:
        sagemaker_session = sdk_class("Session")()
    client = sagemaker_session.sagemaker_client
    job_type, description = describe_job_request(client, job_name)
    arn_key, status_key = (
        ("TrainingJobArn", "TrainingJobStatus")
        if job_type == "training"
        else (
            "ProcessingJobArn",
            "ProcessingJobStatus",
        )
    )
    arn = description[arn_key]
    tags = job_tags(client, arn)
    outcomes: tuple[LocationOutcome, ...] = ()
    record = record_from_tags(tags)
    if locations:
        # A Describe* answer has the same shapes as the Create* request it came from.
        outcomes = Preflight(sagemaker_session.boto_session, timeout)(description, job_type)  # type: ignore[arg-type]
        if record.get("s3ag:launched-by") == "pipeline":  # as its pipeline execution meets them
            outcomes = as_pipeline_execution(outcomes)
    return JobRecord(
        job_name,
        job_type,
        arn,
        description.get(status_key),
        record,
        outcomes,
        created=description.get("CreationTime"),
    )
