"""The account-wide guard on real-shaped CloudTrail events: verdicts, actions, redelivery, hostile events.

Events come from ``sagemaker_s3ag.testing.cloudtrail`` (shapes cited there). moto emulates SageMaker's
tags and ``StopProcessingJob``, SNS (read back through an SQS subscription) and Security Hub; moto does
not implement ``StopTrainingJob``, so that call is answered by a botocore handler that records it.
"""

from __future__ import annotations

import json

import pytest
from botocore.awsrequest import AWSResponse
from conftest import ACCOUNT, BUCKET, IMAGE, ROLE, tag_map
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sagemaker_s3ag
from sagemaker_s3ag.guard.actions import EVENT_TAG, GUARD_TAG, ActionError, GuardConfig, security_hub_finding
from sagemaker_s3ag.guard.events import EventError, api_request, read_event, read_events
from sagemaker_s3ag.guard.handler import guard
from sagemaker_s3ag.guard.verdict import judge
from sagemaker_s3ag.testing.cloudtrail import (
    USER_ID,
    camel,
    cloudtrail_record,
    eventbridge_event,
    lookup_events_export,
    role_session,
    service_call,
)

CANARY = "fake-guard-canary-not-a-key-0000"  # an obvious fake: never an AWS key id


def training(name: str, *, mode: str = "File", **extra) -> dict:
    return {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": mode},
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/train/"}}}
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out/"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "HyperParameters": {"api_key": CANARY},
        **extra,
    }


def processing(name: str, *inputs: dict) -> dict:
    return {
        "ProcessingJobName": name,
        "RoleArn": ROLE,
        "AppSpecification": {"ImageUri": IMAGE},
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}},
        "ProcessingInputs": list(inputs),
        "Environment": {"DB_PASSWORD": CANARY},
    }


ATHENA = {
    "InputName": "query",
    "DatasetDefinition": {
        "AthenaDatasetDefinition": {
            "Catalog": "AwsDataCatalog",
            "Database": "sales",
            "QueryString": "SELECT * FROM orders",
            "OutputS3Uri": f"s3://{BUCKET}/athena/",
            "OutputFormat": "PARQUET",
        },
        "LocalPath": "/opt/ml/processing/query",
    },
}
DEBUGGER_RULES = {
    "DebugHookConfig": {"S3OutputPath": f"s3://{BUCKET}/debug/"},
    "DebugRuleConfigurations": [
        {
            "RuleConfigurationName": "LossNotDecreasing",
            "RuleEvaluatorImage": IMAGE,
            "RuleParameters": {"rule_to_invoke": "LossNotDecreasing"},
        }
    ],
}


def event(operation: str, request: dict, **kwargs) -> dict:
    return eventbridge_event(cloudtrail_record(operation, request, **kwargs))


# --------------------------------------------------------------------------- AWS (moto)


@pytest.fixture
def aws(session):
    """Clients on the emulator: SageMaker (with a recorded StopTrainingJob), SNS read through SQS, Security Hub."""
    boto = session.boto_session
    sns, sqs = boto.client("sns"), boto.client("sqs")
    topic = sns.create_topic(Name="s3ag-guard")["TopicArn"]
    queue = sqs.create_queue(QueueName="s3ag-guard-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    sagemaker = boto.client("sagemaker")
    stopped: list[str] = []

    def stop_training_job(params, **_):  # moto does not implement StopTrainingJob: answered here
        stopped.append(params["TrainingJobName"])

    sagemaker.meta.events.register("provide-client-params.sagemaker.StopTrainingJob", stop_training_job)
    sagemaker.meta.events.register(
        "before-call.sagemaker.StopTrainingJob",
        lambda **_: (AWSResponse("https://sagemaker.invalid/", 200, {}, None), {"ResponseMetadata": {"HTTPStatusCode": 200}}),
    )

    class AWS:
        clients = {"sagemaker": sagemaker, "sns": sns, "securityhub": boto.client("securityhub")}
        topic_arn = topic
        stopped_training = stopped

        @staticmethod
        def messages() -> list[dict]:
            found = []
            while True:
                batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
                if not batch:
                    return found
                for item in batch:
                    found.append(json.loads(item["Body"]))
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=item["ReceiptHandle"])

        @staticmethod
        def tags(arn: str) -> dict[str, str]:
            return tag_map(sagemaker.list_tags(ResourceArn=arn)["Tags"])

        @staticmethod
        def create(operation: str, request: dict) -> str:
            method = {"CreateTrainingJob": "create_training_job", "CreateProcessingJob": "create_processing_job"}[operation]
            response = getattr(sagemaker, method)(**request)
            return response.get("TrainingJobArn") or response["ProcessingJobArn"]

    return AWS


