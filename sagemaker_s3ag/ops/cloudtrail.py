"""CloudTrail: the events a verification reads, with the caller's session, in as few calls as AWS allows.

``LookupEvents`` (event history: management events of the last 90 days, one Region, one lookup
attribute a call, 50 events a page, about two calls a second per account and Region) is read once
per event name for a whole window, whatever the number of jobs, with botocore's adaptive retries
(client-side rate limiting plus backoff on ``ThrottlingException``). CloudTrail Lake answers the S3
data events, when an event data store holding them is named::

    calls = lookup(boto_session, "GetDataAccess", start, end)
    reads = query_data_events(boto_session, "arn:aws:cloudtrail:...:eventdatastore/EXAMPLE", start, end, ["bucket"])
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional

from sagemaker_s3ag.core.errors import SageMakerS3agError

logger = logging.getLogger(__name__)

PAGE = 50  # LookupEvents' largest page
_STORE = re.compile(r"^(arn:aws[\w-]*:cloudtrail:[a-z0-9-]+:\d{12}:eventdatastore/)?[A-Za-z0-9-]{1,128}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_DONE = ("FINISHED", "FAILED", "CANCELLED", "TIMED_OUT")

Progress = Callable[[str], None]


class CloudTrailError(SageMakerS3agError):
    """CloudTrail could not be read (refused, a query that failed or timed out): the sentence says which."""


@dataclass
class Lookup:
    """What one ``LookupEvents`` pass returned: the records (parsed ``CloudTrailEvent``), its calls and pages."""

    event_name: str
    start: datetime
    end: datetime
    records: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    unreadable: int = 0


def cloudtrail_client(boto_session: Any) -> Any:
    """A CloudTrail client of the caller's session, with adaptive retries (LookupEvents' rate limit)."""
    from botocore.config import Config

    return boto_session.client("cloudtrail", config=Config(retries={"mode": "adaptive", "max_attempts": 10}))


def lookup(
    boto_session: Any,
    event_name: str,
    start: datetime,
    end: datetime,
    *,
    client: Any = None,
    progress: Optional[Progress] = None,
) -> Lookup:
    """Every management event named ``event_name`` between ``start`` and ``end``, in one paged pass.

    Raises:
        CloudTrailError: CloudTrail refused or failed the lookup (after botocore's retries).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    client = client or cloudtrail_client(boto_session)
    found = Lookup(event_name, start, end)
    try:
        pages = client.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": event_name}],
            StartTime=start,
            EndTime=end,
            PaginationConfig={"PageSize": PAGE},
        )
        for page in pages:
            found.pages += 1
            for event in page.get("Events", ()):
                text = event.get("CloudTrailEvent") if isinstance(event, dict) else None
                try:
                    record = json.loads(text) if isinstance(text, str) else None
                except ValueError:
                    record = None
                if isinstance(record, dict):
                    found.records.append(record)
                else:
                    found.unreadable += 1
            if progress is not None:
                progress(
                    f"CloudTrail {event_name}: {found.pages} page{'s' if found.pages != 1 else ''}, {len(found.records)} events"
                )
    except (ClientError, BotoCoreError) as err:
        raise CloudTrailError(f"CloudTrail LookupEvents ({event_name}) failed: {err}") from err
    return found


def query_data_events(
    boto_session: Any,
    event_data_store: str,
    start: datetime,
    end: datetime,
    buckets: Iterable[str],
    *,
    timeout: float = 300.0,
    poll: float = 2.0,
    client: Any = None,
    progress: Optional[Progress] = None,
) -> list[dict[str, Any]]:
    """S3 data events on ``buckets`` between ``start`` and ``end`` from a CloudTrail Lake event data store.

    The rows are the records themselves (``eventJson``); the caller filters them again.

    Raises:
        ValueError: a malformed event data store ARN or id.
        CloudTrailError: the query failed, was cancelled, or did not finish within ``timeout`` seconds.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    check_event_data_store(event_data_store)
    names = sorted({b for b in buckets if _BUCKET.match(b)})
    if not names:
        return []
    client = client or cloudtrail_client(boto_session)
    store = event_data_store.rsplit("/", 1)[-1]
    statement = (
        f"SELECT eventJson FROM {store} WHERE eventSource = 's3.amazonaws.com' AND eventCategory = 'Data' "
        f"AND eventTime >= '{_sql_time(start)}' AND eventTime <= '{_sql_time(end)}' "
        f"AND element_at(requestParameters, 'bucketName') IN ({', '.join(repr(n) for n in names)})"
    )
    try:
        query = client.start_query(QueryStatement=statement)["QueryId"]
        deadline = time.monotonic() + timeout
        while True:
            described = client.describe_query(EventDataStore=event_data_store, QueryId=query)
            status = described.get("QueryStatus")
            if status in _DONE:
                break
            if time.monotonic() > deadline:
                client.cancel_query(EventDataStore=event_data_store, QueryId=query)
                raise CloudTrailError(f"the CloudTrail Lake query did not finish within {timeout:g} s (cancelled)")
            if progress is not None:
                progress(f"CloudTrail Lake: query {status.lower() if isinstance(status, str) else '?'}")
            time.sleep(poll)
        if status != "FINISHED":
            why = described.get("ErrorMessage")
            raise CloudTrailError(f"the CloudTrail Lake query ended {status}{f': {why}' if why else ''}")
        records: list[dict[str, Any]] = []
        token: Optional[str] = None
        while True:
            kwargs: dict[str, Any] = {"EventDataStore": event_data_store, "QueryId": query}
            if token:
                kwargs["NextToken"] = token
            page = client.get_query_results(**kwargs)
            for row in page.get("QueryResultRows", ()):
                for cell in row if isinstance(row, list) else ():
                    text = next(iter(cell.values()), None) if isinstance(cell, dict) and cell else None
                    try:
                        record = json.loads(text) if isinstance(text, str) else None
                    except ValueError:
                        record = None
                    if isinstance(record, dict):
                        records.append(record)
            token = page.get("NextToken")
            if not token:
                return records
    except (ClientError, BotoCoreError) as err:
        raise CloudTrailError(f"CloudTrail Lake failed: {err}") from err


def check_event_data_store(event_data_store: str) -> None:
    """Raise ``ValueError`` unless ``event_data_store`` is an event data store ARN or id."""
    if not isinstance(event_data_store, str) or not _STORE.match(event_data_store):
        raise ValueError(f"{event_data_store!r} is not a CloudTrail Lake event data store ARN or id")


def _sql_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
