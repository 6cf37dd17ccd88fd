"""patch() / unpatch() / patched(): stock SDK v2 estimators and processors behave like their grant-aware twins.

Every test runs on moto (fixture ``session``) and reads back what was sent to CreateTrainingJob /
CreateProcessingJob. An autouse fixture unpatches after each test, so no other test file sees a
patched SDK. The original SDK functions are captured when this module is imported (before anything
here patches), so "restored" is checked with ``is``.
"""

from __future__ import annotations

import copy
import logging
import threading
from importlib.metadata import version as installed_version

import pytest
import sagemaker
import wrapt
from conftest import (
    ATHENA_QUERY,
    BUCKET,
    IMAGE,
    ROLE,
    created_jobs,
    creates,
    current,
    expected_record,
    ours,
    uploaded_keys,
    without_name_and_tags,
)
from sagemaker.dataset_definition.inputs import AthenaDatasetDefinition, DatasetDefinition
from sagemaker.estimator import Estimator, EstimatorBase
from sagemaker.processing import FrameworkProcessor, ProcessingInput, ProcessingOutput, Processor, ScriptProcessor
from sagemaker.pytorch import PyTorch
from sagemaker.sklearn import SKLearn

from sagemaker_s3ag import (
    ConsiderationError,
    GrantAwareEstimator,
    GrantAwareProcessor,
    GrantAwareWarning,
    GrantFallbackError,
    Settings,
    UnsupportedSDKError,
    is_patched,
    patch,
    patched,
    unpatch,
)
from sagemaker_s3ag.sdk import patch as _patch

TRAIN = f"s3://{BUCKET}/train/"
OUTPUT = f"s3://{BUCKET}/"
S3_CODE = f"s3://{BUCKET}/code/process.py"
RAW = f"s3://{BUCKET}/raw/"
OUT = f"s3://{BUCKET}/out/"
SDK_VERSION = installed_version("sagemaker")


# --------------------------------------------------------------------------- originals and checks


from sagemaker_s3ag.sdk.v2 import hooks as _hooks  # noqa: E402

V2_TARGETS = _hooks.PATCHED
ORIGINALS: dict[tuple[str, str], object] = {(m, path): current(m, path) for m, path, _wrapper in V2_TARGETS}
ORIGINAL_FIT = vars(EstimatorBase)["fit"]
assert ORIGINALS[("sagemaker.estimator", "EstimatorBase.fit")] is ORIGINAL_FIT
assert not isinstance(ORIGINAL_FIT, wrapt.ObjectProxy), "the SDK was already patched when this module was imported"


def assert_nothing_patched() -> None:
    assert is_patched() is False
    assert _patch.patch_settings() is None
    assert _patch._applied == []
    assert vars(EstimatorBase)["fit"] is ORIGINAL_FIT
    not_restored = [key for key, original in ORIGINALS.items() if current(*key) is not original]
    assert not_restored == []


def assert_wrapped_once() -> None:
    """Every target is one wrapt wrapper directly around the original function (not a wrapper of a wrapper)."""
    assert is_patched() is True
    assert len(_patch._applied) == len(V2_TARGETS)
    for key, original in ORIGINALS.items():
        now = current(*key)
        assert isinstance(now, wrapt.FunctionWrapper), key
        assert now.__wrapped__ is original, key
    assert vars(EstimatorBase)["fit"].__wrapped__ is ORIGINAL_FIT


def wrappers() -> dict[tuple[str, str], object]:
    return {key: current(*key) for key in ORIGINALS}


@pytest.fixture(autouse=True)
def always_unpatch():
    assert_nothing_patched()  # an earlier test (any file) left nothing patched
    try:
        yield
    finally:
        unpatch()


# --------------------------------------------------------------------------- helpers


def estimator(session, cls=Estimator, **kwargs):
    return cls(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=session, **kwargs)


def framework(session, tmp_path, cls, **kwargs):
    entry = tmp_path / "train.py"
    entry.write_text("print('training')\n")
    versions = {
        SKLearn: {"framework_version": "1.2-1", "py_version": "py3"},
        PyTorch: {"framework_version": "2.1", "py_version": "py310"},
    }[cls]
    return cls(
        entry_point=str(entry),
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        **versions,
        **kwargs,
    )


