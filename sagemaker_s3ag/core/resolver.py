"""Resolver: S3 locations asked about against S3 Access Grants, concurrently, with a cache per caller.

Look-ups run concurrently in a bounded pool of daemon threads, deduplicated by (target, permission)
and shared between jobs resolving at the same time (single-flight). Eight or more locations in one
bucket with one permission are first asked about as their common prefix: when a grant covers that,
it covers each of them, and one call stands for all (the answer then names that covering grant).
Answers are cached per caller: grants until shortly before the vended credentials would expire,
denials for a minute, unknowns never; the cache is bounded and drops what has expired. The
credentials themselves are never kept (:mod:`sagemaker_s3ag.core.secrets`)::

    resolver = AccessGrantsResolver()
    resolver.resolve(boto_session, locations, timeout=5.0, audit_context="...")

Not used: ``ListCallerAccessGrants`` as a fast path. It needs a permission AWS does not list for
execution roles, and ``GetDataAccess`` stays the authority anyway, so it cannot save the calls.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Hashable, MutableMapping, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

from sagemaker_s3ag.core.locations import S3Location, questions
from sagemaker_s3ag.core.manifests import Listed, read_listed
from sagemaker_s3ag.core.outcomes import LocationOutcome, Resolution, classify
from sagemaker_s3ag.core.request import parse_s3_uri
from sagemaker_s3ag.core.secrets import scrub_on_arrival
from sagemaker_s3ag.core.workers import DaemonPool

logger = logging.getLogger(__name__)

DURATION_SECONDS = 900  # the shortest GetDataAccess allows
MAX_WORKERS = 64
GROUP_PROBE_MIN = 8  # locations of one bucket and permission worth asking about as one prefix first
DENIED_SECONDS = 60.0
EXPIRY_MARGIN_SECONDS = 60.0
MAX_CACHED = 20_000  # answers kept at once, per resolver
PURGE_SECONDS = 60.0  # how often expired answers are dropped


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
        self._pool = DaemonPool(max_workers)
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
        groups = questions(locations)
        answers: dict[tuple[str, str], Resolution] = {}
        pending: dict[tuple[str, str], tuple[str, str]] = {}  # (label, permission) -> (target, permission)
        for key, group in groups.items():
            if group.target is None:
                answers[key] = Resolution("fallback", group.fallback) if group.fallback else Resolution("unknown", group.unknown)
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
                done.set_result(
                    read_listed(self._client(boto_session, "s3", timeout), location.uri, location.kind, location.attributes)
                )
            except Exception as err:  # pragma: no cover - read_listed reports its own failures
                done.set_result(Listed(problem=f"the manifest could not be read ({type(err).__name__})"))

        self._pool.submit(read)
        finished, _ = wait([done], timeout=max(deadline - self._clock(), 0))
        if not finished:
            return Listed(
                problem=f"the manifest was not read within the {timeout:g} s preflight budget, so what it lists was not checked"
            )
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
                ("owner", region, caller.account, bucket),
                functools.partial(self._owner, boto_session, timeout, caller, bucket),
                self._ttl,
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
                found = classify(err, "GetCallerIdentity")
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
            return classify(err, "GetAccessGrantsInstanceForPrefix")
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
            return classify(err, "GetDataAccess")
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
                    scrub_on_arrival(client)
                clients[key] = client
            return client


@dataclass(frozen=True)
class _Expiring:
    """A granted resolution with the expiry of the credentials that proved it (the expiry only)."""

    resolution: Resolution
    expiration: Any


def _plain(value: Any) -> Any:
    return value.resolution if isinstance(value, _Expiring) else value
