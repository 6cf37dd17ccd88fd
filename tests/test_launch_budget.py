"""One decision per job: whatever path builds it, a job is checked once before upload, settled once at the
choke point, asks about each location once, and waits for S3 Access Grants for one ``preflight_timeout`` at most.

Also: two objects launching jobs of the same name at the same moment, one with TIP on and one off, each
get their own settings and record (settings travel with the call, never with a job's name).
"""

from __future__ import annotations

import threading
import time
import warnings

import boto3
import pytest
from conftest import BUCKET, IMAGE, ROLE, pipe_input, processing_tags, tag_map, train_job

from sagemaker_s3ag import GrantAwareProcessor
from sagemaker_s3ag.sdk.installed import sdk_class

TRAIN = f"s3://{BUCKET}/train/"
BUDGET = 3.0


@pytest.fixture
def hanging(access_grants):
    """S3 Access Grants that never answers GetDataAccess (until the test ends)."""
    access_grants.hang("GetDataAccess")
    yield access_grants
    access_grants.release()


def processor(session, **settings):
    return GrantAwareProcessor(
        image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=session, **settings
    )


def test_a_hanging_endpoint_costs_one_budget_per_training_job(session, hanging, grant_warnings):
    started = time.monotonic()
    train_job(session, TRAIN, output=f"s3://{BUCKET}/out/", identity_propagation=True, preflight_timeout=BUDGET)
    elapsed = time.monotonic() - started
    assert BUDGET <= elapsed < 2 * BUDGET  # one budget spent waiting; a second ask would double it
    asked = [p["Target"] for op, p in hanging.calls if op == "GetDataAccess"]
    assert sorted(asked) == sorted(set(asked)) and TRAIN + "*" in asked  # each location once, however many checks ran


def test_a_hanging_endpoint_costs_one_budget_per_processing_job(session, hanging, grant_warnings):
    started = time.monotonic()
    processor(session, identity_propagation=True, preflight_timeout=BUDGET).run(
        inputs=[pipe_input(TRAIN)], wait=False, logs=False
    )
    elapsed = time.monotonic() - started
    assert BUDGET <= elapsed < 2 * BUDGET
    asked = [p["Target"] for op, p in hanging.calls if op == "GetDataAccess"]
    assert asked == [TRAIN + "*"]


def test_what_a_hanging_endpoint_leaves_unknown_is_recorded_so(session, hanging, grant_warnings):
    proc = processor(session, identity_propagation=True, preflight_timeout=1.0)
    proc.run(inputs=[pipe_input(TRAIN)], wait=False, logs=False)
    decision = proc.latest_decision
    assert decision.credentials == "unknown"
    assert [o.reason for o in decision.locations] == ["no answer within the 1 s preflight budget"]


def test_objects_launching_the_same_job_name_at_once_keep_their_own_settings(_emulator, session, access_grants):
    """Two processors, one with TIP on and one off, start a job of the same name at the same moment, many times.

    They send to two Regions (a job name is unique per Region), from two threads.
    """
    boto_eu = boto3.Session(region_name="eu-west-1")
    boto_eu.client("s3").create_bucket(Bucket=f"{BUCKET}-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    session_eu = sdk_class("Session")(boto_session=boto_eu, default_bucket=f"{BUCKET}-eu")
    tip_on = processor(session, identity_propagation=True)
    tip_off = processor(session_eu, identity_propagation=False)
    errors: list[BaseException] = []

    def launch(proc, uri: str, name: str, barrier: threading.Barrier) -> None:
        try:
            barrier.wait(timeout=30)
            proc.run(inputs=[pipe_input(uri)], job_name=name, wait=False, logs=False)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for round_ in range(10):
            name = f"same-name-{round_}"
            barrier = threading.Barrier(2)
            threads = [
                threading.Thread(target=launch, args=(tip_on, TRAIN, name, barrier)),
                threading.Thread(target=launch, args=(tip_off, f"s3://{BUCKET}-eu/train/", name, barrier)),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert errors == []
            on, off = tip_on.latest_decision, tip_off.latest_decision
            assert (on.job_name, off.job_name) == (name, name)
            assert (on.identity_propagation.enabled, on.adjustments) == (True, ("pipe-mode",))
            assert (off.identity_propagation.enabled, off.adjustments) == (False, ())
            sent_on = session.sagemaker_client.describe_processing_job(ProcessingJobName=name)
            sent_off = session_eu.sagemaker_client.describe_processing_job(ProcessingJobName=name)
            assert sent_on["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
            assert sent_off["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "Pipe"
            assert tag_map(processing_tags(session, name))["s3ag:identity-propagation"] == "enabled"
            assert tag_map(processing_tags(session_eu, name))["s3ag:identity-propagation"] == "disabled"
