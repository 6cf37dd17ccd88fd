"""Emulator: an in-process AWS (moto) with a ready SageMaker session, for the demo and for tests.

Needs ``moto`` (``pip install "sagemaker-s3ag[demo]"``). Nothing leaves the process::

    from sagemaker_s3ag.testing import emulated_session
    with emulated_session() as session:
        est = GrantAwareEstimator(..., sagemaker_session=session)
        est.fit("s3://s3ag-demo/train/", wait=False)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecutionRole"
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/s3ag-demo:latest"
BUCKET = "s3ag-demo"
_NO_TELEMETRY = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


@contextlib.contextmanager
def emulated_session(region: str = "us-east-1", bucket: str = BUCKET) -> Iterator[Any]:
    """A ``sagemaker.session.Session`` on moto, with fake credentials and ``bucket`` created."""
    try:
        from moto import mock_aws
    except ImportError as err:  # pragma: no cover - depends on the install
        raise RuntimeError('the embedded emulator needs moto: pip install "sagemaker-s3ag[demo]"') from err
    import boto3
    from sagemaker.session import Session

    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing")
    try:
        with mock_aws():
            boto_session = boto3.Session(region_name=region)
            s3 = boto_session.client("s3")
            if region == "us-east-1":
                s3.create_bucket(Bucket=bucket)
            else:
                s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
            yield Session(boto_session=boto_session, default_bucket=bucket)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