def config(aws, **overrides) -> GuardConfig:
    return GuardConfig(**{"topic_arn": aws.topic_arn, **overrides})


# --------------------------------------------------------------------------- the cases of the issue


def sent_by_the_plugin(session, request: dict) -> dict:
    """``request`` as sagemaker-s3ag sends it with TIP on (a raw client under patched(): the choke point)."""
    client = session.boto_session.client("sagemaker")
    sent: list[dict] = []
    client.meta.events.register(
        "before-parameter-build.sagemaker", lambda params, **_: sent.append(json.loads(json.dumps(params)))
    )
    with sagemaker_s3ag.patched(identity_propagation=True, on_fallback="allow"):
        client.create_training_job(**request)
    return sent[-1]


def test_a_compliant_recorded_job_is_ok_and_tagged(session, aws):
    sent = sent_by_the_plugin(session, training("guard-ok", mode="Pipe", **DEBUGGER_RULES))
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/guard-ok"
    summary = guard(event("CreateTrainingJob", sent), config(aws), clients=aws.clients)
    assert (summary["outcome"], summary["tag"]) == ("ok", "ok")
    assert aws.tags(arn)[GUARD_TAG] == "ok"
    assert aws.tags(arn)["s3ag:credentials"] == "access-grants"  # the user's and the plugin's tags untouched
    assert aws.messages() == [] and aws.stopped_training == []  # notify not-ok: nothing to say


def test_a_pipe_mode_job_from_cloudformation(session, aws):
    request = training("guard-cfn-pipe", mode="Pipe")
    arn = aws.create("CreateTrainingJob", request)
    cfn = event("CreateTrainingJob", request, identity=service_call("cloudformation.amazonaws.com"))

    auto = guard(cfn, config(aws), clients=aws.clients)
    assert auto["outcome"] == "unrecorded"
    assert any("no onBehalfOf" in note for note in auto["notes"])

    everyone = guard(
        event("CreateTrainingJob", request, identity=service_call("cloudformation.amazonaws.com")),
        config(aws, identity_propagation="on"),
        clients=aws.clients,
    )
    assert everyone["tag"] == "violation pipe-mode"
    assert aws.tags(arn)[GUARD_TAG] == "violation pipe-mode"
    (first, second) = aws.messages()
    assert first["status"] == "unrecorded" and second["status"] == "violation"
    assert second["invokedBy"] == "cloudformation.amazonaws.com" and second["identity"] is None


def test_a_job_with_debugger_rules_is_reported_and_stopped(session, aws):
    request = training("guard-debugger", **DEBUGGER_RULES)
    arn = aws.create("CreateTrainingJob", request)
    summary = guard(event("CreateTrainingJob", request), config(aws, stop="violation"), clients=aws.clients)
    assert summary["tag"] == "violation debugger"
    assert aws.stopped_training == ["guard-debugger"]
    (message,) = aws.messages()
    assert message["identity"] == {"userId": USER_ID, "identityStoreArn": message["identity"]["identityStoreArn"]}
    assert {f["where"] for f in message["findings"]} == {"DebugHookConfig", "DebugRuleConfigurations"}
    assert aws.tags(arn)[GUARD_TAG] == "violation debugger"


def test_a_processing_job_with_a_dataset_definition(session, aws):
    request = processing("guard-athena", ATHENA)
    arn = aws.create("CreateProcessingJob", request)
    summary = guard(event("CreateProcessingJob", request), config(aws, stop="violation"), clients=aws.clients)
    assert summary["tag"] == "violation dataset-definition"
    assert session.sagemaker_client.describe_processing_job(ProcessingJobName="guard-athena")["ProcessingJobStatus"] == "Stopped"
    assert aws.tags(arn)[GUARD_TAG] == "violation dataset-definition"


