"""Interception: where SDK v2 hands its finished request to sagemaker-s3ag.

``Session._get_train_request``, ``Session._get_process_request`` and ``Session._get_tuning_request``
build the final CreateTrainingJob / CreateProcessingJob / CreateHyperParameterTuningJob request
(tags and ``sagemaker_config`` merged) on every path: a direct ``fit()``/``run()``, SageMaker
Pipelines ``step_args`` (run when the pipeline definition is built), the older
``TrainingStep(estimator=…)`` / ``ProcessingStep(processor=…)`` forms and ``HyperparameterTuner``.

A grant-aware job announces itself once the SDK has named it (after ``_prepare_for_training``,
``_normalize_args`` or ``_prepare_for_tuning``): :func:`expect` files a :class:`JobContext` under the
job's name, and the request hook takes it back when a request with that name is built. Requests
no grant-aware job announced pass through untouched. The hooks are installed once, with wrapt, the
first time a grant-aware job is prepared; ``unpatch()`` never removes them (they are inert).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from ._decision import Decision, announce, decide
from ._identity_propagation import IdentityPropagation
from ._preflight import preflight_for
from ._request import JobType, job_name
from ._settings import Settings

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
    for old in dropped:  # a job named again (tuner estimators share the tuning job's name) or never built
        old.record(None)


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
    from sagemaker.workflow.pipeline_context import PipelineSession

    return isinstance(session, PipelineSession) or _building_step.get()


def _request_hook(job_type: JobType) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        request = wrapped(*args, **kwargs)
        ctx = _take(job_name(request, job_type))
        if ctx is None:
            return request
        decision = None
        try:
            fixed, decision = decide(
                request,
                job_type,
                settings=ctx.settings,
                identity_propagation=ctx.identity_propagation,
                sdk_defaults=ctx.sdk_defaults,
                preflight=preflight_for(instance.boto_session, job_type, ctx.settings.preflight_timeout),
                pipeline=launched_by_pipeline(instance),
            )
            announce(decision)
        finally:
            ctx.record(decision)
        return fixed

    return wrapper


def _tuner_estimators(tuner: Any) -> list[Any]:
    found = [tuner.estimator] if getattr(tuner, "estimator", None) is not None else []
    return found + list((getattr(tuner, "estimator_dict", None) or {}).values())


def _tuning_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """After ``HyperparameterTuner._prepare_for_tuning``: a tuner of grant-aware estimators announces itself."""
    result = wrapped(*args, **kwargs)
    from ._grant_aware import tuning_context

    for estimator in _tuner_estimators(instance):  # their own training requests are never built
        abandon(getattr(estimator, "_current_job_name", None))
    ctx = tuning_context(instance, _tuner_estimators(instance))
    if ctx is not None:
        expect(getattr(instance, "_current_job_name", None), ctx)
    return result


def _tuner_fit_hook(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    """Before ``HyperparameterTuner.fit`` uploads anything: refuse what the estimators' channels break."""
    from ._grant_aware import check_tuner_inputs

    check_tuner_inputs(instance, _tuner_estimators(instance), wrapped, args, kwargs)
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


_HOOKS: tuple[tuple[str, str, str], ...] = (  # (module, Class.method, hook name)
    ("sagemaker.session", "Session._get_train_request", "training"),
    ("sagemaker.session", "Session._get_process_request", "processing"),
    ("sagemaker.session", "Session._get_tuning_request", "tuning"),
    ("sagemaker.tuner", "HyperparameterTuner._prepare_for_tuning", "prepare-tuning"),
    ("sagemaker.tuner", "HyperparameterTuner.fit", "tuner-fit"),
    ("sagemaker.workflow.steps", "TrainingStep.arguments", "step"),
    ("sagemaker.workflow.steps", "ProcessingStep.arguments", "step"),
)


def install() -> None:
    """Wrap the SDK's request builders once per process (thread-safe, idempotent, all or nothing).

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

        from ._errors import UnsupportedSDKError

        owners = []
        for module_name, path, kind in _HOOKS:
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
        }
        for owner, attribute, kind in owners:
            if kind == "step":  # a property: wrapt wraps functions
                setattr(owner, attribute, _step_hook(vars(owner)[attribute]))
            else:
                wrapt.wrap_function_wrapper(owner, attribute, hooks[kind])
        _installed = True
