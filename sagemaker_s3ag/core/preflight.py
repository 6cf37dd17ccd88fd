"""Preflight: before a job is created, ask S3 Access Grants what SageMaker will ask, per S3 location.

For every location the job reads or writes, ``GetDataAccess`` is called with the user's own
session (``sagemaker_session.boto_session``), the narrowest duration (900 s), ``Privilege=Minimal``
and an ``AuditContext`` naming the job, so each call can be found in CloudTrail. Each location is

* ``granted``: a grant matched (its target, grantee type and instance are kept);
* ``fallback``: SageMaker will use the IAM execution role (no grant matched, the caller may not call
  Access Grants, or no Access Grants instance covers the bucket);
* ``unknown``: no answer (throttled, timed out, network down, service error after retries, a
  pipeline value known only at run time).

Look-ups run concurrently in a bounded pool, deduplicated by (target, permission) and shared
between jobs resolving at the same time (single-flight). Eight or more locations in one bucket
with one permission are first asked about as their common prefix: when a grant covers that, it
covers each of them, and one call stands for all (the answer then names that covering grant). Answers are cached per caller: grants
until shortly before the vended credentials would expire, denials for a minute, unknowns never.
The credentials themselves are never kept: they are cut out of the response body before botocore
parses (or logs) it, and only the expiry is read.

Not used: ``ListCallerAccessGrants`` as a fast path. It needs a permission AWS does not list for
execution roles, and ``GetDataAccess`` stays the authority anyway, so it cannot save the calls.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import re
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Mapping, MutableMapping, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

from sagemaker_s3ag.core.identity import clear_cache as clear_domains
from sagemaker_s3ag.core.locations import MANIFESTS, S3Location, s3_locations
from sagemaker_s3ag.core.manifests import Listed, read_listed
from sagemaker_s3ag.core.outcomes import LocationOutcome, Outcome
from sagemaker_s3ag.core.request import JobType, is_unresolved, job_name, literal_head, parse_s3_uri, s3_uri_of, show

logger = logging.getLogger(__name__)

DURATION_SECONDS = 900  # the shortest GetDataAccess allows
MAX_WORKERS = 64
GROUP_PROBE_MIN = 8  # locations of one bucket and permission worth asking about as one prefix first
DENIED_SECONDS = 60.0
EXPIRY_MARGIN_SECONDS = 60.0
MAX_CACHED = 20_000  # answers kept at once, per resolver
PURGE_SECONDS = 60.0  # how often expired answers are dropped
_SECRET_ELEMENTS = re.compile(rb"<(AccessKeyId|SecretAccessKey|SessionToken)>.*?</\1>", re.S)
_THROTTLING = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "SlowDown", "RequestLimitExceeded"}
)


@dataclass(frozen=True)
class Resolution:
    """What S3 Access Grants answered for one (target, permission): never any credential."""

    outcome: Outcome
    reason: str
    grant_target: Optional[str] = None
    grantee_type: Optional[str] = None
    instance_arn: Optional[str] = None


@functools.lru_cache(maxsize=4096)
def target_for(uri: str, kind: str) -> str:
    """The ``GetDataAccess`` target of a location: a prefix gets ``*``, a manifest object does not.

    An S3 ``https://`` URL is asked about as the ``s3://`` URI it names.
    """
    bucket, key = parse_s3_uri(s3_uri_of(uri))
    if kind != "prefix" and key:
        return f"s3://{bucket}/{key}"
    base = f"s3://{bucket}/{key}"
    return base if base.endswith("*") else base + "*"


def _scrub_credentials(response_dict: dict[str, Any], **_: Any) -> None:
    """botocore ``before-parse`` hook: cut the secret parts out of a GetDataAccess body."""
    body = response_dict.get("body")
    if isinstance(body, bytes) and b"<Credentials>" in body:
        response_dict["body"] = _SECRET_ELEMENTS.sub(b"", body)


class _ScrubbingHTTP:
    """Our S3 Control client's HTTP session: a GetDataAccess answer loses its credentials as it arrives.

    botocore's history recorder (``botocore.history``, which the AWS CLI's history feature turns on)
    keeps every raw response body before any event handler could see it; here the secret parts are cut
    out before botocore reads the body at all. The ``before-parse`` hook stays as a second line.
    """

    def __init__(self, http: Any) -> None:
        self._http = http

    def send(self, request: Any) -> Any:
        response = self._http.send(request)
        if "/accessgrantsinstance/dataaccess" in str(getattr(request, "url", "")):
            body = response.content  # read once; botocore reads ``content`` from here on
            if b"<Credentials>" in body:
                response._content = _SECRET_ELEMENTS.sub(b"", body)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._http, name)


def _scrub_on_arrival(client: Any) -> None:
    endpoint = getattr(client, "_endpoint", None)
    http = getattr(endpoint, "http_session", None)
    if endpoint is not None and http is not None and not isinstance(http, _ScrubbingHTTP):
        endpoint.http_session = _ScrubbingHTTP(http)


def _classify(err: BaseException, operation: str) -> Resolution:
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


@dataclass
class _Group:
    """One (location, permission) of a job: where it appears, and what to ask about it."""

    uri: Any
    places: list[str]
    target: Optional[str]  # what GetDataAccess is asked, or None (nothing to ask)
    head: Optional[str] = None  # a pipeline value's literal start, asked about in its place
    unknown: str = ""  # why it is unknown, when there is nothing to ask

    def outcome(self, key: tuple[str, str], found: Resolution) -> LocationOutcome:
        if self.head is not None:  # a grant on the head covers every value; anything less proves nothing
            if found.outcome == "granted":
                found = Resolution("granted", f"a grant covers all of {self.head} (a pipeline value)", found.grant_target, found.grantee_type, found.instance_arn)
            else:
                found = Resolution("unknown", f"a pipeline value under {self.head}: {found.reason} for all of it")
        return LocationOutcome(
            key[0], key[1], found.outcome, found.reason, tuple(self.places), found.grant_target, found.grantee_type, found.instance_arn
        )


def _group(locations: Sequence[S3Location]) -> dict[tuple[str, str], _Group]:
    """The job's locations by (URI, permission), in first-seen order, each with its question."""
    groups: dict[tuple[str, str], _Group] = {}
    for where, permission, uri, kind, _attributes in locations:
        if uri is None:
            continue  # not known yet (a local input the SDK uploads later): asked about then
        key = (uri if isinstance(uri, str) else show(uri), permission)
        if key in groups:
            groups[key].places.append(where)
            continue
        if isinstance(uri, str):
            if uri[:7].lower() == "file://":
                groups[key] = _Group(uri, [where], None, unknown="a local path (local mode), not read from S3")
                continue
            try:
                groups[key] = _Group(uri, [where], target_for(uri, kind))
            except ValueError as err:  # the s3-uri rule refuses the job; if asked anyway, never skipped
                groups[key] = _Group(uri, [where], None, unknown=f"not an S3 location: {err}")
            continue
        head = literal_head(uri) if is_unresolved(uri) else None
        try:
            target = target_for(head, "prefix") if head else None
        except ValueError:
            target, head = None, None
        unknown = "a pipeline value, known only when the pipeline runs" if is_unresolved(uri) else "not an S3 URI"
        groups[key] = _Group(uri, [where], target, head, unknown)
    return groups