def test_an_unrecorded_job(session, aws):
    request = training("guard-unrecorded")
    arn = aws.create("CreateTrainingJob", request)
    summary = guard(event("CreateTrainingJob", request), config(aws, stop="violation"), clients=aws.clients)
    assert (summary["outcome"], summary["findings"]) == ("unrecorded", [])
    assert aws.stopped_training == []  # stop=violation leaves it running
    assert aws.tags(arn)[GUARD_TAG] == "unrecorded"
    (message,) = aws.messages()
    assert message["status"] == "unrecorded"


def test_not_ok_stops_unrecorded_jobs_too(session, aws):
    request = training("guard-not-ok")
    aws.create("CreateTrainingJob", request)
    guard(event("CreateTrainingJob", request), config(aws, stop="not-ok"), clients=aws.clients)
    assert aws.stopped_training == ["guard-not-ok"]


def test_a_redacted_event_is_unchecked_never_ok(session, aws):
    request = training("guard-redacted")
    arn = aws.create("CreateTrainingJob", request)
    record = cloudtrail_record("CreateTrainingJob", request)
    record["requestParameters"]["inputDataConfig"] = "HIDDEN_DUE_TO_SECURITY_REASONS"
    summary = guard(eventbridge_event(record), config(aws), clients=aws.clients)
    assert summary["outcome"] == "unchecked"
    assert "CloudTrail withheld what the rules read: InputDataConfig" in summary["notes"]
    assert aws.tags(arn)[GUARD_TAG] == "unchecked"

    withheld_parameters = cloudtrail_record("CreateTrainingJob", request)
    withheld_parameters["requestParameters"] = None
    assert guard(eventbridge_event(withheld_parameters), GuardConfig())["outcome"] == "unchecked"


def test_hidden_hyperparameters_hide_nothing_the_rules_read():
    record = cloudtrail_record("CreateTrainingJob", training("guard-hp"))
    record["requestParameters"]["hyperParameters"] = {"api_key": "HIDDEN_DUE_TO_SECURITY_REASONS"}
    assert judge(read_event(record)).status == "unrecorded"


def test_the_same_event_delivered_twice_acts_once(session, aws):
    request = training("guard-twice", **DEBUGGER_RULES)
    arn = aws.create("CreateTrainingJob", request)
    delivered = event("CreateTrainingJob", request)
    first = guard(delivered, config(aws, security_hub=True), clients=aws.clients)
    again = guard(json.loads(json.dumps(delivered)), config(aws, security_hub=True), clients=aws.clients)
    assert first["outcome"] == "violation" and again["outcome"] == "duplicate"
    assert len(aws.messages()) == 1
    assert aws.tags(arn)[EVENT_TAG] == f"{delivered['detail']['eventTime']} {delivered['detail']['eventID']}"
    tags = aws.clients["sagemaker"].list_tags(ResourceArn=arn)["Tags"]
    assert [t["Key"] for t in tags].count(GUARD_TAG) == 1
    findings = aws.clients["securityhub"].get_findings()["Findings"]
    assert [f["Id"] for f in findings if f["Id"].endswith(delivered["detail"]["eventID"])] == [
        f"s3ag-guard/{delivered['detail']['eventID']}"
    ]


def test_a_pipeline_definition_with_a_bad_step(session, aws):
    good = {k: v for k, v in sent_by_the_plugin(session, training("guard-pipe-good")).items() if k != "TrainingJobName"}
    bad = {k: v for k, v in training("x", mode="Pipe", **DEBUGGER_RULES).items() if k != "TrainingJobName"}
    definition = {
        "Version": "2020-12-01",
        "Steps": [
            {"Name": "Prepare", "Type": "Training", "Arguments": good},
            {
                "Name": "Check",
                "Type": "Condition",
                "Arguments": {
                    "Conditions": [],
                    "IfSteps": [{"Name": "Train", "Type": "Training", "Arguments": bad}],
                    "ElseSteps": [],
                },
            },
        ],
    }
    request = {"PipelineName": "guard-pipeline", "RoleArn": ROLE, "PipelineDefinition": json.dumps(definition)}
    arn = session.sagemaker_client.create_pipeline(**request)["PipelineArn"]
    summary = guard(event("CreatePipeline", request), config(aws, stop="violation"), clients=aws.clients)
    assert summary["tag"] == "violation debugger pipe-mode"
    assert all(f.split("] ", 1)[1].startswith("pipeline step Train: ") for f in summary["findings"])
    assert any("stop" in a for a in summary["actions"]) is False  # a pipeline is tagged, not stopped
    assert aws.tags(arn)[GUARD_TAG] == "violation debugger pipe-mode"


