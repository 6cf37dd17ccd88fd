"""Demo: ``s3ag demo`` launches grant-aware jobs with TIP on against the embedded emulator (moto).

No AWS account and no network: everything runs in this process. It shows, in order,

1. a training job asking for Pipe mode (with SDK v2's default Debugger and Profiler, or SDK v3's
   remote debugging): fixed, its S3 locations checked against S3 Access Grants (one has no grant:
   warned), and tagged;
2. a processing job with a Pipe-mode input: fixed and tagged;
3. a processing job with an Athena DatasetDefinition: refused before anything is uploaded;
4. ``on_fallback="deny"`` with a location no grant covers: refused before anything is uploaded;
5. the record read back from the training job's tags with ``describe_job``.

S3 Access Grants are played by the fake in :mod:`sagemaker_s3ag.testing`, with grants on
``train/``, ``models/``, ``raw/`` and ``clean/`` of the demo bucket. The same steps run on SDK v2
(``GrantAwareEstimator``) and SDK v3 (``GrantAwareModelTrainer``), whichever is installed.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO


def _show_warnings(out: TextIO, caught: list[warnings.WarningMessage]) -> None:
    for item in caught:
        out.write(f"  warning: {item.message}\n")


@dataclass(frozen=True)
class _Jobs:
    """The demo's jobs, written for one SDK major (each launches, or raises what it is refused with)."""

    training_title: str
    training: Callable[[], Any]  # returns the grant-aware trainer/estimator
    processing: Callable[[str], Any]  # input mode -> the grant-aware processor, after run()
    athena: Callable[[Any], None]  # runs a DatasetDefinition job on that processor
    denied_training: Callable[[str], None]  # trains on that (ungranted) location with on_fallback="deny"


def _v2_jobs(session: Any, bucket: str, image: str, common: dict[str, Any]) -> _Jobs:
    from sagemaker.dataset_definition.inputs import AthenaDatasetDefinition, DatasetDefinition
    from sagemaker.inputs import TrainingInput
    from sagemaker.processing import ProcessingInput, ProcessingOutput

    from sagemaker_s3ag.sdk.processing import GrantAwareProcessor
    from sagemaker_s3ag.sdk.v2.mixins import GrantAwareEstimator

    def estimator(**extra: Any) -> Any:
        return GrantAwareEstimator(
            image_uri=image, output_path=f"s3://{bucket}/models/", sagemaker_session=session, **common, **extra
        )

    def training() -> Any:
        est = estimator(input_mode="Pipe", tags=[{"Key": "team", "Value": "forecasting"}])
        validation = TrainingInput(f"s3://{bucket}/val/", input_mode="File")
        est.fit({"train": f"s3://{bucket}/train/", "validation": validation}, wait=False, logs=False)
        return est

    def processing(mode: str) -> Any:
        proc = GrantAwareProcessor(image_uri=image, sagemaker_session=session, **common)
        raw = ProcessingInput(
            source=f"s3://{bucket}/raw/", destination="/opt/ml/processing/input", input_name="raw", s3_input_mode=mode
        )
        clean = ProcessingOutput(source="/opt/ml/processing/output", destination=f"s3://{bucket}/clean/")
        proc.run(inputs=[raw], outputs=[clean], wait=False, logs=False)
        return proc

    def athena(proc: Any) -> None:
        definition = DatasetDefinition(
            local_path="/opt/ml/processing/athena", athena_dataset_definition=AthenaDatasetDefinition(**_ATHENA)
        )
        proc.run(inputs=[ProcessingInput(input_name="orders", dataset_definition=definition)], wait=False)

    def denied_training(uri: str) -> None:
        estimator(on_fallback="deny").fit({"train": uri}, wait=False, logs=False)

    return _Jobs("GrantAwareEstimator.fit() with input_mode='Pipe'", training, processing, athena, denied_training)


def _v3_jobs(session: Any, bucket: str, image: str, common: dict[str, Any]) -> _Jobs:
    from sagemaker.core.shapes import (
        AthenaDatasetDefinition,
        Channel,
        DatasetDefinition,
        DataSource,
        OutputDataConfig,
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
        RemoteDebugConfig,
        S3DataSource,
    )
    from sagemaker.core.training.configs import Compute, InputData

    from sagemaker_s3ag.sdk.processing import GrantAwareProcessor
    from sagemaker_s3ag.sdk.v3.mixins import GrantAwareModelTrainer

    settings = {k: v for k, v in common.items() if k not in ("instance_count", "instance_type", "role")}

    def trainer(**extra: Any) -> Any:
        return GrantAwareModelTrainer(
            training_image=image,
            role=common["role"],
            compute=Compute(instance_type=common["instance_type"], instance_count=common["instance_count"]),
            output_data_config=OutputDataConfig(s3_output_path=f"s3://{bucket}/models/"),
            sagemaker_session=session,
            **settings,
            **extra,
        )

    def training() -> Any:
        job = trainer(training_input_mode="Pipe", tags=[{"key": "team", "value": "forecasting"}])
        job.with_remote_debug_config(RemoteDebugConfig(enable_remote_debug=True))
        validation = Channel(
            channel_name="validation",
            input_mode="File",
            data_source=DataSource(s3_data_source=S3DataSource(s3_data_type="S3Prefix", s3_uri=f"s3://{bucket}/val/")),
        )
        job.train(
            input_data_config=[InputData(channel_name="train", data_source=f"s3://{bucket}/train/"), validation],
            wait=False,
            logs=False,
        )
        return job

    def processing(mode: str) -> Any:
        proc = GrantAwareProcessor(image_uri=image, sagemaker_session=session, **common)
        raw = ProcessingS3Input(
            s3_uri=f"s3://{bucket}/raw/", local_path="/opt/ml/processing/input", s3_data_type="S3Prefix", s3_input_mode=mode
        )
        clean = ProcessingS3Output(
            s3_uri=f"s3://{bucket}/clean/", local_path="/opt/ml/processing/output", s3_upload_mode="EndOfJob"
        )
        proc.run(
            inputs=[ProcessingInput(input_name="raw", s3_input=raw)],
            outputs=[ProcessingOutput(output_name="clean", s3_output=clean)],
            wait=False,
            logs=False,
        )
        return proc

    def athena(proc: Any) -> None:
        definition = DatasetDefinition(
            local_path="/opt/ml/processing/athena", athena_dataset_definition=AthenaDatasetDefinition(**_ATHENA)
        )
        proc.run(inputs=[ProcessingInput(input_name="orders", dataset_definition=definition)], wait=False, logs=False)

    def denied_training(uri: str) -> None:
        trainer(on_fallback="deny").train(
            input_data_config=[InputData(channel_name="train", data_source=uri)], wait=False, logs=False
        )

    return _Jobs(
        "GrantAwareModelTrainer.train() with training_input_mode='Pipe' and remote debugging",
        training,
        processing,
        athena,
        denied_training,
    )


