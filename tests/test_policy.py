"""execution_role_policy: the two statements AWS documents."""

from __future__ import annotations

import pytest

from sagemaker_s3ag import execution_role_policy


def test_documented_statements():
    policy = execution_role_policy("us-east-1", "111122223333", "S3AccessGrantsRole")
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowDataAccessAPI",
                "Effect": "Allow",
                "Action": ["s3:GetDataAccess", "s3:GetAccessGrantsInstanceForPrefix"],
                "Resource": ["arn:aws:s3:us-east-1:111122223333:access-grants/default"],
            },
            {
                "Sid": "RequiredForIdentificationPropagation",
                "Effect": "Allow",
                "Action": "sts:SetContext",
                "Resource": "arn:aws:iam::111122223333:role/S3AccessGrantsRole",
            },
        ],
    }


def test_role_arn_is_kept_and_partition_follows_region():
    arn = "arn:aws-cn:iam::111122223333:role/path/Grants"
    policy = execution_role_policy("cn-north-1", "111122223333", arn)
    assert policy["Statement"][0]["Resource"] == ["arn:aws-cn:s3:cn-north-1:111122223333:access-grants/default"]
    assert policy["Statement"][1]["Resource"] == arn
    gov = execution_role_policy("us-gov-west-1", "111122223333", "path/Grants")
    assert gov["Statement"][1]["Resource"] == "arn:aws-us-gov:iam::111122223333:role/path/Grants"


@pytest.mark.parametrize(
    "region, account, role, message",
    [
        ("useast1", "111122223333", "r", "Region"),
        ("us-east-1", "1111", "r", "account"),
        ("us-east-1", "111122223333", "bad role!", "role"),
    ],
)
def test_bad_arguments(region, account, role, message):
    with pytest.raises(ValueError, match=message):
        execution_role_policy(region, account, role)
