"""Shared fixtures: an emulated AWS (moto) SageMaker session and a clean TIP environment.

Tests at this level run on either SDK major; ``v2/`` and ``v3/`` hold the tests of one major's
adapters and are collected only where that major is installed (``nox`` runs both environments).
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

from sagemaker_s3ag import GrantAwareWarning, __version__, clear_caches, unpatch  # noqa: E402
from sagemaker_s3ag.core.identity import ENV_VARS, METADATA_FILE_ENV  # noqa: E402
from sagemaker_s3ag.core.preflight import clear_cache as clear_preflight_cache  # noqa: E402
from sagemaker_s3ag.sdk.installed import major  # noqa: E402
from sagemaker_s3ag.testing import (  # noqa: E402
    ACCOUNT,
    BUCKET,
    CANARY_ACCESS_KEY_ID,
    CANARY_SECRET_ACCESS_KEY,
    CANARY_SESSION_TOKEN,
    IMAGE,
    ROLE,
    AccessGrantsTable,
    Emulator,
    FakeAccessGrantsServer,
    install_access_grants,
)

__all__ = ["ACCOUNT", "BUCKET", "IMAGE", "ROLE"]

SDK_MAJOR = major()
collect_ignore = [d for d in ("v2", "v3") if d != f"v{SDK_MAJOR}"]


@pytest.fixture(autouse=True)
def clean_tip_environment(monkeypatch, tmp_path):
    """No TIP variable, no Studio metadata file, nothing cached by an earlier test."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(METADATA_FILE_ENV, str(tmp_path / "no-studio-metadata.json"))
    clear_caches()
    yield
    clear_caches()


@pytest.fixture(scope="session")
def _emulator():
    """One moto emulator for the run: creating SageMaker sessions under moto is the slow part."""
    emulator = Emulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def access_grants(_emulator):
    """The fake S3 Access Grants behind ``session``: grants READWRITE on s3://s3ag-demo/* to start with.

    Mutate it in a test (``access_grants.grants.clear()``, ``.grant(...)``, ``.denied_operations``).
    """
    clear_preflight_cache()  # also drops cached clients, so new ones see this table
    table = AccessGrantsTable().grant(f"s3://{BUCKET}/*", "READWRITE")
    install_access_grants(_emulator.session.boto_session, table)
    for client in sagemaker_clients(_emulator.session):  # requests with no session ask with their client's hooks
        install_access_grants(client, table)
    return table


def sagemaker_clients(session) -> list:
    """The SageMaker clients of ``session``: its own, and on SDK v3 sagemaker-core's cached ones."""
    clients = [session.sagemaker_client]
    if SDK_MAJOR >= 3:  # ModelTrainer sends CreateTrainingJob through sagemaker-core's cached client
        from sagemaker.core.resources import Base

        for region in (None, session.boto_region_name):  # ModelTrainer passes none, HyperparameterTuner its own
            clients.append(Base.get_sagemaker_client(session=session.boto_session, region_name=region, service_name="sagemaker"))
    return clients


@pytest.fixture
def grants_server(monkeypatch):
    """The loopback HTTP fake of S3 Access Grants (READ on s3://data/*), with the environment pointing
    new boto3 sessions at it. The table is ``grants_server.table``."""
    table = AccessGrantsTable().grant("s3://data/*", "READ")
    with FakeAccessGrantsServer(table) as server:
        for key, value in server.environment().items():
            monkeypatch.setenv(key, value)
        yield server


