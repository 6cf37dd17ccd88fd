"""Common: what every grant-aware class and every patched stock method does around the SDK's own call.

A grant-aware ``fit()`` / ``run()`` / ``train()`` (and a tuner's ``fit()`` / ``tune()``) is one
:func:`launch`: decide whether TIP is on, check a preview of the request before anything is uploaded
(refusing what the final request could not fix or would not be granted), then run the SDK's method
with the launch in context (:mod:`sagemaker_s3ag.sdk.context`), where the choke point settles the
request it sends. ``patch()`` runs the very same steps on stock objects. ``plan()`` is the check
alone, returned as a decision::

    est.plan({"train": "s3://bucket/train/"})        # nothing uploaded, named or created
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Optional

import wrapt

from sagemaker_s3ag.core.decision import Decision, decide, plan, refused_decision
from sagemaker_s3ag.core.errors import ConsiderationError, warn
from sagemaker_s3ag.core.findings import Finding
from sagemaker_s3ag.core.request import JobType, Request, is_remote
from sagemaker_s3ag.core.settings import Settings
from sagemaker_s3ag.sdk import choke
from sagemaker_s3ag.sdk.context import Launch, current, launching
from sagemaker_s3ag.sdk.installed import adapter, api_shape, sdk_class
from sagemaker_s3ag.sdk.owners import GRANT_AWARE, STEP_SETTINGS, building, is_grant_aware, launch_of, settings_for, tuner_members

logger = logging.getLogger(__name__)

Preview = Callable[[inspect.BoundArguments], Mapping[str, Any]]
Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
Step = Callable[[Any, Settings, Any, tuple[Any, ...], Mapping[str, Any]], Any]
Hook = tuple[str, str, Wrapper]  # (module, "Class.attribute", wrapper)


class GrantAwareMixin:
    """What every grant-aware estimator, trainer and processor shares: its settings and its latest decision.

    Attributes:
        s3ag_settings: the :class:`~sagemaker_s3ag.Settings` this object launches jobs with.
        latest_decision: the :class:`~sagemaker_s3ag.Decision` for the last job it launched, or ``None``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The stock constructor's arguments, plus the keyword-only settings of :class:`Settings`."""
        Settings.check_near_misses(kwargs)  # SDK v2 estimators would drop a misspelt setting silently
        settings = Settings(**{name: kwargs.pop(name) for name in Settings.names() if name in kwargs})
        adapter().install()  # the choke points and the tuner's check, before this object meets either
        super().__init__(*args, **kwargs)
        self.s3ag_settings = settings
        self.latest_decision = None


setattr(GrantAwareMixin, GRANT_AWARE, True)  # what owners.is_grant_aware() looks for


