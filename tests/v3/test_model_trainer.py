"""GrantAwareModelTrainer against the real SageMaker SDK v3 (``sagemaker.train.ModelTrainer``) on moto.

The v3 counterpart of ``tests/v2/test_estimator.py``, ``test_fallback.py`` and ``test_plan.py``.
Jobs are read back from the emulator (``ListTrainingJobs`` / ``DescribeTrainingJob`` / ``ListTags``);
moto does not store ``RemoteDebugConfig``, so that is read from the CreateTrainingJob parameters as
botocore sent them (fixture ``calls``, helper ``creates``). SDK v3 sends no Debugger or Profiler
settings, so unlike v2 nothing is removed from a default request.
"""

from __future__ import annotations

import copy

import pytest

# tests/conftest.py ignores v3/ under SDK v2, but not when tests/v3 is named on the command line.
pytest.importorskip("sagemaker.core", reason="SDK v3 tests: the installed sagemaker is not v3")

from conftest import (  # noqa: E402
    BUCKET,
    IMAGE,
    ROLE,
    channel,
    created_jobs,
    creates,
    expected_record,
    ours,
    tag_map,
    uploaded_keys,
    without_name_and_tags,
)
from sagemaker.core.shapes import Channel, DataSource, S3DataSource, Tag  # noqa: E402
from sagemaker.core.training.configs import (  # noqa: E402
    Compute,
    InputData,
    OutputDataConfig,
    RemoteDebugConfig,
    SourceCode,
    TensorBoardOutputConfig,
)
from sagemaker.train import ModelTrainer  # noqa: E402

import sagemaker_s3ag  # noqa: E402
from sagemaker_s3ag import (  # noqa: E402
    ConsiderationError,
    GrantAwareModelTrainer,
    GrantFallbackError,
    grant_aware,
)
from sagemaker_s3ag.sdk.context import current as launch_in_context  # noqa: E402

TRAIN = f"s3://{BUCKET}/train/"
VAL = f"s3://{BUCKET}/val/"
OUT = f"s3://{BUCKET}/models/"
GRANTED = "access-grants"  # conftest's ``access_grants`` grants every location in the bucket


# --------------------------------------------------------------------------- helpers


def make(session, **kwargs):
    kwargs.setdefault("identity_propagation", True)
    kwargs.setdefault("output_data_config", OutputDataConfig(s3_output_path=OUT))
    return GrantAwareModelTrainer(
        training_image=IMAGE,
        role=ROLE,
        compute=Compute(instance_type="ml.m5.xlarge", instance_count=1),
        sagemaker_session=session,
        **kwargs,
    )


def make_with_code(session, tmp_path, **kwargs):
    """A trainer with local source code: ``train()`` uploads it unless it is refused first."""
    (tmp_path / "train.py").write_text("print('hello')\n")
    return make(session, source_code=SourceCode(source_dir=str(tmp_path), entry_script="train.py"), **kwargs)


def s3_channel(name, uri=TRAIN, **kwargs):
    """A CreateTrainingJob channel as a ``Channel`` shape (``input_mode``, ``compression_type``, ...)."""
    source = DataSource(
        s3_data_source=S3DataSource(s3_data_type="S3Prefix", s3_uri=uri, s3_data_distribution_type="FullyReplicated")
    )
    return Channel(channel_name=name, data_source=source, **kwargs)


def train(trainer, channels=None, **kwargs):
    if channels is None:
        channels = [InputData(channel_name="train", data_source=TRAIN)]
    return trainer.train(input_data_config=channels, wait=False, logs=False, **kwargs)


def only_job(session) -> dict:
    (name,) = created_jobs(session)["training"]
    return session.boto_session.client("sagemaker").describe_training_job(TrainingJobName=name)


def job_tags(session) -> list[dict]:
    return session.boto_session.client("sagemaker").list_tags(ResourceArn=only_job(session)["TrainingJobArn"])["Tags"]


def nothing_happened(session, calls):
    """No job created, no CreateTrainingJob sent, nothing uploaded."""
    assert created_jobs(session)["training"] == []
    assert creates(calls) == []
    assert uploaded_keys(session) == []


# --------------------------------------------------------------------------- 1. defaults, TIP on


