"""SDK v3: the credentials GetDataAccess vends decide where a job's data comes from, and go nowhere.

The fake S3 Access Grants behind ``session`` vends canary credentials (``sagemaker_s3ag.testing.CANARY_*``).
After a ``GrantAwareModelTrainer.train`` and a ``GrantAwareProcessor.run`` with TIP on, no canary
appears in any log record (every logger at DEBUG), warning, exception, decision, tag or request sent.
"""

from __future__ import annotations

import json
import logging
import warnings

import pytest
from conftest import BUCKET, CANARIES, IMAGE, ROLE, everything_logged, leaks, ours
from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output
from sagemaker.train.configs import InputData

from sagemaker_s3ag import GrantAwareModelTrainer, GrantAwareProcessor, GrantFallbackError
from sagemaker_s3ag.core.preflight import RESOLVER


def decision_texts(decision) -> list[str]:
    return [str(decision), repr(decision), decision._repr_html_(), repr(decision.locations), repr(decision.record)]


def pipe_input() -> ProcessingInput:
    return ProcessingInput(
        input_name="raw",
        s3_input=ProcessingS3Input(
            s3_uri=f"s3://{BUCKET}/raw/", local_path="/opt/ml/processing/raw", s3_data_type="S3Prefix", s3_input_mode="Pipe"
        ),
    )


def test_no_canary_anywhere_after_a_training_and_a_processing_job(session, access_grants, calls, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, every level
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = GrantAwareModelTrainer(
            training_image=IMAGE, role=ROLE, sagemaker_session=session, training_input_mode="Pipe", identity_propagation=True
        )
        trainer.train(
            input_data_config=[
                InputData(channel_name="train", data_source=f"s3://{BUCKET}/train/"),
                InputData(channel_name="other", data_source="s3://another-bucket/x/"),  # a fallback: warned
            ],
            wait=False,
        )
        proc = GrantAwareProcessor(
            image_uri=IMAGE,
            role=ROLE,
            instance_count=1,
            instance_type="ml.m5.xlarge",
            sagemaker_session=session,
            identity_propagation=True,
        )
        proc.run(
            inputs=[pipe_input()],
            outputs=[
                ProcessingOutput(
                    output_name="out",
                    s3_output=ProcessingS3Output(
                        s3_uri=f"s3://{BUCKET}/out/", local_path="/opt/ml/processing/out", s3_upload_mode="EndOfJob"
                    ),
                )
            ],
            wait=False,
            logs=False,
        )
    training, processing = trainer.latest_decision, proc.latest_decision
    # The canaries were really vended: train READ, model output WRITE, raw READ, out WRITE.
    assert access_grants.counts["GetDataAccess"] >= 4
    assert training.credentials == "mixed" and processing.credentials == "access-grants"
    client = session.sagemaker_client
    training_tags = client.list_tags(
        ResourceArn=client.describe_training_job(TrainingJobName=training.job_name)["TrainingJobArn"]
    )["Tags"]
    processing_tags = client.list_tags(
        ResourceArn=client.describe_processing_job(ProcessingJobName=processing.job_name)["ProcessingJobArn"]
    )["Tags"]
    assert [op for op, _ in calls if op.startswith("Create")] == ["CreateTrainingJob", "CreateProcessingJob"]
    texts = [
        everything_logged(caplog, with_args=True),
        "\n".join(f"{w.category.__name__}: {w.message}" for w in caught),
        *decision_texts(training),
        *decision_texts(processing),
        json.dumps(training_tags),
        json.dumps(processing_tags),
        json.dumps(calls, default=str),
        repr(RESOLVER._cache),
        repr(vars(proc)),
        repr(trainer.__pydantic_private__),
        repr(proc.latest_job),
    ]
    assert leaks(*texts) == []
    messages = ours(caught)
    assert [m.split(" ", 1)[0] for m in messages] == ["[s3ag:pipe-mode]", "[s3ag:fallback]", "[s3ag:pipe-mode]"]
    assert caplog.records  # DEBUG logging was on: the check above read something

    # The check would catch them: the same fake, asked directly, answers with the canaries.
    answer = session.boto_session.client("s3control").get_data_access(
        AccountId="123456789012", Target=f"s3://{BUCKET}/train/*", Permission="READ"
    )
    assert leaks(json.dumps(answer, default=str)) == list(CANARIES)


@pytest.mark.parametrize("job", ["training", "processing"])
def test_no_canary_in_a_refusal(session, access_grants, calls, caplog, job):
    """One location is vended credentials, the other is not: the GrantFallbackError holds no secret."""
    caplog.set_level(logging.DEBUG)
    access_grants.grants.clear()
    if job == "training":
        access_grants.grant(f"s3://{BUCKET}/train/*", "READ")  # the model output is not granted
        owner = GrantAwareModelTrainer(
            training_image=IMAGE, role=ROLE, sagemaker_session=session, identity_propagation=True, on_fallback="deny"
        )
        with pytest.raises(GrantFallbackError) as caught:
            owner.train(input_data_config=[InputData(channel_name="train", data_source=f"s3://{BUCKET}/train/")], wait=False)
    else:
        access_grants.grant(f"s3://{BUCKET}/raw/*", "READ")  # the output is not granted
        owner = GrantAwareProcessor(
            image_uri=IMAGE,
            role=ROLE,
            instance_count=1,
            instance_type="ml.m5.xlarge",
            sagemaker_session=session,
            identity_propagation=True,
            on_fallback="deny",
        )
        out = ProcessingS3Output(s3_uri=f"s3://{BUCKET}/out/", local_path="/opt/ml/processing/out", s3_upload_mode="EndOfJob")
        with pytest.raises(GrantFallbackError) as caught:
            owner.run(inputs=[pipe_input()], outputs=[ProcessingOutput(output_name="out", s3_output=out)], wait=False, logs=False)
    assert access_grants.counts["GetDataAccess"] >= 1  # a canary was vended for the granted location
    err = caught.value
    assert calls == []
    logged = everything_logged(caplog, with_args=True)
    texts = [str(err), repr(err), repr(err.findings), repr(err.locations), logged, repr(RESOLVER._cache)]
    texts += decision_texts(owner.latest_decision)
    assert leaks(*texts) == []
