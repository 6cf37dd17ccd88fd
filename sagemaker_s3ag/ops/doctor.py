"""Doctor: is S3 Access Grants wired for SageMaker jobs in this account and Region, and do grants govern?

``s3ag doctor --role ARN --prefix s3://bucket/data/`` prints one row per check. A check that could
not run for lack of permission says "could not check", never "ok". From Python::

    from sagemaker_s3ag import doctor
    for check in doctor(boto_session, role_arn=role, prefixes=["s3://bucket/data/"]):
        print(check)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Optional

from sagemaker_s3ag.core.identity import IdentityPropagation, background_sessions, detect_identity_propagation, studio_metadata
from sagemaker_s3ag.core.locations import S3Location
from sagemaker_s3ag.core.preflight import RESOLVER
from sagemaker_s3ag.core.request import parse_s3_uri
from sagemaker_s3ag.core.settings import check_seconds
from sagemaker_s3ag.ops.policy import role_arn as role_arn_for
from sagemaker_s3ag.sdk.installed import V3, installed_version, major
from sagemaker_s3ag.sdk.patch import SUPPORTED, knows

Status = Literal["ok", "warn", "fail", "could not check", "info"]
PLUGIN_ENV = "BOTOCORE_EXPERIMENTAL__PLUGINS"


@dataclass(frozen=True)
class Check:
    """One row of the doctor's verdict.

    Attributes:
        name: what was checked.
        status: ``ok``, ``warn``, ``fail``, ``could not check`` or ``info``.
        detail: what was found, and what to do about it.
        required: whether jobs cannot use S3 Access Grants without it (a failed or unchecked
            required check makes ``s3ag doctor`` exit non-zero).
    """

    name: str
    status: Status
    detail: str
    required: bool = False

    @property
    def blocking(self) -> bool:
        return self.required and self.status in ("fail", "could not check")

    def __str__(self) -> str:
        return f"{self.status:<15} {self.name}: {self.detail}"


def _background_check(tip: IdentityPropagation, sagemaker_client: Any, timeout: float) -> Check:
    """Whether a TIP job launched from this Studio space runs on a user background session."""
    name = "user background sessions"
    if not tip.enabled:
        return Check(name, "info", "not checked: trusted identity propagation is off")
    found = background_sessions(tip, sagemaker_client, timeout=timeout)
    if found is None:
        return Check(name, "info", "not in a SageMaker Studio space: a job launched from here runs on no user session")
    if found.status == "enabled":
        return Check(
            name,
            "ok",
            f"enabled ({found.source}): a TIP job runs for at most the session duration (7 days by default, set in "
            "IAM Identity Center; no API reads it)",
        )
    if found.status == "disabled":
        return Check(
            name,
            "warn",
            f"disabled ({found.source}): a TIP job fails within 15 minutes of your signing out; enable them in "
            "IAM Identity Center for jobs that outlive your session",
        )
    return Check(name, "could not check", found.source)


def _sdk_check() -> Check:
    """Which SageMaker Python SDK this environment has, and whether ``patch()`` knows it."""
    installed = installed_version()
    if not installed:
        return Check("SageMaker Python SDK", "warn", "not installed: pip install sagemaker")
    classes = "GrantAwareModelTrainer, GrantAwareProcessor" if major() >= V3 else "GrantAwareEstimator, GrantAwareProcessor"
    if knows(installed):
        return Check("SageMaker Python SDK", "info", f"sagemaker {installed} (SDK v{major()}): {classes}, grant_aware(), patch()")
    return Check(
        "SageMaker Python SDK",
        "warn",
        f"sagemaker {installed} is not a version patch() knows ({' or '.join(SUPPORTED)}): upgrade sagemaker-s3ag",
    )


def _error_code(err: Exception) -> str:
    return str(getattr(err, "response", {}).get("Error", {}).get("Code", type(err).__name__))


def _denied(err: Exception) -> bool:
    code = _error_code(err)
    return "AccessDenied" in code or code in ("UnauthorizedOperation", "AuthorizationError")


def _simulate(iam: Any, role_arn: str, actions: Sequence[str], resources: Sequence[str]) -> dict[str, bool]:
    """``action -> allowed`` for the role, by IAM's policy simulator (every resource must be allowed)."""
    allowed = {action: True for action in actions}
    paginator = iam.get_paginator("simulate_principal_policy")
    for page in paginator.paginate(PolicySourceArn=role_arn, ActionNames=list(actions), ResourceArns=list(resources)):
        for result in page.get("EvaluationResults", ()):
            if result.get("EvalDecision") != "allowed":
                allowed[result["EvalActionName"]] = False
    return allowed