_ATHENA = {
    "catalog": "AwsDataCatalog",
    "database": "sales",
    "query_string": "SELECT * FROM orders",
    "output_s3_uri": "s3://s3ag-demo/athena/",
    "output_format": "PARQUET",
}


def run_demo(out: TextIO, region: str = "us-east-1") -> int:
    """Run the demo, writing to ``out``; returns the exit code (0 when every step behaved)."""
    logging.getLogger("sagemaker_s3ag").setLevel(logging.WARNING)  # the decision tables say it all

    from sagemaker_s3ag import ConsiderationError, GrantAwareWarning, GrantFallbackError, clear_caches, describe_job
    from sagemaker_s3ag.sdk.installed import V3, installed_version, major
    from sagemaker_s3ag.testing.access_grants import AccessGrantsTable, install_access_grants
    from sagemaker_s3ag.testing.emulator import BUCKET, IMAGE, ROLE, emulated_session

    def step(title: str, action: Callable[[], Any]) -> Any:
        out.write(f"\n== {title}\n")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GrantAwareWarning)
            result = action()
        _show_warnings(out, [w for w in caught if issubclass(w.category, GrantAwareWarning)])
        return result

    common = dict(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", identity_propagation=True)
    clear_caches()  # this run's fake grants, not answers cached earlier in the process
    grants = (
        AccessGrantsTable(region=region)
        .grant(f"s3://{BUCKET}/train/*", "READ")
        .grant(f"s3://{BUCKET}/models/*", "READWRITE")
        .grant(f"s3://{BUCKET}/raw/*", "READ")
        .grant(f"s3://{BUCKET}/clean/*", "WRITE")
    )
    with emulated_session(region=region) as session:
        install_access_grants(session.boto_session, grants)
        out.write(
            f"SageMaker Python SDK {installed_version()}. Embedded AWS emulator (moto), region {region}, "
            f"bucket s3://{BUCKET}; TIP on.\n"
            "S3 Access Grants (fake): " + ", ".join(f"{g.permission} {g.scope}" for g in grants.grants) + "\n"
        )
        jobs = (_v3_jobs if major() >= V3 else _v2_jobs)(session, BUCKET, IMAGE, common)

        trainer = step(f"1. {jobs.training_title}", jobs.training)
        trained = trainer.latest_decision
        out.write(f"{trained}\n")

        proc = step("2. GrantAwareProcessor.run() with a Pipe-mode input", lambda: jobs.processing("Pipe"))
        processed = proc.latest_decision
        out.write(f"{processed}\n")

        refused = False

        def athena_job() -> None:
            nonlocal refused
            try:
                jobs.athena(proc)
            except ConsiderationError as err:
                refused = True
                out.write(f"  refused (rule {err.rule}): {err}\n")

        step("3. GrantAwareProcessor.run() with an Athena DatasetDefinition", athena_job)

        denied = False
        client = session.boto_session.client("sagemaker")

        def training_jobs() -> list[str]:
            return sorted(job["TrainingJobName"] for job in client.list_training_jobs()["TrainingJobSummaries"])

        jobs_before = training_jobs()

        def deny_job() -> None:
            nonlocal denied
            try:
                jobs.denied_training(f"s3://{BUCKET}/secret/")
            except GrantFallbackError as err:
                denied = True
                out.write(f"  refused (rule {err.rule}): {err}\n")

        step(f"4. on_fallback='deny' with s3://{BUCKET}/secret/, which no grant covers", deny_job)

        nothing_created = training_jobs() == jobs_before
        name = trained.job_name
        step(f"5. describe_job({name!r})", lambda: out.write(f"{describe_job(name, session)}\n"))

    ok = (
        refused
        and denied
        and nothing_created
        and "pipe-mode" in trained.adjustments
        and trained.credentials == "mixed"
        and processed.credentials == "access-grants"
        and proc.latest_decision.refused  # the DatasetDefinition job's decision, not the one before
    )
    out.write("\nDemo finished: every step behaved as documented.\n" if ok else "\nDemo FAILED.\n")
    return 0 if ok else 1