@dataclass(frozen=True)
class _Caller:
    account: str
    arn: str


class AccessGrantsResolver:
    """Resolves S3 locations against S3 Access Grants, concurrently, with a per-caller cache.

    One process-wide instance serves every grant-aware job (:data:`RESOLVER`); tests and
    benchmarks may make their own.
    """

    def __init__(self, *, max_workers: int = MAX_WORKERS, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_workers = max_workers
        self._clock = clock
        self.clock = clock
        self._lock = threading.Lock()
        self._pool = _DaemonPool(max_workers)
        self._purged_at = clock()
        self._cache: dict[Hashable, tuple[float, Any]] = {}
        self._inflight: dict[Hashable, Future[Any]] = {}
        self._generation = 0  # bumped by clear(): answers still in flight then are not cached
        self._callers: weakref.WeakKeyDictionary[Any, _Caller] = weakref.WeakKeyDictionary()
        self._clients: weakref.WeakKeyDictionary[Any, dict[tuple[str, float], Any]] = weakref.WeakKeyDictionary()

    # -- public ------------------------------------------------------------------------------

    def resolve(
        self,
        boto_session: Any,
        locations: Sequence[S3Location],
        *,
        timeout: float,
        audit_context: str,
        deadline: Optional[float] = None,
        memo: Optional[MutableMapping[tuple[str, str], Resolution]] = None,
    ) -> tuple[LocationOutcome, ...]:
        """Outcomes for ``locations``, in first-seen order of (URI, permission), within ``timeout`` seconds.

        ``deadline`` (on this resolver's clock) ends the wait sooner; ``memo`` holds answers already
        given to this job, by (target, permission): they are reused, unknowns included, and new
        answers are added to it.
        """
        if deadline is None:
            deadline = self._clock() + timeout
        groups = _group(locations)
        answers: dict[tuple[str, str], Resolution] = {}
        pending: dict[tuple[str, str], tuple[str, str]] = {}  # (label, permission) -> (target, permission)
        for key, group in groups.items():
            if group.target is None:
                answers[key] = Resolution("unknown", group.unknown)
            elif memo is not None and (group.target, key[1]) in memo:
                answers[key] = memo[(group.target, key[1])]
            else:
                pending[key] = (group.target, key[1])
        if pending:
            asked = self._resolve_targets(boto_session, dict(pending), deadline, timeout, audit_context)
            answers.update(asked)
            if memo is not None:
                memo.update((pending[key], answer) for key, answer in asked.items())
        return tuple(group.outcome(key, answers[key]) for key, group in groups.items())

    def read_manifest(self, boto_session: Any, location: S3Location, timeout: float, deadline: float) -> Listed:
        """What the manifest at ``location`` lists, read in the pool and waited for until ``deadline`` at most."""
        done: Future[Listed] = Future()

        def read() -> None:
            try:
                done.set_result(read_listed(self._client(boto_session, "s3", timeout), location.uri, location.kind, location.attributes))
            except Exception as err:  # pragma: no cover - read_listed reports its own failures
                done.set_result(Listed(problem=f"the manifest could not be read ({type(err).__name__})"))

        self._pool.submit(read)
        finished, _ = wait([done], timeout=max(deadline - self._clock(), 0))
        if not finished:
            return Listed(problem=f"the manifest was not read within the {timeout:g} s preflight budget, so what it lists was not checked")
        return done.result()

    def clear(self, *, clients: bool = True) -> None:
        """Forget every cached answer and caller identity, and (unless ``clients=False``) the clients."""
        with self._lock:
            self._generation += 1
            self._cache.clear()
            self._inflight.clear()
            self._callers = weakref.WeakKeyDictionary()
            if clients:
                self._clients = weakref.WeakKeyDictionary()

    # -- steps ------------------------------------------------------------------------------

    def _resolve_targets(
        self,
        boto_session: Any,
        pending: dict[tuple[str, str], tuple[str, str]],
        deadline: float,
        timeout: float,
        audit_context: str,
    ) -> dict[tuple[str, str], Resolution]:
        late = Resolution("unknown", f"no answer within the {timeout:g} s preflight budget")
        region = getattr(boto_session, "region_name", None)
        answers: dict[tuple[str, str], Resolution] = {}
        with self._lock:  # the warm path: every answer cached, no future, no thread
            known = self._callers.get(boto_session)
            if known is not None:
                now = self._clock()
                for key, (target, permission) in list(pending.items()):
                    cached = self._cache.get(("access", region, known.arn, target, permission))
                    if cached is not None and cached[0] > now:
                        answers[key] = _plain(cached[1])
                        del pending[key]
        if not pending:
            return answers
        caller_future = self._caller(boto_session, timeout)
        done, _ = wait([caller_future], timeout=max(deadline - self._clock(), 0))
        if not done:
            return {**answers, **{key: late for key in pending}}
        caller = caller_future.result()
        if isinstance(caller, Resolution):
            return {**answers, **{key: caller for key in pending}}

        # Round 1: which account's Access Grants instance holds each bucket.
        buckets = {parse_s3_uri(target)[0] for target, _ in pending.values()}
        owners = {
            bucket: self._single_flight(
                ("owner", region, caller.account, bucket), functools.partial(self._owner, boto_session, timeout, caller, bucket), self._ttl
            )
            for bucket in buckets
        }
        wait(owners.values(), timeout=max(deadline - self._clock(), 0))

        # Round 2: GetDataAccess. Where one bucket has many locations for one permission, their
        # common prefix is asked first: a grant that covers it covers every one of them, so one
        # call stands for many. Whatever it does not settle is asked location by location.
        ready: dict[tuple[str, str], tuple[str, str, str]] = {}  # key -> (target, permission, owner)
        for key, (target, permission) in pending.items():
            owner_future = owners[parse_s3_uri(target)[0]]
            if not owner_future.done():
                answers[key] = late
                continue
            owner = owner_future.result()
            if isinstance(owner, Resolution):
                answers[key] = owner
            else:
                ready[key] = (target, permission, owner)

        def ask(target: str, permission: str, owner: str) -> Future[Any]:
            return self._single_flight(
                ("access", region, caller.arn, target, permission),
                lambda: self._data_access(boto_session, timeout, owner, target, permission, audit_context),
                self._ttl,
            )

        groups: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
        for key, (target, permission, owner) in ready.items():
            if not self._is_cached(("access", region, caller.arn, target, permission)):
                groups.setdefault((owner, parse_s3_uri(target)[0], permission), []).append(key)
        probes = {}
        for (owner, _bucket, permission), keys in groups.items():
            if len(keys) >= GROUP_PROBE_MIN:
                common = os.path.commonprefix([ready[k][0].rstrip("*") for k in keys]) + "*"
                probes[common, permission] = (ask(common, permission, owner), keys)
        wait([future for future, _keys in probes.values()], timeout=max(deadline - self._clock(), 0))
        for (common, permission), (future, keys) in probes.items():
            if future.done() and future.result().outcome == "granted":
                for key in keys:
                    answers[key] = future.result()
                    target = ready.pop(key)[0]
                    self._copy_cached(
                        ("access", region, caller.arn, common, permission), ("access", region, caller.arn, target, permission)
                    )

        lookups = {key: ask(*ready[key]) for key in ready}
        wait(lookups.values(), timeout=max(deadline - self._clock(), 0))
        for key, future in lookups.items():
            answers[key] = future.result() if future.done() else late
        return answers

    def _caller(self, boto_session: Any, timeout: float) -> Future[Any]:
        with self._lock:
            known = self._callers.get(boto_session)
        if known is not None:
            ready: Future[Any] = Future()
            ready.set_result(known)
            return ready

        with self._lock:
            generation = self._generation

        def ask() -> Any:
            try:
                identity = self._client(boto_session, "sts", timeout).get_caller_identity()
            except Exception as err:  # classified, never raised into the job
                found = _classify(err, "GetCallerIdentity")
                return Resolution("unknown", f"could not identify the caller: {found.reason}")
            caller = _Caller(identity["Account"], identity["Arn"])
            with self._lock:
                if generation == self._generation:
                    self._callers[boto_session] = caller
            return caller

        return self._single_flight(("caller", id(boto_session)), ask, lambda _v: 0.0)

    def _owner(self, boto_session: Any, timeout: float, caller: _Caller, bucket: str) -> Any:
        client = self._client(boto_session, "s3control", timeout)
        try:
            found = client.get_access_grants_instance_for_prefix(AccountId=caller.account, S3Prefix=f"s3://{bucket}/")
        except Exception as err:
            return _classify(err, "GetAccessGrantsInstanceForPrefix")
        arn = found.get("AccessGrantsInstanceArn", "")
        parts = arn.split(":")
        return parts[4] if len(parts) > 5 and parts[4] else caller.account

    def _data_access(
        self, boto_session: Any, timeout: float, owner: str, target: str, permission: str, audit_context: str
    ) -> Any:
        client = self._client(boto_session, "s3control", timeout)
        params: dict[str, Any] = {
            "AccountId": owner,
            "Target": target,
            "Permission": permission,
            "DurationSeconds": DURATION_SECONDS,
            "Privilege": "Minimal",
            "AuditContext": audit_context[:2048],
        }
        if not target.endswith("*"):
            params["TargetType"] = "Object"
        try:
            response = client.get_data_access(**params)
        except Exception as err:
            return _classify(err, "GetDataAccess")
        expiration = (response.get("Credentials") or {}).get("Expiration")
        grantee = response.get("Grantee") or {}
        resolution = Resolution(
            "granted",
            "grant matched" if grantee.get("GranteeType") != "IAM" else "grant to the IAM role matched",
            grant_target=response.get("MatchedGrantTarget"),
            grantee_type=grantee.get("GranteeType"),
            instance_arn=response.get("MatchedInstanceArn"),
        )
        del response  # the credentials go no further than this frame
        return _Expiring(resolution, expiration)

    # -- plumbing ---------------------------------------------------------------------------

    def _ttl(self, value: Any) -> float:
        """Seconds to keep an answer: grants until shortly before expiry, denials briefly, unknowns not."""
        if isinstance(value, _Expiring):
            expiration = value.expiration
            if isinstance(expiration, datetime):
                left = (expiration - datetime.now(timezone.utc)).total_seconds()
            else:
                left = float(DURATION_SECONDS)
            return max(left - EXPIRY_MARGIN_SECONDS, 0.0)
        if isinstance(value, Resolution):
            return DENIED_SECONDS if value.outcome == "fallback" else 0.0
        return DENIED_SECONDS * 60  # an owner account: buckets do not change hands often

    def _store(self, key: Hashable, entry: tuple[float, Any]) -> None:
        """Cache ``entry`` (under the lock): expired answers go once a minute, the oldest beyond :data:`MAX_CACHED`."""
        now = self._clock()
        if now - self._purged_at >= PURGE_SECONDS or len(self._cache) >= MAX_CACHED:
            self._purged_at = now
            for stale in [k for k, (expires, _v) in self._cache.items() if expires <= now]:
                del self._cache[stale]
            while len(self._cache) >= MAX_CACHED:  # still full of live answers: the oldest stored go first
                del self._cache[next(iter(self._cache))]
        self._cache.pop(key, None)
        self._cache[key] = entry

    def _is_cached(self, key: Hashable) -> bool:
        with self._lock:
            cached = self._cache.get(key)
            return cached is not None and cached[0] > self._clock()

    def _copy_cached(self, source: Hashable, destination: Hashable) -> None:
        """Let ``destination`` be answered by what is cached for ``source``, for as long."""
        with self._lock:
            cached = self._cache.get(source)
            if cached is not None:
                self._store(destination, cached)

    def _single_flight(self, key: Hashable, work: Callable[[], Any], ttl: Callable[[Any], float]) -> Future[Any]:
        """A future for ``key``: cached, already running, or started now in the pool."""
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] > self._clock():
                ready: Future[Any] = Future()
                ready.set_result(_plain(cached[1]))
                return ready
            running = self._inflight.get(key)
            if running is not None:
                return running
            outer: Future[Any] = Future()
            self._inflight[key] = outer
            generation = self._generation

        def run() -> None:
            try:
                value = work()
            except BaseException as err:  # pragma: no cover - work() classifies its own errors
                value = Resolution("unknown", f"internal error ({type(err).__name__})")
                logger.debug("preflight step failed", exc_info=True)
            seconds = ttl(value)
            with self._lock:
                if self._inflight.get(key) is outer:
                    del self._inflight[key]
                if seconds > 0 and generation == self._generation:
                    self._store(key, (self._clock() + seconds, value))
            outer.set_result(_plain(value))

        self._pool.submit(run)
        return outer

    def _client(self, boto_session: Any, service: str, timeout: float) -> Any:
        """This session's client for ``service``, made once (under the lock: boto3 sessions are not thread-safe)."""
        from botocore.config import Config

        key = (service, float(timeout))
        with self._lock:
            clients = self._clients.setdefault(boto_session, {})
            client = clients.get(key)
            if client is None:
                config = Config(
                    connect_timeout=min(float(timeout), 3.0),
                    read_timeout=float(timeout),
                    retries={"mode": "standard", "max_attempts": 3},
                    max_pool_connections=self._max_workers,
                )
                client = boto_session.client(service, config=config)
                if service == "s3control":
                    _scrub_on_arrival(client)
                    client.meta.events.register("before-parse.s3-control.GetDataAccess", _scrub_credentials)
                clients[key] = client
            return client


