"""Identity propagation: whether the Studio domain has trusted identity propagation (TIP) on.

Decided in this order, first answer wins:

1. the ``identity_propagation=`` setting (``True`` / ``False``);
2. ``TRUSTED_IDENTITY_PROPAGATION_ENABLED``, then ``TRUSTED_IDENTITY_PROPOGATION_ENABLED`` (the spelling
   Studio itself exports): ``true/1/yes/enabled/on`` or ``false/0/no/disabled/off``, any case;
3. the Studio metadata file (``/opt/ml/metadata/resource-metadata.json``) names a domain, and
   ``DescribeDomain`` says ``TrustedIdentityPropagationSettings.Status`` (an answer is cached per domain);
4. otherwise off (not in a Studio space).

When ``DescribeDomain`` cannot answer (refused, throttled, a service error or no network, after
botocore's standard retries), TIP is *unknown*: the rules are applied as if it were on, the job is
recorded ``s3ag:identity-propagation=unknown`` and warned about (refused with ``on_fallback="deny"``),
and the next job asks again: a failure is never cached as a verdict.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

from sagemaker_s3ag.core.client_session import session_of_client
from sagemaker_s3ag.core.considerations import BackgroundSessions
from sagemaker_s3ag.core.errors import warn

logger = logging.getLogger(__name__)

ENV_VARS = ("TRUSTED_IDENTITY_PROPAGATION_ENABLED", "TRUSTED_IDENTITY_PROPOGATION_ENABLED")
METADATA_FILE_ENV = "S3AG_STUDIO_METADATA_FILE"
METADATA_FILE = "/opt/ml/metadata/resource-metadata.json"
DOMAIN_CACHE_SECONDS = 900.0
MAX_DOMAINS = 64

_TRUE = frozenset({"true", "1", "yes", "enabled", "on"})
_FALSE = frozenset({"false", "0", "no", "disabled", "off"})


@dataclass(frozen=True)
class IdentityPropagation:
    """Whether TIP is on for a job, and how that was decided.

    Attributes:
        enabled: ``True`` when the rules apply (also when it is not known: the rules are kept on).
        source: where the answer came from, for a person (``"setting"``, ``"environment
            TRUSTED_IDENTITY_PROPOGATION_ENABLED"``, ``"domain d-abc (DescribeDomain)"``, ...).
        known: ``False`` when the Studio domain could not be asked; ``source`` says why.
        application_arn: the domain's IAM Identity Center application, when ``DescribeDomain`` said it.
    """

    enabled: bool
    source: str
    known: bool = True
    application_arn: Optional[str] = None

    @property
    def label(self) -> str:
        """``"enabled"``, ``"disabled"`` or ``"unknown"``, as recorded in the job's tags."""
        if not self.known:
            return "unknown"
        return "enabled" if self.enabled else "disabled"


def unknown(domain: str, reason: str) -> IdentityPropagation:
    """TIP of ``domain`` could not be read: the rules stay on, and the record says so."""
    return IdentityPropagation(True, f"domain {domain}: {reason}", known=False)


HOW_TO_SAY_IT = (
    "say it with identity_propagation=True or False (patch(identity_propagation=...), s3ag run "
    "--identity-propagation on|off) or TRUSTED_IDENTITY_PROPAGATION_ENABLED=true|false"
)


class _DomainCache:
    """DescribeDomain answers per (region, domain), kept for ``DOMAIN_CACHE_SECONDS``; never a failure."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], tuple[float, IdentityPropagation]] = {}

    def get(self, key: tuple[str, str]) -> Optional[IdentityPropagation]:
        with self._lock:
            hit = self._answers.get(key)
            if hit and hit[0] > time.monotonic():
                return hit[1]
            self._answers.pop(key, None)
            return None

    def put(self, key: tuple[str, str], value: IdentityPropagation) -> None:
        with self._lock:
            if len(self._answers) >= MAX_DOMAINS:  # a long-running process asks about few domains: keep it so
                self._answers.clear()
            self._answers[key] = (time.monotonic() + DOMAIN_CACHE_SECONDS, value)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()


_domains = _DomainCache()


def clear_cache() -> None:
    """Forget cached ``DescribeDomain`` and background-session answers (e.g. after enabling TIP on the domain)."""
    _domains.clear()
    with _sessions_lock:
        _sessions.clear()


def _from_environment() -> Optional[IdentityPropagation]:
    for name in ENV_VARS:
        raw = os.environ.get(name)
        if raw is None or not raw.strip():
            continue
        value = raw.strip().lower()
        if value in _TRUE:
            return IdentityPropagation(True, f"environment {name}")
        if value in _FALSE:
            return IdentityPropagation(False, f"environment {name}")
        warn(f"[s3ag:identity-propagation] {name}={raw!r} is neither true/1/yes/enabled/on nor false/0/no/disabled/off; ignored")
    return None


def studio_metadata() -> dict[str, Any]:
    """The Studio space's metadata file (``DomainId``, ``ExecutionRoleArn``, ...), or ``{}`` outside Studio."""
    path = os.environ.get(METADATA_FILE_ENV) or METADATA_FILE
    try:
        with open(path, encoding="utf-8") as handle:
            metadata = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        logger.info("cannot read the Studio metadata file %s: %s", path, err)
        return {}
    return metadata if isinstance(metadata, dict) else {}


def _studio_domain() -> Optional[str]:
    domain = studio_metadata().get("DomainId")
    return domain if isinstance(domain, str) and domain else None


def _from_domain(domain: str, sagemaker_client: Any, timeout: float) -> IdentityPropagation:
    region = getattr(getattr(sagemaker_client, "meta", None), "region_name", None) or "?"
    key = (region, domain)
    cached = _domains.get(key)
    if cached is not None:
        return cached
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = _asking_client(sagemaker_client, timeout).describe_domain(DomainId=domain)
    except (ClientError, BotoCoreError) as err:
        code = str(err.response.get("Error", {}).get("Code", "")) if isinstance(err, ClientError) else type(err).__name__
        why = "not allowed to call sagemaker:DescribeDomain" if "AccessDenied" in code else f"DescribeDomain failed ({code})"
        logger.info("cannot read TIP of Studio domain %s: %s", domain, err)
        return unknown(domain, why)
    status = ((response.get("DomainSettings") or {}).get("TrustedIdentityPropagationSettings") or {}).get("Status")
    if status not in ("ENABLED", "DISABLED", None):
        return unknown(domain, f"DescribeDomain gave TrustedIdentityPropagationSettings.Status {status!r}")
    application = response.get("SingleSignOnApplicationArn")
    answer = IdentityPropagation(
        status == "ENABLED",
        f"domain {domain} (DescribeDomain)",
        application_arn=application if isinstance(application, str) else None,
    )
    _domains.put(key, answer)
    return answer


def _asking_client(sagemaker_client: Any, timeout: float) -> Any:
    """A SageMaker client with ``sagemaker_client``'s credentials and event hooks as they are now, botocore's
    standard retries and bounded timeouts (made for each look-up: only an answer is cached, for 15 minutes)."""
    if not hasattr(getattr(sagemaker_client, "meta", None), "events"):
        return sagemaker_client  # not a botocore client: asked as it is
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=min(timeout, 3.0), read_timeout=timeout)
    return session_of_client(sagemaker_client).client("sagemaker", config=config)


