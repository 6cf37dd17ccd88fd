"""plan(): what fit()/run() would do, with nothing uploaded, created or announced."""

from __future__ import annotations

from conftest import BUCKET, IMAGE, ROLE, access_grants_calls, created_jobs, uploaded_keys
from sagemaker.dataset_definition.inputs import AthenaDatasetDefinition, DatasetDefinition
from sagemaker.processing import ProcessingInput

from sagemaker_s3ag import GrantAwareEstimator, GrantAwareProcessor, grant_aware

COMMON = dict(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge")


def test_estimator_plan_matches_the_launch(session, grant_warnings, access_grants):
    est = GrantAwareEstimator(
        image_uri=IMAGE,
        sagemaker_session=session,
        identity_propagation=True,
        input_mode="Pipe",
        output_path=f"s3://{BUCKET}/out/",
        **COMMON,
    )
    planned = est.plan({"train": f"s3://{BUCKET}/train/"})
    assert planned.planned and not planned.refused
    assert created_jobs(session) == {"training": [], "processing": []} and uploaded_keys(session) == []
    assert grant_warnings == []  # a plan warns about nothing
    assert est.latest_decision is None
    est.fit({"train": f"s3://{BUCKET}/train/"}, wait=False, logs=False)
    launched = est.latest_decision
    assert [(f.rule, f.action, f.where, f.explicit) for f in planned.findings] == [
        (f.rule, f.action, f.where, f.explicit) for f in launched.findings
    ]
    assert planned.adjustments == launched.adjustments == ("pipe-mode", "debugger", "profiler")
    assert planned.locations == launched.locations
    assert planned.credentials == launched.credentials == "access-grants"
    assert "sagemaker-s3ag plan for training job" in str(planned)
    assert "sagemaker-s3ag plan" in planned._repr_html_()


def test_refused_plan_is_returned_not_raised(session, tmp_path):
    from sagemaker.sklearn import SKLearn

    (tmp_path / "train.py").write_text("print('hi')\n")
    est = grant_aware(SKLearn)(
        entry_point="train.py",
        source_dir=str(tmp_path),
        framework_version="1.2-1",
        py_version="py3",
        sagemaker_session=session,
        identity_propagation=True,
        input_mode="Pipe",
        on_violation="error",
        **COMMON,
    )
    planned = est.plan({"train": f"s3://{BUCKET}/train/"})
    assert planned.refused and planned.credentials == "unknown" and planned.tags == ()
    assert [(f.rule, f.action) for f in planned.findings] == [("pipe-mode", "refused")]
    assert "REFUSED" in str(planned) and uploaded_keys(session) == []


def test_processor_plan(session):
    athena = DatasetDefinition(
        local_path="/opt/ml/processing/a",
        athena_dataset_definition=AthenaDatasetDefinition(
            catalog="c", database="d", query_string="q", output_s3_uri=f"s3://{BUCKET}/a/", output_format="PARQUET"
        ),
    )
    proc = GrantAwareProcessor(image_uri=IMAGE, sagemaker_session=session, identity_propagation=True, **COMMON)
    refused = proc.plan(inputs=[ProcessingInput(input_name="orders", dataset_definition=athena)])
    assert refused.refused and [f.rule for f in refused.findings] == ["dataset-definition"]
    fine = proc.plan(
        inputs=[ProcessingInput(source=f"s3://{BUCKET}/raw/", destination="/opt/ml/processing/in", s3_input_mode="Pipe")]
    )
    assert not fine.refused and fine.adjustments == ("pipe-mode",) and fine.credentials == "access-grants"
    assert created_jobs(session)["processing"] == []


def test_plan_with_tip_off_records_tags_only(session, access_grants):
    est = GrantAwareEstimator(
        image_uri=IMAGE,
        sagemaker_session=session,
        identity_propagation=False,
        input_mode="Pipe",
        tags=[{"Key": "team", "Value": "a"}],
        **COMMON,
    )
    planned = est.plan("s3://s3ag-demo/train/")
    assert (planned.credentials, planned.findings, planned.locations) == ("iam-role", (), ())
    assert dict(planned.record)["s3ag:identity-propagation"] == "disabled"
    assert access_grants_calls(access_grants) == []
