"""Evidence: what CloudTrail shows a job really used, per S3 location, beside what was predicted.

SageMaker asks S3 Access Grants (``GetDataAccess``) for each job of a TIP user and falls back to the
execution role when that fails. CloudTrail records each such call as a management event
(``eventSource`` ``s3.amazonaws.com``, ``eventName`` ``GetDataAccess``) with the ``target`` and
``permission`` asked for and, for an identity-enhanced session, ``userIdentity.onBehalfOf``; its
``responseElements`` is empty (the credentials are never logged), so a call without ``errorCode`` is
one that was answered with credentials, and one with ``AccessDenied`` one that was refused. Per
location the evidence is

* ``granted``: a successful call, on behalf of a user, for a target covering the location with the
  permission it needs, inside the job's window, by the job's execution role when the record names one;
* ``denied``: only refused such calls (SageMaker then used the role);
* ``no-evidence``: none (what was searched is said).

sagemaker-s3ag's own preflight calls carry an ``AuditContext`` starting ``sagemaker-s3ag preflight``
and never count. S3 data events (a trail or event data store with them on) show which credentials
the reads and writes themselves used: a session ``access-grants-…`` of the location role (the
grant's credentials) or the job's execution role::

    calls = [c for c in map(read_access_call, records) if c]
    observations = observe(locations, calls, window, role_arn=description["RoleArn"])
    verdict = compare(predicted="access-grants", observed=observed_verdict(observations))

Sources: S3 Access Grants ``GetDataAccess`` (API reference: ``AuditContext`` "will be displayed in
CloudTrail log"); a ``GetDataAccess`` CloudTrail record in the AWS Transfer Family User Guide
("CloudTrail logging for Transfer Family web apps": ``responseElements`` null, ``onBehalfOf``);
SageMaker's TIP auditing page and IAM Identity Center's "Setting up trusted identity propagation with
SageMaker Studio" (a training job's calls carry the user's ``onBehalfOf``). Which principal SageMaker
itself calls ``GetDataAccess`` as is not documented: a call by another role than the job's is not
counted, a call naming no role is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Optional

from sagemaker_s3ag.core.locations import S3Location
from sagemaker_s3ag.core.preflight import AUDIT_PREFIX
from sagemaker_s3ag.core.request import s3_uri_of

Evidence = Literal["granted", "denied", "no-evidence"]
SKEW = timedelta(minutes=5)  # clocks and CloudTrail's eventTime against SageMaker's job times
RETENTION = timedelta(days=90)  # CloudTrail's event history
_DENIED = ("AccessDenied", "AccessDeniedException")
_COVERS = {"READ": ("READ", "READWRITE"), "WRITE": ("WRITE", "READWRITE"), "READWRITE": ("READWRITE",)}


@dataclass(frozen=True)
class AccessCall:
    """One ``GetDataAccess`` call as CloudTrail recorded it (never any credential: none is logged)."""

    event_id: str
    time: datetime
    target: str
    permission: str
    error: str  # "" when the call was answered with credentials
    user: Optional[str]  # onBehalfOf.userId
    role_arn: str  # userIdentity.sessionContext.sessionIssuer.arn, "" when not named
    ours: bool  # a sagemaker-s3ag preflight call (its AuditContext says so)


@dataclass(frozen=True)
class Window:
    """When a job could have asked for credentials: from its creation to its end, plus clock skew."""

    start: datetime
    end: datetime

    @classmethod
    def of_job(cls, created: datetime, ended: Optional[datetime], now: Optional[datetime] = None) -> Window:
        """``created`` − skew to ``ended`` (or ``now``, for a job still running) + skew."""
        last = ended or now or datetime.now(timezone.utc)
        return cls(_aware(created) - SKEW, _aware(last) + SKEW)

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment <= self.end


@dataclass(frozen=True)
class Observation:
    """What CloudTrail shows for one S3 location of a job.

    Attributes:
        uri, permission: the location and what the job does there (``READ``, ``WRITE``, ``READWRITE``).
        evidence: ``granted``, ``denied`` or ``no-evidence``.
        detail: a sentence: the evidence (event id and time) or what was searched.
        event_ids: the ``GetDataAccess`` events that are the evidence.
        used: from S3 data events, which credentials the job's own reads and writes used there
            (``access-grants``, ``iam-role``, both); ``()`` when no data event was searched or found.
    """

    uri: str
    permission: str
    evidence: Evidence
    detail: str
    event_ids: tuple[str, ...] = ()
    used: tuple[str, ...] = ()

    @property
    def credentials(self) -> str:
        """The credentials this evidence means SageMaker used: ``access-grants``, ``iam-role`` or ``unknown``."""
        if self.used:
            return self.used[0] if len(self.used) == 1 else "mixed"
        return {"granted": "access-grants", "denied": "iam-role"}.get(self.evidence, "unknown")


def read_access_call(record: Any) -> Optional[AccessCall]:
    """The S3 Access Grants ``GetDataAccess`` call a CloudTrail record holds, or ``None`` (another call, or unreadable)."""
    if not isinstance(record, Mapping) or record.get("eventName") != "GetDataAccess":
        return None
    if record.get("eventSource") != "s3.amazonaws.com":  # Lake Formation's GetDataAccess shares the name
        return None
    parameters = record.get("requestParameters")
    parameters = parameters if isinstance(parameters, Mapping) else {}
    target, permission = parameters.get("target"), parameters.get("permission")
    moment = parse_time(record.get("eventTime"))
    event_id = record.get("eventID")
    if not isinstance(target, str) or not isinstance(permission, str) or moment is None or not isinstance(event_id, str):
        return None
    identity = record.get("userIdentity")
    identity = identity if isinstance(identity, Mapping) else {}
    behalf = identity.get("onBehalfOf")
    user = behalf.get("userId") if isinstance(behalf, Mapping) else None
    context = identity.get("sessionContext")
    issuer = context.get("sessionIssuer") if isinstance(context, Mapping) else None
    role = issuer.get("arn") if isinstance(issuer, Mapping) else None
    error = record.get("errorCode")
    return AccessCall(
        event_id=event_id,
        time=moment,
        target=target,
        permission=permission.upper(),
        error=error if isinstance(error, str) else "",
        user=user if isinstance(user, str) and user else None,
        role_arn=role if isinstance(role, str) else "",
        ours=_ours(parameters),
    )


def observe(
    locations: Sequence[S3Location],
    calls: Iterable[AccessCall],
    window: Window,
    *,
    role_arn: str = "",
    user: Optional[str] = None,
) -> list[Observation]:
    """One observation per S3 location (deduplicated by location and permission).

    Args:
        calls: the ``GetDataAccess`` calls CloudTrail returned for (at least) the window.
        role_arn: the job's execution role: a call by another role is another job's.
        user: the job's creator, when known: a call on behalf of another user is not this job's.
    """
    relevant = [
        c
        for c in calls
        if not c.ours
        and c.time in window
        and (not role_arn or not c.role_arn or _same_role(c.role_arn, role_arn))
        and (user is None or c.user is None or c.user == user)
    ]
    by_location: dict[tuple[str, str], Observation] = {}
    for location in locations:
        if not isinstance(location.uri, str):
            continue
        try:
            uri = s3_uri_of(location.uri)
        except ValueError:
            continue
        key = (uri, location.permission)
        if key in by_location:
            continue
        covering = [c for c in relevant if _covers(c.target, uri) and c.permission in _COVERS.get(location.permission, ())]
        granted = [c for c in covering if not c.error and c.user is not None]
        denied = [c for c in covering if c.error in _DENIED]
        if granted:
            first = min(granted, key=lambda c: c.time)
            detail = f"GetDataAccess {first.permission} {first.target} on behalf of {first.user} at {_show(first.time)} ({first.event_id})"
            by_location[key] = Observation(uri, location.permission, "granted", detail, tuple(c.event_id for c in granted))
        elif denied:
            first = min(denied, key=lambda c: c.time)
            detail = f"GetDataAccess {first.target} refused ({first.error}) at {_show(first.time)} ({first.event_id})"
            by_location[key] = Observation(uri, location.permission, "denied", detail, tuple(c.event_id for c in denied))
        else:
            detail = (
                f"no GetDataAccess for a target covering it with {location.permission} between "
                f"{_show(window.start)} and {_show(window.end)} (by the job's role, on behalf of a user, "
                "sagemaker-s3ag's own preflight calls left out)"
            )
            by_location[key] = Observation(uri, location.permission, "no-evidence", detail)
    return list(by_location.values())


def observed_verdict(observations: Sequence[Observation]) -> str:
    """``access-grants`` / ``iam-role`` / ``mixed`` for the job, or ``unknown`` when a location has no evidence."""
    kinds = {o.credentials for o in observations}
    if not kinds or "unknown" in kinds:
        return "unknown"
    if kinds == {"access-grants"}:
        return "access-grants"
    if kinds == {"iam-role"}:
        return "iam-role"
    return "mixed"


def compare(predicted: Optional[str], observations: Sequence[Observation]) -> str:
    """``match``, ``mismatch`` or ``no-evidence``: the observed credentials against the prediction.

    A mismatch needs evidence that contradicts the prediction (a location granted where the record
    predicted ``iam-role``, or refused or read with the role where it predicted ``access-grants``);
    a match needs evidence for every location that agrees with it. Anything less is ``no-evidence``.
    """
    seen = {o.credentials for o in observations} - {"unknown"}
    if predicted == "access-grants" and seen & {"iam-role", "mixed"}:
        return "mismatch"
    if predicted == "iam-role" and seen & {"access-grants", "mixed"}:
        return "mismatch"
    observed = observed_verdict(observations)
    if observed == "unknown":
        return "no-evidence"
    if predicted in (None, "", "unknown"):
        return "no-evidence"  # nothing predicted to hold the evidence against
    if predicted == "mixed":
        return "match" if observed in ("mixed", "access-grants", "iam-role") and len(seen) >= 1 else "no-evidence"
    return "match" if observed == predicted else "mismatch"


@dataclass(frozen=True)
class DataAccess:
    """One S3 data event: which credentials read or wrote an object."""

    event_id: str
    time: datetime
    uri: str  # s3://bucket/key
    credentials: str  # access-grants | iam-role | other
    principal: str


def read_data_event(record: Any, role_arn: str) -> Optional[DataAccess]:
    """An S3 data event, classified: a session ``access-grants-…`` is a grant's credentials; a session of
    ``role_arn`` (the job's execution role) is the role's; anything else is ``other``."""
    if not isinstance(record, Mapping) or record.get("eventSource") != "s3.amazonaws.com":
        return None
    moment = parse_time(record.get("eventTime"))
    parameters = record.get("requestParameters")
    parameters = parameters if isinstance(parameters, Mapping) else {}
    bucket, key = parameters.get("bucketName"), parameters.get("key", "")
    identity = record.get("userIdentity")
    identity = identity if isinstance(identity, Mapping) else {}
    arn = identity.get("arn")
    if moment is None or not isinstance(bucket, str) or not isinstance(arn, str):
        return None
    context = identity.get("sessionContext")
    issuer = context.get("sessionIssuer") if isinstance(context, Mapping) else None
    issuer_arn = issuer.get("arn") if isinstance(issuer, Mapping) else ""
    if "/access-grants-" in arn:
        credentials = "access-grants"
    elif role_arn and isinstance(issuer_arn, str) and _same_role(issuer_arn, role_arn):
        credentials = "iam-role"
    else:
        credentials = "other"
    event_id = record.get("eventID")
    return DataAccess(
        str(event_id) if event_id else "", moment, f"s3://{bucket}/{key if isinstance(key, str) else ''}", credentials, arn
    )


def with_data_events(observations: Sequence[Observation], accesses: Iterable[DataAccess], window: Window) -> list[Observation]:
    """``observations`` with ``used``: the credentials the job's reads and writes under each location used."""
    inside = [a for a in accesses if a.time in window and a.credentials != "other"]
    result = []
    for o in observations:
        used = sorted({a.credentials for a in inside if a.uri.startswith(o.uri.rstrip("*"))})
        result.append(Observation(o.uri, o.permission, o.evidence, o.detail, o.event_ids, tuple(used)) if used else o)
    return result


def parse_time(value: Any) -> Optional[datetime]:
    """An ISO 8601 time as CloudTrail writes it (``2026-12-07T09:15:02Z``), or a ``datetime``; ``None`` otherwise."""
    if isinstance(value, datetime):
        return _aware(value)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return _aware(datetime.fromisoformat(text))
    except ValueError:
        return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _show(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _covers(target: str, uri: str) -> bool:
    """Whether a ``GetDataAccess`` target (``s3://bucket/prefix*``, ``s3://bucket/prefix/``) is at or above ``uri``."""
    head = target.rstrip("*")
    if not head.startswith("s3://"):
        return False
    return uri.startswith(head) or (head.rstrip("/") + "/").startswith(uri.rstrip("/") + "/") and head.count("/") > 2


def _same_role(issuer_arn: str, role_arn: str) -> bool:
    """The same IAM role, whatever its path: ``…:role/service-role/X`` and ``…:role/X`` name role X."""
    return issuer_arn == role_arn or issuer_arn.rsplit("/", 1)[-1] == role_arn.rsplit("/", 1)[-1]


def _ours(parameters: Mapping[str, Any]) -> bool:
    """Whether a request's ``auditContext`` (a string, or nested as Lake Formation writes it) is our preflight's."""
    context = parameters.get("auditContext")
    pending = [context]
    while pending:
        value = pending.pop()
        if isinstance(value, str) and AUDIT_PREFIX in value:
            return True
        if isinstance(value, Mapping):
            pending.extend(value.values())
    return False