def detect_identity_propagation(
    setting: Optional[bool], sagemaker_client: Any = None, *, timeout: float = 5.0
) -> IdentityPropagation:
    """Decide whether TIP is on (see the module docstring for the order).

    Args:
        setting: the ``identity_propagation`` setting; ``None`` detects.
        sagemaker_client: a SageMaker client from the user's session, used for ``DescribeDomain``
            only when running in Studio and nothing earlier answered.
        timeout: seconds one ``DescribeDomain`` attempt may take.
    """
    if setting is not None:
        return IdentityPropagation(bool(setting), "setting")
    from_env = _from_environment()
    if from_env is not None:
        return from_env
    domain = _studio_domain()
    if domain is None:
        return IdentityPropagation(False, "not in a SageMaker Studio space")
    if sagemaker_client is None:
        return unknown(domain, "no SageMaker session to ask DescribeDomain with")
    return _from_domain(domain, sagemaker_client, timeout)


# --------------------------------------------------------------------------- user background sessions

_sessions: dict[tuple[str, str], tuple[float, BackgroundSessions]] = {}
BACKGROUND_TIMEOUT_SECONDS = 2.0  # connect and read, one attempt
UNCHECKED_SECONDS = 60.0  # "could not check" is not asked again for a minute
_sessions_lock = threading.Lock()


