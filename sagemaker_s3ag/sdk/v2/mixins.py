"""Mixins: grant-aware training on SDK v2 (``GrantAwareEstimator``, ``grant_aware(PyTorch)``, ``patch()``).

In a notebook::

    from sagemaker_s3ag import GrantAwareEstimator

    est = GrantAwareEstimator(image_uri=image, role=role, instance_count=1,
                              instance_type="ml.m5.xlarge", input_mode="Pipe")
    est.fit({"train": "s3://bucket/train/"}, wait=False)
    est.latest_decision        # Pipe -> File (warned), default Debugger/Profiler removed, tags written

``fit()`` is one :func:`~sagemaker_s3ag.sdk.common.launch`: with TIP on it names the job and refuses
what cannot be fixed, from :func:`training_preview`, before ``_prepare_for_training`` uploads
anything; the choke point then settles the CreateTrainingJob request the SDK sends.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Optional

from sagemaker.debugger import ProfilerRule
from sagemaker.estimator import Estimator
from sagemaker.fw_utils import _region_supports_debugger, _region_supports_profiler
from sagemaker.inputs import TrainingInput
from sagemaker.job import _Job
from sagemaker.s3 import s3_path_join

from sagemaker_s3ag.core.decision import Decision
from sagemaker_s3ag.core.request import Request
from sagemaker_s3ag.core.settings import Settings
from sagemaker_s3ag.sdk.common import GrantAwareMixin, bind, known_default_bucket, launch, plan_preview, refuse_update
from sagemaker_s3ag.sdk.factory import register
from sagemaker_s3ag.sdk.owners import sdk_defaults


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
    bucket = known_default_bucket(session)
    if output_path is None and bucket:
        output_path = s3_path_join("s3://", bucket, session.default_bucket_prefix, with_end_slash=True)
    if output_path:
        preview["OutputDataConfig"] = {"S3OutputPath": output_path}
    checkpoint = getattr(est, "checkpoint_s3_uri", None)
    if checkpoint:
        preview["CheckpointConfig"] = {"S3Uri": checkpoint}
    defaults = sdk_defaults(est)
    hook = getattr(est, "debugger_hook_config", None)
    if hook and "DebugHookConfig" not in defaults:
        preview["DebugHookConfig"] = {"S3OutputPath": hook.s3_output_path}
    rules = list(getattr(est, "rules", None) or ())
    debugger_rules = [r for r in rules if not isinstance(r, ProfilerRule)]
    profiler_rules = [r for r in rules if isinstance(r, ProfilerRule)]
    if debugger_rules:
        preview["DebugRuleConfigurations"] = [{"RuleConfigurationName": r.name} for r in debugger_rules]
    if profiler_rules:
        preview["ProfilerRuleConfigurations"] = [{"RuleConfigurationName": r.name} for r in profiler_rules]
    profiler = getattr(est, "profiler_config", None)
    if profiler is not None and "ProfilerConfig" not in defaults:
        preview["ProfilerConfig"] = {"DisableProfiler": bool(profiler.disable_profiler)}
    tensorboard = getattr(est, "tensorboard_output_config", None)
    if tensorboard is not None:
        preview["TensorBoardOutputConfig"] = {"S3OutputPath": tensorboard.s3_output_path}
    remote_debug = est.get_remote_debug_config()
    if remote_debug:
        preview["RemoteDebugConfig"] = remote_debug
    return preview


def _planned_defaults(est: Any, preview: Request) -> None:
    """Add to ``preview`` the Debugger hook and Profiler SDK v2 would switch on by itself."""
    region = est.sagemaker_session.boto_region_name
    defaults = sdk_defaults(est)
    if "DebugHookConfig" in defaults and _region_supports_debugger(region):
        preview["DebugHookConfig"] = {"S3OutputPath": preview.get("OutputDataConfig", {}).get("S3OutputPath")}
    if "ProfilerConfig" in defaults and not getattr(est, "disable_profiler", False) and _region_supports_profiler(region):
        preview["ProfilerConfig"] = {"DisableProfiler": False}


def _inputs(call: inspect.BoundArguments) -> Any:
    return call.arguments.get("inputs", call.arguments.get("records"))


def launch_fit(est: Any, settings: Settings, fit: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """A grant-aware ``fit()`` (or a patched stock one): checked before ``_prepare_for_training`` uploads."""
    return launch(
        est,
        settings,
        "training",
        fit,
        args,
        kwargs,
        new_name=est._get_or_create_name,
        preview=lambda call: training_preview(est, _inputs(call), call.arguments.get("job_name")),
    )


class GrantAwareTrainingMixin(GrantAwareMixin):
    """Grant-aware ``fit()`` for any ``EstimatorBase`` subclass."""

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        """Launch the training job like the stock ``fit()``, with the S3 Access Grants rules applied.

        With TIP on, what cannot be fixed raises :class:`ConsiderationError` before any upload;
        the rest is fixed in the final request. The decision is kept as ``self.latest_decision``.
        """
        return launch_fit(self, self.s3ag_settings, super().fit, args, kwargs)  # type: ignore[misc]

    def plan(self, *args: Any, **kwargs: Any) -> Decision:
        """What ``fit()`` with these arguments would do: nothing is uploaded, created or named for good.

        Shows the rules' findings (a refusal too, as ``refused=True``), the Access Grants outcome
        per S3 location known before launch and the record that would be written::

            est.plan({"train": "s3://bucket/train/"})    # a table in a notebook
        """
        call = bind(super().fit, args, kwargs)  # type: ignore[misc]
        base = self.base_job_name  # type: ignore[has-type]
        name = call.arguments.get("job_name") or self._get_or_create_name()  # type: ignore[attr-defined]
        self.base_job_name = base  # _get_or_create_name() fills it in; a plan names nothing for good
        preview = training_preview(self, _inputs(call), name)
        _planned_defaults(self, preview)
        return plan_preview(self, "training", self.s3ag_settings, preview)

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
    * ``preflight_timeout``: seconds for the Access Grants preflight (default 5);
    * ``script_locations``: ``"warn"`` (default) or ``"deny"`` for S3 URIs your code reads with the role;
    * ``background_session_duration``: seconds your user background sessions last (default 7 days).

    Example::

        est = GrantAwareEstimator(image_uri=image, role=role, instance_count=1,
                                  instance_type="ml.m5.xlarge", input_mode="Pipe")
        est.fit({"train": "s3://bucket/train/"})
        est.latest_decision
    """


register(Estimator, GrantAwareEstimator)
