"""Hand-built SageMaker API requests for the rule tests (no SDK involved)."""

from __future__ import annotations

import copy


def training(**extra):
    """A minimal, valid CreateTrainingJob request with one S3 channel, plus ``extra`` top-level fields."""
    return {
        "TrainingJobName": "job-1",
        "AlgorithmSpecification": {"TrainingImage": "123.dkr.ecr.us-east-1.amazonaws.com/img:1", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://train-bucket/data/"}},
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://out-bucket/output/"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        **copy.deepcopy(extra),
    }


def processing(*inputs):
    """A minimal CreateProcessingJob request with ``inputs`` and one S3 output."""
    return {
        "ProcessingJobName": "proc-1",
        "ProcessingInputs": copy.deepcopy(list(inputs)),
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "out",
                    "S3Output": {
                        "S3Uri": "s3://out-bucket/p/",
                        "LocalPath": "/opt/ml/processing/out",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}},
        "AppSpecification": {"ImageUri": "123.dkr.ecr.us-east-1.amazonaws.com/img:1"},
        "RoleArn": "arn:aws:iam::123456789012:role/r",
    }


def summary(findings):
    """``(rule, action, where, explicit)`` of each finding, for exact comparisons."""
    return [(f.rule, f.action, f.where, f.explicit) for f in findings]


def pipeline_value(name):
    """A stand-in for a SageMaker Pipelines parameter: any object with an ``expr``."""
    return type("Param", (), {"expr": {"Get": f"Parameters.{name}"}})()
