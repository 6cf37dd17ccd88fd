"""SageMaker Pipelines: real pipeline definitions built with the SDK v2 on moto.

Every test builds a ``Pipeline`` under a ``PipelineSession`` (sharing the moto clients of the
``session`` fixture) and reads the step ``Arguments`` from ``json.loads(pipeline.definition())``.
Each path is run with grant-aware classes and with stock classes under
``sagemaker_s3ag.patch(identity_propagation=True)`` (fixture ``flavour``).

A pipeline execution carries no user identity (AWS keeps user background sessions only for jobs a
user starts by hand), so step requests record ``s3ag:launched-by=pipeline`` and a location covered
only by a directory user/group grant is a fallback to the IAM role; a grant to the IAM role applies.
"""

from __future__ import annotations

import copy
import json

import pytest
from conftest import (
    ATHENA_QUERY,
    BUCKET,
    IMAGE,
    NO_IDENTITY,
    ROLE,
    BaseFlavour,
    arguments,
    expected_record,
    flavour_fixtures,
    grant_to_the_role,
    ours,
    tag_map,
    uploaded_keys,
)
from sagemaker.dataset_definition.inputs import AthenaDatasetDefinition, DatasetDefinition
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor
from sagemaker.pytorch import PyTorch
from sagemaker.workflow.parameters import ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.steps import ProcessingStep, TrainingStep

import sagemaker_s3ag
from sagemaker_s3ag import (
    ConsiderationError,
    GrantAwareEstimator,
    GrantAwareProcessor,
    GrantFallbackError,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # TrainingStep(estimator=) / ProcessingStep(processor=)
    pytest.mark.filterwarnings("ignore:Running within a PipelineSession:UserWarning"),
]

TRAIN = f"s3://{BUCKET}/train/"
RAW = f"s3://{BUCKET}/raw/"
OUT = f"s3://{BUCKET}/out/"
PREP = f"s3://{BUCKET}/prep/"

# --------------------------------------------------------------------------- fixtures / helpers


@pytest.fixture
def ps(session):
    """A PipelineSession on the emulator, reusing the moto clients (no new client is created)."""
    return PipelineSession(boto_session=session.boto_session, sagemaker_client=session.sagemaker_client, default_bucket=BUCKET)


class Flavour(BaseFlavour):
    """Grant-aware classes, or stock classes under ``patch()`` (with the same settings)."""

    def estimator(self, sess, settings=None, **kwargs):
        kwargs = {"output_path": OUT, **kwargs}
        return self.make(
            Estimator,
            settings,
            image_uri=IMAGE,
            role=ROLE,
            instance_count=1,
            instance_type="ml.m5.xlarge",
            sagemaker_session=sess,
            **kwargs,
        )

    def pytorch(self, sess, tmp_path, settings=None, **kwargs):
        entry = tmp_path / "train.py"
        entry.write_text("print('hello')\n")
        return self.make(
            PyTorch,
            settings,
            entry_point=str(entry),
            role=ROLE,
            framework_version="2.1",
            py_version="py310",
            instance_count=1,
            instance_type="ml.m5.xlarge",
            sagemaker_session=sess,
            output_path=OUT,
            **kwargs,
        )

    def processor(self, sess, settings=None, **kwargs):
        return self.make(
            Processor,
            settings,
            image_uri=IMAGE,
            role=ROLE,
            instance_count=1,
            instance_type="ml.m5.xlarge",
            sagemaker_session=sess,
            **kwargs,
        )


flavour, ga = flavour_fixtures(Flavour)


def stock_estimator(sess, **kwargs):
    return Estimator(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=sess,
        output_path=OUT,
        **kwargs,
    )


def pipe_input(source=RAW, **kwargs):
    return ProcessingInput(source=source, destination="/opt/ml/processing/in", s3_input_mode="Pipe", **kwargs)


