"""Every SDK v2 launch path under ``patch()``: ``@remote``, ``@step``, AWS Batch's ``TrainingQueue``, JumpStart.

Each is fixed, preflighted and tagged by the choke points (no SDK hook of ours on ``@remote`` or
``@step``), and stock again after ``unpatch()``.
"""

from __future__ import annotations

import json

import pytest
from conftest import BUCKET, IMAGE, ROLE, RemoteStarted, access_grants_calls, arguments, creates, ours, tag_map
from sagemaker.aws_batch.training_queue import TrainingQueue
from sagemaker.estimator import Estimator
from sagemaker.jumpstart.estimator import JumpStartEstimator
from sagemaker.remote_function import remote
from sagemaker.workflow.function_step import step
from sagemaker.workflow.pipeline import Pipeline

import sagemaker_s3ag
from sagemaker_s3ag import ConsiderationError, GrantAwareEstimator

TRAIN = f"s3://{BUCKET}/train/"


pytestmark = pytest.mark.usefixtures("unpatch_after")


def add_one_remotely(session):
    @remote(
        sagemaker_session=session,
        image_uri=IMAGE,
        role=ROLE,
        instance_type="ml.m5.xlarge",
        s3_root_uri=f"s3://{BUCKET}/remote",
        include_local_workdir=False,
        keep_alive_period_in_seconds=0,
    )
    def add_one(a):
        return a + 1

    return add_one


def test_remote_function_job_is_preflighted_and_tagged(session, access_grants, calls, grant_warnings, no_waiting):
    sagemaker_s3ag.patch(identity_propagation=True)
    with pytest.raises(RemoteStarted):
        add_one_remotely(session)(1)
    (sent,) = creates(calls)
    record = tag_map(sent["Tags"])
    assert record["s3ag:credentials"] == "access-grants"
    assert record["s3ag:identity-propagation"] == "enabled"
    targets = [p["Target"] for op, p in access_grants.calls if op == "GetDataAccess"]
    assert targets and all(t.startswith(f"s3://{BUCKET}/remote/") for t in targets)
    assert ours(grant_warnings) == []


def test_remote_function_with_on_fallback_deny_is_refused_before_the_job(session, access_grants, calls, no_waiting):
    access_grants.grants.clear()
    sagemaker_s3ag.patch(identity_propagation=True, on_fallback="deny")
    with pytest.raises(sagemaker_s3ag.GrantFallbackError):
        add_one_remotely(session)(1)
    assert creates(calls) == []


def test_remote_function_after_unpatch_is_stock(session, access_grants, calls, no_waiting):
    sagemaker_s3ag.patch(identity_propagation=True)
    sagemaker_s3ag.unpatch()
    with pytest.raises(RemoteStarted):
        add_one_remotely(session)(1)
    (sent,) = creates(calls)
    assert not any(t["Key"].startswith("s3ag:") for t in sent.get("Tags", ()))
    assert access_grants_calls(access_grants) == []


def step_pipeline(session):
    @step(name="AddOne", instance_type="ml.m5.xlarge", image_uri=IMAGE, role=ROLE, keep_alive_period_in_seconds=0)
    def add_one(a):
        return a + 1

    return Pipeline(name="StepPipeline", steps=[add_one(1)], sagemaker_session=session)


def test_step_function_is_a_recorded_training_step(session, access_grants, grant_warnings):
    access_grants.grants.clear()
    access_grants.grant(f"s3://{BUCKET}/*", "READWRITE", grantee_type="IAM")  # what a pipeline execution can use
    sagemaker_s3ag.patch(identity_propagation=True)
    definition = json.loads(step_pipeline(session).definition())
    settled = arguments(definition, "AddOne")
    record = tag_map(settled["Tags"])
    assert record["s3ag:launched-by"] == "pipeline"
    # The output path is Join("s3://bucket/StepPipeline", execution id, ...): a grant on its literal head covers it.
    assert record["s3ag:credentials"] == "access-grants"
    assert settled["OutputDataConfig"]["S3OutputPath"]["Std:Join"]["Values"][0] == f"s3://{BUCKET}/StepPipeline"


def test_step_function_without_patch_is_stock(session, access_grants):
    definition = json.loads(step_pipeline(session).definition())
    assert "Tags" not in arguments(definition, "AddOne") or not any(
        t["Key"].startswith("s3ag:") for t in arguments(definition, "AddOne")["Tags"]
    )
    assert access_grants_calls(access_grants) == []


