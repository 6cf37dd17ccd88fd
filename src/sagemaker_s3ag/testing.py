"""Test doubles that ship with sagemaker-s3ag, so you can test your own grant-aware code offline.

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

from ._emulator import ACCOUNT, BUCKET, IMAGE, ROLE, Emulator, emulated_session

__all__ = ["ACCOUNT", "BUCKET", "IMAGE", "ROLE", "Emulator", "emulated_session"]
