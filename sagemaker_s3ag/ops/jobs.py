"""Jobs: recent training and processing jobs with their ``s3ag:`` records, for an operator's audit.

``s3ag jobs --since 7d --credentials iam-role`` lists the jobs that read or wrote with the IAM role.
From Python::

    from sagemaker_s3ag import list_jobs
    for record in list_jobs(sagemaker_session, since=timedelta(days=7)):
        print(record.job_name, record.credentials)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from sagemaker_s3ag.core.tags import record_from_tags
from sagemaker_s3ag.ops.describe import JobRecord, job_tags

_SINCE = re.compile(r"^(\d{1,12})\s*([mhdw])$")
MAX_SINCE = timedelta(days=3650)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str) -> timedelta:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"2w"`` as a ``timedelta``, at most :data:`MAX_SINCE` back.

    Raises:
        ValueError: not a number and a unit, or too far back.
    """
    match = _SINCE.match(text.strip().lower())
    if not match:
        raise ValueError(f"--since takes a number and a unit (m, h, d or w), e.g. 7d, not {text!r}")
    try:
        since = timedelta(**{_UNITS[match[2]]: int(match[1])})
    except OverflowError:
        since = MAX_SINCE + timedelta(days=1)
    if since > MAX_SINCE:
        raise ValueError(f"--since {text.strip()} is too far back: at most {MAX_SINCE.days}d")
    return since


def _summaries(client: Any, after: datetime) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_type, operation, key in (
        ("training", "list_training_jobs", "TrainingJobSummaries"),
        ("processing", "list_processing_jobs", "ProcessingJobSummaries"),
    ):
        for page in client.get_paginator(operation).paginate(CreationTimeAfter=after):
            for summary in page.get(key, ()):
                yield job_type, summary


def _record(client: Any, job_type: str, summary: dict[str, Any]) -> JobRecord:
    prefix = "TrainingJob" if job_type == "training" else "ProcessingJob"
    arn = summary[f"{prefix}Arn"]
    tags = job_tags(client, arn)
    return JobRecord(
        summary[f"{prefix}Name"],
        job_type,
        arn,
        summary.get(f"{prefix}Status"),
        record_from_tags(tags),
        created=summary.get("CreationTime"),
    )


def list_jobs(
    sagemaker_session: Any,
    *,
    since: timedelta = timedelta(days=7),
    credentials: Optional[str] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    workers: int = 8,
) -> list[JobRecord]:
    """Training and processing jobs created within ``since``, newest first, with their records.

    Args:
        sagemaker_session: the ``sagemaker.session.Session`` to list with.
        since: how far back.
        credentials: keep only jobs recorded with this ``s3ag:credentials`` value.
        progress: called as ``progress(done, total)`` while tags are read.
        workers: concurrent ``ListTags`` calls.
    """
    client = sagemaker_session.sagemaker_client
    after = datetime.now(timezone.utc) - since
    summaries = list(_summaries(client, after))
    records: list[JobRecord] = []
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="s3ag-jobs") as pool:
        for done, record in enumerate(pool.map(lambda item: _record(client, *item), summaries), 1):
            records.append(record)
            if progress is not None:
                progress(done, len(summaries))
    if credentials is not None:
        records = [r for r in records if r.credentials == credentials]
    return sorted(records, key=lambda r: r.created or after, reverse=True)
