"""Estimator: grant-aware training on SDK v2 (``GrantAwareEstimator`` and ``grant_aware(PyTorch)`` alike).

In a notebook::

    from sagemaker_s3ag import GrantAwareEstimator

    est = GrantAwareEstimator(image_uri=image, role=role, instance_count=1,
                              instance_type="ml.m5.xlarge", input_mode="Pipe")
    est.fit({"train": "s3://bucket/train/"}, wait=False)
    est.latest_decision        # Pipe -> File (warned), default Debugger/Profiler removed, tags written
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

from sagemaker.debugger import ProfilerRule
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.job import _Job
from sagemaker.s3 import s3_path_join

from ._grant_aware import GrantAwareMixin, register
from ._request import Request


class GrantAwareTrainingMixin(GrantAwareMixin):
    """Grant-aware ``fit()`` for any ``EstimatorBase`` subclass."""

    _s3ag_job_type = "training"
    # Objects the SDK created on its own in an earlier fit(), by attribute name.
    _s3ag_sdk_made: dict[str, Any]

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        """Launch the training job like the stock ``fit()``, with the S3 Access Grants rules applied.

        With TIP on, what cannot be fixed raises :class:`ConsiderationError` before any upload;
        the rest is fixed in the final request. The decision is kept as ``self.latest_decision``.
        """
        identity = self._s3ag_identity()
        call = self._s3ag_bind(super().fit, args, kwargs)  # type: ignore[misc]
        made = self.__dict__.setdefault("_s3ag_sdk_made", {})
        defaults = {
            field
            for attr, field in (("debugger_hook_config", "DebugHookConfig"), ("profiler_config", "ProfilerConfig"))
            if self._s3ag_is_sdk_default(attr)
        }
        if identity.enabled:
            if "job_name" in call.signature.parameters and not call.arguments.get("job_name"):
                # The name the SDK would give it, chosen now so the preflight's AuditContext names the job.
                call.arguments["job_name"] = self._get_or_create_name()  # type: ignore[attr-defined]
            self._s3ag_check(self._s3ag_preview(call), identity)
        watched = {attr: getattr(self, attr, None) for attr in ("debugger_hook_config", "profiler_config")}
        try:
            with self._s3ag_job(identity, frozenset(defaults)):
                return super().fit(*call.args, **call.kwargs)  # type: ignore[misc]
        finally:
            for attr, before in watched.items():
                after = getattr(self, attr, None)
                if after is not before and (before is None or before is made.get(attr)):
                    made[attr] = after  # the SDK filled it in: still a default next time

    def _s3ag_is_sdk_default(self, attr: str) -> bool:
        value = getattr(self, attr, None)
        return value is None or value is self.__dict__.get("_s3ag_sdk_made", {}).get(attr)

    def _s3ag_preview(self, call: inspect.BoundArguments) -> Request:
        """The parts of the CreateTrainingJob request the rules need, built before anything is uploaded."""
        inputs = call.arguments.get("inputs", call.arguments.get("records"))
        mode = self.input_mode  # type: ignore[attr-defined]
        if isinstance(inputs, TrainingInput) and "InputMode" in inputs.config:
            mode = inputs.config["InputMode"]
        preview: Request = {"AlgorithmSpecification": {"TrainingInputMode": mode}}
        if call.arguments.get("job_name"):
            preview["TrainingJobName"] = call.arguments["job_name"]
        channels = _Job._format_inputs_to_input_config(inputs, validate_uri=False)
        if channels:
            preview["InputDataConfig"] = channels
        output_path = getattr(self, "output_path", None)
        session = self.sagemaker_session  # type: ignore[attr-defined]
        # Where _prepare_for_training will put it, if the default bucket is known without creating
        # it (default_bucket() may call CreateBucket); otherwise the final request is checked.
        bucket = getattr(session, "_default_bucket", None)
        if output_path is None and bucket and not getattr(session, "local_mode", False):
            output_path = s3_path_join("s3://", bucket, session.default_bucket_prefix, with_end_slash=True)
        if output_path:
            preview["OutputDataConfig"] = {"S3OutputPath": output_path}
        checkpoint = getattr(self, "checkpoint_s3_uri", None)
        if checkpoint:
            preview["CheckpointConfig"] = {"S3Uri": checkpoint}
        hook = getattr(self, "debugger_hook_config", None)
        if hook and not self._s3ag_is_sdk_default("debugger_hook_config"):
            preview["DebugHookConfig"] = {"S3OutputPath": hook.s3_output_path}
        rules = list(getattr(self, "rules", None) or ())
        debugger_rules = [r for r in rules if not isinstance(r, ProfilerRule)]
        profiler_rules = [r for r in rules if isinstance(r, ProfilerRule)]
        if debugger_rules:
            preview["DebugRuleConfigurations"] = [{"RuleConfigurationName": r.name} for r in debugger_rules]
        if profiler_rules:
            preview["ProfilerRuleConfigurations"] = [{"RuleConfigurationName": r.name} for r in profiler_rules]
        profiler: Optional[Any] = getattr(self, "profiler_config", None)
        if profiler is not None and not self._s3ag_is_sdk_default("profiler_config"):
            preview["ProfilerConfig"] = {"DisableProfiler": bool(profiler.disable_profiler)}
        tensorboard = getattr(self, "tensorboard_output_config", None)
        if tensorboard is not None:
            preview["TensorBoardOutputConfig"] = {"S3OutputPath": tensorboard.s3_output_path}
        remote_debug = self.get_remote_debug_config()  # type: ignore[attr-defined]
        if remote_debug:
            preview["RemoteDebugConfig"] = remote_debug
        return preview

    # -- update calls that would turn a forbidden feature on ---------------------------------

    def enable_remote_debug(self) -> Any:
        """Refused with TIP on (rule ``remote-debug``); otherwise the stock behaviour."""
        self._s3ag_refuse_update("remote-debug", "enable_remote_debug()", "remote debugging")
        return super().enable_remote_debug()  # type: ignore[misc]

    def enable_default_profiling(self) -> Any:
        """Refused with TIP on (rule ``profiler``); otherwise the stock behaviour."""
        self._s3ag_refuse_update("profiler", "enable_default_profiling()", "SageMaker Profiler")
        return super().enable_default_profiling()  # type: ignore[misc]

    def update_profiler(self, *args: Any, **kwargs: Any) -> Any:
        """Refused with TIP on (rule ``profiler``); otherwise the stock behaviour."""
        self._s3ag_refuse_update("profiler", "update_profiler()", "SageMaker Profiler")
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
