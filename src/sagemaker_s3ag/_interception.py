"""Interception: where SDK v2 hands its finished request to sagemaker-s3ag.

``Session._get_train_request`` and ``Session._get_process_request`` build the final
CreateTrainingJob / CreateProcessingJob request (tags and ``sagemaker_config`` merged) on every
path: direct ``fit()``/``run()``, Pipelines ``step_args`` and the older step forms. Both are
wrapped once, with wrapt, the first time a grant-aware class is imported. The wrappers do
nothing unless a grant-aware job is being built in the current thread or task (a
:class:`JobContext` is active), so stock SDK use is untouched.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Optional

from ._decision import Decision, announce, decide
from ._identity_propagation import IdentityPropagation
from ._preflight import preflight_for
from ._request import JobType
from ._settings import Settings


@dataclass(frozen=True)
class JobContext:
    """A grant-aware job being built: what the request hook needs to decide for it.

    Attributes:
        job_type: ``"training"`` or ``"processing"``.
        settings: the owner's settings.
        identity_propagation: TIP status, decided before anything was uploaded.
        sdk_defaults: request fields the SDK filled in on its own.
        record: called with the decision (the owner keeps it as ``latest_decision``).
    """

    job_type: JobType
    settings: Settings
    identity_propagation: IdentityPropagation
    sdk_defaults: frozenset[str]
    record: Callable[[Decision], None]


_active: contextvars.ContextVar[Optional[JobContext]] = contextvars.ContextVar("s3ag_job", default=None)
_install_lock = threading.Lock()
_installed = False


@contextlib.contextmanager
def job_context(ctx: JobContext) -> Iterator[JobContext]:
    """Make ``ctx`` the grant-aware job of this thread/task while the block runs."""
    install()
    token = _active.set(ctx)
    try:
        yield ctx
    finally:
        _active.reset(token)


def active_job() -> Optional[JobContext]:
    """The grant-aware job being built in this thread/task, if any."""
    return _active.get()


def _request_hook(job_type: JobType) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        request = wrapped(*args, **kwargs)
        ctx = _active.get()
        if ctx is None or ctx.job_type != job_type:
            return request
        fixed, decision = decide(
            request,
            job_type,
            settings=ctx.settings,
            identity_propagation=ctx.identity_propagation,
            sdk_defaults=ctx.sdk_defaults,
            preflight=preflight_for(instance.boto_session, job_type, ctx.settings.preflight_timeout),
        )
        announce(decision)
        ctx.record(decision)
        return fixed

    return wrapper


def install() -> None:
    """Wrap the SDK's request builders once per process (thread-safe, idempotent)."""
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        import wrapt

        wrapt.wrap_function_wrapper("sagemaker.session", "Session._get_train_request", _request_hook("training"))
        wrapt.wrap_function_wrapper("sagemaker.session", "Session._get_process_request", _request_hook("processing"))
        _installed = True