def test_a_definition_in_s3_is_unchecked_and_never_read():
    request = {"PipelineName": "p", "RoleArn": ROLE, "PipelineDefinitionS3Location": {"Bucket": BUCKET, "ObjectKey": "p.json"}}
    verdict = judge(read_event(cloudtrail_record("CreatePipeline", request)))
    assert verdict.status == "unchecked"
    assert verdict.notes == (f"the definition is passed by S3 location (s3://{BUCKET}/p.json); the guard does not read S3",)


def test_a_forged_record_is_a_violation_and_named():
    tags = [{"Key": "s3ag:identity-propagation", "Value": "enabled"}, {"Key": "s3ag:version", "Value": "9.9"}]
    record = cloudtrail_record("CreateTrainingJob", training("forged", mode="Pipe", Tags=tags), identity=role_session())
    verdict = judge(read_event(record))
    assert verdict.status == "violation" and verdict.recorded
    assert any("forged" in note for note in verdict.notes)


def test_a_failed_call_is_skipped():
    record = cloudtrail_record("CreateTrainingJob", training("refused", mode="Pipe"), error_code="ValidationException")
    summary = guard(eventbridge_event(record), GuardConfig(stop="violation"))
    assert (summary["outcome"], summary["actions"]) == ("skipped", [])


# --------------------------------------------------------------------------- actions under faults and limits


def test_a_failed_publish_leaves_the_event_unmarked_for_redelivery(session, aws):
    request = training("guard-retry", **DEBUGGER_RULES)
    arn = aws.create("CreateTrainingJob", request)
    delivered = event("CreateTrainingJob", request)
    missing_topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:no-such-topic"
    with pytest.raises(ActionError, match="publish"):
        guard(delivered, config(aws, topic_arn=missing_topic), clients=aws.clients)
    assert GUARD_TAG not in aws.tags(arn)
    assert guard(delivered, config(aws), clients=aws.clients)["outcome"] == "violation"  # Lambda's retry
    assert aws.tags(arn)[GUARD_TAG] == "violation debugger" and len(aws.messages()) == 1


@pytest.mark.parametrize("users", [48, 49, 50])
def test_tags_never_exceed_fifty_nor_clobber_a_users_tag(session, aws, users):
    tags = [{"Key": f"team:{i}", "Value": str(i)} for i in range(users)]
    request = training(f"guard-full-{users}", Tags=tags)
    arn = aws.create("CreateTrainingJob", request)
    summary = guard(event("CreateTrainingJob", request), config(aws), clients=aws.clients)
    after = aws.clients["sagemaker"].list_tags(ResourceArn=arn, MaxResults=100)["Tags"]
    assert len(after) <= 50
    assert [t for t in after if t["Key"].startswith("team:")] == tags
    assert (GUARD_TAG in tag_map(after)) == (users < 50)
    if users == 50:
        assert any("not tagged: it already has 50 tags" in a for a in summary["actions"])


def test_published_findings_and_logs_hold_no_request_values(session, aws, caplog):
    request = training("guard-canary", **DEBUGGER_RULES)
    aws.create("CreateTrainingJob", request)
    caplog.set_level("INFO")
    summary = guard(event("CreateTrainingJob", request), config(aws, security_hub=True), clients=aws.clients)
    published = json.dumps(aws.messages()) + json.dumps(aws.clients["securityhub"].get_findings()["Findings"])
    for text in (published, json.dumps(summary), caplog.text):
        assert CANARY not in text


def test_security_hub_finding_is_valid_asff():
    record = cloudtrail_record("CreateTrainingJob", training("asff", mode="Pipe"))
    call = read_event(record)
    finding = security_hub_finding(call, judge(call))
    assert finding["CreatedAt"] == finding["UpdatedAt"] == record["eventTime"]  # a redelivery is identical
    assert finding["ProductArn"] == f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default"
    assert finding["Severity"] == {"Label": "HIGH"} and finding["Resources"][0]["Type"] == "Other"


# --------------------------------------------------------------------------- reading events


def test_request_parameters_read_back_exactly():
    request = training("roundtrip", mode="Pipe", **DEBUGGER_RULES, Environment={"lowerKey": "v", "UPPER": "w"})
    assert api_request(camel(request)) == request


