"""Choke points: every SageMaker job request the process sends passes here, whatever built it.

1. **Direct launches.** ``botocore.client.BaseClient._make_api_call``, wrapped once with wrapt (the
   pattern of OpenTelemetry's botocore instrumentation, X-Ray and Sentry), sees every
   ``CreateTrainingJob``, ``CreateProcessingJob`` and ``CreateHyperParameterTuningJob`` any SageMaker
   client sends (clients made before the wrap included): SDK v2 and v3 classes, ``@remote``,
   sagemaker-core, raw boto3; and a training job queued with AWS Batch (``SubmitServiceJob`` of
   type ``SAGEMAKER_TRAINING``, whose payload is a CreateTrainingJob request). It settles the
   request once (rules, preflight, ``on_fallback``, ``s3ag:`` tags) and calls through; a refusal
   raises before the call. ``UpdateTrainingJob`` that would switch remote debugging or the
   Profiler on is refused with TIP on. Every other operation, of every service, passes straight
   through.
2. **Pipelines.** ``Pipeline.definition()`` (both SDK majors) settles every Training, Processing and
   Tuning step's ``Arguments`` (classic steps, ``step_args``, ``@step`` functions), each with the
   settings of the object that defined it; ``CreatePipeline`` / ``UpdatePipeline`` sent by any client
   settle the definition they carry. Everything else in a definition stays as the SDK wrote it.

Whose settings apply (:mod:`sagemaker_s3ag.sdk.context`): the launch in context (a grant-aware or
patched ``fit()`` / ``run()`` / ``train()`` / ``tune()``), else ``patch()``'s, else nobody's: then the
request goes out untouched. The wrappers stay installed once made, and are inert until something
governs a request.

A definition sent by S3 location (``PipelineDefinitionS3Location``) is read through the sending
client's credentials (at most :data:`MAX_DEFINITION_BYTES`): one this process settled passes as it
is; otherwise it is settled and sent inline instead (``PipelineDefinition``), with a warning, since
the object in S3 is the user's and is not rewritten. One that cannot be read is refused with TIP on
(it cannot be checked), and passes with a warning with TIP off.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import Any, Optional

import wrapt

from sagemaker_s3ag.core.client_session import session_of_client
from sagemaker_s3ag.core.decision import announce, decide, refused_decision
from sagemaker_s3ag.core.errors import ConsiderationError, warn
from sagemaker_s3ag.core.findings import Finding
from sagemaker_s3ag.core.pipeline import digest, settle_definition
from sagemaker_s3ag.core.preflight import Preflight
from sagemaker_s3ag.core.request import JobType, Request
from sagemaker_s3ag.core.rules import update_findings
from sagemaker_s3ag.sdk.context import Launch, governing, patch_settings
from sagemaker_s3ag.sdk.owners import building, is_grant_aware, launch_of, pipeline_steps, settings_for, step_owner

logger = logging.getLogger(__name__)

JOB_OPERATIONS: Mapping[str, JobType] = {
    "CreateTrainingJob": "training",
    "CreateProcessingJob": "processing",
    "CreateHyperParameterTuningJob": "tuning",
}
PIPELINE_OPERATIONS = frozenset({"CreatePipeline", "UpdatePipeline"})
UPDATE_OPERATIONS = frozenset({"UpdateTrainingJob"})
QUEUE_OPERATION = "SubmitServiceJob"  # AWS Batch
WATCHED = frozenset(JOB_OPERATIONS) | PIPELINE_OPERATIONS | UPDATE_OPERATIONS | {QUEUE_OPERATION}
MAX_DEFINITION_BYTES = 1_048_576  # the API's limit for PipelineDefinition


# --------------------------------------------------------------------------- one job request


def settle(launch: Launch, request: Request, job_type: JobType, client: Any = None, *, step: Optional[str] = None) -> Request:
    """The request to send for one job: rules, preflight, ``on_fallback`` and tags, announced and recorded.

    ``client`` is the SageMaker client sending it (its credentials ask when the launch has no
    session). A refusal is recorded on the owner too, then raised.
    """
    identity = launch.identity(client)
    preflight = launch.preflight(client) if identity.enabled else None
    try:
        fixed, decision = decide(
            request,
            job_type,
            settings=launch.settings,
            identity_propagation=identity,
            sdk_defaults=launch.sdk_defaults,
            preflight=preflight,
            pipeline=launch.pipeline,
            step=step,
            background=launch.background(client) if job_type != "tuning" else None,
        )
    except ConsiderationError as err:
        launch.record(refused_decision(request, job_type, identity, err, step=step))
        raise
    announce(decision)
    launch.record(decision)
    launch.sent = fixed
    return fixed


def check_update(launch: Launch, request: Request, client: Any) -> None:
    """Refuse an ``UpdateTrainingJob`` that would switch remote debugging or the Profiler on with TIP on."""
    identity = launch.identity(client)
    if not identity.enabled:
        return
    refusals = update_findings(request, identity.source)
    if refusals:
        raise ConsiderationError(
            "UpdateTrainingJob refused: " + "; ".join(f.message for f in refusals) + ". Nothing was updated.",
            rule=refusals[0].rule,
            findings=refusals,
        )


# --------------------------------------------------------------------------- choke point 1: botocore


def _api_call(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``BaseClient._make_api_call(operation_name, api_params)``: settle what governs a job request."""
    operation = args[0] if args else kwargs.get("operation_name")
    if operation not in WATCHED:
        return wrapped(*args, **kwargs)
    launch = governing()
    params = args[1] if len(args) > 1 else kwargs.get("api_params")
    if launch is None or not isinstance(params, Mapping):
        return wrapped(*args, **kwargs)  # nothing governs it, or botocore refuses it itself
    service = instance.meta.service_model.service_name
    if operation == QUEUE_OPERATION:
        if service != "batch":
            return wrapped(*args, **kwargs)
        return wrapped(operation, settle_queued_job(launch, params, instance))
    if service != "sagemaker":
        return wrapped(*args, **kwargs)
    if operation in JOB_OPERATIONS:
        params = settle(launch, dict(params), JOB_OPERATIONS[operation], instance)
    elif operation in UPDATE_OPERATIONS:
        check_update(launch, dict(params), instance)
    else:
        params = settle_pipeline_request(launch, params, instance)
    return wrapped(operation, params)


