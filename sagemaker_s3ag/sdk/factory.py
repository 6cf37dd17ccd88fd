"""Factory: ``grant_aware(cls)``, a grant-aware subclass of any training or processing class of the installed SDK.

The constructor is the same, plus the keyword-only settings (see :class:`~sagemaker_s3ag.Settings`).
SDK v2::

    from sagemaker.pytorch import PyTorch
    from sagemaker_s3ag import grant_aware

    GrantAwarePyTorch = grant_aware(PyTorch)
    est = GrantAwarePyTorch(entry_point="train.py", role=role, framework_version="2.1",
                            py_version="py310", instance_count=1, instance_type="ml.g5.xlarge",
                            on_violation="error")
    est.fit({"train": "s3://bucket/train/"})
    est.latest_decision

SDK v3::

    from sagemaker.core.spark.processing import PySparkProcessor
    GrantAwarePySparkProcessor = grant_aware(PySparkProcessor)
"""

from __future__ import annotations

import importlib
import threading
from typing import TypeVar

from sagemaker_s3ag.sdk.common import GrantAwareMixin
from sagemaker_s3ag.sdk.installed import V3, major, sdk_class

T = TypeVar("T", bound=type)

_lock = threading.Lock()
_classes: dict[type, type] = {}

# By major: (module, base class, mixin module, mixin) for training; processing is shared.
_TRAINING = {
    2: ("sagemaker.estimator", "EstimatorBase", "sagemaker_s3ag.sdk.v2.mixins", "GrantAwareTrainingMixin", "estimator"),
    3: (
        "sagemaker.train.model_trainer",
        "ModelTrainer",
        "sagemaker_s3ag.sdk.v3.mixins",
        "GrantAwareTrainingMixin",
        "ModelTrainer",
    ),
}


def register(stock: type, grant_aware_cls: type) -> None:
    """Record the grant-aware twin of ``stock`` (the named classes register themselves)."""
    with _lock:
        _classes.setdefault(stock, grant_aware_cls)


def _mixin_for(cls: type) -> type:
    """The grant-aware mixin for a training or processing class of the installed major.

    The adapters import the SDK (seconds), so they are imported here, when first needed.
    """
    base_module, base_name, mixin_module, mixin_name, kind = _TRAINING[V3 if major() >= V3 else 2]
    if issubclass(cls, getattr(importlib.import_module(base_module), base_name)):
        return getattr(importlib.import_module(mixin_module), mixin_name)  # type: ignore[no-any-return]
    if issubclass(cls, sdk_class("Processor")):
        return importlib.import_module("sagemaker_s3ag.sdk.processing").GrantAwareProcessingMixin  # type: ignore[no-any-return]
    raise TypeError(f"grant_aware() takes a SageMaker {kind} or processor class, not {cls.__module__}.{cls.__qualname__}")


def grant_aware(cls: T) -> T:
    """A grant-aware subclass of any SageMaker training or processing class of the installed SDK.

    SDK v2: any estimator (``EstimatorBase``) or processor (``Processor``) class; SDK v3: any
    ``ModelTrainer`` or ``sagemaker.core.processing.Processor`` class. The subclass has the same
    constructor plus the keyword-only settings of :class:`~sagemaker_s3ag.core.settings.Settings`
    (``identity_propagation``, ``on_violation``, ``on_fallback``, ``pipe_mode_replacement``,
    ``preflight_timeout``, ``script_locations``, ``background_session_duration``). The same class always gives
    the same subclass; a grant-aware class is returned as it is.

    Raises:
        TypeError: ``cls`` is none of those classes.
    """
    if not isinstance(cls, type):
        raise TypeError(f"grant_aware() takes a class, not {cls!r}")
    if issubclass(cls, GrantAwareMixin):
        return cls
    mixin = _mixin_for(cls)
    with _lock:
        made = _classes.get(cls)
        if made is None:
            name = f"GrantAware{cls.__name__}"
            made = type(
                name,
                (mixin, cls),
                {
                    "__module__": "sagemaker_s3ag",
                    "__qualname__": name,
                    "__doc__": f"{cls.__name__} that enforces the S3 Access Grants rules (see sagemaker_s3ag).\n\n"
                    + (cls.__doc__ or ""),
                },
            )
            _classes[cls] = made
    return made  # type: ignore[return-value]
