"""The public surface: one sorted __all__, every name importable, and a cheap import."""

from __future__ import annotations

import subprocess
import sys

import sagemaker_s3ag


def test_all_is_sorted_and_complete():
    assert sagemaker_s3ag.__all__ == sorted(sagemaker_s3ag.__all__)
    for name in sagemaker_s3ag.__all__:
        assert getattr(sagemaker_s3ag, name) is not None
    required = {
        "GrantAwareEstimator", "GrantAwareProcessor", "grant_aware", "ConsiderationError",
        "GrantFallbackError", "GrantAwareWarning", "describe_job", "execution_role_policy",
    }
    assert required <= set(sagemaker_s3ag.__all__)


def test_exception_tree():
    from sagemaker_s3ag import ConsiderationError, GrantAwareWarning, GrantFallbackError, SageMakerS3agError

    assert issubclass(ConsiderationError, ValueError) and issubclass(ConsiderationError, SageMakerS3agError)
    assert issubclass(GrantFallbackError, ConsiderationError)
    assert issubclass(GrantAwareWarning, UserWarning)
    err = GrantFallbackError("no grant", locations=[("s3://b/p", "READ")])
    assert err.rule == "fallback" and err.locations == (("s3://b/p", "READ"),)


def test_grant_aware_classes_are_sdk_subclasses():
    from sagemaker.estimator import Estimator
    from sagemaker.processing import Processor

    assert issubclass(sagemaker_s3ag.GrantAwareEstimator, Estimator)
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

    from sagemaker_s3ag import GrantAwareEstimator, Settings

    with pytest.raises(ValueError, match="on_violation"):
        Settings(on_violation="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pipe_mode_replacement"):
        GrantAwareEstimator(image_uri="x", role="r", instance_count=1, instance_type="ml.m5.xlarge",
                            pipe_mode_replacement="Pipe")
    with pytest.raises(ValueError, match="preflight_timeout"):
        Settings(preflight_timeout=0)
    assert Settings.names() == (
        "identity_propagation", "on_violation", "on_fallback", "pipe_mode_replacement", "preflight_timeout"
    )
