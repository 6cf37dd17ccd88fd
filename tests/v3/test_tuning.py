"""SDK v3 ``HyperparameterTuner`` over grant-aware or patched ``ModelTrainer``s.

The tuner builds its training job definition from the trainer's attributes and never calls
``train()``; the CreateHyperParameterTuningJob request is settled as it is sent, and what cannot be
fixed is refused in ``tune()`` before the tuner uploads the trainer's code.
"""

from __future__ import annotations

import os

import pytest
from conftest import BUCKET, IMAGE, ROLE, created_jobs, ours, tuning_requests, uploaded_keys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from sagemaker.core.parameter import ContinuousParameter  # noqa: E402
from sagemaker.core.training.configs import InputData, SourceCode  # noqa: E402
from sagemaker.train import ModelTrainer  # noqa: E402
from sagemaker.train.tuner import HyperparameterTuner  # noqa: E402

from sagemaker_s3ag import ConsiderationError, GrantAwareModelTrainer, patched  # noqa: E402

TRAIN = f"s3://{BUCKET}/train/"


def tuner_of(trainer) -> HyperparameterTuner:
    return HyperparameterTuner(
        model_trainer=trainer,
        objective_metric_name="loss",
        hyperparameter_ranges={"lr": ContinuousParameter(0.01, 0.1)},
        metric_definitions=[{"Name": "loss", "Regex": "loss=(.*)"}],
        max_jobs=2,
        max_parallel_jobs=1,
    )


def s3ag_tags(request) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in request.get("Tags", []) if t["Key"].startswith("s3ag:")}


def test_pipe_mode_of_a_grant_aware_trainer_is_fixed_in_the_tuning_job(session, calls, grant_warnings):
    trainer = GrantAwareModelTrainer(
        training_image=IMAGE, role=ROLE, sagemaker_session=session, training_input_mode="Pipe", identity_propagation=True
    )
    tuner = tuner_of(trainer)
    tuner.tune(inputs=[InputData(channel_name="train", data_source=TRAIN)], wait=False)
    (request,) = tuning_requests(calls)
    assert request["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert s3ag_tags(request)["s3ag:adjustments"] == "pipe-mode"
    assert s3ag_tags(request)["s3ag:credentials"] == "unknown"  # tuning: not on AWS's TIP-compatible list
    messages = ours(grant_warnings)
    assert len(messages) == 2 and messages[0].startswith("[s3ag:pipe-mode] TrainingJobDefinition.")
    assert messages[1].startswith("[s3ag:tuning] (tuning job): hyperparameter tuning is not on AWS's list")
    decision = tuner.latest_decision
    assert decision.job_type == "tuning" and decision.credentials == "unknown"
    assert [(o.uri, o.permission) for o in decision.locations][0] == (TRAIN, "READ")


def test_on_violation_error_is_refused_before_the_tuner_uploads_the_code(session, calls, tmp_path):
    (tmp_path / "train.py").write_text("print('hi')\n")
    trainer = GrantAwareModelTrainer(
        training_image=IMAGE,
        role=ROLE,
        sagemaker_session=session,
        training_input_mode="Pipe",
        identity_propagation=True,
        on_violation="error",
        source_code=SourceCode(source_dir=str(tmp_path), entry_script="train.py"),
    )
    with pytest.raises(ConsiderationError) as info:
        tuner_of(trainer).tune(inputs=TRAIN, wait=False)
    assert info.value.rule == "pipe-mode"
    assert uploaded_keys(session) == []
    assert tuning_requests(calls) == []


def test_a_stock_tuner_of_a_stock_trainer_is_untouched_and_fixed_under_patch(session, calls, grant_warnings):
    trainer = ModelTrainer(training_image=IMAGE, role=ROLE, sagemaker_session=session, training_input_mode="Pipe")
    tuner_of(trainer).tune(inputs=TRAIN, wait=False, job_name="stock-tuning")
    with patched(identity_propagation=True):
        tuner_of(trainer).tune(inputs=TRAIN, wait=False, job_name="patched-tuning")
    stock, fixed = tuning_requests(calls)
    assert stock["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert s3ag_tags(stock) == {}
    assert fixed["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert s3ag_tags(fixed)["s3ag:launched-by"] == "user"
    assert created_jobs(session)["training"] == []  # the tuning service starts those, not the SDK


def _ungranted_channel():
    from sagemaker.core.shapes import Channel, DataSource, S3DataSource

    source = S3DataSource(s3_data_type="S3Prefix", s3_uri="s3://other-bucket/val/")
    return Channel(channel_name="val", data_source=DataSource(s3_data_source=source))


@pytest.mark.parametrize(
    "own, inputs",
    [([], {"train": "s3://other-bucket/x/"}), ("ungranted", TRAIN)],
    ids=["dict-inputs", "trainers-own-channel"],
)
def test_deny_sees_every_channel_the_tuner_will_send_before_it_uploads(session, calls, tmp_path, own, inputs):
    """A dict of channel URIs, and the trainer's own channels the tuner adds, are checked in tune()."""
    (tmp_path / "train.py").write_text("print('hi')\n")
    trainer = GrantAwareModelTrainer(
        training_image=IMAGE,
        role=ROLE,
        sagemaker_session=session,
        identity_propagation=True,
        on_fallback="deny",
        input_data_config=[_ungranted_channel()] if own else None,
        source_code=SourceCode(source_dir=str(tmp_path), entry_script="train.py"),
    )
    with pytest.raises(ConsiderationError) as info:
        tuner_of(trainer).tune(inputs=inputs, wait=False)
    assert info.value.rule == "fallback"
    assert uploaded_keys(session) == []
    assert tuning_requests(calls) == []


def test_remote_debugging_the_tuner_never_sends_is_not_refused(session, calls, grant_warnings):
    """A tuning job definition has no RemoteDebugConfig: the trainer's own is no reason to refuse the tuner."""
    from sagemaker.core.shapes import RemoteDebugConfig

    trainer = GrantAwareModelTrainer(
        training_image=IMAGE, role=ROLE, sagemaker_session=session, identity_propagation=True, on_violation="error"
    )
    trainer.with_remote_debug_config(RemoteDebugConfig(enable_remote_debug=True))
    tuner_of(trainer).tune(inputs=TRAIN, wait=False)
    (request,) = tuning_requests(calls)
    assert "RemoteDebugConfig" not in request["TrainingJobDefinition"]
    assert [w for w in ours(grant_warnings) if not w.startswith("[s3ag:tuning]")] == []  # nothing about remote debugging
