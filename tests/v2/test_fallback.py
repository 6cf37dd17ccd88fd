"""on_fallback on real (emulated) runs: warn, allow, deny — and what is recorded on the job."""

from __future__ import annotations

import pytest
from conftest import BUCKET, IMAGE, ROLE, access_grants_calls, created_jobs, uploaded_keys

from sagemaker_s3ag import GrantAwareEstimator, GrantAwareProcessor, GrantFallbackError, describe_job, grant_aware

COMMON = dict(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", identity_propagation=True)


def estimator(session, **kwargs):
    return GrantAwareEstimator(
        image_uri=IMAGE, output_path=f"s3://{BUCKET}/models/", sagemaker_session=session, **COMMON, **kwargs
    )


def fallback_warnings(caught):
    return [w for w in caught if "[s3ag:fallback]" in str(w.message)]


@pytest.fixture
def partial_grants(access_grants):
    access_grants.grants.clear()
    access_grants.grant(f"s3://{BUCKET}/train/*", "READ").grant(f"s3://{BUCKET}/models/*", "WRITE")
    return access_grants


def test_all_granted_records_access_grants(session, grant_warnings):
    est = estimator(session)
    est.fit({"train": f"s3://{BUCKET}/train/"}, wait=False, logs=False)
    decision = est.latest_decision
    assert decision.credentials == "access-grants"
    assert [(o.uri, o.permission, o.outcome) for o in decision.locations] == [
        (f"s3://{BUCKET}/train/", "READ", "granted"),
        (f"s3://{BUCKET}/models/", "WRITE", "granted"),
    ]
    assert "s3ag:fallback" not in decision.record
    assert fallback_warnings(grant_warnings) == []


def test_warn_names_the_fallback_locations_once(session, partial_grants, grant_warnings):
    est = estimator(session)
    est.fit(
        {"train": f"s3://{BUCKET}/train/", "val": f"s3://{BUCKET}/val/", "test": f"s3://{BUCKET}/test/"}, wait=False, logs=False
    )
    (warning,) = fallback_warnings(grant_warnings)
    text = str(warning.message)
    assert "2 of 4 S3 locations" in text and f"s3://{BUCKET}/val/" in text and f"s3://{BUCKET}/test/" in text
    assert f"s3://{BUCKET}/train/" not in text
    record = describe_job(est.latest_training_job.name, session)
    assert record.credentials == "mixed"
    assert record.fallback == "fallback 2/4: no matching grant"


def test_allow_records_without_warning(session, partial_grants, grant_warnings):
    est = estimator(session, on_fallback="allow")
    est.fit({"val": f"s3://{BUCKET}/val/"}, wait=False, logs=False)
    assert fallback_warnings(grant_warnings) == []
    assert est.latest_decision.credentials == "mixed"


def test_no_grant_at_all_is_iam_role(session, access_grants, grant_warnings):
    access_grants.grants.clear()
    est = estimator(session, on_fallback="allow")
    est.fit({"train": f"s3://{BUCKET}/train/"}, wait=False, logs=False)
    assert est.latest_decision.credentials == "iam-role"
    assert describe_job(est.latest_training_job.name, session).credentials == "iam-role"


def test_deny_refuses_before_upload_and_create(session, partial_grants, tmp_path):
    from sagemaker.sklearn import SKLearn

    (tmp_path / "train.py").write_text("print('hi')\n")
    est = grant_aware(SKLearn)(
        entry_point="train.py",
        source_dir=str(tmp_path),
        framework_version="1.2-1",
        py_version="py3",
        output_path=f"s3://{BUCKET}/models/",
        sagemaker_session=session,
        on_fallback="deny",
        **COMMON,
    )
    with pytest.raises(GrantFallbackError) as caught:
        est.fit({"train": f"s3://{BUCKET}/train/", "val": f"s3://{BUCKET}/val/"}, wait=False, logs=False)
    err = caught.value
    assert err.rule == "fallback"
    assert err.locations == ((f"s3://{BUCKET}/val/", "READ"),)
    assert "on_fallback='deny'" in str(err)
    assert uploaded_keys(session) == []
    assert created_jobs(session) == {"training": [], "processing": []}


def test_deny_refuses_unknown_too(session, access_grants):
    access_grants.denied_operations.add("GetAccessGrantsInstanceForPrefix")
    est = estimator(session, on_fallback="deny")
    with pytest.raises(GrantFallbackError, match="caller may not call s3:GetAccessGrantsInstanceForPrefix"):
        est.fit({"train": f"s3://{BUCKET}/train/"}, wait=False, logs=False)
    assert created_jobs(session)["training"] == []


def test_deny_processing(session, partial_grants):
    from sagemaker.processing import ProcessingInput

    proc = GrantAwareProcessor(image_uri=IMAGE, sagemaker_session=session, on_fallback="deny", **COMMON)
    with pytest.raises(GrantFallbackError) as caught:
        proc.run(
            inputs=[ProcessingInput(source=f"s3://{BUCKET}/raw/", destination="/opt/ml/processing/in")], wait=False, logs=False
        )
    assert caught.value.locations == ((f"s3://{BUCKET}/raw/", "READ"),)
    assert created_jobs(session)["processing"] == []


def test_second_fit_asks_nothing(session, access_grants):
    est = estimator(session)
    est.fit({"train": f"s3://{BUCKET}/train/"}, wait=False, logs=False)
    calls = access_grants_calls(access_grants)
    assert [op for op, _ in calls] == ["GetAccessGrantsInstanceForPrefix", "GetDataAccess", "GetDataAccess"]
    est.fit({"train": f"s3://{BUCKET}/train/"}, wait=False, logs=False)
    assert access_grants_calls(access_grants) == calls
    assert est.latest_decision.credentials == "access-grants"


def test_audit_context_names_the_job(session, access_grants):
    est = estimator(session)
    est.fit({"train": f"s3://{BUCKET}/train/"}, wait=False, logs=False, job_name="audited-job-1")
    contexts = {params["AuditContext"] for op, params in access_grants.calls if op == "GetDataAccess"}
    assert contexts == {"sagemaker-s3ag preflight for SageMaker training job audited-job-1"}


def test_generated_job_name_is_the_one_launched(session, access_grants):
    est = estimator(session)
    est.fit({"train": f"s3://{BUCKET}/train/"}, wait=False, logs=False)
    name = est.latest_training_job.name
    contexts = {params["AuditContext"] for op, params in access_grants.calls if op == "GetDataAccess"}
    assert contexts == {f"sagemaker-s3ag preflight for SageMaker training job {name}"}


def test_tip_off_asks_nothing(session, access_grants):
    est = GrantAwareEstimator(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        identity_propagation=False,
    )
    est.fit({"train": f"s3://{BUCKET}/train/"}, wait=False, logs=False)
    assert access_grants_calls(access_grants) == []
    assert est.latest_decision.locations == ()


def test_sdk_chosen_locations_are_checked_at_the_final_request(session, access_grants):
    # No output_path: the SDK picks s3://<default bucket>/ in _prepare_for_training; the preview
    # predicts it, so it is asked about before anything is uploaded.
    est = GrantAwareEstimator(image_uri=IMAGE, sagemaker_session=session, **COMMON)
    est.fit({"train": f"s3://{BUCKET}/train/"}, wait=False, logs=False)
    assert [(o.uri, o.permission) for o in est.latest_decision.locations] == [
        (f"s3://{BUCKET}/train/", "READ"),
        (f"s3://{BUCKET}/", "WRITE"),
    ]
