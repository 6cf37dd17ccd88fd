"""Interception: where the SageMaker SDK hands its finished request to sagemaker-s3ag.

A grant-aware job announces itself once the SDK has named it: :func:`expect` files a
:class:`JobContext` under the job's name, and a request hook takes it back when a request with that
name is built, then :func:`settle` decides it. Requests no grant-aware job announced pass through
untouched. The hooks are installed once, with wrapt, the first time a grant-aware object is made or
``patch()`` runs; ``unpatch()`` never removes them (they are inert).

SDK v2: ``Session._get_train_request``, ``_get_process_request`` and ``_get_tuning_request`` build
the final CreateTrainingJob / CreateProcessingJob / CreateHyperParameterTuningJob request (tags and
``sagemaker_config`` merged) on every path: a direct ``fit()``/``run()``, SageMaker Pipelines
``step_args`` (run when the pipeline definition is built), the older ``TrainingStep(estimator=…)`` /
``ProcessingStep(processor=…)`` forms and ``HyperparameterTuner``. Jobs announce themselves after
``_prepare_for_training``, ``_normalize_args`` or ``_prepare_for_tuning``.

SDK v3: processing requests pass ``Session._intercept_create_request`` (direct and Pipelines);
``ModelTrainer`` sends CreateTrainingJob through ``TrainingJob.create``, settled in botocore's
``provide-client-params`` event. A Pipelines training request has no name; it is settled where
``ModelTrainer._create_training_job_args`` returns it (:mod:`sagemaker_s3ag.sdk.v3.mixins`).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Optional

from sagemaker_s3ag.core.decision import Decision, announce, decide, refused_decision
from sagemaker_s3ag.core.errors import ConsiderationError
from sagemaker_s3ag.core.identity import IdentityPropagation
from sagemaker_s3ag.core.preflight import preflight_for
from sagemaker_s3ag.core.request import JobType, Request, job_name
from sagemaker_s3ag.core.settings import Settings

STALE_SECONDS = 3600.0  # a job announced but never built (its upload failed, say) is forgotten


@dataclass(frozen=True)
class JobContext:
    """A grant-aware job the SDK is building: what the request hook needs to decide for it.

    Attributes:
        job_type: ``"training"``, ``"processing"`` or ``"tuning"``.
        settings: the owner's settings.
        identity_propagation: TIP status, decided before anything was uploaded.
        sdk_defaults: request fields the SDK filled in on its own.
        record: called with the decision, or with ``None`` when none was made (the owner keeps it
            as ``latest_decision`` and gives back what it lent the SDK).
        patched: announced by ``patch()`` for a stock object (``unpatch()`` withdraws it).
    """

    job_type: JobType
    settings: Settings
    identity_propagation: IdentityPropagation
    sdk_defaults: frozenset[str]
    record: Callable[[Optional[Decision]], None]
    patched: bool = False


_lock = threading.Lock()
_expected: dict[str, tuple[float, JobContext]] = {}
_installed = False


def expect(name: Optional[str], ctx: JobContext) -> None:
    """File ``ctx`` for the job called ``name``; its request is fixed when the SDK builds it."""
    if not name:
        return
    install()
    now = time.monotonic()
    with _lock:
        replaced = [k for k, (at, _) in _expected.items() if now - at > STALE_SECONDS or k == name]
        dropped = [_expected.pop(k)[1] for k in replaced]
        _expected[name] = (now, ctx)
    collecting = _announced.get()
    if collecting is not None:
        collecting.append(name)
    for old in dropped:  # a job named again (tuner estimators share the tuning job's name) or never built
        old.record(None)


_announced: contextvars.ContextVar[Optional[list[str]]] = contextvars.ContextVar("s3ag_announced", default=None)


@contextlib.contextmanager
def announcements() -> Iterator[list[str]]:
    """Collect the jobs announced in the block; those whose request was not built by its end are withdrawn."""
    names: list[str] = []
    token = _announced.set(names)
    try:
        yield names
    finally:
        _announced.reset(token)
        for name in names:
            abandon(name)  # nothing happens for a job already settled


def _take(name: Optional[str]) -> Optional[JobContext]:
    with _lock:
        found = _expected.pop(name, None) if name else None
    return found[1] if found else None


def abandon(name: Optional[str]) -> None:
    """Withdraw the announcement of a job whose request will not be built (its fit() failed, a tuner)."""
    ctx = _take(name)
    if ctx is not None:
        ctx.record(None)


def withdraw_patched() -> None:
    """Withdraw every announcement ``patch()`` made (``unpatch()``: stock requests stay stock)."""
    with _lock:
        names = [name for name, (_at, ctx) in _expected.items() if ctx.patched]
    for name in names:
        abandon(name)


_building_step: contextvars.ContextVar[bool] = contextvars.ContextVar("s3ag_building_step", default=False)


def launched_by_pipeline(session: Any) -> bool:
    """Whether a job is a SageMaker Pipelines step: built under a ``PipelineSession`` or by a step itself."""
    from sagemaker_s3ag.sdk.installed import sdk_class

    return isinstance(session, sdk_class("PipelineSession")) or _building_step.get()


def settle(ctx: JobContext, request: Request, job_type: JobType, boto_session: Any, pipeline: bool) -> Request:
    """The request to send for an announced job: :func:`decide`, warnings, and the decision recorded.

    A refusal is recorded too (as a ``refused`` decision) before it is raised.
    """
    decision = None
    try:
        fixed, decision = decide(
            request,
            job_type,
            settings=ctx.settings,
            identity_propagation=ctx.identity_propagation,
            sdk_defaults=ctx.sdk_defaults,
            preflight=preflight_for(boto_session, job_type, ctx.settings.preflight_timeout) if boto_session else None,
            pipeline=pipeline,
        )
        announce(decision)
    except ConsiderationError as err:
        decision = refused_decision(request, job_type, ctx.identity_propagation, err)
        raise
    finally:
        ctx.record(decision)
    return fixed


def _request_hook(job_type: JobType) -> Callable[..., Any]:
    """SDK v2: after ``Session._get_*_request`` built the request, settle it if its job was announced."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        request = wrapped(*args, **kwargs)
        ctx = _take(job_name(request, job_type))
        if ctx is None:
            return request
        return settle(ctx, request, job_type, instance.boto_session, launched_by_pipeline(instance))

    return wrapper


