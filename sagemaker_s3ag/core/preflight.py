"""Preflight: before a job is created, ask S3 Access Grants what SageMaker will ask, per S3 location.

For every location the job reads or writes, ``GetDataAccess`` is called with the user's own
session (``sagemaker_session.boto_session``), the narrowest duration (900 s), ``Privilege=Minimal``
and an ``AuditContext`` naming the job, so each call can be found in CloudTrail. Each location is

* ``granted``: a grant matched (its target, grantee type and instance are kept);
* ``fallback``: SageMaker will use the IAM execution role (no grant matched, the caller may not call
  Access Grants, or no Access Grants instance covers the bucket);
* ``unknown``: no answer (throttled, timed out, network down, service error after retries, a
  pipeline value known only at run time).

The asking itself (concurrent, deduplicated, cached with the grants' real expiry, credentials cut
out before botocore parses the response) is :mod:`sagemaker_s3ag.core.resolver`; a ``Preflight``
gives one job one budget of waiting and remembers what it was told::

    preflight = Preflight(sagemaker_session.boto_session, timeout=5.0)
    outcomes = preflight(request, "training")
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from sagemaker_s3ag.core.identity import clear_cache as clear_domains
from sagemaker_s3ag.core.locations import MANIFESTS, S3Location, s3_locations
from sagemaker_s3ag.core.manifests import Listed
from sagemaker_s3ag.core.outcomes import LocationOutcome, Resolution
from sagemaker_s3ag.core.request import JobType, job_name, role_account
from sagemaker_s3ag.core.resolver import AccessGrantsResolver

RESOLVER = AccessGrantsResolver()


AUDIT_PREFIX = "sagemaker-s3ag preflight"  # how CloudTrail tells our own GetDataAccess calls from SageMaker's


def audit_context(job_type: str, name: Optional[str]) -> str:
    """The ``AuditContext`` CloudTrail shows for our ``GetDataAccess`` calls."""
    return f"{AUDIT_PREFIX} for SageMaker {job_type} job {name or '(name pending)'}"


class Preflight:
    """One job's preflight: a budget of ``timeout`` seconds of waiting, and every answer it was given.

    Whatever asks for the job (the check before anything is uploaded, the choke point that sees the
    final request) asks through the same ``Preflight``: a location is asked about once, an answer
    that came back ``unknown`` stays so, and all the asking together waits at most ``timeout``
    seconds, however long the SDK spends uploading in between::

        preflight = Preflight(sagemaker_session.boto_session, timeout=5.0)
        outcomes = preflight(request, "training")
    """

    def __init__(self, boto_session: Any, timeout: float, *, resolver: Optional[AccessGrantsResolver] = None) -> None:
        self.boto_session = boto_session
        self.timeout = timeout
        self._resolver = resolver
        self._left = float(timeout)
        self._answers: dict[tuple[str, str], Resolution] = {}
        self._listings: dict[str, Listed] = {}
        self._lock = threading.Lock()

    def __call__(self, request: Mapping[str, Any], job_type: JobType, label: Optional[str] = None) -> tuple[LocationOutcome, ...]:
        """One outcome per S3 location of ``request`` (and per prefix its manifests list); ``label`` names the job."""
        resolver = self._resolver or RESOLVER
        with self._lock:
            started = resolver.clock()
            try:
                locations = s3_locations(request, job_type)
                listed, unread = self._manifests(resolver, locations, started + self._left)
                outcomes = resolver.resolve(
                    self.boto_session,
                    [*locations, *listed],
                    timeout=self.timeout,
                    deadline=started + self._left,
                    audit_context=audit_context(job_type, label or job_name(request, job_type)),
                    memo=self._answers,
                    account=role_account(request, job_type),
                )
                return outcomes + unread
            finally:
                self._left = max(self._left - (resolver.clock() - started), 0.0)

    def _manifests(
        self, resolver: AccessGrantsResolver, locations: Sequence[S3Location], deadline: float
    ) -> tuple[list[S3Location], tuple[LocationOutcome, ...]]:
        """The prefixes each manifest lists, to ask about too; an outcome ``unknown`` for each that cannot be read."""
        listed: list[S3Location] = []
        unread: list[LocationOutcome] = []
        for location in locations:
            if location.kind not in MANIFESTS or not isinstance(location.uri, str) or location.uri[:7] == "file://":
                continue
            found = self._listings.get(location.uri)
            if found is None:
                found = resolver.read_manifest(self.boto_session, location, self.timeout, deadline)
                self._listings[location.uri] = found
            if found.problem:
                unread.append(
                    LocationOutcome(f"{location.uri} (what it lists)", "READ", "unknown", found.problem, (location.where,))
                )
            where = f"{location.where} (listed in the manifest)"
            listed.extend(S3Location(where, "READ", prefix) for prefix in found.prefixes)
        return listed, tuple(unread)

    @property
    def seconds_left(self) -> float:
        """How much of the budget is left."""
        return self._left


def clear_cache() -> None:
    """Forget every cached Access Grants answer (e.g. after a grant was added or removed)."""
    RESOLVER.clear()


def clear_caches() -> None:
    """Forget cached Access Grants answers and Studio domain look-ups.

    Grants are cached until shortly before their credentials expire and denials for a minute;
    call this after a grant was added or removed, or TIP was switched on the domain::

        import sagemaker_s3ag
        sagemaker_s3ag.clear_caches()
    """
    clear_domains()
    RESOLVER.clear()
