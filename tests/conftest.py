"""Shared fixtures: an emulated AWS (moto) SageMaker session and a clean TIP environment.

Tests at this level run on either SDK major; ``v2/`` and ``v3/`` hold the tests of one major's
adapters and are collected only where that major is installed (``nox`` runs both environments).
"""

from __future__ import annotations

import copy
import os
import warnings

import pytest

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

from sagemaker_s3ag import GrantAwareWarning, clear_caches  # noqa: E402
from sagemaker_s3ag._sdk import major  # noqa: E402
from sagemaker_s3ag._identity_propagation import ENV_VARS, METADATA_FILE_ENV  # noqa: E402
from sagemaker_s3ag._preflight import clear_cache as clear_preflight_cache  # noqa: E402
from sagemaker_s3ag.testing import (  # noqa: E402
    ACCOUNT,
    BUCKET,
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
    return table


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

    clients = [session.sagemaker_client]
    if SDK_MAJOR >= 3:  # ModelTrainer sends CreateTrainingJob through sagemaker-core's cached client
        from sagemaker.core.resources import Base

        for region in (None, session.boto_region_name):  # ModelTrainer passes none, HyperparameterTuner its own
            clients.append(Base.get_sagemaker_client(session=session.boto_session, region_name=region, service_name="sagemaker"))
    for client in clients:
        client.meta.events.register("before-parameter-build.sagemaker", record, unique_id="s3ag-tests-calls")
    yield made
    for client in clients:
        client.meta.events.unregister("before-parameter-build.sagemaker", unique_id="s3ag-tests-calls")


def creates(calls) -> list[dict]:
    """The CreateTrainingJob requests actually sent, in order."""
    return [params for op, params in calls if op == "CreateTrainingJob"]


def train_job(sess, uri: str, **settings):
    """Launch a grant-aware training job reading ``uri`` on the installed SDK major; returns its owner.

    ``owner.latest_decision.job_name`` names the job.
    """
    if SDK_MAJOR >= 3:
        from sagemaker.core.training.configs import InputData

        from sagemaker_s3ag import GrantAwareModelTrainer

        trainer = GrantAwareModelTrainer(training_image=IMAGE, role=ROLE, sagemaker_session=sess, **settings)
        trainer.train(input_data_config=[InputData(channel_name="train", data_source=uri)], wait=False, logs=False)
        return trainer
    from sagemaker_s3ag import GrantAwareEstimator

    est = GrantAwareEstimator(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge",
                              sagemaker_session=sess, **settings)
    est.fit(uri, wait=False, logs=False)
    return est


def uploaded_keys(sess) -> list[str]:
    """Every object key in the emulated bucket (to prove nothing was uploaded)."""
    s3 = sess.boto_session.client("s3")
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def created_jobs(sess) -> dict[str, list[str]]:
    """Names of the training and processing jobs created in the emulator."""
    client = sess.boto_session.client("sagemaker")
    return {
        "training": [j["TrainingJobName"] for j in client.list_training_jobs()["TrainingJobSummaries"]],
        "processing": [j["ProcessingJobName"] for j in client.list_processing_jobs()["ProcessingJobSummaries"]],
    }
