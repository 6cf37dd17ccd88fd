"""The public surface: one sorted __all__, every name importable, and a cheap import."""

from __future__ import annotations

import subprocess
import sys

from conftest import SDK_MAJOR

import sagemaker_s3ag

TRAINER = "GrantAwareEstimator" if SDK_MAJOR == 2 else "GrantAwareModelTrainer"
OTHER_TRAINER = "GrantAwareModelTrainer" if SDK_MAJOR == 2 else "GrantAwareEstimator"


def test_all_is_sorted_and_complete():
    assert sagemaker_s3ag.__all__ == sorted(sagemaker_s3ag.__all__)
    for name in sagemaker_s3ag.__all__:
        assert getattr(sagemaker_s3ag, name) is not None
    required = {
        TRAINER,
        "GrantAwareProcessor",
        "grant_aware",
        "ConsiderationError",
        "GrantFallbackError",
        "GrantAwareWarning",
        "describe_job",
        "execution_role_policy",
    }
    assert required <= set(sagemaker_s3ag.__all__)
    assert OTHER_TRAINER not in sagemaker_s3ag.__all__  # so `from sagemaker_s3ag import *` works


def test_a_name_of_the_other_major_is_an_import_error_saying_what_to_use():
    from importlib.metadata import version

    import pytest

    with pytest.raises(ImportError) as info:
        exec(f"from sagemaker_s3ag import {OTHER_TRAINER}", {})
    message = str(info.value)
    assert f"sagemaker {version('sagemaker')} is installed" in message
    assert f"use {TRAINER}" in message


def test_exception_tree():
    from sagemaker_s3ag import ConsiderationError, GrantAwareWarning, GrantFallbackError, SageMakerS3agError

    assert issubclass(ConsiderationError, ValueError) and issubclass(ConsiderationError, SageMakerS3agError)
    assert issubclass(GrantFallbackError, ConsiderationError)
    assert issubclass(GrantAwareWarning, UserWarning)
    err = GrantFallbackError("no grant", locations=[("s3://b/p", "READ")])
    assert err.rule == "fallback" and err.locations == (("s3://b/p", "READ"),)


def test_grant_aware_classes_are_sdk_subclasses():
    if SDK_MAJOR == 2:
        from sagemaker.estimator import Estimator as Trainer
        from sagemaker.processing import Processor
    else:
        from sagemaker.core.processing import Processor
        from sagemaker.train.model_trainer import ModelTrainer as Trainer

    assert issubclass(getattr(sagemaker_s3ag, TRAINER), Trainer)
    assert issubclass(sagemaker_s3ag.GrantAwareProcessor, Processor)


def test_unknown_attribute_is_an_attribute_error():
    try:
        sagemaker_s3ag.NoSuchThing  # noqa: B018
    except AttributeError as err:
        assert "NoSuchThing" in str(err)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_import_does_not_import_the_sdk_or_boto():
    code = (
        "import sys, sagemaker_s3ag; "
        "heavy = sorted(m for m in ('sagemaker', 'boto3', 'botocore', 'wrapt') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_settings_are_validated_on_construction():
    import pytest

    from sagemaker_s3ag import GrantAwareProcessor, Settings

    with pytest.raises(ValueError, match="on_violation"):
        Settings(on_violation="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pipe_mode_replacement"):
        GrantAwareProcessor(image_uri="x", role="r", instance_count=1, instance_type="ml.m5.xlarge", pipe_mode_replacement="Pipe")
    with pytest.raises(ValueError, match="preflight_timeout"):
        Settings(preflight_timeout=0)
    with pytest.raises(ValueError, match="script_locations"):
        Settings(script_locations="refuse")  # type: ignore[arg-type]
    for duration in (899, 90 * 86_400 + 1, True, "7 days", float("nan")):
        with pytest.raises(ValueError, match="background_session_duration"):
            Settings(background_session_duration=duration)  # type: ignore[arg-type]
    assert Settings.names() == (
        "identity_propagation",
        "on_violation",
        "on_fallback",
        "pipe_mode_replacement",
        "preflight_timeout",
        "script_locations",
        "background_session_duration",
    )


def test_import_reads_no_package_metadata():
    """Which SDK major is installed is worked out on first use, not when the package is imported."""
    code = "import sys, sagemaker_s3ag; print('importlib.metadata' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
