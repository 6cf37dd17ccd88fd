"""Under ``patch()``, every pipeline step equals the stock one but for the fields the rules own and the ``s3ag:`` tags.

A pipeline of a ScriptProcessor preparation step, a ModelTrainer training step and a ScriptProcessor
evaluation step is defined twice, stock and patched, with the same code: the patched steps keep the
SDK's content-addressed code locations (``s3://BUCKET/PIPELINE/code/HASH/file.py``), so SageMaker
Pipelines step caching still works. (SDK v3 has no SKLearnProcessor; its ScriptProcessor stands in.)
"""

from __future__ import annotations

import os

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # sagemaker.mlops makes boto3 clients at import time

import json  # noqa: E402

import pytest  # noqa: E402
from conftest import BUCKET, IMAGE, ROLE  # noqa: E402
from pipeline_stock import assert_stock_but_for_tip  # noqa: E402
from sagemaker.core.processing import ScriptProcessor  # noqa: E402
from sagemaker.core.shapes import ProcessingInput, ProcessingS3Input  # noqa: E402
from sagemaker.core.workflow.pipeline_context import PipelineSession  # noqa: E402
from sagemaker.mlops.workflow.pipeline import Pipeline  # noqa: E402
from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep  # noqa: E402
from sagemaker.train import ModelTrainer  # noqa: E402
from sagemaker.train.configs import InputData, OutputDataConfig  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Running within a PipelineSession:UserWarning")

RAW = f"s3://{BUCKET}/raw/"


@pytest.fixture
def ps(session):
    return PipelineSession(boto_session=session.boto_session, sagemaker_client=session.sagemaker_client, default_bucket=BUCKET)


@pytest.fixture
def scripts(tmp_path):
    (tmp_path / "prep.py").write_text("print('prep')\n")
    (tmp_path / "evaluate.py").write_text("print('evaluate')\n")
    return tmp_path


def s3_input(name: str, uri: str, mode: str = "File") -> ProcessingInput:
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=uri, local_path=f"/opt/ml/processing/{name}", s3_data_type="S3Prefix", s3_input_mode=mode
        ),
    )


def define(ps, scripts) -> dict:
    common = dict(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=ps)
    prep = ScriptProcessor(image_uri=IMAGE, command=["python3"], **common)
    trainer = ModelTrainer(
        training_image=IMAGE,
        role=ROLE,
        sagemaker_session=ps,
        training_input_mode="Pipe",
        output_data_config=OutputDataConfig(s3_output_path=f"s3://{BUCKET}/models/"),
    )
    evaluate = ScriptProcessor(image_uri=IMAGE, command=["python3"], **common)
    steps = [
        ProcessingStep(name="Prep", step_args=prep.run(code=str(scripts / "prep.py"), inputs=[s3_input("raw", RAW, "Pipe")])),
        TrainingStep(
            name="Train",
            step_args=trainer.train(input_data_config=[InputData(channel_name="train", data_source=f"s3://{BUCKET}/train/")]),
        ),
        ProcessingStep(
            name="Evaluate",
            step_args=evaluate.run(code=str(scripts / "evaluate.py"), inputs=[s3_input("model", f"s3://{BUCKET}/models/")]),
        ),
    ]
    return json.loads(Pipeline(name="StockOrNot", steps=steps, sagemaker_session=ps).definition())


def test_patched_steps_equal_the_stock_ones_but_for_tip_fields_and_tags(ps, scripts, access_grants, grant_warnings):
    assert_stock_but_for_tip(lambda: define(ps, scripts), "StockOrNot")
