"""grant_aware() on the SDK v2 framework estimators (PyTorch, HuggingFace, SKLearn, XGBoost) on moto.

Each estimator has a local entry point, so the SDK uploads ``sourcedir.tar.gz`` during ``fit()``:
a refusal must happen before that upload.
"""

from __future__ import annotations

import pytest
import sagemaker.estimator
from conftest import ROLE, created_jobs, creates, expected_record, ours, tag_map, uploaded_keys
from sagemaker.huggingface import HuggingFace
from sagemaker.pytorch import PyTorch
from sagemaker.sklearn import SKLearn
from sagemaker.xgboost import XGBoost
from test_estimator import GRANTED, TRAIN, VAL, described, fit, job_tags

from sagemaker_s3ag import ConsiderationError, GrantAwareEstimator, __version__, grant_aware

# Valid combinations for sagemaker 2.257.7 (sagemaker.image_uris config); HuggingFace has GPU images only.
FRAMEWORKS = {
    "pytorch": (PyTorch, {"framework_version": "2.1", "py_version": "py310", "instance_type": "ml.m5.xlarge"}),
    "huggingface": (
        HuggingFace,
        {
            "transformers_version": "4.36",
            "pytorch_version": "2.1",
            "py_version": "py310",
            "instance_type": "ml.g5.xlarge",
        },
    ),
    "sklearn": (SKLearn, {"framework_version": "1.2-1", "py_version": "py3", "instance_type": "ml.m5.xlarge"}),
    "xgboost": (XGBoost, {"framework_version": "1.7-1", "py_version": "py3", "instance_type": "ml.m5.xlarge"}),
}


@pytest.fixture(params=list(FRAMEWORKS))
def framework(request):
    return FRAMEWORKS[request.param][0], FRAMEWORKS[request.param][1]


def make(session, tmp_path, framework, **kwargs):
    stock, versions = framework
    entry = tmp_path / "train.py"
    entry.write_text("print('training')\n")
    kwargs.setdefault("identity_propagation", True)
    return grant_aware(stock)(
        entry_point=str(entry),
        role=ROLE,
        instance_count=1,
        sagemaker_session=session,
        **versions,
        **kwargs,
    )


def test_default_fit_with_tip_on(session, tmp_path, framework, calls, grant_warnings):
    est = make(session, tmp_path, framework)
    assert isinstance(est, framework[0])
    fit(est, {"train": TRAIN, "val": VAL})

    name = est.latest_training_job.name
    assert created_jobs(session)["training"] == [name]
    job = described(session, est)
    assert "DebugHookConfig" not in job
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    (request,) = creates(calls)
    assert "DebugHookConfig" not in request
    assert request["ProfilerConfig"] == {"DisableProfiler": True}
    assert uploaded_keys(session) == [f"{name}/source/sourcedir.tar.gz"]
    assert request["HyperParameters"]["sagemaker_program"] == '"train.py"'

    assert job_tags(session, est) == expected_record(GRANTED, "debugger profiler")
    assert est.latest_decision.job_name == name
    assert est.latest_decision.adjustments == ("debugger", "profiler")
    assert all(not f.explicit for f in est.latest_decision.findings)
    assert ours(grant_warnings) == []


def test_pipe_mode_refused_before_code_upload(session, tmp_path, framework, calls):
    est = make(session, tmp_path, framework, input_mode="Pipe", on_violation="error")
    with pytest.raises(ConsiderationError) as err:
        fit(est)
    assert err.value.rule == "pipe-mode"
    assert [(f.rule, f.where) for f in err.value.findings] == [("pipe-mode", "AlgorithmSpecification.TrainingInputMode")]
    assert uploaded_keys(session) == []
    assert created_jobs(session)["training"] == []
    assert creates(calls) == []
    assert est.latest_decision.refused and est.latest_decision.tags == ()  # the refusal, not an earlier job


def test_pipe_mode_fixed_with_one_warning(session, tmp_path, framework, grant_warnings):
    est = make(session, tmp_path, framework, input_mode="Pipe", pipe_mode_replacement="FastFile")
    fit(est)
    assert described(session, est)["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"
    warned = ours(grant_warnings)
    assert len(warned) == 1
    assert warned[0].startswith("[s3ag:pipe-mode] AlgorithmSpecification.TrainingInputMode:")
    assert est.latest_decision.adjustments == ("pipe-mode", "debugger", "profiler")


def test_tip_off_keeps_the_sdk_defaults(session, tmp_path, framework, calls, grant_warnings):
    est = make(session, tmp_path, framework, identity_propagation=False, input_mode="Pipe")
    fit(est)
    (request,) = creates(calls)
    assert request["DebugHookConfig"]["S3OutputPath"] == f"s3://{session.default_bucket()}/"
    assert request["ProfilerConfig"]["DisableProfiler"] is False
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert tag_map(job_tags(session, est)) == {
        "s3ag:credentials": "iam-role",
        "s3ag:identity-propagation": "disabled",
        "s3ag:adjustments": "none",
        "s3ag:launched-by": "user",
        "s3ag:version": __version__,
    }
    assert ours(grant_warnings) == []


# --------------------------------------------------------------------------- grant_aware() itself


@pytest.mark.parametrize("stock", [PyTorch, HuggingFace, SKLearn, XGBoost], ids=lambda c: c.__name__)
def test_grant_aware_is_a_cached_subclass(stock):
    made = grant_aware(stock)
    assert made is grant_aware(stock)
    assert issubclass(made, stock)
    assert made is not stock
    assert made.__name__ == f"GrantAware{stock.__name__}"
    assert grant_aware(made) is made


def test_grant_aware_of_named_classes():
    assert grant_aware(GrantAwareEstimator) is GrantAwareEstimator
    assert grant_aware(sagemaker.estimator.Estimator) is GrantAwareEstimator


@pytest.mark.parametrize("thing", [int, object, "PyTorch", 3], ids=["int", "object", "str", "number"])
def test_grant_aware_refuses_non_estimator_classes(thing):
    with pytest.raises(TypeError):
        grant_aware(thing)


def test_grant_aware_settings_are_validated(session, tmp_path):
    with pytest.raises(ValueError, match="on_violation"):
        make(session, tmp_path, FRAMEWORKS["pytorch"], on_violation="ignore")
