"""Grant-aware classes: the shared part of every grant-aware estimator and processor, and ``grant_aware()``.

Make any SDK v2 estimator or processor class grant-aware; the constructor is the same, plus the
keyword-only settings (see :class:`~sagemaker_s3ag.Settings`)::

    from sagemaker.pytorch import PyTorch
    from sagemaker_s3ag import grant_aware

    GrantAwarePyTorch = grant_aware(PyTorch)
    est = GrantAwarePyTorch(entry_point="train.py", role=role, framework_version="2.1",
                            py_version="py310", instance_count=1, instance_type="ml.g5.xlarge",
                            on_violation="error")
    est.fit({"train": "s3://bucket/train/"})
    est.latest_decision
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import threading
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Optional, TypeVar

from ._decision import Decision, decide
from ._errors import ConsiderationError
from ._findings import Finding
from ._identity_propagation import IdentityPropagation, detect_identity_propagation
from ._interception import JobContext, job_context
from ._request import JobType, looks_like_s3
from ._preflight import preflight_for
from ._settings import Settings

T = TypeVar("T", bound=type)


class GrantAwareMixin:
    """What every grant-aware estimator and processor shares.

    Attributes:
        s3ag_settings: the :class:`Settings` this object launches jobs with.
        latest_decision: the :class:`Decision` for the last job it built, or ``None``.
    """

    _s3ag_job_type: ClassVar[JobType]
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
        super().__init__(*args, **kwargs)
        self.s3ag_settings = settings
        self.latest_decision = None

    # -- shared steps of fit()/run() ---------------------------------------------------------

    def _s3ag_identity(self) -> IdentityPropagation:
        session = getattr(self, "sagemaker_session", None)
        return detect_identity_propagation(
            self.s3ag_settings.identity_propagation, getattr(session, "sagemaker_client", None)
        )

    def _s3ag_check(self, preview: Mapping[str, Any], identity: IdentityPropagation) -> None:
        """Refuse, before anything is uploaded, what the final request could not fix or would not be granted.

        Runs the same :func:`decide` as the final request, on the parts known now; its Access
        Grants answers are cached, so the final request asks only about locations the SDK adds.
        """
        boto_session = getattr(getattr(self, "sagemaker_session", None), "boto_session", None)
        settings = self.s3ag_settings
        decide(
            preview,
            self._s3ag_job_type,
            settings=settings,
            identity_propagation=identity,
            preflight=preflight_for(boto_session, self._s3ag_job_type, settings.preflight_timeout)
            if boto_session is not None
            else None,
        )

    @staticmethod
    def _s3ag_bind(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> inspect.BoundArguments:
        """The call's arguments by name (``fit``/``run`` signatures differ between SDK classes)."""
        return inspect.signature(method).bind_partial(*args, **kwargs)

    def _s3ag_record(self, decision: Decision) -> None:
        self.latest_decision = decision

    @contextlib.contextmanager
    def _s3ag_job(self, identity: IdentityPropagation, sdk_defaults: frozenset[str] = frozenset()) -> Iterator[None]:
        """Build one job under our request hook, with the user's tag list shielded from the SDK."""
        ctx = JobContext(self._s3ag_job_type, self.s3ag_settings, identity, sdk_defaults, self._s3ag_record)
        user_tags = getattr(self, "tags", None)
        # The SDK appends project and config tags to this list in place; give it a copy.
        self.tags = copy.copy(user_tags)
        try:
            with job_context(ctx):
                yield
        finally:
            self.tags = user_tags

    def _s3ag_refuse_update(self, rule: str, call: str, what: str) -> None:
        """Refuse an update call that would turn a forbidden feature on while TIP is on."""
        identity = self._s3ag_identity()
        if identity.enabled:
            message = f"{what} cannot run with trusted identity propagation ({identity.source})"
            finding = Finding(rule, "refused", call, message)
            raise ConsiderationError(f"{call} refused: {message}. Nothing was updated.", rule=rule, findings=[finding])


def preview_uri(uri: Any) -> Any:
    """A location as the preview should see it: a local path is uploaded later, to a place not known yet (``None``)."""
    if isinstance(uri, str) and not looks_like_s3(uri):
        return None
    return uri


_lock = threading.Lock()
_classes: dict[type, type] = {}


def register(stock: type, grant_aware_cls: type) -> None:
    """Record the grant-aware twin of ``stock`` (used for the named classes)."""
    with _lock:
        _classes.setdefault(stock, grant_aware_cls)


def grant_aware(cls: T) -> T:
    """A grant-aware subclass of any SDK v2 estimator or processor class.

    The subclass has the same constructor plus the keyword-only settings ``identity_propagation``,
    ``on_violation``, ``on_fallback``, ``pipe_mode_replacement`` and ``preflight_timeout``. The same
    class always gives the same subclass; a grant-aware class is returned as it is.

    Raises:
        TypeError: ``cls`` is not an estimator (``EstimatorBase``) or processor (``Processor``) class.
    """
    from ._estimator import GrantAwareTrainingMixin
    from ._processor import GrantAwareProcessingMixin

    if not isinstance(cls, type):
        raise TypeError(f"grant_aware() takes a class, not {cls!r}")
    if issubclass(cls, GrantAwareMixin):
        return cls
    from sagemaker.estimator import EstimatorBase
    from sagemaker.processing import Processor

    if issubclass(cls, EstimatorBase):
        mixin: type = GrantAwareTrainingMixin
    elif issubclass(cls, Processor):
        mixin = GrantAwareProcessingMixin
    else:
        raise TypeError(
            f"grant_aware() takes a SageMaker estimator or processor class, not {cls.__module__}.{cls.__qualname__}"
        )
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
