"""Benchmark: resolving N S3 locations against S3 Access Grants, side by side, in one run.

    python benchmarks/preflight.py [--rtt 0.025] [--sizes 1 8 64 256]

Every variant talks to the same loopback fake (``sagemaker_s3ag.testing.FakeAccessGrantsServer``,
run in its own process so it does not share this one's CPU) with an injected round trip of
``--rtt`` seconds per call:

* sequential: one ``GetDataAccess`` after another (owner account known, nothing else);
* plugin: the official ``aws-s3-access-grants-boto3-plugin`` (cold caches) vending credentials for
  a ``HeadObject`` per location through its ``before-sign`` hook. The HeadObject itself is answered
  in-process, so only the plugin's own calls (STS, HeadBucket, instance look-up, GetDataAccess) count;
* ours cold: our resolver with empty caches (caller, owner and answers unknown; its clients exist,
  as they do from a notebook's second job on);
* ours cold, fresh session: the same on a new ``boto3.Session`` with no clients yet (a new notebook
  kernel's first job), the caller's account known from the job's role, as the preflight has it;
* ours warm: the same again, from the cache;
* CPU per job: CPU time (of the calling thread) of a whole warm grant-aware decision (rules, preflight,
  tags) for N channels.

A second table has mixed grants: half the locations under a granted prefix, half under none, on
a fresh session, with and without ``ListCallerAccessGrants`` allowed (a second fake refuses it).

Calls are counted on the client side (every HTTP attempt). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections import Counter
from typing import Any

import boto3

from sagemaker_s3ag.core.decision import decide
from sagemaker_s3ag.core.identity import IdentityPropagation
from sagemaker_s3ag.core.locations import S3Location
from sagemaker_s3ag.core.preflight import Preflight
from sagemaker_s3ag.core.resolver import AccessGrantsResolver
from sagemaker_s3ag.core.settings import Settings
from sagemaker_s3ag.testing import ACCOUNT, AccessGrantsTable, FakeAccessGrantsServer
from sagemaker_s3ag.testing.access_grants import proxy_environment

BUCKET = "bench-data"
MIXED = "bench-mixed"
_COUNTED = ("before-send.s3-control", "before-send.sts", "before-send.s3.HeadBucket")


def serve(conn: Any, rtt: float, listing: bool) -> None:
    """The fake, in a process of its own: sends its URL, serves until told to stop."""
    table = AccessGrantsTable().grant(f"s3://{BUCKET}/*", "READ").grant(f"s3://{MIXED}/granted/*", "READ")
    if not listing:
        table.denied_operations.add("ListCallerAccessGrants")
    with FakeAccessGrantsServer(table, latency=rtt) as server:
        conn.send(server.url)
        conn.recv()


def locations(n: int) -> list[S3Location]:
    return [S3Location(f"InputDataConfig[c{i}]", "READ", f"s3://{BUCKET}/shard-{i:04d}/") for i in range(n)]


def mixed_locations(n: int) -> list[S3Location]:
    """Half under s3://bench-mixed/granted/ (granted), half under s3://bench-mixed/none/ (no grant)."""
    return [
        S3Location(f"InputDataConfig[c{i}]", "READ", f"s3://{MIXED}/{'granted' if i < n // 2 else 'none'}/shard-{i:04d}/")
        for i in range(n)
    ]


def counted_session() -> tuple[boto3.Session, Counter[str]]:
    """A session whose new clients count the HTTP calls they make."""
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="AKIDBENCHMARK", aws_secret_access_key="x")
    calls: Counter[str] = Counter()
    for event in _COUNTED:
        session.events.register(event, lambda event_name, **_: calls.update([event_name]))
    return session, calls


def sequential(n: int) -> tuple[float, int]:
    session, calls = counted_session()
    client = session.client("s3control")
    started = time.perf_counter()
    for location in locations(n):
        client.get_data_access(AccountId=ACCOUNT, Target=location.uri + "*", Permission="READ", DurationSeconds=900)
    return time.perf_counter() - started, sum(calls.values())


