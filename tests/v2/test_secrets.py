"""Credentials vended by GetDataAccess decide, and go nowhere: canaries prove it."""

from __future__ import annotations

import json
import logging
import warnings

import pytest
from conftest import BUCKET, IMAGE, ROLE, everything_logged, leaks, new_boto_session

from sagemaker_s3ag import GrantAwareEstimator, GrantAwareWarning, GrantFallbackError
from sagemaker_s3ag.core.locations import S3Location
from sagemaker_s3ag.core.preflight import RESOLVER
from sagemaker_s3ag.core.resolver import AccessGrantsResolver
from sagemaker_s3ag.testing import CANARY_SECRET_ACCESS_KEY


def test_no_canary_anywhere_after_a_job(session, access_grants, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, every level, botocore's response bodies included
    access_grants.grant(f"s3://{BUCKET}/val/*", "READ")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = GrantAwareEstimator(
            image_uri=IMAGE,
            role=ROLE,
            instance_count=1,
            instance_type="ml.m5.xlarge",
            sagemaker_session=session,
            identity_propagation=True,
            input_mode="Pipe",
        )
        est.fit({"train": f"s3://{BUCKET}/train/", "other": "s3://another-bucket/x/"}, wait=False, logs=False)
    decision = est.latest_decision
    assert access_grants.counts["GetDataAccess"] >= 2  # the canaries were really vended
    client = session.sagemaker_client
    sent = client.describe_training_job(TrainingJobName=decision.job_name)
    tags = client.list_tags(ResourceArn=sent["TrainingJobArn"])["Tags"]
    texts = [
        everything_logged(caplog),
        "\n".join(str(w.message) for w in caught),
        str(decision),
        repr(decision),
        decision._repr_html_(),
        json.dumps(sent, default=str),
        json.dumps(tags),
        repr(RESOLVER._cache),
        repr(vars(est)),
    ]
    assert leaks(*texts) == []
    assert any(issubclass(w.category, GrantAwareWarning) for w in caught)


def test_no_canary_in_a_refusal(session, access_grants):
    access_grants.grants.clear()
    est = GrantAwareEstimator(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        identity_propagation=True,
        on_fallback="deny",
    )
    access_grants.grant(f"s3://{BUCKET}/train/*", "READ")  # one location vended, the output not
    with pytest.raises(GrantFallbackError) as caught:
        est.fit({"train": f"s3://{BUCKET}/train/"}, wait=False, logs=False)
    assert leaks(str(caught.value), repr(caught.value), repr(caught.value.findings)) == []


def test_botocore_debug_logs_of_the_wire_hold_no_canary(grants_server, caplog):
    caplog.set_level(logging.DEBUG)
    resolver = AccessGrantsResolver()
    (outcome,) = resolver.resolve(
        new_boto_session(), [S3Location("a", "READ", "s3://data/x/")], timeout=5, audit_context="canary"
    )
    assert outcome.outcome == "granted"
    logged = everything_logged(caplog)
    assert "Response body" in logged  # botocore did log the body...
    assert leaks(logged, repr(resolver._cache), str(outcome), repr(outcome)) == []  # ...without secrets


def test_the_canary_check_would_catch_a_leak(grants_server, caplog):
    # Without our scrubbing, botocore logs the vended secret at DEBUG: the check above can fail.
    caplog.set_level(logging.DEBUG)
    client = new_boto_session().client("s3control")
    client.get_data_access(AccountId="123456789012", Target="s3://data/x/*", Permission="READ")
    assert CANARY_SECRET_ACCESS_KEY in everything_logged(caplog)
