"""Under ``patch()``, every pipeline step equals the stock one but for the fields the rules own and the ``s3ag:`` tags.

A pipeline of an SKLearnProcessor step, a training step and a ScriptProcessor evaluation step is
defined twice, stock and patched, with the same code: the patched steps keep the SDK's
content-addressed code locations (``s3://BUCKET/PIPELINE/code/HASH/file.py``), so SageMaker
Pipelines step caching still works.
"""

from __future__ import annotations

import json

import pytest
from conftest import BUCKET, IMAGE, ROLE
from pipeline_stock import assert_stock_but_for_tip
from sagemaker.estimator import Estimator
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
from sagemaker.sklearn.processing import SKLearnProcessor
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.steps import ProcessingStep, TrainingStep

RAW = f"s3://{BUCKET}/raw/"


@pytest.fixture
def ps(session):
    return PipelineSession(boto_session=session.boto_session, sagemaker_client=session.sagemaker_client, default_bucket=BUCKET)


@pytest.fixture
def scripts(tmp_path):
    (tmp_path / "prep.py").write_text("print('prep')\n")
    (tmp_path / "evaluate.py").write_text("print('evaluate')\n")
    return tmp_path


def define(ps, scripts) -> dict:
    common = dict(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=ps)
    prep = SKLearnProcessor(framework_version="1.2-1", **common)
    est = Estimator(image_uri=IMAGE, input_mode="Pipe", output_path=f"s3://{BUCKET}/models/", **common)
    evaluate = ScriptProcessor(image_uri=IMAGE, command=["python3"], **common)
    steps = [
        ProcessingStep(
            name="Prep",
            step_args=prep.run(
                code=str(scripts / "prep.py"),
                inputs=[ProcessingInput(source=RAW, destination="/opt/ml/processing/in", s3_input_mode="Pipe")],
                outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train")],
            ),
        ),
        TrainingStep(name="Train", step_args=est.fit({"train": f"s3://{BUCKET}/train/"})),
        ProcessingStep(
            name="Evaluate",
            step_args=evaluate.run(
                code=str(scripts / "evaluate.py"),
                inputs=[ProcessingInput(source=f"s3://{BUCKET}/models/", destination="/opt/ml/processing/model")],
            ),
        ),
    ]
    return json.loads(Pipeline(name="StockOrNot", steps=steps, sagemaker_session=ps).definition())


def test_patched_steps_equal_the_stock_ones_but_for_tip_fields_and_tags(ps, scripts, access_grants, grant_warnings):
    assert_stock_but_for_tip(lambda: define(ps, scripts), "StockOrNot")