@pytest.mark.parametrize(
    "bad, outcome",
    [
        (None, "malformed"),
        ("CreateTrainingJob", "malformed"),
        ([], "malformed"),
        ({"detail-type": "AWS API Call via CloudTrail", "detail": "x"}, "malformed"),
        ({"detail-type": "AWS API Call via CloudTrail", "detail": {}}, "malformed"),
        (
            {
                "detail-type": "AWS API Call via CloudTrail",
                "detail": {"eventSource": "sagemaker.amazonaws.com", "eventName": "CreateTrainingJob"},
            },
            "malformed",
        ),
        (
            {
                "detail-type": "AWS API Call via CloudTrail",
                "detail": {"eventSource": "sagemaker.amazonaws.com", "eventName": "DeleteModel", "eventID": "1"},
            },
            "ignored",
        ),
        (
            {
                "detail-type": "AWS API Call via CloudTrail",
                "detail": {"eventSource": "s3.amazonaws.com", "eventName": "CreateBucket", "eventID": "1"},
            },
            "ignored",
        ),
    ],
)
def test_a_malformed_or_foreign_event_is_counted_never_raised(bad, outcome, capsys):
    summary = guard(bad, GuardConfig(), metrics=True)
    assert summary["outcome"] == outcome
    metric = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metric["Outcome"] == outcome and metric["Events"] == 1


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.just("HIDDEN_DUE_TO_SECURITY_REASONS"),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "inputDataConfig",
                    "algorithmSpecification",
                    "trainingInputMode",
                    "dataSource",
                    "s3DataSource",
                    "s3Uri",
                    "tags",
                    "key",
                    "value",
                    "processingInputs",
                    "datasetDefinition",
                    "pipelineDefinition",
                    "debugHookConfig",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    operation=st.sampled_from(
        ["CreateTrainingJob", "CreateProcessingJob", "CreateHyperParameterTuningJob", "CreatePipeline", "UpdatePipeline"]
    ),
    parameters=JSON,
    identity=JSON,
)
def test_any_event_content_gives_a_verdict_never_a_traceback(operation, parameters, identity):
    record = cloudtrail_record(operation, {})
    record["requestParameters"], record["userIdentity"] = parameters, identity
    summary = guard(eventbridge_event(record), GuardConfig(identity_propagation="on", stop="not-ok"))
    assert summary["outcome"] in ("ok", "violation", "unrecorded", "unchecked", "skipped")  # skipped: an update


def test_saved_event_files_of_every_shape(tmp_path):
    records = [cloudtrail_record("CreateTrainingJob", training(f"saved-{i}")) for i in range(3)]
    shapes = {
        "list": json.dumps([eventbridge_event(r) for r in records]),
        "lines": "\n".join(json.dumps(eventbridge_event(r)) for r in records),
        "trail log": json.dumps({"Records": records}),
        "lookup-events": json.dumps(lookup_events_export(records)),
    }
    for text in shapes.values():
        assert [read_event(e).name for e in read_events(text)] == ["saved-0", "saved-1", "saved-2"]
    with pytest.raises(EventError, match="line 2 is not JSON"):
        list(read_events('{"a": 1}\nnot json'))


def test_settings_from_the_environment_are_checked():
    assert GuardConfig.from_environment({"S3AG_GUARD_STOP": "violation", "S3AG_GUARD_TAG": "false"}) == GuardConfig(
        stop="violation", tag=False
    )
    for bad in (
        {"S3AG_GUARD_STOP": "yes"},
        {"S3AG_GUARD_TAG": "maybe"},
        {"S3AG_GUARD_NOTIFY": "everything"},
        {"S3AG_GUARD_IDENTITY_PROPAGATION": "always"},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            GuardConfig.from_environment(bad)


def test_a_tuning_job_is_judged_by_its_training_definitions():
    request = {
        "HyperParameterTuningJobName": "tune-pipe",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
        },
        "TrainingJobDefinition": {
            k: v for k, v in training("x", mode="Pipe").items() if k not in ("TrainingJobName", "HyperParameters")
        },
    }
    summary = guard(event("CreateHyperParameterTuningJob", request), GuardConfig(stop="violation"))
    assert summary["tag"] == "violation pipe-mode"
    assert summary["findings"][0].startswith("[s3ag:pipe-mode] TrainingJobDefinition.AlgorithmSpecification")
    assert "would stop tuning job tune-pipe" in summary["actions"]
    assert summary["arn"] == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:hyper-parameter-tuning-job/tune-pipe"