def background_sessions(
    identity: IdentityPropagation, sagemaker_client: Any, *, timeout: float = 5.0
) -> Optional[BackgroundSessions]:
    """Whether user background sessions are enabled for the Studio domain's IAM Identity Center application.

    Asks ``GetApplicationSessionConfiguration`` with ``sagemaker_client``'s credentials (through an
    ``sso-admin`` client of its session; one attempt, at most 2 seconds to connect and 2 to read). An
    answer is cached for 15 minutes; a failure says "could not check" and is asked again a minute
    later. ``None`` outside a Studio space: a job launched from elsewhere runs on no user session.
    """
    application = identity.application_arn
    if application is None:
        domain = _studio_domain()
        if domain is None:
            return None
        if not identity.known:  # DescribeDomain just failed: not asked again for the same answer
            return BackgroundSessions("unknown", f"could not check: {identity.source}")
        if sagemaker_client is None:
            return BackgroundSessions("unknown", "no SageMaker session to ask DescribeDomain with")
        found = _from_domain(domain, sagemaker_client, timeout)
        application = found.application_arn
        if application is None:
            why = "the domain names no IAM Identity Center application (domains created before October 2023 do not)"
            return BackgroundSessions("unknown", found.source if not found.known else why)
    region = getattr(getattr(sagemaker_client, "meta", None), "region_name", None) or "?"
    key = (region, application)
    with _sessions_lock:
        hit = _sessions.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    # One attempt, short timeouts: a note about the job, never worth holding its launch up for long.
    seconds = min(timeout, BACKGROUND_TIMEOUT_SECONDS)
    config = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=seconds, read_timeout=seconds)
    try:
        client = session_of_client(sagemaker_client).client("sso-admin", config=config)
        response = client.get_application_session_configuration(ApplicationArn=application)
    except AttributeError:
        answer = BackgroundSessions(
            "unknown", "this botocore cannot ask GetApplicationSessionConfiguration (needs 1.40.7 or later)"
        )
        return _remember_sessions(key, answer, DOMAIN_CACHE_SECONDS)
    except (ClientError, BotoCoreError) as err:
        code = str(err.response.get("Error", {}).get("Code", "")) if isinstance(err, ClientError) else type(err).__name__
        why = "not allowed to call sso:GetApplicationSessionConfiguration" if "AccessDenied" in code else f"failed ({code})"
        return _remember_sessions(key, BackgroundSessions("unknown", f"could not check: {why}"), UNCHECKED_SECONDS)
    status = response.get("UserBackgroundSessionApplicationStatus") if isinstance(response, dict) else None
    if status not in ("ENABLED", "DISABLED"):
        answer = BackgroundSessions("unknown", f"GetApplicationSessionConfiguration gave {status!r}")
        return _remember_sessions(key, answer, UNCHECKED_SECONDS)
    answer = BackgroundSessions("enabled" if status == "ENABLED" else "disabled", f"application {application.rsplit('/', 1)[-1]}")
    return _remember_sessions(key, answer, DOMAIN_CACHE_SECONDS)


def _remember_sessions(key: tuple[str, str], answer: BackgroundSessions, seconds: float) -> BackgroundSessions:
    """Cache an answer about background sessions: a read one for 15 minutes, a failure for a minute."""
    with _sessions_lock:
        if len(_sessions) >= MAX_DOMAINS:
            _sessions.clear()
        _sessions[key] = (time.monotonic() + seconds, answer)
    return answer
