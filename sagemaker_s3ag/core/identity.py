"""Identity propagation: whether the Studio domain has trusted identity propagation (TIP) on.

Decided in this order, first answer wins:

1. the ``identity_propagation=`` setting (``True`` / ``False``);
2. ``TRUSTED_IDENTITY_PROPAGATION_ENABLED``, then ``TRUSTED_IDENTITY_PROPOGATION_ENABLED`` (the spelling
   Studio itself exports): ``true/1/yes/enabled/on`` or ``false/0/no/disabled/off``, any case;
3. the Studio metadata file (``/opt/ml/metadata/resource-metadata.json``) names a domain, and
   ``DescribeDomain`` says ``TrustedIdentityPropagationSettings.Status`` (cached per domain);
4. otherwise off.

When ``DescribeDomain`` is refused, a single :class:`GrantAwareWarning` says how to set it by hand.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

from sagemaker_s3ag.core.errors import warn

logger = logging.getLogger(__name__)

ENV_VARS = ("TRUSTED_IDENTITY_PROPAGATION_ENABLED", "TRUSTED_IDENTITY_PROPOGATION_ENABLED")
METADATA_FILE_ENV = "S3AG_STUDIO_METADATA_FILE"
METADATA_FILE = "/opt/ml/metadata/resource-metadata.json"
DOMAIN_CACHE_SECONDS = 900.0

_TRUE = frozenset({"true", "1", "yes", "enabled", "on"})
_FALSE = frozenset({"false", "0", "no", "disabled", "off"})


@dataclass(frozen=True)
class IdentityPropagation:
    """Whether TIP is on for a job, and how that was decided.

    Attributes:
        enabled: ``True`` when the rules apply.
        source: where the answer came from, for a person (``"setting"``, ``"environment
            TRUSTED_IDENTITY_PROPOGATION_ENABLED"``, ``"domain d-abc (DescribeDomain)"``, ...).
    """

    enabled: bool
    source: str

    @property
    def label(self) -> str:
        """``"enabled"`` or ``"disabled"``, as recorded in the job's tags."""
        return "enabled" if self.enabled else "disabled"


class _DomainCache:
    """DescribeDomain answers per (region, domain), kept for ``DOMAIN_CACHE_SECONDS``; one warning per key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], tuple[float, IdentityPropagation]] = {}
        self._warned: set[tuple[str, str]] = set()

    def get(self, key: tuple[str, str]) -> Optional[IdentityPropagation]:
        with self._lock:
            hit = self._answers.get(key)
            if hit and hit[0] > time.monotonic():
                return hit[1]
            return None

    def put(self, key: tuple[str, str], value: IdentityPropagation) -> None:
        with self._lock:
            self._answers[key] = (time.monotonic() + DOMAIN_CACHE_SECONDS, value)

    def first_warning(self, key: tuple[str, str]) -> bool:
        with self._lock:
            if key in self._warned:
                return False
            self._warned.add(key)
            return True

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
            self._warned.clear()


_domains = _DomainCache()


def clear_cache() -> None:
    """Forget cached ``DescribeDomain`` answers and warnings (e.g. after enabling TIP on the domain)."""
    _domains.clear()


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
        warn(
            f"[s3ag:identity-propagation] {name}={raw!r} is neither true/1/yes/enabled/on nor "
            "false/0/no/disabled/off; ignored"
        )
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


def _from_domain(domain: str, sagemaker_client: Any) -> IdentityPropagation:
    region = getattr(getattr(sagemaker_client, "meta", None), "region_name", None) or "?"
    key = (region, domain)
    cached = _domains.get(key)
    if cached is not None:
        return cached
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = sagemaker_client.describe_domain(DomainId=domain)
    except (ClientError, BotoCoreError) as err:
        code = err.response.get("Error", {}).get("Code", "") if isinstance(err, ClientError) else ""
        reason = "is not allowed to call sagemaker:DescribeDomain" if "AccessDenied" in code else f"failed ({err})"
        if _domains.first_warning(key):
            warn(
                f"[s3ag:identity-propagation] cannot tell whether Studio domain {domain} has trusted identity "
                f"propagation on: the session {reason}. Treating it as off. Say it yourself with "
                "identity_propagation=True (or set TRUSTED_IDENTITY_PROPAGATION_ENABLED=true)."
            )
        refused = IdentityPropagation(False, f"domain {domain}: DescribeDomain {code or 'failed'}, assumed off")
        if "AccessDenied" in code:
            _domains.put(key, refused)  # asking again each fit() would be refused again
        return refused
    status = (
        (response.get("DomainSettings") or {}).get("TrustedIdentityPropagationSettings") or {}
    ).get("Status")
    answer = IdentityPropagation(status == "ENABLED", f"domain {domain} (DescribeDomain)")
    _domains.put(key, answer)
    return answer


def detect_identity_propagation(setting: Optional[bool], sagemaker_client: Any = None) -> IdentityPropagation:
    """Decide whether TIP is on (see the module docstring for the order).

    Args:
        setting: the ``identity_propagation`` setting; ``None`` detects.
        sagemaker_client: a SageMaker client from the user's session, used for ``DescribeDomain``
            only when running in Studio and nothing earlier answered.
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
        return IdentityPropagation(False, f"domain {domain}: no session to ask, assumed off")
    return _from_domain(domain, sagemaker_client)
