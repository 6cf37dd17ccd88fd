"""The preflight over a real network path: the loopback fake with latency and faults."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from conftest import new_boto_session

from sagemaker_s3ag.core.locations import S3Location
from sagemaker_s3ag.core.resolver import AccessGrantsResolver

TRAIN = S3Location("InputDataConfig[train]", "READ", "s3://data/train/")


@pytest.fixture
def server(grants_server):
    return grants_server


@pytest.fixture
def table(grants_server):
    return grants_server.table


def resolve(*locations, timeout=5.0, resolver=None, session=None):
    resolver = resolver or AccessGrantsResolver()
    return resolver.resolve(session or new_boto_session(), list(locations), timeout=timeout, audit_context="job net")


def test_answers_over_http(server, table):
    (outcome,) = resolve(TRAIN)
    assert (outcome.outcome, outcome.grant_target) == ("granted", "s3://data/*")
    assert table.counts == {"GetCallerIdentity": 1, "GetAccessGrantsInstanceForPrefix": 1, "GetDataAccess": 1}


def test_throttling_then_success_is_retried_by_botocore(server, table):
    server.inject("GetDataAccess", "throttle", times=2)
    (outcome,) = resolve(TRAIN)
    assert outcome.outcome == "granted"


def test_persistent_server_errors_are_unknown(server, table):
    server.inject("GetDataAccess", "error", times=10)
    (outcome,) = resolve(TRAIN, timeout=30)
    assert (outcome.outcome, outcome.reason) == ("unknown", "service error (HTTP 500)")


def test_persistent_throttling_is_unknown(server, table):
    server.inject("GetDataAccess", "throttle", times=10)
    (outcome,) = resolve(TRAIN, timeout=30)  # room for botocore's retries and their back-off
    assert (outcome.outcome, outcome.reason) == ("unknown", "throttled")


def test_dropped_connections_are_unknown(server, table):
    server.inject("GetDataAccess", "drop", times=10)
    (outcome,) = resolve(TRAIN, timeout=30)
    assert outcome.outcome == "unknown" and outcome.reason.startswith("network error")


def test_connection_refused_is_unknown(monkeypatch):
    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("HTTP_PROXY", closed)
    monkeypatch.setenv("http_proxy", closed)
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://sts.s3ag.test")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3_CONTROL", "http://s3-control.s3ag.test")
    (outcome,) = resolve(TRAIN)
    assert outcome.outcome == "unknown"
    assert outcome.reason.startswith("could not identify the caller: network error")


def test_a_slow_endpoint_cannot_hang_the_notebook(server, table):
    server.inject("GetDataAccess", "slow", seconds=10)
    started = time.monotonic()
    (outcome,) = resolve(TRAIN, timeout=0.5)
    elapsed = time.monotonic() - started
    assert (outcome.outcome, outcome.reason) == ("unknown", "no answer within the 0.5 s preflight budget")
    assert elapsed < 5  # the budget bounds the wait (10 s of server delay are never waited for)


def test_concurrent_jobs_share_one_lookup_per_location(server, table):
    server.latency = 0.2
    resolver = AccessGrantsResolver()
    session = new_boto_session()
    resolve(S3Location("warm", "READ", "s3://data/warm/"), resolver=resolver, session=session)  # caller, owner known
    results = []

    def job():
        results.append(resolve(TRAIN, resolver=resolver, session=session))

    threads = [threading.Thread(target=job) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r[0].outcome for r in results] == ["granted"] * 4
    targets = [params["Target"] for op, params in table.calls if op == "GetDataAccess"]
    assert targets.count("s3://data/train/*") == 1


def test_clearing_the_cache_during_a_lookup_keeps_its_answer_out_of_the_cache(server, table):
    server.latency = 0.3
    resolver = AccessGrantsResolver()
    session = new_boto_session()
    resolve(S3Location("warm", "READ", "s3://data/warm/"), resolver=resolver, session=session)
    looking = threading.Thread(target=resolve, args=(TRAIN,), kwargs={"resolver": resolver, "session": session})
    looking.start()
    deadline = time.monotonic() + 10
    while not resolver._inflight and time.monotonic() < deadline:  # GetDataAccess for TRAIN is on the wire
        time.sleep(0.005)
    assert resolver._inflight
    resolver.clear(clients=False)  # e.g. clear_caches() right after a grant was revoked
    looking.join()
    before = table.counts["GetDataAccess"]
    resolve(TRAIN, resolver=resolver, session=session)
    assert table.counts["GetDataAccess"] == before + 1  # asked again: the answer in flight was not kept
