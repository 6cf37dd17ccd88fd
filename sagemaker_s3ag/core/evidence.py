"""Evidence: what CloudTrail shows a job really used, per S3 location, beside what was predicted.

SageMaker asks S3 Access Grants (``GetDataAccess``) for each job of a TIP user and falls back to the
execution role when that fails. CloudTrail records each such call as a management event
(``eventSource`` ``s3.amazonaws.com``, ``eventName`` ``GetDataAccess``) with the ``target`` and
``permission`` asked for and, for an identity-enhanced session, ``userIdentity.onBehalfOf``; its
``responseElements`` is empty (the credentials are never logged), so a call without ``errorCode`` is
one that was answered with credentials, and one with ``AccessDenied`` one that was refused. Per
location the evidence is

* ``granted``: a successful call made by the SageMaker service (``invokedBy`` or ``sourceIPAddress``
  ``sagemaker.amazonaws.com``, not a client's IP address), as the job's execution role, on behalf of
  a user (the job's creator when known), inside the job's window, for a target at or above the
  location (``s3://bucket/prefix*``) with a permission that covers what the job does there;
* ``denied``: only refused such calls, for a target at or below the location with exactly that
  permission (a refusal elsewhere says nothing about this location); SageMaker then used the role;
* ``no-evidence``: none (what was searched is said).

Calls made by sagemaker-s3ag itself (its preflight, ``s3ag doctor``: an ``AuditContext`` naming
sagemaker-s3ag) and calls whose ``AuditContext`` names another job never count. S3 data events (a
trail or event data store with them on) show what the reads and writes themselves used: a session
``access-grants-…`` on behalf of the job's user is the grant's credentials; a read by the execution
role may be this job's or another's that shares the role, so it is shown but never decides::

    calls = [c for c in map(read_access_call, records) if c]
    observations = observe(locations, calls, window, role_arn=description["RoleArn"])
    verdict = compare(predicted="access-grants", observed=observed_verdict(observations))

Sources: S3 Access Grants ``GetDataAccess`` (API reference: ``AuditContext`` "will be displayed in
CloudTrail log"); a ``GetDataAccess`` CloudTrail record in the AWS Transfer Family User Guide
("CloudTrail logging for Transfer Family web apps": ``responseElements`` null, ``onBehalfOf``);
SageMaker's TIP auditing page and IAM Identity Center's "Setting up trusted identity propagation with
SageMaker Studio" (a training job's calls carry the user's ``onBehalfOf`` and the execution role's
session). How SageMaker's own ``GetDataAccess`` call for a job appears is not documented: the rules
above keep every doubtful call out, so an unusual shape gives ``no-evidence``, never a wrong verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Optional

from sagemaker_s3ag.core.locations import S3Location
from sagemaker_s3ag.core.request import s3_uri_of

Evidence = Literal["granted", "denied", "no-evidence"]
SKEW = timedelta(minutes=5)  # clocks and CloudTrail's eventTime against SageMaker's job times
RETENTION = timedelta(days=90)  # CloudTrail's event history
_DENIED = ("AccessDenied", "AccessDeniedException")
_COVERS = {"READ": ("READ", "READWRITE"), "WRITE": ("WRITE", "READWRITE"), "READWRITE": ("READWRITE",)}
OURS = "sagemaker-s3ag"  # every AuditContext sagemaker-s3ag writes (preflight, doctor) names it
SERVICE = "sagemaker.amazonaws.com"


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
    ours: bool  # made by sagemaker-s3ag itself (preflight, doctor)
    by_service: bool  # made by the SageMaker service, not from a client's address
    context: str = ""  # the AuditContext, when CloudTrail shows one


@dataclass(frozen=True)
class Window:
    """When a job could have asked for credentials: from its creation to its end, plus clock skew."""

    start: datetime
    end: datetime

    @classmethod
    def of_job(cls, created: datetime, ended: Optional[datetime], now: Optional[datetime] = None) -> Window:
        """``created`` − skew to ``ended`` (or ``now``, for a job still running) + skew."""
        last = ended or now or datetime.now(timezone.utc)
        return cls(shifted(created, -SKEW), shifted(last, SKEW))

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
        used: from S3 data events, the credentials seen reading or writing under the location
            (``access-grants``: on behalf of the job's user; ``iam-role``: the execution role, which
            other jobs may share); ``()`` when none was searched or found.
    """

    uri: str
    permission: str
    evidence: Evidence
    detail: str
    event_ids: tuple[str, ...] = ()
    used: tuple[str, ...] = ()

    @property
    def credentials(self) -> str:
        """What the evidence shows SageMaker used: ``access-grants``, ``iam-role`` or ``unknown``.

        ``GetDataAccess`` decides; without it, reads with the user's grant confirm ``access-grants``.
        Reads by the execution role never decide (another job, or a notebook, may share the role).
        """
        if self.evidence == "granted":
            return "access-grants"
        if self.evidence == "denied":
            return "iam-role"
        return "access-grants" if "access-grants" in self.used else "unknown"


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
    error = record.get("errorCode")
    context = " ".join(_strings(parameters.get("auditContext")))
    return AccessCall(
        event_id=event_id,
        time=moment,
        target=target,
        permission=permission.upper(),
        error=error if isinstance(error, str) else "",
        user=user if isinstance(user, str) and user else None,
        role_arn=_issuer(identity),
        ours=any(OURS in text for text in _strings(parameters) + _strings(record.get("additionalEventData"))),
        by_service=_by_service(record, identity),
        context=context,
    )


