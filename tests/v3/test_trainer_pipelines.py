"""SageMaker Pipelines on SDK v3: real pipeline definitions of ``ModelTrainer`` training steps on moto.

The v3 counterpart of the training half of ``tests/v2/test_pipelines.py``. Every test builds a
``Pipeline`` (``sagemaker.mlops``) under a ``PipelineSession`` sharing the moto clients of the
``session`` fixture, with ``TrainingStep(step_args=trainer.train(...))``, and reads the step
``Arguments`` from ``json.loads(pipeline.definition())``. Paths are run with the grant-aware class
and with stock ``ModelTrainer`` under ``sagemaker_s3ag.patch(identity_propagation=True)`` (fixture
``flavour``).

A pipeline execution carries no user identity, so step requests record ``s3ag:launched-by=pipeline``
and a location covered only by a directory user/group grant is a fallback to the IAM role; a grant
to the IAM role applies.
"""

from __future__ import annotations

import os

import pytest

# tests/conftest.py ignores v3/ under SDK v2, but not when tests/v3 is named on the command line.
pytest.importorskip("sagemaker.core", reason="SDK v3 tests: the installed sagemaker is not v3")

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # sagemaker.mlops makes boto3 clients at import time

import copy  # noqa: E402
import json  # noqa: E402

from conftest import (  # noqa: E402
    BUCKET,
    IMAGE,
    NO_IDENTITY,
    ROLE,
    BaseFlavour,
    arguments,
    created_jobs,
    creates,
    expected_record,
    flavour_fixtures,
    grant_to_the_role,
    ours,
    tag_map,
    uploaded_keys,
)
from sagemaker.core.shapes import Channel, DataSource, S3DataSource  # noqa: E402
from sagemaker.core.workflow.parameters import ParameterString  # noqa: E402
from sagemaker.core.workflow.pipeline_context import PipelineSession  # noqa: E402
from sagemaker.mlops.workflow.pipeline import Pipeline  # noqa: E402
from sagemaker.mlops.workflow.steps import TrainingStep  # noqa: E402
from sagemaker.train import ModelTrainer  # noqa: E402
from sagemaker.train.configs import Compute, InputData, OutputDataConfig, RemoteDebugConfig, SourceCode  # noqa: E402

import sagemaker_s3ag  # noqa: E402
from sagemaker_s3ag import (  # noqa: E402
    ConsiderationError,
    GrantFallbackError,
    grant_aware,
)

pytestmark = pytest.mark.filterwarnings("ignore:Running within a PipelineSession:UserWarning")

TRAIN = f"s3://{BUCKET}/train/"
OUT = f"s3://{BUCKET}/models/"
NO_IDENTITY_REASON = "pipeline executions carry no user identity (the grant is to a directory user)"


# --------------------------------------------------------------------------- fixtures / helpers


@pytest.fixture
def ps(session):
    """A PipelineSession on the emulator, reusing the moto clients (no new client is created)."""
    return PipelineSession(boto_session=session.boto_session, sagemaker_client=session.sagemaker_client, default_bucket=BUCKET)


class Flavour(BaseFlavour):
    """The grant-aware class, or stock ``ModelTrainer`` under ``patch()`` (with the same settings)."""

    def trainer(self, sess, settings=None, **kwargs):
        kwargs = {"output_data_config": OutputDataConfig(s3_output_path=OUT), **kwargs}
        common = dict(
            training_image=IMAGE,
            role=ROLE,
            compute=Compute(instance_type="ml.m5.xlarge", instance_count=1),
            sagemaker_session=sess,
            **kwargs,
        )
        return self.make(ModelTrainer, settings, **common)  # grant_aware(ModelTrainer) is GrantAwareModelTrainer


flavour, ga = flavour_fixtures(Flavour)


def stock_trainer(sess):
    """A stock ``ModelTrainer`` in Pipe mode, set up as ``Flavour.trainer`` sets up its own (the control)."""
    return ModelTrainer(
        training_image=IMAGE,
        role=ROLE,
        compute=Compute(instance_type="ml.m5.xlarge", instance_count=1),
        output_data_config=OutputDataConfig(s3_output_path=OUT),
        training_input_mode="Pipe",
        sagemaker_session=sess,
    )


def with_code(tmp_path):
    (tmp_path / "train.py").write_text("print('hello')\n")
    return SourceCode(source_dir=str(tmp_path), entry_script="train.py")