def settle_queued_job(launch: Launch, params: Mapping[str, Any], client: Any) -> dict[str, Any]:
    """An AWS Batch ``SubmitServiceJob`` with its SageMaker training payload settled.

    The payload is a CreateTrainingJob request as JSON; AWS Batch passes it to SageMaker unread,
    so the ``s3ag:`` record goes into its ``Tags`` like any other training job's. A payload that is
    not a JSON object is sent as it is: SageMaker refuses it.
    """
    params = dict(params)
    payload = params.get("serviceRequestPayload")
    if params.get("serviceJobType") != "SAGEMAKER_TRAINING" or not isinstance(payload, str):
        return params
    try:
        request = json.loads(payload)
    except ValueError:
        return params
    if isinstance(request, dict):
        params["serviceRequestPayload"] = json.dumps(settle(launch, request, "training", client))
    return params


# --------------------------------------------------------------------------- choke point 2: pipelines

_settled_lock = threading.Lock()
_settled: OrderedDict[str, None] = OrderedDict()  # digests of definitions settled here, newest last
_SETTLED_KEPT = 256


def remember_settled(text: str) -> None:
    """Note a definition this process settled, so it passes ``CreatePipeline`` as it is."""
    with _settled_lock:
        _settled[digest(text)] = None
        _settled.move_to_end(digest(text))
        while len(_settled) > _SETTLED_KEPT:
            _settled.popitem(last=False)


def was_settled(text: str) -> bool:
    with _settled_lock:
        return digest(text) in _settled


def settle_steps(text: str, launch_for: Callable[[str], Optional[Launch]], client: Any) -> str:
    """``text`` (a definition) with each governed job step settled as a pipeline job.

    ``launch_for(step name)`` gives the step's launch, or ``None`` to leave the step as it is.
    """

    def settle_step(name: str, job_type: JobType, arguments: Request) -> Request:
        launch = launch_for(name)
        if launch is None:
            return arguments
        return settle(launch, arguments, job_type, client, step=name)

    return settle_definition(text, settle_step)


_compiling: ContextVar[Optional[dict[str, Launch]]] = ContextVar("sagemaker_s3ag_compiling", default=None)


