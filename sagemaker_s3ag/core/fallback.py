"""Fallback: what ``on_fallback`` does when a location would not be read with the user's grant.

* ``"allow"``: recorded on the job, nothing else;
* ``"warn"`` (default): recorded, and one :class:`GrantAwareWarning` per job lists the locations;
* ``"deny"``: :class:`GrantFallbackError` lists them and the job is not created. A location whose
  answer is ``unknown`` is refused too: it cannot be proven to use a grant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from sagemaker_s3ag.core.errors import GrantFallbackError
from sagemaker_s3ag.core.findings import Finding
from sagemaker_s3ag.core.outcomes import LocationOutcome


def _listing(outcomes: Sequence[LocationOutcome]) -> str:
    return "\n".join(f"  - {o}" for o in outcomes)


def check_fallback(outcomes: Sequence[LocationOutcome], on_fallback: str, job: str) -> Optional[str]:
    """Apply ``on_fallback``; returns the warning text for ``"warn"`` (or ``None``).

    Raises:
        GrantFallbackError: ``on_fallback="deny"`` and some location is not ``granted``.
    """
    misses = [o for o in outcomes if o.outcome != "granted"]
    if not misses or on_fallback == "allow":
        return None
    if on_fallback == "deny":
        findings = [Finding("fallback", "refused", ", ".join(o.places) or o.uri, str(o)) for o in misses]
        raise GrantFallbackError(
            f"{job} would not use your S3 Access Grants for {len(misses)} of {len(outcomes)} S3 location"
            f"{'s' if len(outcomes) > 1 else ''} (on_fallback='deny'; nothing was created):\n{_listing(misses)}\n"
            "Ask for a grant on these prefixes, or pass on_fallback='warn' to launch anyway with the IAM role.",
            locations=[(o.uri, o.permission) for o in misses],
            findings=findings,
        )
    return (
        f"[s3ag:fallback] {job}: {len(misses)} of {len(outcomes)} S3 location"
        f"{'s' if len(outcomes) > 1 else ''} will not use your S3 Access Grants; SageMaker falls back to the "
        f"IAM execution role (or cannot tell):\n{_listing(misses)}"
    )


def check_scripts(scripts: Sequence[LocationOutcome], on_fallback: str, script_locations: str, job: str) -> Optional[str]:
    """Apply ``on_fallback`` to the S3 URIs the job's own code names; returns the warning text, or ``None``.

    They are refused only when both ``on_fallback="deny"`` and ``script_locations="deny"``: a string
    that looks like a URI may never be read.

    Raises:
        GrantFallbackError: ``on_fallback="deny"`` and ``script_locations="deny"``.
    """
    if not scripts or on_fallback == "allow":
        return None
    listing = "\n".join(f"  - {o.uri} ({', '.join(o.places)})" for o in scripts)
    if on_fallback == "deny" and script_locations == "deny":
        raise GrantFallbackError(
            f"[s3ag:script-locations] {job}: your code names {len(scripts)} S3 location{'s' if len(scripts) > 1 else ''} "
            "it would read with the IAM role, since standard S3 calls do not use S3 Access Grants (on_fallback='deny', "
            f"script_locations='deny'; nothing was created):\n{listing}\nRead them through an Access Grants plugin in "
            "your code and pass script_locations='warn', or remove them.",
            locations=[(o.uri, o.permission) for o in scripts],
            findings=[Finding("script-locations", "refused", ", ".join(o.places), o.uri) for o in scripts],
        )
    return (
        f"[s3ag:script-locations] {job}: your code names {len(scripts)} S3 location{'s' if len(scripts) > 1 else ''}, "
        "which it reads with the IAM role (standard S3 calls do not use S3 Access Grants unless your code uses an "
        f"Access Grants plugin):\n{listing}"
    )