def _tuning_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """After ``HyperparameterTuner._prepare_for_tuning``: a tuner of grant-aware estimators announces itself."""
    result = wrapped(*args, **kwargs)
    from sagemaker_s3ag.sdk.common import tuner_members, tuning_context

    for _name, estimator in tuner_members(instance):  # their own training requests are never built
        abandon(getattr(estimator, "_current_job_name", None))
    ctx = tuning_context(instance)
    if ctx is not None:
        expect(getattr(instance, "_current_job_name", None), ctx)
    return result


def _tuner_fit_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """Before ``HyperparameterTuner.fit`` uploads anything: refuse what the estimators' channels break."""
    from sagemaker_s3ag.sdk.v2.mixins import training_preview
    from sagemaker_s3ag.sdk.common import check_tuner_inputs

    check_tuner_inputs(instance, training_preview, wrapped, args, kwargs)
    return wrapped(*args, **kwargs)


def _step_hook(step_property: Any) -> property:
    """A step's ``arguments`` property, building its request as a pipeline step."""

    def arguments(step: Any) -> Any:
        token = _building_step.set(True)
        try:
            return step_property.fget(step)
        finally:
            _building_step.reset(token)

    arguments.__wrapped__ = step_property.fget  # type: ignore[attr-defined]
    return property(arguments, doc=step_property.__doc__)


# --------------------------------------------------------------------------- SDK v3