def test_a_grant_aware_estimator_queued_with_aws_batch_is_settled(session, access_grants, batch, grant_warnings):
    est = GrantAwareEstimator(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        input_mode="Pipe",
        identity_propagation=True,
    )
    TrainingQueue("queue").submit(est, {"train": TRAIN})
    (sent,) = batch.payloads()
    assert sent["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert "DebugHookConfig" not in sent
    assert tag_map(sent["Tags"])["s3ag:adjustments"] == "pipe-mode debugger profiler"
    assert est.latest_decision.job_name == sent["TrainingJobName"]
    assert len(ours(grant_warnings)) == 1  # Pipe mode; the SDK's own Debugger and Profiler go quietly


def test_a_grant_aware_estimator_queued_with_on_violation_error_is_refused_before_anything(session, batch):
    est = GrantAwareEstimator(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        input_mode="Pipe",
        identity_propagation=True,
        on_violation="error",
    )
    with pytest.raises(ConsiderationError):
        TrainingQueue("queue").submit(est, {"train": TRAIN})
    assert batch.submitted == []
    assert est.latest_decision.refused


def test_a_stock_estimator_queued_under_patch_is_settled(session, access_grants, batch, grant_warnings):
    sagemaker_s3ag.patch(identity_propagation=True)
    est = Estimator(
        image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=session, input_mode="Pipe"
    )
    TrainingQueue("queue").submit(est, {"train": TRAIN})
    assert batch.payloads()[0]["AlgorithmSpecification"]["TrainingInputMode"] == "File"


# --------------------------------------------------------------------------- JumpStart


@pytest.fixture
def jumpstart_model(session, monkeypatch):
    """A JumpStart model of our own, served from the emulated S3 (JumpStart's content bucket, overridden)."""
    image_variants = {
        "regional_aliases": {"us-east-1": {"training_image": IMAGE}},
        "variants": {"ml.m5.xlarge": {"regional_properties": {"image_uri": "$training_image"}}},
    }
    framework = {"framework": "pytorch", "framework_version": "1.13.1", "py_version": "py39"}
    spec = {
        "model_id": "s3ag-test-model",
        "version": "1.0.0",
        "min_sdk_version": "2.49.0",
        "training_supported": True,
        "incremental_training_supported": False,
        "hosting_ecr_specs": framework,
        "training_ecr_specs": framework,
        "training_instance_type_variants": image_variants,
        "supported_training_instance_types": ["ml.m5.xlarge"],
        "default_training_instance_type": "ml.m5.xlarge",
        "hosting_artifact_key": "jumpstart/infer.tar.gz",
        "training_artifact_key": "jumpstart/train.tar.gz",
        "hosting_script_key": "jumpstart/infer-scripts.tar.gz",
        "training_script_key": "jumpstart/train-scripts.tar.gz",
        "hyperparameters": [{"name": "epochs", "type": "int", "default": 3, "min": 1, "max": 10, "scope": "algorithm"}],
    }
    key = "jumpstart/specs/s3ag-test-model/specs_v1.0.0.json"
    manifest = [{"model_id": "s3ag-test-model", "version": "1.0.0", "min_version": "2.49.0", "spec_key": key}]
    s3 = session.boto_session.client("s3")
    s3.put_object(Bucket=BUCKET, Key="models_manifest.json", Body=json.dumps(manifest).encode())
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(spec).encode())
    monkeypatch.setenv("AWS_JUMPSTART_CONTENT_BUCKET_OVERRIDE", BUCKET)
    return "s3ag-test-model"


def test_a_jumpstart_estimator_under_patch_is_fixed_preflighted_and_tagged(
    session, access_grants, calls, grant_warnings, jumpstart_model
):
    sagemaker_s3ag.patch(identity_propagation=True)
    est = JumpStartEstimator(
        model_id=jumpstart_model,
        role=ROLE,
        instance_type="ml.m5.xlarge",
        instance_count=1,
        sagemaker_session=session,
        input_mode="Pipe",
    )
    est.fit({"training": TRAIN}, wait=False, logs=False)
    (sent,) = creates(calls)
    assert sent["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    record = tag_map(sent["Tags"])
    assert record["s3ag:adjustments"] == "pipe-mode debugger profiler"
    assert record["sagemaker-sdk:jumpstart-model-id"] == jumpstart_model  # the SDK's own tags kept
    asked = {p["Target"] for op, p in access_grants.calls if op == "GetDataAccess"}
    assert f"s3://{BUCKET}/jumpstart/train.tar.gz*" in asked  # the model channel JumpStart adds is asked about too
    assert [w.split("]")[0] for w in ours(grant_warnings)] == ["[s3ag:pipe-mode"]  # the SDK's Debugger/Profiler go quietly
    assert est.latest_decision.job_name == sent["TrainingJobName"]


def test_a_grant_aware_jumpstart_estimator_refuses_before_the_job(session, calls, jumpstart_model):
    from sagemaker_s3ag import grant_aware

    est = grant_aware(JumpStartEstimator)(
        model_id=jumpstart_model,
        role=ROLE,
        instance_type="ml.m5.xlarge",
        instance_count=1,
        sagemaker_session=session,
        input_mode="Pipe",
        identity_propagation=True,
        on_violation="error",
    )
    with pytest.raises(ConsiderationError) as err:
        est.fit({"training": TRAIN}, wait=False, logs=False)
    assert err.value.rule == "pipe-mode"
    assert creates(calls) == []


# --------------------------------------------------------------------------- pipelines: steps reached through others


def test_a_step_the_pipeline_reaches_only_through_depends_on_is_settled_with_its_own_settings(
    session, access_grants, grant_warnings
):
    """The SDK compiles steps a listed step depends on; their objects govern them even unlisted."""
    from sagemaker.workflow.pipeline_context import PipelineSession
    from sagemaker.workflow.steps import TrainingStep

    from sagemaker_s3ag import GrantAwareEstimator

    ps = PipelineSession(boto_session=session.boto_session, sagemaker_client=session.sagemaker_client, default_bucket=BUCKET)
    upstream = GrantAwareEstimator(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=ps,
        input_mode="Pipe",
        identity_propagation=True,
    )
    downstream = Estimator(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=ps)
    first = TrainingStep(name="Upstream", step_args=upstream.fit({"train": TRAIN}))
    second = TrainingStep(name="Downstream", step_args=downstream.fit({"train": TRAIN}), depends_on=[first])
    definition = json.loads(Pipeline(name="Deps", steps=[second], sagemaker_session=ps).definition())
    steps = {s["Name"]: s["Arguments"] for s in definition["Steps"]}
    assert steps["Upstream"]["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert tag_map(steps["Upstream"]["Tags"])["s3ag:adjustments"] == "pipe-mode debugger profiler"
    assert "Tags" not in steps["Downstream"]  # stock, and not patched: left as the SDK wrote it