# --------------------------------------------------------------------------- found by review


def test_an_event_name_of_any_json_type_is_malformed_not_a_crash():
    for name in (["CreateTrainingJob"], {"a": 1}, 7, None):
        bad = {
            "detail-type": "AWS API Call via CloudTrail",
            "detail": {"eventSource": "sagemaker.amazonaws.com", "eventName": name},
        }
        assert guard(bad, GuardConfig())["outcome"] == "malformed"


RECORD_FIELDS = st.sampled_from(
    [
        "eventName",
        "eventSource",
        "eventID",
        "eventTime",
        "userIdentity",
        "requestParameters",
        "responseElements",
        "errorCode",
        "awsRegion",
        "recipientAccountId",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.dictionaries(RECORD_FIELDS, JSON, max_size=4), wrapped=st.booleans())
def test_any_record_field_of_any_json_type_gives_an_outcome(fields, wrapped):
    record = {**cloudtrail_record("CreateTrainingJob", training("fuzz", mode="Pipe")), **fields}
    delivered = eventbridge_event(record) if wrapped else record
    summary = guard(delivered, GuardConfig(identity_propagation="on", stop="not-ok", security_hub=True, topic_arn="t"))
    assert summary["outcome"] in ("ok", "no-tip", "violation", "unrecorded", "unchecked", "skipped", "malformed", "ignored")


def definition_of(*steps: dict) -> str:
    return json.dumps({"Version": "2020-12-01", "Steps": list(steps)})


def test_a_late_redelivery_cannot_undo_a_later_verdict(session, aws):
    good = {k: v for k, v in sent_by_the_plugin(session, training("guard-late-good")).items() if k != "TrainingJobName"}
    bad = {**good, "DebugHookConfig": {"S3OutputPath": f"s3://{BUCKET}/debug/"}}
    create = {
        "PipelineName": "guard-late",
        "RoleArn": ROLE,
        "PipelineDefinition": definition_of({"Name": "T", "Type": "Training", "Arguments": good}),
    }
    arn = session.sagemaker_client.create_pipeline(**create)["PipelineArn"]
    created = event("CreatePipeline", create, event_time="2026-12-07T09:00:00Z")
    updated = event(
        "UpdatePipeline",
        {**create, "PipelineDefinition": definition_of({"Name": "T", "Type": "Training", "Arguments": bad})},
        event_time="2026-12-07T09:05:00Z",
    )
    assert guard(updated, config(aws), clients=aws.clients)["outcome"] == "violation"
    late = guard(created, config(aws), clients=aws.clients)  # the create, delivered again, after the update
    assert late["outcome"] == "superseded"
    assert aws.tags(arn)[GUARD_TAG] == "violation debugger"


def test_an_update_that_leaves_the_definition_keeps_the_verdict(session, aws):
    bad = {k: v for k, v in training("x", **DEBUGGER_RULES).items() if k != "TrainingJobName"}
    create = {
        "PipelineName": "guard-rename",
        "RoleArn": ROLE,
        "PipelineDefinition": definition_of({"Name": "T", "Type": "Training", "Arguments": bad}),
    }
    arn = session.sagemaker_client.create_pipeline(**create)["PipelineArn"]
    guard(event("CreatePipeline", create, event_time="2026-12-07T09:00:00Z"), config(aws), clients=aws.clients)
    renamed = guard(
        event(
            "UpdatePipeline",
            {"PipelineName": "guard-rename", "PipelineDisplayName": "Renamed"},
            event_time="2026-12-07T09:10:00Z",
        ),
        config(aws),
        clients=aws.clients,
    )
    assert renamed["outcome"] == "skipped" and renamed["actions"] == []
    assert aws.tags(arn)[GUARD_TAG] == "violation debugger" and len(aws.messages()) == 1


def test_an_event_that_names_no_job_is_tagged_not_retried_forever(session, aws):
    request = training("guard-nameless")
    arn = aws.create("CreateTrainingJob", request)
    record = cloudtrail_record("CreateTrainingJob", request)
    record["requestParameters"] = None  # withheld, while the response still names the ARN
    summary = guard(eventbridge_event(record), config(aws, stop="not-ok"), clients=aws.clients)
    assert summary["outcome"] == "unchecked" and "not stopped: the event does not name the job" in summary["actions"]
    assert aws.tags(arn)[GUARD_TAG] == "unchecked" and aws.stopped_training == []


@pytest.mark.parametrize("users", [45, 47, 49])
def test_the_plugins_record_survives_a_crowd_of_user_tags(session, users):
    tags = [{"Key": f"team:{i}", "Value": str(i)} for i in range(users)]
    sent = sent_by_the_plugin(session, training(f"guard-crowd-{users}", Tags=tags))
    ours = [t["Key"] for t in sent["Tags"] if t["Key"].startswith("s3ag:")]
    assert ours[0] == "s3ag:identity-propagation" and len(sent["Tags"]) == 50
    assert judge(read_event(cloudtrail_record("CreateTrainingJob", sent))).status == "ok"


@pytest.mark.parametrize("arguments", ["HIDDEN_DUE_TO_SECURITY_REASONS", None, [], "{}"])
def test_a_job_step_whose_arguments_cannot_be_read_is_unchecked(arguments):
    request = {
        "PipelineName": "p",
        "RoleArn": ROLE,
        "PipelineDefinition": definition_of({"Name": "Odd", "Type": "Processing", "Arguments": arguments}),
    }
    verdict = judge(read_event(cloudtrail_record("CreatePipeline", request)))
    assert verdict.status == "unchecked" and "job steps whose Arguments cannot be read: Odd" in verdict.notes


def test_update_training_job_switching_on_remote_debugging(session, aws):
    sent = sent_by_the_plugin(session, training("guard-update"))
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/guard-update"
    update = {"TrainingJobName": "guard-update", "RemoteDebugConfig": {"EnableRemoteDebug": True}}
    by_admin = event("UpdateTrainingJob", update, identity=role_session("ml-admin"))  # no onBehalfOf: the job's record says TIP
    summary = guard(by_admin, config(aws, stop="violation"), clients=aws.clients)
    assert summary["tag"] == "violation remote-debug" and aws.stopped_training == ["guard-update"]
    assert sent["Tags"] and aws.tags(arn)[GUARD_TAG] == "violation remote-debug"
    harmless = guard(
        event("UpdateTrainingJob", {"TrainingJobName": "guard-update", "ResourceConfig": {"KeepAlivePeriodInSeconds": 60}}),
        config(aws),
        clients=aws.clients,
    )
    assert harmless["outcome"] == "skipped" and aws.tags(arn)[GUARD_TAG] == "violation remote-debug"


def test_a_recorded_job_without_tip_is_no_tip_not_ok():
    tags = [{"Key": "s3ag:identity-propagation", "Value": "disabled"}, {"Key": "s3ag:version", "Value": "0.1.0"}]
    record = cloudtrail_record("CreateTrainingJob", training("plain", mode="Pipe", Tags=tags), identity=role_session())
    verdict = judge(read_event(record))
    assert (verdict.status, verdict.tag_value, verdict.rules_applied) == ("no-tip", "no-tip", False)


def test_the_lambda_entry_logs_each_summary(monkeypatch, aws, session):
    import logging

    from sagemaker_s3ag.guard import handler as module

    monkeypatch.setattr(module, "_clients", aws.clients)
    monkeypatch.setattr(logging.getLogger(), "level", logging.WARNING)  # Lambda's runtime default
    monkeypatch.setattr(logging.getLogger("sagemaker_s3ag"), "level", logging.NOTSET)
    monkeypatch.setenv("S3AG_GUARD_TAG", "false")
    request = training("guard-entry")
    module.handler(event("CreateTrainingJob", request), None)
    assert logging.getLogger("sagemaker_s3ag.guard.handler").isEnabledFor(logging.INFO)


def test_a_gzipped_trail_log_file_replays(tmp_path):
    import gzip

    records = [cloudtrail_record("CreateTrainingJob", training("gz"))]
    assert [read_event(e).name for e in read_events(gzip.compress(json.dumps({"Records": records}).encode()))] == ["gz"]
    with pytest.raises(EventError, match="not a readable gzip file"):
        list(read_events(b"\x1f\x8b broken"))
