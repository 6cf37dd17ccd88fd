"""Every SDK v3 launch path under ``patch()``: sagemaker-core resources, ``@remote``, ``@step``, AWS Batch.

Each is fixed, preflighted and tagged by the choke points (no SDK hook of ours on any of them but
``TrainingQueue.submit``, which carries a grant-aware trainer's settings), and stock again after
``unpatch()``.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # sagemaker.mlops makes boto3 clients at import time

import pytest  # noqa: E402
from conftest import (  # noqa: E402
    BUCKET,
    IMAGE,
    ROLE,
    RemoteStarted,
    access_grants_calls,
    arguments,
    creates,
    ours,
    processing_creates,
    tag_map,
)
from sagemaker.core.remote_function import remote  # noqa: E402
from sagemaker.core.resources import ProcessingJob, TrainingJob  # noqa: E402
from sagemaker.core.shapes import (  # noqa: E402
    AlgorithmSpecification,
    AppSpecification,
    Channel,
    DataSource,
    OutputDataConfig,
    ProcessingClusterConfig,
    ProcessingInput,
    ProcessingResources,
    ProcessingS3Input,
    RemoteDebugConfig,
    RemoteDebugConfigForUpdate,
    ResourceConfig,
    S3DataSource,
    StoppingCondition,
)
from sagemaker.core.training.configs import InputData  # noqa: E402
from sagemaker.mlops.workflow.function_step import step  # noqa: E402
from sagemaker.mlops.workflow.pipeline import Pipeline  # noqa: E402
from sagemaker.train import ModelTrainer  # noqa: E402
from sagemaker.train.aws_batch.training_queue import TrainingQueue  # noqa: E402

import sagemaker_s3ag  # noqa: E402
from sagemaker_s3ag import ConsiderationError, GrantAwareModelTrainer  # noqa: E402

TRAIN = f"s3://{BUCKET}/train/"
OUT = f"s3://{BUCKET}/out/"


pytestmark = pytest.mark.usefixtures("unpatch_after")


# --------------------------------------------------------------------------- sagemaker-core resources


def create_training_job(session, name: str):
    return TrainingJob.create(
        training_job_name=name,
        role_arn=ROLE,
        algorithm_specification=AlgorithmSpecification(training_image=IMAGE, training_input_mode="Pipe"),
        input_data_config=[
            Channel(
                channel_name="train", data_source=DataSource(s3_data_source=S3DataSource(s3_data_type="S3Prefix", s3_uri=TRAIN))
            )
        ],
        output_data_config=OutputDataConfig(s3_output_path=OUT),
        resource_config=ResourceConfig(instance_type="ml.m5.xlarge", instance_count=1, volume_size_in_gb=30),
        stopping_condition=StoppingCondition(max_runtime_in_seconds=3600),
        remote_debug_config=RemoteDebugConfig(enable_remote_debug=True),
        session=session.boto_session,
        region=session.boto_region_name,
    )


def test_training_job_create_is_fixed_preflighted_and_tagged(session, access_grants, calls, grant_warnings):
    sagemaker_s3ag.patch(identity_propagation=True)
    create_training_job(session, "core-training")
    (sent,) = creates(calls)
    assert sent["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert "RemoteDebugConfig" not in sent
    assert tag_map(sent["Tags"])["s3ag:adjustments"] == "pipe-mode remote-debug"
    assert tag_map(sent["Tags"])["s3ag:credentials"] == "access-grants"
    assert [p["Target"] for op, p in access_grants.calls if op == "GetDataAccess"] == [TRAIN + "*", OUT + "*"]
    assert len(ours(grant_warnings)) == 2


def test_training_job_create_after_unpatch_is_stock(session, access_grants, calls):
    sagemaker_s3ag.patch(identity_propagation=True)
    sagemaker_s3ag.unpatch()
    create_training_job(session, "core-stock")
    (sent,) = creates(calls)
    assert sent["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert "Tags" not in sent and access_grants_calls(access_grants) == []


def test_processing_job_create_is_fixed_and_tagged(session, access_grants, calls, grant_warnings):
    sagemaker_s3ag.patch(identity_propagation=True)
    ProcessingJob.create(
        processing_job_name="core-processing",
        role_arn=ROLE,
        app_specification=AppSpecification(image_uri=IMAGE),
        processing_resources=ProcessingResources(
            cluster_config=ProcessingClusterConfig(instance_type="ml.m5.xlarge", instance_count=1, volume_size_in_gb=30)
        ),
        processing_inputs=[
            ProcessingInput(
                input_name="raw",
                s3_input=ProcessingS3Input(
                    s3_uri=TRAIN, local_path="/opt/ml/processing/in", s3_data_type="S3Prefix", s3_input_mode="Pipe"
                ),
            )
        ],
        session=session.boto_session,
        region=session.boto_region_name,
    )
    (sent,) = processing_creates(calls)
    assert sent["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
    assert tag_map(sent["Tags"])["s3ag:adjustments"] == "pipe-mode"


def test_training_job_update_switching_remote_debug_on_is_refused(session, access_grants, grant_warnings):
    sagemaker_s3ag.patch(identity_propagation=True)
    job = create_training_job(session, "running")
    with pytest.raises(ConsiderationError) as err:
        job.update(remote_debug_config=RemoteDebugConfigForUpdate(enable_remote_debug=True))
    assert err.value.rule == "remote-debug"


# --------------------------------------------------------------------------- @remote and @step


def test_remote_function_job_is_preflighted_and_tagged(session, access_grants, calls, grant_warnings, no_waiting):
    sagemaker_s3ag.patch(identity_propagation=True)

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

    with pytest.raises(RemoteStarted):
        add_one(1)
    (sent,) = creates(calls)
    assert tag_map(sent["Tags"])["s3ag:credentials"] == "access-grants"
    targets = [p["Target"] for op, p in access_grants.calls if op == "GetDataAccess"]
    assert targets and all(t.startswith(f"s3://{BUCKET}/remote/") for t in targets)


def test_step_function_is_a_recorded_training_step(session, access_grants, grant_warnings):
    access_grants.grants.clear()
    access_grants.grant(f"s3://{BUCKET}/*", "READWRITE", grantee_type="IAM")  # what a pipeline execution can use
    sagemaker_s3ag.patch(identity_propagation=True)

    @step(name="AddOne", instance_type="ml.m5.xlarge", image_uri=IMAGE, role=ROLE, keep_alive_period_in_seconds=0)
    def add_one(a):
        return a + 1

    definition = json.loads(Pipeline(name="StepPipeline", steps=[add_one(1)], sagemaker_session=session).definition())
    record = tag_map(arguments(definition, "AddOne")["Tags"])
    assert record["s3ag:launched-by"] == "pipeline"
    assert record["s3ag:credentials"] == "access-grants"


# --------------------------------------------------------------------------- AWS Batch


@pytest.mark.parametrize("flavour", ["grant-aware", "patched"])
def test_a_trainer_queued_with_aws_batch_is_settled(session, access_grants, batch, grant_warnings, flavour):
    if flavour == "grant-aware":
        trainer = GrantAwareModelTrainer(
            training_image=IMAGE, role=ROLE, sagemaker_session=session, training_input_mode="Pipe", identity_propagation=True
        )
    else:
        sagemaker_s3ag.patch(identity_propagation=True)
        trainer = ModelTrainer(training_image=IMAGE, role=ROLE, sagemaker_session=session, training_input_mode="Pipe")
    TrainingQueue("queue").submit(trainer, [InputData(channel_name="train", data_source=TRAIN)])
    (sent,) = batch.payloads()
    assert sent["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert tag_map(sent["Tags"])["s3ag:adjustments"] == "pipe-mode"
    assert trainer.latest_decision.job_name == sent["TrainingJobName"]


# --------------------------------------------------------------------------- pipelines and first objects


def test_a_step_the_pipeline_reaches_only_through_depends_on_is_settled_with_its_own_settings(
    session, access_grants, grant_warnings
):
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.mlops.workflow.steps import TrainingStep

    ps = PipelineSession(boto_session=session.boto_session, sagemaker_client=session.sagemaker_client, default_bucket=BUCKET)
    upstream = GrantAwareModelTrainer(
        training_image=IMAGE, role=ROLE, sagemaker_session=ps, training_input_mode="Pipe", identity_propagation=True
    )
    downstream = ModelTrainer(training_image=IMAGE, role=ROLE, sagemaker_session=ps)
    channels = [InputData(channel_name="train", data_source=TRAIN)]
    first = TrainingStep(name="Upstream", step_args=upstream.train(input_data_config=channels))
    second = TrainingStep(name="Downstream", step_args=downstream.train(input_data_config=channels), depends_on=[first])
    definition = json.loads(Pipeline(name="Deps", steps=[second], sagemaker_session=ps).definition())
    steps = {s["Name"]: s["Arguments"] for s in definition["Steps"]}
    assert steps["Upstream"]["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert tag_map(steps["Upstream"]["Tags"])["s3ag:adjustments"] == "pipe-mode"
    assert not any(t["Key"].startswith("s3ag:") for t in steps["Downstream"].get("Tags", ()))


MODEL_CONSTRUCT_FIRST = """
import json
from sagemaker_s3ag.testing import BUCKET, IMAGE, ROLE, AccessGrantsTable, Emulator, install_access_grants

session = Emulator().start()
install_access_grants(session.boto_session, AccessGrantsTable().grant("s3://s3ag-demo/*", "READWRITE"))
from sagemaker.core.training.configs import InputData
from sagemaker_s3ag import GrantAwareModelTrainer

trainer = GrantAwareModelTrainer.model_construct(training_image=IMAGE, role=ROLE, sagemaker_session=session,
                                                 training_input_mode="Pipe")  # no __init__: the first grant-aware object
trainer.s3ag_settings = type(trainer.s3ag_settings)(identity_propagation=True)
trainer.train(input_data_config=[InputData(channel_name="train", data_source=f"s3://{BUCKET}/train/")], wait=False, logs=False)
job = session.sagemaker_client.describe_training_job(TrainingJobName=trainer._latest_training_job.training_job_name)
print("MODE " + job["AlgorithmSpecification"]["TrainingInputMode"])
"""


def test_a_first_grant_aware_object_made_without_init_still_has_its_requests_settled(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "construct.py"
    script.write_text(MODEL_CONSTRUCT_FIRST)
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env={**os.environ, "SAGEMAKER_VALIDATE_ROLE": "false"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "MODE File" in result.stdout.splitlines()
