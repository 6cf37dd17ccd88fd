"""GrantAwareEstimator against the real SageMaker SDK v2 on moto.

Every job is read back from the emulator (``DescribeTrainingJob`` / ``ListTags``). moto does not
store ``ProfilerConfig``, ``ProfilerRuleConfigurations`` or ``RemoteDebugConfig``, so those are
read from the CreateTrainingJob parameters as botocore sent them (fixture ``calls``, helper ``creates``).
"""

from __future__ import annotations

import copy
import json

import pytest
from conftest import (
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
from sagemaker.debugger import (
    DebuggerHookConfig,
    ProfilerConfig,
    ProfilerRule,
    Rule,
    TensorBoardOutputConfig,
    rule_configs,
)
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.pytorch import PyTorch

from sagemaker_s3ag import ConsiderationError, GrantAwareEstimator, __version__, grant_aware

TRAIN = f"s3://{BUCKET}/train/"
VAL = f"s3://{BUCKET}/val/"
OUTPUT = f"s3://{BUCKET}/"


# --------------------------------------------------------------------------- helpers

# conftest's ``access_grants`` grants every location in the bucket: the preflight says so.
GRANTED = "access-grants"


def make(session, **kwargs):
    kwargs.setdefault("identity_propagation", True)
    return GrantAwareEstimator(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        **kwargs,
    )


def make_pytorch(session, tmp_path, **kwargs):
    entry = tmp_path / "train.py"
    entry.write_text("print('hello')\n")
    kwargs.setdefault("identity_propagation", True)
    return grant_aware(PyTorch)(
        entry_point=str(entry),
        role=ROLE,
        framework_version="2.1",
        py_version="py310",
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        **kwargs,
    )


def fit(est, inputs=TRAIN, **kwargs):
    return est.fit(inputs, wait=False, logs=False, **kwargs)


def described(session, est):
    return session.sagemaker_client.describe_training_job(TrainingJobName=est.latest_training_job.name)


def job_tags(session, est) -> list[dict]:
    arn = described(session, est)["TrainingJobArn"]
    return session.sagemaker_client.list_tags(ResourceArn=arn)["Tags"]


# --------------------------------------------------------------------------- 1. defaults, TIP on


def test_defaults_with_tip_on_remove_debugger_and_profiler_quietly(session, calls, grant_warnings):
    est = make(session)
    fit(est, {"train": TRAIN})

    job = described(session, est)
    assert "DebugHookConfig" not in job
    assert "DebugRuleConfigurations" not in job
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert len(creates(calls)) == 1
    request = creates(calls)[0]
    assert "DebugHookConfig" not in request
    assert request.get("ProfilerConfig", {"DisableProfiler": True}) == {"DisableProfiler": True}
    assert "RemoteDebugConfig" not in request

    assert ours(grant_warnings) == []
    decision = est.latest_decision
    assert decision.adjustments == ("debugger", "profiler")
    assert [(f.rule, f.action, f.where, f.explicit) for f in decision.findings] == [
        ("debugger", "removed", "DebugHookConfig", False),
        ("profiler", "replaced", "ProfilerConfig", False),
    ]
    assert decision.job_name == job["TrainingJobName"]
    assert decision.credentials == GRANTED
    assert decision.identity_propagation.enabled is True
    assert decision.identity_propagation.source == "setting"

    assert job_tags(session, est) == expected_record(GRANTED, "debugger profiler")
    assert list(decision.tags) == job_tags(session, est)


def test_defaults_are_removed_even_with_on_violation_error(session, calls, grant_warnings):
    est = make(session, on_violation="error")
    fit(est)
    assert "DebugHookConfig" not in described(session, est)
    assert creates(calls)[0]["ProfilerConfig"] == {"DisableProfiler": True}
    assert est.latest_decision.adjustments == ("debugger", "profiler")
    assert ours(grant_warnings) == []


def test_user_who_opted_out_sees_no_change(session, calls, grant_warnings):
    est = make(session, debugger_hook_config=False, disable_profiler=True, on_violation="error")
    fit(est)
    request = creates(calls)[0]
    assert "DebugHookConfig" not in request
    assert request["ProfilerConfig"] == {"DisableProfiler": True}
    assert est.latest_decision.findings == ()
    assert tag_map(job_tags(session, est))["s3ag:adjustments"] == "none"
    assert ours(grant_warnings) == []


def test_disabled_profiler_is_left_alone(session, calls, grant_warnings):
    est = make(session, disable_profiler=True)
    fit(est)
    assert creates(calls)[0]["ProfilerConfig"] == {"DisableProfiler": True}
    assert est.latest_decision.adjustments == ("debugger",)
    assert tag_map(job_tags(session, est))["s3ag:adjustments"] == "debugger"
    assert ours(grant_warnings) == []


# --------------------------------------------------------------------------- 2. Pipe mode


def test_estimator_pipe_mode_becomes_file_with_one_warning(session, grant_warnings):
    est = make(session, input_mode="Pipe")
    fit(est, {"train": TRAIN, "val": VAL})

    job = described(session, est)
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert all(c.get("InputMode", "File") == "File" for c in job["InputDataConfig"])
    warned = ours(grant_warnings)
    assert len(warned) == 1
    assert warned[0].startswith("[s3ag:pipe-mode] AlgorithmSpecification.TrainingInputMode:")
    assert est.latest_decision.adjustments == ("pipe-mode", "debugger", "profiler")
    assert tag_map(job_tags(session, est))["s3ag:adjustments"] == "pipe-mode debugger profiler"
    assert est.input_mode == "Pipe"  # the estimator itself is left as the user made it


def test_pipe_mode_replacement_fastfile(session, grant_warnings):
    est = make(session, input_mode="Pipe", pipe_mode_replacement="FastFile")
    fit(est)
    assert described(session, est)["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"
    warned = ours(grant_warnings)
    assert len(warned) == 1 and "[s3ag:pipe-mode]" in warned[0] and "FastFile" in warned[0]


def test_channel_level_pipe_becomes_file_other_channels_untouched(session, grant_warnings):
    est = make(session)
    fit(est, {"train": TrainingInput(TRAIN, input_mode="Pipe"), "val": VAL, "extra": TrainingInput(VAL, input_mode="FastFile")})

    job = described(session, est)
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert channel(job, "train")["InputMode"] == "File"
    assert "InputMode" not in channel(job, "val")
    assert channel(job, "extra")["InputMode"] == "FastFile"
    warned = ours(grant_warnings)
    assert warned == [
        "[s3ag:pipe-mode] InputDataConfig[train].InputMode: Pipe mode cannot use S3 Access Grants; channel 'train' now uses File"
    ]


def test_single_training_input_in_pipe_mode_is_read_in_file_mode(session, calls, grant_warnings):
    # The SDK copies a single TrainingInput's mode into TrainingInputMode as well.
    est = make(session)
    fit(est, TrainingInput(TRAIN, input_mode="Pipe"))
    request = creates(calls)[0]
    (only,) = request["InputDataConfig"]
    assert only["InputMode"] == "File"
    assert len(ours(grant_warnings)) == 1


def test_pipe_mode_refused_with_on_violation_error(session, grant_warnings):
    est = make(session, input_mode="Pipe", on_violation="error")
    with pytest.raises(ConsiderationError) as err:
        fit(est)
    assert err.value.rule == "pipe-mode"
    assert [f.where for f in err.value.findings] == ["AlgorithmSpecification.TrainingInputMode"]
    assert created_jobs(session)["training"] == []
    assert est.latest_decision.refused and est.latest_decision.tags == ()  # the refusal, not an earlier job


# --------------------------------------------------------------------------- 3. explicit Debugger / Profiler / remote debug

# case -> (constructor kwargs, rule id, request field)
EXPLICIT = {
    "debugger-hook": (
        lambda: {"debugger_hook_config": DebuggerHookConfig(s3_output_path=f"s3://{BUCKET}/hook")},
        "debugger",
        "DebugHookConfig",
    ),
    "debugger-rule": (
        lambda: {"rules": [Rule.sagemaker(rule_configs.vanishing_gradient())]},
        "debugger",
        "DebugRuleConfigurations",
    ),
    "tensorboard": (
        lambda: {"tensorboard_output_config": TensorBoardOutputConfig(s3_output_path=f"s3://{BUCKET}/tb")},
        "debugger",
        "TensorBoardOutputConfig",
    ),
    "profiler-config": (
        lambda: {"profiler_config": ProfilerConfig(s3_output_path=f"s3://{BUCKET}/prof")},
        "profiler",
        "ProfilerConfig",
    ),
    "profiler-rule": (
        lambda: {"rules": [ProfilerRule.sagemaker(rule_configs.ProfilerReport())]},
        "profiler",
        "ProfilerRuleConfigurations",
    ),
    "remote-debug": (lambda: {"enable_remote_debug": True}, "remote-debug", "RemoteDebugConfig"),
}


@pytest.mark.parametrize("case", list(EXPLICIT))
def test_explicit_feature_is_removed_with_one_warning_in_fix_mode(session, calls, grant_warnings, case):
    kwargs, rule, field = EXPLICIT[case]
    est = make(session, **kwargs())
    fit(est)

    request = creates(calls)[0]
    job = described(session, est)
    if field == "ProfilerConfig":
        assert request["ProfilerConfig"] == {"DisableProfiler": True}
    else:
        assert field not in request
        assert field not in job
    assert "DebugHookConfig" not in request
    assert request.get("ProfilerConfig", {"DisableProfiler": True}) == {"DisableProfiler": True}

    warned = ours(grant_warnings)
    assert len(warned) == 1, warned
    assert warned[0].startswith(f"[s3ag:{rule}] {field}:")
    explicit = [(f.rule, f.where) for f in est.latest_decision.findings if f.explicit]
    assert explicit == [(rule, field)]
    assert rule in est.latest_decision.adjustments


@pytest.mark.parametrize("case", list(EXPLICIT))
def test_explicit_feature_is_refused_before_anything_with_on_violation_error(session, calls, case):
    kwargs, rule, field = EXPLICIT[case]
    est = make(session, on_violation="error", **kwargs())
    with pytest.raises(ConsiderationError) as err:
        fit(est)
    assert err.value.rule == rule
    assert [(f.rule, f.action) for f in err.value.findings] == [(rule, "refused")]
    assert err.value.findings[0].where == field
    assert created_jobs(session)["training"] == []
    assert [op for op, _ in calls if op == "CreateTrainingJob"] == []
    assert est.latest_decision.refused and est.latest_decision.tags == ()  # the refusal, not an earlier job


def test_refusal_creates_no_default_bucket(session):
    """A refusal comes before the SDK's default bucket is created (default_bucket() may call CreateBucket)."""
    from sagemaker.session import Session

    s3 = session.boto_session.client("s3")
    fresh = Session(boto_session=session.boto_session)  # no default bucket chosen yet
    est = make(fresh, input_mode="Pipe", on_violation="error")
    with pytest.raises(ConsiderationError) as err:
        fit(est)
    assert err.value.rule == "pipe-mode"
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]


@pytest.mark.parametrize("case", ["debugger-hook", "profiler-config", "remote-debug", "tensorboard"])
def test_framework_estimator_refusal_uploads_nothing(session, tmp_path, calls, case):
    kwargs, rule, _field = EXPLICIT[case]
    est = make_pytorch(session, tmp_path, on_violation="error", **kwargs())
    with pytest.raises(ConsiderationError) as err:
        fit(est)
    assert err.value.rule == rule
    assert uploaded_keys(session) == []
    assert created_jobs(session)["training"] == []


def test_framework_estimator_in_fix_mode_uploads_code_and_removes_hook(session, tmp_path, grant_warnings):
    est = make_pytorch(session, tmp_path, debugger_hook_config=DebuggerHookConfig(s3_output_path=f"s3://{BUCKET}/hook"))
    fit(est)
    assert any(k.endswith("sourcedir.tar.gz") for k in uploaded_keys(session))
    assert "DebugHookConfig" not in described(session, est)
    warned = ours(grant_warnings)
    assert len(warned) == 1 and warned[0].startswith("[s3ag:debugger] DebugHookConfig:")


# --------------------------------------------------------------------------- 4. TIP off


def test_tip_off_sends_the_stock_request_plus_tags(session, calls, grant_warnings):
    kwargs = {"input_mode": "Pipe", "tags": [{"Key": "team", "Value": "a"}]}
    stock = Estimator(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        **copy.deepcopy(kwargs),
    )
    stock.fit({"train": TRAIN}, wait=False, logs=False, job_name="stock-job")
    est = make(session, identity_propagation=False, **copy.deepcopy(kwargs))
    est.fit({"train": TRAIN}, wait=False, logs=False, job_name="grant-aware-job")

    stock_request, ga_request = creates(calls)[0], creates(calls)[1]
    assert without_name_and_tags(ga_request) == without_name_and_tags(stock_request)
    assert stock_request["Tags"] == [{"Key": "team", "Value": "a"}]
    assert ga_request["Tags"][:1] == stock_request["Tags"]
    assert ga_request["DebugHookConfig"] == {"S3OutputPath": OUTPUT, "CollectionConfigurations": []}
    assert ga_request["ProfilerConfig"]["DisableProfiler"] is False
    assert ga_request["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"

    job = described(session, est)
    assert job["DebugHookConfig"]["S3OutputPath"] == OUTPUT
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    team = {"Key": "team", "Value": "a"}
    assert job_tags(session, est) == [team, *expected_record("iam-role", "none", identity="disabled")]
    assert est.latest_decision.findings == ()
    assert est.latest_decision.adjustments == ()
    assert est.latest_decision.credentials == "iam-role"
    assert ours(grant_warnings) == []


def test_tip_off_does_not_check_explicit_features(session, calls, grant_warnings):
    est = make(
        session,
        identity_propagation=False,
        on_violation="error",
        enable_remote_debug=True,
        rules=[Rule.sagemaker(rule_configs.vanishing_gradient())],
    )
    fit(est, {"train": TrainingInput(TRAIN, input_mode="Pipe", compression="Gzip")})
    request = creates(calls)[0]
    assert request["RemoteDebugConfig"] == {"EnableRemoteDebug": True}
    assert len(request["DebugRuleConfigurations"]) == 1
    assert channel(request, "train")["InputMode"] == "Pipe"
    assert ours(grant_warnings) == []


# --------------------------------------------------------------------------- 5. tags


def test_user_tags_list_is_never_mutated_and_survives(session, grant_warnings, tmp_path, monkeypatch):
    # The SDK appends Studio project tags (and sagemaker_config tags) to the estimator's list in place.
    # (sagemaker_config is left out: the SDK validates it with jsonschema on every read, ~5 s per fit.)
    (tmp_path / ".sagemaker-code-config").write_text(json.dumps({"sagemakerProjectId": "p-123", "sagemakerProjectName": "proj"}))
    monkeypatch.chdir(tmp_path)
    user_tags = [{"Key": "team", "Value": "a"}]
    snapshot = copy.deepcopy(user_tags)
    est = make(session, tags=user_tags)

    fit(est, job_name="first-job")
    assert user_tags == snapshot
    assert est.tags is user_tags
    first = tag_map(job_tags(session, est))
    fit(est, job_name="second-job")
    assert user_tags == snapshot
    second = job_tags(session, est)

    expected = {
        "team": "a",
        "sagemaker:project-id": "p-123",
        "sagemaker:project-name": "proj",
        "s3ag:credentials": GRANTED,
        "s3ag:identity-propagation": "enabled",
        "s3ag:adjustments": "debugger profiler",
        "s3ag:launched-by": "user",
        "s3ag:version": __version__,
    }
    assert first == expected
    assert tag_map(second) == expected
    assert len(second) == len(expected)  # nothing appended twice
    assert ours(grant_warnings) == []


def test_user_s3ag_tag_is_replaced_with_a_warning(session, grant_warnings):
    user_tags = [{"Key": "team", "Value": "a"}, {"Key": "s3ag:credentials", "Value": "access-grants"}]
    snapshot = copy.deepcopy(user_tags)
    est = make(session, tags=user_tags)
    fit(est)

    tags = job_tags(session, est)
    assert [t["Key"] for t in tags].count("s3ag:credentials") == 1
    assert tag_map(tags)["s3ag:credentials"] == GRANTED
    assert tag_map(tags)["team"] == "a"
    assert user_tags == snapshot
    warned = ours(grant_warnings)
    assert len(warned) == 1
    assert warned[0].startswith("[s3ag:tags] Tags:") and "s3ag:credentials" in warned[0]
    assert est.latest_decision.adjustments == ("debugger", "profiler")


def test_48_user_tags_leave_room_for_two_of_ours(session, grant_warnings):
    user_tags = [{"Key": f"k{i}", "Value": str(i)} for i in range(48)]
    est = make(session, tags=user_tags)
    fit(est)

    tags = job_tags(session, est)
    assert len(tags) == 50
    assert tags[:48] == user_tags
    assert tags[48:] == [
        {"Key": "s3ag:identity-propagation", "Value": "enabled"},
        {"Key": "s3ag:version", "Value": __version__},
    ]
    warned = ours(grant_warnings)
    assert len(warned) == 1
    assert warned[0].startswith("[s3ag:tags] Tags:")
    assert "not recorded on the job: s3ag:credentials, s3ag:adjustments, s3ag:launched-by" in warned[0]
    decision = est.latest_decision
    assert dict(decision.record) == {
        "s3ag:credentials": GRANTED,
        "s3ag:identity-propagation": "enabled",
        "s3ag:adjustments": "debugger profiler",
        "s3ag:launched-by": "user",
        "s3ag:version": __version__,
    }
    assert list(decision.tags) == tags[48:]
    assert len(user_tags) == 48


def test_50_user_tags_leave_no_room_and_are_kept(session, grant_warnings):
    user_tags = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    est = make(session, tags=user_tags)
    fit(est)
    assert job_tags(session, est) == user_tags
    assert est.latest_decision.tags == ()
    assert est.latest_decision.record["s3ag:identity-propagation"] == "enabled"
    assert len(ours(grant_warnings)) == 1


# --------------------------------------------------------------------------- 6. fit twice


def test_second_fit_still_treats_sdk_defaults_as_defaults(session, calls, grant_warnings):
    est = make(session)
    fit(est, job_name="first-fit")
    first = est.latest_decision
    assert est.debugger_hook_config is not None  # the SDK filled it in during the first fit
    fit(est, job_name="second-fit")
    second = est.latest_decision

    assert ours(grant_warnings) == []
    assert first.job_name == "first-fit"
    assert second.job_name == "second-fit"
    assert second is not first
    assert [(f.rule, f.explicit) for f in second.findings] == [("debugger", False), ("profiler", False)]
    assert "DebugHookConfig" not in creates(calls)[1]
    assert creates(calls)[1]["ProfilerConfig"] == {"DisableProfiler": True}
    assert sorted(created_jobs(session)["training"]) == ["first-fit", "second-fit"]


def test_second_fit_with_on_violation_error_is_not_refused(session, grant_warnings):
    est = make(session, on_violation="error")
    fit(est, job_name="first-fit")
    fit(est, job_name="second-fit")
    assert est.latest_decision.job_name == "second-fit"
    assert est.latest_decision.adjustments == ("debugger", "profiler")
    assert ours(grant_warnings) == []


def test_explicit_hook_stays_explicit_on_second_fit(session, grant_warnings):
    est = make(session, debugger_hook_config=DebuggerHookConfig(s3_output_path=f"s3://{BUCKET}/hook"))
    fit(est, job_name="first-fit")
    fit(est, job_name="second-fit")
    warned = ours(grant_warnings)
    assert len(warned) == 2
    assert all(w.startswith("[s3ag:debugger] DebugHookConfig:") for w in warned)


# --------------------------------------------------------------------------- 7. update calls


UPDATES = {
    "enable_remote_debug": ("remote-debug", lambda est: est.enable_remote_debug()),
    "enable_default_profiling": ("profiler", lambda est: est.enable_default_profiling()),
    "update_profiler": ("profiler", lambda est: est.update_profiler(system_monitor_interval_millis=500)),
}


@pytest.mark.parametrize("name", list(UPDATES))
def test_update_calls_refused_with_tip_on(session, calls, name):
    rule, call = UPDATES[name]
    est = make(session)
    fit(est)
    before = len(calls)
    with pytest.raises(ConsiderationError) as err:
        call(est)
    assert err.value.rule == rule
    assert [(f.rule, f.action, f.where) for f in err.value.findings] == [(rule, "refused", f"{name}()")]
    assert calls[before:] == []


@pytest.mark.parametrize("name", list(UPDATES))
def test_update_calls_refused_before_sdk_checks_for_a_job(session, calls, name):
    rule, call = UPDATES[name]
    est = make(session)
    with pytest.raises(ConsiderationError) as err:  # the stock SDK would raise a plain ValueError
        call(est)
    assert err.value.rule == rule
    assert calls == []


@pytest.mark.parametrize("name", list(UPDATES))
def test_update_calls_pass_through_with_tip_off(session, calls, name):
    _rule, call = UPDATES[name]
    est = make(session, identity_propagation=False)
    fit(est)
    with pytest.raises(Exception) as err:  # moto does not implement UpdateTrainingJob
        call(est)
    assert not isinstance(err.value, ConsiderationError)
    assert [op for op, _ in calls if op.startswith("Update")] == ["UpdateTrainingJob"]


# --------------------------------------------------------------------------- 8. malformed S3 URIs


@pytest.mark.parametrize("uri", ["s3:/bkt/train", "s3://", "s3://b", "S3://bkt/train with space"])
def test_malformed_s3_uri_is_refused_naming_the_channel(session, calls, uri):
    est = make(session)
    with pytest.raises(ConsiderationError) as err:
        fit(est, {"train": TRAIN, "broken": TrainingInput(uri)})
    assert err.value.rule == "s3-uri"
    assert [(f.rule, f.where) for f in err.value.findings] == [
        ("s3-uri", "InputDataConfig[broken].DataSource.S3DataSource.S3Uri")
    ]
    assert "broken" in str(err.value)
    assert created_jobs(session)["training"] == []
    assert [op for op, _ in calls if op == "CreateTrainingJob"] == []


def test_malformed_output_path_is_refused(session):
    est = make(session, output_path="s3:/bkt/out")
    with pytest.raises(ConsiderationError) as err:
        fit(est)
    assert err.value.rule == "s3-uri"
    assert [f.where for f in err.value.findings] == ["OutputDataConfig.S3OutputPath"]
    assert created_jobs(session)["training"] == []


# --------------------------------------------------------------------------- 9. Pipe-only features


@pytest.mark.parametrize(
    "extra, blocker",
    [({"compression": "Gzip"}, "CompressionType 'Gzip'"), ({"record_wrapping": "RecordIO"}, "RecordWrapperType 'RecordIO'")],
)
@pytest.mark.parametrize("on_violation", ["fix", "error"])
def test_pipe_with_pipe_only_feature_is_refused_even_in_fix_mode(session, tmp_path, extra, blocker, on_violation):
    est = make_pytorch(session, tmp_path, on_violation=on_violation)
    with pytest.raises(ConsiderationError) as err:
        fit(est, {"train": TrainingInput(TRAIN, input_mode="Pipe", **extra), "val": VAL})
    assert err.value.rule == "pipe-mode"
    assert [(f.rule, f.where) for f in err.value.findings] == [("pipe-mode", "InputDataConfig[train]")]
    assert blocker in err.value.findings[0].message
    assert uploaded_keys(session) == []
    assert created_jobs(session)["training"] == []


def test_job_level_pipe_with_gzip_channel_is_refused(session):
    est = make(session, input_mode="Pipe")
    with pytest.raises(ConsiderationError) as err:
        fit(est, {"train": TrainingInput(TRAIN, compression="Gzip")})
    assert err.value.rule == "pipe-mode"
    assert created_jobs(session)["training"] == []


# --------------------------------------------------------------------------- 10. detection through the environment


@pytest.mark.parametrize("variable", ["TRUSTED_IDENTITY_PROPOGATION_ENABLED", "TRUSTED_IDENTITY_PROPAGATION_ENABLED"])
def test_env_true_applies_the_rules(session, monkeypatch, grant_warnings, variable):
    monkeypatch.setenv(variable, "true")
    est = make(session, identity_propagation=None, input_mode="Pipe")
    fit(est)
    job = described(session, est)
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert "DebugHookConfig" not in job
    assert est.latest_decision.identity_propagation.enabled is True
    assert est.latest_decision.identity_propagation.source == f"environment {variable}"
    assert tag_map(job_tags(session, est))["s3ag:identity-propagation"] == "enabled"
    assert len(ours(grant_warnings)) == 1


def test_env_false_leaves_the_request_alone(session, monkeypatch, grant_warnings):
    monkeypatch.setenv("TRUSTED_IDENTITY_PROPOGATION_ENABLED", "false")
    est = make(session, identity_propagation=None, input_mode="Pipe")
    fit(est)
    job = described(session, est)
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert "DebugHookConfig" in job
    assert est.latest_decision.identity_propagation.enabled is False
    assert tag_map(job_tags(session, est))["s3ag:identity-propagation"] == "disabled"
    assert tag_map(job_tags(session, est))["s3ag:credentials"] == "iam-role"
    assert ours(grant_warnings) == []


def test_no_env_no_studio_means_off(session, grant_warnings):
    est = make(session, identity_propagation=None, input_mode="Pipe")
    fit(est)
    assert described(session, est)["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert est.latest_decision.identity_propagation.enabled is False


def test_setting_wins_over_environment(session, monkeypatch):
    monkeypatch.setenv("TRUSTED_IDENTITY_PROPOGATION_ENABLED", "true")
    est = make(session, identity_propagation=False, input_mode="Pipe")
    fit(est)
    assert described(session, est)["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"


# --------------------------------------------------------------------------- 11. decision rendering


def test_decision_str_and_html(session, grant_warnings):
    est = make(session, input_mode="Pipe")
    fit(est, job_name="render-me")
    decision = est.latest_decision

    text = str(decision)
    page = decision._repr_html_()
    for rendered in (text, page):
        assert "render-me" in rendered
        for rule in ("pipe-mode", "debugger", "profiler"):
            assert rule in rendered
        assert f"s3ag:credentials={GRANTED}" in rendered
    assert text.splitlines()[0] == "sagemaker-s3ag decision for training job render-me"
    assert "  adjustments:          pipe-mode debugger profiler" in text.splitlines()
    assert page.startswith("<div>") and page.endswith("</div>")
    for finding in decision.findings:
        assert f"<code>{finding.where}</code>" in page
    assert "render-me" in repr(decision)


def test_decision_html_escapes_messages(session, grant_warnings):
    est = make(session)
    fit(est, {"train": TrainingInput(TRAIN, input_mode="Pipe")}, job_name="escape-me")
    page = est.latest_decision._repr_html_()
    assert "channel &#x27;train&#x27; now uses File" in page
    assert "channel 'train'" not in page
    assert "channel 'train' now uses File" in str(est.latest_decision)
