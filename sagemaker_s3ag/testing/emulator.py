"""Emulator: an in-process AWS (moto) with a ready SageMaker session, for the demo and for tests.

Needs ``moto`` (``pip install "sagemaker-s3ag[demo]"``). Nothing leaves the process::

    from sagemaker_s3ag.testing import emulated_session
    with emulated_session() as session:
        est = GrantAwareEstimator(..., sagemaker_session=session)
        est.fit("s3://s3ag-demo/train/", wait=False)

A test suite that launches many jobs can keep one :class:`Emulator` running and call
:meth:`Emulator.reset` between tests: creating SageMaker sessions under moto is the slow part.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any, Optional

from sagemaker_s3ag.sdk.installed import sdk_class

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecutionRole"
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/s3ag-demo:latest"
BUCKET = "s3ag-demo"
_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    # moto lets requests it does not emulate through (the SDK's telemetry does HTTPS GETs): send
    # them to a closed loopback port, so they fail at once and nothing leaves the process.
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "no_proxy": "",
    # SDK v3 checks the role with IAM SimulatePrincipalPolicy, which moto does not emulate.
    "SAGEMAKER_VALIDATE_ROLE": "false",
}


class Emulator:
    """moto's AWS, started once, with a SageMaker ``Session`` and an S3 bucket.

    Attributes:
        session: the SageMaker ``Session`` of the installed SDK (``sagemaker.session.Session`` in v2,
            ``sagemaker.core.helper.session_helper.Session`` in v3); its ``boto_session`` has fake credentials.
        region, bucket: where it lives.
    """

    def __init__(self, region: str = "us-east-1", bucket: str = BUCKET) -> None:
        self.region = region
        self.bucket = bucket
        self.session: Any = None
        self._mock: Any = None
        self._saved: dict[str, Optional[str]] = {}

    def start(self) -> Any:
        """Start the emulator and return the SageMaker session."""
        try:
            from moto import mock_aws
        except ImportError as err:  # pragma: no cover - depends on the install
            raise RuntimeError('the embedded emulator needs moto: pip install "sagemaker-s3ag[demo]"') from err
        import boto3

        Session = sdk_class("Session")

        self._saved = {key: os.environ.get(key) for key in _ENVIRONMENT}
        os.environ.update(_ENVIRONMENT)
        self._mock = mock_aws()
        self._mock.start()
        boto_session = boto3.Session(region_name=self.region)
        self._create_bucket(boto_session)
        self.session = Session(boto_session=boto_session, default_bucket=self.bucket)
        return self.session

    def reset(self) -> None:
        """Forget every job, bucket and object; the bucket is created again, empty."""
        self._mock.reset()
        self._create_bucket(self.session.boto_session)

    def stop(self) -> None:
        """Stop the emulator and restore the environment (credentials, proxies)."""
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _create_bucket(self, boto_session: Any) -> None:
        s3 = boto_session.client("s3")
        if self.region == "us-east-1":
            s3.create_bucket(Bucket=self.bucket)
        else:
            s3.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": self.region})


@contextlib.contextmanager
def emulated_session(region: str = "us-east-1", bucket: str = BUCKET) -> Iterator[Any]:
    """A SageMaker ``Session`` (of the installed SDK) on moto, with fake credentials and ``bucket`` created."""
    emulator = Emulator(region, bucket)
    try:
        yield emulator.start()
    finally:
        emulator.stop()