def fit(est, inputs=TRAIN, **kwargs):
    est.fit(inputs, wait=False, logs=False, **kwargs)


def training_job(session, est) -> dict:
    return session.sagemaker_client.describe_training_job(TrainingJobName=est.latest_training_job.name)


def training_tags(session, est) -> list[dict]:
    return session.sagemaker_client.list_tags(ResourceArn=training_job(session, est)["TrainingJobArn"])["Tags"]


def processing_job(session, proc) -> dict:
    return session.sagemaker_client.describe_processing_job(ProcessingJobName=proc.latest_job.job_name)


def processing_tags(session, proc) -> list[dict]:
    return session.sagemaker_client.list_tags(ResourceArn=processing_job(session, proc)["ProcessingJobArn"])["Tags"]


# --------------------------------------------------------------------------- 1. stock estimators


def test_stock_estimator_pipe_fit_is_fixed_like_its_grant_aware_twin(session, calls, grant_warnings, steps):
    reference = estimator(session, input_mode="Pipe")
    fit(reference)  # not patched yet: the stock request

    patch(identity_propagation=True)
    est = estimator(session, input_mode="Pipe")
    fit(est)

    stock_request, request = creates(calls)
    assert stock_request["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert "DebugHookConfig" in stock_request
    assert stock_request["ProfilerConfig"]["DisableProfiler"] is False
    expected = without_name_and_tags(copy.deepcopy(stock_request))
    expected["AlgorithmSpecification"]["TrainingInputMode"] = "File"
    del expected["DebugHookConfig"]
    expected["ProfilerConfig"] = {"DisableProfiler": True}
    assert without_name_and_tags(request) == expected
    assert request["Tags"] == expected_record(adjustments="pipe-mode debugger profiler")

    job = training_job(session, est)
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert "DebugHookConfig" not in job
    assert training_tags(session, est) == expected_record(adjustments="pipe-mode debugger profiler")
    assert training_tags(session, reference) == []

    warned = ours(grant_warnings)
    assert len(warned) == 1
    assert warned[0].startswith("[s3ag:pipe-mode] AlgorithmSpecification.TrainingInputMode:")
    assert [w.filename for w in grant_warnings if issubclass(w.category, GrantAwareWarning)] == [__file__]

    decision = est.latest_decision
    assert decision.job_name == request["TrainingJobName"] == job["TrainingJobName"]
    assert decision.adjustments == ("pipe-mode", "debugger", "profiler")
    assert decision.credentials == "access-grants"
    assert (decision.identity_propagation.enabled, decision.identity_propagation.source) == (True, "setting")
    assert list(decision.tags) == expected_record(adjustments="pipe-mode debugger profiler")
    assert est.input_mode == "Pipe"  # the user's object is left as they made it
    assert est.tags is None
    assert "latest_decision" not in vars(reference)
    assert steps == {"check training": 1, "settle training": 1}


def test_user_subclass_with_its_own_fit_is_handled_once(session, calls, grant_warnings, steps):
    class MyEstimator(Estimator):
        def fit(self, *args, **kwargs):  # calls the patched EstimatorBase.fit through super()
            return super().fit(*args, **kwargs)

    patch(identity_propagation=True)
    est = estimator(session, MyEstimator, input_mode="Pipe")
    fit(est)
    (request,) = creates(calls)
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert request["Tags"] == expected_record(adjustments="pipe-mode debugger profiler")
    assert len(ours(grant_warnings)) == 1
    assert est.latest_decision.adjustments == ("pipe-mode", "debugger", "profiler")
    assert steps == {"check training": 1, "settle training": 1}


def test_stock_framework_estimator_error_mode_refuses_before_any_upload(session, tmp_path, calls, grant_warnings):
    patch(identity_propagation=True, on_violation="error")
    est = framework(session, tmp_path, SKLearn, input_mode="Pipe")
    with pytest.raises(ConsiderationError) as info:
        fit(est)
    err = info.value
    assert err.rule == "pipe-mode"
    assert [(f.rule, f.action, f.where) for f in err.findings] == [
        ("pipe-mode", "refused", "AlgorithmSpecification.TrainingInputMode")
    ]
    assert uploaded_keys(session) == []
    assert created_jobs(session) == {"training": [], "processing": []}
    assert creates(calls) == []
    assert est.latest_decision.refused and est.latest_decision.tags == ()  # the refusal itself
    assert ours(grant_warnings) == []

    # The same call in fix mode does upload: the empty bucket above means something.
    patch(identity_propagation=True)
    fit(est)
    name = est.latest_training_job.name
    assert uploaded_keys(session) == [f"{name}/source/sourcedir.tar.gz"]
    assert training_job(session, est)["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert len(ours(grant_warnings)) == 1
    assert est.latest_decision.adjustments == ("pipe-mode", "debugger", "profiler")


@pytest.mark.parametrize("cls", [SKLearn, PyTorch], ids=["SKLearn", "PyTorch"])
def test_stock_framework_estimator_fix_mode_one_warning_one_decision(session, tmp_path, calls, grant_warnings, cls, steps):
    # PyTorch.fit and EstimatorBase.fit are both wrapped; the rules run once, in the outermost.
    patch(identity_propagation=True, pipe_mode_replacement="FastFile")
    est = framework(session, tmp_path, cls, input_mode="Pipe")
    fit(est)
    (request,) = creates(calls)
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"
    assert "DebugHookConfig" not in request
    assert request["ProfilerConfig"] == {"DisableProfiler": True}
    assert request["Tags"] == expected_record(adjustments="pipe-mode debugger profiler")
    warned = ours(grant_warnings)
    assert len(warned) == 1 and warned[0].startswith("[s3ag:pipe-mode]") and "FastFile" in warned[0]
    assert est.latest_decision.job_name == est.latest_training_job.name
    assert steps == {"check training": 1, "settle training": 1}


def test_second_stock_fit_under_error_mode_still_treats_sdk_defaults_as_defaults(session, calls, grant_warnings):
    patch(identity_propagation=True, on_violation="error")
    est = estimator(session)
    fit(est)
    fit(est)  # the SDK's own hook and profiler from the first fit are not "explicit" now
    first, second = creates(calls)
    for request in (first, second):
        assert "DebugHookConfig" not in request
        assert request["ProfilerConfig"] == {"DisableProfiler": True}
        assert request["Tags"] == expected_record(adjustments="debugger profiler")
    assert ours(grant_warnings) == []


def test_on_fallback_deny_refuses_a_stock_estimator_before_anything(session, access_grants, calls):
    access_grants.grants.clear()
    patch(identity_propagation=True, on_fallback="deny")
    est = estimator(session)
    with pytest.raises(GrantFallbackError) as info:
        fit(est)
    err = info.value
    assert err.rule == "fallback"
    assert err.locations == ((TRAIN, "READ"), (OUTPUT, "WRITE"))
    assert "on_fallback='deny'" in str(err)
    assert creates(calls) == []
    assert created_jobs(session) == {"training": [], "processing": []}
    assert est.latest_decision.refused and est.latest_decision.tags == ()  # the refusal itself


def test_on_fallback_deny_refuses_a_stock_processor_before_anything(session, access_grants):
    access_grants.grants.clear()
    patch(identity_propagation=True, on_fallback="deny")
    proc = Processor(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=session)
    with pytest.raises(GrantFallbackError) as info:
        proc.run(
            inputs=[ProcessingInput(source=RAW, destination="/opt/ml/processing/raw", input_name="raw")], wait=False, logs=False
        )
    assert info.value.locations == ((RAW, "READ"),)
    assert created_jobs(session) == {"training": [], "processing": []}


UPDATES = {
    "enable_remote_debug": ("remote-debug", lambda est: est.enable_remote_debug()),
    "enable_default_profiling": ("profiler", lambda est: est.enable_default_profiling()),
    "update_profiler": ("profiler", lambda est: est.update_profiler(system_monitor_interval_millis=500)),
}


@pytest.mark.parametrize("name", list(UPDATES))
def test_stock_update_calls_refused_under_patch_with_tip_on(session, calls, name):
    rule, call = UPDATES[name]
    est = estimator(session)
    patch(identity_propagation=True)
    with pytest.raises(ConsiderationError) as info:
        call(est)
    assert info.value.rule == rule
    assert [(f.rule, f.action, f.where) for f in info.value.findings] == [(rule, "refused", f"{name}()")]
    assert str(info.value).startswith(f"{name}() refused: ")
    assert str(info.value).endswith("Nothing was updated.")
    assert calls == []

    unpatch()  # the stock method again: it complains that there is no training job, not about TIP
    with pytest.raises(ValueError) as stock:
        call(est)
    assert not isinstance(stock.value, ConsiderationError)
    assert calls == []


@pytest.mark.parametrize("name", list(UPDATES))
def test_stock_update_calls_pass_through_under_patch_with_tip_off(session, calls, name):
    _rule, call = UPDATES[name]
    patch(identity_propagation=False)
    est = estimator(session)
    fit(est)
    with pytest.raises(Exception) as info:  # moto does not implement UpdateTrainingJob
        call(est)
    assert not isinstance(info.value, ConsiderationError)
    assert [op for op, _ in calls if op.startswith("Update")] == ["UpdateTrainingJob"]


# --------------------------------------------------------------------------- 2. stock processors


PROCESSORS = {
    "Processor": (Processor, {"image_uri": IMAGE}, None, ()),
    "ScriptProcessor": (ScriptProcessor, {"image_uri": IMAGE, "command": ["python3"]}, "code", (("code", S3_CODE),)),
    "FrameworkProcessor": (
        FrameworkProcessor,
        {"estimator_cls": SKLearn, "framework_version": "1.2-1"},
        "code",
        (("entrypoint", S3_CODE),),
    ),
}
processors = pytest.mark.parametrize("kind", list(PROCESSORS))


def processor(session, kind):
    cls, init, _code_arg, _code_inputs = PROCESSORS[kind]
    return cls(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=session, **init)


def run(proc, kind, code=S3_CODE, **kwargs):
    code_arg = PROCESSORS[kind][2]
    if code_arg is not None:
        kwargs[code_arg] = code
    proc.run(wait=False, logs=False, **kwargs)


def pipe_input():
    return ProcessingInput(source=RAW, destination="/opt/ml/processing/raw", input_name="raw", s3_input_mode="Pipe")


def outputs():
    return [ProcessingOutput(source="/opt/ml/processing/out", destination=OUT, output_name="out")]


@processors
def test_stock_processor_pipe_input_becomes_file(session, grant_warnings, kind, steps):
    reference = processor(session, kind)
    run(reference, kind, inputs=[pipe_input()], outputs=outputs())  # not patched yet
    stock_job = processing_job(session, reference)
    assert stock_job["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "Pipe"

    patch(identity_propagation=True)
    proc = processor(session, kind)
    run(proc, kind, inputs=[pipe_input()], outputs=outputs())
    job = processing_job(session, proc)

    expected_inputs = copy.deepcopy(stock_job["ProcessingInputs"])
    expected_inputs[0]["S3Input"]["S3InputMode"] = "File"
    assert job["ProcessingInputs"] == expected_inputs
    assert [(i["InputName"], i["S3Input"]["S3Uri"], i["S3Input"]["S3InputMode"]) for i in job["ProcessingInputs"]] == [
        ("raw", RAW, "File"),
        *((name, uri, "File") for name, uri in PROCESSORS[kind][3]),
    ]
    assert job["ProcessingOutputConfig"] == stock_job["ProcessingOutputConfig"]
    assert job["AppSpecification"] == stock_job["AppSpecification"]
    assert processing_tags(session, proc) == expected_record(adjustments="pipe-mode")
    assert processing_tags(session, reference) == []

    warned = ours(grant_warnings)
    assert len(warned) == 1
    assert warned[0].startswith("[s3ag:pipe-mode] ProcessingInputs[raw].S3Input.S3InputMode:")
    decision = proc.latest_decision
    assert decision.adjustments == ("pipe-mode",)
    assert decision.job_name == job["ProcessingJobName"]
    assert decision.credentials == "access-grants"
    # FrameworkProcessor.run -> ScriptProcessor.run -> Processor._normalize_args: the steps run once.
    assert steps == {"check processing": 1, "settle processing": 1}


@processors
def test_stock_processor_dataset_definition_is_refused_before_any_upload(session, grant_warnings, kind, tmp_path):
    code = tmp_path / "process.py"
    code.write_text("print('processing')\n")
    dataset = ProcessingInput(
        input_name="query",
        dataset_definition=DatasetDefinition(
            local_path="/opt/ml/processing/query",
            athena_dataset_definition=AthenaDatasetDefinition(**ATHENA_QUERY),
        ),
    )
    patch(identity_propagation=True)  # fix mode: still refused, it cannot be fixed
    proc = processor(session, kind)
    with pytest.raises(ConsiderationError) as info:
        run(proc, kind, code=str(code), inputs=[dataset])
    assert info.value.rule == "dataset-definition"
    assert [(f.rule, f.action, f.where) for f in info.value.findings] == [
        ("dataset-definition", "refused", "ProcessingInputs[query].DatasetDefinition")
    ]
    assert "Athena DatasetDefinition" in str(info.value)
    assert uploaded_keys(session) == []
    assert created_jobs(session) == {"training": [], "processing": []}
    assert proc.latest_decision.refused and proc.latest_decision.tags == ()  # the refusal itself
    assert ours(grant_warnings) == []


# --------------------------------------------------------------------------- 3. grant-aware objects under patch()


def test_grant_aware_estimator_keeps_its_own_settings_and_is_handled_once(session, calls, access_grants, grant_warnings, steps):
    patch(identity_propagation=True, on_violation="error", pipe_mode_replacement="FastFile")
    est = GrantAwareEstimator(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        identity_propagation=True,
        on_violation="fix",
        input_mode="Pipe",
    )
    fit(est)  # not refused: its own on_violation="fix" wins over patch()'s "error"
    (request,) = creates(calls)
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "File"  # its own replacement, not FastFile
    assert request["Tags"] == expected_record(adjustments="pipe-mode debugger profiler")
    assert training_tags(session, est) == expected_record(adjustments="pipe-mode debugger profiler")
    warned = ours(grant_warnings)
    assert len(warned) == 1 and warned[0].startswith("[s3ag:pipe-mode]")
    assert est.s3ag_settings == Settings(identity_propagation=True)
    assert est.latest_decision.adjustments == ("pipe-mode", "debugger", "profiler")
    assert len([c for c in access_grants.calls if c[0] == "GetDataAccess"]) == 2  # train READ, output WRITE: once each
    assert steps == {"check training": 1, "settle training": 1}


def test_grant_aware_estimator_with_tip_off_is_not_given_patch_settings(session, calls, grant_warnings):
    patch(identity_propagation=True, on_violation="error")
    est = GrantAwareEstimator(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        identity_propagation=False,
        input_mode="Pipe",
    )
    fit(est)
    (request,) = creates(calls)
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert request["Tags"] == expected_record("iam-role", "none", identity="disabled")
    assert ours(grant_warnings) == []


def test_grant_aware_processor_keeps_its_own_settings_and_is_handled_once(session, grant_warnings, steps):
    patch(identity_propagation=True, on_violation="error")
    proc = GrantAwareProcessor(
        image_uri=IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        identity_propagation=True,
    )
    proc.run(inputs=[pipe_input()], wait=False, logs=False)
    job = processing_job(session, proc)
    assert job["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
    assert processing_tags(session, proc) == expected_record(adjustments="pipe-mode")
    assert len(ours(grant_warnings)) == 1
    assert proc.latest_decision.adjustments == ("pipe-mode",)
    assert steps == {"check processing": 1, "settle processing": 1}


# --------------------------------------------------------------------------- 4. unpatch() restores stock behaviour


def test_unpatch_restores_every_original_and_the_stock_request(session, calls, grant_warnings):
    before = estimator(session, input_mode="Pipe")
    fit(before, job_name="before-patch")

    patch(identity_propagation=True)
    assert_wrapped_once()
    assert vars(EstimatorBase)["fit"] is not ORIGINAL_FIT
    fit(estimator(session, input_mode="Pipe"), job_name="while-patched")  # the wrappers did run
    unpatch()

    assert_nothing_patched()
    after = estimator(session, input_mode="Pipe")
    fit(after, job_name="after-unpatch")

    stock, fixed, restored = creates(calls)
    assert fixed["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert "Tags" not in stock
    assert "Tags" not in restored
    assert without_name_and_tags(restored) == without_name_and_tags(stock)
    assert {k: v for k, v in restored.items() if k != "TrainingJobName"} == {
        k: v for k, v in stock.items() if k != "TrainingJobName"
    }
    assert training_tags(session, after) == []
    assert training_job(session, after)["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert "latest_decision" not in vars(after)
    assert len(ours(grant_warnings)) == 1  # only the patched fit warned


def test_unpatch_restores_the_stock_processor_request(session, grant_warnings):
    proc = processor(session, "Processor")
    run(proc, "Processor", inputs=[pipe_input()])
    stock = processing_job(session, proc)
    with patched(identity_propagation=True):
        run(processor(session, "Processor"), "Processor", inputs=[pipe_input()])
    assert_nothing_patched()
    after = processor(session, "Processor")
    run(after, "Processor", inputs=[pipe_input()])
    job = processing_job(session, after)
    assert job["ProcessingInputs"] == stock["ProcessingInputs"]
    assert job["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "Pipe"
    assert processing_tags(session, after) == []
    assert len(ours(grant_warnings)) == 1


def test_unpatch_when_nothing_is_patched_does_nothing():
    unpatch()
    unpatch()
    assert_nothing_patched()


def test_unpatch_leaves_a_method_someone_rewrapped_after_patch_alone(caplog):
    patch()
    ours_fit = vars(EstimatorBase)["fit"]
    wrapt.wrap_function_wrapper(EstimatorBase, "fit", lambda wrapped, instance, args, kwargs: wrapped(*args, **kwargs))
    theirs = vars(EstimatorBase)["fit"]
    try:
        with caplog.at_level(logging.WARNING, logger="sagemaker_s3ag.sdk.patch"):
            unpatch()
        assert vars(EstimatorBase)["fit"] is theirs
        assert theirs.__wrapped__ is ours_fit
        assert is_patched() is False
        assert [r.getMessage() for r in caplog.records] == [
            "sagemaker-s3ag left EstimatorBase.fit alone: it was re-wrapped after patch()"
        ]
        others = {key: original for key, original in ORIGINALS.items() if key != ("sagemaker.estimator", "EstimatorBase.fit")}
        assert [key for key, original in others.items() if current(*key) is not original] == []
    finally:
        EstimatorBase.fit = ORIGINAL_FIT
    assert_nothing_patched()


# --------------------------------------------------------------------------- 5. idempotence, settings, patched()


def test_patch_twice_wraps_once_and_one_unpatch_undoes_it():
    patch()
    first = wrappers()
    assert_wrapped_once()
    patch()
    assert wrappers() == first
    assert all(wrappers()[key] is first[key] for key in first)
    assert_wrapped_once()
    unpatch()
    assert_nothing_patched()


def test_patch_again_with_other_settings_changes_the_settings(session, grant_warnings):
    patch(identity_propagation=True)
    assert _patch.patch_settings() == Settings(identity_propagation=True)
    first = wrappers()

    patch(identity_propagation=True, on_violation="error")
    assert _patch.patch_settings() == Settings(identity_propagation=True, on_violation="error")
    assert all(wrappers()[key] is first[key] for key in first)
    assert_wrapped_once()
    with pytest.raises(ConsiderationError) as info:  # the new settings are in effect
        fit(estimator(session, input_mode="Pipe"))
    assert info.value.rule == "pipe-mode"

    patch(on_fallback="allow")  # the settings are replaced, not merged
    assert _patch.patch_settings() == Settings(on_fallback="allow")
    assert_wrapped_once()
    unpatch()
    assert_nothing_patched()


def test_patched_restores_unpatched_state():
    with patched(identity_propagation=True, on_violation="error") as value:
        assert value is None
        assert_wrapped_once()
        assert _patch.patch_settings() == Settings(identity_propagation=True, on_violation="error")
    assert_nothing_patched()


def test_patched_restores_unpatched_state_after_an_exception():
    with pytest.raises(KeyError):
        with patched(on_fallback="deny"):
            assert_wrapped_once()
            raise KeyError("boom")
    assert_nothing_patched()


def test_patched_restores_the_previous_patch_and_its_settings(session, grant_warnings):
    patch(on_fallback="allow")
    first = wrappers()
    with patched(identity_propagation=True, on_violation="error"):
        assert _patch.patch_settings() == Settings(identity_propagation=True, on_violation="error")
        assert all(wrappers()[key] is first[key] for key in first)
        with pytest.raises(ConsiderationError):
            fit(estimator(session, input_mode="Pipe"))
    assert is_patched() is True
    assert _patch.patch_settings() == Settings(on_fallback="allow")
    assert all(wrappers()[key] is first[key] for key in first)
    assert_wrapped_once()
    unpatch()
    assert_nothing_patched()


def test_nested_patched_blocks_restore_each_level():
    with patched(on_violation="error"):
        with patched(on_fallback="deny"):
            assert _patch.patch_settings() == Settings(on_fallback="deny")
        assert _patch.patch_settings() == Settings(on_violation="error")
        assert_wrapped_once()
    assert_nothing_patched()


@pytest.mark.parametrize("threads", [2, 8])
def test_concurrent_patch_wraps_each_target_once(threads):
    for _round in range(5):
        barrier = threading.Barrier(threads)
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                barrier.wait(timeout=10)
                patch(identity_propagation=True)
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)

        started = [threading.Thread(target=worker) for _ in range(threads)]
        for thread in started:
            thread.start()
        for thread in started:
            thread.join(timeout=30)
        assert [t.is_alive() for t in started] == [False] * threads
        assert errors == []
        assert_wrapped_once()
        assert _patch.patch_settings() == Settings(identity_propagation=True)
        unpatch()
        assert_nothing_patched()


def test_concurrent_patch_and_unpatch_end_consistent():
    """Threads patching and unpatching at once: every moment is all or nothing, and one unpatch ends it."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(action) -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(20):
                action()
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    started = [threading.Thread(target=worker, args=(a,)) for a in (patch, unpatch, patch, unpatch)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(timeout=60)
    assert errors == []
    if is_patched():
        assert_wrapped_once()
    else:
        assert_nothing_patched()
    unpatch()
    assert_nothing_patched()


# --------------------------------------------------------------------------- 6. unknown SDKs, bad settings


def test_unknown_sdk_version_is_refused_naming_the_installed_version(monkeypatch):
    monkeypatch.setattr(_patch, "SUPPORTED", ("sagemaker >= 9",))
    with pytest.raises(UnsupportedSDKError) as info:
        patch(identity_propagation=True)
    assert SDK_VERSION == sagemaker.__version__
    assert str(info.value).startswith(
        f"patch() supports sagemaker >= 9; sagemaker {SDK_VERSION} is installed, so nothing was patched."
    )
    assert isinstance(info.value, RuntimeError)
    assert_nothing_patched()
    with pytest.raises(UnsupportedSDKError):
        with patched():
            pytest.fail("the block must not run")
    assert_nothing_patched()


@pytest.mark.parametrize("path", ["EstimatorBase.no_such_method", "NoSuchClass.fit"], ids=["missing-method", "missing-class"])
def test_missing_target_is_refused_and_nothing_is_patched(monkeypatch, path):
    # Last in the list, so an SDK that wrapped as it went would have wrapped every other target by then.
    monkeypatch.setattr(_hooks, "PATCHED", (*V2_TARGETS, ("sagemaker.estimator", path, V2_TARGETS[0][2])))
    with pytest.raises(UnsupportedSDKError) as info:
        patch(identity_propagation=True)
    assert str(info.value) == f"sagemaker.estimator.{path} is missing from this SageMaker SDK; nothing was patched"
    assert_nothing_patched()


def test_an_optional_target_this_sdk_does_not_define_is_left_out(monkeypatch):
    """An override newer than the oldest SDK supported (sagemaker 2.200 has no PyTorch.fit): the inherited fit is wrapped."""
    monkeypatch.setattr(_hooks, "PATCHED", (*V2_TARGETS, ("sagemaker.estimator", "Estimator.fit", V2_TARGETS[0][2])))
    monkeypatch.setattr(_hooks, "OPTIONAL", _hooks.OPTIONAL | {"Estimator.fit"})
    patch(identity_propagation=True)
    assert len(_patch._applied) == len(V2_TARGETS)  # everything else, and not Estimator.fit
    assert "fit" not in vars(Estimator)


def test_missing_target_module_is_an_unsupported_sdk_error(monkeypatch):
    """A target module this SDK version does not have is an unknown SDK too: UnsupportedSDKError, nothing patched."""
    monkeypatch.setattr(_hooks, "PATCHED", (*V2_TARGETS, ("sagemaker.no_such_module", "Thing.fit", V2_TARGETS[0][2])))
    try:
        with pytest.raises(UnsupportedSDKError) as info:
            patch(identity_propagation=True)
        assert "sagemaker.no_such_module" in str(info.value)
    finally:
        assert_nothing_patched()


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"on_violation": "nope"}, ValueError, "on_violation must be one of 'fix', 'error', not 'nope'"),
        ({"on_fallback": "sometimes"}, ValueError, "on_fallback must be one of 'allow', 'warn', 'deny', not 'sometimes'"),
        ({"preflight_timeout": 0}, ValueError, "preflight_timeout must be a number of seconds above 0 and at most 600, not 0"),
        ({"identity_propagation": "yes"}, ValueError, "identity_propagation must be one of True, False, None, not 'yes'"),
        ({"no_such_setting": 1}, TypeError, "no_such_setting"),
    ],
)
def test_bad_settings_raise_and_patch_nothing(settings, error, message):
    with pytest.raises(error) as info:
        patch(**settings)
    assert message in str(info.value)
    assert_nothing_patched()
    with pytest.raises(error):
        with patched(**settings):
            pytest.fail("the block must not run")
    assert_nothing_patched()

    patch(on_fallback="allow")
    first = wrappers()
    with pytest.raises(error):
        patch(**settings)
    assert _patch.patch_settings() == Settings(on_fallback="allow")  # the active patch is left as it was
    assert all(wrappers()[key] is first[key] for key in first)


# --------------------------------------------------------------------------- 7. bugs


def test_unpatch_leaves_no_pending_job_to_rewrite_a_later_stock_request(session, calls, grant_warnings):
    """After unpatch() a stock fit sends the stock request, even reusing the name of a patched fit that failed."""
    with patched(identity_propagation=True):
        with pytest.raises(ValueError, match="File URIs are supported in local mode only"):
            fit(estimator(session, input_mode="Pipe"), "file:///tmp/data", job_name="retried-job")
    assert_nothing_patched()
    assert creates(calls) == []

    est = estimator(session, input_mode="Pipe")
    fit(est, job_name="retried-job")
    (request,) = creates(calls)
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert "Tags" not in request
    assert ours(grant_warnings) == []


def test_patched_blocks_may_end_in_any_order():
    first = patched(on_violation="fix", identity_propagation=True)
    second = patched(on_violation="error", identity_propagation=True)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # a thread's block ends while another's is still open
    assert is_patched() and _patch.patch_settings().on_violation == "error"
    second.__exit__(None, None, None)
    assert_nothing_patched()
