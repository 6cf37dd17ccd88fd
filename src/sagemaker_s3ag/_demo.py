"""Demo: ``s3ag demo`` launches grant-aware jobs with TIP on against the embedded emulator (moto).

No AWS account and no network: everything runs in this process. It shows, in order,

1. a training job asking for Pipe mode with SDK v2's default Debugger and Profiler: fixed, its S3
   locations checked against S3 Access Grants (one has no grant: warned), and tagged;
2. a processing job with a Pipe-mode input: fixed and tagged;
3. a processing job with an Athena DatasetDefinition: refused before anything is uploaded;
4. ``on_fallback="deny"`` with a location no grant covers: refused before anything is uploaded;
5. the record read back from the training job's tags with ``describe_job``.

S3 Access Grants are played by the fake in :mod:`sagemaker_s3ag.testing`, with grants on
``train/``, ``models/``, ``raw/`` and ``clean/`` of the demo bucket.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any, TextIO


def _show_warnings(out: TextIO, caught: list[warnings.WarningMessage]) -> None:
    for item in caught:
        out.write(f"  warning: {item.message}\n")


def run_demo(out: TextIO, region: str = "us-east-1") -> int:
    """Run the demo, writing to ``out``; returns the exit code (0 when every step behaved)."""
    logging.getLogger("sagemaker_s3ag").setLevel(logging.WARNING)  # the decision tables say it all

    from sagemaker.dataset_definition.inputs import AthenaDatasetDefinition, DatasetDefinition
    from sagemaker.inputs import TrainingInput
    from sagemaker.processing import ProcessingInput, ProcessingOutput

    from . import (
        ConsiderationError,
        clear_caches,
        GrantAwareEstimator,
        GrantAwareProcessor,
        GrantAwareWarning,
        GrantFallbackError,
        describe_job,
    )
    from ._emulator import BUCKET, IMAGE, ROLE, emulated_session
    from ._fake_access_grants import AccessGrantsTable, install_access_grants

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
            f"Embedded AWS emulator (moto), region {region}, bucket s3://{BUCKET}; TIP on.\n"
            "S3 Access Grants (fake): " + ", ".join(f"{g.permission} {g.scope}" for g in grants.grants) + "\n"
        )

        est = GrantAwareEstimator(
            image_uri=IMAGE,
            input_mode="Pipe",
            output_path=f"s3://{BUCKET}/models/",
            sagemaker_session=session,
            tags=[{"Key": "team", "Value": "forecasting"}],
            **common,
        )
        step(
            "1. GrantAwareEstimator.fit() with input_mode='Pipe'",
            lambda: est.fit(
                {"train": f"s3://{BUCKET}/train/", "validation": TrainingInput(f"s3://{BUCKET}/val/", input_mode="File")},
                wait=False,
                logs=False,
            ),
        )
        out.write(f"{est.latest_decision}\n")

        proc = GrantAwareProcessor(image_uri=IMAGE, sagemaker_session=session, **common)
        step(
            "2. GrantAwareProcessor.run() with a Pipe-mode input",
            lambda: proc.run(
                inputs=[
                    ProcessingInput(
                        source=f"s3://{BUCKET}/raw/",
                        destination="/opt/ml/processing/input",
                        input_name="raw",
                        s3_input_mode="Pipe",
                    )
                ],
                outputs=[ProcessingOutput(source="/opt/ml/processing/output", destination=f"s3://{BUCKET}/clean/")],
                wait=False,
                logs=False,
            ),
        )
        processed = proc.latest_decision
        out.write(f"{processed}\n")

        athena = DatasetDefinition(
            local_path="/opt/ml/processing/athena",
            athena_dataset_definition=AthenaDatasetDefinition(
                catalog="AwsDataCatalog",
                database="sales",
                query_string="SELECT * FROM orders",
                output_s3_uri=f"s3://{BUCKET}/athena/",
                output_format="PARQUET",
            ),
        )
        refused = False

        def athena_job() -> None:
            nonlocal refused
            try:
                proc.run(inputs=[ProcessingInput(input_name="orders", dataset_definition=athena)], wait=False)
            except ConsiderationError as err:
                refused = True
                out.write(f"  refused (rule {err.rule}): {err}\n")

        step("3. GrantAwareProcessor.run() with an Athena DatasetDefinition", athena_job)

        denied = False

        def training_jobs() -> list[str]:
            found = session.sagemaker_client.list_training_jobs()["TrainingJobSummaries"]
            return sorted(job["TrainingJobName"] for job in found)

        jobs_before = training_jobs()

        def deny_job() -> None:
            nonlocal denied
            strict = GrantAwareEstimator(
                image_uri=IMAGE,
                output_path=f"s3://{BUCKET}/models/",
                sagemaker_session=session,
                on_fallback="deny",
                **common,
            )
            try:
                strict.fit({"train": f"s3://{BUCKET}/secret/"}, wait=False, logs=False)
            except GrantFallbackError as err:
                denied = True
                out.write(f"  refused (rule {err.rule}): {err}\n")

        step("4. on_fallback='deny' with s3://s3ag-demo/secret/, which no grant covers", deny_job)

        nothing_created = training_jobs() == jobs_before
        name = est.latest_training_job.name
        step(f"5. describe_job({name!r})", lambda: out.write(f"{describe_job(name, session)}\n"))

    ok = (
        refused
        and denied
        and nothing_created
        and "pipe-mode" in est.latest_decision.adjustments
        and est.latest_decision.credentials == "mixed"
        and processed.credentials == "access-grants"
        and proc.latest_decision.refused  # the DatasetDefinition job's decision, not the one before
    )
    out.write("\nDemo finished: every step behaved as documented.\n" if ok else "\nDemo FAILED.\n")
    return 0 if ok else 1