def inputs(source=TRAIN):
    return [InputData(channel_name="train", data_source=source)]


def definition(ps, steps, parameters=()):
    """The pipeline definition as SageMaker would receive it."""
    pipeline = Pipeline(name="S3agPipeline", steps=steps, parameters=list(parameters), sagemaker_session=ps)
    return json.loads(pipeline.definition())


# What a stock ModelTrainer(training_input_mode="Pipe") puts in the step (the control), and the fixed version.
STOCK_ARGUMENTS = {
    "AlgorithmSpecification": {"TrainingInputMode": "Pipe", "TrainingImage": IMAGE},
    "HyperParameters": {},
    "InputDataConfig": [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": TRAIN, "S3DataDistributionType": "FullyReplicated"}
            },
            "InputMode": "File",
        }
    ],
    "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
    "RoleArn": ROLE,
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "OutputDataConfig": {"S3OutputPath": OUT, "CompressionType": "GZIP"},
}


def fixed_arguments(tags):
    fixed = copy.deepcopy(STOCK_ARGUMENTS)
    fixed["AlgorithmSpecification"]["TrainingInputMode"] = "File"
    fixed["Tags"] = tags
    return fixed


PIPE_TAGS = expected_record("iam-role", "pipe-mode", fallback=f"fallback 2/2: {NO_IDENTITY}", launched_by="pipeline")


# --------------------------------------------------------------------------- the control


def test_control_stock_trainer_without_patch_is_untouched(ps, calls, grant_warnings):
    trainer = stock_trainer(ps)
    defn = definition(ps, [TrainingStep(name="Train", step_args=trainer.train(input_data_config=inputs()))])

    assert arguments(defn) == STOCK_ARGUMENTS
    assert not hasattr(trainer, "latest_decision")
    assert ours(grant_warnings) == []
    assert creates(calls) == []


# --------------------------------------------------------------------------- step_args


def test_step_args_pipe_is_fixed_and_recorded_as_a_pipeline_job(flavour, ps, session, calls, grant_warnings):
    trainer = flavour.trainer(ps, training_input_mode="Pipe")
    step_args = trainer.train(input_data_config=inputs())
    assert ours(grant_warnings) == []  # nothing decided yet: the request is built with the definition

    defn = definition(ps, [TrainingStep(name="Train", step_args=step_args)])

    assert arguments(defn) == fixed_arguments(PIPE_TAGS)
    decision = trainer.latest_decision
    assert decision.job_type == "training"
    assert decision.job_name is None  # a step has no job name until the pipeline runs
    assert decision.credentials == "iam-role"
    assert decision.adjustments == ("pipe-mode",)
    assert decision.record["s3ag:launched-by"] == "pipeline"
    assert [(o.uri, o.permission, o.outcome, o.reason) for o in decision.locations] == [
        (TRAIN, "READ", "fallback", NO_IDENTITY_REASON),
        (OUT, "WRITE", "fallback", NO_IDENTITY_REASON),
    ]
    messages = ours(grant_warnings)
    assert [m.split(" ")[0] for m in messages] == ["[s3ag:pipe-mode]", "[s3ag:fallback]"]
    assert messages[0] == (
        "[s3ag:pipe-mode] AlgorithmSpecification.TrainingInputMode: Pipe mode cannot use S3 Access Grants; "
        "the job's input mode is now File"
    )
    assert "2 of 2 S3 locations will not use your S3 Access Grants" in messages[1]
    assert creates(calls) == []  # a pipeline definition creates no job
    assert created_jobs(session)["training"] == []


