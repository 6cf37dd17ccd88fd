"""Installed SDK: which major of the SageMaker Python SDK is here, and its adapter.

SDK v2 trains with ``Estimator.fit()`` and processes with ``sagemaker.processing.Processor.run()``;
SDK v3 trains with ``sagemaker.train.ModelTrainer.train()`` and processes with
``sagemaker.core.processing.Processor.run()``. Both build the same CreateTrainingJob /
CreateProcessingJob requests, which is all the rules see; only the adapters (``sdk/v2``, ``sdk/v3``)
know the SDK's classes. Finding out which major is installed costs a metadata read, not an import of
the SDK; :func:`adapter` reaches the major's hooks by name, as X-Ray's patcher reaches its
``ext/<library>`` modules, so this layer never imports the SDK itself::

    adapter().install()            # the always-on hooks of the installed major
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType
from typing import Any

from sagemaker_s3ag.core.errors import UnsupportedSDKError

V2, V3 = 2, 3

# Public names that exist for one major only: (major, what to use on the other one).
MAJOR_ONLY: dict[str, tuple[int, str]] = {
    "GrantAwareEstimator": (V2, "GrantAwareModelTrainer (sagemaker.train.ModelTrainer replaces Estimator in SDK v3)"),
    "GrantAwareModelTrainer": (V3, "GrantAwareEstimator (SDK v2 trains with sagemaker.estimator.Estimator)"),
}


@functools.lru_cache(maxsize=1)
def installed_version() -> str:
    """The installed SDK's version as the ``sagemaker`` distribution numbers it, or ``""`` when there is none.

    SDK v3 also installs as its parts (``sagemaker-core``, ``sagemaker-train``, ...) without the
    ``sagemaker`` distribution itself; sagemaker 3.N requires sagemaker-core 2.N, so sagemaker-core
    2.N alone counts as 3.N.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sagemaker")
    except PackageNotFoundError:
        pass
    try:
        core = version("sagemaker-core")
    except PackageNotFoundError:
        return ""
    head, _, rest = core.partition(".")
    return f"3.{rest}" if head == "2" else ""


def major() -> int:
    """The installed SDK's major version (2 or 3; 0 when the SDK is not installed)."""
    text = installed_version()
    head = text.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def wrong_major(name: str) -> ImportError:
    """The error for a name that belongs to the other major: which one is installed, what to use."""
    wanted, instead = MAJOR_ONLY[name]
    installed = installed_version()
    if installed:
        text = f"{name} needs SageMaker Python SDK v{wanted}, but sagemaker {installed} is installed; use {instead}"
    else:
        pin = "sagemaker>=3.3,<4" if wanted == V3 else "sagemaker>=2.200,<3"
        text = f"{name} needs SageMaker Python SDK v{wanted}, which is not installed: pip install '{pin}'"
    return ImportError(
        text,
        name="sagemaker_s3ag",
    )


# Where each major keeps the classes the adapters need: name -> (v2 module, v3 module).
_CLASSES = {
    "Session": ("sagemaker.session", "sagemaker.core.helper.session_helper"),
    "PipelineSession": ("sagemaker.workflow.pipeline_context", "sagemaker.core.workflow.pipeline_context"),
    "Processor": ("sagemaker.processing", "sagemaker.core.processing"),
}


def adapter() -> ModuleType:
    """The installed major's hooks module (``sagemaker_s3ag.sdk.v2.hooks`` or ``...v3.hooks``).

    Raises:
        UnsupportedSDKError: no SageMaker SDK major sagemaker-s3ag knows is installed.
    """
    installed = major()
    if installed not in (V2, V3):
        raise UnsupportedSDKError(
            f"sagemaker {installed_version() or '(not installed)'} is not a SageMaker Python SDK major sagemaker-s3ag knows"
        )
    return importlib.import_module(f"sagemaker_s3ag.sdk.v{installed}.hooks")


def sdk_class(name: str) -> type:
    """``Session``, ``PipelineSession`` or ``Processor`` of the installed major."""
    v2_module, v3_module = _CLASSES[name]
    return getattr(importlib.import_module(v3_module if major() >= V3 else v2_module), name)  # type: ignore[no-any-return]


def api_shape(value: Any) -> Any:
    """An SDK v3 request object (a pydantic shape) as the API's PascalCase dict; other values as they are."""
    if hasattr(value, "model_dump") and major() >= V3:
        from sagemaker.core.utils.utils import serialize

        return serialize(value)
    return value