def plugin(n: int) -> tuple[float, int]:
    from aws_s3_access_grants_boto3_plugin import s3_access_grants_plugin as official
    from aws_s3_access_grants_boto3_plugin.cache.access_denied_cache import AccessDeniedCache
    from aws_s3_access_grants_boto3_plugin.cache.access_grants_cache import AccessGrantsCache
    from aws_s3_access_grants_boto3_plugin.cache.account_id_resolver_cache import AccountIdResolverCache
    from aws_s3_access_grants_boto3_plugin.cache.bucket_region_resolver_cache import BucketRegionResolverCache
    from botocore.awsrequest import AWSResponse

    cls = official.S3AccessGrantsPlugin  # cold: its caches are class attributes
    cls.access_denied_cache = AccessDeniedCache()
    cls.access_grants_cache = AccessGrantsCache()
    AccessGrantsCache.account_id_resolver_cache = AccountIdResolverCache()
    cls.bucket_region_cache = BucketRegionResolverCache()
    cls.client_dict = {}
    session, calls = counted_session()
    s3 = session.client("s3")
    cls(s3, fallback_enabled=False, customer_session=session._session).register()

    class Empty:
        def stream(self, **_: Any) -> Any:
            return iter([b""])

    s3.meta.events.register("before-send.s3.HeadObject", lambda request, **_: AWSResponse(request.url, 200, {}, Empty()))
    started = time.perf_counter()
    for location in locations(n):
        s3.head_object(Bucket=BUCKET, Key=location.uri.split("/", 3)[3] + "data.csv")
    return time.perf_counter() - started, sum(calls.values())


