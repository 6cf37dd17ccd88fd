"""describe_job: read a job's ``s3ag:`` record back from its tags.

In a notebook::

    from sagemaker_s3ag import describe_job
    describe_job("my-training-job-2026-11-30-10-00-00-000")
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from ._errors import JobRecordNotFound
from ._tags import record_from_tags

_NOT_FOUND = ("ValidationException", "ResourceNotFound", "ResourceNotFoundException")


@dataclass(frozen=True)
class JobRecord:
    """A training or processing job and what sagemaker-s3ag recorded on it.

    Attributes:
        job_name, job_type, arn, status: the job as SageMaker describes it.
        record: the ``s3ag:`` tags, key to value (empty when the job was not launched grant-aware).
    """

    job_name: str
    job_type: str
    arn: str
    status: Optional[str]
    record: Mapping[str, str] = field(default_factory=dict)

    @property
    def recorded(self) -> bool:
        """Whether the job carries a sagemaker-s3ag record at all."""
        return bool(self.record)

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
        return rows

    def __str__(self) -> str:
        return "\n".join(f"{name:<21} {value}" for name, value in self._rows())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self._rows()
        )
        return f"<table>{rows}</table>"


def _describe(client: Any, job_name: str) -> tuple[str, str, Optional[str]]:
    from botocore.exceptions import ClientError

    for job_type, call, arn_key, status_key in (
        ("training", client.describe_training_job, "TrainingJobArn", "TrainingJobStatus"),
        ("processing", client.describe_processing_job, "ProcessingJobArn", "ProcessingJobStatus"),
    ):
        try:
            name_key = "TrainingJobName" if job_type == "training" else "ProcessingJobName"
            found = call(**{name_key: job_name})
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in _NOT_FOUND:
                continue
            raise
        return job_type, found[arn_key], found.get(status_key)
    raise JobRecordNotFound(job_name)


def describe_job(job_name: str, sagemaker_session: Any = None) -> JobRecord:
    """Read the ``s3ag:`` record of a training or processing job from its tags.

    Args:
        job_name: the training or processing job's name.
        sagemaker_session: the ``sagemaker.session.Session`` to ask (default: a new one, from the
            environment's credentials and Region).

    Raises:
        JobRecordNotFound: no training or processing job has that name.
    """
    if sagemaker_session is None:
        from sagemaker.session import Session

        sagemaker_session = Session()
    client = sagemaker_session.sagemaker_client
    job_type, arn, status = _describe(client, job_name)
    tags: list[Mapping[str, Any]] = []
    for page in client.get_paginator("list_tags").paginate(ResourceArn=arn):
        tags.extend(page.get("Tags", ()))
    return JobRecord(job_name, job_type, arn, status, record_from_tags(tags))
