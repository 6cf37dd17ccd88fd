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

``run()`` is one :func:`~sagemaker_s3ag.sdk.common.launch`: with TIP on it names the job and refuses
what cannot be fixed, from :func:`processing_preview`, before anything is uploaded
(``FrameworkProcessor`` uploads its code inside ``run()``); the choke point then settles the
CreateProcessingJob request the SDK sends. SDK v3 drops a ``DatasetDefinition`` input before any
request exists, so it is refused here, from the input objects (with TIP off, a warning says so).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional

from sagemaker_s3ag.core.decision import Decision
from sagemaker_s3ag.core.errors import warn
from sagemaker_s3ag.core.request import Request, is_remote
from sagemaker_s3ag.core.settings import Settings
from sagemaker_s3ag.sdk.common import GrantAwareMixin, bind, known_default_bucket, launch, plan_preview, preview_uri
from sagemaker_s3ag.sdk.factory import register
from sagemaker_s3ag.sdk.installed import V3, api_shape, major, sdk_class

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


def _preview_with_uploads(proc: Any) -> Callable[[inspect.BoundArguments], Request]:
    """The preview, with where the SDK will upload local code and write outputs that name no destination.

    Once the job is named (TIP on, not a pipeline) and the default bucket is known without creating it,
    both are under ``s3://BUCKET/PREFIX/JOB/``: the code below it (``input/code/`` or ``source/``) is
    read, the outputs (``output/NAME``) are written. So ``on_fallback="deny"`` refuses them before the
    upload, not after.
    """

    def preview(call: inspect.BoundArguments) -> Request:
        request = _preview(call)
        job = call.arguments.get("job_name")
        bucket = known_default_bucket(getattr(proc, "sagemaker_session", None))
        if not (isinstance(job, str) and bucket):
            return request
        base = "/".join(part.strip("/") for part in (bucket, proc.sagemaker_session.default_bucket_prefix or "", job) if part)
        code = [call.arguments.get(name) for name in ("code", "submit_app")]  # Spark processors take submit_app
        if any(isinstance(item, str) and not is_remote(item) for item in code):
            entry = {"InputName": "code", "S3Input": {"S3Uri": f"s3://{base}/", "S3DataType": "S3Prefix"}}
            request["ProcessingInputs"] = [*request.get("ProcessingInputs", ()), entry]
        for output in request.get("ProcessingOutputConfig", {}).get("Outputs", ()):
            target = output.get("S3Output")
            if isinstance(target, dict) and target.get("S3Uri") is None:
                target["S3Uri"] = f"s3://{base}/output/{output['OutputName']}"
        return request

    return preview


def launch_run(proc: Any, settings: Settings, run: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """A grant-aware ``run()`` (or a patched stock one): checked before anything is uploaded."""
    v3 = major() >= V3
    return launch(
        proc,
        settings,
        "processing",
        run,
        args,
        kwargs,
        new_name=proc._generate_current_job_name,
        preview=_preview_with_uploads(proc),
        tip_off=(lambda call: _warn_dropped_dataset_definitions(_preview(call))) if v3 else None,
        after=(lambda done: _align_latest_job(proc, done.sent)) if v3 else None,
    )


def _align_latest_job(proc: Any, sent: Optional[Request]) -> None:
    """SDK v3 builds ``latest_job`` from the request it handed over: make it show the request that was sent."""
    job = getattr(proc, "latest_job", None)
    if sent is None or job is None or getattr(job, "processing_job_name", None) != sent.get("ProcessingJobName"):
        return
    from sagemaker.core.utils.code_injection.codec import transform  # SDK v3 only (so is this call)

    fields = {k: v for k, v in transform(sent, "CreateProcessingJobRequest").items() if k != "tags"}
    sent_job = type(job)(**fields)
    for name in fields:
        setattr(job, name, getattr(sent_job, name))


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
        return launch_run(self, self.s3ag_settings, super().run, args, kwargs)  # type: ignore[misc]

    def plan(self, *args: Any, **kwargs: Any) -> Decision:
        """What ``run()`` with these arguments would do: nothing is uploaded or created.

        Shows the rules' findings (a refusal too, as ``refused=True``), the Access Grants outcome
        per S3 location known before launch and the record that would be written::

            proc.plan(inputs=[ProcessingInput(source="s3://bucket/raw/", destination="/opt/ml/processing/in")])
        """
        call = bind(super().run, args, kwargs)  # type: ignore[misc]
        call.arguments["job_name"] = call.arguments.get("job_name") or self._generate_current_job_name()  # type: ignore[attr-defined]
        return plan_preview(self, "processing", self.s3ag_settings, _preview(call))


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