def _create_request_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """SDK v3 ``Session._intercept_create_request(request, create, func_name)``: settle an announced processing job.

    Every v3 processing job passes here, direct (``create`` submits it) or as a Pipelines step
    (``PipelineSession`` keeps it); so does a Pipelines tuning step. The SDK builds ``latest_job`` from the very dict it passed in,
    so that dict is brought in line with the request actually sent.
    """
    request, create, func_name = _intercepted_args(*args, **kwargs)
    ctx = None
    if func_name == "process" and isinstance(request, dict):
        ctx = _take(request.get("ProcessingJobName"))
    elif func_name == "tune" and isinstance(request, dict):  # a Pipelines tuning step (see _v3_tuning_job_hook)
        ctx = _tuning.get()
        _tuning.set(None)
    if ctx is None:
        return wrapped(*args, **kwargs)
    fixed = settle(ctx, request, ctx.job_type, instance.boto_session, launched_by_pipeline(instance))
    request.clear()
    request.update(fixed)
    return wrapped(request, create, func_name)


def _intercepted_args(request: Any, create: Any, func_name: Optional[str] = None) -> tuple[Any, Any, Optional[str]]:
    return request, create, func_name


_creating: contextvars.ContextVar[Optional[list[Any]]] = contextvars.ContextVar("s3ag_creating_job", default=None)
_HANDLER_ID = "sagemaker-s3ag-create-job"
_OPERATIONS: dict[str, JobType] = {"CreateTrainingJob": "training", "CreateHyperParameterTuningJob": "tuning"}


