"""Choke point 1: every SageMaker job request any botocore client sends is settled, whatever built it.

Raw boto3 clients (made before and after ``patch()``), every job operation, pipelines sent by hand
(inline and by S3 location), AWS Batch service jobs and UpdateTrainingJob; that everything else
passes straight through; and that ``unpatch()`` leaves every one of them stock again.
"""

from __future__ import annotations

import importlib
import json
import threading
import warnings

import boto3
import botocore.endpoint
import pytest
from conftest import BUCKET, IMAGE, ROLE, expected_record, grant_to_the_role, ours, pipe_input, tag_map

import sagemaker_s3ag
from sagemaker_s3ag import ConsiderationError, GrantFallbackError
from sagemaker_s3ag.core.client_session import session_of_client
from sagemaker_s3ag.sdk import choke
from sagemaker_s3ag.testing import AccessGrantsTable, install_access_grants

TRAIN = f"s3://{BUCKET}/train/"
OUT = f"s3://{BUCKET}/out/"


pytestmark = pytest.mark.usefixtures("unpatch_after")


def training_request(name: str, **extra) -> dict:
    """A CreateTrainingJob request as a user would write it for boto3: Pipe mode, Debugger, Profiler, remote debugging."""
    return {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "Pipe"},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": TRAIN}}}],
        "OutputDataConfig": {"S3OutputPath": OUT},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "DebugHookConfig": {"S3OutputPath": OUT},
        "ProfilerConfig": {"S3OutputPath": OUT},
        "RemoteDebugConfig": {"EnableRemoteDebug": True},
        **extra,
    }


def processing_request(name: str) -> dict:
    return {
        "ProcessingJobName": name,
        "RoleArn": ROLE,
        "AppSpecification": {"ImageUri": IMAGE},
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}},
        "ProcessingInputs": [
            {
                "InputName": "raw",
                "S3Input": {
                    "S3Uri": TRAIN,
                    "LocalPath": "/opt/ml/processing/in",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "Pipe",
                },
            }
        ],
    }


def recording(client) -> list[tuple[str, dict]]:
    """Every request ``client`` sends, as botocore builds it: ``(operation, params)``."""
    sent: list[tuple[str, dict]] = []
    client.meta.events.register(
        "before-parameter-build", lambda params, model, **_: sent.append((model.name, json.loads(json.dumps(params))))
    )
    return sent


def last(sent, operation: str) -> dict:
    return [params for name, params in sent if name == operation][-1]


# --------------------------------------------------------------------------- raw boto3


@pytest.mark.parametrize("made", ["before patch()", "after patch()"])
def test_a_raw_boto3_training_request_is_fixed_preflighted_and_tagged(session, access_grants, grant_warnings, made):
    access_grants.grants.clear()
    access_grants.grant(TRAIN + "*", "READ")
    if made == "before patch()":
        client = session.boto_session.client("sagemaker")
        sagemaker_s3ag.patch(identity_propagation=True)
    else:
        sagemaker_s3ag.patch(identity_propagation=True)
        client = session.boto_session.client("sagemaker")
    sent = recording(client)

    client.create_training_job(**training_request("raw-job"))

    request = last(sent, "CreateTrainingJob")
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert "DebugHookConfig" not in request and "RemoteDebugConfig" not in request
    assert request["ProfilerConfig"] == {"DisableProfiler": True}
    assert request["Tags"] == expected_record(
        "mixed", "pipe-mode debugger profiler remote-debug", fallback="fallback 1/2: no matching grant"
    )
    asked = [(op, p["Target"], p["AuditContext"]) for op, p in access_grants.calls if op == "GetDataAccess"]
    audit = "sagemaker-s3ag preflight for SageMaker training job raw-job"
    assert asked == [("GetDataAccess", TRAIN + "*", audit), ("GetDataAccess", OUT + "*", audit)]
    assert [w.split("]")[0] + "]" for w in ours(grant_warnings)] == [
        "[s3ag:pipe-mode]",
        "[s3ag:debugger]",
        "[s3ag:profiler]",
        "[s3ag:remote-debug]",
        "[s3ag:fallback]",
    ]
    assert {w.filename for w in grant_warnings} == {__file__}  # each points at the line that sent it


