"""sagemaker-s3ag: SageMaker jobs that read S3 through Amazon S3 Access Grants under trusted identity propagation.

Swap a grant-aware class in for the stock one (or ``patch()`` every stock class, or run an
unchanged script with ``s3ag run -- python script.py``). SageMaker Python SDK v2::

    from sagemaker_s3ag import GrantAwareEstimator
    est = GrantAwareEstimator(image_uri=image, role=role, instance_count=1,
                              instance_type="ml.m5.xlarge", input_mode="Pipe")
    est.fit({"train": "s3://bucket/train/"})
    est.latest_decision

SDK v3::

    from sagemaker.core.training.configs import InputData
    from sagemaker_s3ag import GrantAwareModelTrainer
    trainer = GrantAwareModelTrainer(training_image=image, role=role, training_input_mode="Pipe")
    trainer.train(input_data_config=[InputData(channel_name="train", data_source="s3://bucket/train/")])
    trainer.latest_decision

``GrantAwareProcessor`` and ``grant_aware(cls)`` work on both. Importing this package is cheap: every
name is imported when first used, and the SageMaker SDK only with a grant-aware class.

The layers, each importing only those below it: ``cli`` (the ``s3ag`` command) → ``ops`` (describe,
jobs, doctor, policy), ``testing`` (the shipped test doubles) and ``guard`` (the account-wide Lambda
function; never the SDK) → ``sdk`` (the choke points, the grant-aware classes, ``patch()``) → ``core``
(rules, preflight, decisions; never the SDK).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sagemaker_s3ag._version import __version__

if TYPE_CHECKING:
    from sagemaker_s3ag.core.decision import Decision
    from sagemaker_s3ag.core.errors import (
        ConsiderationError,
        GrantAwareWarning,
        GrantFallbackError,
        JobRecordNotFound,
        SageMakerS3agError,
        UnsupportedSDKError,
    )
    from sagemaker_s3ag.core.findings import Finding
    from sagemaker_s3ag.core.identity import IdentityPropagation, detect_identity_propagation
    from sagemaker_s3ag.core.preflight import clear_caches
    from sagemaker_s3ag.core.rules import RULES, Rule, enforce
    from sagemaker_s3ag.core.settings import Settings
    from sagemaker_s3ag.ops.describe import JobRecord, describe_job
    from sagemaker_s3ag.ops.doctor import Check, doctor
    from sagemaker_s3ag.ops.jobs import list_jobs
    from sagemaker_s3ag.ops.policy import access_grants_trust_policy, execution_role_policy
    from sagemaker_s3ag.ops.report import JobList
    from sagemaker_s3ag.ops.verify import Verification, verify_job
    from sagemaker_s3ag.sdk.factory import grant_aware
    from sagemaker_s3ag.sdk.patch import is_patched, patch, patched, unpatch
    from sagemaker_s3ag.sdk.processing import GrantAwareProcessor
    from sagemaker_s3ag.sdk.v2.mixins import GrantAwareEstimator
    from sagemaker_s3ag.sdk.v3.mixins import GrantAwareModelTrainer

# Every public name, and the module that holds it.
_LAZY = {
    "Check": "sagemaker_s3ag.ops.doctor",
    "ConsiderationError": "sagemaker_s3ag.core.errors",
    "Decision": "sagemaker_s3ag.core.decision",
    "Finding": "sagemaker_s3ag.core.findings",
    "GrantAwareEstimator": "sagemaker_s3ag.sdk.v2.mixins",  # SDK v2 only
    "GrantAwareModelTrainer": "sagemaker_s3ag.sdk.v3.mixins",  # SDK v3 only
    "GrantAwareProcessor": "sagemaker_s3ag.sdk.processing",
    "GrantAwareWarning": "sagemaker_s3ag.core.errors",
    "GrantFallbackError": "sagemaker_s3ag.core.errors",
    "IdentityPropagation": "sagemaker_s3ag.core.identity",
    "JobList": "sagemaker_s3ag.ops.report",
    "JobRecord": "sagemaker_s3ag.ops.describe",
    "JobRecordNotFound": "sagemaker_s3ag.core.errors",
    "RULES": "sagemaker_s3ag.core.rules",
    "Rule": "sagemaker_s3ag.core.rules",
    "SageMakerS3agError": "sagemaker_s3ag.core.errors",
    "Settings": "sagemaker_s3ag.core.settings",
    "UnsupportedSDKError": "sagemaker_s3ag.core.errors",
    "Verification": "sagemaker_s3ag.ops.verify",
    "access_grants_trust_policy": "sagemaker_s3ag.ops.policy",
    "clear_caches": "sagemaker_s3ag.core.preflight",
    "describe_job": "sagemaker_s3ag.ops.describe",
    "detect_identity_propagation": "sagemaker_s3ag.core.identity",
    "doctor": "sagemaker_s3ag.ops.doctor",
    "enforce": "sagemaker_s3ag.core.rules",
    "execution_role_policy": "sagemaker_s3ag.ops.policy",
    "grant_aware": "sagemaker_s3ag.sdk.factory",
    "is_patched": "sagemaker_s3ag.sdk.patch",
    "list_jobs": "sagemaker_s3ag.ops.jobs",
    "patch": "sagemaker_s3ag.sdk.patch",
    "patched": "sagemaker_s3ag.sdk.patch",
    "unpatch": "sagemaker_s3ag.sdk.patch",
    "verify_job": "sagemaker_s3ag.ops.verify",
}
_PUBLIC = sorted([*_LAZY, "__version__"])


def _this_major(names: list[str]) -> list[str]:
    """``names`` without those of the other SDK major (so ``from sagemaker_s3ag import *`` works)."""
    from sagemaker_s3ag.sdk.installed import MAJOR_ONLY, major

    installed = major()
    return [n for n in names if n not in MAJOR_ONLY or MAJOR_ONLY[n][0] == installed or not installed]


def __getattr__(name: str) -> Any:
    if name == "__all__":  # worked out on first use: importing the package reads no package metadata
        value: Any = _this_major(_PUBLIC)
    else:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'sagemaker_s3ag' has no attribute {name!r}")
        from sagemaker_s3ag.sdk.installed import MAJOR_ONLY, major, wrong_major

        if name in MAJOR_ONLY and MAJOR_ONLY[name][0] != major():
            raise wrong_major(name)
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__getattr__("__all__")))
