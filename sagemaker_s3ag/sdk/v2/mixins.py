"""Estimator: grant-aware training on SDK v2 (``GrantAwareEstimator``, ``grant_aware(PyTorch)``, ``patch()``).

In a notebook::

    from sagemaker_s3ag import GrantAwareEstimator

    est = GrantAwareEstimator(image_uri=image, role=role, instance_count=1,
                              instance_type="ml.m5.xlarge", input_mode="Pipe")
    est.fit({"train": "s3://bucket/train/"}, wait=False)
    est.latest_decision        # Pipe -> File (warned), default Debugger/Profiler removed, tags written

Two steps, each run once per job whichever way the job is launched:

* :func:`before_fit` (from ``fit``): with TIP on, names the job and refuses what cannot be fixed,
  before anything is uploaded;
* :func:`prepare_for_training` (around ``_prepare_for_training``, which every path calls, SageMaker
  Pipelines steps included): notes what the SDK fills in on its own, lends the SDK a copy of the
  tags and announces the job to the request hook.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Optional

from sagemaker.debugger import ProfilerRule
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.job import _Job
from sagemaker.s3 import s3_path_join

from sagemaker_s3ag.core.decision import Decision
from sagemaker_s3ag.sdk.common import (
    GrantAwareMixin,
    before_launch,
    bind,
    check_preview,
    identity_for,
    launch,
    plan_preview,
    prepare_job,
    refuse_update,
    register,
)
from sagemaker_s3ag.core.request import Request
from sagemaker_s3ag.core.settings import Settings

_DEFAULTS = (("debugger_hook_config", "DebugHookConfig"), ("profiler_config", "ProfilerConfig"))


def _sdk_made(est: Any) -> dict[str, Any]:
    """Objects the SDK created on its own in an earlier fit(), by attribute name."""
    return est.__dict__.setdefault("_s3ag_sdk_made", {})


def _is_sdk_default(est: Any, attr: str) -> bool:
    value = getattr(est, attr, None)
    return value is None or value is _sdk_made(est).get(attr)


def training_preview(est: Any, inputs: Any = None, job_name: Optional[str] = None) -> Request:
    """The parts of the CreateTrainingJob request the rules need, built before anything is uploaded."""
    mode = est.input_mode
    if isinstance(inputs, TrainingInput) and "InputMode" in inputs.config:
        mode = inputs.config["InputMode"]
    preview: Request = {"AlgorithmSpecification": {"TrainingInputMode": mode}}
    if job_name:
        preview["TrainingJobName"] = job_name
    channels = _Job._format_inputs_to_input_config(inputs, validate_uri=False)
    if channels:
        preview["InputDataConfig"] = channels
    output_path = getattr(est, "output_path", None)
    session = est.sagemaker_session
    # Where _prepare_for_training will put it, if the default bucket is known without creating it
    # (default_bucket() may call CreateBucket); otherwise the final request is checked.
    bucket = getattr(session, "_default_bucket", None) or getattr(session, "_default_bucket_name_override", None)
    if output_path is None and bucket and not getattr(session, "local_mode", False):
        output_path = s3_path_join("s3://", bucket, session.default_bucket_prefix, with_end_slash=True)
    if output_path:
        preview["OutputDataConfig"] = {"S3OutputPath": output_path}
    checkpoint = getattr(est, "checkpoint_s3_uri", None)
    if checkpoint:
        preview["CheckpointConfig"] = {"S3Uri": checkpoint}
    hook = getattr(est, "debugger_hook_config", None)
    if hook and not _is_sdk_default(est, "debugger_hook_config"):
        preview["DebugHookConfig"] = {"S3OutputPath": hook.s3_output_path}
    rules = list(getattr(est, "rules", None) or ())
    debugger_rules = [r for r in rules if not isinstance(r, ProfilerRule)]
    profiler_rules = [r for r in rules if isinstance(r, ProfilerRule)]
    if debugger_rules:
        preview["DebugRuleConfigurations"] = [{"RuleConfigurationName": r.name} for r in debugger_rules]
    if profiler_rules:
        preview["ProfilerRuleConfigurations"] = [{"RuleConfigurationName": r.name} for r in profiler_rules]
    profiler = getattr(est, "profiler_config", None)
    if profiler is not None and not _is_sdk_default(est, "profiler_config"):
        preview["ProfilerConfig"] = {"DisableProfiler": bool(profiler.disable_profiler)}
    tensorboard = getattr(est, "tensorboard_output_config", None)
    if tensorboard is not None:
        preview["TensorBoardOutputConfig"] = {"S3OutputPath": tensorboard.s3_output_path}
    remote_debug = est.get_remote_debug_config()
    if remote_debug:
        preview["RemoteDebugConfig"] = remote_debug
    return preview


def _planned_defaults(est: Any, preview: Request) -> frozenset[str]:
    """Add to ``preview`` the Debugger hook and Profiler SDK v2 would switch on by itself."""
    from sagemaker.fw_utils import _region_supports_debugger, _region_supports_profiler

    region = est.sagemaker_session.boto_region_name
    defaults = set()
    if getattr(est, "debugger_hook_config", None) is None and _region_supports_debugger(region):
        preview["DebugHookConfig"] = {"S3OutputPath": preview.get("OutputDataConfig", {}).get("S3OutputPath")}
        defaults.add("DebugHookConfig")
    if (
        getattr(est, "profiler_config", None) is None
        and not getattr(est, "disable_profiler", False)
        and _region_supports_profiler(region)
    ):
        preview["ProfilerConfig"] = {"DisableProfiler": False}
        defaults.add("ProfilerConfig")
    return frozenset(defaults)


def _inputs(call: inspect.BoundArguments) -> Any:
    return call.arguments.get("inputs", call.arguments.get("records"))


def before_fit(est: Any, settings: Settings, fit: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> inspect.BoundArguments:
    """Step one of a grant-aware ``fit()`` (see :func:`before_launch`)."""
    return before_launch(
        est,
        "training",
        settings,
        fit,
        args,
        kwargs,
        new_name=est._get_or_create_name,
        preview=lambda call: training_preview(est, _inputs(call), call.arguments.get("job_name")),
    )


def prepare_for_training(est: Any, settings: Settings, prepare: Callable[[], Any]) -> Any:
    """Step two: around the SDK's ``_prepare_for_training``, announce the job to the request hook."""
    identity = identity_for(est, settings)
    # Reached without fit() (TrainingStep(estimator=...), a tuner): refuse what is known already.
    check_preview(est, "training", settings, identity, training_preview(est))
    made = _sdk_made(est)
    defaults = frozenset(field for attr, field in _DEFAULTS if _is_sdk_default(est, attr))
    before = {attr: getattr(est, attr, None) for attr, _field in _DEFAULTS}

    def tracked() -> Any:
        try:
            return prepare()
        finally:
            for attr, was in before.items():
                now = getattr(est, attr, None)
                if now is not was and (was is None or was is made.get(attr)):
                    made[attr] = now  # the SDK filled it in: still a default next time

    return prepare_job(est, "training", settings, identity, defaults, tracked)


