"""patch() / unpatch() / patched() on SDK v3: stock ModelTrainer and processors behave like their grant-aware twins.

Every test runs on moto (fixture ``session``) and reads back what was sent to CreateTrainingJob /
CreateProcessingJob (fixture ``calls``). An autouse fixture unpatches after each test, so no other
test file sees a patched SDK. The original SDK functions of ``hooks.PATCHED`` are captured when
this module is imported (before anything here patches), so "restored" is checked with ``is``.
Also here: ``s3ag run`` on an unchanged v3 script (one subprocess), and the names that belong to
SDK v2 only.
"""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
import textwrap
import threading
from importlib.metadata import version as installed_version

import pytest
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
    processing_creates,
    processing_tags,
    training_tags,
    uploaded_keys,
    without_name_and_tags,
)
from sagemaker.core.processing import FrameworkProcessor, Processor, ScriptProcessor
from sagemaker.core.shapes import (
    AthenaDatasetDefinition,
    DatasetDefinition,
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
)
from sagemaker.core.spark.processing import PySparkProcessor
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import InputData

import sagemaker_s3ag
from sagemaker_s3ag import (
    ConsiderationError,
    GrantAwareModelTrainer,
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
S3_CODE = f"s3://{BUCKET}/code/process.py"
RAW = f"s3://{BUCKET}/raw/"
OUT = f"s3://{BUCKET}/out/"
SDK_VERSION = installed_version("sagemaker")


# --------------------------------------------------------------------------- originals and checks


from sagemaker_s3ag.sdk.v3 import hooks as _hooks  # noqa: E402

V3_TARGETS = _hooks.PATCHED
V3_ADDED = _hooks.ADDED
ORIGINALS: dict[tuple[str, str], object] = {(m, path): current(m, path) for m, path, _wrapper in V3_TARGETS}
ORIGINAL_TRAIN = vars(ModelTrainer)["train"]
assert ORIGINALS[("sagemaker.train.model_trainer", "ModelTrainer.train")] is ORIGINAL_TRAIN
assert not isinstance(ORIGINAL_TRAIN, wrapt.ObjectProxy), "the SDK was already patched when this module was imported"
assert "latest_decision" not in vars(ModelTrainer)


def assert_nothing_patched() -> None:
    assert is_patched() is False
    assert _patch.patch_settings() is None
    assert _patch._applied == []
    assert vars(ModelTrainer)["train"] is ORIGINAL_TRAIN
    not_restored = [key for key, original in ORIGINALS.items() if current(*key) is not original]
    assert not_restored == []
    assert "latest_decision" not in vars(ModelTrainer)  # the property patch() added is gone too


def assert_wrapped_once() -> None:
    """Every target is one wrapt wrapper directly around the original function, and ModelTrainer has its property."""
    assert is_patched() is True
    assert len(_patch._applied) == len(V3_TARGETS) + len(V3_ADDED)
    for key, original in ORIGINALS.items():
        now = current(*key)
        assert isinstance(now, wrapt.FunctionWrapper), key
        assert now.__wrapped__ is original, key
    assert isinstance(vars(ModelTrainer)["latest_decision"], property)


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


def trainer(session, cls=ModelTrainer, **kwargs):
    return cls(training_image=IMAGE, role=ROLE, sagemaker_session=session, **kwargs)


def train(t, data=TRAIN, **kwargs):
    t.train(input_data_config=[InputData(channel_name="train", data_source=data)], wait=False, **kwargs)


PROCESSORS = {
    "Processor": (Processor, {"image_uri": IMAGE}, None, ()),
    "ScriptProcessor": (ScriptProcessor, {"image_uri": IMAGE, "command": ["python3"]}, "code", (("code", S3_CODE),)),
    "FrameworkProcessor": (FrameworkProcessor, {"image_uri": IMAGE}, "code", (("entrypoint", S3_CODE),)),
    "PySparkProcessor": (PySparkProcessor, {"framework_version": "3.3"}, "submit_app", (("code", S3_CODE),)),
}
processors = pytest.mark.parametrize("kind", list(PROCESSORS))


def processor(session, kind, cls=None, **kwargs):
    stock, init, _code_arg, _code_inputs = PROCESSORS[kind]
    return (cls or stock)(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=session, **init, **kwargs)


def run(proc, kind, code=S3_CODE, **kwargs):
    code_arg = PROCESSORS[kind][2]
    if code_arg is not None:
        kwargs[code_arg] = code
    proc.run(wait=False, logs=False, **kwargs)


def pipe_input() -> ProcessingInput:
    return ProcessingInput(
        input_name="raw",
        s3_input=ProcessingS3Input(
            s3_uri=RAW, local_path="/opt/ml/processing/raw", s3_data_type="S3Prefix", s3_input_mode="Pipe"
        ),
    )


def outputs() -> list[ProcessingOutput]:
    return [
        ProcessingOutput(
            output_name="out",
            s3_output=ProcessingS3Output(s3_uri=OUT, local_path="/opt/ml/processing/out", s3_upload_mode="EndOfJob"),
        )
    ]


# --------------------------------------------------------------------------- 1. stock ModelTrainer


def test_stock_model_trainer_pipe_train_is_fixed_like_its_grant_aware_twin(session, calls, grant_warnings, steps):
    reference = trainer(session, training_input_mode="Pipe")
    train(reference)  # not patched yet: the stock request

    patch(identity_propagation=True)
    t = trainer(session, training_input_mode="Pipe")
    assert t.latest_decision is None
    train(t)

    stock_request, request = creates(calls)
    assert stock_request["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert "Tags" not in stock_request
    expected = without_name_and_tags(copy.deepcopy(stock_request))
    expected["AlgorithmSpecification"]["TrainingInputMode"] = "File"
    assert without_name_and_tags(request) == expected  # nothing else changes
    assert request["Tags"] == expected_record(adjustments="pipe-mode")

    name = request["TrainingJobName"]
    job = session.sagemaker_client.describe_training_job(TrainingJobName=name)
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert training_tags(session, name) == expected_record(adjustments="pipe-mode")
    # (Not read back for the stock job: ModelTrainer names jobs to the second, so both may share a name.)

    warned = ours(grant_warnings)
    assert len(warned) == 1
    assert warned[0].startswith("[s3ag:pipe-mode] AlgorithmSpecification.TrainingInputMode:")
    assert [w.filename for w in grant_warnings if issubclass(w.category, GrantAwareWarning)] == [__file__]

    decision = t.latest_decision  # the property patch() gives stock ModelTrainer
    assert decision.job_name == name
    assert decision.adjustments == ("pipe-mode",)
    assert decision.credentials == "access-grants"
    assert (decision.identity_propagation.enabled, decision.identity_propagation.source) == (True, "setting")
    assert list(decision.tags) == expected_record(adjustments="pipe-mode")
    assert reference.latest_decision is None  # the unpatched train() decided nothing
    assert t.training_input_mode == "Pipe"  # the user's object is left as they made it
    assert steps == {"check training": 1, "settle training": 1}


def test_latest_decision_property_exists_only_while_patched(session, grant_warnings):
    t = trainer(session, training_input_mode="Pipe")
    assert not hasattr(t, "latest_decision")
    patch(identity_propagation=True)
    assert isinstance(vars(ModelTrainer)["latest_decision"], property)
    assert t.latest_decision is None
    train(t)
    assert t.latest_decision.adjustments == ("pipe-mode",)
    unpatch()
    assert "latest_decision" not in vars(ModelTrainer)
    assert not hasattr(t, "latest_decision")
    assert not hasattr(trainer(session), "latest_decision")


def test_stock_model_trainer_local_data_is_uploaded_then_read_as_file(session, calls, grant_warnings, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "part.csv").write_text("a,b\n1,2\n")
    patch(identity_propagation=True)
    t = trainer(session, training_input_mode="Pipe")
    train(t, str(data))
    (request,) = creates(calls)
    name = request["TrainingJobName"]
    assert uploaded_keys(session) == [f"s3ag-demo-job/{name}/input/train/part.csv"]
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert request["Tags"] == expected_record(adjustments="pipe-mode")
    assert [(o.uri, o.permission, o.outcome) for o in t.latest_decision.locations] == [
        (f"s3://{BUCKET}/s3ag-demo-job/{name}/input/train", "READ", "granted"),
        (f"s3://{BUCKET}/s3ag-demo-job", "WRITE", "granted"),
    ]


def test_stock_model_trainer_error_mode_refuses_before_any_upload(session, calls, grant_warnings, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "part.csv").write_text("a,b\n1,2\n")
    patch(identity_propagation=True, on_violation="error")
    t = trainer(session, training_input_mode="Pipe")
    with pytest.raises(ConsiderationError) as info:
        train(t, str(data))
    assert info.value.rule == "pipe-mode"
    assert [(f.rule, f.action, f.where) for f in info.value.findings] == [
        ("pipe-mode", "refused", "AlgorithmSpecification.TrainingInputMode")
    ]
    assert uploaded_keys(session) == []
    assert creates(calls) == []
    assert created_jobs(session) == {"training": [], "processing": []}
    assert t.latest_decision.refused and t.latest_decision.tags == ()  # the refusal itself
    assert ours(grant_warnings) == []


def test_on_fallback_deny_refuses_a_stock_model_trainer_before_anything(session, access_grants, calls):
    access_grants.grants.clear()
    patch(identity_propagation=True, on_fallback="deny")
    t = trainer(session)
    with pytest.raises(GrantFallbackError) as info:
        train(t)
    assert info.value.rule == "fallback"
    assert (TRAIN, "READ") in info.value.locations
    assert creates(calls) == []
    assert created_jobs(session) == {"training": [], "processing": []}
    assert t.latest_decision.refused


def test_stock_model_trainer_with_tip_off_keeps_pipe_and_is_tagged(session, calls, access_grants, grant_warnings):
    patch(identity_propagation=False, on_violation="error")
    t = trainer(session, training_input_mode="Pipe")
    train(t)
    (request,) = creates(calls)
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert request["Tags"] == expected_record("iam-role", "none", identity="disabled")
    assert t.latest_decision.credentials == "iam-role"
    assert [op for op, _ in access_grants.calls if op != "GetCallerIdentity"] == []
    assert ours(grant_warnings) == []


def test_grant_aware_model_trainer_under_patch_keeps_its_own_settings_and_is_handled_once(
    session, calls, access_grants, grant_warnings, steps
):
    patch(identity_propagation=True, on_violation="error")
    t = trainer(session, GrantAwareModelTrainer, training_input_mode="Pipe", identity_propagation=True, on_violation="fix")
    train(t)  # not refused: its own on_violation="fix" wins over patch()'s "error"
    (request,) = creates(calls)
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert request["Tags"] == expected_record(adjustments="pipe-mode")
    assert len(ours(grant_warnings)) == 1
    assert t.s3ag_settings == Settings(identity_propagation=True)
    assert t.latest_decision.adjustments == ("pipe-mode",)
    assert len([c for c in access_grants.calls if c[0] == "GetDataAccess"]) == 2  # train READ, output WRITE: once each
    assert steps == {"check training": 1, "settle training": 1}


# --------------------------------------------------------------------------- 2. stock processors


@processors
def test_stock_processor_pipe_input_becomes_file(session, calls, grant_warnings, kind, steps):
    reference = processor(session, kind)
    run(reference, kind, inputs=[pipe_input()], outputs=outputs())  # not patched yet

    patch(identity_propagation=True)
    proc = processor(session, kind)
    run(proc, kind, inputs=[pipe_input()], outputs=outputs())

    stock_request, request = processing_creates(calls)
    assert stock_request["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "Pipe"
    expected = without_name_and_tags(copy.deepcopy(stock_request))
    expected["ProcessingInputs"][0]["S3Input"]["S3InputMode"] = "File"
    assert without_name_and_tags(request) == expected
    assert [(i["InputName"], i["S3Input"]["S3Uri"], i["S3Input"]["S3InputMode"]) for i in request["ProcessingInputs"]] == [
        ("raw", RAW, "File"),
        *((name, uri, "File") for name, uri in PROCESSORS[kind][3]),
    ]
    assert request["Tags"] == expected_record(adjustments="pipe-mode")
    assert proc.latest_job.processing_inputs[0].s3_input.s3_input_mode == "File"
    assert reference.latest_job.processing_inputs[0].s3_input.s3_input_mode == "Pipe"
    assert processing_tags(session, request["ProcessingJobName"]) == expected_record(adjustments="pipe-mode")
    assert processing_tags(session, stock_request["ProcessingJobName"]) == []

    warned = ours(grant_warnings)
    assert len(warned) == 1
    assert warned[0].startswith("[s3ag:pipe-mode] ProcessingInputs[raw].S3Input.S3InputMode:")
    decision = proc.latest_decision
    assert decision.adjustments == ("pipe-mode",)
    assert decision.job_name == request["ProcessingJobName"]
    assert decision.credentials == "access-grants"
    assert "latest_decision" not in vars(reference)
    # FrameworkProcessor.run -> ScriptProcessor.run, PySparkProcessor.run -> _SparkProcessorBase.run:
    # every one is wrapped, the steps run once.
    assert steps == {"check processing": 1, "settle processing": 1}


@pytest.mark.parametrize("kind", ["Processor", "ScriptProcessor", "FrameworkProcessor"])
def test_stock_processor_dataset_definition_is_refused_before_any_upload(session, calls, grant_warnings, kind, tmp_path):
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
    extra = {"source_dir": str(tmp_path)} if kind == "FrameworkProcessor" else {}
    with pytest.raises(ConsiderationError) as info:
        run(proc, kind, code=code.name if extra else str(code), inputs=[dataset], **extra)
    assert info.value.rule == "dataset-definition"
    assert [(f.rule, f.action, f.where) for f in info.value.findings] == [
        ("dataset-definition", "refused", "ProcessingInputs[query].DatasetDefinition")
    ]
    assert "Athena DatasetDefinition" in str(info.value)
    assert uploaded_keys(session) == []
    assert created_jobs(session) == {"training": [], "processing": []}
    assert processing_creates(calls) == []
    assert proc.latest_decision.refused and proc.latest_decision.tags == ()  # the refusal itself
    assert ours(grant_warnings) == []


def test_on_fallback_deny_refuses_a_stock_processor_before_anything(session, access_grants, calls):
    access_grants.grants.clear()
    patch(identity_propagation=True, on_fallback="deny")
    proc = processor(session, "Processor")
    with pytest.raises(GrantFallbackError) as info:
        run(proc, "Processor", inputs=[pipe_input()])
    assert info.value.locations == ((RAW, "READ"),)
    assert processing_creates(calls) == []
    assert created_jobs(session) == {"training": [], "processing": []}


def test_grant_aware_processor_keeps_its_own_settings_and_is_handled_once(session, calls, grant_warnings, steps):
    patch(identity_propagation=True, on_violation="error")
    proc = processor(session, "Processor", GrantAwareProcessor, identity_propagation=True)
    run(proc, "Processor", inputs=[pipe_input()])  # its own on_violation="fix": fixed, not refused
    (request,) = processing_creates(calls)
    assert request["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
    assert request["Tags"] == expected_record(adjustments="pipe-mode")
    assert proc.latest_job.processing_inputs[0].s3_input.s3_input_mode == "File"
    assert len(ours(grant_warnings)) == 1
    assert proc.latest_decision.adjustments == ("pipe-mode",)
    assert steps == {"check processing": 1, "settle processing": 1}


def test_grant_aware_script_processor_under_patch_is_handled_once(session, calls, grant_warnings, steps):
    cls = sagemaker_s3ag.grant_aware(ScriptProcessor)
    patch(identity_propagation=True, on_fallback="deny")
    proc = processor(session, "ScriptProcessor", cls, identity_propagation=True)
    run(proc, "ScriptProcessor", inputs=[pipe_input()])
    (request,) = processing_creates(calls)
    assert request["Tags"] == expected_record(adjustments="pipe-mode")
    assert len(ours(grant_warnings)) == 1
    assert steps == {"check processing": 1, "settle processing": 1}


# --------------------------------------------------------------------------- 3. unpatch() restores stock behaviour


def test_unpatch_restores_every_original_and_the_stock_requests(session, calls, grant_warnings):
    train(trainer(session, training_input_mode="Pipe"))
    run(processor(session, "ScriptProcessor"), "ScriptProcessor", inputs=[pipe_input()])

    patch(identity_propagation=True)
    assert_wrapped_once()
    train(trainer(session, training_input_mode="Pipe"))  # the wrappers did run
    run(processor(session, "ScriptProcessor"), "ScriptProcessor", inputs=[pipe_input()])
    unpatch()

    assert_nothing_patched()
    after = trainer(session, training_input_mode="Pipe")
    train(after)
    proc = processor(session, "ScriptProcessor")
    run(proc, "ScriptProcessor", inputs=[pipe_input()])

    stock, fixed, restored = creates(calls)
    assert fixed["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert "Tags" not in stock and "Tags" not in restored
    assert without_name_and_tags(restored) == without_name_and_tags(stock)
    assert restored["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    stock_p, fixed_p, restored_p = processing_creates(calls)
    assert fixed_p["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
    assert "Tags" not in restored_p
    assert without_name_and_tags(restored_p) == without_name_and_tags(stock_p)
    assert proc.latest_job.processing_inputs[0].s3_input.s3_input_mode == "Pipe"
    assert not hasattr(after, "latest_decision")
    assert "latest_decision" not in vars(proc)
    assert len(ours(grant_warnings)) == 2  # only the patched train() and run() warned


def test_unpatch_when_nothing_is_patched_does_nothing():
    unpatch()
    unpatch()
    assert_nothing_patched()


def test_unpatch_leaves_a_method_someone_rewrapped_after_patch_alone(caplog):
    key = ("sagemaker.core.processing", "Processor.run")
    original = ORIGINALS[key]
    patch()
    ours_run = vars(Processor)["run"]
    wrapt.wrap_function_wrapper(Processor, "run", lambda wrapped, instance, args, kwargs: wrapped(*args, **kwargs))
    theirs = vars(Processor)["run"]
    try:
        with caplog.at_level(logging.WARNING, logger="sagemaker_s3ag.sdk.patch"):
            unpatch()
        assert vars(Processor)["run"] is theirs
        assert theirs.__wrapped__ is ours_run
        assert is_patched() is False
        assert [r.getMessage() for r in caplog.records] == [
            "sagemaker-s3ag left Processor.run alone: it was re-wrapped after patch()"
        ]
        assert [k for k, orig in ORIGINALS.items() if k != key and current(*k) is not orig] == []
        assert "latest_decision" not in vars(ModelTrainer)
    finally:
        Processor.run = original
    assert_nothing_patched()


# --------------------------------------------------------------------------- 4. idempotence, settings, patched()


def test_patch_twice_wraps_once_and_one_unpatch_undoes_it():
    patch()
    first = wrappers()
    added = vars(ModelTrainer)["latest_decision"]
    assert_wrapped_once()
    patch()
    assert all(wrappers()[key] is first[key] for key in first)
    assert vars(ModelTrainer)["latest_decision"] is added
    assert_wrapped_once()
    unpatch()
    assert_nothing_patched()


def test_patch_again_with_other_settings_changes_the_settings(session, grant_warnings):
    patch(identity_propagation=True)
    first = wrappers()
    patch(identity_propagation=True, on_violation="error")
    assert _patch.patch_settings() == Settings(identity_propagation=True, on_violation="error")
    assert all(wrappers()[key] is first[key] for key in first)
    assert_wrapped_once()
    with pytest.raises(ConsiderationError) as info:  # the new settings are in effect
        run(processor(session, "Processor"), "Processor", inputs=[pipe_input()])
    assert info.value.rule == "pipe-mode"
    patch(on_fallback="allow")  # the settings are replaced, not merged
    assert _patch.patch_settings() == Settings(on_fallback="allow")
    assert_wrapped_once()


def test_patched_block_fixes_a_stock_model_trainer_and_restores_the_stock_sdk(session, calls, grant_warnings):
    with patched(identity_propagation=True) as value:
        assert value is None
        assert_wrapped_once()
        inside = trainer(session, training_input_mode="Pipe")
        train(inside)
        assert inside.latest_decision.adjustments == ("pipe-mode",)
    assert_nothing_patched()
    outside = trainer(session, training_input_mode="Pipe")
    train(outside)
    fixed, stock = creates(calls)
    assert fixed["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert fixed["Tags"] == expected_record(adjustments="pipe-mode")
    assert stock["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert "Tags" not in stock
    assert not hasattr(inside, "latest_decision")
    assert len(ours(grant_warnings)) == 1


def test_patched_restores_unpatched_state_after_an_exception():
    with pytest.raises(KeyError):
        with patched(on_fallback="deny"):
            assert_wrapped_once()
            raise KeyError("boom")
    assert_nothing_patched()


def test_patched_restores_the_previous_patch_and_its_settings():
    patch(on_fallback="allow")
    first = wrappers()
    with patched(identity_propagation=True, on_violation="error"):
        assert _patch.patch_settings() == Settings(identity_propagation=True, on_violation="error")
        with patched(on_fallback="deny"):
            assert _patch.patch_settings() == Settings(on_fallback="deny")
        assert _patch.patch_settings() == Settings(identity_propagation=True, on_violation="error")
    assert _patch.patch_settings() == Settings(on_fallback="allow")
    assert all(wrappers()[key] is first[key] for key in first)
    assert_wrapped_once()
    unpatch()
    assert_nothing_patched()


def test_concurrent_patch_wraps_each_target_once():
    for _round in range(3):
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                barrier.wait(timeout=10)
                patch(identity_propagation=True)
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)

        started = [threading.Thread(target=worker) for _ in range(4)]
        for thread in started:
            thread.start()
        for thread in started:
            thread.join(timeout=30)
        assert errors == []
        assert_wrapped_once()
        unpatch()
        assert_nothing_patched()


# --------------------------------------------------------------------------- 5. unknown SDKs, missing targets


def test_unknown_sdk_version_is_refused_naming_the_installed_version(monkeypatch):
    monkeypatch.setattr(_patch, "SUPPORTED", ("sagemaker >= 2.200, < 3", "sagemaker >= 9"))
    with pytest.raises(UnsupportedSDKError) as info:
        patch(identity_propagation=True)
    assert SDK_VERSION.startswith("3.")
    assert str(info.value).startswith(
        f"patch() supports sagemaker >= 2.200, < 3 or sagemaker >= 9; sagemaker {SDK_VERSION} is installed, "
        "so nothing was patched."
    )
    assert isinstance(info.value, RuntimeError)
    assert_nothing_patched()
    with pytest.raises(UnsupportedSDKError):
        with patched():
            pytest.fail("the block must not run")
    assert_nothing_patched()


@pytest.mark.parametrize("path", ["ModelTrainer.no_such_method", "NoSuchClass.train"], ids=["missing-method", "missing-class"])
def test_missing_target_is_refused_and_nothing_is_patched(monkeypatch, path):
    # Last in the list, so an SDK that wrapped as it went would have wrapped every other target by then.
    monkeypatch.setattr(_hooks, "PATCHED", (*V3_TARGETS, ("sagemaker.train.model_trainer", path, V3_TARGETS[0][2])))
    with pytest.raises(UnsupportedSDKError) as info:
        patch(identity_propagation=True)
    assert str(info.value) == f"sagemaker.train.model_trainer.{path} is missing from this SageMaker SDK; nothing was patched"
    assert_nothing_patched()


# --------------------------------------------------------------------------- 6. names of the other SDK major


def test_the_v2_estimator_name_raises_import_error_naming_the_installed_sdk():
    with pytest.raises(ImportError) as info:
        from sagemaker_s3ag import GrantAwareEstimator  # noqa: F401
    message = str(info.value)
    assert message == (
        f"GrantAwareEstimator needs SageMaker Python SDK v2, but sagemaker {SDK_VERSION} is installed; "
        "use GrantAwareModelTrainer (sagemaker.train.ModelTrainer replaces Estimator in SDK v3)"
    )
    assert info.value.name == "sagemaker_s3ag"
    with pytest.raises(ImportError, match=f"sagemaker {SDK_VERSION} is installed; use GrantAwareModelTrainer"):
        sagemaker_s3ag.GrantAwareEstimator  # noqa: B018 - attribute access, same error
    assert "GrantAwareEstimator" not in vars(sagemaker_s3ag)  # nothing cached


def test_star_import_works_and_exports_only_this_majors_names():
    namespace: dict = {}
    exec("from sagemaker_s3ag import *", namespace)  # noqa: S102
    assert "GrantAwareEstimator" not in namespace
    assert "GrantAwareEstimator" not in sagemaker_s3ag.__all__
    assert "GrantAwareEstimator" not in dir(sagemaker_s3ag)
    assert namespace["GrantAwareModelTrainer"] is GrantAwareModelTrainer
    assert namespace["GrantAwareProcessor"] is GrantAwareProcessor
    assert namespace["patch"] is patch and namespace["grant_aware"] is sagemaker_s3ag.grant_aware
    assert sorted(n for n in namespace if n != "__builtins__") == sorted(sagemaker_s3ag.__all__)


# --------------------------------------------------------------------------- 7. s3ag run on an unchanged v3 script

V3_SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    from sagemaker_s3ag.testing import BUCKET, IMAGE, ROLE, AccessGrantsTable, Emulator, install_access_grants

    emulator = Emulator()
    session = emulator.start()
    install_access_grants(session.boto_session, AccessGrantsTable().grant("s3://s3ag-demo/*", "READWRITE"))

    # An existing v3 script, unchanged: the stock ModelTrainer only.
    from sagemaker.core.resources import Base
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import InputData

    import sagemaker_s3ag
    from sagemaker_s3ag.sdk.patch import patch_settings

    sent = []
    client = Base.get_sagemaker_client(session=session.boto_session, service_name="sagemaker")
    client.meta.events.register(
        "before-parameter-build.sagemaker.CreateTrainingJob", lambda params, **_: sent.append(json.loads(json.dumps(params)))
    )
    print("PATCHED " + json.dumps(sagemaker_s3ag.is_patched()))
    print("SETTINGS " + json.dumps(vars(patch_settings()) if patch_settings() else None))
    trainer = ModelTrainer(training_image=IMAGE, role=ROLE, sagemaker_session=session, training_input_mode="Pipe")
    trainer.train(input_data_config=[InputData(channel_name="train", data_source=f"s3://{BUCKET}/train/")], wait=False)
    (request,) = sent
    print("SENT " + json.dumps(request["AlgorithmSpecification"]["TrainingInputMode"]))
    job = session.sagemaker_client.describe_training_job(TrainingJobName=request["TrainingJobName"])
    print("STORED " + json.dumps(job["AlgorithmSpecification"]["TrainingInputMode"]))
    print("TAGS " + json.dumps({t["Key"]: t["Value"] for t in request.get("Tags", []) if t["Key"].startswith("s3ag:")}))
    decision = getattr(trainer, "latest_decision", None)
    print("DECISION " + json.dumps(list(decision.adjustments) if decision else None))
    print("ARGV " + json.dumps(sys.argv))
    sys.stdout.flush()
    sys.exit(int(sys.argv[1]))
    """
)


def reported(stdout: str, prefix: str):
    (found,) = [line[len(prefix) + 1 :] for line in stdout.splitlines() if line.startswith(prefix + " ")]
    return json.loads(found)


RUN_ARGS = ["5", "--", "x y"]


@pytest.fixture(scope="module", autouse=True)
def v3_script_run(tmp_path_factory):
    """``s3ag run -- python train_v3.py ...``, started when this module starts: the child imports the SDK
    for many seconds, so it runs alongside the other tests here; the test at the end reads its result."""
    from test_run import S3AG, clean_environment

    work = tmp_path_factory.mktemp("s3ag-run-v3")
    (work / "train_v3.py").write_text(V3_SCRIPT)
    process = subprocess.Popen(
        [*S3AG, "run", "--identity-propagation", "on", "--", sys.executable, "train_v3.py", *RUN_ARGS],
        env=clean_environment(),
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    outcome: dict = {}

    def result() -> subprocess.CompletedProcess:
        if not outcome:
            stdout, stderr = process.communicate(timeout=300)
            outcome["done"] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        return outcome["done"]

    try:
        yield result
    finally:
        if process.poll() is None:  # the test was not selected, or timed out
            process.kill()
            process.communicate()


def test_s3ag_run_patches_an_unchanged_v3_model_trainer_script(v3_script_run):
    """``s3ag run -- python script.py``: the stock ModelTrainer of an unchanged script sends File, tagged; argv and exit code pass through."""
    result = v3_script_run()
    assert result.returncode == 5, result.stderr
    out = result.stdout
    assert reported(out, "PATCHED") is True
    assert reported(out, "SETTINGS") == {
        "identity_propagation": True,
        "on_violation": "fix",
        "on_fallback": "warn",
        "pipe_mode_replacement": "File",
        "preflight_timeout": 5.0,
        "script_locations": "warn",
        "background_session_duration": 604800.0,
    }
    assert reported(out, "SENT") == "File"
    assert reported(out, "STORED") == "File"
    assert reported(out, "TAGS") == {
        "s3ag:credentials": "access-grants",
        "s3ag:identity-propagation": "enabled",
        "s3ag:adjustments": "pipe-mode",
        "s3ag:launched-by": "user",
        "s3ag:version": sagemaker_s3ag.__version__,
    }
    assert reported(out, "DECISION") == ["pipe-mode"]  # the property patch() adds works in the program
    assert reported(out, "ARGV") == ["train_v3.py", *RUN_ARGS]
    (warning,) = [line for line in result.stderr.splitlines() if "GrantAwareWarning" in line]
    assert "[s3ag:pipe-mode] AlgorithmSpecification.TrainingInputMode:" in warning
    assert warning.split(":")[0].endswith("train_v3.py")  # points at the script's train() line


def test_a_v3_install_without_the_sagemaker_distribution_counts_as_v3(monkeypatch):
    """``pip install sagemaker-train`` brings sagemaker-core 2.N, not ``sagemaker``: that is SDK 3.N."""
    import importlib.metadata as metadata

    from sagemaker_s3ag.sdk import installed as _sdk

    real = metadata.version

    def version(name):
        if name == "sagemaker":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    _sdk.installed_version.cache_clear()
    try:
        assert _sdk.installed_version() == "3." + real("sagemaker-core").split(".", 1)[1]
        assert _sdk.major() == 3
    finally:
        _sdk.installed_version.cache_clear()