def _creating_through_core(ctx: JobContext, wrapped: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Run a sagemaker-core ``create`` (``TrainingJob.create``, ``HyperParameterTuningJob.create``), settling its API call.

    sagemaker-core sends the request through its own cached client, not
    ``sagemaker_session.sagemaker_client``; the request is settled in that client's
    ``provide-client-params`` event, where botocore hands over the exact API parameters.
    """
    from sagemaker.core.resources import Base

    boto_session = kwargs.get("session")
    client = Base.get_sagemaker_client(session=boto_session, region_name=kwargs.get("region"), service_name="sagemaker")
    for operation in _OPERATIONS:
        client.meta.events.register(f"provide-client-params.sagemaker.{operation}", _settle_params, unique_id=f"{_HANDLER_ID}-{operation}")
    pending = [ctx, boto_session]
    token = _creating.set(pending)
    try:
        result = wrapped(*args, **kwargs)
    finally:
        _creating.reset(token)
        if pending[0] is not None:  # the API call was never made (the SDK failed before it), or not through our hook
            ctx.record(None)
    if pending[0] is not None:
        from sagemaker_s3ag.core.errors import warn

        warn(
            f"[s3ag:interception] the {ctx.job_type} job was created, but its request did not pass sagemaker-s3ag's "
            "hook on sagemaker-core's client, so the rules were NOT applied and nothing was recorded on it. "
            "Please report this with your sagemaker-core version."
        )
    return result


def _settle_params(params: Request, model: Any, **_: Any) -> Optional[Request]:
    pending = _creating.get()
    if not pending or pending[0] is None or _OPERATIONS.get(model.name) != pending[0].job_type:
        return None  # not a grant-aware job: botocore keeps the parameters as they are
    ctx, boto_session = pending
    pending[0] = None
    return settle(ctx, params, ctx.job_type, boto_session, pipeline=False)


def _training_job_create_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """SDK v3 ``TrainingJob.create(...)``: settle the training job announced under that name."""
    ctx = _take(kwargs.get("training_job_name"))
    return wrapped(*args, **kwargs) if ctx is None else _creating_through_core(ctx, wrapped, args, kwargs)


_tuning: contextvars.ContextVar[Optional[JobContext]] = contextvars.ContextVar("s3ag_v3_tuning", default=None)


def _v3_tuning_job_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """SDK v3 ``HyperparameterTuner._start_tuning_job``: a tuner of grant-aware (or patched) trainers.

    The tuner builds its training job definitions from the trainers' attributes, never through
    ``train()``; its CreateHyperParameterTuningJob request is settled as it is sent
    (``HyperParameterTuningJob.create``) or captured by a ``PipelineSession`` ("tune").
    """
    from sagemaker_s3ag.sdk.common import tuning_context

    ctx = tuning_context(instance)
    if ctx is None:
        return wrapped(*args, **kwargs)
    token = _tuning.set(ctx)
    try:
        return wrapped(*args, **kwargs)
    finally:
        _tuning.reset(token)


def _tuning_job_create_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """SDK v3 ``HyperParameterTuningJob.create(...)``: settle the tuning job :func:`_v3_tuning_job_hook` is starting."""
    ctx = _tuning.get()
    if ctx is None:
        return wrapped(*args, **kwargs)
    _tuning.set(None)
    return _creating_through_core(ctx, wrapped, args, kwargs)


def _v3_tune_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """SDK v3 ``HyperparameterTuner.tune``: before it uploads any code, refuse what the trainers' channels break."""
    from sagemaker_s3ag.sdk.common import check_tuner_inputs
    from sagemaker_s3ag.sdk.v3.mixins import tuner_preview

    check_tuner_inputs(instance, tuner_preview, wrapped, args, kwargs)
    return wrapped(*args, **kwargs)


_HOOKS: dict[int, tuple[tuple[str, str, str], ...]] = {  # major -> (module, Class.method, hook kind)
    2: (
        ("sagemaker.session", "Session._get_train_request", "training"),
        ("sagemaker.session", "Session._get_process_request", "processing"),
        ("sagemaker.session", "Session._get_tuning_request", "tuning"),
        ("sagemaker.tuner", "HyperparameterTuner._prepare_for_tuning", "prepare-tuning"),
        ("sagemaker.tuner", "HyperparameterTuner.fit", "tuner-fit"),
        ("sagemaker.workflow.steps", "TrainingStep.arguments", "step"),
        ("sagemaker.workflow.steps", "ProcessingStep.arguments", "step"),
    ),
    3: (
        ("sagemaker.core.helper.session_helper", "Session._intercept_create_request", "create-request"),
        ("sagemaker.core.workflow.pipeline_context", "PipelineSession._intercept_create_request", "create-request"),
        ("sagemaker.core.resources", "TrainingJob.create", "training-job-create"),
        ("sagemaker.core.resources", "HyperParameterTuningJob.create", "tuning-job-create"),
        ("sagemaker.train.tuner", "HyperparameterTuner._start_tuning_job", "v3-tuning"),
        ("sagemaker.train.tuner", "HyperparameterTuner.tune", "v3-tune"),
    ),
}


def install() -> None:
    """Wrap the installed SDK's request builders once per process (thread-safe, idempotent, all or nothing).

    Raises:
        UnsupportedSDKError: the installed SDK lacks one of them; nothing was wrapped.
    """
    global _installed
    if _installed:
        return
    with _lock:
        if _installed:
            return
        import importlib

        import wrapt

        from sagemaker_s3ag.core.errors import UnsupportedSDKError
        from sagemaker_s3ag.sdk.installed import installed_version, major

        targets = _HOOKS.get(major())
        if targets is None:
            raise UnsupportedSDKError(f"sagemaker {installed_version() or '(not installed)'} is not a SageMaker SDK major sagemaker-s3ag knows")
        owners = []
        for module_name, path, kind in targets:
            class_name, attribute = path.split(".")
            try:
                owner = getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError) as err:
                raise UnsupportedSDKError(f"{module_name}.{class_name} is missing from this SageMaker SDK ({err})") from err
            if attribute not in vars(owner):
                raise UnsupportedSDKError(f"{module_name}.{path} is missing from this SageMaker SDK")
            owners.append((owner, attribute, kind))
        hooks: dict[str, Callable[..., Any]] = {
            "training": _request_hook("training"),
            "processing": _request_hook("processing"),
            "tuning": _request_hook("tuning"),
            "prepare-tuning": _tuning_hook,
            "tuner-fit": _tuner_fit_hook,
            "create-request": _create_request_hook,
            "training-job-create": _training_job_create_hook,
            "tuning-job-create": _tuning_job_create_hook,
            "v3-tuning": _v3_tuning_job_hook,
            "v3-tune": _v3_tune_hook,
        }
        for owner, attribute, kind in owners:
            if kind == "step":  # a property: wrapt wraps functions
                setattr(owner, attribute, _step_hook(vars(owner)[attribute]))
            else:
                wrapt.wrap_function_wrapper(owner, attribute, hooks[kind])
        _installed = True
