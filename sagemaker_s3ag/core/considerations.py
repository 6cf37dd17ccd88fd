"""Considerations: what AWS documents for TIP jobs beyond the request rules, checked on each job.

The rules (:mod:`sagemaker_s3ag.core.rules`) fix or refuse what a request asks for. These say what
the job will meet when it runs, and are recorded and announced (each has an id, like a rule):

* ``background-session``: a TIP job runs on the user's background session: it lasts the lower of
  ``MaxRuntimeInSeconds`` (``MaxWaitTimeInSeconds`` for managed spot) and the session duration (7
  days by default, 15 minutes to 90 days); with background sessions disabled it fails within 15
  minutes of the user signing out;
* ``directory-bucket``: S3 Express One Zone directory buckets (``…--x-s3``) do not support S3
  Access Grants: such a location falls back, without asking (:func:`~sagemaker_s3ag.core.locations.questions`);
* ``script-locations``: S3 URIs in hyperparameters and environment variables are read by the job's own
  code with standard S3 calls, which do not use S3 Access Grants: they are listed as read with the
  role;
* ``tuning``: hyperparameter tuning is not on AWS's list of TIP-compatible features: whether its
  training jobs read with the user's grants is not documented, so it is recorded ``unknown``.

In a notebook::

    from sagemaker_s3ag.core.considerations import CONSIDERATIONS
    [c.id for c in CONSIDERATIONS]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Optional

from sagemaker_s3ag.core.findings import Finding
from sagemaker_s3ag.core.locations import S3Location
from sagemaker_s3ag.core.request import JobType, as_mapping, s3_uri_of, tuning_definitions

DEFAULT_BACKGROUND_SESSION_SECONDS = 7 * 86_400
MIN_BACKGROUND_SESSION_SECONDS = 15 * 60
MAX_BACKGROUND_SESSION_SECONDS = 90 * 86_400
DEFAULT_TRAINING_RUNTIME_SECONDS = 86_400  # CreateTrainingJob's default MaxRuntimeInSeconds: 1 day
MAX_SCRIPT_LOCATIONS = 50  # listed per job at most (hyperparameters can be many and long)
_URI = re.compile(r"\b(?:s3://|https://)[^\s'\",;()\[\]{}<>]+")

BackgroundStatus = Literal["enabled", "disabled", "unknown"]


@dataclass(frozen=True)
class Consideration:
    """One documented TIP consideration: an id for tags and warnings, and what sagemaker-s3ag does."""

    id: str
    title: str
    summary: str
    does: str
    source: str


CONSIDERATIONS: tuple[Consideration, ...] = (
    Consideration(
        "background-session",
        "User background sessions",
        "A TIP job runs for the lower of MaxRuntimeInSeconds (MaxWaitTimeInSeconds with managed spot) and the "
        "user background session duration (7 days by default; 15 minutes to 90 days); with background sessions "
        "disabled, it fails within 15 minutes of the user signing out.",
        "Reads whether background sessions are enabled for the Studio domain's IAM Identity Center application "
        "(GetApplicationSessionConfiguration, with your credentials; 'could not check' when refused). Warns when they "
        "are disabled, and when the job may run longer than background_session_duration (default 7 days: AWS has no "
        "API for the duration). Also a check of s3ag doctor.",
        "https://docs.aws.amazon.com/sagemaker/latest/dg/trustedidentitypropagation-user-background-sessions.html",
    ),
    Consideration(
        "directory-bucket",
        "Directory buckets",
        "S3 Express One Zone directory buckets (names ending --x-s3) do not support S3 Access Grants.",
        "Such a location is fallback, reason 'a directory bucket', without a call.",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-express-differences.html",
    ),
    Consideration(
        "script-locations",
        "Reads your code makes",
        "S3 URIs in HyperParameters and Environment are read by your script with standard S3 calls, which do not "
        "use S3 Access Grants unless the code uses an Access Grants plugin.",
        "Listed in the plan and decision as 'role (read by your code)' and counted in s3ag:fallback; one warning per "
        "job under on_fallback='warn'; refused under on_fallback='deny' only with script_locations='deny' (a string "
        "that looks like a URI may never be read).",
        "https://docs.aws.amazon.com/sagemaker/latest/dg/trustedidentitypropagation-s3-access-grants.html",
    ),
    Consideration(
        "tuning",
        "Hyperparameter tuning",
        "Hyperparameter tuning is not on AWS's list of TIP-compatible SageMaker features; whether its training "
        "jobs read S3 with the user's grants is not documented.",
        "The tuning job is recorded s3ag:credentials=unknown (iam-role when every location falls back: the role "
        "either way; the preflight still shows each location) and warned about; refused under on_fallback='deny', "
        "which needs a proven grant.",
        "https://docs.aws.amazon.com/sagemaker/latest/dg/trustedidentitypropagation-compatibility.html",
    ),
)


# --------------------------------------------------------------------------- reads the job's own code makes


def script_locations(request: Mapping[str, Any], job_type: JobType) -> list[S3Location]:
    """The S3 locations named in the job's hyperparameters and environment variables (at most 50).

    Each is ``S3Location(where, "READ", s3_uri, kind)``: kind ``"script"`` for a value you set, and
    ``"code"`` for a location the SDK sets for its training toolkit (``sagemaker_submit_directory``,
    the source code it downloads; ``sagemaker_s3_output``), used with the role: listed, never warned
    about or refused. https S3 URLs
    are given as the s3:// URI they name. Pipeline values and non-strings are passed over.
    """
    maps: list[tuple[str, Any]] = []
    if job_type == "tuning":
        for place, definition in tuning_definitions(request):
            maps += [(f"{place}.StaticHyperParameters", definition.get("StaticHyperParameters"))]
            maps += [(f"{place}.Environment", definition.get("Environment"))]
    else:
        if job_type == "training":
            maps.append(("HyperParameters", request.get("HyperParameters")))
        maps.append(("Environment", request.get("Environment")))
    found: dict[str, S3Location] = {}
    for place, values in maps:
        for key, value in as_mapping(values).items():
            if not isinstance(value, str):
                continue
            for match in _URI.findall(value[:4096]):
                if len(found) >= MAX_SCRIPT_LOCATIONS:
                    return list(found.values())
                try:
                    uri = s3_uri_of(match.rstrip(".:"))
                except ValueError:
                    continue  # an https URL that is not S3, or no bucket
                kind = "code" if key in _TOOLKIT_KEYS else "script"
                found.setdefault(uri, S3Location(f"{place}[{key}]", "READ", uri, kind))
    return list(found.values())


SCRIPT_REASON = "read by your code with the IAM role: standard S3 calls do not use S3 Access Grants"
CODE_REASON = "set by the SageMaker SDK for its training toolkit, which uses it with the IAM role"
# Hyperparameters the SDK itself sets, used by the training toolkit in the container, not by your
# code: the source code it downloads (every framework estimator), the output RL jobs write (RLEstimator).
_TOOLKIT_KEYS = frozenset({"sagemaker_submit_directory", "sagemaker_s3_output"})


def reader(outcome_reason: str) -> str:
    """Who uses a location of :func:`script_locations`, from its reason: for the plan's first column."""
    return "role (the SageMaker training toolkit)" if outcome_reason == CODE_REASON else "role (read by your code)"


