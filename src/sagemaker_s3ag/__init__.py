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

``GrantAwareProcessor`` and ``grant_aware(cls)`` work on both. Importing this package is cheap:
the SageMaker SDK is imported only when a grant-aware class is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._decision import Decision
from ._describe import JobRecord, describe_job
from ._doctor import Check, doctor
from ._jobs import list_jobs
from ._errors import (
    ConsiderationError,
    GrantAwareWarning,
    GrantFallbackError,
    JobRecordNotFound,
    SageMakerS3agError,
    UnsupportedSDKError,
)
from ._findings import Finding
from ._grant_aware import grant_aware
from ._identity_propagation import IdentityPropagation, detect_identity_propagation
from ._patch import is_patched, patch, patched, unpatch
from ._policy import access_grants_trust_policy, execution_role_policy
from ._rules import RULES, Rule, enforce
from ._settings import Settings
from ._version import __version__


def clear_caches() -> None:
    """Forget cached Access Grants answers and Studio domain look-ups.

    Grants are cached until shortly before their credentials expire and denials for a minute;
    call this after a grant was added or removed, or TIP was switched on the domain::

        import sagemaker_s3ag
        sagemaker_s3ag.clear_caches()
    """
    from ._identity_propagation import clear_cache as clear_domains
    from ._preflight import clear_cache as clear_answers

    clear_domains()
    clear_answers()


if TYPE_CHECKING:
    from ._estimator import GrantAwareEstimator
    from ._model_trainer import GrantAwareModelTrainer
    from ._processor import GrantAwareProcessor

_LAZY = {
    "GrantAwareEstimator": "._estimator",  # SDK v2 only
    "GrantAwareModelTrainer": "._model_trainer",  # SDK v3 only
    "GrantAwareProcessor": "._processor",
}

# Every public name; ``__all__`` is this without the other SDK major's names, worked out on first
# use (``from sagemaker_s3ag import *``), so that importing the package reads no package metadata.
_PUBLIC = [
    "Check",
    "ConsiderationError",
    "Decision",
    "Finding",
    "GrantAwareEstimator",
    "GrantAwareModelTrainer",
    "GrantAwareProcessor",
    "GrantAwareWarning",
    "GrantFallbackError",
    "IdentityPropagation",
    "JobRecord",
    "JobRecordNotFound",
    "RULES",
    "Rule",
    "SageMakerS3agError",
    "Settings",
    "UnsupportedSDKError",
    "__version__",
    "access_grants_trust_policy",
    "clear_caches",
    "describe_job",
    "detect_identity_propagation",
    "doctor",
    "enforce",
    "execution_role_policy",
    "grant_aware",
    "is_patched",
    "list_jobs",
    "patch",
    "patched",
    "unpatch",
]


def _this_major(names: list[str]) -> list[str]:
    """``names`` without those of the other SDK major (so ``from sagemaker_s3ag import *`` works)."""
    from ._sdk import MAJOR_ONLY, major

    installed = major()
    return [n for n in names if n not in MAJOR_ONLY or MAJOR_ONLY[n][0] == installed or not installed]


def __getattr__(name: str) -> Any:
    if name == "__all__":
        value: Any = _this_major(_PUBLIC)
        globals()["__all__"] = value
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sagemaker_s3ag' has no attribute {name!r}")
    from ._sdk import MAJOR_ONLY, major, wrong_major

    if name in MAJOR_ONLY and MAJOR_ONLY[name][0] != major():
        raise wrong_major(name)
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__getattr__("__all__")))
