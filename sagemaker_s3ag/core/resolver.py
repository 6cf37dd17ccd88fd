"""Resolver: S3 locations asked about against S3 Access Grants, concurrently, with a cache per caller.

Look-ups run concurrently in a bounded pool of daemon threads, deduplicated by (target, permission)
and shared between jobs resolving at the same time (single-flight), in as few rounds as the answers
allow (:meth:`AccessGrantsResolver._resolve_targets` says how):

* ``GetDataAccess`` asks the caller's own instance with ``InstanceScope=ALL`` (every instance shared
  with its account through AWS RAM too), while the bucket's instance is looked up as SageMaker does
  (``GetAccessGrantsInstanceForPrefix``); that look-up has the last word: a location whose instance
  look-up fails is never called granted, and a grant matched in another instance than the bucket's
  is asked again of the bucket's;
* many locations of one bucket are asked as their common prefix, and a few folders below it, at once;
* the caller's grants are listed (``ListCallerAccessGrants``) where it may list them: a location no
  listed grant covers falls back without a call (AWS: "for a corporate user, the results include
  grants for the IAM role, the user, and the user's groups"); ``GetDataAccess`` stays the authority
  for what a listed grant gives.

Answers are cached per caller: grants until shortly before the vended credentials would expire,
denials for a minute, unknowns never; a job whose every answer is cached is answered whole; the
cache is bounded and drops what has expired. The credentials themselves are never kept
(:mod:`sagemaker_s3ag.core.secrets`)::

    resolver = AccessGrantsResolver()
    resolver.resolve(boto_session, locations, timeout=5.0, audit_context="...")
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Mapping, MutableMapping, Sequence
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
LISTING_REFUSED_SECONDS = 900.0  # a caller refused ListCallerAccessGrants is not asked again for 15 minutes
MAX_LISTED = 3000  # grants ListCallerAccessGrants may list (three pages) before the listing is not used
SPECULATE_MAX = 4  # folders one segment below a common prefix asked with it, at most
MAX_JOBS = 256  # jobs whose whole answer is kept (the warm path), per resolver
NOT_LISTED = Resolution("fallback", "no matching grant")  # none of the caller's listed grants covers it


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
        self._jobs: dict[
            Hashable, tuple[float, int, tuple[tuple[tuple[str, str], Resolution], ...], tuple[LocationOutcome, ...]]
        ] = {}
        self._generation = 0  # bumped by clear(): answers still in flight then are not cached
        self._tokens: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._next_token = 0
        self._callers: weakref.WeakKeyDictionary[Any, _Caller] = weakref.WeakKeyDictionary()
        self._clients: weakref.WeakKeyDictionary[Any, dict[tuple[str, float], Any]] = weakref.WeakKeyDictionary()
        self._building: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()

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
        account: Optional[str] = None,
    ) -> tuple[LocationOutcome, ...]:
        """Outcomes for ``locations``, in first-seen order of (URI, permission), within ``timeout`` seconds.

        ``deadline`` (on this resolver's clock) ends the wait sooner; ``memo`` holds answers already
        given to this job, by (target, permission): they are reused, unknowns included, and new
        answers are added to it. ``account`` is the caller's account when the job names it (its
        execution role's: SageMaker allows no role of another account), which saves asking STS.
        """
        if deadline is None:
            deadline = self._clock() + timeout
        region = getattr(boto_session, "region_name", None)
        job = self._job_key(region, boto_session, account, locations)
        if job is not None:  # the warm path for a job seen before: one look-up, while every answer in it lasts
            hit = self._known_job(job, memo)
            if hit is not None:
                return hit
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
            asked = self._resolve_targets(boto_session, dict(pending), deadline, timeout, audit_context, account)
            answers.update(asked)
            if memo is not None:
                memo.update((pending[key], answer) for key, answer in asked.items())
        outcomes = tuple(group.outcome(key, answers[key]) for key, group in groups.items())
        if job is not None:
            self._remember_job(job, region, boto_session, account, groups, answers, outcomes)
        return outcomes

    def _job_key(
        self, region: Optional[str], boto_session: Any, account: Optional[str], locations: Sequence[S3Location]
    ) -> Optional[Hashable]:
        try:
            key = (region, self._principal(boto_session), account, tuple(locations))
            hash(key)
        except TypeError:  # a pipeline value that cannot be hashed: asked the long way
            return None
        return key

    def _known_job(
        self, job: Hashable, memo: Optional[MutableMapping[tuple[str, str], Resolution]]
    ) -> Optional[tuple[LocationOutcome, ...]]:
        with self._lock:
            found = self._jobs.get(job)
            if found is None:
                return None
            expires, generation, pairs, outcomes = found
            if expires <= self._clock() or generation != self._generation:
                del self._jobs[job]
                return None
        if memo is not None:
            if any(pair in memo for pair, _answer in pairs):
                return None  # this job was answered before: those answers stand, unknowns included
            memo.update(pairs)
        return outcomes

    def _remember_job(
        self,
        job: Hashable,
        region: Optional[str],
        boto_session: Any,
        account: Optional[str],
        groups: Mapping[tuple[str, str], Any],
        answers: Mapping[tuple[str, str], Resolution],
        outcomes: tuple[LocationOutcome, ...],
    ) -> None:
        """Keep a job's outcomes when every asked answer in it is cached, until the first of them expires."""
        principal = self._principal(boto_session)
        account = account or self._known_account(boto_session)
        if account is None:
            return
        pairs: list[tuple[tuple[str, str], Resolution]] = []
        with self._lock:
            expires = float("inf")
            for key, group in groups.items():
                if group.target is None:
                    if answers[key].outcome == "unknown" and group.unknown.startswith("not an S3"):
                        return  # refused by the rules anyway: nothing worth keeping
                    continue
                cached = self._cache.get(("access", region, principal, account, group.target, key[1]))
                if cached is None or _plain(cached[1]) != answers[key]:
                    return  # an unknown, or an answer not from the cache (the instance look-up's): asked again
                expires = min(expires, cached[0])
                pairs.append(((group.target, key[1]), answers[key]))
            if expires == float("inf") or expires <= self._clock():
                return
            if len(self._jobs) >= MAX_JOBS:
                self._jobs.clear()
            self._jobs[job] = (expires, self._generation, tuple(pairs), outcomes)

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
            self._jobs.clear()
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
        account_hint: Optional[str],
    ) -> dict[tuple[str, str], Resolution]:
        late = Resolution("unknown", f"no answer within the {timeout:g} s preflight budget")
        region = getattr(boto_session, "region_name", None)
        principal = self._principal(boto_session)
        answers: dict[tuple[str, str], Resolution] = {}
        account = account_hint or self._known_account(boto_session)
        if account is not None:
            with self._lock:  # the warm path: every answer cached, no future, no thread
                now = self._clock()
                for key, (target, permission) in list(pending.items()):
                    cached = self._cache.get(("access", region, principal, account, target, permission))
                    if cached is not None and cached[0] > now:
                        answers[key] = _plain(cached[1])
                        del pending[key]
        if not pending:
            return answers

        def left() -> float:
            return max(deadline - self._clock(), 0)

        if account is None:  # not named by the job's role: asked of STS
            caller_future = self._caller(boto_session, timeout)
            if not wait([caller_future], timeout=left())[0]:
                return {**answers, **{key: late for key in pending}}
            caller = caller_future.result()
            if isinstance(caller, Resolution):
                return {**answers, **{key: caller for key in pending}}
            account = caller.account
        client = self._client(boto_session, "s3control", timeout)  # made once per session, before the clock matters
        scoped = _knows_instance_scope(client)

        # Which account's Access Grants instance holds each bucket: what SageMaker asks first, so a
        # refusal here (no permission, no instance) is the job's fallback whatever GetDataAccess says,
        # and another account's instance is the one SageMaker asks. With InstanceScope=ALL the first
        # asks need not wait for it: they search the caller's instance and every instance shared with
        # its account through AWS RAM; a bucket whose instance turns out to be another account's is
        # asked of that instance too before it is called a fallback.
        buckets = {parse_s3_uri(target)[0] for target, _ in pending.values()}
        owners = {
            bucket: self._single_flight(
                ("owner", region, principal, account, bucket),
                functools.partial(self._owner, boto_session, timeout, account, bucket),
                self._ttl,
            )
            for bucket in buckets
        }
        if not scoped:  # an older botocore: each ask needs its owner account first
            wait(owners.values(), timeout=left())
        source: dict[tuple[str, str], tuple[Any, ...]] = {}  # (target, permission) -> the cache key of its answer

        def owner_of(target: str) -> Optional[str]:
            found = owners[parse_s3_uri(target)[0]]
            return found.result() if found.done() and isinstance(found.result(), str) else None

        def ask(target: str, permission: str, *, of_the_owner: bool = False) -> Future[Any]:
            if left() <= 0 or (not scoped and not owners[parse_s3_uri(target)[0]].done()):
                return _answered(late)  # no call is started once the budget is spent
            asked = owner_of(target) or account  # the owner's instance when known, as SageMaker asks
            scope = ("SELF" if of_the_owner else "ALL") if scoped else None
            raw = ("data", region, principal, asked, scope, target, permission)
            source[(target, permission)] = raw
            return self._single_flight(
                raw,
                lambda: self._data_access(boto_session, timeout, asked, target, permission, audit_context, scope, account),
                self._ttl,
            )

        by_bucket = _by_bucket(pending)
        listing: Optional[Future[Any]] = None
        if scoped and any(len(keys) >= GROUP_PROBE_MIN for keys in by_bucket.values()):
            listing = self._single_flight(
                ("list", region, principal, account), lambda: self._list_grants(boto_session, timeout, account), self._ttl
            )

        def covered(keys: Sequence[tuple[str, str]], scope: str, permission: str, future: Future[Any]) -> None:
            for key in keys:
                answers[key] = future.result()
                source[pending[key]] = source[(scope, permission)]

        # Round 1: each bucket's locations of one permission asked as their common prefix when there
        # are many (one grant covering it covers them all), each location on its own when few. When
        # they fall into a few folders one path segment below that prefix, each folder is asked too,
        # at the same time: grants are often given per folder (train/, val/), and then one round settles it.
        unsettled: list[tuple[list[tuple[str, str]], bool]] = []  # (keys, already asked a segment deeper)
        asks: dict[tuple[str, str], Future[Any]] = {}
        probes: list[tuple[str, str, Future[Any], list[tuple[str, str]]]] = []
        deeper: list[dict[str, tuple[Future[Any], list[tuple[str, str]]]]] = []
        for keys in by_bucket.values():
            permission = pending[keys[0]][1]
            if len(keys) >= GROUP_PROBE_MIN:
                common = _common_prefix([pending[k][0] for k in keys])
                probes.append((common, permission, ask(common, permission), keys))
                segments = _split(keys, pending)
                speculate = 2 <= len(segments) <= SPECULATE_MAX
                deeper.append(
                    {folder: (ask(folder, permission), inside) for folder, inside in segments.items() if len(inside) > 1}
                    if speculate
                    else {}
                )
            else:
                asks.update((key, ask(*pending[key])) for key in keys)
        first = [*asks.values(), *(p[2] for p in probes), *(f for d in deeper for f, _m in d.values())]
        wait([*first, *owners.values(), *([listing] if listing else [])], timeout=left())
        for (common, permission, future, keys), asked_deeper in zip(probes, deeper, strict=True):
            if _granted(future):
                covered(keys, common, permission, future)
                continue
            for folder, (folder_future, inside) in asked_deeper.items():
                if _granted(folder_future):
                    covered(inside, folder, permission, folder_future)
            unsettled.append(([k for k in keys if k not in answers], bool(asked_deeper)))

        # Round 2: what one answer teaches. The caller's grants, listed, cover or miss each location
        # (GetDataAccess, asked once per covering grant, stays the authority for what they grant);
        # without a listing, the refused prefix is split one path segment deeper (unless it was).
        listed = listing.result() if listing is not None and listing.done() else None
        grants = listed if isinstance(listed, tuple) else None
        probes = []
        for keys, split in unsettled:
            groups: dict[str, list[tuple[str, str]]] = {}
            if grants is not None:
                for key in keys:
                    scope = _covering(grants, *pending[key])
                    if scope is None:
                        answers[key] = NOT_LISTED
                        source[pending[key]] = ("list", region, principal, account)
                    else:
                        groups.setdefault(scope, []).append(key)
                for scope in [scope for scope in groups if not _in_bucket(scope, pending[groups[scope][0]][0])]:
                    # a grant over many buckets (s3://*, s3://team-*): asked as what it covers in this one
                    members = groups.pop(scope)
                    groups.setdefault(_common_prefix([pending[m][0] for m in members]), []).extend(members)
            elif split:  # the folders were asked already: what they left is asked location by location
                for key in keys:
                    groups.setdefault(pending[key][0], []).append(key)
            else:
                groups = _split(keys, pending)
            for scope, members in groups.items():
                if len({pending[m] for m in members}) > 1:
                    probes.append((scope, pending[members[0]][1], ask(scope, pending[members[0]][1]), members))
                else:
                    asks.update((member, ask(*pending[member])) for member in members)
        wait([*asks.values(), *(p[2] for p in probes)], timeout=left())
        for scope, permission, future, keys in probes:
            if _granted(future):
                covered(keys, scope, permission, future)
            else:  # Round 3: location by location
                asks.update((key, ask(*pending[key])) for key in keys)
        wait([*asks.values(), *owners.values()], timeout=left())
        for key, future in asks.items():
            if key not in answers:
                answers[key] = future.result() if future.done() else late
        for key in pending:
            answers.setdefault(key, late)

        # SageMaker asks the bucket's own instance. What the caller's side settled is checked against
        # it, once per location (however it is spelt), with the instance look-up's answer as it is now:
        # a grant matched in another instance, or not named, and a refusal not from the owner's instance
        # (shared by a resource policy, not AWS RAM), are asked of the bucket's own instance.
        owner_now = {bucket: future.result() if future.done() else None for bucket, future in owners.items()}
        unique: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for key, asked_pair in pending.items():
            unique.setdefault(asked_pair, []).append(key)
        again: dict[tuple[str, str], Future[Any]] = {}
        for (target, permission), keys in unique.items():
            owner = owner_now[parse_s3_uri(target)[0]]
            if not isinstance(owner, str):
                continue  # the last word below
            answer, raw = answers[keys[0]], source.get((target, permission), ())
            asked = raw[3] if len(raw) > 3 else None
            matched = _account_of(answer.instance_arn) if answer.instance_arn else None
            if answer.outcome == "granted":
                settled = matched == owner or (matched is None and asked == owner and raw[4] != "ALL")
            else:
                settled = answer is late or asked == owner
            if not settled:
                again[(target, permission)] = ask(target, permission, of_the_owner=True)
        wait(again.values(), timeout=left())
        for pair, future in again.items():
            for key in unique[pair]:
                answers[key] = future.result() if future.done() else late

        # The instance look-up has the last word: where it fails, SageMaker falls back (or nobody can tell).
        for key, (target, permission) in pending.items():
            bucket = parse_s3_uri(target)[0]
            owner = owner_now[bucket]
            if owner is None:
                answers[key] = late
            elif isinstance(owner, Resolution):
                answers[key] = owner
                source[(target, permission)] = ("owner", region, principal, account, bucket)
        # Each answer is kept as this caller's, for as long as the answer it came from lasts, and only
        # when it is that answer (not one that came late, or was overruled).
        for key, (target, permission) in pending.items():
            origin = source.get((target, permission))
            if origin is None or answers[key] is late:
                continue
            destination = ("access", region, principal, account, target, permission)
            if answers[key] is NOT_LISTED:
                self._copy_cached(origin, destination, value=NOT_LISTED)  # for as long as the listing is kept
            else:
                self._copy_cached(origin, destination, expect=answers[key])
        return answers

    def _principal(self, boto_session: Any) -> str:
        """Whose answers these are, without a call: a digest of the session's access key id.

        Answers are the caller's own, so they are cached under it; the key itself is not kept. A
        session with no credentials (or not a session) is told apart by a number of its own.
        """
        try:
            credentials = boto_session.get_credentials()
            # the key id as it is now, without a refresh (the calls refresh when they must)
            key = getattr(credentials, "_access_key", None) or getattr(credentials, "access_key", None)
        except Exception:  # resolving credentials failed: the calls will say so
            key = None
        if isinstance(key, str) and key:
            return hashlib.sha256(key.encode()).hexdigest()[:32]
        with self._lock:
            try:
                token = self._tokens.get(boto_session)
                if token is None:
                    self._next_token += 1
                    token = self._tokens[boto_session] = self._next_token
            except TypeError:  # cannot be weakly referenced: never cached across calls
                self._next_token += 1
                token = self._next_token
            return f"session-{token}"

    def _known_account(self, boto_session: Any) -> Optional[str]:
        with self._lock:
            known = self._callers.get(boto_session)
        return known.account if known is not None else None

    def _caller(self, boto_session: Any, timeout: float) -> Future[Any]:
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

    def _owner(self, boto_session: Any, timeout: float, account: str, bucket: str) -> Any:
        client = self._client(boto_session, "s3control", timeout)
        try:
            found = client.get_access_grants_instance_for_prefix(AccountId=account, S3Prefix=f"s3://{bucket}/")
        except Exception as err:
            return classify(err, "GetAccessGrantsInstanceForPrefix")
        arn = found.get("AccessGrantsInstanceArn") if isinstance(found, dict) else None
        owner = _account_of(arn) if isinstance(arn, str) else None
        if owner is None:
            return Resolution("unknown", f"GetAccessGrantsInstanceForPrefix named no instance ({arn!r:.80})")
        return owner

    def _list_grants(self, boto_session: Any, timeout: float, account: str) -> Any:
        """The caller's grants as ``((scope, permission), ...)`` from ``ListCallerAccessGrants``, every
        instance shared with it included; a :class:`Resolution` when the caller may not list them
        (cached briefly) or there are more than :data:`MAX_LISTED` (not used then)."""
        client = self._client(boto_session, "s3control", timeout)
        found: list[tuple[str, str]] = []
        params: dict[str, Any] = {"AccountId": account, "InstanceScope": "ALL", "MaxResults": 1000}
        for _page in range(MAX_LISTED // 1000):
            try:
                page = client.list_caller_access_grants(**params)
            except Exception as err:
                found_error = classify(err, "ListCallerAccessGrants")
                if found_error.outcome == "fallback":  # may not list: not asked again for a while
                    return _Refusal(found_error.reason)
                return found_error
            for grant in page.get("CallerAccessGrantsList") or ():
                scope, permission = grant.get("GrantScope"), grant.get("Permission")
                if isinstance(scope, str) and permission in ("READ", "WRITE", "READWRITE"):
                    found.append((scope, permission))
            token = page.get("NextToken")
            if not token:
                return _Listing(tuple(found))
            params["NextToken"] = token
        return Resolution("unknown", f"more than {MAX_LISTED} grants listed")

    def _data_access(
        self,
        boto_session: Any,
        timeout: float,
        account: str,
        target: str,
        permission: str,
        audit_context: str,
        scope: Optional[str],
        caller: str,
    ) -> Any:
        client = self._client(boto_session, "s3control", timeout)
        params: dict[str, Any] = {
            "AccountId": account,
            "Target": target,
            "Permission": permission,
            "DurationSeconds": DURATION_SECONDS,
            "Privilege": "Minimal",
            "AuditContext": audit_context[:2048],
        }
        if scope is not None:
            params["InstanceScope"] = scope  # ALL: the caller's instance and every one shared with it through AWS RAM
        if not target.endswith("*"):
            params["TargetType"] = "Object"
        try:
            response = client.get_data_access(**params)
        except Exception as err:
            return classify(err, "GetDataAccess")
        credentials = response.get("Credentials") if isinstance(response, dict) else None
        if not isinstance(credentials, dict) or not credentials:  # (their secret parts were cut out on arrival)
            del response, credentials
            return Resolution("unknown", "GetDataAccess answered without credentials")
        expiration = credentials.get("Expiration")
        del credentials
        grantee = response.get("Grantee")
        grantee_type = _text(grantee.get("GranteeType")) if isinstance(grantee, dict) else None
        instance = _text(response.get("MatchedInstanceArn"))
        owner = _account_of(instance) if instance else None
        reason = "grant matched" if grantee_type != "IAM" else "grant to the IAM role matched"
        if owner and owner != caller:
            reason += f" in account {owner}'s instance, shared through AWS RAM"
        resolution = Resolution(
            "granted",
            reason,
            grant_target=_text(response.get("MatchedGrantTarget")),
            grantee_type=grantee_type,
            instance_arn=instance,
        )
        del response  # the credentials go no further than this frame
        return _Expiring(resolution, expiration)

    # -- plumbing ---------------------------------------------------------------------------

    def _ttl(self, value: Any) -> float:
        """Seconds to keep an answer: grants until shortly before expiry, denials briefly, unknowns not."""
        if isinstance(value, _Expiring):
            expiration = value.expiration
            if isinstance(expiration, datetime):
                if expiration.tzinfo is None:  # a timestamp without a zone: botocore reads it as UTC
                    expiration = expiration.replace(tzinfo=timezone.utc)
                left = (expiration - datetime.now(timezone.utc)).total_seconds()
            else:
                left = float(DURATION_SECONDS)
            return max(left - EXPIRY_MARGIN_SECONDS, 0.0)
        if isinstance(value, _Refusal):
            return LISTING_REFUSED_SECONDS
        if isinstance(value, Resolution):
            return DENIED_SECONDS if value.outcome == "fallback" else 0.0
        if isinstance(value, _Listing):
            return DENIED_SECONDS  # a grant added since shows within a minute
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

    def _copy_cached(self, source: Hashable, destination: Hashable, *, value: Any = None, expect: Any = None) -> None:
        """Let ``destination`` be answered by what is cached for ``source`` (or by ``value``), for as long;
        with ``expect``, only when what is cached is that answer."""
        with self._lock:
            cached = self._cache.get(source)
            if cached is None or cached[0] <= self._clock():
                return
            if expect is not None and _plain(cached[1]) != expect:
                return
            self._store(destination, cached if value is None else (cached[0], value))

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
            value: Any = Resolution("unknown", "internal error")
            try:
                value = work()
                seconds = ttl(value)
            except BaseException as err:  # work() classifies its own errors; this is a bug of ours
                value, seconds = Resolution("unknown", f"internal error ({type(err).__name__})"), 0.0
                logger.debug("preflight step failed", exc_info=True)
            finally:  # the future is always answered and the key always freed, whatever went wrong
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
            if client is not None:
                return client
            building = self._building.setdefault(boto_session, threading.Lock())
        with building:  # one session at a time (boto3 sessions are not thread-safe), others go on
            with self._lock:
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
                with self._lock:
                    clients[key] = client
            return client


@dataclass(frozen=True)
class _Expiring:
    """A granted resolution with the expiry of the credentials that proved it (the expiry only)."""

    resolution: Resolution
    expiration: Any


@dataclass(frozen=True)
class _Refusal:
    """The caller may not list its grants (``ListCallerAccessGrants`` refused)."""

    reason: str


@dataclass(frozen=True)
class _Listing:
    """The caller's grants as ``ListCallerAccessGrants`` gave them: ``((scope, permission), ...)``."""

    grants: tuple[tuple[str, str], ...]


def _plain(value: Any) -> Any:
    if isinstance(value, _Listing):
        return value.grants
    return value.resolution if isinstance(value, _Expiring) else value


def _granted(future: Future[Any]) -> bool:
    return future.done() and future.result().outcome == "granted"


def _answered(value: Any) -> Future[Any]:
    done: Future[Any] = Future()
    done.set_result(value)
    return done


def _account_of(arn: str) -> Optional[str]:
    """The account field of an ARN (``arn:aws:s3:us-east-1:111122223333:access-grants/default``)."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


def _knows_instance_scope(client: Any) -> bool:
    """Whether this botocore can send ``GetDataAccess(InstanceScope=...)`` (added in botocore 1.44)."""
    try:
        return "InstanceScope" in client.meta.service_model.operation_model("GetDataAccess").input_shape.members
    except Exception:  # not a botocore client (a test double): the older way
        return False


def _by_bucket(pending: Mapping[tuple[str, str], tuple[str, str]]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Pending keys by (bucket, permission), in first-seen order."""
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for key, (target, permission) in pending.items():
        groups.setdefault((parse_s3_uri(target)[0], permission), []).append(key)
    return groups


def _common_prefix(targets: Sequence[str]) -> str:
    return os.path.commonprefix([t.rstrip("*") for t in targets]) + "*"


def _split(
    keys: Sequence[tuple[str, str]], pending: Mapping[tuple[str, str], tuple[str, str]]
) -> dict[str, list[tuple[str, str]]]:
    """``keys`` by the prefix one path segment below their common one (``…/segment/*``); a target that
    ends there is a group of its own."""
    common = os.path.commonprefix([pending[k][0].rstrip("*") for k in keys])
    base = common[: common.rfind("/") + 1]
    groups: dict[str, list[tuple[str, str]]] = {}
    for key in keys:
        target = pending[key][0]
        rest = target.rstrip("*")[len(base) :]
        scope = f"{base}{rest.split('/', 1)[0]}/*" if "/" in rest else target
        groups.setdefault(scope, []).append(key)
    return groups


def _text(value: Any) -> Optional[str]:
    """A response field the API types as a string, or ``None`` when it is not one (an answer that lies)."""
    return value[:2048] if isinstance(value, str) and value else None


def _in_bucket(scope: str, target: str) -> bool:
    """Whether a grant scope is an S3 URI in ``target``'s bucket (a scope may span buckets: ``s3://*``)."""
    try:
        return parse_s3_uri(scope)[0] == parse_s3_uri(target)[0]
    except ValueError:
        return False


def _covering(grants: Sequence[tuple[str, str]], target: str, permission: str) -> Optional[str]:
    """The narrowest listed grant scope that covers ``target`` with ``permission``, or ``None``."""
    best: Optional[str] = None
    for scope, granted in grants:
        if granted not in (permission, "READWRITE"):
            continue
        covers = target.rstrip("*").startswith(scope[:-1]) if scope.endswith("*") else target == scope
        if covers and (best is None or len(scope) > len(best)):
            best = scope
    return best