def ours(
    n: int, resolver: AccessGrantsResolver, session: Any, calls: Counter[str], *, mixed: bool = False, account: Any = None
) -> tuple[float, int]:
    asked = mixed_locations(n) if mixed else locations(n)
    before = sum(calls.values())
    started = time.perf_counter()
    outcomes = resolver.resolve(session, asked, timeout=30, audit_context="benchmark", account=account)
    elapsed = time.perf_counter() - started
    expected = ["granted"] * (n // 2) + ["fallback"] * (n - n // 2) if mixed else ["granted"] * n
    assert [o.outcome for o in outcomes] == expected, outcomes[:3]
    return elapsed, sum(calls.values()) - before


def fresh(n: int, resolver: AccessGrantsResolver, *, mixed: bool = False) -> tuple[float, int]:
    """Cold on a new boto3 session, as a new notebook kernel's first job has it: the SDK made its SageMaker
    client (``sagemaker.Session()`` does), nothing else; the account known from the job's role."""
    resolver.clear()
    session, calls = counted_session()
    session.client("sagemaker")
    return ours(n, resolver, session, calls, mixed=mixed, account=ACCOUNT)


def sequential_mixed(n: int) -> tuple[float, int]:
    """One GetDataAccess per location, one after another, on a fresh session: the plain way."""
    session, calls = counted_session()
    started = time.perf_counter()
    client = session.client("s3control")
    for location in mixed_locations(n):
        try:
            client.get_data_access(AccountId=ACCOUNT, Target=location.uri + "*", Permission="READ", DurationSeconds=900)
        except client.exceptions.ClientError:
            pass
    return time.perf_counter() - started, sum(calls.values())


def cpu_per_job(n: int, session: Any, repeats: int = 30) -> float:
    """Median CPU seconds of one warm decision (rules, preflight from the cache, tags) for n channels."""
    request = {
        "TrainingJobName": "bench",
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "Pipe"},
        "InputDataConfig": [
            {"ChannelName": f"c{i}", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": loc.uri}}}
            for i, loc in enumerate(locations(n))
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out/"},
        "DebugHookConfig": {"S3OutputPath": f"s3://{BUCKET}/out/"},
        "ProfilerConfig": {"S3OutputPath": f"s3://{BUCKET}/out/"},
    }
    settings = Settings(on_fallback="allow")
    tip = IdentityPropagation(True, "benchmark")
    defaults = frozenset({"DebugHookConfig", "ProfilerConfig"})

    def once() -> None:  # a new job: a Preflight of its own, answered from the resolver's cache
        decide(
            request,
            "training",
            settings=settings,
            identity_propagation=tip,
            sdk_defaults=defaults,
            preflight=Preflight(session, 30),
        )

    once()
    samples = []
    for _ in range(repeats):
        started = time.thread_time()  # this thread's CPU only: not the other threads' of this busy process
        once()
        samples.append(time.thread_time() - started)
    return statistics.median(samples)


def start(rtt: float, listing: bool) -> tuple[Any, Any, str]:
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(child, rtt, listing), daemon=True)
    server.start()
    return parent, server, parent.recv()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rtt", type=float, default=0.025, help="injected round trip per call, seconds")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--mixed-sizes", type=int, nargs="+", default=[64, 256])
    args = parser.parse_args(argv)

    servers = [start(args.rtt, listing=True), start(args.rtt, listing=False)]
    listing_url, unlisted_url = servers[0][2], servers[1][2]
    try:
        os.environ.update(proxy_environment(listing_url))
        session, calls = counted_session()
        resolver = AccessGrantsResolver()
        resolver.resolve(
            session, [S3Location("warm-up", "READ", "s3://warm-up-bucket/x/")], timeout=30, audit_context="warm-up"
        )  # its clients exist from here on, as in a notebook
        fresh(16, AccessGrantsResolver(), mixed=True)  # this process's first of each call: imports, thread start
        print(
            f"S3 Access Grants preflight: {args.rtt * 1000:.0f} ms injected round trip, "
            f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n"
        )
        print(
            "| N | sequential GetDataAccess | official plugin, cold | ours, cold | ours, cold, fresh session | ours, warm "
            "| sequential / ours cold | plugin / ours cold | ours cold / fresh, in round trips | CPU per job, warm |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in args.sizes:
            seq_s, seq_calls = sequential(n)
            plug_s, plug_calls = plugin(n)
            fresh_s, fresh_calls = fresh(n, AccessGrantsResolver())
            resolver.clear(clients=False)
            cold_s, cold_calls = ours(n, resolver, session, calls)
            warm_s, warm_calls = ours(n, resolver, session, calls)
            cpu = cpu_per_job(n, session)
            print(
                f"| {n} | {seq_s * 1000:.0f} ms, {seq_calls} calls | {plug_s * 1000:.0f} ms, {plug_calls} calls "
                f"| {cold_s * 1000:.0f} ms, {cold_calls} calls | {fresh_s * 1000:.0f} ms, {fresh_calls} calls "
                f"| {warm_s * 1000:.2f} ms, {warm_calls} calls "
                f"| {seq_s / cold_s:.1f}x | {plug_s / cold_s:.1f}x | {cold_s / args.rtt:.1f} / {fresh_s / args.rtt:.1f} "
                f"| {cpu * 1000:.2f} ms |"
            )
        print("\nMixed grants (half the locations under a granted prefix, half under none), each on a fresh session:\n")
        print(
            "| N | sequential GetDataAccess | ours, ListCallerAccessGrants allowed | ours, ListCallerAccessGrants refused "
            "| sequential / ours | round trips: allowed / refused |"
        )
        print("|---:|---:|---:|---:|---:|---:|")
        for n in args.mixed_sizes:
            seq_s, seq_calls = sequential_mixed(n)
            listed_s, listed_calls = fresh(n, AccessGrantsResolver(), mixed=True)
            os.environ.update(proxy_environment(unlisted_url))
            split_s, split_calls = fresh(n, AccessGrantsResolver(), mixed=True)
            os.environ.update(proxy_environment(listing_url))
            print(
                f"| {n} | {seq_s * 1000:.0f} ms, {seq_calls} calls | {listed_s * 1000:.0f} ms, {listed_calls} calls "
                f"| {split_s * 1000:.0f} ms, {split_calls} calls | {seq_s / listed_s:.1f}x "
                f"| {listed_s / args.rtt:.1f} / {split_s / args.rtt:.1f} |"
            )
    finally:
        for conn, server, _url in servers:
            conn.send("stop")
            server.join(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