def test_raw_processing_and_tuning_requests_are_settled(session, access_grants, grant_warnings):
    sagemaker_s3ag.patch(identity_propagation=True)
    client = session.boto_session.client("sagemaker")
    sent = recording(client)
    client.create_processing_job(**processing_request("raw-processing"))
    definition = {
        k: v
        for k, v in training_request("x").items()
        if k not in ("TrainingJobName", "DebugHookConfig", "ProfilerConfig", "RemoteDebugConfig")
    }
    definition["StaticHyperParameters"] = {}
    client.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="raw-tuning",
        HyperParameterTuningJobConfig={
            "Strategy": "Random",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {"IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "2"}]},
        },
        TrainingJobDefinition=definition,
    )
    processing = last(sent, "CreateProcessingJob")
    assert processing["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
    assert tag_map(processing["Tags"])["s3ag:adjustments"] == "pipe-mode"
    tuning = last(sent, "CreateHyperParameterTuningJob")
    assert tuning["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert tag_map(tuning["Tags"])["s3ag:credentials"] == "unknown"  # tuning: not on AWS's TIP-compatible list


def test_a_refused_raw_request_never_reaches_botocore_or_aws(session, access_grants, mocker):
    sagemaker_s3ag.patch(identity_propagation=True, on_violation="error")
    client = session.boto_session.client("sagemaker")
    sending = mocker.spy(botocore.endpoint.Endpoint, "make_request")
    with pytest.raises(ConsiderationError) as err:
        client.create_training_job(**training_request("refused-job"))
    assert err.value.rule == "pipe-mode"
    assert [call.args[1].name for call in sending.call_args_list] == []  # not even a DescribeDomain: TIP was given
    assert client.list_training_jobs()["TrainingJobSummaries"] == []


def test_on_fallback_deny_refuses_a_raw_request_before_the_call(session, access_grants):
    access_grants.grants.clear()
    sagemaker_s3ag.patch(identity_propagation=True, on_fallback="deny")
    client = session.boto_session.client("sagemaker")
    with pytest.raises(GrantFallbackError) as err:
        client.create_processing_job(**processing_request("denied"))
    assert err.value.locations == ((TRAIN, "READ"),)
    assert client.list_processing_jobs()["ProcessingJobSummaries"] == []


def test_the_preflight_asks_with_the_sending_clients_credentials_region_and_hooks(session, access_grants, grant_warnings):
    """A request from elsewhere is asked about as the very client that sends it would ask."""
    other = AccessGrantsTable(region="eu-west-1")  # no grant at all
    elsewhere = boto3.Session(region_name="eu-west-1", aws_access_key_id="AKIDOTHER", aws_secret_access_key="x")
    install_access_grants(elsewhere, other)
    client = elsewhere.client("sagemaker")
    sagemaker_s3ag.patch(identity_propagation=True, on_fallback="allow")
    sent = recording(client)
    client.create_processing_job(**processing_request("elsewhere"))

    assert tag_map(last(sent, "CreateProcessingJob")["Tags"])["s3ag:credentials"] == "iam-role"
    # the caller's account is the job's role's: no GetCallerIdentity; the instance look-up and the ask run together
    assert sorted(op for op, _ in other.calls) == ["GetAccessGrantsInstanceForPrefix", "GetDataAccess"]
    assert [op for op, _ in access_grants.calls] == []  # the session's own grants were not asked
    asking = session_of_client(client)
    assert asking.region_name == "eu-west-1"
    assert asking.get_credentials().access_key == "AKIDOTHER"
    assert asking.client("s3control").meta.region_name == "eu-west-1"


def test_other_operations_and_services_pass_straight_through(session, access_grants, mocker):
    sagemaker_s3ag.patch(identity_propagation=True)
    settle = mocker.spy(choke, "settle")
    client = session.boto_session.client("sagemaker")
    client.list_training_jobs()
    session.boto_session.client("s3").put_object(Bucket=BUCKET, Key="k", Body=b"x")
    assert settle.call_count == 0
    assert access_grants.calls == []


def test_unpatch_leaves_raw_requests_stock(session, access_grants, grant_warnings):
    client = session.boto_session.client("sagemaker")
    sent = recording(client)
    sagemaker_s3ag.patch(identity_propagation=True)
    sagemaker_s3ag.unpatch()
    client.create_training_job(**training_request("stock-again"))
    request = last(sent, "CreateTrainingJob")
    assert request == training_request("stock-again")
    assert grant_warnings == [] and access_grants.calls == []


def test_without_patch_raw_requests_are_untouched(session, access_grants, grant_warnings):
    client = session.boto_session.client("sagemaker")
    sent = recording(client)
    client.create_training_job(**training_request("never-patched"))
    assert last(sent, "CreateTrainingJob") == training_request("never-patched")
    assert grant_warnings == []


# --------------------------------------------------------------------------- UpdateTrainingJob


@pytest.mark.parametrize(
    ("update", "rule"),
    [
        ({"RemoteDebugConfig": {"EnableRemoteDebug": True}}, "remote-debug"),
        ({"ProfilerConfig": {"ProfilingIntervalInMilliseconds": 500}}, "profiler"),
        ({"ProfilerRuleConfigurations": [{"RuleConfigurationName": "r", "RuleEvaluatorImage": IMAGE}]}, "profiler"),
    ],
)
def test_an_update_that_switches_a_forbidden_feature_on_is_refused_with_tip_on(session, update, rule, mocker):
    client = session.boto_session.client("sagemaker")
    client.create_training_job(**training_request("running"))
    sagemaker_s3ag.patch(identity_propagation=True)
    sending = mocker.spy(botocore.endpoint.Endpoint, "make_request")
    with pytest.raises(ConsiderationError) as err:
        client.update_training_job(TrainingJobName="running", **update)
    assert err.value.rule == rule
    assert str(err.value).endswith("Nothing was updated.")
    assert sending.call_count == 0


def test_an_update_that_switches_features_off_or_with_tip_off_passes(session):
    client = session.boto_session.client("sagemaker")
    client.create_training_job(**training_request("running"))
    sent = recording(client)
    sagemaker_s3ag.patch(identity_propagation=True)
    off = {"RemoteDebugConfig": {"EnableRemoteDebug": False}, "ProfilerConfig": {"DisableProfiler": True}}
    with pytest.raises(NotImplementedError):  # moto has no UpdateTrainingJob: the request got that far
        client.update_training_job(TrainingJobName="running", **off)
    sagemaker_s3ag.patch(identity_propagation=False)
    with pytest.raises(NotImplementedError):
        client.update_training_job(TrainingJobName="running", RemoteDebugConfig={"EnableRemoteDebug": True})
    assert [op for op, _ in sent] == ["UpdateTrainingJob", "UpdateTrainingJob"]


# --------------------------------------------------------------------------- AWS Batch service jobs


def test_an_aws_batch_training_payload_is_settled(batch, access_grants, grant_warnings):
    sagemaker_s3ag.patch(identity_propagation=True)
    payload = training_request("queued-job")
    batch.client.submit_service_job(
        jobName="queued", jobQueue="q", serviceJobType="SAGEMAKER_TRAINING", serviceRequestPayload=json.dumps(payload)
    )
    (sent,) = batch.payloads()
    assert sent["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert "DebugHookConfig" not in sent
    assert tag_map(sent["Tags"])["s3ag:adjustments"] == "pipe-mode debugger profiler remote-debug"


def test_an_aws_batch_payload_that_is_not_json_is_sent_as_it_is(batch, access_grants):
    sagemaker_s3ag.patch(identity_propagation=True)
    batch.client.submit_service_job(
        jobName="q", jobQueue="q", serviceJobType="SAGEMAKER_TRAINING", serviceRequestPayload="{not json"
    )
    assert batch.submitted[0]["serviceRequestPayload"] == "{not json"


# --------------------------------------------------------------------------- pipelines sent by hand


def hand_made_definition() -> str:
    """A definition written by hand: a Pipe-mode training step, and a Pipe-mode processing step in a condition's branch."""
    train = {k: v for k, v in training_request("x").items() if k != "TrainingJobName"}
    prep = {k: v for k, v in processing_request("y").items() if k != "ProcessingJobName"}
    check = {"Conditions": [], "IfSteps": [{"Name": "Prep", "Type": "Processing", "Arguments": prep}], "ElseSteps": []}
    steps = [
        {"Name": "Train", "Type": "Training", "Arguments": train},
        {"Name": "Check", "Type": "Condition", "Arguments": check},
    ]
    return json.dumps({"Version": "2020-12-01", "Parameters": [], "Steps": steps})


def test_a_hand_made_pipeline_definition_is_settled_step_by_step(session, access_grants, grant_warnings):
    sagemaker_s3ag.patch(identity_propagation=True)
    client = session.boto_session.client("sagemaker")
    sent = recording(client)
    client.create_pipeline(PipelineName="by-hand", RoleArn=ROLE, PipelineDefinition=hand_made_definition())
    definition = json.loads(last(sent, "CreatePipeline")["PipelineDefinition"])
    train, check = definition["Steps"]
    assert train["Arguments"]["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert tag_map(train["Arguments"]["Tags"])["s3ag:launched-by"] == "pipeline"
    prep = check["Arguments"]["IfSteps"][0]  # inside a condition's branch too
    assert prep["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
    assert tag_map(prep["Arguments"]["Tags"])["s3ag:adjustments"] == "pipe-mode"
    assert any("pipeline step Train" in w for w in ours(grant_warnings))


def test_a_pipeline_parameter_input_mode_in_a_hand_made_definition_is_refused(session, access_grants):
    sagemaker_s3ag.patch(identity_propagation=True)
    client = session.boto_session.client("sagemaker")
    definition = json.loads(hand_made_definition())
    definition["Steps"][0]["Arguments"]["AlgorithmSpecification"]["TrainingInputMode"] = {"Get": "Parameters.Mode"}
    with pytest.raises(ConsiderationError) as err:
        client.create_pipeline(PipelineName="by-hand", RoleArn=ROLE, PipelineDefinition=json.dumps(definition))
    assert err.value.rule == "pipe-mode"
    assert "pipeline value Parameters.Mode" in str(err.value)
    assert client.list_pipelines()["PipelineSummaries"] == []


def test_update_pipeline_is_settled_too(session, access_grants, grant_warnings):
    client = session.boto_session.client("sagemaker")
    client.create_pipeline(PipelineName="p", RoleArn=ROLE, PipelineDefinition=hand_made_definition())
    sent = recording(client)
    sagemaker_s3ag.patch(identity_propagation=True)
    client.update_pipeline(PipelineName="p", PipelineDefinition=hand_made_definition())
    train = json.loads(last(sent, "UpdatePipeline")["PipelineDefinition"])["Steps"][0]
    assert train["Arguments"]["AlgorithmSpecification"]["TrainingInputMode"] == "File"


def test_a_definition_that_is_not_json_is_sent_as_it_is(session):
    sagemaker_s3ag.patch(identity_propagation=True)
    client = session.boto_session.client("sagemaker")
    sent = recording(client)
    client.create_pipeline(PipelineName="p", RoleArn=ROLE, PipelineDefinition="not json")
    assert last(sent, "CreatePipeline")["PipelineDefinition"] == "not json"


def answered(**_):
    """A ``before-call`` answer for a request that should not reach the emulator."""
    from botocore.awsrequest import AWSResponse

    return AWSResponse("https://sagemaker.invalid/", 200, {}, None), {"ResponseMetadata": {"HTTPStatusCode": 200}}


class TestDefinitionByS3Location:
    """A definition sent by S3 location is read with the sending client's credentials."""

    def put(self, session, text: str) -> dict:
        session.boto_session.client("s3").put_object(Bucket=BUCKET, Key="pipelines/def.json", Body=text.encode())
        return {"Bucket": BUCKET, "ObjectKey": "pipelines/def.json"}

    def test_one_settled_here_passes_as_it_is(self, session, access_grants, grant_warnings):
        sagemaker_s3ag.patch(identity_propagation=True)
        client = session.boto_session.client("sagemaker")
        settled = choke.settle_steps(
            hand_made_definition(),
            lambda _n: choke.Launch(sagemaker_s3ag.Settings(identity_propagation=True), pipeline=True),
            client,
        )
        choke.remember_settled(settled)
        sent = recording(client)
        location = self.put(session, settled)
        client.create_pipeline(PipelineName="p", RoleArn=ROLE, PipelineDefinitionS3Location=location)
        assert last(sent, "CreatePipeline")["PipelineDefinitionS3Location"] == location

    def test_one_made_elsewhere_is_settled_and_sent_inline_with_a_warning(self, session, access_grants, grant_warnings):
        sagemaker_s3ag.patch(identity_propagation=True)
        client = session.boto_session.client("sagemaker")
        sent = recording(client)
        client.create_pipeline(
            PipelineName="p", RoleArn=ROLE, PipelineDefinitionS3Location=self.put(session, hand_made_definition())
        )
        request = last(sent, "CreatePipeline")
        assert "PipelineDefinitionS3Location" not in request
        train = json.loads(request["PipelineDefinition"])["Steps"][0]
        assert train["Arguments"]["AlgorithmSpecification"]["TrainingInputMode"] == "File"
        assert any(w.startswith("[s3ag:pipeline-definition]") and "sent inline" in w for w in ours(grant_warnings))
        stored = session.boto_session.client("s3").get_object(Bucket=BUCKET, Key="pipelines/def.json")["Body"].read()
        assert stored.decode() == hand_made_definition()  # the user's object is left as it was

    def test_one_that_cannot_be_read_is_refused_with_tip_on(self, session, access_grants):
        sagemaker_s3ag.patch(identity_propagation=True)
        client = session.boto_session.client("sagemaker")
        with pytest.raises(ConsiderationError) as err:
            client.create_pipeline(
                PipelineName="p", RoleArn=ROLE, PipelineDefinitionS3Location={"Bucket": BUCKET, "ObjectKey": "missing.json"}
            )
        assert err.value.rule == "pipeline-definition"
        assert "could not be read (NoSuchKey)" in str(err.value)
        assert client.list_pipelines()["PipelineSummaries"] == []

    def test_one_that_cannot_be_read_passes_with_a_warning_with_tip_off(self, session, grant_warnings):
        sagemaker_s3ag.patch(identity_propagation=False)
        client = session.boto_session.client("sagemaker")
        sent = recording(client)
        client.meta.events.register("before-call.sagemaker.CreatePipeline", answered)  # moto itself cannot read it either
        client.create_pipeline(
            PipelineName="p", RoleArn=ROLE, PipelineDefinitionS3Location={"Bucket": BUCKET, "ObjectKey": "missing.json"}
        )
        assert last(sent, "CreatePipeline")["PipelineDefinitionS3Location"]["ObjectKey"] == "missing.json"
        assert any("its jobs carry no s3ag: record" in w for w in ours(grant_warnings))


# --------------------------------------------------------------------------- the wrapper itself


def test_the_choke_point_is_wrapped_once_and_stays_after_unpatch(session, grant_warnings):
    import wrapt

    for _ in range(2):
        sagemaker_s3ag.patch(identity_propagation=True)
        sagemaker_s3ag.unpatch()
    wrapper = vars(botocore.client.BaseClient)["_make_api_call"]
    assert isinstance(wrapper, wrapt.FunctionWrapper)
    assert not isinstance(wrapper.__wrapped__, wrapt.FunctionWrapper)  # once, however often patched
    assert not sagemaker_s3ag.is_patched()


def test_requests_sent_from_threads_are_governed_by_patch(session, access_grants):
    sagemaker_s3ag.patch(identity_propagation=True)
    errors: list[BaseException] = []
    sent_by_thread: dict[int, dict] = {}

    def send(index: int) -> None:
        try:
            client = session.boto_session.client("sagemaker")
            sent = recording(client)
            client.create_processing_job(**processing_request(f"thread-{index}"))
            sent_by_thread[index] = last(sent, "CreateProcessingJob")
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert all(r["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File" for r in sent_by_thread.values())
    assert len(sent_by_thread) == 4


# --------------------------------------------------------------------------- grant-aware objects, with no patch()


def test_a_grant_aware_object_without_patch_leaves_every_other_request_stock(session, access_grants, grant_warnings):
    from sagemaker_s3ag import GrantAwareProcessor

    proc = GrantAwareProcessor(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        identity_propagation=True,
    )
    proc.run(inputs=[pipe_input(TRAIN)], wait=False, logs=False)  # its own request is settled
    assert proc.latest_decision.adjustments == ("pipe-mode",)
    client = session.boto_session.client("sagemaker")
    sent = recording(client)
    client.create_training_job(**training_request("elsewhere"))  # the choke point is installed, and inert here
    assert last(sent, "CreateTrainingJob") == training_request("elsewhere")


def test_a_refusal_comes_before_any_upload_and_any_create(session, access_grants, tmp_path, mocker):
    """A grant-aware ScriptProcessor with local code, refused: botocore sends neither the upload nor the job."""
    from sagemaker_s3ag import grant_aware
    from sagemaker_s3ag.sdk.installed import sdk_class

    script_processor = importlib.import_module(sdk_class("Processor").__module__).ScriptProcessor
    code = tmp_path / "process.py"
    code.write_text("print('hello')\n")
    proc = grant_aware(script_processor)(
        image_uri=IMAGE,
        command=["python3"],
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        identity_propagation=True,
        on_violation="error",
    )
    sending = mocker.spy(botocore.endpoint.Endpoint, "make_request")
    with pytest.raises(ConsiderationError):
        proc.run(code=str(code), inputs=[pipe_input(TRAIN)], wait=False, logs=False)
    sent = [call.args[1].name for call in sending.call_args_list]
    assert not {"PutObject", "CreateMultipartUpload", "CreateProcessingJob"} & set(sent), sent


def test_quality_and_clarify_check_steps_are_settled_as_processing_jobs(session, access_grants, grant_warnings):
    grant_to_the_role(access_grants)  # what a pipeline execution can use
    sagemaker_s3ag.patch(identity_propagation=True)
    client = session.boto_session.client("sagemaker")
    sent = recording(client)
    prep = {k: v for k, v in processing_request("y").items() if k != "ProcessingJobName"}
    steps = [
        {"Name": "Quality", "Type": "QualityCheck", "Arguments": prep},
        {"Name": "Clarify", "Type": "ClarifyCheck", "Arguments": prep},
    ]
    client.create_pipeline(
        PipelineName="checks", RoleArn=ROLE, PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": steps})
    )
    for step in json.loads(last(sent, "CreatePipeline")["PipelineDefinition"])["Steps"]:
        assert step["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
        assert tag_map(step["Arguments"]["Tags"])["s3ag:credentials"] == "access-grants"


def test_a_definition_settled_elsewhere_keeps_its_record_when_settled_again(session, access_grants, grant_warnings):
    """Sent again from another process (or read back with DescribePipeline): what was changed then stays recorded."""
    sagemaker_s3ag.patch(identity_propagation=True)
    client = session.boto_session.client("sagemaker")
    sent = recording(client)
    client.create_pipeline(PipelineName="p", RoleArn=ROLE, PipelineDefinition=hand_made_definition())
    settled = last(sent, "CreatePipeline")["PipelineDefinition"]
    choke._settled.clear()  # as in another process: this one never settled it
    grant_warnings.clear()
    client.update_pipeline(PipelineName="p", PipelineDefinition=settled)
    train = json.loads(last(sent, "UpdatePipeline")["PipelineDefinition"])["Steps"][0]
    assert tag_map(train["Arguments"]["Tags"])["s3ag:adjustments"] == "pipe-mode debugger profiler remote-debug"
    assert not any(w.startswith("[s3ag:tags]") for w in ours(grant_warnings))
