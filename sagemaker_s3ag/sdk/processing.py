"""Processor: grant-aware processing on SDK v2 and v3 (``GrantAwareProcessor``, ``grant_aware(...)``, ``patch()``).

``GrantAwareProcessor`` subclasses the installed SDK's ``Processor`` (``sagemaker.processing`` in v2,
``sagemaker.core.processing`` in v3); both have the same ``run()`` → ``_normalize_args()`` flow. In a
notebook, on SDK v2::

    from sagemaker.processing import ProcessingInput
    from sagemaker_s3ag import GrantAwareProcessor

    proc = GrantAwareProcessor(image_uri=image, role=role, instance_count=1,
                               instance_type="ml.m5.xlarge")
    proc.run(inputs=[ProcessingInput(source="s3://bucket/raw/", destination="/opt/ml/processing/in",
                                     s3_input_mode="Pipe")], wait=False)
    proc.latest_decision       # Pipe -> File (warned), tags written

on SDK v3::

    from sagemaker.core.shapes import ProcessingInput, ProcessingS3Input

    proc.run(inputs=[ProcessingInput(input_name="raw", s3_input=ProcessingS3Input(
        s3_uri="s3://bucket/raw/", local_path="/opt/ml/processing/in", s3_data_type="S3Prefix",
        s3_input_mode="Pipe"))], wait=False, logs=False)

Two steps, each run once per job whichever way the job is launched:

* :func:`before_run` (from ``run``): with TIP on, names the job and refuses what cannot be fixed,
  before anything is uploaded (``FrameworkProcessor`` uploads its code before ``_normalize_args``).
  SDK v3 would drop a ``DatasetDefinition`` input silently: it is refused here, from the input objects;
* :func:`normalize_args` (around ``_normalize_args``, which every path calls, SageMaker Pipelines
  steps included): refuses again from the inputs it is given, lends the SDK a copy of the tags and
  announces the job to the request hook.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional

from sagemaker_s3ag.core.decision import Decision
from sagemaker_s3ag.core.errors import warn
from sagemaker_s3ag.sdk.common import (
    GrantAwareMixin,
    before_launch,
    bind,
    check_preview,
    identity_for,
    launch,
    plan_preview,
    prepare_job,
    preview_uri,
    register,
)
from sagemaker_s3ag.core.request import Request
from sagemaker_s3ag.sdk.installed import V3, api_shape, major, sdk_class
from sagemaker_s3ag.core.settings import Settings

Processor: Any = sdk_class("Processor")  # v2 sagemaker.processing or v3 sagemaker.core.processing


def _entries(items: Optional[Iterable[Any]], name_key: str, prefix: str, location_key: str) -> list[dict[str, Any]]:
    entries = []
    for count, item in enumerate(items or (), 1):
        if hasattr(item, "_to_request_dict"):  # SDK v2
            entry = item._to_request_dict()
        elif hasattr(item, "model_dump"):  # SDK v3 shapes (DatasetDefinition included: v3 drops it later)
            entry = api_shape(item)
        else:
            continue  # not a ProcessingInput/Output: the SDK raises its own TypeError
        entry[name_key] = entry.get(name_key) or f"{prefix}-{count}"  # as _normalize_args names it
        if location_key in entry:
            entry[location_key]["S3Uri"] = preview_uri(entry[location_key].get("S3Uri"))
        entries.append(entry)
    return entries


def processing_preview(inputs: Any = None, outputs: Any = None, job_name: Optional[str] = None) -> Request:
    """The parts of the CreateProcessingJob request the rules need, built before anything is uploaded."""
    preview: Request = {}
    if job_name:
        preview["ProcessingJobName"] = job_name
    entries = _entries(inputs, "InputName", "input", "S3Input")
    if entries:
        preview["ProcessingInputs"] = entries
    entries = _entries(outputs, "OutputName", "output", "S3Output")
    if entries:
        preview["ProcessingOutputConfig"] = {"Outputs": entries}
    return preview


def _preview(call: inspect.BoundArguments) -> Request:
    return processing_preview(call.arguments.get("inputs"), call.arguments.get("outputs"), call.arguments.get("job_name"))


def before_run(proc: Any, settings: Settings, run: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> inspect.BoundArguments:
    """Step one of a grant-aware ``run()`` (see :func:`before_launch`); ``FrameworkProcessor`` uploads after it."""
    return before_launch(
        proc, "processing", settings, run, args, kwargs, new_name=proc._generate_current_job_name, preview=_preview
    )


def normalize_args(proc: Any, settings: Settings, normalize: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], call: Callable[[], Any]) -> Any:
    """Step two: around the SDK's ``_normalize_args``, announce the job to the request hook."""
    identity = identity_for(proc, settings)
    known = bind(normalize, args, kwargs).arguments
    preview = processing_preview(known.get("inputs"), known.get("outputs"))
    check_preview(proc, "processing", settings, identity, preview)
    if major() >= V3:
        _warn_dropped_dataset_definitions(preview)
    return prepare_job(proc, "processing", settings, identity, frozenset(), call)