class _DaemonPool:
    """Up to ``size`` worker threads that never hold the interpreter open.

    ``concurrent.futures`` joins its workers when the interpreter exits, so a call still hanging after
    the preflight gave up (budget spent) would keep a script that ended right after ``fit()`` alive
    for its timeouts and retries. These workers are daemons: the process ends when the program does.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers = 0
        self._idle = 0

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            self._tasks.put(task)
            if self._idle == 0 and self._workers < self._size:
                self._workers += 1
                threading.Thread(target=self._work, name=f"s3ag-preflight-{self._workers}", daemon=True).start()
            else:
                self._idle = max(self._idle - 1, 0)  # that idle worker takes this task

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            try:
                task()
            except BaseException:  # pragma: no cover - tasks report their own errors
                logger.debug("preflight task failed", exc_info=True)
            with self._lock:
                self._idle += 1


@dataclass(frozen=True)
class _Expiring:
    """A granted resolution with the expiry of the credentials that proved it (the expiry only)."""

    resolution: Resolution
    expiration: Any


def _plain(value: Any) -> Any:
    return value.resolution if isinstance(value, _Expiring) else value


RESOLVER = AccessGrantsResolver()


def audit_context(job_type: str, name: Optional[str]) -> str:
    """The ``AuditContext`` CloudTrail shows for our ``GetDataAccess`` calls."""
    return f"sagemaker-s3ag preflight for SageMaker {job_type} job {name or '(name pending)'}"


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
                unread.append(LocationOutcome(f"{location.uri} (what it lists)", "READ", "unknown", found.problem, (location.where,)))
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
