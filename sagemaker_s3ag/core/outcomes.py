"""Outcomes: what the preflight found per S3 location, and what that means for the job's record.

Each location is ``granted`` (a grant matched), ``fallback`` (SageMaker will use the IAM execution
role) or ``unknown`` (no answer). The job's verdict, recorded as ``s3ag:credentials``, follows::

    credentials_verdict(outcomes)      # "access-grants", "iam-role", "mixed" or "unknown"
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Optional

Outcome = Literal["granted", "fallback", "unknown"]

_THROTTLING = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException", "SlowDown", "RequestLimitExceeded"})


@dataclass(frozen=True)
class Resolution:
    """What S3 Access Grants answered for one (target, permission): never any credential."""

    outcome: Outcome
    reason: str
    grant_target: Optional[str] = None
    grantee_type: Optional[str] = None
    instance_arn: Optional[str] = None


def classify(err: BaseException, operation: str) -> Resolution:
    """The outcome a failed call stands for."""
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        ConnectTimeoutError,
        HTTPClientError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", ""))
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("AccessDenied", "AccessDeniedException"):
            if "permissions to the requested S3 Prefix" in message:
                return Resolution("fallback", "no matching grant")
            return Resolution("fallback", f"caller may not call s3:{operation}")
        if "NotFound" in code or "NotExist" in code or "NoSuch" in code:
            return Resolution("fallback", "no Access Grants instance for this bucket")
        if code in _THROTTLING or status == 429:
            return Resolution("unknown", "throttled")
        if isinstance(status, int) and status >= 500:
            return Resolution("unknown", f"service error (HTTP {status})")
        return Resolution("unknown", f"{operation} failed ({code or status})")
    if isinstance(err, (ConnectTimeoutError, ReadTimeoutError)):
        return Resolution("unknown", "timed out")
    if isinstance(err, (ConnectionError, HTTPClientError)):
        return Resolution("unknown", f"network error ({type(err).__name__})")
    if isinstance(err, NoCredentialsError):
        return Resolution("unknown", "no AWS credentials")
    return Resolution("unknown", f"{operation} failed ({type(err).__name__})")


@dataclass(frozen=True)
class LocationOutcome:
    """The preflight's answer for one S3 location of a job.

    Attributes:
        uri: the location as the request has it.
        permission: ``READ``, ``WRITE`` or ``READWRITE``.
        outcome: ``granted``, ``fallback`` or ``unknown``.
        reason: a few words, e.g. ``"no matching grant"``.
        places: where in the request the location appears.
        grant_target, grantee_type, instance_arn: the matched grant, when granted.
    """

    uri: str
    permission: str
    outcome: Outcome
    reason: str
    places: tuple[str, ...] = ()
    grant_target: Optional[str] = None
    grantee_type: Optional[str] = None
    instance_arn: Optional[str] = None

    def __str__(self) -> str:
        grant = f" (grant {self.grant_target}, {self.grantee_type})" if self.grant_target else ""
        return f"{self.outcome:<8} {self.permission:<9} {self.uri}: {self.reason}{grant}"


def credentials_verdict(outcomes: Iterable[LocationOutcome]) -> str:
    """``access-grants`` / ``iam-role`` / ``mixed`` / ``unknown`` for a job's locations."""
    kinds = {o.outcome for o in outcomes}
    if "unknown" in kinds:
        return "unknown"
    if kinds == {"granted"}:
        return "access-grants"
    if "granted" in kinds:
        return "mixed"
    return "iam-role"  # every location falls back, or the job touches no S3 location at all


_USER_GRANTEES = ("DIRECTORY_USER", "DIRECTORY_GROUP")


def as_pipeline_execution(outcomes: Iterable[LocationOutcome]) -> tuple[LocationOutcome, ...]:
    """The outcomes as a pipeline execution will meet them: without the user's identity.

    AWS keeps a user's identity for jobs started by hand in Studio (user background sessions), not
    for automated or scheduled workflows such as pipeline executions. A grant to a directory user
    or group then does not apply; a grant to the IAM role still does.
    """
    return tuple(
        replace(
            o,
            outcome="fallback",
            reason=f"pipeline executions carry no user identity (the grant is to a {o.grantee_type.lower().replace('_', ' ')})",
            grant_target=None,
            grantee_type=None,
            instance_arn=None,
        )
        if o.outcome == "granted" and o.grantee_type in _USER_GRANTEES
        else o
        for o in outcomes
    )


def fallback_summary(outcomes: Sequence[LocationOutcome]) -> Optional[str]:
    """A short text for the ``s3ag:fallback`` tag, e.g. ``fallback 2/3: no matching grant``."""
    parts = []
    for kind in ("fallback", "unknown"):
        hits = [o for o in outcomes if o.outcome == kind]
        if hits:
            reasons = " / ".join(dict.fromkeys(o.reason for o in hits))
            parts.append(f"{kind} {len(hits)}/{len(outcomes)}: {reasons}")
    return " - ".join(parts) or None
