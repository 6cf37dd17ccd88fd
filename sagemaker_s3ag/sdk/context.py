"""Context: what governs a SageMaker job request right now, and who launched it.

A grant-aware ``fit()`` / ``run()`` / ``train()`` / ``tune()`` (and a patched stock one) runs the SDK
inside a :class:`Launch`: the object, its settings, its session, and what was learnt for the job so
far. The launch travels with the call in a :class:`contextvars.ContextVar`, so the choke points
(:mod:`sagemaker_s3ag.sdk.choke`) know whose settings apply to the request they see, even when two
threads launch jobs of the same name at the same moment. With no launch in context, ``patch()``'s
settings govern; with neither, requests pass untouched::

    with launching(Launch(settings, owner=est, boto_session=est.sagemaker_session.boto_session)):
        ...                          # est's CreateTrainingJob is settled with est's settings
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

from sagemaker_s3ag.core.client_session import session_of_client
from sagemaker_s3ag.core.considerations import BackgroundSessions
from sagemaker_s3ag.core.decision import Decision
from sagemaker_s3ag.core.identity import IdentityPropagation, background_sessions, detect_identity_propagation
from sagemaker_s3ag.core.preflight import Preflight
from sagemaker_s3ag.core.settings import Settings


@dataclass(eq=False)
class Launch:
    """One job being launched: whose settings apply, and what was learnt for it so far.

    Attributes:
        settings: the settings the job is launched with.
        owner: the estimator, trainer, processor or tuner launching it; ``None`` for a request that
            came from elsewhere (raw boto3, ``@remote``, a hand-made pipeline definition).
        boto_session: the session the preflight asks with; ``None``: the sending client's own.
        sagemaker_client: the client that asks ``DescribeDomain``; ``None``: the sending client.
        sdk_defaults: request fields the SDK fills in on its own (changed quietly, not warned about).
        pipeline: the job is a SageMaker Pipelines step.
        sent: the last request the choke point settled for this launch, as it was sent.
    """

    settings: Settings
    owner: Any = None
    boto_session: Any = None
    sagemaker_client: Any = None
    sdk_defaults: frozenset[str] = frozenset()
    pipeline: bool = False
    sent: Optional[dict[str, Any]] = field(default=None, repr=False)
    _identity: Optional[IdentityPropagation] = field(default=None, repr=False)
    _preflight: Optional[Preflight] = field(default=None, repr=False)
    _background: Optional[BackgroundSessions] = field(default=None, repr=False)

    def identity(self, sending_client: Any = None) -> IdentityPropagation:
        """Whether TIP is on for this job, decided once (``DescribeDomain`` through the owner's session).

        ``sending_client`` asks when the launch has no client of its own (through a SageMaker client
        with its credentials, when it is another service's: AWS Batch).
        """
        if self._identity is None:
            self._identity = detect_identity_propagation(
                self.settings.identity_propagation, self._asking_client(sending_client), timeout=self.settings.preflight_timeout
            )
        return self._identity

    def background(self, sending_client: Any = None) -> Optional[BackgroundSessions]:
        """Whether the user's background sessions are enabled, asked once; ``None`` when it does not matter
        (TIP off, or a pipeline step: a pipeline execution carries no user session)."""
        identity = self.identity(sending_client)
        if not identity.enabled or self.pipeline:
            return None
        if self._background is None:
            self._background = background_sessions(
                identity, self._asking_client(sending_client), timeout=self.settings.preflight_timeout
            )
        return self._background

    def _asking_client(self, sending_client: Any) -> Any:
        """The SageMaker client that asks about the domain: the launch's own, else one with the sending
        client's credentials (another service's client: AWS Batch); ``None`` when there is none to ask
        with (local mode's LocalSagemakerClient is not a botocore client)."""
        client = self.sagemaker_client or sending_client
        service = getattr(getattr(getattr(client, "meta", None), "service_model", None), "service_name", None)
        if service is None:
            return None
        return client if service == "sagemaker" else session_of_client(client).client("sagemaker")

    def preflight(self, sending_client: Any = None) -> Optional[Preflight]:
        """This job's preflight: one budget and one set of answers for whatever asks.

        It asks with ``boto_session``, or with the credentials, Region and event hooks of
        ``sending_client`` when the job came with no session.
        """
        if self._preflight is None:
            boto_session = self.boto_session
            if boto_session is None and sending_client is not None:
                boto_session = session_of_client(sending_client)
            if boto_session is None:
                return None
            self._preflight = Preflight(boto_session, self.settings.preflight_timeout)
        return self._preflight

    def share(self, preflight: Preflight) -> None:
        """Ask through ``preflight`` (the steps of one pipeline definition share one budget)."""
        self._preflight = preflight

    def record(self, decision: Decision) -> None:
        """Keep ``decision`` as the owner's ``latest_decision``."""
        if self.owner is not None:
            remember(self.owner, decision)


def remember(owner: Any, decision: Optional[Decision]) -> None:
    """``owner.latest_decision = decision``, where the owner can hold it."""
    try:
        owner.latest_decision = decision
    except (AttributeError, TypeError, ValueError):  # a stock object that takes no new attribute
        pass


_current: contextvars.ContextVar[Optional[Launch]] = contextvars.ContextVar("sagemaker_s3ag_launch", default=None)


@contextlib.contextmanager
def launching(launch: Launch) -> Iterator[Launch]:
    """Run the block with ``launch`` governing the requests it makes (in this thread or task only)."""
    token = _current.set(launch)
    try:
        yield launch
    finally:
        _current.reset(token)


def current() -> Optional[Launch]:
    """The launch in context, if any."""
    return _current.get()


# --------------------------------------------------------------------------- patch()'s settings

_patch_lock = threading.Lock()
_patch_settings: Optional[Settings] = None


def patch_settings() -> Optional[Settings]:
    """The settings of the active ``patch()``, or ``None`` when nothing is patched."""
    return _patch_settings


def set_patch_settings(settings: Optional[Settings]) -> None:
    """Make ``settings`` govern stock objects and requests from elsewhere (``None``: nothing does)."""
    global _patch_settings
    with _patch_lock:
        _patch_settings = settings


def governing() -> Optional[Launch]:
    """What governs a request sent now: the launch in context, else ``patch()``'s settings, else nothing."""
    launch = _current.get()
    if launch is not None:
        return launch
    settings = _patch_settings
    return Launch(settings) if settings is not None else None