def new_boto_session():
    """A boto3 session with fake credentials, made after the environment is set, as a user's would be."""
    import boto3

    return boto3.Session(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")


@pytest.fixture
def session(_emulator, access_grants):
    """A sagemaker Session on moto, us-east-1, with the bucket s3ag-demo; state is fresh for each test.

    S3 Access Grants calls made through it are answered by ``access_grants``.
    """
    _emulator.reset()
    return _emulator.session


@pytest.fixture
def grant_warnings():
    """Every GrantAwareWarning raised in the test, in order (none are deduplicated)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GrantAwareWarning)
        yield caught


@pytest.fixture
def calls(session):
    """Every SageMaker API call made through the session, as ``(operation, params)``, in order.

    moto does not keep every field (ProfilerConfig, RemoteDebugConfig, ...): read what was sent here.
    The parameters are recorded as botocore builds the request from them, after every
    ``provide-client-params`` handler (sagemaker-s3ag's v3 training hook among them) had its say.
    """
    made: list[tuple[str, dict]] = []

    def record(params, model, **_):
        made.append((model.name, copy.deepcopy(params)))

    clients = sagemaker_clients(session)
    for client in clients:
        client.meta.events.register("before-parameter-build.sagemaker", record, unique_id="s3ag-tests-calls")
    yield made
    for client in clients:
        client.meta.events.unregister("before-parameter-build.sagemaker", unique_id="s3ag-tests-calls")


def creates(calls) -> list[dict]:
    """The CreateTrainingJob requests actually sent, in order."""
    return [params for op, params in calls if op == "CreateTrainingJob"]


def train_job(sess, uri: str, *, output=None, stock: bool = False, **settings) -> str:
    """Launch a training job reading ``uri`` on the installed SDK major; returns the job's name.

    Grant-aware with ``settings``, or the stock class (``stock=True``); ``output`` is the output path.
    """
    if SDK_MAJOR >= 3:
        from sagemaker.core.shapes import OutputDataConfig
        from sagemaker.core.training.configs import InputData
        from sagemaker.train import ModelTrainer

        from sagemaker_s3ag import GrantAwareModelTrainer

        if output:
            settings["output_data_config"] = OutputDataConfig(s3_output_path=output)
        trainer = (ModelTrainer if stock else GrantAwareModelTrainer)(
            training_image=IMAGE, role=ROLE, sagemaker_session=sess, **settings
        )
        trainer.train(input_data_config=[InputData(channel_name="train", data_source=uri)], wait=False, logs=False)
        return trainer._latest_training_job.training_job_name
    from sagemaker.estimator import Estimator

    from sagemaker_s3ag import GrantAwareEstimator

    est = (Estimator if stock else GrantAwareEstimator)(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=sess,
        output_path=output,
        **settings,
    )
    est.fit(uri, wait=False, logs=False)
    return est.latest_training_job.name


def pipe_input(uri: str):
    """A Pipe-mode processing input of ``uri``, as the installed SDK spells it."""
    if SDK_MAJOR >= 3:
        from sagemaker.core.shapes import ProcessingInput, ProcessingS3Input

        return ProcessingInput(
            input_name="raw",
            s3_input=ProcessingS3Input(
                s3_uri=uri, local_path="/opt/ml/processing/in", s3_data_type="S3Prefix", s3_input_mode="Pipe"
            ),
        )
    from sagemaker.processing import ProcessingInput

    return ProcessingInput(source=uri, destination="/opt/ml/processing/in", input_name="raw", s3_input_mode="Pipe")


@pytest.fixture
def unpatch_after():
    """``unpatch()`` when the test ends, however it ends (``pytestmark = pytest.mark.usefixtures("unpatch_after")``)."""
    try:
        yield
    finally:
        unpatch()


class RemoteStarted(Exception):
    """Raised where ``@remote`` would wait for its job to finish: the request has been sent by then."""


@pytest.fixture
def no_waiting(monkeypatch):
    """``@remote`` waits for its job; here the call ends (``RemoteStarted``) once the job is created."""
    module = "sagemaker.core.remote_function.job" if SDK_MAJOR >= 3 else "sagemaker.remote_function.job"

    def stop(self, timeout=None):
        raise RemoteStarted(self.job_name)

    monkeypatch.setattr(importlib.import_module(module)._Job, "wait", stop)


@dataclass
class BatchQueue:
    """AWS Batch, answered here (moto has no SubmitServiceJob): its client, and every request it was sent."""

    client: Any
    submitted: list[dict] = field(default_factory=list)

    def payloads(self) -> list[dict]:
        """The SageMaker training requests queued, as sent."""
        return [json.loads(body["serviceRequestPayload"]) for body in self.submitted]


@pytest.fixture
def batch(session, monkeypatch) -> BatchQueue:
    """An AWS Batch client on the emulated session, which the installed SDK's ``TrainingQueue`` uses too."""
    from botocore.awsrequest import AWSResponse

    queue = BatchQueue(session.boto_session.client("batch"))

    def answer(params, **_):
        queue.submitted.append(json.loads(params["body"]))
        parsed = {
            "jobArn": "arn:aws:batch:us-east-1:123456789012:service-job/1",
            "jobName": "queued",
            "jobId": "1",
            "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0},
        }
        return AWSResponse("https://batch.invalid/", 200, {}, None), parsed

    queue.client.meta.events.register("before-call.batch.SubmitServiceJob", answer)
    helper = "sagemaker.train.aws_batch.batch_api_helper" if SDK_MAJOR >= 3 else "sagemaker.aws_batch.batch_api_helper"
    monkeypatch.setattr(importlib.import_module(helper), "get_batch_boto_client", lambda *a, **k: queue.client)
    return queue


def uploaded_keys(sess) -> list[str]:
    """Every object key in the emulated bucket (to prove nothing was uploaded)."""
    s3 = sess.boto_session.client("s3")
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def processing_tags(sess, name: str) -> list[dict]:
    """The tags of the processing job ``name``, as the emulator holds them."""
    client = sess.sagemaker_client
    arn = client.describe_processing_job(ProcessingJobName=name)["ProcessingJobArn"]
    return client.list_tags(ResourceArn=arn)["Tags"]


def training_tags(sess, name: str) -> list[dict]:
    """The tags of the training job ``name``, as the emulator holds them."""
    client = sess.sagemaker_client
    arn = client.describe_training_job(TrainingJobName=name)["TrainingJobArn"]
    return client.list_tags(ResourceArn=arn)["Tags"]


def created_jobs(sess) -> dict[str, list[str]]:
    """Names of the training and processing jobs created in the emulator."""
    client = sess.boto_session.client("sagemaker")
    return {
        "training": [j["TrainingJobName"] for j in client.list_training_jobs()["TrainingJobSummaries"]],
        "processing": [j["ProcessingJobName"] for j in client.list_processing_jobs()["ProcessingJobSummaries"]],
    }


@pytest.fixture
def local_dir(tmp_path) -> Path:
    """A local data folder with one CSV file (the SDK uploads it when it is a processing input)."""
    path = tmp_path / "data"
    path.mkdir()
    (path / "part.csv").write_text("a,b\n1,2\n")
    return path


# --------------------------------------------------------------------------- grant-aware or patched


class BaseFlavour:
    """Grant-aware classes, or stock classes under ``patch()`` (with the same settings).

    A test file subclasses it with builders of its own, and gets its fixtures from ``flavour_fixtures``.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def make(self, cls, settings=None, **kwargs):
        """``grant_aware(cls)(**kwargs, **settings)``, or ``patch(**settings)`` then ``cls(**kwargs)``;
        ``settings`` has identity_propagation=True unless given."""
        import sagemaker_s3ag

        settings = {"identity_propagation": True, **(settings or {})}
        if self.name == "grant-aware":
            return sagemaker_s3ag.grant_aware(cls)(**kwargs, **settings)
        sagemaker_s3ag.patch(**settings)
        return cls(**kwargs)


def flavour_fixtures(flavour_cls: type[BaseFlavour]):
    """The fixtures ``flavour`` (a test runs with each flavour, unpatched after) and ``ga`` (grant-aware
    classes only, for paths the two flavours share) of a BaseFlavour subclass: ``flavour, ga = flavour_fixtures(...)``."""

    @pytest.fixture(params=["grant-aware", "patched"])
    def flavour(request):
        try:
            yield flavour_cls(request.param)
        finally:
            unpatch()

    @pytest.fixture
    def ga():
        return flavour_cls("grant-aware")

    return flavour, ga


# --------------------------------------------------------------------------- processors


def _stock_processor() -> type:
    """The installed SDK's plain ``Processor`` class."""
    if SDK_MAJOR >= 3:
        from sagemaker.core.processing import Processor
    else:
        from sagemaker.processing import Processor
    return Processor


@dataclass(frozen=True)
class ProcessorKind:
    """One processor class under test.

    Attributes:
        stock: the SDK class.
        init: constructor arguments besides role/instance/session.
        code_arg: the ``run()`` argument that names the code (``None``: the class takes no code).
        s3_code_inputs: the inputs the SDK appends when the code is an S3 URI, as (name, uri).
        local_code_keys: the keys the SDK uploads for local code, ``{job}`` = the job name.
        local_code_inputs: the inputs the SDK appends for local code, as (name, uri template).
    """

    stock: type
    init: dict[str, Any] = field(default_factory=dict)
    code_arg: Optional[str] = None
    s3_code_inputs: tuple[tuple[str, str], ...] = ()
    local_code_keys: tuple[str, ...] = ()
    local_code_inputs: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        return self.stock.__name__

    def grant_aware_cls(self) -> type:
        from sagemaker_s3ag import GrantAwareProcessor, grant_aware

        return GrantAwareProcessor if self.stock is _stock_processor() else grant_aware(self.stock)


def make_processor(kind: ProcessorKind, session, *, grant: bool = True, **extra: Any):
    """A processor of ``kind`` on ``session``; grant-aware ones get identity_propagation=True unless given."""
    kwargs: dict[str, Any] = dict(
        role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=session, **kind.init
    )
    if grant:
        kwargs.setdefault("identity_propagation", True)
        kwargs.update(extra)
        return kind.grant_aware_cls()(**kwargs)
    kwargs.update(extra)
    return kind.stock(**kwargs)


# --------------------------------------------------------------------------- expected records and requests

NO_IDENTITY = "pipeline executions carry no user identity the grant is to a directory user"


def expected_record(
    credentials: str = "access-grants",
    adjustments: str = "none",
    *,
    identity: str = "enabled",
    fallback: Optional[str] = None,
    launched_by: str = "user",
) -> list[dict[str, str]]:
    """The ``s3ag:`` tags of a job or pipeline step, in the order they are written."""
    tags = [
        {"Key": "s3ag:identity-propagation", "Value": identity},
        {"Key": "s3ag:version", "Value": __version__},
        {"Key": "s3ag:credentials", "Value": credentials},
        {"Key": "s3ag:adjustments", "Value": adjustments},
    ]
    if fallback is not None:
        tags.append({"Key": "s3ag:fallback", "Value": fallback})
    return tags + [{"Key": "s3ag:launched-by", "Value": launched_by}]


def training_job_request(name: str = "job", **extra: Any) -> dict[str, Any]:
    """A plain CreateTrainingJob request in File mode: one channel and the output under the demo bucket."""
    return {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/train/"}}}
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out/"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        **extra,
    }


def tag_map(tags) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags}


def ours(caught) -> list[str]:
    """Messages of the GrantAwareWarnings in a list of recorded warnings (the ``grant_warnings`` fixture's)."""
    return [str(w.message) for w in caught if issubclass(w.category, GrantAwareWarning)]


def channel(request: dict, name: str) -> dict:
    """The input channel ``name`` of a CreateTrainingJob request (or training job definition)."""
    (found,) = [c for c in request["InputDataConfig"] if c["ChannelName"] == name]
    return found


def without_name_and_tags(request: dict) -> dict:
    return {k: v for k, v in request.items() if k not in ("TrainingJobName", "ProcessingJobName", "Tags")}


def input_rows(request: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(name, S3 URI, input mode) of every S3 input of a CreateProcessingJob request or described job."""
    return [(i["InputName"], i["S3Input"]["S3Uri"], i["S3Input"]["S3InputMode"]) for i in request["ProcessingInputs"]]


def processing_creates(calls) -> list[dict[str, Any]]:
    """The CreateProcessingJob requests actually sent, in order."""
    return [params for op, params in calls if op == "CreateProcessingJob"]


def tuning_requests(calls) -> list[dict]:
    """The CreateHyperParameterTuningJob requests actually sent, in order."""
    return [params for op, params in calls if op == "CreateHyperParameterTuningJob"]


def arguments(defn: dict, name: str = "Train") -> dict:
    """The arguments of the step ``name`` in a pipeline definition."""
    (step,) = [s for s in defn["Steps"] if s["Name"] == name]
    return step["Arguments"]


def grant_to_the_role(access_grants) -> None:
    """Replace the grants by READWRITE on the bucket to the IAM role (what a pipeline execution can use)."""
    access_grants.grants.clear()
    access_grants.grant(f"s3://{BUCKET}/*", "READWRITE", grantee_type="IAM")


def access_grants_calls(table) -> list[tuple[str, Any]]:
    """Calls to S3 Access Grants (the SDK makes STS calls of its own through the same session)."""
    return [c for c in table.calls if c[0] != "GetCallerIdentity"]


# DatasetDefinition queries, as keyword arguments of SDK v2's ``sagemaker.dataset_definition.inputs``
# classes and SDK v3's ``sagemaker.core.shapes`` (both take the same snake_case names).
ATHENA_QUERY = dict(
    catalog="AwsDataCatalog",
    database="sales",
    query_string="SELECT * FROM orders",
    output_s3_uri=f"s3://{BUCKET}/athena/",
    work_group="primary",
    output_format="PARQUET",
)
REDSHIFT_QUERY = dict(
    cluster_id="warehouse",
    database="sales",
    db_user="analyst",
    query_string="SELECT * FROM orders",
    cluster_role_arn=ROLE,
    output_s3_uri=f"s3://{BUCKET}/redshift/",
    output_format="CSV",
)


# --------------------------------------------------------------------------- canaries

CANARIES = (CANARY_ACCESS_KEY_ID, CANARY_SECRET_ACCESS_KEY, CANARY_SESSION_TOKEN)


def leaks(*texts: str) -> list[str]:
    """The canary credentials found in ``texts`` (none, when nothing leaked)."""
    return [canary for canary in CANARIES for text in texts if canary in text]


def everything_logged(caplog, *, with_args: bool = False) -> str:
    """Every log record captured, as text (``with_args``: the records' raw arguments too)."""
    if with_args:
        return "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    return "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)


# --------------------------------------------------------------------------- patch() internals


def current(module_name: str, path: str) -> object:
    """What a class holds now under one of ``_patch.TARGETS``' ``(module, "Class.attribute")``: the SDK's
    function, or patch()'s wrapper of it."""
    class_name, attribute = path.split(".")
    return vars(getattr(importlib.import_module(module_name), class_name))[attribute]


@pytest.fixture
def steps(monkeypatch):
    """How many times a job was checked before upload and settled at the choke point, by step and job type.

    Once each per job, whichever way it is launched (``{"check training": 1, "settle training": 1}``).
    """
    from collections import Counter

    from sagemaker_s3ag.sdk import choke, common

    counts: Counter[str] = Counter()

    def count(module, name, label, job_type_at):
        # Compiled as if it were the package's own code, so a warning still points at the test's line.
        namespace = {"__name__": "sagemaker_s3ag.counting", "counts": counts, "original": getattr(module, name)}
        exec(
            "def counting(*args, **kwargs):\n"
            f"    counts['{label} ' + str(args[{job_type_at}])] += 1\n"
            "    return original(*args, **kwargs)\n",
            namespace,
        )
        monkeypatch.setattr(module, name, namespace["counting"])

    count(common, "early_check", "check", 1)
    count(choke, "settle", "settle", 2)
    return counts
