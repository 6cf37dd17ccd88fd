"""Policy: the IAM policy AWS documents for a job's execution role under S3 Access Grants with TIP.

In a notebook::

    import json
    from sagemaker_s3ag import execution_role_policy
    print(json.dumps(execution_role_policy("us-east-1", "111122223333", "S3AccessGrantsLocationRole"), indent=2))

Source: https://docs.aws.amazon.com/sagemaker/latest/dg/trustedidentitypropagation-s3-access-grants-jobs.html
"""

from __future__ import annotations

import re
from typing import Any

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ROLE_NAME = re.compile(r"^[\w+=,.@/-]{1,512}$")


def _checked_partition(region: str, account_id: str) -> str:
    """The partition of ``region``, once the Region and account id are known to be well formed."""
    if not _REGION.match(region or ""):
        raise ValueError(f"{region!r} is not an AWS Region name such as 'us-east-1'")
    if not _ACCOUNT.match(account_id or ""):
        raise ValueError(f"{account_id!r} is not a 12-digit AWS account id")
    from botocore.session import Session

    return Session().get_partition_for_region(region) or "aws"


def role_arn(grants_role: str, account_id: str, partition: str = "aws") -> str:
    """``grants_role`` as an ARN: an ARN is kept, a name (or ``path/name``) is completed."""
    if grants_role.startswith("arn:"):
        return grants_role
    if not _ROLE_NAME.match(grants_role):
        raise ValueError(f"{grants_role!r} is neither an IAM role ARN nor a role name")
    return f"arn:{partition}:iam::{account_id}:role/{grants_role.lstrip('/')}"


def execution_role_policy(region: str, account_id: str, grants_role: str) -> dict[str, Any]:
    """The policy a SageMaker execution role needs to reach S3 through S3 Access Grants with TIP.

    Two statements, as AWS documents them: ``s3:GetDataAccess`` and
    ``s3:GetAccessGrantsInstanceForPrefix`` on the Region's Access Grants instance, and
    ``sts:SetContext`` on the role S3 Access Grants assumes for your locations.

    Args:
        region: e.g. ``"us-east-1"``.
        account_id: the 12-digit account that owns the Access Grants instance.
        grants_role: the Access Grants location role, as a name or an ARN.

    Raises:
        ValueError: a malformed Region, account id or role.
    """
    partition = _checked_partition(region, account_id)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowDataAccessAPI",
                "Effect": "Allow",
                "Action": ["s3:GetDataAccess", "s3:GetAccessGrantsInstanceForPrefix"],
                "Resource": [f"arn:{partition}:s3:{region}:{account_id}:access-grants/default"],
            },
            {
                "Sid": "RequiredForIdentificationPropagation",
                "Effect": "Allow",
                "Action": "sts:SetContext",
                "Resource": role_arn(grants_role, account_id, partition),
            },
        ],
    }


def access_grants_trust_policy(region: str, account_id: str) -> dict[str, Any]:
    """The trust policy of the role S3 Access Grants assumes for a location (the "location role").

    S3 Access Grants (``access-grants.s3.amazonaws.com``) may assume it, set the identity context
    (``sts:SetContext``, for directory users and groups, i.e. TIP) and the source identity
    (``sts:SetSourceIdentity``, for IAM principals), for this account's instance only.
    """
    partition = _checked_partition(region, account_id)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccessGrantsAssumesThisRole",
                "Effect": "Allow",
                "Principal": {"Service": "access-grants.s3.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:SetContext", "sts:SetSourceIdentity"],
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnEquals": {"aws:SourceArn": f"arn:{partition}:s3:{region}:{account_id}:access-grants/default"},
                },
            }
        ],
    }


RECORD_TAG = "s3ag:identity-propagation"  # every job sagemaker-s3ag sends carries it
_PRINCIPAL_ARN = re.compile(r"^arn:aws[\w-]*:(iam|sts)::(\d{12}|\*):[\w+=,.@/*-]+$")


def require_record_policy(*, boundary: bool = False, exempt: tuple[str, ...] = ()) -> dict[str, Any]:
    """A service control policy (or, with ``boundary=True``, a permissions boundary) that denies
    ``CreateTrainingJob``, ``CreateProcessingJob`` and ``CreateHyperParameterTuningJob`` without the
    ``s3ag:identity-propagation`` tag (the training jobs a tuning job starts are the service's own).

    A tag can be forged: anyone allowed to create a job can add it by hand. The policy keeps out
    tools that never heard of sagemaker-s3ag (and jobs built before it was installed); the guard
    (``s3ag guard template``) checks what the jobs really ask for. A pipeline's jobs carry the tag
    when the pipeline was built with sagemaker-s3ag. In a notebook::

        import json
        from sagemaker_s3ag.ops.policy import require_record_policy
        print(json.dumps(require_record_policy(exempt=("arn:aws:iam::111122223333:role/BreakGlass",)), indent=2))

    Args:
        boundary: a permissions boundary (it also allows everything else: a boundary only sets the
            ceiling of what identity policies grant) instead of an SCP.
        exempt: principal ARNs (wildcards allowed) the denial does not apply to, e.g. a break-glass role.

    Raises:
        ValueError: an exempt entry that is not an IAM or STS principal ARN.
    """
    for arn in exempt:
        if not _PRINCIPAL_ARN.match(arn):
            raise ValueError(f"{arn!r} is not an IAM principal ARN such as 'arn:aws:iam::111122223333:role/Admin'")
    condition: dict[str, Any] = {"Null": {f"aws:RequestTag/{RECORD_TAG}": "true"}}
    if exempt:
        condition["ArnNotLike"] = {"aws:PrincipalArn": list(exempt)}
    deny = {
        "Sid": "DenySageMakerJobsWithoutS3agRecord",
        "Effect": "Deny",
        "Action": ["sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob", "sagemaker:CreateHyperParameterTuningJob"],
        "Resource": "*",
        "Condition": condition,
    }
    statements: list[dict[str, Any]] = [deny]
    if boundary:
        statements.insert(0, {"Sid": "BoundaryAllowsTheRest", "Effect": "Allow", "Action": "*", "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}