def observe(
    locations: Sequence[S3Location],
    calls: Iterable[AccessCall],
    window: Window,
    *,
    role_arn: str,
    user: Optional[str] = None,
    job_name: str = "",
) -> list[Observation]:
    """One observation per S3 location (deduplicated by location and permission).

    Args:
        calls: the ``GetDataAccess`` calls CloudTrail returned for (at least) the window.
        role_arn: the job's execution role: a call by another role, or naming none, is not this job's.
        user: the job's creator, when known: a call on behalf of another user is not this job's.
        job_name: a call whose ``AuditContext`` names another job is not this job's.
    """
    relevant = [
        c
        for c in calls
        if not c.ours
        and c.by_service
        and c.user is not None
        and (user is None or c.user == user)
        and c.time in window
        and same_role(c.role_arn, role_arn)
        and not _names_another_job(c.context, job_name)
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
        needed = location.permission
        granted = [c for c in relevant if not c.error and _at_or_above(c.target, uri) and c.permission in _COVERS.get(needed, ())]
        denied = [c for c in relevant if c.error in _DENIED and _at_or_below(c.target, uri) and c.permission == needed]
        if granted:
            first = min(granted, key=lambda c: c.time)
            detail = f"GetDataAccess {first.permission} {first.target} on behalf of {first.user} at {_show(first.time)} ({first.event_id})"
            by_location[key] = Observation(uri, needed, "granted", detail, tuple(c.event_id for c in granted))
        elif denied:
            first = min(denied, key=lambda c: c.time)
            detail = f"GetDataAccess {first.permission} {first.target} refused ({first.error}) at {_show(first.time)} ({first.event_id})"
            by_location[key] = Observation(uri, needed, "denied", detail, tuple(c.event_id for c in denied))
        else:
            detail = (
                f"no GetDataAccess covering it with {needed} between {_show(window.start)} and {_show(window.end)} "
                "(made by SageMaker as the job's role on behalf of a user; sagemaker-s3ag's own calls left out)"
            )
            by_location[key] = Observation(uri, needed, "no-evidence", detail)
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


def compare(predicted: Optional[str], observations: Sequence[Observation], *, complete: bool = True) -> str:
    """``match``, ``mismatch`` or ``no-evidence``: the observed credentials against the prediction.

    A mismatch needs evidence that contradicts the prediction (a location granted where ``iam-role``
    was predicted; refused where ``access-grants`` was; all alike where ``mixed`` was); a match needs
    evidence for every location that agrees with it, and ``complete`` (no location the evidence cannot
    reach, such as the data a manifest lists). Anything less is ``no-evidence``.
    """
    seen = {o.credentials for o in observations} - {"unknown"}
    observed = observed_verdict(observations)
    if predicted == "access-grants" and "iam-role" in seen:
        return "mismatch"
    if predicted == "iam-role" and "access-grants" in seen:
        return "mismatch"
    if predicted == "mixed" and observed in ("access-grants", "iam-role"):
        return "mismatch"  # every location alike, where some were predicted to fall back and some not
    if observed == "unknown" or not complete or predicted in (None, "", "unknown"):
        return "no-evidence"
    return "match" if observed == predicted else "mismatch"


@dataclass(frozen=True)
class DataAccess:
    """One S3 data event, read once: who read or wrote which object, when."""

    event_id: str
    time: datetime
    bucket: str
    key: str
    principal: str  # userIdentity.arn
    role_arn: str  # the session's issuer
    user: Optional[str]  # onBehalfOf.userId

    @property
    def by_grant(self) -> bool:
        """Made with credentials S3 Access Grants vended (a session ``access-grants-…`` of the location role)."""
        return "/access-grants-" in self.principal


def read_data_event(record: Any) -> Optional[DataAccess]:
    """An S3 data event (``eventCategory`` ``Data``), or ``None``."""
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
    behalf = identity.get("onBehalfOf")
    user = behalf.get("userId") if isinstance(behalf, Mapping) else None
    event_id = record.get("eventID")
    return DataAccess(
        str(event_id) if event_id else "",
        moment,
        bucket,
        key if isinstance(key, str) else "",
        arn,
        _issuer(identity),
        user if isinstance(user, str) else None,
    )


def with_data_events(
    observations: Sequence[Observation],
    accesses: Iterable[DataAccess],
    window: Window,
    *,
    role_arn: str,
    user: Optional[str],
) -> list[Observation]:
    """``observations`` with ``used``: the credentials seen under each location, inside the window.

    A read with a grant counts only on behalf of the job's user (when the event and the job both
    name one); a read by the execution role counts as ``iam-role`` (shown, never deciding).
    """
    kinds: dict[tuple[str, str], set[str]] = {}
    for access in accesses:
        if access.time not in window:
            continue
        if access.by_grant:
            if user is None or access.user != user:
                continue  # another user's grant, or one this job cannot be told from
            kind = "access-grants"
        elif same_role(access.role_arn, role_arn):
            kind = "iam-role"
        else:
            continue
        kinds.setdefault((access.bucket, access.key), set()).add(kind)
    result = []
    for o in observations:
        bucket, prefix = o.uri[len("s3://") :].partition("/")[::2]
        used = sorted({k for (b, key), found in kinds.items() if b == bucket and key.startswith(prefix) for k in found})
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


def same_role(issuer_arn: str, role_arn: str) -> bool:
    """The same IAM role (same account and name, whatever its path): ``…:role/service-role/X`` is ``…:role/X``."""
    if not issuer_arn or not role_arn:
        return False
    return _role_key(issuer_arn) == _role_key(role_arn)


def _role_key(arn: str) -> tuple[str, str]:
    parts = arn.split(":", 5)
    account = parts[4] if len(parts) == 6 else ""
    return account, arn.rsplit("/", 1)[-1]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def shifted(moment: datetime, by: timedelta) -> datetime:
    """``moment`` (as UTC when naive) moved ``by``, held at the ends of the calendar (a description may say year 9999)."""
    moment = _aware(moment)
    try:
        return moment + by
    except OverflowError:
        return datetime.max.replace(tzinfo=timezone.utc) if by > timedelta(0) else datetime.min.replace(tzinfo=timezone.utc)


def _show(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _at_or_above(target: str, uri: str) -> bool:
    """Whether a ``GetDataAccess`` target covers ``uri``: ``s3://bucket/pre*`` covers what starts so;
    a target without ``*`` covers only itself (an object, or the same prefix)."""
    if not target.startswith("s3://"):
        return False
    bucket, key = _split(uri)
    if target.endswith("*"):
        t_bucket, t_key = _split(target[:-1])
        return t_bucket == bucket and key.startswith(t_key)
    t_bucket, t_key = _split(target)
    return t_bucket == bucket and t_key.rstrip("/") == key.rstrip("/")


def _at_or_below(target: str, uri: str) -> bool:
    """Whether a target lies at or under ``uri`` (a refusal there means no grant covers ``uri`` either)."""
    if not target.startswith("s3://"):
        return False
    bucket, key = _split(uri)
    t_bucket, t_key = _split(target.rstrip("*"))
    if t_bucket != bucket:
        return False
    return t_key.startswith(key) if key.endswith("/") or not key else (t_key == key or t_key.startswith(key + "/"))


def _issuer(identity: Mapping[str, Any]) -> str:
    context = identity.get("sessionContext")
    issuer = context.get("sessionIssuer") if isinstance(context, Mapping) else None
    arn = issuer.get("arn") if isinstance(issuer, Mapping) else None
    return arn if isinstance(arn, str) else ""


def _by_service(record: Mapping[str, Any], identity: Mapping[str, Any]) -> bool:
    """Made by SageMaker itself: ``invokedBy`` or ``sourceIPAddress`` names the service, not a client address."""
    names = {identity.get("invokedBy"), record.get("sourceIPAddress")}
    return SERVICE in names


def _strings(value: Any) -> list[str]:
    found: list[str] = []
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, Mapping):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
    return found


_JOB_IN_CONTEXT = re.compile(r"(?:training|processing)[- ]job[/ ]([A-Za-z0-9-]{1,63})", re.I)


def _names_another_job(context: str, job_name: str) -> bool:
    """Whether an ``AuditContext`` names a SageMaker job other than ``job_name``."""
    named = {m.lower() for m in _JOB_IN_CONTEXT.findall(context)}
    return bool(named) and bool(job_name) and job_name.lower() not in named
