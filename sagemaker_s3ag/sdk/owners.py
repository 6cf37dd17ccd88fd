"""Owners: the estimators, trainers, processors and tuners that launch jobs, as the choke points see them.

What an owner launches with (:func:`settings_for`), what session it asks with (:func:`boto_session_of`),
which request fields its SDK fills in on its own (:func:`sdk_defaults`), and which object defined a
SageMaker Pipelines step (:func:`step_owner`). All by duck typing over both SDK majors, so nothing
here imports the SDK::

    settings_for(est)        # est's own settings if grant-aware, else patch()'s, else None
"""

from __future__ import annotations

import contextlib
import copy
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import Any, Optional

from sagemaker_s3ag.core.settings import Settings, strictest
from sagemaker_s3ag.sdk.context import Launch, patch_settings

GRANT_AWARE = "__s3ag_grant_aware__"  # the class attribute that marks a grant-aware class
STEP_SETTINGS = "_s3ag_settings"  # on a step's arguments: the settings of the patch() that defined it


def is_grant_aware(obj: Any) -> bool:
    """Whether ``obj`` is an instance of a grant-aware class (it carries its own settings)."""
    return bool(getattr(type(obj), GRANT_AWARE, False))


def settings_for(obj: Any) -> Optional[Settings]:
    """The settings ``obj`` launches jobs with: its own if grant-aware, else ``patch()``'s, else ``None``.

    A hyperparameter tuner launches with the strictest settings of its governed estimators or trainers.
    """
    if is_grant_aware(obj):
        return obj.s3ag_settings  # type: ignore[no-any-return]
    members = tuner_members(obj)
    if members:
        governed = [s for s in (settings_for(member) for _name, member in members) if s is not None]
        return strictest(governed) if governed else None
    return patch_settings()


def tuner_members(tuner: Any) -> list[tuple[Optional[str], Any]]:
    """A tuner's estimators (SDK v2) or trainers (SDK v3), named in a multi-algorithm tuner; ``[]`` for others."""
    found: list[tuple[Optional[str], Any]] = []
    for single, named in (("estimator", "estimator_dict"), ("model_trainer", "model_trainer_dict")):
        member = _own(tuner, single)
        if member is not None:
            found.append((None, member))
        members = _own(tuner, named)
        if isinstance(members, dict):
            found.extend(members.items())
    return found


def session_of(owner: Any) -> Any:
    """The SageMaker session ``owner``'s jobs are launched with (a tuner's: its first member's)."""
    session = getattr(owner, "sagemaker_session", None)
    if session is None:
        members = tuner_members(owner)
        session = getattr(members[0][1], "sagemaker_session", None) if members else None
    return session


def launch_of(owner: Any, settings: Settings, *, pipeline: bool = False) -> Launch:
    """A :class:`Launch` of ``owner``'s next job with ``settings``, asking through ``owner``'s own session."""
    session = session_of(owner)
    return Launch(
        settings,
        owner=owner,
        boto_session=getattr(session, "boto_session", None),
        sagemaker_client=getattr(session, "sagemaker_client", None),
        sdk_defaults=sdk_defaults(owner),
        pipeline=pipeline,
    )


def _own(obj: Any, name: str) -> Any:
    """``obj.name`` as the instance holds it: never a class attribute or a computed property."""
    try:
        return vars(obj).get(name)
    except TypeError:  # no __dict__
        return None


# --------------------------------------------------------------------------- pipeline steps


def step_owner(step: Any) -> tuple[Any, Optional[Settings]]:
    """The object that defined a pipeline step, and the settings it was defined under (``patched()``), if any.

    ``TrainingStep(step_args=est.fit(...))`` and the like keep the owner as the first argument of the
    call they replay; the older ``TrainingStep(estimator=...)``, ``ProcessingStep(processor=...)`` and
    ``TuningStep(tuner=...)`` keep it themselves; a ``@step`` function has none.
    """
    step_args = _own(step, "step_args")
    if step_args is not None:
        arguments = getattr(step_args, "func_args", None) or ()
        return (arguments[0] if arguments else None), getattr(step_args, STEP_SETTINGS, None)
    for attribute in ("estimator", "processor", "tuner"):
        owner = _own(step, attribute)
        if owner is not None:
            return owner, None
    return None, None


def pipeline_steps(pipeline: Any) -> dict[str, Any]:
    """Every step object of a pipeline by name, inside step collections and condition branches too."""
    found: dict[str, Any] = {}
    pending = list(getattr(pipeline, "steps", None) or ())
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        name = getattr(item, "name", None)
        if isinstance(name, str):
            found.setdefault(name, item)
        for attribute in ("steps", "if_steps", "else_steps"):
            pending.extend(_own(item, attribute) or ())
        inner = _own(item, "_step")  # a @step function's DelayedReturn
        if inner is not None:
            pending.append(inner)
    return found


# --------------------------------------------------------------------------- what the SDK does to an owner

# (SDK v2 estimator attribute, the request field it becomes)
DEFAULT_FIELDS = (("debugger_hook_config", "DebugHookConfig"), ("profiler_config", "ProfilerConfig"))

_lock = threading.Lock()
_made: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _made_by_sdk(owner: Any) -> dict[str, Any]:
    with _lock:
        try:
            return _made.setdefault(owner, {})
        except TypeError:  # cannot be weakly referenced: nothing is remembered
            return {}


def sdk_defaults(owner: Any) -> frozenset[str]:
    """The request fields the SDK will fill in on its own for ``owner``'s next job.

    SDK v2 estimators switch the Debugger hook and the Profiler on by themselves and keep what they
    made, where the next ``fit()`` finds it: removing those surprises nobody (logged at INFO), while
    removing what the user configured is warned about. SDK v3 fills in neither.
    """
    made = _made_by_sdk(owner)
    found = set()
    own = getattr(owner, "__dict__", {})
    for attribute, request_field in DEFAULT_FIELDS:
        if attribute in own and (own[attribute] is None or own[attribute] is made.get(attribute)):
            found.add(request_field)
    return frozenset(found)


@contextlib.contextmanager
def building(owners: Iterable[Any]) -> Iterator[None]:
    """While the SDK builds these owners' requests: lend it copies of their tag lists, note its defaults.

    The SDK appends project and config tags to an owner's tag list in place, so the user's list would
    grow with every job; it gets a copy, and the user's list is back when the block ends. What the SDK
    fills in on its own during the block stays a default next time (:func:`sdk_defaults`).
    """
    owners = list({id(owner): owner for owner in owners}.values())  # pydantic models are not hashable
    before = [(owner, {a: getattr(owner, a, None) for a, _f in DEFAULT_FIELDS}) for owner in owners]
    lent = []
    for owner in owners:
        tags = _own(owner, "tags")
        if isinstance(tags, list) and not hasattr(type(owner), "model_fields"):  # not a pydantic model
            owner.tags = copy.copy(tags)
            lent.append((owner, tags))
    try:
        yield
    finally:
        for owner, tags in lent:
            owner.tags = tags
        for owner, values in before:
            made = _made_by_sdk(owner)
            for attribute, was in values.items():
                now = getattr(owner, attribute, None)
                if now is not was and (was is None or was is made.get(attribute)):
                    made[attribute] = now
