"""Grant-aware classes: what every grant-aware trainer, estimator and processor shares, and ``grant_aware()``.

Make any training or processing class of the installed SDK grant-aware; the constructor is the
same, plus the keyword-only settings (see :class:`~sagemaker_s3ag.Settings`). SDK v2::

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

The steps here take the object and its settings, so ``patch()`` runs the very same steps on stock
SDK objects (:mod:`sagemaker_s3ag.sdk.patch`).
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional, TypeVar

from sagemaker_s3ag.core.decision import Decision, decide, plan, refused_decision
from sagemaker_s3ag.core.errors import ConsiderationError
from sagemaker_s3ag.core.findings import Finding
from sagemaker_s3ag.core.identity import IdentityPropagation, detect_identity_propagation
from sagemaker_s3ag.sdk.choke import JobContext, announcements, expect, install, launched_by_pipeline
from sagemaker_s3ag.core.preflight import preflight_for
from sagemaker_s3ag.core.request import JobType, looks_like_s3
from sagemaker_s3ag.sdk.installed import api_shape
from sagemaker_s3ag.core.settings import Settings

T = TypeVar("T", bound=type)


class GrantAwareMixin:
    """What every grant-aware estimator and processor shares.

    Attributes:
        s3ag_settings: the :class:`Settings` this object launches jobs with.
        latest_decision: the :class:`Decision` for the last job it built, or ``None``.
    """

    if TYPE_CHECKING:  # not class annotations at run time: pydantic (v3's ModelTrainer) would make them fields
        s3ag_settings: Settings
        latest_decision: Optional[Decision]

    def __init__(
        self,
        *args: Any,
        identity_propagation: Optional[bool] = None,
        on_violation: str = "fix",
        on_fallback: str = "warn",
        pipe_mode_replacement: str = "File",
        preflight_timeout: float = 5.0,
        **kwargs: Any,
    ) -> None:
        settings = Settings(
            identity_propagation=identity_propagation,
            on_violation=on_violation,  # type: ignore[arg-type]
            on_fallback=on_fallback,  # type: ignore[arg-type]
            pipe_mode_replacement=pipe_mode_replacement,  # type: ignore[arg-type]
            preflight_timeout=preflight_timeout,
        )
        install()  # the SDK hooks must be in place before the first step or tuner uses this object
        super().__init__(*args, **kwargs)
        self.s3ag_settings = settings
        self.latest_decision = None


def settings_for(obj: Any) -> Optional[Settings]:
    """The settings ``obj`` launches jobs with: its own if grant-aware, else ``patch()``'s, else none."""
    if isinstance(obj, GrantAwareMixin):
        return obj.s3ag_settings
    from sagemaker_s3ag.sdk.patch import patch_settings

    return patch_settings()


# --------------------------------------------------------------------------- the shared steps