def test_default_request_with_tip_on_is_sent_unchanged_and_tagged(session, calls, grant_warnings):
    """SDK v3 sends no Debugger/Profiler defaults: nothing to fix, only the record is added."""
    trainer = make(session)
    train(trainer)

    job = only_job(session)
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    (request,) = creates(calls)
    assert request["TrainingJobName"] == job["TrainingJobName"]
    for field in ("DebugHookConfig", "ProfilerConfig", "RemoteDebugConfig"):
        assert field not in request
    assert job_tags(session) == expected_record()
    decision = trainer.latest_decision
    assert decision.findings == ()
    assert decision.adjustments == ()
    assert list(decision.tags) == expected_record()
    assert decision.identity_propagation.enabled is True
    assert decision.identity_propagation.source == "setting"
    assert ours(grant_warnings) == []


# --------------------------------------------------------------------------- 2. Pipe mode


def test_trainer_pipe_mode_becomes_file_with_one_warning(session, calls, grant_warnings):
    trainer = make(session, training_input_mode="Pipe")
    train(trainer, [InputData(channel_name="train", data_source=TRAIN), InputData(channel_name="val", data_source=VAL)])

    job = only_job(session)
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert [c.get("InputMode", "File") for c in job["InputDataConfig"]] == ["File", "File"]
    assert creates(calls)[0]["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert ours(grant_warnings) == [
        "[s3ag:pipe-mode] AlgorithmSpecification.TrainingInputMode: Pipe mode cannot use S3 Access Grants; "
        "the job's input mode is now File"
    ]
    assert trainer.latest_decision.adjustments == ("pipe-mode",)
    assert tag_map(job_tags(session))["s3ag:adjustments"] == "pipe-mode"
    assert trainer.training_input_mode == "Pipe"  # the trainer itself is left as the user made it