# --------------------------------------------------------------------------- background sessions


@dataclass(frozen=True)
class BackgroundSessions:
    """Whether user background sessions are enabled for the Studio domain's Identity Center application.

    Attributes:
        status: ``enabled``, ``disabled`` or ``unknown`` (could not check).
        source: where that was read, or why it could not be.
    """

    status: BackgroundStatus
    source: str


def check_background_session_duration(value: Any) -> float:
    """``value`` as a background session duration in seconds: 15 minutes to 90 days, as IAM Identity Center allows.

    Raises:
        ValueError: naming the setting.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (MIN_BACKGROUND_SESSION_SECONDS <= value <= MAX_BACKGROUND_SESSION_SECONDS)
    ):
        raise ValueError(
            f"background_session_duration must be a number of seconds from 900 (15 minutes) to 7776000 (90 days), not {value!r}"
        )
    return float(value)


def runtime(request: Mapping[str, Any], job_type: JobType) -> tuple[Optional[int], str]:
    """How long the job may run (seconds) and the field that says so; ``None`` when unbounded or unknown."""
    stopping = as_mapping(request.get("StoppingCondition"))
    if job_type == "training":
        if request.get("EnableManagedSpotTraining") is True and _seconds(stopping.get("MaxWaitTimeInSeconds")):
            return stopping["MaxWaitTimeInSeconds"], "StoppingCondition.MaxWaitTimeInSeconds"
        value = stopping.get("MaxRuntimeInSeconds")
        if value is None:
            return DEFAULT_TRAINING_RUNTIME_SECONDS, "StoppingCondition.MaxRuntimeInSeconds (default: 1 day)"
        return (value, "StoppingCondition.MaxRuntimeInSeconds") if _seconds(value) else (None, "")
    if job_type == "processing":
        value = stopping.get("MaxRuntimeInSeconds")
        return (value, "StoppingCondition.MaxRuntimeInSeconds") if _seconds(value) else (None, "")
    return None, ""


def _seconds(value: Any) -> bool:
    """Whether ``value`` is a duration the API takes: a whole number of seconds, not a bool (botocore refuses the rest)."""
    return isinstance(value, int) and not isinstance(value, bool)


def background_findings(
    request: Mapping[str, Any], job_type: JobType, background: Optional[BackgroundSessions], duration: float
) -> list[Finding]:
    """What the user's background session means for this job (a TIP job launched by hand)."""
    findings: list[Finding] = []
    if background is not None and background.status == "disabled":
        findings.append(
            Finding(
                "background-session",
                "noted",
                "(IAM Identity Center)",
                f"user background sessions are disabled ({background.source}): the job runs on your interactive "
                "session and fails within 15 minutes of your signing out or the session being revoked",
            )
        )
    elif background is not None and background.status == "unknown":
        findings.append(
            Finding(
                "background-session",
                "noted",
                "(IAM Identity Center)",
                f"could not check whether user background sessions are enabled ({background.source})",
                explicit=False,
            )
        )
    seconds, where = runtime(request, job_type)
    if seconds is not None and seconds > duration and (background is None or background.status != "disabled"):
        findings.append(
            Finding(
                "background-session",
                "noted",
                where.split(" ")[0],
                f"the job may run {_days(seconds)}, longer than your user background session ({_days(duration)}"
                f"{', the default' if duration == DEFAULT_BACKGROUND_SESSION_SECONDS else ''}): it fails when the session "
                "expires. Lower it, or pass background_session_duration= if your IAM Identity Center instance sets a longer one",
            )
        )
    return findings


def tuning_finding() -> Finding:
    """The note on a tuning job launched with TIP on."""
    return Finding(
        "tuning",
        "noted",
        "(tuning job)",
        "hyperparameter tuning is not on AWS's list of TIP-compatible features: whether its training jobs read S3 "
        "with your grants is not documented, so the job is recorded s3ag:credentials=unknown",
    )


def _days(seconds: float) -> str:
    if seconds >= 10**12:  # beyond what a float divides exactly (and any runtime SageMaker takes)
        return "more than 30,000 years"
    if seconds >= 86_400:
        value = seconds / 86_400
        return f"{value:g} day{'s' if value != 1 else ''}"
    value = seconds / 3600
    return f"{value:g} hour{'s' if value != 1 else ''}"