class GrantAwareTrainingMixin(GrantAwareMixin):
    """Grant-aware ``fit()`` for any ``EstimatorBase`` subclass."""

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        """Launch the training job like the stock ``fit()``, with the S3 Access Grants rules applied.

        With TIP on, what cannot be fixed raises :class:`ConsiderationError` before any upload;
        the rest is fixed in the final request. The decision is kept as ``self.latest_decision``.
        """
        return launch(self, self.s3ag_settings, before_fit, super().fit, args, kwargs)  # type: ignore[misc]

    def plan(self, *args: Any, **kwargs: Any) -> Decision:
        """What ``fit()`` with these arguments would do: nothing is uploaded, created or named for good.

        Shows the rules' findings (a refusal too, as ``refused=True``), the Access Grants outcome
        per S3 location known before launch and the record that would be written::

            est.plan({"train": "s3://bucket/train/"})    # a table in a notebook
        """
        call = bind(super().fit, args, kwargs)  # type: ignore[misc]
        settings = self.s3ag_settings
        identity = identity_for(self, settings)
        base = self.base_job_name  # type: ignore[attr-defined]
        name = call.arguments.get("job_name") or self._get_or_create_name()  # type: ignore[attr-defined]
        self.base_job_name = base  # _get_or_create_name() fills it in; a plan names nothing for good
        preview = training_preview(self, _inputs(call), name)
        defaults = _planned_defaults(self, preview)
        return plan_preview(self, "training", settings, identity, preview, defaults)

    def _prepare_for_training(self, *args: Any, **kwargs: Any) -> Any:
        parent = super()._prepare_for_training  # type: ignore[misc]
        return prepare_for_training(self, self.s3ag_settings, lambda: parent(*args, **kwargs))

    # -- update calls that would turn a forbidden feature on ---------------------------------

    def enable_remote_debug(self) -> Any:
        """Refused with TIP on (rule ``remote-debug``); otherwise the stock behaviour."""
        refuse_update(self, self.s3ag_settings, "remote-debug", "enable_remote_debug()", "remote debugging")
        return super().enable_remote_debug()  # type: ignore[misc]

    def enable_default_profiling(self) -> Any:
        """Refused with TIP on (rule ``profiler``); otherwise the stock behaviour."""
        refuse_update(self, self.s3ag_settings, "profiler", "enable_default_profiling()", "SageMaker Profiler")
        return super().enable_default_profiling()  # type: ignore[misc]

    def update_profiler(self, *args: Any, **kwargs: Any) -> Any:
        """Refused with TIP on (rule ``profiler``); otherwise the stock behaviour."""
        refuse_update(self, self.s3ag_settings, "profiler", "update_profiler()", "SageMaker Profiler")
        return super().update_profiler(*args, **kwargs)  # type: ignore[misc]


class GrantAwareEstimator(GrantAwareTrainingMixin, Estimator):
    """``sagemaker.estimator.Estimator`` that enforces the S3 Access Grants rules and records them on the job.

    Same constructor as ``Estimator``, plus keyword-only settings:

    * ``identity_propagation``: ``True``/``False``, or ``None`` (default) to detect it;
    * ``on_violation``: ``"fix"`` (default) or ``"error"``;
    * ``on_fallback``: ``"allow"``, ``"warn"`` (default) or ``"deny"``;
    * ``pipe_mode_replacement``: ``"File"`` (default) or ``"FastFile"``;
    * ``preflight_timeout``: seconds for the Access Grants preflight (default 5).

    Example::

        est = GrantAwareEstimator(image_uri=image, role=role, instance_count=1,
                                  instance_type="ml.m5.xlarge", input_mode="Pipe")
        est.fit({"train": "s3://bucket/train/"})
        est.latest_decision
    """


register(Estimator, GrantAwareEstimator)
