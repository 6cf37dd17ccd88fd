"""Jobs: recent training and processing jobs with their ``s3ag:`` records, for an operator's audit.

``s3ag jobs --since 7d --credentials iam-role`` lists the jobs that read or wrote with the IAM role;
``--verify`` adds what CloudTrail shows they used (one pass for all of them). From Python::

    from sagemaker_s3ag import list_jobs
    jobs = list_jobs(sagemaker_session, since=timedelta(days=7), verify=True)
    jobs.to_frame()          # pandas; jobs.plot(), jobs.to_html("report.html")
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Optional, Union

from sagemaker_s3ag.core.tags import record_from_tags
from sagemaker_s3ag.ops.describe import JobRecord, job_tags
from sagemaker_s3ag.ops.report import JobList

_SINCE = re.compile(r"^(\d{1,12})\s*([mhdw])$")
MAX_SINCE = timedelta(days=3650)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: Optional[datetime] = None) -> timedelta:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"2w"``, or a UTC time (``2026-12-01T08:00``, to resume a pass
    where it stopped) as a ``timedelta`` back from now, at most :data:`MAX_SINCE` back.

    Raises:
        ValueError: neither a number and a unit nor a time in the past, or too far back.
    """
    match = _SINCE.match(text.strip().lower())
    if not match:
        moment = _iso(text)
        current = now or datetime.now(timezone.utc)
        if moment is None or moment >= current:
            raise ValueError(
                f"--since takes a number and a unit (m, h, d or w), e.g. 7d, or a past UTC time such as "
                f"2026-12-01T08:00, not {text!r}"
            )
        return _bounded(current - moment, f"--since {text.strip()}")
    try:
        since = timedelta(**{_UNITS[match[2]]: int(match[1])})
    except OverflowError:
        since = MAX_SINCE + timedelta(days=1)
    return _bounded(since, f"--since {text.strip()}")


def _checked_since(since: Any) -> timedelta:
    """``since`` as a ``timedelta``: one, or the text :func:`parse_since` takes (``"7d"``)."""
    if isinstance(since, str):
        return parse_since(since)
    if not isinstance(since, timedelta):
        raise TypeError(f"since takes a timedelta or text such as '7d', not {type(since).__name__} {since!r}"[:300])
    return _bounded(since, f"since={since}")


def _bounded(since: timedelta, said: str) -> timedelta:
    """``since`` when it is some time back and at most :data:`MAX_SINCE`; ``said`` names it in the error."""
    if since <= timedelta(0):
        raise ValueError(f"{said} is no time back at all: give how far back, e.g. 7d")
    if since > MAX_SINCE:
        raise ValueError(f"{said} is too far back: at most {MAX_SINCE.days}d")
    return since


def _iso(text: str) -> Optional[datetime]:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


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
    since: Union[timedelta, str] = timedelta(days=7),
    credentials: Optional[str] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    workers: int = 8,
    verify: bool = False,
    reverify: bool = False,
    event_data_store: Optional[str] = None,
    record_verified: bool = True,
    verify_progress: Optional[Callable[[str], None]] = None,
) -> JobList:
    """Training and processing jobs created within ``since``, newest first, with their records.

    Args:
        sagemaker_session: the ``sagemaker.session.Session`` to list with.
        since: how far back: a ``timedelta``, or text such as ``"7d"`` or ``"12h"`` (at most 3650 days).
        credentials: keep only jobs recorded with this ``s3ag:credentials`` value.
        progress: called as ``progress(done, total)`` while tags are read.
        workers: concurrent ``ListTags`` (and, verifying, ``Describe*``) calls.
        verify: also verify each job against CloudTrail (:func:`~sagemaker_s3ag.ops.verify.verify_jobs`):
            one pass over CloudTrail for the whole window, never one lookup per job. A job already
            recorded ``s3ag:verified`` = ``match`` or ``mismatch`` is not verified again unless ``reverify``.
        event_data_store: with ``verify``, a CloudTrail Lake event data store holding S3 data events.
        record_verified: with ``verify``, write ``s3ag:verified`` on each job verified.
        verify_progress: called with a line of progress while CloudTrail is read.

    Returns:
        A :class:`~sagemaker_s3ag.ops.report.JobList`: ``.to_frame()``, ``.plot()``, ``.to_html(path)``.
    """
    since = _checked_since(since)
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 64:
        raise ValueError(f"workers must be a whole number from 1 to 64, not {workers!r}")
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
    if verify:
        from dataclasses import replace

        from sagemaker_s3ag.ops.verify import FINAL, verify_jobs

        pending = [(r.job_name, r.job_type) for r in records if reverify or r.record.get("s3ag:verified") not in FINAL]
        found = verify_jobs(
            pending,
            sagemaker_session,
            event_data_store=event_data_store,
            record=record_verified,
            workers=workers,
            progress=verify_progress,
        )
        records = [replace(r, verification=found[r.arn]) if r.arn in found else r for r in records]
    return JobList(sorted(records, key=lambda r: r.created or after, reverse=True))