def _instance_checks(s3control: Any, account: str, region: str, partition: str) -> tuple[list[Check], Optional[str]]:
    try:
        found = s3control.get_access_grants_instance(AccountId=account)
    except Exception as err:
        if _denied(err):
            reason = "not allowed to call s3:GetAccessGrantsInstance"
            return [
                Check("Access Grants instance", "could not check", reason, True),
                Check("IAM Identity Center", "could not check", reason, True),
            ], None
        if "NotFound" in _error_code(err) or "NotExist" in _error_code(err):
            return [
                Check(
                    "Access Grants instance",
                    "fail",
                    f"none in {region} for account {account}: create one "
                    "(aws s3control create-access-grants-instance --identity-center-arn ...)",
                    True,
                ),
                Check("IAM Identity Center", "could not check", "no Access Grants instance", True),
            ], None
        return [Check("Access Grants instance", "could not check", f"failed: {err}", True)], None
    arn = found.get("AccessGrantsInstanceArn") or f"arn:{partition}:s3:{region}:{account}:access-grants/default"
    checks = [Check("Access Grants instance", "ok", arn, True)]
    center = found.get("IdentityCenterArn") or found.get("IdentityCenterInstanceArn")
    if center:
        checks.append(Check("IAM Identity Center", "ok", f"associated with {center}", True))
    else:
        checks.append(
            Check(
                "IAM Identity Center",
                "fail",
                "the instance is not associated with IAM Identity Center: "
                "grants to directory users and groups cannot match (associate-access-grants-identity-center)",
                True,
            )
        )
    return checks, arn


def _role_checks(iam: Any, role_arn: Optional[str], instance_arn: str, grants_role: Optional[str]) -> list[Check]:
    name = "execution role allows S3 Access Grants"
    if not role_arn:
        return [Check(name, "could not check", "no execution role: pass --role ARN", True)]
    try:
        allowed = _simulate(iam, role_arn, ["s3:GetDataAccess", "s3:GetAccessGrantsInstanceForPrefix"], [instance_arn])
        if grants_role:
            allowed.update(_simulate(iam, role_arn, ["sts:SetContext"], [grants_role]))
    except Exception as err:
        reason = "not allowed to call iam:SimulatePrincipalPolicy" if _denied(err) else f"failed: {err}"
        return [Check(name, "could not check", reason, True)]
    missing = [action for action, ok in allowed.items() if not ok]
    if missing:
        return [Check(name, "fail", f"{role_arn} lacks {', '.join(missing)} (see `s3ag policy`)", True)]
    checks = [Check(name, "ok", f"{role_arn} may call {', '.join(allowed)}", True)]
    if not grants_role:
        checks.append(Check("sts:SetContext on the grants role", "could not check", "pass --grants-role to check it"))
    return checks


def _residual_checks(iam: Any, role_arn: Optional[str], prefixes: Iterable[str], partition: str) -> list[Check]:
    checks = []
    for prefix in prefixes:
        name = f"residual S3 access to {prefix}"
        if not role_arn:
            checks.append(Check(name, "could not check", "no execution role: pass --role ARN"))
            continue
        bucket, key = parse_s3_uri(prefix)
        objects = f"arn:{partition}:s3:::{bucket}/{key}*"
        try:
            allowed = _simulate(iam, role_arn, ["s3:GetObject", "s3:PutObject"], [objects])
            allowed.update(_simulate(iam, role_arn, ["s3:ListBucket"], [f"arn:{partition}:s3:::{bucket}"]))
        except Exception as err:
            reason = "not allowed to call iam:SimulatePrincipalPolicy" if _denied(err) else f"failed: {err}"
            checks.append(Check(name, "could not check", reason))
            continue
        direct = [action for action, ok in allowed.items() if ok]
        if direct:
            checks.append(
                Check(
                    name,
                    "warn",
                    f"the role itself may {', '.join(direct)}: a job whose grant fails "
                    "falls back and still succeeds, so grants do not govern it; remove these permissions",
                )
            )
        else:
            checks.append(Check(name, "ok", "the role has no S3 access of its own here: only grants let jobs in"))
    return checks


