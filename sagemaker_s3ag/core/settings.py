"""Settings: how a grant-aware job reacts to the S3 Access Grants rules.

The same keywords work on every grant-aware class and on ``patch()``::

    est = GrantAwareEstimator(..., identity_propagation=None, on_violation="fix",
                              on_fallback="warn", pipe_mode_replacement="File")
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, Optional

from sagemaker_s3ag.core.considerations import DEFAULT_BACKGROUND_SESSION_SECONDS, check_background_session_duration

OnViolation = Literal["fix", "error"]
OnFallback = Literal["allow", "warn", "deny"]
PipeModeReplacement = Literal["File", "FastFile"]
ScriptLocations = Literal["warn", "deny"]

MAX_PREFLIGHT_SECONDS = 600.0
NEAR_MISS = 0.8  # difflib's ratio above which a keyword is taken for a misspelt setting

_CHOICES: dict[str, tuple[Any, ...]] = {
    "identity_propagation": (True, False, None),
    "on_violation": ("fix", "error"),
    "on_fallback": ("allow", "warn", "deny"),
    "pipe_mode_replacement": ("File", "FastFile"),
    "script_locations": ("warn", "deny"),
}


def check_seconds(value: Any, name: str) -> float:
    """``value`` as a number of seconds above 0 and at most :data:`MAX_PREFLIGHT_SECONDS` (NaN and infinity are not).

    Raises:
        ValueError: naming ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_PREFLIGHT_SECONDS:
        raise ValueError(f"{name} must be a number of seconds above 0 and at most {MAX_PREFLIGHT_SECONDS:g}, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class Settings:
    """What a grant-aware job does when it meets an S3 Access Grants rule.

    Attributes:
        identity_propagation: ``True`` / ``False`` to say whether the Studio domain has trusted
            identity propagation on; ``None`` (default) detects it (environment, then the Studio
            metadata file plus ``DescribeDomain``, else off).
        on_violation: ``"fix"`` (default) repairs what can be repaired and warns when that changes
            something you asked for; ``"error"`` refuses the job instead.
        on_fallback: ``"allow"``, ``"warn"`` (default) or ``"deny"`` when a location would be read or
            written with the IAM execution role instead of your grant.
        pipe_mode_replacement: ``"File"`` (default) or ``"FastFile"``: what replaces Pipe mode on a
            training channel. Processing inputs only have ``"File"``.
        preflight_timeout: seconds the whole Access Grants preflight may take.
        script_locations: ``"warn"`` (default) or ``"deny"``: S3 URIs in hyperparameters and
            environment variables are read by your code with the IAM role; ``"deny"`` refuses such a
            job under ``on_fallback="deny"`` (by default it is only warned about, since a string that
            looks like a URI may never be read).
        background_session_duration: seconds your IAM Identity Center instance keeps a user
            background session (AWS has no API for it): 7 days by default, 15 minutes to 90 days. A
            job that may run longer is warned about.
    """

    identity_propagation: Optional[bool] = None
    on_violation: OnViolation = "fix"
    on_fallback: OnFallback = "warn"
    pipe_mode_replacement: PipeModeReplacement = "File"
    preflight_timeout: float = 5.0
    script_locations: ScriptLocations = "warn"
    background_session_duration: float = DEFAULT_BACKGROUND_SESSION_SECONDS

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if not any(value is a or (isinstance(a, str) and value == a) for a in allowed):
                shown = ", ".join(repr(a) for a in allowed)
                raise ValueError(f"{name} must be one of {shown}, not {value!r}")
        check_seconds(self.preflight_timeout, "preflight_timeout")
        check_background_session_duration(self.background_session_duration)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The keyword names a grant-aware class or ``patch()`` accepts."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def check_near_misses(cls, keywords: Iterable[str]) -> None:
        """Refuse a keyword that is a near miss of a setting (``on_fallbak``, ``identity_propogation``).

        SDK v2 estimators take any keyword and drop the ones they do not know, so a misspelt
        setting would be ignored without a word.

        Raises:
            TypeError: naming the keyword and the setting meant.
        """
        names = cls.names()
        for keyword in keywords:
            if keyword in names:
                continue
            meant = difflib.get_close_matches(keyword, names, n=1, cutoff=NEAR_MISS)
            if meant:
                raise TypeError(f"unexpected keyword argument {keyword!r}: did you mean the sagemaker-s3ag setting {meant[0]!r}?")


_ORDER: dict[str, tuple[str, ...]] = {"on_violation": ("fix", "error"), "on_fallback": ("allow", "warn", "deny")}


def strictest(all_settings: Sequence[Settings]) -> Settings:
    """One set of settings for several owners (a multi-algorithm tuner): the strictest of each.

    TIP is on if any says so, detected if any detects it; Pipe becomes FastFile only if all agree.
    """
    if not all_settings:
        raise ValueError("strictest() needs at least one Settings")
    detect = any(s.identity_propagation is None for s in all_settings)
    return Settings(
        identity_propagation=True if any(s.identity_propagation for s in all_settings) else None if detect else False,
        on_violation=max((s.on_violation for s in all_settings), key=_ORDER["on_violation"].index),
        on_fallback=max((s.on_fallback for s in all_settings), key=_ORDER["on_fallback"].index),
        pipe_mode_replacement="FastFile" if all(s.pipe_mode_replacement == "FastFile" for s in all_settings) else "File",
        preflight_timeout=max(s.preflight_timeout for s in all_settings),
        script_locations="deny" if any(s.script_locations == "deny" for s in all_settings) else "warn",
        background_session_duration=min(s.background_session_duration for s in all_settings),
    )
