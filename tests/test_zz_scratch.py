import sagemaker_s3ag, pytest
from conftest import IMAGE, ROLE, BUCKET, creates, uploaded_keys, created_jobs
from sagemaker.estimator import Estimator

def mk(session, **kw):
    return Estimator(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=session, **kw)

def test_stale(session, calls, grant_warnings):
    sagemaker_s3ag.patch(identity_propagation=False)
    try:
        est = mk(session)
        with pytest.raises(Exception) as e:
            est.fit(12345, wait=False, logs=False, job_name="same-job")
        print(repr(e.value))
    finally:
        sagemaker_s3ag.unpatch()
    est = mk(session)
    est.fit(f"s3://{BUCKET}/train/", wait=False, logs=False, job_name="same-job")
    print(creates(calls)[-1].get("Tags"))

def test_stale_tip_on(session, calls, grant_warnings):
    sagemaker_s3ag.patch(identity_propagation=True)
    try:
        est = mk(session)
        with pytest.raises(Exception) as e:
            est.fit(f"file:///tmp/x", wait=False, logs=False, job_name="same-job2")
        print(repr(e.value))
    finally:
        sagemaker_s3ag.unpatch()
    est = mk(session, input_mode="Pipe")
    est.fit(f"s3://{BUCKET}/train/", wait=False, logs=False, job_name="same-job2")
    print(creates(calls)[-1])