def _warn_dropped_dataset_definitions(preview: Request) -> None:
    """SDK v3 leaves ``DatasetDefinition`` inputs out of the request without a word; with TIP off, say so.

    (With TIP on they are refused before this.)
    """
    for entry in preview.get("ProcessingInputs", ()):
        if "DatasetDefinition" in entry:
            warn(
                f"[s3ag:dataset-definition] ProcessingInputs[{entry.get('InputName')}].DatasetDefinition: SageMaker "
                "Python SDK v3 leaves DatasetDefinition inputs out of the CreateProcessingJob request, so the job "
                "runs without this input"
            )


class GrantAwareProcessingMixin(GrantAwareMixin):
    """Grant-aware ``run()`` for any ``Processor`` subclass (ScriptProcessor, FrameworkProcessor, ...)."""

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Launch the processing job like the stock ``run()``, with the S3 Access Grants rules applied.

        With TIP on, what cannot be fixed (a ``DatasetDefinition`` input, ``on_violation="error"``)
        raises :class:`ConsiderationError` before any code or data is uploaded.
        """
        return launch(self, self.s3ag_settings, before_run, super().run, args, kwargs)  # type: ignore[misc]

    def plan(self, *args: Any, **kwargs: Any) -> Decision:
        """What ``run()`` with these arguments would do: nothing is uploaded or created.

        Shows the rules' findings (a refusal too, as ``refused=True``), the Access Grants outcome
        per S3 location known before launch and the record that would be written::

            proc.plan(inputs=[ProcessingInput(source="s3://bucket/raw/", destination="/opt/ml/processing/in")])
        """
        call = bind(super().run, args, kwargs)  # type: ignore[misc]
        call.arguments["job_name"] = call.arguments.get("job_name") or self._generate_current_job_name()  # type: ignore[attr-defined]
        return plan_preview(self, "processing", self.s3ag_settings, identity_for(self, self.s3ag_settings), _preview(call))

    def _normalize_args(self, *args: Any, **kwargs: Any) -> Any:
        parent = super()._normalize_args  # type: ignore[misc]
        return normalize_args(self, self.s3ag_settings, parent, args, kwargs, lambda: parent(*args, **kwargs))


class GrantAwareProcessor(GrantAwareProcessingMixin, Processor):
    """The SDK's ``Processor`` (v2 or v3), enforcing the S3 Access Grants rules and recording them on the job.

    Same constructor as ``Processor``, plus the keyword-only settings of
    :class:`~sagemaker_s3ag.GrantAwareEstimator` / ``GrantAwareModelTrainer``
    (``pipe_mode_replacement`` is always File here).

    Example (SDK v2; see the module for v3's input objects)::

        proc = GrantAwareProcessor(image_uri=image, role=role, instance_count=1,
                                   instance_type="ml.m5.xlarge")
        proc.run(inputs=[ProcessingInput(source="s3://bucket/raw/",
                                         destination="/opt/ml/processing/input")])
        proc.latest_decision
    """


register(Processor, GrantAwareProcessor)