def bind(method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> inspect.BoundArguments:
    """A call's arguments by name (``fit``/``run`` signatures differ between SDK classes)."""
    return inspect.signature(method).bind_partial(*args, **kwargs)


def identity_for(obj: Any, settings: Settings) -> IdentityPropagation:
    """Whether TIP is on for ``obj``'s jobs (``DescribeDomain`` through its own session, if needed)."""
    session = getattr(obj, "sagemaker_session", None)
    return detect_identity_propagation(settings.identity_propagation, getattr(session, "sagemaker_client", None))


def plan_preview(
    obj: Any,
    job_type: JobType,
    settings: Settings,
    identity: IdentityPropagation,
    preview: Mapping[str, Any],
    sdk_defaults: frozenset[str] = frozenset(),
) -> Decision:
    """What the rules and the preflight say of ``preview``, as a decision (refusals included, not raised)."""
    return plan(
        {**preview, "Tags": [api_tag(tag) for tag in getattr(obj, "tags", None) or ()]},
        job_type,
        settings=settings,
        identity_propagation=identity,
        sdk_defaults=sdk_defaults,
        **_session_args(obj, job_type, settings),
    )


def _session_args(obj: Any, job_type: JobType, settings: Settings) -> dict[str, Any]:
    """``preflight`` and ``pipeline`` for :func:`decide`, from ``obj``'s SageMaker session."""
    session = getattr(obj, "sagemaker_session", None)
    boto_session = getattr(session, "boto_session", None)
    return {
        "preflight": preflight_for(boto_session, job_type, settings.preflight_timeout) if boto_session else None,
        "pipeline": launched_by_pipeline(session),
    }


def check_preview(obj: Any, job_type: JobType, settings: Settings, identity: IdentityPropagation, preview: Mapping[str, Any]) -> None:
    """Refuse, before anything is uploaded, what the final request could not fix or would not be granted.

    Runs the same :func:`decide` as the final request, on the parts known now; its Access Grants
    answers are cached, so the final request asks only about locations the SDK adds later.
    """
    if not identity.enabled:
        return
    try:
        decide(preview, job_type, settings=settings, identity_propagation=identity, **_session_args(obj, job_type, settings))
    except ConsiderationError as err:
        obj.latest_decision = refused_decision(preview, job_type, identity, err)  # not the previous job's
        raise


def before_launch(
    obj: Any,
    job_type: JobType,
    settings: Settings,
    method: Any,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    *,
    preview: Callable[[inspect.BoundArguments], Mapping[str, Any]],
    new_name: Optional[Callable[[], str]] = None,
) -> inspect.BoundArguments:
    """Step one of a grant-aware ``fit()``/``run()``: the call to make, with the job named if TIP is on.

    The name is the one the SDK would give, chosen now so the preflight's ``AuditContext`` names
    the job. Refuses what cannot be fixed (:func:`check_preview`) before anything is uploaded.
    """
    call = bind(method, args, kwargs)
    identity = identity_for(obj, settings)
    if identity.enabled:
        if new_name is not None and "job_name" in call.signature.parameters and not call.arguments.get("job_name"):
            call.arguments["job_name"] = new_name()
        check_preview(obj, job_type, settings, identity, preview(call))
    return call


def api_tag(tag: Any) -> Any:
    """A tag as the API spells it (``{"Key", "Value"}``): SDK v3 also takes ``Tag`` objects and lowercase dicts."""
    tag = api_shape(tag)
    if isinstance(tag, Mapping) and "key" in tag and "Key" not in tag:
        return {"Key": tag["key"], "Value": tag.get("value")}
    return tag


def preview_uri(uri: Any) -> Any:
    """A location as the preview should see it: a local path is uploaded later, to a place not known yet (``None``)."""
    if isinstance(uri, str) and not looks_like_s3(uri):
        return None
    return uri


def prepare_job(
    obj: Any,
    job_type: JobType,
    settings: Settings,
    identity: IdentityPropagation,
    sdk_defaults: frozenset[str],
    prepare: Callable[[], Any],
) -> Any:
    """Run the SDK's preparation (which names the job), then announce the job to the request hook.

    The SDK appends project and config tags to ``obj.tags`` in place, so it is lent a copy; the
    user's list comes back when the decision lands (or at once, if preparing fails).
    """
    user_tags = getattr(obj, "tags", None)
    obj.tags = copy.copy(user_tags)

    def record(decision: Optional[Decision]) -> None:
        obj.tags = user_tags
        if decision is not None:
            obj.latest_decision = decision

    try:
        result = prepare()
    except BaseException:
        obj.tags = user_tags
        raise
    name = getattr(obj, "_current_job_name", None)
    if name:
        patched = not isinstance(obj, GrantAwareMixin)
        expect(name, JobContext(job_type, settings, identity, sdk_defaults, record, patched))
    else:
        obj.tags = user_tags
    return result


def launch(
    obj: Any,
    settings: Settings,
    step: Callable[[Any, Settings, Any, tuple[Any, ...], Mapping[str, Any]], inspect.BoundArguments],
    method: Any,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> Any:
    """A grant-aware ``fit()``/``run()``/``train()``: step one (``before_fit``, ...), then the SDK's ``method``."""
    call = step(obj, settings, method, args, kwargs)
    return launching(obj, lambda: method(*call.args, **call.kwargs))


def launching(obj: Any, launch: Callable[[], Any]) -> Any:
    """Run ``fit()``/``run()``/``train()``; a job it announced but never built is withdrawn when it ends.

    (It failed before its request was built, or ``train(dry_run=True)`` stopped short.)
    """
    with announcements():
        return launch()


def refuse_update(obj: Any, settings: Settings, rule: str, call: str, what: str) -> None:
    """Refuse an update call that would turn a forbidden feature on while TIP is on."""
    identity = identity_for(obj, settings)
    if identity.enabled:
        message = f"{what} cannot run with trusted identity propagation ({identity.source})"
        finding = Finding(rule, "refused", call, message)
        raise ConsiderationError(f"{call} refused: {message}. Nothing was updated.", rule=rule, findings=[finding])


_ORDER = {"on_violation": ("fix", "error"), "on_fallback": ("allow", "warn", "deny")}


def strictest(all_settings: Sequence[Settings]) -> Settings:
    """One set of settings for several estimators (a multi-algorithm tuner): the strictest of each."""
    return Settings(
        identity_propagation=True
        if any(s.identity_propagation is True for s in all_settings)
        else None
        if any(s.identity_propagation is None for s in all_settings)
        else False,
        on_violation=max((s.on_violation for s in all_settings), key=_ORDER["on_violation"].index),
        on_fallback=max((s.on_fallback for s in all_settings), key=_ORDER["on_fallback"].index),
        pipe_mode_replacement="FastFile" if all(s.pipe_mode_replacement == "FastFile" for s in all_settings) else "File",
        preflight_timeout=max(s.preflight_timeout for s in all_settings),
    )


def tuning_context(tuner: Any) -> Optional[JobContext]:
    """The context of a ``HyperparameterTuner`` whose estimators or trainers are grant-aware (or patched).

    With several of them, the strictest of their settings apply; TIP is on if it is on for any.
    """
    governed = [(est, settings_for(est)) for _name, est in tuner_members(tuner)]
    governed = [(est, settings) for est, settings in governed if settings is not None]
    if not governed:
        return None
    settings = strictest([s for _est, s in governed])
    identities = [identity_for(est, s) for est, s in governed]
    identity = next((i for i in identities if i.enabled), identities[0])
    return JobContext("tuning", settings, identity, frozenset(), lambda decision: _keep(tuner, decision))


def tuner_members(tuner: Any) -> list[tuple[Optional[str], Any]]:
    """A tuner's estimators (SDK v2) or trainers (SDK v3), with their names in a multi-algorithm tuner."""
    single = getattr(tuner, "estimator", None) or getattr(tuner, "model_trainer", None)
    named = getattr(tuner, "estimator_dict", None) or getattr(tuner, "model_trainer_dict", None) or {}
    return ([(None, single)] if single is not None else []) + list(named.items())


def check_tuner_inputs(
    tuner: Any, preview: Callable[[Any, Any], Mapping[str, Any]], method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> None:
    """Before a tuner's ``fit()``/``tune()`` uploads any code: each governed member's ``preview(member, its inputs)``.

    A multi-algorithm tuner takes a dict of inputs keyed by member name; a single member gets them all.
    """
    inputs = bind(method, args, kwargs).arguments.get("inputs")
    for name, member in tuner_members(tuner):
        settings = settings_for(member)
        if settings is None:
            continue
        own = inputs.get(name) if name is not None and isinstance(inputs, dict) else inputs
        check_preview(member, "training", settings, identity_for(member, settings), preview(member, own))


def _keep(owner: Any, decision: Optional[Decision]) -> None:
    if decision is not None:
        owner.latest_decision = decision


# --------------------------------------------------------------------------- grant_aware()

_lock = threading.Lock()
_classes: dict[type, type] = {}


def register(stock: type, grant_aware_cls: type) -> None:
    """Record the grant-aware twin of ``stock`` (used for the named classes)."""
    with _lock:
        _classes.setdefault(stock, grant_aware_cls)


def _mixin_for(cls: type) -> type:
    """The grant-aware mixin for a training or processing class of the installed major."""
    from sagemaker_s3ag.sdk.installed import V3, major, sdk_class

    if major() >= V3:
        from sagemaker.train.model_trainer import ModelTrainer

        if issubclass(cls, ModelTrainer):
            from sagemaker_s3ag.sdk.v3.mixins import GrantAwareTrainingMixin as TrainerMixin

            return TrainerMixin
        kinds = "ModelTrainer or processor"
    else:
        from sagemaker.estimator import EstimatorBase

        if issubclass(cls, EstimatorBase):
            from sagemaker_s3ag.sdk.v2.mixins import GrantAwareTrainingMixin as EstimatorMixin

            return EstimatorMixin
        kinds = "estimator or processor"
    if issubclass(cls, sdk_class("Processor")):
        from sagemaker_s3ag.sdk.processing import GrantAwareProcessingMixin

        return GrantAwareProcessingMixin
    raise TypeError(f"grant_aware() takes a SageMaker {kinds} class, not {cls.__module__}.{cls.__qualname__}")


def grant_aware(cls: T) -> T:
    """A grant-aware subclass of any SageMaker training or processing class of the installed SDK.

    SDK v2: any estimator (``EstimatorBase``) or processor (``Processor``) class; SDK v3: any
    ``ModelTrainer`` or ``sagemaker.core.processing.Processor`` class. The subclass has the same
    constructor plus the keyword-only settings ``identity_propagation``, ``on_violation``,
    ``on_fallback``, ``pipe_mode_replacement`` and ``preflight_timeout``. The same class always gives
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