def _grant_checks(boto_session: Any, prefixes: Sequence[str], timeout: float) -> list[Check]:
    if not prefixes:
        return []
    outcomes = RESOLVER.resolve(
        boto_session,
        [S3Location(prefix, "READ", prefix) for prefix in prefixes],
        timeout=timeout,
        audit_context="sagemaker-s3ag doctor",
    )
    status: dict[str, Status] = {"granted": "ok", "fallback": "warn", "unknown": "could not check"}
    return [
        Check(
            f"your grant on {o.uri}",
            "could not check" if o.reason.startswith("caller may not call") else status[o.outcome],
            o.reason + (f" (grant {o.grant_target}, {o.grantee_type})" if o.grant_target else ""),
        )
        for o in outcomes
    ]


def doctor(
    boto_session: Any,
    *,
    role_arn: Optional[str] = None,
    prefixes: Sequence[str] = (),
    grants_role: Optional[str] = None,
    account_id: Optional[str] = None,
    timeout: float = 5.0,
) -> list[Check]:
    """Every check, in order. All AWS calls go through ``boto_session``.

    Args:
        boto_session: the ``boto3.Session`` to check with (its Region is the one checked).
        role_arn: the SageMaker execution role (default: the Studio space's, if known).
        prefixes: S3 prefixes jobs read or write (``s3://bucket/prefix/``).
        grants_role: the Access Grants location role (name or ARN), to check ``sts:SetContext`` on it.
        account_id: the account (default: the caller's).
    """
    check_seconds(timeout, "timeout")
    region = boto_session.region_name
    role_arn = role_arn or studio_metadata().get("ExecutionRoleArn")
    for prefix in prefixes:
        parse_s3_uri(prefix)  # a malformed prefix is the caller's mistake: ValueError
    checks: list[Check] = []
    sagemaker_client = boto_session.client("sagemaker")
    tip = detect_identity_propagation(None, sagemaker_client)
    checks.append(Check("trusted identity propagation", "info", f"{tip.label} ({tip.source})"))
    checks.append(_background_check(tip, sagemaker_client, timeout))
    plugin = os.environ.get(PLUGIN_ENV, "")
    checks.append(
        Check(
            "boto3 Access Grants plugin",
            "info",
            f"configured in {PLUGIN_ENV}: this kernel's own S3 calls use your grants"
            if "S3AccessGrantsPlugin" in plugin
            else f"not configured ({PLUGIN_ENV} unset): this kernel's own S3 calls use its IAM credentials",
        )
    )
    checks.append(_sdk_check())
    if account_id is None:
        try:
            account_id = boto_session.client("sts").get_caller_identity()["Account"]
        except Exception as err:
            checks.append(Check("caller", "could not check", f"GetCallerIdentity failed: {err}", True))
            return checks
    partition = boto_session.get_partition_for_region(region) or "aws"
    if grants_role:
        grants_role = role_arn_for(grants_role, account_id, partition)
    instance_checks, instance_arn = _instance_checks(boto_session.client("s3control"), account_id, region, partition)
    checks.extend(instance_checks)
    iam = boto_session.client("iam")
    checks.extend(
        _role_checks(
            iam, role_arn, instance_arn or f"arn:{partition}:s3:{region}:{account_id}:access-grants/default", grants_role
        )
    )
    checks.extend(_residual_checks(iam, role_arn, prefixes, partition))
    checks.extend(_grant_checks(boto_session, prefixes, timeout))
    return checks