def athena_input():
    return ProcessingInput(
        input_name="athena",
        dataset_definition=DatasetDefinition(
            local_path="/opt/ml/processing/athena",
            data_distribution_type="FullyReplicated",
            input_mode="File",
            athena_dataset_definition=AthenaDatasetDefinition(**{**ATHENA_QUERY, "database": "db", "query_string": "SELECT 1"}),
        ),
    )


def definition(ps, steps, parameters=()):
    """The pipeline definition as SageMaker would receive it."""
    pipeline = Pipeline(name="S3agPipeline", steps=steps, parameters=list(parameters), sagemaker_session=ps)
    return json.loads(pipeline.definition())


def creates(calls) -> list[str]:
    return [op for op, _ in calls if op.startswith("Create")]


# What a stock Estimator(input_mode="Pipe") puts in the step (the control), and the fixed version.
STOCK_TRAINING_ARGUMENTS = {
    "AlgorithmSpecification": {"TrainingInputMode": "Pipe", "TrainingImage": IMAGE},
    "OutputDataConfig": {"S3OutputPath": OUT},
    "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
    "ResourceConfig": {"VolumeSizeInGB": 30, "InstanceCount": 1, "InstanceType": "ml.m5.xlarge"},
    "RoleArn": ROLE,
    "InputDataConfig": [
        {
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": TRAIN, "S3DataDistributionType": "FullyReplicated"}
            },
            "ChannelName": "train",
        }
    ],
    "DebugHookConfig": {"S3OutputPath": OUT, "CollectionConfigurations": []},
    "ProfilerConfig": {"S3OutputPath": OUT, "DisableProfiler": False},
}


def fixed_training_arguments(tags):
    fixed = copy.deepcopy(STOCK_TRAINING_ARGUMENTS)
    fixed["AlgorithmSpecification"]["TrainingInputMode"] = "File"
    del fixed["DebugHookConfig"]
    fixed["ProfilerConfig"] = {"DisableProfiler": True}
    fixed["Tags"] = tags
    return fixed


STOCK_PROCESSING_ARGUMENTS = {
    "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}},
    "AppSpecification": {"ImageUri": IMAGE},
    "RoleArn": ROLE,
    "ProcessingInputs": [
        {
            "InputName": "input-1",
            "AppManaged": False,
            "S3Input": {
                "S3Uri": RAW,
                "LocalPath": "/opt/ml/processing/in",
                "S3DataType": "S3Prefix",
                "S3InputMode": "Pipe",
                "S3DataDistributionType": "FullyReplicated",
                "S3CompressionType": "None",
            },
        }
    ],
}


def fixed_processing_arguments(tags):
    fixed = copy.deepcopy(STOCK_PROCESSING_ARGUMENTS)
    fixed["ProcessingInputs"][0]["S3Input"]["S3InputMode"] = "File"
    fixed["Tags"] = tags
    return fixed


PIPE_TRAINING_TAGS = expected_record(
    "iam-role", "pipe-mode debugger profiler", fallback=f"fallback 2/2: {NO_IDENTITY}", launched_by="pipeline"
)
PIPE_PROCESSING_TAGS = expected_record("iam-role", "pipe-mode", fallback=f"fallback 1/1: {NO_IDENTITY}", launched_by="pipeline")


# --------------------------------------------------------------------------- the control


def test_control_stock_estimator_without_patch_is_untouched(ps, calls, grant_warnings):
    est = stock_estimator(ps, input_mode="Pipe")
    proc = Processor(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=ps)
    steps = [
        TrainingStep(name="Train", step_args=est.fit({"train": TRAIN})),
        ProcessingStep(name="Prep", step_args=proc.run(inputs=[pipe_input()])),
    ]
    defn = definition(ps, steps)

    assert arguments(defn, "Train") == STOCK_TRAINING_ARGUMENTS
    assert arguments(defn, "Prep") == STOCK_PROCESSING_ARGUMENTS
    assert not hasattr(est, "latest_decision")
    assert ours(grant_warnings) == []
    assert creates(calls) == []