def test_channel_pipe_in_a_step_is_fixed(ga, ps, grant_warnings):
    source = DataSource(
        s3_data_source=S3DataSource(s3_data_type="S3Prefix", s3_uri=TRAIN, s3_data_distribution_type="FullyReplicated")
    )
    trainer = ga.trainer(ps)
    step_args = trainer.train(input_data_config=[Channel(channel_name="train", data_source=source, input_mode="Pipe")])
    args = arguments(definition(ps, [TrainingStep(name="Train", step_args=step_args)]))

    assert args["InputDataConfig"][0]["InputMode"] == "File"
    assert args["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert args["Tags"] == PIPE_TAGS
    assert ours(grant_warnings)[0] == (
        "[s3ag:pipe-mode] InputDataConfig[train].InputMode: Pipe mode cannot use S3 Access Grants; channel 'train' now uses File"
    )


def test_remote_debug_in_a_step_is_removed(ga, ps, grant_warnings):
    trainer = ga.trainer(ps).with_remote_debug_config(RemoteDebugConfig(enable_remote_debug=True))
    args = arguments(definition(ps, [TrainingStep(name="Train", step_args=trainer.train(input_data_config=inputs()))]))
    assert "RemoteDebugConfig" not in args
    assert args["Tags"] == expected_record(
        "iam-role",
        "remote-debug",
        fallback=f"fallback 2/2: {NO_IDENTITY}",
        launched_by="pipeline",
    )
    assert [m.split(" ")[0] for m in ours(grant_warnings)] == ["[s3ag:remote-debug]", "[s3ag:fallback]"]


@pytest.mark.parametrize("grantee_type", ["DIRECTORY_USER", "DIRECTORY_GROUP"])
def test_grants_to_directory_identities_do_not_apply_to_pipeline_executions(ga, ps, access_grants, grant_warnings, grantee_type):
    access_grants.grants.clear()
    access_grants.grant(f"s3://{BUCKET}/*", "READWRITE", grantee_type=grantee_type)
    trainer = ga.trainer(ps)
    defn = definition(ps, [TrainingStep(name="Train", step_args=trainer.train(input_data_config=inputs()))])

    kind = grantee_type.lower().replace("_", " ")
    assert arguments(defn)["Tags"] == expected_record(
        "iam-role",
        "none",
        fallback=f"fallback 2/2: pipeline executions carry no user identity the grant is to a {kind}",
        launched_by="pipeline",
    )
    assert {o.outcome for o in trainer.latest_decision.locations} == {"fallback"}


def test_the_same_trainer_run_by_hand_uses_the_user_grant(session, grant_warnings):
    """The contrast: outside a pipeline the directory-user grant applies (launched-by=user)."""
    trainer = Flavour("grant-aware").trainer(session)
    trainer.train(input_data_config=inputs(), wait=False, logs=False)
    assert trainer.latest_decision.credentials == "access-grants"
    assert trainer.latest_decision.record["s3ag:launched-by"] == "user"
    assert "s3ag:fallback" not in trainer.latest_decision.record
    assert ours(grant_warnings) == []


def test_step_args_with_a_grant_to_the_role_uses_access_grants(flavour, ps, access_grants, grant_warnings):
    grant_to_the_role(access_grants)
    trainer = flavour.trainer(ps, training_input_mode="Pipe")
    defn = definition(ps, [TrainingStep(name="Train", step_args=trainer.train(input_data_config=inputs()))])

    assert arguments(defn) == fixed_arguments(expected_record("access-grants", "pipe-mode", launched_by="pipeline"))
    assert [(o.outcome, o.grantee_type) for o in trainer.latest_decision.locations] == [("granted", "IAM"), ("granted", "IAM")]
    assert [m.split(" ")[0] for m in ours(grant_warnings)] == ["[s3ag:pipe-mode]"]


def test_tip_off_step_gets_only_the_record(ga, ps, access_grants, grant_warnings):
    trainer = ga.trainer(ps, settings={"identity_propagation": False}, training_input_mode="Pipe")
    defn = definition(ps, [TrainingStep(name="Train", step_args=trainer.train(input_data_config=inputs()))])
    expected = copy.deepcopy(STOCK_ARGUMENTS)
    expected["Tags"] = expected_record("iam-role", "none", identity="disabled", launched_by="pipeline")
    assert arguments(defn) == expected
    assert ours(grant_warnings) == []
    assert [c for c in access_grants.calls if c[0] != "GetCallerIdentity"] == []


# --------------------------------------------------------------------------- refusals when the step is defined


def test_on_violation_error_refuses_pipe_when_the_step_is_defined(flavour, ps, session, tmp_path, calls, grant_warnings):
    trainer = flavour.trainer(ps, settings={"on_violation": "error"}, training_input_mode="Pipe", source_code=with_code(tmp_path))
    with pytest.raises(ConsiderationError) as err:
        trainer.train(input_data_config=inputs())
    assert err.value.rule == "pipe-mode"
    assert [(f.rule, f.action, f.where) for f in err.value.findings] == [
        ("pipe-mode", "refused", "AlgorithmSpecification.TrainingInputMode")
    ]
    assert uploaded_keys(session) == []
    assert creates(calls) == []
    assert trainer.latest_decision.refused and trainer.latest_decision.tags == ()


def test_fix_mode_step_uploads_its_code_with_the_definition(ga, ps, session, tmp_path, grant_warnings):
    """The counterpart of the refusal above: without a refusal the code does get uploaded (so the
    empty bucket above is due to the refusal, not to a PipelineSession that never uploads)."""
    trainer = ga.trainer(ps, training_input_mode="Pipe", source_code=with_code(tmp_path))
    step_args = trainer.train(input_data_config=inputs())
    defn = definition(ps, [TrainingStep(name="Train", step_args=step_args)])
    assert arguments(defn)["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert any(key.endswith("/code/train.py") for key in uploaded_keys(session))


def test_on_fallback_deny_refuses_a_directory_user_grant_for_a_pipeline_step(
    flavour, ps, session, tmp_path, calls, grant_warnings
):
    """Refused when the step is defined (train() under the PipelineSession), before the code upload."""
    trainer = flavour.trainer(ps, settings={"on_fallback": "deny"}, source_code=with_code(tmp_path))
    with pytest.raises(GrantFallbackError) as err:
        trainer.train(input_data_config=inputs())
    assert err.value.locations == ((TRAIN, "READ"), (OUT, "WRITE"))
    assert "pipeline executions carry no user identity" in str(err.value)
    assert uploaded_keys(session) == []
    assert creates(calls) == []


def test_on_fallback_deny_with_a_grant_to_the_role_builds_the_step(ga, ps, access_grants, grant_warnings):
    grant_to_the_role(access_grants)
    trainer = ga.trainer(ps, settings={"on_fallback": "deny"})
    defn = definition(ps, [TrainingStep(name="Train", step_args=trainer.train(input_data_config=inputs()))])
    assert tag_map(arguments(defn)["Tags"])["s3ag:credentials"] == "access-grants"


# --------------------------------------------------------------------------- what only the execution knows


@pytest.mark.parametrize("where", ["trainer", "channel"])
def test_parameterised_input_mode_is_refused(flavour, ps, session, grant_warnings, where):
    mode = ParameterString(name="Mode", default_value="File")
    source = DataSource(
        s3_data_source=S3DataSource(s3_data_type="S3Prefix", s3_uri=TRAIN, s3_data_distribution_type="FullyReplicated")
    )
    if where == "trainer":
        trainer = flavour.trainer(ps, training_input_mode=mode)
        channels, field = inputs(), "AlgorithmSpecification.TrainingInputMode"
    else:
        trainer = flavour.trainer(ps)
        channels, field = [Channel(channel_name="train", data_source=source, input_mode=mode)], "InputDataConfig[train].InputMode"
    with pytest.raises(ConsiderationError) as err:
        trainer.train(input_data_config=channels)
    assert err.value.rule == "pipe-mode"
    assert [(f.rule, f.action, f.where) for f in err.value.findings] == [("pipe-mode", "refused", field)]
    assert "pipeline value Parameters.Mode" in err.value.findings[0].message
    assert uploaded_keys(session) == []


def test_parameterised_s3_uri_is_reported_as_unknown(flavour, ps, grant_warnings):
    uri = ParameterString(name="TrainData", default_value=TRAIN)
    trainer = flavour.trainer(ps)
    defn = definition(ps, [TrainingStep(name="Train", step_args=trainer.train(input_data_config=inputs(uri)))], [uri])

    args = arguments(defn)
    assert args["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == {"Get": "Parameters.TrainData"}
    assert args["Tags"] == expected_record(
        "unknown",
        "none",
        fallback=f"fallback 1/2: {NO_IDENTITY} - unknown 1/2: a pipeline value known only when the pipeline runs",
        launched_by="pipeline",
    )
    assert [(o.uri, o.outcome) for o in trainer.latest_decision.locations] == [
        ("pipeline value Parameters.TrainData", "unknown"),
        (OUT, "fallback"),
    ]
    (fallback,) = [m for m in ours(grant_warnings) if m.startswith("[s3ag:fallback]")]
    assert "pipeline value Parameters.TrainData" in fallback


def test_parameterised_s3_uri_with_on_fallback_deny_is_refused_when_the_step_is_defined(
    ga, ps, access_grants, calls, grant_warnings
):
    grant_to_the_role(access_grants)  # every literal location is granted: only the parameter is refused
    uri = ParameterString(name="TrainData", default_value=TRAIN)
    trainer = ga.trainer(ps, settings={"on_fallback": "deny"})
    with pytest.raises(GrantFallbackError) as err:
        trainer.train(input_data_config=inputs(uri))
    assert err.value.locations == (("pipeline value Parameters.TrainData", "READ"),)
    assert creates(calls) == []


# --------------------------------------------------------------------------- stable definitions, user tags


def test_definition_twice_gives_identical_arguments_and_one_record(flavour, ps, grant_warnings):
    trainer = flavour.trainer(ps, training_input_mode="Pipe", tags=[{"key": "team", "value": "ml"}])
    before = copy.deepcopy(trainer.tags)
    pipeline = Pipeline(
        name="S3agPipeline",
        steps=[TrainingStep(name="Train", step_args=trainer.train(input_data_config=inputs()))],
        sagemaker_session=ps,
    )
    first = json.loads(pipeline.definition())
    second = json.loads(pipeline.definition())

    assert first == second
    assert arguments(second)["Tags"] == [{"Key": "team", "Value": "ml"}, *PIPE_TAGS]
    assert trainer.tags == before
    assert [f.rule for f in trainer.latest_decision.findings] == ["pipe-mode"]  # no "tags" finding


def test_grant_aware_subclass_in_a_step(ps, grant_warnings):
    """grant_aware(ModelTrainer subclass) works as a step too: train() is still 'train' for TrainingStep."""

    class MyTrainer(ModelTrainer):
        pass

    trainer = grant_aware(MyTrainer)(
        training_image=IMAGE,
        role=ROLE,
        compute=Compute(instance_type="ml.m5.xlarge", instance_count=1),
        output_data_config=OutputDataConfig(s3_output_path=OUT),
        sagemaker_session=ps,
        training_input_mode="Pipe",
        identity_propagation=True,
    )
    defn = definition(ps, [TrainingStep(name="Train", step_args=trainer.train(input_data_config=inputs()))])
    assert arguments(defn) == fixed_arguments(PIPE_TAGS)


# --------------------------------------------------------------------------- patch() / unpatch()


def test_after_unpatch_a_stock_trainer_is_stock_again(ps, grant_warnings):
    try:
        sagemaker_s3ag.patch(identity_propagation=True)
        trainer = stock_trainer(ps)
        patched = definition(ps, [TrainingStep(name="Train", step_args=trainer.train(input_data_config=inputs()))])
        assert trainer.latest_decision.adjustments == ("pipe-mode",)
    finally:
        sagemaker_s3ag.unpatch()
    assert arguments(patched) == fixed_arguments(PIPE_TAGS)

    after = definition(ps, [TrainingStep(name="Train", step_args=stock_trainer(ps).train(input_data_config=inputs()))])
    assert arguments(after) == STOCK_ARGUMENTS
    assert not hasattr(stock_trainer(ps), "latest_decision")


def test_grant_aware_trainer_under_patch_keeps_its_own_settings(ps, grant_warnings):
    """patch(on_violation="error") does not override a grant-aware object's own on_violation="fix"."""
    try:
        sagemaker_s3ag.patch(identity_propagation=True, on_violation="error")
        trainer = Flavour("grant-aware").trainer(ps, training_input_mode="Pipe")
        defn = definition(ps, [TrainingStep(name="Train", step_args=trainer.train(input_data_config=inputs()))])
    finally:
        sagemaker_s3ag.unpatch()
    assert arguments(defn) == fixed_arguments(PIPE_TAGS)
    assert len([m for m in ours(grant_warnings) if m.startswith("[s3ag:pipe-mode]")]) == 1  # handled once


def test_a_step_defined_in_a_patched_block_is_built_patched_after_the_block(ps, grant_warnings):
    """``pipeline.definition()`` builds the request after the ``patched()`` block that defined the step has ended."""
    trainer = stock_trainer(ps)
    with sagemaker_s3ag.patched(identity_propagation=True):
        step_args = trainer.train(input_data_config=inputs())
    assert not sagemaker_s3ag.is_patched()
    arguments = definition(ps, [TrainingStep(name="Train", step_args=step_args)])["Steps"][0]["Arguments"]
    assert arguments["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert tag_map(arguments["Tags"])["s3ag:launched-by"] == "pipeline"
    assert not sagemaker_s3ag.is_patched()  # built under the block's settings, then back to how it was
