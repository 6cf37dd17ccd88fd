"""The fault-and-input matrix: every location kind, every S3 Access Grants answer, every ``on_fallback``.

Each cell sends one request through the choke point (a raw boto3 client under ``patched()``), whose
only ungranted location is the one under test, in bucket ``FAULTY``; every other location sits
in a bucket granted to the role. S3 Access Grants answers for ``FAULTY`` as the cell says: a grant,
no grant, throttling, a server error, a refused connection, or no answer at all. Each cell asserts
the recorded verdict, the warning or the refusal, that nothing was created on a refusal, and that
the cell took no longer than its preflight budget (plus slack).
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError
from conftest import BUCKET, IMAGE, ROLE, tag_map

import sagemaker_s3ag
from sagemaker_s3ag import GrantAwareWarning, GrantFallbackError
from sagemaker_s3ag.core.preflight import clear_cache

pytestmark = pytest.mark.usefixtures("unpatch_after")

OK = BUCKET  # granted READWRITE to the role
FAULTY = "s3ag-faulty"  # answered as the cell says
SLACK = 4.0  # a busy 2-CPU machine: moto, botocore and our threads, beyond the budget itself


def budget(fault: str) -> float:
    """A short budget where the answer is ``unknown`` anyway (the point: no longer than it); a roomy
    one where an answer must arrive, so a busy machine cannot turn a grant into ``unknown``."""
    return 10.0 if fault in ("granted", "no grant") else 1.0


FAULTS = ("granted", "no grant", "throttled", "5xx", "connection refused", "hanging")
POLICIES = ("allow", "warn", "deny")
TALLY: Counter[str] = Counter()  # cells run, by fault (README's reliability figures)


# --------------------------------------------------------------------------- the answers


class FaultyAccessGrants:
    """GetDataAccess for ``FAULTY`` answered per ``fault``; everything else granted to the role."""

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.released = threading.Event()

    def answer(self, params: dict[str, Any], **_: Any) -> Any:
        target = str((params.get("query_string") or {}).get("target", ""))
        if not target.startswith(f"s3://{FAULTY}/") or self.fault == "granted":
            return None  # the table behind answers: a grant
        if self.fault == "connection refused":
            raise EndpointConnectionError(endpoint_url=f"https://123456789012.s3-control.us-east-1.amazonaws.com/{FAULTY}")
        if self.fault == "hanging":
            self.released.wait(30)
        code, status, message = {
            "no grant": ("AccessDenied", 403, f"You do not have READ permissions to the requested S3 Prefix: {target}"),
            "throttled": ("SlowDown", 503, "Please reduce your request rate."),
            "5xx": ("InternalError", 500, "We encountered an internal error."),
            "hanging": ("InternalError", 500, "released"),
        }[self.fault]
        parsed = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0},
        }
        return AWSResponse("https://fake.invalid/", status, {}, None), parsed


@pytest.fixture
def cell(session, access_grants, request):
    """The table behind: READWRITE on ``OK`` and on ``FAULTY`` to the role; a fault put in front of it."""
    clear_cache()
    access_grants.grants.clear()
    access_grants.grant(f"s3://{OK}/*", "READWRITE", grantee_type="IAM")
    access_grants.grant(f"s3://{FAULTY}/*", "READWRITE", grantee_type="IAM")
    faults: list[FaultyAccessGrants] = []

    def install(fault: str) -> FaultyAccessGrants:
        faulty = FaultyAccessGrants(fault)
        for events in (session.boto_session.events, session.sagemaker_client.meta.events):
            events.register_first("before-call.s3-control.GetDataAccess", faulty.answer, unique_id="s3ag-fault-matrix")
        faults.append(faulty)
        return faulty

    yield install
    for faulty in faults:
        faulty.released.set()
    for events in (session.boto_session.events, session.sagemaker_client.meta.events):
        events.unregister("before-call.s3-control.GetDataAccess", unique_id="s3ag-fault-matrix")


# --------------------------------------------------------------------------- the location kinds


@dataclass(frozen=True)
class Kind:
    """A location kind: the request that holds it, how to send it, where its record lands."""

    name: str
    operation: str
    build: Callable[[Any], dict]
    pipeline: bool = False  # a pipeline value: known in part only; a job of a pipeline execution


def channel(uri: str, data_type: str = "S3Prefix") -> dict:
    return {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": uri}}}


def training(name: str, channels: list[dict], output: str = f"s3://{OK}/out/", **extra: Any) -> dict:
    return {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        **extra,
    }


def processing(name: str, source: str = f"s3://{OK}/raw/", destination: str = f"s3://{OK}/clean/") -> dict:
    return {
        "ProcessingJobName": name,
        "RoleArn": ROLE,
        "AppSpecification": {"ImageUri": IMAGE},
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}},
        "ProcessingInputs": [
            {
                "InputName": "raw",
                "S3Input": {
                    "S3Uri": source,
                    "LocalPath": "/opt/ml/processing/in",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "clean",
                    "S3Output": {"S3Uri": destination, "LocalPath": "/opt/ml/processing/out", "S3UploadMode": "EndOfJob"},
                }
            ]
        },
    }


def manifest_channel(session) -> dict:
    """A manifest in the granted bucket, listing data in ``FAULTY``."""
    listing = [{"prefix": f"s3://{FAULTY}/images/"}, "a.jpg", "b.jpg"]
    session.boto_session.client("s3").put_object(Bucket=OK, Key="train.manifest", Body=json.dumps(listing).encode())
    return channel(f"s3://{OK}/train.manifest", "ManifestFile")


def pipeline_definition(name: str) -> dict:
    head = {"Std:Join": {"On": "/", "Values": [f"s3://{FAULTY}/data", {"Get": "Execution.PipelineExecutionId"}]}}
    arguments = {k: v for k, v in training(name, [channel(head)]).items() if k != "TrainingJobName"}  # type: ignore[arg-type]
    return {
        "PipelineName": name,
        "RoleArn": ROLE,
        "PipelineDefinition": json.dumps(
            {"Version": "2020-12-01", "Steps": [{"Name": "Train", "Type": "Training", "Arguments": arguments}]}
        ),
    }


KINDS = (
    Kind("channel", "create_training_job", lambda s: training("t", [channel(f"s3://{FAULTY}/train/")])),
    Kind("output", "create_training_job", lambda s: training("t", [channel(f"s3://{OK}/train/")], output=f"s3://{FAULTY}/out/")),
    Kind(
        "checkpoint",
        "create_training_job",
        lambda s: training("t", [channel(f"s3://{OK}/train/")], CheckpointConfig={"S3Uri": f"s3://{FAULTY}/checkpoints/"}),
    ),
    Kind("processing input", "create_processing_job", lambda s: processing("p", source=f"s3://{FAULTY}/raw/")),
    Kind("processing output", "create_processing_job", lambda s: processing("p", destination=f"s3://{FAULTY}/clean/")),
    Kind("manifest", "create_training_job", lambda s: training("t", [manifest_channel(s)])),
    Kind(
        "https URL",
        "create_training_job",
        lambda s: training("t", [channel(f"https://{FAULTY}.s3.us-east-1.amazonaws.com/train/")]),
    ),
    Kind("pipeline value", "create_pipeline", lambda s: pipeline_definition("p"), pipeline=True),
)


def expected_credentials(kind: Kind, fault: str) -> str:
    if fault == "granted":
        return "access-grants"
    if fault == "no grant" and not kind.pipeline:  # a pipeline value's head without a grant proves nothing
        return "mixed"
    return "unknown"


def recorded(session, kind: Kind, sent: dict) -> dict[str, str]:
    if kind.pipeline:
        (step,) = json.loads(sent["PipelineDefinition"])["Steps"]
        return tag_map(step["Arguments"]["Tags"])
    return tag_map(sent["Tags"])


def created(session, kind: Kind) -> int:
    client = session.sagemaker_client
    return {
        "create_training_job": lambda: len(client.list_training_jobs()["TrainingJobSummaries"]),
        "create_processing_job": lambda: len(client.list_processing_jobs()["ProcessingJobSummaries"]),
        "create_pipeline": lambda: len(client.list_pipelines()["PipelineSummaries"]),
    }[kind.operation]()


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_cell(session, cell, kind, fault, policy):
    session.boto_session.client("s3").create_bucket(Bucket=FAULTY)
    cell(fault)
    client = session.boto_session.client("sagemaker")
    sent: list[dict] = []
    client.meta.events.register(
        "before-parameter-build.sagemaker", lambda params, **_: sent.append(json.loads(json.dumps(params)))
    )
    request = kind.build(session)
    credentials = expected_credentials(kind, fault)
    refuse = policy == "deny" and credentials != "access-grants"

    started = time.monotonic()
    with (
        warnings.catch_warnings(record=True) as caught,
        sagemaker_s3ag.patched(identity_propagation=True, on_fallback=policy, preflight_timeout=budget(fault)),
    ):
        warnings.simplefilter("always", GrantAwareWarning)
        if refuse:
            with pytest.raises(GrantFallbackError):
                getattr(client, kind.operation)(**request)
        else:
            getattr(client, kind.operation)(**request)
    elapsed = time.monotonic() - started
    TALLY[fault] += 1

    assert elapsed < budget(fault) + SLACK
    fallback_warnings = [w for w in caught if str(w.message).startswith("[s3ag:fallback]")]
    if refuse:
        assert created(session, kind) == 0 and sent == []  # refused before the call: nothing sent, nothing created
        return
    assert created(session, kind) == 1
    assert recorded(session, kind, sent[-1])["s3ag:credentials"] == credentials, recorded(session, kind, sent[-1])
    assert len(fallback_warnings) == (policy == "warn" and credentials != "access-grants")
