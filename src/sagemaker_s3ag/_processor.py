"""Processor: grant-aware processing on SDK v2 (``GrantAwareProcessor`` and ``grant_aware(SKLearnProcessor)`` alike).

In a notebook::

    from sagemaker.processing import ProcessingInput
    from sagemaker_s3ag import GrantAwareProcessor

    proc = GrantAwareProcessor(image_uri=image, role=role, instance_count=1,
                               instance_type="ml.m5.xlarge")
    proc.run(inputs=[ProcessingInput(source="s3://bucket/raw/", destination="/opt/ml/processing/in",
                                     s3_input_mode="Pipe")], wait=False)
    proc.latest_decision       # Pipe -> File (warned), tags written
"""

from __future__ import annotations

import inspect
from typing import Any

from sagemaker.processing import Processor

from ._grant_aware import GrantAwareMixin, preview_uri, register
from ._request import Request


class GrantAwareProcessingMixin(GrantAwareMixin):
    """Grant-aware ``run()`` for any ``Processor`` subclass (ScriptProcessor, FrameworkProcessor, ...)."""

    _s3ag_job_type = "processing"

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Launch the processing job like the stock ``run()``, with the S3 Access Grants rules applied.

        With TIP on, what cannot be fixed (a ``DatasetDefinition`` input, ``on_violation="error"``)
        raises :class:`ConsiderationError` before any code or data is uploaded.
        """
        identity = self._s3ag_identity()
        call = self._s3ag_bind(super().run, args, kwargs)  # type: ignore[misc]
        if identity.enabled:
            if "job_name" in call.signature.parameters and not call.arguments.get("job_name"):
                # The name the SDK would give it, chosen now so the preflight's AuditContext names the job.
                call.arguments["job_name"] = self._generate_current_job_name()  # type: ignore[attr-defined]
            self._s3ag_check(self._s3ag_preview(call), identity)
        with self._s3ag_job(identity):
            return super().run(*call.args, **call.kwargs)  # type: ignore[misc]

    def _s3ag_preview(self, bound: inspect.BoundArguments) -> Request:
        """The parts of the CreateProcessingJob request the rules need, built before anything is uploaded."""
        preview: Request = {}
        if bound.arguments.get("job_name"):
            preview["ProcessingJobName"] = bound.arguments["job_name"]
        inputs = []
        for count, item in enumerate(bound.arguments.get("inputs") or (), 1):
            if not hasattr(item, "_to_request_dict"):
                continue  # not a ProcessingInput: the SDK raises its own TypeError
            entry = item._to_request_dict()
            entry["InputName"] = entry.get("InputName") or f"input-{count}"  # as _normalize_inputs names it
            if "S3Input" in entry:
                entry["S3Input"]["S3Uri"] = preview_uri(entry["S3Input"].get("S3Uri"))
            inputs.append(entry)
        if inputs:
            preview["ProcessingInputs"] = inputs
        outputs = []
        for count, item in enumerate(bound.arguments.get("outputs") or (), 1):
            if not hasattr(item, "_to_request_dict"):
                continue
            entry = item._to_request_dict()
            entry["OutputName"] = entry.get("OutputName") or f"output-{count}"
            if "S3Output" in entry:
                entry["S3Output"]["S3Uri"] = preview_uri(entry["S3Output"].get("S3Uri"))
            outputs.append(entry)
        if outputs:
            preview["ProcessingOutputConfig"] = {"Outputs": outputs}
        return preview


class GrantAwareProcessor(GrantAwareProcessingMixin, Processor):
    """``sagemaker.processing.Processor`` that enforces the S3 Access Grants rules and records them on the job.

    Same constructor as ``Processor``, plus the keyword-only settings of
    :class:`~sagemaker_s3ag.GrantAwareEstimator` (``pipe_mode_replacement`` is always File here).

    Example::

        proc = GrantAwareProcessor(image_uri=image, role=role, instance_count=1,
                                   instance_type="ml.m5.xlarge")
        proc.run(inputs=[ProcessingInput(source="s3://bucket/raw/",
                                         destination="/opt/ml/processing/input")])
        proc.latest_decision
    """


register(Processor, GrantAwareProcessor)