def definition(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``Pipeline.definition()``: the definition the SDK built, with every governed job step settled.

    A step is governed by the object that defined it (grant-aware, or stock under the ``patch()``
    it was defined in, or under the current one); a ``@step`` function or a step whose object
    cannot be found, by the current ``patch()``. The objects behind the steps the SDK compiles
    (those it reaches through ``depends_on`` and step properties too) are noted by :func:`build_step`.
    The steps of one definition share one preflight budget per session.
    """
    launches = _step_launches(pipeline_steps(instance).values())
    compiled: dict[str, Launch] = {}
    token = _compiling.set(compiled)
    try:
        with building(launch.owner for launch in launches.values()):
            text = wrapped(*args, **kwargs)
    finally:
        _compiling.reset(token)
    launches.update(compiled)
    if not isinstance(text, str) or (not launches and patch_settings() is None):
        return text
    session = getattr(instance, "sagemaker_session", None)
    pipeline_boto = getattr(session, "boto_session", None)
    pipeline_client = getattr(session, "sagemaker_client", None)
    budgets: dict[int, Preflight] = {}

    def launch_for(name: str) -> Optional[Launch]:
        launch = launches.get(name)
        if launch is None:
            settings = patch_settings()
            if settings is None:
                return None
            launch = Launch(settings, boto_session=pipeline_boto, sagemaker_client=pipeline_client, pipeline=True)
        boto_session = launch.boto_session
        if boto_session is not None:
            if id(boto_session) not in budgets:
                budgets[id(boto_session)] = Preflight(boto_session, launch.settings.preflight_timeout)
            launch.share(budgets[id(boto_session)])
        return launch

    settled = settle_steps(text, launch_for, pipeline_client)
    remember_settled(settled)
    return settled


def build_step(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``StepsCompiler._build_step(step)``: note the object behind each step the SDK compiles for a definition.

    Its launch is made before the step's request is built (what the SDK fills in then is a default),
    and the SDK gets a copy of the object's tag list while it builds.
    """
    compiled = _compiling.get()
    step = args[0] if args else kwargs.get("step")
    name = getattr(step, "name", None)
    launch = _step_launches([step]).get(name) if compiled is not None and isinstance(name, str) else None
    if compiled is None or launch is None or not isinstance(name, str):
        return wrapped(*args, **kwargs)
    with building([launch.owner]):
        result = wrapped(*args, **kwargs)
    compiled[name] = launch
    return result


def _step_launches(steps: Iterable[Any]) -> dict[str, Launch]:
    """A launch for each step defined by a governed object, by step name."""
    launches = {}
    for step in steps:
        owner, defined_under = step_owner(step)
        name = getattr(step, "name", None)
        if owner is None or not isinstance(name, str):
            continue
        settings = settings_for(owner) if is_grant_aware(owner) else defined_under or settings_for(owner)
        if settings is not None:
            launches[name] = launch_of(owner, settings, pipeline=True)
    return launches


def settle_pipeline_request(launch: Launch, params: Mapping[str, Any], client: Any) -> dict[str, Any]:
    """A ``CreatePipeline`` / ``UpdatePipeline`` request with the definition it carries settled."""
    params = dict(params)
    shared = Preflight(launch.boto_session or session_of_client(client), launch.settings.preflight_timeout)

    def launch_for(_name: str) -> Launch:
        step_launch = Launch(launch.settings, boto_session=launch.boto_session, pipeline=True)
        step_launch.share(shared)
        return step_launch

    text = params.get("PipelineDefinition")
    if isinstance(text, str):
        if not was_settled(text):
            params["PipelineDefinition"] = settle_steps(text, launch_for, client)
        return params
    location = params.get("PipelineDefinitionS3Location")
    if isinstance(location, Mapping):
        return _settle_s3_definition(launch, params, location, launch_for, client)
    return params


def _settle_s3_definition(
    launch: Launch, params: dict[str, Any], location: Mapping[str, Any], launch_for: Callable[[str], Launch], client: Any
) -> dict[str, Any]:
    where = f"s3://{location.get('Bucket')}/{location.get('ObjectKey')}"
    text, problem = _read_definition(client, location)
    if text is not None and was_settled(text):
        return params
    if text is not None:
        settled = settle_steps(text, launch_for, client)
        if settled == text:
            return params
        if len(settled.encode("utf-8")) <= MAX_DEFINITION_BYTES:
            warn(
                f"[s3ag:pipeline-definition] the pipeline definition at {where} was settled and is sent inline "
                "(PipelineDefinition) instead; the object in S3 is left as it was"
            )
            del params["PipelineDefinitionS3Location"]
            params["PipelineDefinition"] = settled
            return params
        problem = f"settled, it is larger than the {MAX_DEFINITION_BYTES} bytes CreatePipeline takes inline"
    message = f"the pipeline definition at {where} cannot be checked: {problem}"
    if launch.identity(client).enabled:
        finding = Finding("pipeline-definition", "refused", "PipelineDefinitionS3Location", message)
        raise ConsiderationError(
            f"{message}. Nothing was created. Build the definition with Pipeline.definition() in this "
            "process, or pass it inline (PipelineDefinition).",
            rule="pipeline-definition",
            findings=[finding],
        )
    warn(f"[s3ag:pipeline-definition] {message}; its jobs carry no s3ag: record")
    return params


def _read_definition(client: Any, location: Mapping[str, Any]) -> tuple[Optional[str], str]:
    """The definition text at ``location``, read with the sending client's credentials, or why not."""
    extra = {"VersionId": location["VersionId"]} if location.get("VersionId") else {}
    try:
        s3 = session_of_client(client).client("s3")
        response = s3.get_object(
            Bucket=location.get("Bucket"), Key=location.get("ObjectKey"), Range=f"bytes=0-{MAX_DEFINITION_BYTES}", **extra
        )
        body = response["Body"].read(MAX_DEFINITION_BYTES + 1)
    except Exception as err:  # any failure is an unreadable definition, said in one line
        code = getattr(err, "response", {}).get("Error", {}).get("Code") if hasattr(err, "response") else None
        return None, f"it could not be read ({code or type(err).__name__})"
    if len(body) > MAX_DEFINITION_BYTES:
        return None, f"it is larger than {MAX_DEFINITION_BYTES} bytes"
    try:
        return body.decode("utf-8"), ""
    except UnicodeDecodeError:
        return None, "it is not UTF-8 text"


# --------------------------------------------------------------------------- installing

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Wrap ``BaseClient._make_api_call`` once per process (thread-safe, idempotent).

    The wrapper is inert while nothing governs: ``unpatch()`` leaves it in place.
    """
    global _installed
    if _installed:
        return
    with _lock:
        if not _installed:
            wrapt.wrap_function_wrapper("botocore.client", "BaseClient._make_api_call", _api_call)
            _installed = True
