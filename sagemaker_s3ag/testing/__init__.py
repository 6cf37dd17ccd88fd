"""Test doubles that ship with sagemaker-s3ag, so you can test your own grant-aware code offline.

``AccessGrantsTable`` plus ``install_access_grants`` (in-process) or ``FakeAccessGrantsServer``
(loopback HTTP) stand in for S3 Access Grants, which no AWS emulator implements.

``emulated_session()`` gives a ``sagemaker.session.Session`` on an in-process AWS (moto)::

    from sagemaker_s3ag.testing import emulated_session, IMAGE, ROLE

    def test_my_training_job():
        with emulated_session() as session:
            est = GrantAwareEstimator(image_uri=IMAGE, role=ROLE, instance_count=1,
                                      instance_type="ml.m5.xlarge", sagemaker_session=session,
                                      identity_propagation=True)
            est.fit("s3://s3ag-demo/train/", wait=False)
            assert est.latest_decision.credentials
"""

from sagemaker_s3ag.testing.access_grants import (
    CANARY_ACCESS_KEY_ID,
    CANARY_SECRET_ACCESS_KEY,
    CANARY_SESSION_TOKEN,
    AccessGrantsError,
    AccessGrantsTable,
    FakeAccessGrantsServer,
    Grant,
    install_access_grants,
)
from sagemaker_s3ag.testing.emulator import ACCOUNT, BUCKET, IMAGE, ROLE, Emulator, emulated_session
from sagemaker_s3ag.testing.iam import PolicySimulator

__all__ = [
    "ACCOUNT",
    "BUCKET",
    "CANARY_ACCESS_KEY_ID",
    "CANARY_SECRET_ACCESS_KEY",
    "CANARY_SESSION_TOKEN",
    "IMAGE",
    "ROLE",
    "AccessGrantsError",
    "AccessGrantsTable",
    "Emulator",
    "FakeAccessGrantsServer",
    "Grant",
    "PolicySimulator",
    "emulated_session",
    "install_access_grants",
]
