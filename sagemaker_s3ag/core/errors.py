"""Exceptions and warnings raised by sagemaker-s3ag.

The tree, drawn once::

    SageMakerS3agError                     base of everything we raise
    ├── ConsiderationError(ValueError)     a job breaks an S3 Access Grants rule and is not sent
    │   └── GrantFallbackError             a job would read or write S3 with the IAM role
    ├── JobRecordNotFound(LookupError)     describe_job() found no such job
    └── UnsupportedSDKError(RuntimeError)  patch() does not know the installed SDK; nothing was patched

    GrantAwareWarning(UserWarning)         something you asked for was changed, or could not be decided

Catch with ``isinstance``; every error carries its context as attributes, so a
notebook can react without parsing messages::

    try:
        est.fit({"train": "s3://bucket/train/"})
    except ConsiderationError as err:
        print(err.rule, err.findings)
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sagemaker_s3ag.core.findings import Finding


class SageMakerS3agError(Exception):
    """Base class of every error sagemaker-s3ag raises."""


class ConsiderationError(SageMakerS3agError, ValueError):
    """A job breaks a rule for S3 Access Grants under trusted identity propagation.

    Raised before anything is uploaded and before any ``Create*`` call.

    Attributes:
        rule: the id of the first rule that refused the job (``"pipe-mode"``, ``"debugger"``,
            ``"profiler"``, ``"remote-debug"``, ``"dataset-definition"``, ``"s3-uri"``,
            ``"tags"``, ``"fallback"``, ``"identity-propagation"`` (TIP unknown under
            ``on_fallback="deny"``) or ``"pipeline-definition"``).
        findings: every refusal found in the job, first one first.
    """

    def __init__(self, message: str, *, rule: str, findings: Sequence[Finding] = ()) -> None:
        super().__init__(message)
        self.rule = rule
        self.findings: tuple[Finding, ...] = tuple(findings)


class GrantFallbackError(ConsiderationError):
    """With ``on_fallback="deny"``, a job would use the IAM execution role instead of a grant.

    Attributes:
        locations: the S3 locations (URI, permission) that would not be read or written
            with the user's S3 Access Grant.
    """

    def __init__(
        self,
        message: str,
        *,
        locations: Sequence[tuple[str, str]] = (),
        findings: Sequence[Finding] = (),
    ) -> None:
        super().__init__(message, rule="fallback", findings=findings)
        self.locations: tuple[tuple[str, str], ...] = tuple(locations)


class JobRecordNotFound(SageMakerS3agError, LookupError):
    """No training or processing job of that name exists in the session's account and Region."""

    def __init__(self, job_name: str) -> None:
        super().__init__(f"no training or processing job named {job_name!r} was found")
        self.job_name = job_name


class UnsupportedSDKError(SageMakerS3agError, RuntimeError):
    """``patch()`` does not know the installed SageMaker SDK; nothing was patched."""


class GrantAwareWarning(UserWarning):
    """sagemaker-s3ag changed something you asked for, or could not decide something.

    The message always names the rule. Silence one rule in a notebook with::

        import warnings
        warnings.filterwarnings("ignore", message=r"\\[s3ag:pipe-mode\\]", category=GrantAwareWarning)
    """


_LIBRARY_MODULES = (
    "sagemaker",
    "sagemaker_s3ag",
    "wrapt",
    "botocore",
    "boto3",
    "concurrent",
    "threading",
    "pydantic",
    "pydantic_core",
)


def warn(message: str) -> None:
    """Issue a :class:`GrantAwareWarning` that points at the user's own line (the ``fit()`` call)."""
    frame: FrameType | None = sys._getframe(1)  # our caller; warnings.warn's stacklevel counts from warn() itself
    level = 2
    while frame is not None and (frame.f_globals.get("__name__") or "").split(".")[0] in _LIBRARY_MODULES:
        frame = frame.f_back
        level += 1
    warnings.warn(message, GrantAwareWarning, stacklevel=level if frame is not None else 2)