def test_pipe_mode_replacement_fastfile(session, grant_warnings):
    trainer = make(session, training_input_mode="Pipe", pipe_mode_replacement="FastFile")
    train(trainer)
    assert only_job(session)["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"
    warned = ours(grant_warnings)
    assert len(warned) == 1 and warned[0].startswith("[s3ag:pipe-mode]") and warned[0].endswith("now FastFile")


def test_channel_level_pipe_becomes_file_other_channels_untouched(session, calls, grant_warnings):
    trainer = make(session)
    train(
        trainer,
        [
            s3_channel("train", TRAIN, input_mode="Pipe"),
            InputData(channel_name="val", data_source=VAL),
            s3_channel("extra", VAL, input_mode="FastFile"),
        ],
    )

    request = creates(calls)[0]
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert channel(request, "train")["InputMode"] == "File"
    assert channel(request, "val")["InputMode"] == "File"
    assert channel(request, "extra")["InputMode"] == "FastFile"
    assert channel(only_job(session), "train")["InputMode"] == "File"
    assert ours(grant_warnings) == [
        "[s3ag:pipe-mode] InputDataConfig[train].InputMode: Pipe mode cannot use S3 Access Grants; channel 'train' now uses File"
    ]
    assert [(f.rule, f.action, f.where) for f in trainer.latest_decision.findings] == [
        ("pipe-mode", "replaced", "InputDataConfig[train].InputMode")
    ]


def test_channel_pipe_on_the_trainer_itself_is_fixed(session, calls, grant_warnings):
    """Channels given to the constructor (not to train()) are checked and fixed too."""
    trainer = make(session, input_data_config=[s3_channel("train", TRAIN, input_mode="Pipe")])
    train(trainer, [])
    assert channel(creates(calls)[0], "train")["InputMode"] == "File"
    assert len(ours(grant_warnings)) == 1
    assert trainer.input_data_config[0].input_mode == "Pipe"  # not mutated


@pytest.mark.parametrize("how", ["trainer", "channel"])
def test_pipe_mode_refused_with_on_violation_error_before_upload(session, tmp_path, calls, how):
    if how == "trainer":
        trainer = make_with_code(session, tmp_path, training_input_mode="Pipe", on_violation="error")
        channels, where = None, "AlgorithmSpecification.TrainingInputMode"
    else:
        trainer = make_with_code(session, tmp_path, on_violation="error")
        channels, where = [s3_channel("train", TRAIN, input_mode="Pipe")], "InputDataConfig[train].InputMode"
    with pytest.raises(ConsiderationError) as err:
        train(trainer, channels)
    assert err.value.rule == "pipe-mode"
    assert [(f.rule, f.action, f.where) for f in err.value.findings] == [("pipe-mode", "refused", where)]
    nothing_happened(session, calls)
    assert trainer.latest_decision.refused and trainer.latest_decision.tags == ()


def test_source_code_is_uploaded_when_pipe_is_fixed(session, tmp_path, grant_warnings):
    """The contrast to the refusal: in fix mode the same trainer uploads its code and starts the job."""
    trainer = make_with_code(session, tmp_path, training_input_mode="Pipe")
    train(trainer)
    assert uploaded_keys(session) != []
    assert only_job(session)["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert len(ours(grant_warnings)) == 1


@pytest.mark.parametrize(
    "extra, blocker",
    [
        ({"compression_type": "Gzip"}, "CompressionType 'Gzip'"),
        ({"record_wrapper_type": "RecordIO"}, "RecordWrapperType 'RecordIO'"),
    ],
)
@pytest.mark.parametrize("on_violation", ["fix", "error"])
def test_pipe_with_pipe_only_feature_is_refused_even_in_fix_mode(session, tmp_path, calls, extra, blocker, on_violation):
    trainer = make_with_code(session, tmp_path, on_violation=on_violation)
    with pytest.raises(ConsiderationError) as err:
        train(trainer, [s3_channel("train", TRAIN, input_mode="Pipe", **extra), InputData(channel_name="val", data_source=VAL)])
    assert err.value.rule == "pipe-mode"
    assert [(f.rule, f.action, f.where) for f in err.value.findings] == [("pipe-mode", "refused", "InputDataConfig[train]")]
    assert blocker in err.value.findings[0].message
    nothing_happened(session, calls)


def test_trainer_level_pipe_with_gzip_channel_is_refused(session, tmp_path, calls):
    trainer = make_with_code(session, tmp_path, training_input_mode="Pipe")
    with pytest.raises(ConsiderationError) as err:
        train(trainer, [s3_channel("train", TRAIN, compression_type="Gzip")])
    assert err.value.rule == "pipe-mode"
    assert "CompressionType 'Gzip'" in err.value.findings[0].message
    nothing_happened(session, calls)


# --------------------------------------------------------------------------- 3. remote debug


def test_remote_debug_is_removed_with_one_warning(session, calls, grant_warnings):
    trainer = make(session).with_remote_debug_config(RemoteDebugConfig(enable_remote_debug=True))
    train(trainer)

    (request,) = creates(calls)
    assert "RemoteDebugConfig" not in request
    assert ours(grant_warnings) == [
        "[s3ag:remote-debug] RemoteDebugConfig: remote debugging cannot run with trusted identity propagation; removed"
    ]
    assert [(f.rule, f.action, f.where, f.explicit) for f in trainer.latest_decision.findings] == [
        ("remote-debug", "removed", "RemoteDebugConfig", True)
    ]
    assert tag_map(job_tags(session))["s3ag:adjustments"] == "remote-debug"
    assert trainer._remote_debug_config.enable_remote_debug is True  # the trainer is left as it was


def test_remote_debug_disabled_is_left_alone(session, calls, grant_warnings):
    trainer = make(session).with_remote_debug_config(RemoteDebugConfig(enable_remote_debug=False))
    train(trainer)
    assert creates(calls)[0]["RemoteDebugConfig"] == {}  # the SDK serializes False away; sent as the SDK built it
    assert trainer.latest_decision.findings == ()
    assert ours(grant_warnings) == []


def test_remote_debug_refused_with_on_violation_error_before_upload(session, tmp_path, calls):
    trainer = make_with_code(session, tmp_path, on_violation="error")
    trainer.with_remote_debug_config(RemoteDebugConfig(enable_remote_debug=True))
    with pytest.raises(ConsiderationError) as err:
        train(trainer)
    assert err.value.rule == "remote-debug"
    assert [(f.rule, f.action, f.where) for f in err.value.findings] == [("remote-debug", "refused", "RemoteDebugConfig")]
    nothing_happened(session, calls)
    assert trainer.latest_decision.refused


@pytest.mark.parametrize("path", [f"s3://{BUCKET}/tb/", None], ids=["explicit-path", "sdk-default-path"])
def test_tensorboard_output_is_removed_with_one_warning(session, calls, grant_warnings, path):
    """v3 sends TensorBoardOutputConfig (written by SageMaker Debugger): the debugger rule removes it."""
    trainer = make(session).with_tensorboard_output_config(TensorBoardOutputConfig(s3_output_path=path) if path else None)
    train(trainer)
    assert "TensorBoardOutputConfig" not in creates(calls)[0]
    (warning,) = ours(grant_warnings)
    assert warning.startswith("[s3ag:debugger] TensorBoardOutputConfig:")
    assert trainer.latest_decision.adjustments == ("debugger",)


@pytest.mark.parametrize("path", [f"s3://{BUCKET}/tb/", None], ids=["explicit-path", "sdk-default-path"])
def test_tensorboard_output_refused_with_on_violation_error_before_upload(session, tmp_path, calls, path):
    """Refused before the code upload even when the SDK would fill in the path only while uploading."""
    trainer = make_with_code(session, tmp_path, on_violation="error")
    trainer.with_tensorboard_output_config(TensorBoardOutputConfig(s3_output_path=path) if path else None)
    with pytest.raises(ConsiderationError) as err:
        train(trainer)
    assert [(f.rule, f.action, f.where) for f in err.value.findings] == [("debugger", "refused", "TensorBoardOutputConfig")]
    nothing_happened(session, calls)


# --------------------------------------------------------------------------- 4. TIP off


def test_tip_off_sends_the_stock_request_plus_tags(session, calls, grant_warnings, access_grants):
    common = dict(
        training_image=IMAGE,
        role=ROLE,
        compute=Compute(instance_type="ml.m5.xlarge", instance_count=1),
        output_data_config=OutputDataConfig(s3_output_path=OUT),
        training_input_mode="Pipe",
        sagemaker_session=session,
    )
    stock = ModelTrainer(base_job_name="stock", tags=[{"key": "team", "value": "a"}], **common)
    stock.with_remote_debug_config(RemoteDebugConfig(enable_remote_debug=True))
    train(stock)
    trainer = GrantAwareModelTrainer(
        base_job_name="grant-aware",
        tags=[{"key": "team", "value": "a"}],
        identity_propagation=False,
        on_violation="error",
        **common,
    )
    trainer.with_remote_debug_config(RemoteDebugConfig(enable_remote_debug=True))
    train(trainer)

    stock_request, ga_request = creates(calls)
    assert without_name_and_tags(ga_request) == without_name_and_tags(stock_request)
    assert ga_request["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert ga_request["RemoteDebugConfig"] == {"EnableRemoteDebug": True}
    assert stock_request["Tags"] == [{"Key": "team", "Value": "a"}]
    assert ga_request["Tags"] == [{"Key": "team", "Value": "a"}] + expected_record("iam-role", identity="disabled")

    decision = trainer.latest_decision
    assert decision.credentials == "iam-role"
    assert decision.findings == () and decision.locations == ()
    assert decision.identity_propagation.enabled is False
    assert ours(grant_warnings) == []
    assert [c for c in access_grants.calls if c[0] != "GetCallerIdentity"] == []  # no preflight


# --------------------------------------------------------------------------- 5. preflight verdicts


def test_granted_locations_record_access_grants(session, access_grants, grant_warnings):
    trainer = make(session)
    train(trainer)

    job = only_job(session)
    decision = trainer.latest_decision
    assert decision.job_name == job["TrainingJobName"]
    assert decision.job_type == "training"
    assert decision.credentials == GRANTED
    assert [(o.uri, o.permission, o.outcome, o.grantee_type) for o in decision.locations] == [
        (TRAIN, "READ", "granted", "DIRECTORY_USER"),
        (OUT, "WRITE", "granted", "DIRECTORY_USER"),
    ]
    assert list(decision.tags) == job_tags(session) == expected_record()
    assert dict(decision.record) == tag_map(expected_record())
    # train() takes no job name: every location is known, and asked about, before the SDK names the job.
    contexts = [params["AuditContext"] for op, params in access_grants.calls if op == "GetDataAccess"]
    assert contexts == ["sagemaker-s3ag preflight for SageMaker training job (name pending)"] * 2
    assert ours(grant_warnings) == []


def test_no_grant_at_all_is_iam_role_with_a_fallback_warning(session, access_grants, grant_warnings):
    access_grants.grants.clear()
    trainer = make(session)
    train(trainer)

    tags = tag_map(job_tags(session))
    assert tags["s3ag:credentials"] == "iam-role"
    assert tags["s3ag:fallback"] == "fallback 2/2: no matching grant"
    assert trainer.latest_decision.credentials == "iam-role"
    assert {o.outcome for o in trainer.latest_decision.locations} == {"fallback"}
    (warning,) = ours(grant_warnings)
    assert warning.startswith("[s3ag:fallback]")
    assert "2 of 2 S3 locations" in warning and TRAIN in warning and OUT in warning


def test_location_outside_the_grant_is_mixed(session, access_grants, grant_warnings):
    access_grants.grants.clear()
    access_grants.grant(f"s3://{BUCKET}/train/*", "READ").grant(f"s3://{BUCKET}/models/*", "WRITE")
    trainer = make(session)
    train(trainer, [InputData(channel_name="train", data_source=TRAIN), InputData(channel_name="val", data_source=VAL)])

    decision = trainer.latest_decision
    assert decision.credentials == "mixed"
    assert [(o.uri, o.outcome) for o in decision.locations] == [(TRAIN, "granted"), (VAL, "fallback"), (OUT, "granted")]
    assert tag_map(job_tags(session))["s3ag:fallback"] == "fallback 1/3: no matching grant"
    (warning,) = ours(grant_warnings)
    assert "1 of 3 S3 locations" in warning and VAL in warning and TRAIN not in warning


def test_on_fallback_allow_records_without_warning(session, access_grants, grant_warnings):
    access_grants.grants.clear()
    trainer = make(session, on_fallback="allow")
    train(trainer)
    assert trainer.latest_decision.credentials == "iam-role"
    assert tag_map(job_tags(session))["s3ag:fallback"] == "fallback 2/2: no matching grant"
    assert ours(grant_warnings) == []


def test_on_fallback_deny_refuses_before_upload_and_create(session, access_grants, tmp_path, calls):
    access_grants.grants.clear()
    access_grants.grant(f"s3://{BUCKET}/train/*", "READ").grant(f"s3://{BUCKET}/models/*", "WRITE")
    trainer = make_with_code(session, tmp_path, on_fallback="deny")
    with pytest.raises(GrantFallbackError) as caught:
        train(trainer, [InputData(channel_name="train", data_source=TRAIN), InputData(channel_name="val", data_source=VAL)])
    err = caught.value
    assert err.rule == "fallback"
    assert err.locations == ((VAL, "READ"),)
    assert "on_fallback='deny'" in str(err)
    nothing_happened(session, calls)
    assert trainer.latest_decision.refused


def test_latest_decision_is_the_created_job(session, grant_warnings):
    """Two train() calls: latest_decision names the job just created, each with its own record."""
    trainer = make(session, base_job_name="first")
    assert trainer.latest_decision is None
    train(trainer)
    (first,) = created_jobs(session)["training"]
    assert trainer.latest_decision.job_name == first
    trainer.base_job_name = "second"
    train(trainer)
    (second,) = set(created_jobs(session)["training"]) - {first}
    assert trainer.latest_decision.job_name == second
    assert trainer.latest_decision.credentials == GRANTED


def test_sdk_default_output_path_is_checked_before_upload(session, access_grants, tmp_path, calls):
    """No output_data_config: the SDK's default output path is known before train() uploads, and asked about."""
    access_grants.grants.clear()
    access_grants.grant(f"s3://{BUCKET}/train/*", "READ")
    (tmp_path / "train.py").write_text("print('hello')\n")
    trainer = GrantAwareModelTrainer(
        training_image=IMAGE,
        role=ROLE,
        compute=Compute(instance_type="ml.m5.xlarge", instance_count=1),
        sagemaker_session=session,
        source_code=SourceCode(source_dir=str(tmp_path), entry_script="train.py"),
        base_job_name="defaults",
        identity_propagation=True,
        on_fallback="deny",
    )
    with pytest.raises(GrantFallbackError) as err:
        train(trainer)
    assert err.value.locations == ((f"s3://{BUCKET}/defaults", "WRITE"),)
    nothing_happened(session, calls)


def test_locations_known_only_after_upload_are_asked_at_the_final_request(session, access_grants, tmp_path, grant_warnings):
    """Local data is uploaded to a place named after the job: asked about once the job is named."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "part.csv").write_text("1\n")
    trainer = make(session, base_job_name="local")
    train(trainer, [InputData(channel_name="train", data_source=str(data))])

    name = only_job(session)["TrainingJobName"]
    uploaded = f"s3://{BUCKET}/local/{name}/input/train"
    assert uploaded_keys(session) == [f"local/{name}/input/train/part.csv"]
    assert [(o.uri, o.permission, o.outcome) for o in trainer.latest_decision.locations] == [
        (uploaded, "READ", "granted"),
        (OUT, "WRITE", "granted"),
    ]
    contexts = [params["AuditContext"] for op, params in access_grants.calls if op == "GetDataAccess"]
    assert contexts == [
        "sagemaker-s3ag preflight for SageMaker training job (name pending)",  # OUT, before anything is uploaded
        f"sagemaker-s3ag preflight for SageMaker training job {name}",  # the uploaded data
    ]


def test_second_train_asks_nothing_new(session, access_grants):
    trainer = make(session, base_job_name="first")
    train(trainer)
    asked = [op for op, _ in access_grants.calls if op != "GetCallerIdentity"]
    assert asked == ["GetAccessGrantsInstanceForPrefix", "GetDataAccess", "GetDataAccess"]
    trainer.base_job_name = "second"
    train(trainer)
    assert [op for op, _ in access_grants.calls if op != "GetCallerIdentity"] == asked
    assert trainer.latest_decision.credentials == GRANTED


def test_refusal_after_a_job_replaces_latest_decision(session, calls):
    trainer = make(session, on_violation="error")
    train(trainer)
    assert trainer.latest_decision.credentials == GRANTED
    trainer.with_remote_debug_config(RemoteDebugConfig(enable_remote_debug=True))
    with pytest.raises(ConsiderationError):
        train(trainer)
    assert trainer.latest_decision.refused and trainer.latest_decision.tags == ()  # the refusal, not the earlier job
    assert len(creates(calls)) == 1


@pytest.mark.parametrize("variable", ["TRUSTED_IDENTITY_PROPOGATION_ENABLED", "TRUSTED_IDENTITY_PROPAGATION_ENABLED"])
def test_tip_detected_from_the_environment(session, monkeypatch, grant_warnings, variable):
    monkeypatch.setenv(variable, "true")
    trainer = make(session, identity_propagation=None, training_input_mode="Pipe")
    train(trainer)
    assert only_job(session)["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert trainer.latest_decision.identity_propagation.source == f"environment {variable}"
    assert len(ours(grant_warnings)) == 1


def test_no_environment_no_studio_means_tip_off(session, grant_warnings):
    trainer = make(session, identity_propagation=None, training_input_mode="Pipe")
    train(trainer)
    assert only_job(session)["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert trainer.latest_decision.identity_propagation.enabled is False
    assert tag_map(job_tags(session))["s3ag:credentials"] == "iam-role"


# --------------------------------------------------------------------------- 6. tags


def test_user_tags_as_dicts_and_tag_objects_are_kept_in_order_and_not_mutated(session, grant_warnings):
    trainer = make(session, tags=[{"key": "team", "value": "a"}, Tag(key="cost-center", value="42")])
    before = copy.deepcopy(trainer.tags)
    train(trainer)

    assert job_tags(session) == [{"Key": "team", "Value": "a"}, {"Key": "cost-center", "Value": "42"}] + expected_record()
    assert trainer.tags == before
    assert ours(grant_warnings) == []


def test_user_s3ag_tag_is_replaced_with_a_finding(session, grant_warnings):
    trainer = make(session, tags=[Tag(key="team", value="a"), Tag(key="s3ag:credentials", value="forged")])
    before = copy.deepcopy(trainer.tags)
    train(trainer)

    tags = job_tags(session)
    assert tags == [{"Key": "team", "Value": "a"}] + expected_record()
    assert trainer.tags == before
    (warning,) = ours(grant_warnings)
    assert warning.startswith("[s3ag:tags] Tags:") and "s3ag:credentials" in warning
    assert [(f.rule, f.action) for f in trainer.latest_decision.findings] == [("tags", "replaced")]
    assert trainer.latest_decision.adjustments == ()


def test_48_user_tags_leave_room_for_two_of_ours(session, grant_warnings):
    user_tags = [Tag(key=f"k{i}", value=str(i)) for i in range(48)]
    trainer = make(session, tags=user_tags)
    train(trainer)

    tags = job_tags(session)
    assert len(tags) == 50
    assert tags[:48] == [{"Key": f"k{i}", "Value": str(i)} for i in range(48)]
    assert tags[48:] == expected_record()[:2]
    (warning,) = ours(grant_warnings)
    assert "not recorded on the job: s3ag:credentials, s3ag:adjustments, s3ag:launched-by" in warning
    assert dict(trainer.latest_decision.record) == tag_map(expected_record())
    assert len(trainer.tags) == 48


def test_50_user_tags_leave_no_room_and_are_kept(session, grant_warnings):
    user_tags = [{"key": f"k{i}", "value": "v"} for i in range(50)]
    trainer = make(session, tags=user_tags)
    train(trainer)
    assert job_tags(session) == [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    assert trainer.latest_decision.tags == ()
    assert trainer.latest_decision.record["s3ag:identity-propagation"] == "enabled"
    assert len(ours(grant_warnings)) == 1


# --------------------------------------------------------------------------- 7. plan()


def test_plan_matches_the_launch_and_does_nothing(session, calls, grant_warnings):
    trainer = make(session, training_input_mode="Pipe")
    channels = [InputData(channel_name="train", data_source=TRAIN)]
    planned = trainer.plan(input_data_config=channels)

    assert planned.planned and not planned.refused
    nothing_happened(session, calls)
    assert grant_warnings == []  # a plan warns about nothing
    assert trainer.latest_decision is None
    assert launch_in_context() is None  # nothing is left governing later requests

    train(trainer, channels)
    launched = trainer.latest_decision
    assert [(f.rule, f.action, f.where) for f in planned.findings] == [(f.rule, f.action, f.where) for f in launched.findings]
    assert planned.adjustments == launched.adjustments == ("pipe-mode",)
    assert planned.locations == launched.locations
    assert planned.credentials == launched.credentials == GRANTED
    assert "sagemaker-s3ag plan for training job" in str(planned)


def test_refused_plan_is_returned_not_raised(session, tmp_path, calls):
    trainer = make_with_code(session, tmp_path, training_input_mode="Pipe", on_violation="error")
    planned = trainer.plan(input_data_config=[InputData(channel_name="train", data_source=TRAIN)])
    assert planned.planned and planned.refused
    assert planned.credentials == "unknown" and planned.tags == ()
    assert [(f.rule, f.action) for f in planned.findings] == [("pipe-mode", "refused")]
    assert "REFUSED" in str(planned)
    nothing_happened(session, calls)


def test_plan_with_tip_off_records_tags_only(session, access_grants):
    trainer = make(session, identity_propagation=False, training_input_mode="Pipe", tags=[{"key": "team", "value": "a"}])
    planned = trainer.plan(input_data_config=[InputData(channel_name="train", data_source=TRAIN)])
    assert (planned.credentials, planned.findings, planned.locations) == ("iam-role", (), ())
    assert planned.record["s3ag:identity-propagation"] == "disabled"
    assert [c for c in access_grants.calls if c[0] != "GetCallerIdentity"] == []


# --------------------------------------------------------------------------- 8. grant_aware()


def test_grant_aware_model_trainer_subclass_takes_the_settings(session, grant_warnings):
    cls = grant_aware(ModelTrainer)
    assert issubclass(cls, ModelTrainer)
    assert cls is grant_aware(ModelTrainer)
    assert cls is GrantAwareModelTrainer  # the named class is ModelTrainer's registered twin
    assert grant_aware(cls) is cls

    class MyTrainer(ModelTrainer):
        pass

    mine = grant_aware(MyTrainer)
    assert mine is grant_aware(MyTrainer)
    assert issubclass(mine, MyTrainer) and mine.__name__ == "GrantAwareMyTrainer"
    trainer = mine(
        training_image=IMAGE,
        role=ROLE,
        compute=Compute(instance_type="ml.m5.xlarge", instance_count=1),
        output_data_config=OutputDataConfig(s3_output_path=OUT),
        sagemaker_session=session,
        training_input_mode="Pipe",
        identity_propagation=True,
        pipe_mode_replacement="FastFile",
        on_fallback="deny",
    )
    assert trainer.s3ag_settings.pipe_mode_replacement == "FastFile"
    assert trainer.s3ag_settings.on_fallback == "deny"
    train(trainer)
    assert only_job(session)["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"
    assert trainer.latest_decision.adjustments == ("pipe-mode",)


@pytest.mark.parametrize("cls", [dict, Tag, OutputDataConfig])
def test_grant_aware_refuses_other_classes(cls):
    with pytest.raises(TypeError, match="ModelTrainer or processor"):
        grant_aware(cls)


def test_grant_aware_refuses_a_non_class(session):
    with pytest.raises(TypeError, match="takes a class"):
        grant_aware(ModelTrainer(training_image=IMAGE, role=ROLE, sagemaker_session=session))


# --------------------------------------------------------------------------- 9. dry_run


def test_dry_run_creates_nothing_and_leaves_nothing_governing(session, calls, grant_warnings):
    trainer = make(session, training_input_mode="Pipe")
    assert train(trainer, dry_run=True) is None
    assert launch_in_context() is None  # nothing is left governing later requests
    assert created_jobs(session)["training"] == []
    assert creates(calls) == []
    assert grant_warnings == []
    # The trainer still launches normally afterwards, and that job is the one decided for.
    train(trainer)
    assert trainer.latest_decision.job_name == only_job(session)["TrainingJobName"]
    assert launch_in_context() is None  # nothing is left governing later requests


def test_dry_run_still_refuses(session, tmp_path, calls):
    trainer = make_with_code(session, tmp_path, training_input_mode="Pipe", on_violation="error")
    with pytest.raises(ConsiderationError):
        train(trainer, dry_run=True)
    nothing_happened(session, calls)
    assert launch_in_context() is None  # nothing is left governing later requests


# --------------------------------------------------------------------------- found in review


def test_an_s3_source_dir_is_the_code_channel_and_is_checked_before_anything(session, calls):
    """ModelTrainer reads an S3 ``source_dir`` as its ``code`` channel: deny refuses it before the drivers are uploaded."""
    trainer = GrantAwareModelTrainer(
        training_image=IMAGE,
        role=ROLE,
        sagemaker_session=session,
        identity_propagation=True,
        on_fallback="deny",
        source_code=SourceCode(source_dir="s3://other-bucket/code/", entry_script="train.py"),
    )
    assert trainer.plan().refused
    with pytest.raises(GrantFallbackError) as info:
        trainer.train(input_data_config=[InputData(channel_name="train", data_source=TRAIN)], wait=False, logs=False)
    assert ("s3://other-bucket/code/", "READ") in info.value.locations
    assert uploaded_keys(session) == []
    assert creates(calls) == []


def test_the_settings_are_no_pydantic_fields():
    """The settings and the decision live beside the model, not in it: no extra fields, dump or constructor keys."""
    fields = GrantAwareModelTrainer.model_fields
    assert "s3ag_settings" not in fields and "latest_decision" not in fields
    assert set(fields) == set(ModelTrainer.model_fields)


def test_a_trainer_built_without_init_has_the_default_settings():
    trainer = GrantAwareModelTrainer.model_construct(training_image=IMAGE, role=ROLE)
    assert trainer.s3ag_settings == sagemaker_s3ag.Settings()
    assert trainer.latest_decision is None