# --------------------------------------------------------------------------- step_args


def test_training_step_args_pipe_is_fixed_and_recorded_as_a_pipeline_job(flavour, ps, calls, grant_warnings):
    est = flavour.estimator(ps, input_mode="Pipe")
    step_args = est.fit({"train": TRAIN})
    assert ours(grant_warnings) == []  # nothing decided yet: the request is built with the definition

    defn = definition(ps, [TrainingStep(name="Train", step_args=step_args)])

    args = arguments(defn, "Train")
    assert args == fixed_training_arguments(PIPE_TRAINING_TAGS)
    assert args["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert "DebugHookConfig" not in args
    assert args["ProfilerConfig"] == {"DisableProfiler": True}

    decision = est.latest_decision
    assert decision.job_type == "training"
    assert decision.credentials == "iam-role"
    assert decision.adjustments == ("pipe-mode", "debugger", "profiler")
    assert decision.record["s3ag:launched-by"] == "pipeline"
    assert [(o.uri, o.permission, o.outcome, o.reason, o.grantee_type) for o in decision.locations] == [
        (TRAIN, "READ", "fallback", "pipeline executions carry no user identity (the grant is to a directory user)", None),
        (OUT, "WRITE", "fallback", "pipeline executions carry no user identity (the grant is to a directory user)", None),
    ]
    messages = ours(grant_warnings)
    assert [m.split(" ")[0] for m in messages] == ["[s3ag:pipe-mode]", "[s3ag:fallback]"]
    assert messages[0] == (
        "[s3ag:pipe-mode] AlgorithmSpecification.TrainingInputMode: Pipe mode cannot use S3 Access Grants; "
        "the job's input mode is now File"
    )
    assert "2 of 2 S3 locations will not use your S3 Access Grants" in messages[1]
    assert creates(calls) == []  # a pipeline definition creates no job


@pytest.mark.parametrize("grantee_type", ["DIRECTORY_USER", "DIRECTORY_GROUP"])
def test_grants_to_directory_identities_do_not_apply_to_pipeline_executions(ps, access_grants, grant_warnings, grantee_type):
    access_grants.grants.clear()
    access_grants.grant(f"s3://{BUCKET}/*", "READWRITE", grantee_type=grantee_type)
    est = GrantAwareEstimator(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=ps,
        output_path=OUT,
        identity_propagation=True,
    )
    defn = definition(ps, [TrainingStep(name="Train", step_args=est.fit({"train": TRAIN}))])

    kind = grantee_type.lower().replace("_", " ")
    tags = tag_map(arguments(defn, "Train")["Tags"])
    assert tags["s3ag:credentials"] == "iam-role"
    assert tags["s3ag:fallback"] == f"fallback 2/2: pipeline executions carry no user identity the grant is to a {kind}"
    assert tags["s3ag:launched-by"] == "pipeline"
    assert {o.outcome for o in est.latest_decision.locations} == {"fallback"}


def test_the_same_estimator_fitted_by_hand_uses_the_user_grant(session, grant_warnings):
    """The contrast: outside a pipeline the directory-user grant applies (launched-by=user)."""
    est = GrantAwareEstimator(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        output_path=OUT,
        identity_propagation=True,
    )
    est.fit({"train": TRAIN}, wait=False, logs=False)
    assert est.latest_decision.credentials == "access-grants"
    assert est.latest_decision.record["s3ag:launched-by"] == "user"
    assert "s3ag:fallback" not in est.latest_decision.record


def test_training_step_args_with_a_grant_to_the_role_uses_access_grants(flavour, ps, access_grants, grant_warnings):
    grant_to_the_role(access_grants)
    est = flavour.estimator(ps, input_mode="Pipe")
    defn = definition(ps, [TrainingStep(name="Train", step_args=est.fit({"train": TRAIN}))])

    args = arguments(defn, "Train")
    tags = expected_record("access-grants", "pipe-mode debugger profiler", launched_by="pipeline")
    assert args == fixed_training_arguments(tags)
    assert [(o.outcome, o.grantee_type) for o in est.latest_decision.locations] == [("granted", "IAM"), ("granted", "IAM")]
    assert [m.split(" ")[0] for m in ours(grant_warnings)] == ["[s3ag:pipe-mode]"]


def test_processing_step_args_pipe_is_fixed_and_recorded(flavour, ps, calls, grant_warnings):
    proc = flavour.processor(ps)
    step_args = proc.run(inputs=[pipe_input()])
    defn = definition(ps, [ProcessingStep(name="Prep", step_args=step_args)])

    assert arguments(defn, "Prep") == fixed_processing_arguments(PIPE_PROCESSING_TAGS)
    assert proc.latest_decision.job_type == "processing"
    assert proc.latest_decision.adjustments == ("pipe-mode",)
    assert [m.split(" ")[0] for m in ours(grant_warnings)] == ["[s3ag:pipe-mode]", "[s3ag:fallback]"]
    assert creates(calls) == []


def test_processing_step_args_with_a_grant_to_the_role_uses_access_grants(ga, ps, access_grants, grant_warnings):
    grant_to_the_role(access_grants)
    proc = ga.processor(ps)
    defn = definition(ps, [ProcessingStep(name="Prep", step_args=proc.run(inputs=[pipe_input()]))])
    assert arguments(defn, "Prep")["Tags"] == expected_record("access-grants", "pipe-mode", launched_by="pipeline")


# --------------------------------------------------------------------------- the older step forms


def test_deprecated_training_step_form_gets_the_same_fixes_and_tags(flavour, ps, calls, grant_warnings):
    est = flavour.estimator(ps, input_mode="Pipe")
    step = TrainingStep(name="Train", estimator=est, inputs={"train": TrainingInput(TRAIN)})
    defn = definition(ps, [step])

    assert arguments(defn, "Train") == fixed_training_arguments(PIPE_TRAINING_TAGS)
    assert est.latest_decision.record["s3ag:launched-by"] == "pipeline"
    assert creates(calls) == []


def test_deprecated_processing_step_form_gets_the_same_fixes_and_tags(flavour, ps, calls, grant_warnings):
    proc = flavour.processor(ps)
    step = ProcessingStep(name="Prep", processor=proc, inputs=[pipe_input()])
    defn = definition(ps, [step])

    assert arguments(defn, "Prep") == fixed_processing_arguments(PIPE_PROCESSING_TAGS)
    assert proc.latest_decision.record["s3ag:launched-by"] == "pipeline"
    assert creates(calls) == []


@pytest.mark.parametrize("form", ["training", "processing"])
def test_deprecated_form_with_a_plain_session_is_recorded_as_a_pipeline_step(session, ps, grant_warnings, form):
    """The older step forms with a plain Session are pipeline steps too: recorded as launched by a pipeline."""
    if form == "training":
        est = GrantAwareEstimator(
            image_uri=IMAGE,
            role=ROLE,
            instance_count=1,
            instance_type="ml.m5.xlarge",
            sagemaker_session=session,
            output_path=OUT,
            identity_propagation=True,
        )
        step, name = TrainingStep(name="Train", estimator=est, inputs={"train": TRAIN}), "Train"
    else:
        proc = GrantAwareProcessor(
            image_uri=IMAGE,
            role=ROLE,
            instance_count=1,
            instance_type="ml.m5.xlarge",
            sagemaker_session=session,
            identity_propagation=True,
        )
        step, name = ProcessingStep(name="Prep", processor=proc, inputs=[pipe_input()]), "Prep"
    tags = tag_map(arguments(definition(ps, [step]), name)["Tags"])
    assert tags["s3ag:launched-by"] == "pipeline"
    assert tags["s3ag:credentials"] == "iam-role"


# --------------------------------------------------------------------------- refusals at step definition


def test_on_violation_error_refuses_pipe_when_the_step_is_defined(flavour, ps, session, calls, grant_warnings):
    est = flavour.estimator(ps, settings={"on_violation": "error"}, input_mode="Pipe")
    with pytest.raises(ConsiderationError) as err:
        est.fit({"train": TRAIN})
    assert err.value.rule == "pipe-mode"
    assert [(f.rule, f.action, f.where) for f in err.value.findings] == [
        ("pipe-mode", "refused", "AlgorithmSpecification.TrainingInputMode")
    ]
    assert uploaded_keys(session) == []
    assert creates(calls) == []
    assert est.latest_decision.refused and est.latest_decision.tags == ()  # the refusal itself


def test_on_violation_error_refuses_before_the_framework_code_is_uploaded(flavour, ps, session, tmp_path, grant_warnings):
    est = flavour.pytorch(ps, tmp_path, settings={"on_violation": "error"}, input_mode="Pipe")
    with pytest.raises(ConsiderationError) as err:
        est.fit({"train": TRAIN})
    assert err.value.rule == "pipe-mode"
    assert uploaded_keys(session) == []


def test_fix_mode_framework_step_uploads_its_code_with_the_definition(ga, ps, session, tmp_path, grant_warnings):
    """The counterpart of the refusal above: without a refusal the code does get uploaded (so the
    empty bucket above is due to the refusal, not to a PipelineSession that never uploads)."""
    est = ga.pytorch(ps, tmp_path, input_mode="Pipe")
    defn = definition(ps, [TrainingStep(name="Train", step_args=est.fit({"train": TRAIN}))])
    assert arguments(defn, "Train")["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    keys = uploaded_keys(session)
    assert len(keys) == 1 and keys[0].endswith("/sourcedir.tar.gz")


def test_on_violation_error_refuses_processing_pipe_when_the_step_is_defined(flavour, ps, session, calls, grant_warnings):
    proc = flavour.processor(ps, settings={"on_violation": "error"})
    with pytest.raises(ConsiderationError) as err:
        proc.run(inputs=[pipe_input()])
    assert err.value.rule == "pipe-mode"
    assert [f.where for f in err.value.findings] == ["ProcessingInputs[input-1].S3Input.S3InputMode"]
    assert uploaded_keys(session) == []
    assert creates(calls) == []


def test_dataset_definition_is_refused_when_the_step_is_defined(flavour, ps, session, calls, grant_warnings):
    proc = flavour.processor(ps)
    with pytest.raises(ConsiderationError) as err:
        proc.run(inputs=[athena_input()])
    assert err.value.rule == "dataset-definition"
    assert [(f.rule, f.action, f.where) for f in err.value.findings] == [
        ("dataset-definition", "refused", "ProcessingInputs[athena].DatasetDefinition")
    ]
    assert uploaded_keys(session) == []
    assert creates(calls) == []


def test_dataset_definition_in_the_deprecated_form_is_refused_with_the_definition(ga, ps, grant_warnings):
    proc = ga.processor(ps)
    step = ProcessingStep(name="Prep", processor=proc, inputs=[athena_input()])
    with pytest.raises(ConsiderationError) as err:
        definition(ps, [step])
    assert err.value.rule == "dataset-definition"


def test_deprecated_training_form_with_on_violation_error_is_refused_with_the_definition(ga, ps, grant_warnings):
    est = ga.estimator(ps, settings={"on_violation": "error"}, input_mode="Pipe")
    step = TrainingStep(name="Train", estimator=est, inputs={"train": TRAIN})
    with pytest.raises(ConsiderationError) as err:
        definition(ps, [step])
    assert err.value.rule == "pipe-mode"


# --------------------------------------------------------------------------- what only the execution knows

MODE = "Parameters.Mode"


@pytest.mark.parametrize("where", ["estimator", "channel"])
def test_parameterised_training_input_mode_is_refused(flavour, ps, session, grant_warnings, where):
    mode = ParameterString(name="Mode", default_value="File")
    if where == "estimator":
        est = flavour.estimator(ps, input_mode=mode)
        inputs = {"train": TRAIN}
    else:
        est = flavour.estimator(ps)
        inputs = {"train": TrainingInput(TRAIN, input_mode=mode)}
    with pytest.raises(ConsiderationError) as err:
        est.fit(inputs)
    assert err.value.rule == "pipe-mode"
    assert [(f.rule, f.action, f.where) for f in err.value.findings] == [
        ("pipe-mode", "refused", "InputDataConfig[train].InputMode")
    ]
    assert f"pipeline value {MODE}" in err.value.findings[0].message
    assert uploaded_keys(session) == []


def test_parameterised_training_input_mode_is_refused_in_the_deprecated_form(ga, ps, grant_warnings):
    mode = ParameterString(name="Mode", default_value="File")
    est = ga.estimator(ps, input_mode=mode)
    step = TrainingStep(name="Train", estimator=est, inputs={"train": TRAIN})
    with pytest.raises(ConsiderationError) as err:
        definition(ps, [step], parameters=[mode])
    assert err.value.rule == "pipe-mode"
    assert f"pipeline value {MODE}" in err.value.findings[0].message


def test_parameterised_processing_input_mode_is_refused(flavour, ps, grant_warnings):
    mode = ParameterString(name="PMode", default_value="File")
    proc = flavour.processor(ps)
    with pytest.raises(ConsiderationError) as err:
        proc.run(inputs=[ProcessingInput(source=RAW, destination="/opt/ml/processing/in", s3_input_mode=mode)])
    assert err.value.rule == "pipe-mode"
    assert [f.where for f in err.value.findings] == ["ProcessingInputs[input-1].S3Input.S3InputMode"]
    assert "pipeline value Parameters.PMode" in err.value.findings[0].message


def test_parameterised_s3_uri_is_reported_as_unknown(flavour, ps, grant_warnings):
    uri = ParameterString(name="TrainData", default_value=TRAIN)
    est = flavour.estimator(ps)
    defn = definition(ps, [TrainingStep(name="Train", step_args=est.fit({"train": TrainingInput(uri)}))], [uri])

    args = arguments(defn, "Train")
    assert args["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == {"Get": "Parameters.TrainData"}
    assert args["Tags"] == expected_record(
        "unknown",
        "debugger profiler",
        fallback=f"fallback 1/2: {NO_IDENTITY} - unknown 1/2: a pipeline value known only when the pipeline runs",
        launched_by="pipeline",
    )
    assert [(o.uri, o.outcome, o.reason) for o in est.latest_decision.locations] == [
        ("pipeline value Parameters.TrainData", "unknown", "a pipeline value, known only when the pipeline runs"),
        (OUT, "fallback", "pipeline executions carry no user identity (the grant is to a directory user)"),
    ]
    fallback = [m for m in ours(grant_warnings) if m.startswith("[s3ag:fallback]")]
    assert len(fallback) == 1
    assert "unknown  READ      pipeline value Parameters.TrainData" in fallback[0]


def test_parameterised_s3_uri_with_a_grant_to_the_role_is_still_unknown(ga, ps, access_grants, grant_warnings):
    grant_to_the_role(access_grants)
    uri = ParameterString(name="TrainData", default_value=TRAIN)
    est = ga.estimator(ps)
    defn = definition(ps, [TrainingStep(name="Train", step_args=est.fit({"train": TrainingInput(uri)}))], [uri])
    assert arguments(defn, "Train")["Tags"] == expected_record(
        "unknown",
        "debugger profiler",
        fallback="unknown 1/2: a pipeline value known only when the pipeline runs",
        launched_by="pipeline",
    )
    (warning,) = [m for m in ours(grant_warnings) if m.startswith("[s3ag:fallback]")]
    assert "pipeline value Parameters.TrainData" in warning


def test_parameterised_s3_uri_with_on_fallback_deny_is_refused_when_the_step_is_defined(
    flavour, ps, access_grants, calls, grant_warnings
):
    grant_to_the_role(access_grants)  # every literal location is granted: only the parameter is refused
    uri = ParameterString(name="TrainData", default_value=TRAIN)
    est = flavour.estimator(ps, settings={"on_fallback": "deny"})
    with pytest.raises(GrantFallbackError) as err:
        est.fit({"train": TrainingInput(uri)})
    assert err.value.rule == "fallback"
    assert err.value.locations == (("pipeline value Parameters.TrainData", "READ"),)
    assert creates(calls) == []


def test_step_property_as_input_is_reported_as_unknown(ga, ps, access_grants, grant_warnings):
    """A processing step's output feeding a training step: only known when the pipeline runs."""
    grant_to_the_role(access_grants)
    proc = ga.processor(ps)
    prep = ProcessingStep(
        name="Prep",
        step_args=proc.run(
            inputs=[ProcessingInput(source=RAW, destination="/opt/ml/processing/in")],
            outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train", destination=PREP)],
        ),
    )
    est = ga.estimator(ps)
    source = prep.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri
    train = TrainingStep(name="Train", step_args=est.fit({"train": TrainingInput(source)}))
    defn = definition(ps, [prep, train])

    assert arguments(defn, "Prep")["Tags"] == expected_record("access-grants", "none", launched_by="pipeline")
    assert arguments(defn, "Train")["Tags"] == expected_record(
        "unknown",
        "debugger profiler",
        fallback="unknown 1/2: a pipeline value known only when the pipeline runs",
        launched_by="pipeline",
    )
    assert est.latest_decision.locations[0].uri == (
        "pipeline value Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"
    )


def test_on_fallback_deny_refuses_a_directory_user_grant_for_a_pipeline_step(flavour, ps, calls, grant_warnings):
    est = flavour.estimator(ps, settings={"on_fallback": "deny"})
    with pytest.raises(GrantFallbackError) as err:
        step_args = est.fit({"train": TRAIN})
        definition(ps, [TrainingStep(name="Train", step_args=step_args)])
    assert err.value.locations == ((TRAIN, "READ"), (OUT, "WRITE"))
    assert "pipeline executions carry no user identity" in str(err.value)
    assert creates(calls) == []


def test_on_fallback_deny_for_a_pipeline_step_is_refused_before_the_code_upload(ps, session, tmp_path, grant_warnings):
    """A pipeline step that would fall back is refused when the step is defined, before its code is uploaded."""
    est = Flavour("grant-aware").pytorch(ps, tmp_path, settings={"on_fallback": "deny"})
    with pytest.raises(GrantFallbackError):
        step_args = est.fit({"train": TRAIN})
        definition(ps, [TrainingStep(name="Train", step_args=step_args)])
    assert uploaded_keys(session) == []


# --------------------------------------------------------------------------- stable definitions, user tags


def test_definition_twice_gives_identical_arguments_and_one_record(flavour, ps, tmp_path, monkeypatch, grant_warnings):
    """In a SageMaker project the SDK appends the project tags to the object's tag list in place (a
    stock estimator's list grows): the user's list is left alone and each definition has one record."""
    (tmp_path / ".sagemaker-code-config").write_text(json.dumps({"sagemakerProjectId": "p-123", "sagemakerProjectName": "demo"}))
    monkeypatch.chdir(tmp_path)
    est_tags = [{"Key": "team", "Value": "ml"}]
    proc_tags = [{"Key": "team", "Value": "ml"}]
    est = flavour.estimator(ps, input_mode="Pipe", tags=est_tags)
    proc = flavour.processor(ps, tags=proc_tags)
    pipeline = Pipeline(
        name="S3agPipeline",
        steps=[
            TrainingStep(name="Train", step_args=est.fit({"train": TRAIN})),
            ProcessingStep(name="Prep", step_args=proc.run(inputs=[pipe_input()])),
        ],
        sagemaker_session=ps,
    )
    first = json.loads(pipeline.definition())
    second = json.loads(pipeline.definition())

    assert first == second
    team = {"Key": "team", "Value": "ml"}
    project = [{"Key": "sagemaker:project-id", "Value": "p-123"}, {"Key": "sagemaker:project-name", "Value": "demo"}]
    assert arguments(second, "Train")["Tags"] == [team, *project, *PIPE_TRAINING_TAGS]
    assert arguments(second, "Prep")["Tags"] == [team, *project, *PIPE_PROCESSING_TAGS]
    assert est_tags == [team] and proc_tags == [team]
    assert est.tags is est_tags and proc.tags is proc_tags
    assert [f.rule for f in est.latest_decision.findings] == ["pipe-mode", "debugger", "profiler"]  # no "tags" finding


# --------------------------------------------------------------------------- patch() / unpatch()


def test_after_unpatch_a_stock_estimator_is_stock_again(ps, grant_warnings):
    def stock_steps():
        """A stock Pipe-mode estimator and processor, made and defined now."""
        est = stock_estimator(ps, input_mode="Pipe")
        proc = Processor(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=ps)
        return definition(
            ps,
            [
                TrainingStep(name="Train", step_args=est.fit({"train": TRAIN})),
                ProcessingStep(name="Prep", step_args=proc.run(inputs=[pipe_input()])),
            ],
        )

    try:
        sagemaker_s3ag.patch(identity_propagation=True)
        patched = stock_steps()
    finally:
        sagemaker_s3ag.unpatch()
    assert arguments(patched, "Train") == fixed_training_arguments(PIPE_TRAINING_TAGS)
    assert arguments(patched, "Prep") == fixed_processing_arguments(PIPE_PROCESSING_TAGS)

    after = stock_steps()
    assert arguments(after, "Train") == STOCK_TRAINING_ARGUMENTS
    assert arguments(after, "Prep") == STOCK_PROCESSING_ARGUMENTS


def test_grant_aware_estimator_under_patch_keeps_its_own_settings(ps, grant_warnings):
    """patch(on_violation="error") does not override a grant-aware object's own on_violation="fix"."""
    try:
        sagemaker_s3ag.patch(identity_propagation=True, on_violation="error")
        est = GrantAwareEstimator(
            image_uri=IMAGE,
            role=ROLE,
            instance_count=1,
            instance_type="ml.m5.xlarge",
            sagemaker_session=ps,
            output_path=OUT,
            identity_propagation=True,
            input_mode="Pipe",
        )
        defn = definition(ps, [TrainingStep(name="Train", step_args=est.fit({"train": TRAIN}))])
    finally:
        sagemaker_s3ag.unpatch()
    assert arguments(defn, "Train") == fixed_training_arguments(PIPE_TRAINING_TAGS)


def test_a_step_defined_in_a_patched_block_is_built_patched_after_the_block(ps, grant_warnings):
    """``pipeline.definition()`` builds the request after the ``patched()`` block that defined the step has ended."""
    import sagemaker_s3ag

    est = stock_estimator(ps, input_mode="Pipe")
    with sagemaker_s3ag.patched(identity_propagation=True):
        step_args = est.fit({"train": TRAIN})
    assert not sagemaker_s3ag.is_patched()
    train = arguments(definition(ps, [TrainingStep(name="Train", step_args=step_args)]), "Train")
    assert train["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert tag_map(train["Tags"])["s3ag:launched-by"] == "pipeline"
    assert not sagemaker_s3ag.is_patched()