def bind(method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> inspect.BoundArguments:
    """A call's arguments by name (``fit``/``run`` signatures differ between SDK classes)."""
    return inspect.signature(method).bind_partial(*args, **kwargs)


def in_pipeline(obj: Any) -> bool:
    """Whether ``obj`` defines SageMaker Pipelines steps (its session is a ``PipelineSession``)."""
    return isinstance(getattr(obj, "sagemaker_session", None), sdk_class("PipelineSession"))


def early_check(launch: Launch, job_type: JobType, preview: Mapping[str, Any]) -> None:
    """Refuse, before anything is uploaded, what the final request could not fix or would not be granted.

    The same :func:`~sagemaker_s3ag.core.decision.decide` as the final request, on the parts known
    now, through the launch's preflight: the choke point reuses its answers. Does nothing with TIP off.
    """
    identity = launch.identity()
    if not identity.enabled:
        return
    try:
        decide(
            preview,
            job_type,
            settings=launch.settings,
            identity_propagation=identity,
            sdk_defaults=launch.sdk_defaults,
            preflight=launch.preflight(),
            pipeline=launch.pipeline,
            background=launch.background() if job_type != "tuning" else None,
        )
    except ConsiderationError as err:
        launch.record(refused_decision(preview, job_type, identity, err))  # not the previous job's
        raise


def launch(
    obj: Any,
    settings: Settings,
    job_type: JobType,
    method: Any,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    *,
    preview: Preview,
    new_name: Optional[Callable[[], str]] = None,
    tip_off: Optional[Callable[[inspect.BoundArguments], None]] = None,
    after: Optional[Callable[[Launch], None]] = None,
) -> Any:
    """``obj``'s ``method(*args, **kwargs)`` launched grant-aware: check first, then run it in context.

    With TIP on, the job is named now (``new_name``: as the SDK would name it), so the preflight's
    ``AuditContext`` names it too; never in a pipeline, where a name would change where the SDK
    uploads the step's code. Under a ``PipelineSession`` the method returns the step's arguments,
    built later by ``Pipeline.definition()``: a stock object's carry the settings they were defined with.
    ``tip_off(call)`` runs instead of the check when TIP is off; ``after(launch)`` once the method returned.
    """
    adapter().install()  # a grant-aware object made without __init__ (pydantic's model_construct) has no hooks yet
    call = bind(method, args, kwargs)
    kwargs = dict(kwargs)  # the call goes out as it came in: the SDK reads a step's arguments by keyword
    pipeline = in_pipeline(obj)
    current_launch = launch_of(obj, settings, pipeline=pipeline)
    if current_launch.identity().enabled:
        named = call.arguments.get("job_name")
        by_position = "job_name" in call.arguments and "job_name" not in kwargs
        if new_name is not None and not pipeline and "job_name" in call.signature.parameters and not named and not by_position:
            call.arguments["job_name"] = kwargs["job_name"] = new_name()
        early_check(current_launch, job_type, preview(call))
    elif tip_off is not None:
        tip_off(call)
    with launching(current_launch), building([obj]):
        result = method(*args, **kwargs)
    if after is not None:
        after(current_launch)
    if not is_grant_aware(obj) and hasattr(result, "func_args") and hasattr(result, "caller_name"):
        setattr(result, STEP_SETTINGS, settings)  # a pipeline step: built later, as defined now
    return result


def launch_tuner(
    tuner: Any, preview: Callable[[Any, Any], Mapping[str, Any]], method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> Any:
    """A ``HyperparameterTuner``'s ``fit()`` (v2) / ``tune()`` (v3) over governed estimators or trainers.

    Before the tuner uploads any code, each governed member's channels are checked with its own
    settings (``preview(member, its inputs)``: a multi-algorithm tuner takes a dict of inputs keyed
    by member name); the tuning job is then launched with the strictest of their settings.
    """
    settings = settings_for(tuner)
    if settings is None or current() is not None:
        return method(*args, **kwargs)
    adapter().install()
    tuner_launch = launch_of(tuner, settings, pipeline=in_pipeline(tuner_members(tuner)[0][1]))
    shared = tuner_launch.preflight()  # one budget for the members' checks and the tuning job
    inputs = bind(method, args, kwargs).arguments.get("inputs")
    for name, member in tuner_members(tuner):
        member_settings = settings_for(member)
        if member_settings is None:
            continue
        own = inputs.get(name) if name is not None and isinstance(inputs, dict) else inputs
        member_launch = launch_of(member, member_settings, pipeline=tuner_launch.pipeline)
        if shared is not None:
            member_launch.share(shared)
        early_check(member_launch, "training", preview(member, own))
    with launching(tuner_launch):
        result = method(*args, **kwargs)
    if not any(is_grant_aware(member) for _name, member in tuner_members(tuner)) and hasattr(result, "func_args"):
        setattr(result, STEP_SETTINGS, settings)
    return result


def plan_preview(obj: Any, job_type: JobType, settings: Settings, preview: Request) -> Decision:
    """What the rules and the preflight say of ``preview`` now, as a decision (refusals included, not raised)."""
    planned = launch_of(obj, settings, pipeline=in_pipeline(obj))
    return plan(
        {**preview, "Tags": [api_tag(tag) for tag in getattr(obj, "tags", None) or ()]},
        job_type,
        settings=settings,
        identity_propagation=planned.identity(),
        sdk_defaults=planned.sdk_defaults,
        preflight=planned.preflight(),
        pipeline=planned.pipeline,
        background=planned.background() if job_type != "tuning" else None,
    )


def refuse_update(obj: Any, settings: Settings, rule: str, call: str, what: str) -> None:
    """Refuse an update call that would turn a forbidden feature on while TIP is on, before anything changes."""
    identity = launch_of(obj, settings).identity()
    if identity.enabled:
        message = f"{what} cannot run with trusted identity propagation ({identity.source})"
        finding = Finding(rule, "refused", call, message)
        raise ConsiderationError(f"{call} refused: {message}. Nothing was updated.", rule=rule, findings=[finding])


# --------------------------------------------------------------------------- preview helpers


def api_tag(tag: Any) -> Any:
    """A tag as the API spells it (``{"Key", "Value"}``): SDK v3 also takes ``Tag`` objects and lowercase dicts."""
    tag = api_shape(tag)
    if isinstance(tag, Mapping) and "key" in tag and "Key" not in tag:
        return {"Key": tag["key"], "Value": tag.get("value")}
    return tag


def known_default_bucket(session: Any) -> Optional[str]:
    """The session's default bucket, if known without asking for it (``default_bucket()`` may call CreateBucket)."""
    if session is None or getattr(session, "local_mode", False):
        return None
    bucket = getattr(session, "_default_bucket", None) or getattr(session, "_default_bucket_name_override", None)
    return bucket if isinstance(bucket, str) and bucket else None


def preview_uri(uri: Any) -> Any:
    """A location as the preview should see it: a local path is uploaded later, to a place not known yet (``None``)."""
    if isinstance(uri, str) and not is_remote(uri):
        return None
    return uri


# --------------------------------------------------------------------------- the hooks of an SDK major


def queue_submit(preview: Callable[[Any, Any], Mapping[str, Any]]) -> Wrapper:
    """AWS Batch ``TrainingQueue.submit(training_job, inputs, ...)`` of a governed estimator or trainer.

    The queue builds the request from the object itself, never through ``fit()`` / ``train()``: the
    job is launched with the object's settings, checked (``preview(object, inputs)``) before the
    SDK uploads anything; the choke point settles the ``SubmitServiceJob`` payload.
    """

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        job = bind(wrapped, args, kwargs).arguments.get("training_job")
        settings = settings_for(job) if job is not None else None
        if settings is None or current() is not None:
            return wrapped(*args, **kwargs)
        return launch(
            job, settings, "training", wrapped, args, kwargs, preview=lambda call: preview(job, call.arguments.get("inputs"))
        )

    return wrapper


def outermost(step: Step) -> Wrapper:
    """A stock ``fit()`` / ``run()`` / ``train()`` under ``patch()``: launched once, by the outermost of nested overrides."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        settings = settings_for(instance)
        if settings is None or is_grant_aware(instance) or current() is not None:
            return wrapped(*args, **kwargs)
        return step(instance, settings, wrapped, args, kwargs)

    return wrapper


def refusing(rule: str, call: str, what: str) -> Wrapper:
    """A stock update call that would switch a forbidden feature on: refused with TIP on, under ``patch()``."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        settings = settings_for(instance)
        if settings is not None and not is_grant_aware(instance):
            refuse_update(instance, settings, rule, call, what)
        return wrapped(*args, **kwargs)

    return wrapper


_install_lock = threading.Lock()
_installed: set[tuple[str, str]] = set()


def install(hooks: Sequence[Hook]) -> None:
    """The choke points, and ``hooks`` each wrapped when its module is imported (now, if it is already).

    Once per process, thread-safe; never removed (the wrappers are inert until something governs).
    A module is not imported for this: SDK v3's pipeline module needs an AWS Region to import.
    """
    choke.install()
    with _install_lock:
        for module, path, wrapper in hooks:
            if (module, path) not in _installed:
                _installed.add((module, path))
                wrapt.register_post_import_hook(functools.partial(_wrap, path=path, wrapper=wrapper), module)


def _wrap(module: Any, *, path: str, wrapper: Wrapper) -> None:
    class_name, attribute = path.split(".")
    owner = getattr(module, class_name, None)
    if owner is None or attribute not in vars(owner):  # an SDK this package does not know: say so, never break the import
        warn(
            f"[s3ag:interception] {module.__name__}.{path} is missing from this SageMaker SDK, so what it builds is "
            "checked only by the choke points; please report it with your sagemaker version"
        )
        return
    wrapt.wrap_function_wrapper(owner, attribute, wrapper)
