"""Rule dataset-definition: no Athena or Redshift DatasetDefinition input on a processing job."""

from __future__ import annotations

import copy

import pytest
from rule_requests import processing, summary

from sagemaker_s3ag import ConsiderationError, enforce
from sagemaker_s3ag.core.rules import RULES_BY_ID, RuleContext

RULE = RULES_BY_ID["dataset-definition"]

ATHENA = {
    "InputName": "athena-in",
    "AppManaged": False,
    "DatasetDefinition": {
        "AthenaDatasetDefinition": {
            "Catalog": "AwsDataCatalog",
            "Database": "db",
            "QueryString": "SELECT * FROM t",
            "OutputS3Uri": "s3://athena-bucket/results/",
            "OutputFormat": "PARQUET",
        },
        "LocalPath": "/opt/ml/processing/athena",
        "DataDistributionType": "FullyReplicated",
        "InputMode": "File",
    },
}
REDSHIFT = {
    "InputName": "redshift-in",
    "DatasetDefinition": {
        "RedshiftDatasetDefinition": {
            "ClusterId": "cluster",
            "Database": "dev",
            "DbUser": "user",
            "QueryString": "SELECT 1",
            "ClusterRoleArn": "arn:aws:iam::123456789012:role/redshift",
            "OutputS3Uri": "s3://redshift-bucket/unload/",
            "OutputFormat": "CSV",
        },
        "LocalPath": "/opt/ml/processing/redshift",
    },
}
S3 = {
    "InputName": "raw",
    "S3Input": {
        "S3Uri": "s3://in-bucket/raw/",
        "LocalPath": "/opt/ml/processing/raw",
        "S3DataType": "S3Prefix",
        "S3InputMode": "File",
    },
}


def test_rule_is_declared_for_processing_only():
    assert RULE.id == "dataset-definition"
    assert RULE.job_types == frozenset({"processing"})


def test_s3_inputs_only_pass():
    request = processing(S3)
    fixed, findings = enforce(request, "processing")
    assert findings == []
    assert fixed == request


@pytest.mark.parametrize("on_violation", ["fix", "error"])
def test_athena_definition_is_refused(on_violation):
    request = processing(S3, ATHENA)
    before = copy.deepcopy(request)

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "processing", on_violation=on_violation)

    err = caught.value
    assert err.rule == "dataset-definition"
    assert summary(err.findings) == [("dataset-definition", "refused", "ProcessingInputs[athena-in].DatasetDefinition", True)]
    message = err.findings[0].message
    assert "input 'athena-in' is an Athena DatasetDefinition" in message
    assert "Athena UNLOAD" in message
    assert "ProcessingInputs[athena-in].DatasetDefinition" in str(err)
    assert request == before


def test_redshift_definition_is_refused():
    request = processing(REDSHIFT)

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "processing")

    err = caught.value
    assert err.rule == "dataset-definition"
    assert summary(err.findings) == [("dataset-definition", "refused", "ProcessingInputs[redshift-in].DatasetDefinition", True)]
    assert "input 'redshift-in' is a Redshift DatasetDefinition" in err.findings[0].message
    assert "Redshift UNLOAD" in err.findings[0].message


def test_every_definition_is_listed_in_input_order():
    request = processing(REDSHIFT, S3, ATHENA)

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "processing")

    assert [f.where for f in caught.value.findings] == [
        "ProcessingInputs[redshift-in].DatasetDefinition",
        "ProcessingInputs[athena-in].DatasetDefinition",
    ]
    assert "(2 problems;" in str(caught.value)


def test_apply_refuses_without_changing_the_request():
    request = processing(ATHENA)
    new, findings = RULE.apply(request, RuleContext("processing"))
    assert new is request
    assert [f.action for f in findings] == ["refused"]


def test_unnamed_definition_is_named_by_index():
    unnamed = {k: v for k, v in ATHENA.items() if k != "InputName"}
    request = processing(S3, unnamed)

    _new, findings = RULE.apply(request, RuleContext("processing"))

    assert [f.where for f in findings] == ["ProcessingInputs[#1].DatasetDefinition"]


def test_refusals_of_all_rules_are_listed_and_the_first_rule_named():
    piped = copy.deepcopy(S3)
    piped["S3Input"].update(S3InputMode="Pipe", S3CompressionType="Gzip")
    request = processing(piped, ATHENA)

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "processing")

    err = caught.value
    assert err.rule == "pipe-mode"
    assert summary(err.findings) == [
        ("pipe-mode", "refused", "ProcessingInputs[raw].S3Input", True),
        ("dataset-definition", "refused", "ProcessingInputs[athena-in].DatasetDefinition", True),
    ]


def test_training_jobs_are_not_checked_by_the_dataset_definition_rule():
    assert "training" not in RULE.job_types
    request = {"TrainingJobName": "t", "ProcessingInputs": copy.deepcopy([ATHENA])}
    fixed, findings = enforce(request, "training")
    assert findings == []
    assert fixed == request


@pytest.mark.parametrize(
    "definition",
    [1, 0, True, False, "athena", "", [], ["AthenaDatasetDefinition"], {}, {"LocalPath": "/opt/ml/processing/x"}, 1.5],
    ids=repr,
)
def test_any_definition_but_none_is_refused_by_name_not_crashed_on(definition):
    """A DatasetDefinition of any other shape is still a DatasetDefinition input (or one botocore refuses):
    refused by this rule with a generic name, never a TypeError turned into 'could not check'."""
    request = processing(S3, {"InputName": "odd", "DatasetDefinition": definition})

    findings = RULE.apply(request, RuleContext("processing"))[1]

    assert [(f.rule, f.action, f.where) for f in findings] == [
        ("dataset-definition", "refused", "ProcessingInputs[odd].DatasetDefinition")
    ]
    assert "input 'odd' is a DatasetDefinition" in findings[0].message
    assert "Athena or Redshift UNLOAD" in findings[0].message
    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "processing")
    assert caught.value.rule == "dataset-definition"
    assert not any("could not check" in f.message for f in caught.value.findings)


def test_a_definition_of_none_is_no_definition():
    request = processing(S3, {"InputName": "none", "DatasetDefinition": None, "S3Input": S3["S3Input"]})
    assert RULE.apply(request, RuleContext("processing"))[1] == []
