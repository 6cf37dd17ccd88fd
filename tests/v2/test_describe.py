"""describe_job reads the s3ag: record back from a job's tags (moto)."""

from __future__ import annotations

import pytest
from conftest import IMAGE, ROLE

from sagemaker_s3ag import (
    GrantAwareEstimator,
    GrantAwareProcessor,
    GrantAwareWarning,
    JobRecordNotFound,
    clear_caches,
    describe_job,
)

COMMON = dict(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge")


def test_training_job_record(session):
    est = GrantAwareEstimator(**COMMON, sagemaker_session=session, identity_propagation=True, input_mode="Pipe")
    with pytest.warns(GrantAwareWarning, match=r"\[s3ag:pipe-mode\]"):
        est.fit("s3://s3ag-demo/train/", wait=False, logs=False)
    record = describe_job(est.latest_training_job.name, session)
    assert record.job_type == "training" and record.recorded
    assert record.credentials == "access-grants"
    assert record.identity_propagation == "enabled"
    assert record.adjustments == ("pipe-mode", "debugger", "profiler")
    assert record.version == est.latest_decision.record["s3ag:version"]
    assert dict(record.record) == dict(est.latest_decision.record)
    text = str(record)
    assert "pipe-mode debugger profiler" in text and est.latest_training_job.name in text
    assert "<table>" in record._repr_html_()


def test_processing_job_record_with_tip_off(session):
    proc = GrantAwareProcessor(**COMMON, sagemaker_session=session, identity_propagation=False)
    proc.run(wait=False, logs=False)
    record = describe_job(proc.latest_job.job_name, session)
    assert (record.job_type, record.credentials, record.identity_propagation, record.adjustments) == (
        "processing",
        "iam-role",
        "disabled",
        (),
    )


def test_stock_job_has_no_record(session):
    from sagemaker.estimator import Estimator

    est = Estimator(**COMMON, sagemaker_session=session)
    est.fit("s3://s3ag-demo/train/", wait=False, logs=False)
    record = describe_job(est.latest_training_job.name, session)
    assert not record.recorded and record.credentials is None and record.adjustments == ()
    assert "not launched by a grant-aware class" in str(record)


def test_missing_job(session):
    with pytest.raises(JobRecordNotFound) as caught:
        describe_job("no-such-job", session)
    assert caught.value.job_name == "no-such-job" and isinstance(caught.value, LookupError)


def test_locations_are_rebuilt_from_the_job_on_request(session, access_grants):
    access_grants.grants.clear()
    access_grants.grant("s3://s3ag-demo/train/*", "READ")
    est = GrantAwareEstimator(
        **COMMON, sagemaker_session=session, identity_propagation=True, output_path="s3://s3ag-demo/models/", on_fallback="allow"
    )
    est.fit({"train": "s3://s3ag-demo/train/"}, wait=False, logs=False)
    assert describe_job(est.latest_training_job.name, session).locations == ()
    access_grants.grant("s3://s3ag-demo/models/*", "WRITE")  # granted since the job was launched
    clear_caches()  # the refusal is otherwise remembered for a minute
    record = describe_job(est.latest_training_job.name, session, locations=True)
    assert [(o.uri, o.permission, o.outcome) for o in record.locations] == [
        ("s3://s3ag-demo/train/", "READ", "granted"),
        ("s3://s3ag-demo/models/", "WRITE", "granted"),
    ]
    assert record.credentials == "mixed"  # what was recorded at launch stays as it was
    assert "S3 location (now)" in str(record)
