"""Rule pipe-mode: no S3 training channel or processing S3 input may end up in Pipe mode."""

from __future__ import annotations

import copy

import pytest
from rule_requests import summary

from sagemaker_s3ag import ConsiderationError, enforce
from sagemaker_s3ag.core.rules import RULES_BY_ID, RuleContext

RULE = RULES_BY_ID["pipe-mode"]


class Param:
    """Stands in for a SageMaker Pipelines parameter: not a str, has an ``expr``."""

    expr = {"Get": "Parameters.Mode"}


# --------------------------------------------------------------------------- request builders


def s3_channel(name="train", mode=None, uri="s3://train-bucket/data/", **extra):
    channel = {
        "ChannelName": name,
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}},
        **extra,
    }
    if mode is not None:
        channel["InputMode"] = mode
    return channel


def fs_channel(name="fsx", mode=None):
    channel = {
        "ChannelName": name,
        "DataSource": {
            "FileSystemDataSource": {
                "FileSystemId": "fs-0123456789abcdef0",
                "FileSystemAccessMode": "ro",
                "FileSystemType": "FSxLustre",
                "DirectoryPath": "/fsx/train",
            }
        },
    }
    if mode is not None:
        channel["InputMode"] = mode
    return channel


def training(*channels, job_mode="File"):
    return {
        "TrainingJobName": "job-1",
        "AlgorithmSpecification": {"TrainingImage": "123.dkr.ecr.us-east-1.amazonaws.com/img:1", "TrainingInputMode": job_mode},
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "InputDataConfig": list(channels),
        "OutputDataConfig": {"S3OutputPath": "s3://out-bucket/output/"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def s3_input(name="input-1", mode="File", uri="s3://in-bucket/raw/", **extra):
    s3 = {"S3Uri": uri, "LocalPath": f"/opt/ml/processing/{name}", "S3DataType": "S3Prefix", **extra}
    if mode is not None:
        s3["S3InputMode"] = mode
    return {"InputName": name, "AppManaged": False, "S3Input": s3}


def processing(*inputs):
    return {
        "ProcessingJobName": "proc-1",
        "ProcessingInputs": list(inputs),
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


# --------------------------------------------------------------------------- training: good requests


@pytest.mark.parametrize("mode", [None, "File", "FastFile"])
@pytest.mark.parametrize("job_mode", ["File", "FastFile"])
def test_training_without_pipe_is_untouched(mode, job_mode):
    request = training(s3_channel("train", mode), s3_channel("test", "File"), job_mode=job_mode)
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert findings == []
    assert fixed == before
    assert fixed is not request
    assert request == before


def test_rule_apply_returns_the_same_request_when_nothing_to_do():
    request = training(s3_channel("train", "File"))
    new, findings = RULE.apply(request, RuleContext("training"))
    assert new is request
    assert findings == []


# --------------------------------------------------------------------------- training: channel Pipe


def test_channel_pipe_becomes_file():
    request = training(s3_channel("train", "Pipe"), s3_channel("test", "File"))
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert summary(findings) == [("pipe-mode", "replaced", "InputDataConfig[train].InputMode", True)]
    assert "channel 'train' now uses File" in findings[0].message
    assert fixed["InputDataConfig"][0]["InputMode"] == "File"
    assert fixed["InputDataConfig"][1] == before["InputDataConfig"][1]
    assert fixed["AlgorithmSpecification"] == before["AlgorithmSpecification"]
    expected = copy.deepcopy(before)
    expected["InputDataConfig"][0]["InputMode"] = "File"
    assert fixed == expected
    assert request == before


def test_channel_pipe_becomes_fastfile_when_asked():
    request = training(s3_channel("train", "Pipe"))

    fixed, findings = enforce(request, "training", pipe_mode_replacement="FastFile")

    assert summary(findings) == [("pipe-mode", "replaced", "InputDataConfig[train].InputMode", True)]
    assert "now uses FastFile" in findings[0].message
    assert fixed["InputDataConfig"][0]["InputMode"] == "FastFile"
    assert fixed["AlgorithmSpecification"]["TrainingInputMode"] == "File"


def test_every_pipe_channel_is_reported_in_channel_order():
    request = training(s3_channel("a", "Pipe"), s3_channel("b", "File"), s3_channel("c", "Pipe"))

    fixed, findings = enforce(request, "training")

    assert [f.where for f in findings] == ["InputDataConfig[a].InputMode", "InputDataConfig[c].InputMode"]
    assert [c.get("InputMode") for c in fixed["InputDataConfig"]] == ["File", "File", "File"]


def test_unnamed_channel_is_named_by_index():
    channel = s3_channel("x", "Pipe")
    del channel["ChannelName"]
    request = training(s3_channel("first", "File"), channel)

    _fixed, findings = enforce(request, "training")

    assert [f.where for f in findings] == ["InputDataConfig[#1].InputMode"]


# --------------------------------------------------------------------------- training: job-level Pipe


def test_job_level_pipe_inherited_by_channel_is_replaced_on_the_job():
    request = training(s3_channel("train"), job_mode="Pipe")
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert summary(findings) == [("pipe-mode", "replaced", "AlgorithmSpecification.TrainingInputMode", True)]
    assert fixed["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert "InputMode" not in fixed["InputDataConfig"][0]
    assert fixed["InputDataConfig"] == before["InputDataConfig"]
    assert request == before


def test_job_level_pipe_becomes_fastfile_when_asked():
    request = training(s3_channel("train"), job_mode="Pipe")

    fixed, findings = enforce(request, "training", pipe_mode_replacement="FastFile")

    assert summary(findings) == [("pipe-mode", "replaced", "AlgorithmSpecification.TrainingInputMode", True)]
    assert fixed["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"


def test_job_level_pipe_goes_even_when_every_s3_channel_has_its_own_mode():
    # The SDK copies a single TrainingInput's mode into TrainingInputMode; the service may check it.
    request = training(s3_channel("train", "File"), s3_channel("test", "FastFile"), job_mode="Pipe")
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert summary(findings) == [("pipe-mode", "replaced", "AlgorithmSpecification.TrainingInputMode", True)]
    assert fixed["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert fixed["InputDataConfig"] == before["InputDataConfig"]
    assert request == before


def test_job_level_pipe_with_only_file_system_channels_is_left_alone():
    request = training(fs_channel("fsx"), job_mode="Pipe")
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert findings == []
    assert fixed == before


def test_explicit_channel_pipe_and_inherited_pipe_both_reported():
    request = training(s3_channel("a", "Pipe"), s3_channel("b"), job_mode="Pipe")

    fixed, findings = enforce(request, "training")

    assert summary(findings) == [
        ("pipe-mode", "replaced", "InputDataConfig[a].InputMode", True),
        ("pipe-mode", "replaced", "AlgorithmSpecification.TrainingInputMode", True),
    ]
    assert fixed["InputDataConfig"][0]["InputMode"] == "File"
    assert "InputMode" not in fixed["InputDataConfig"][1]
    assert fixed["AlgorithmSpecification"]["TrainingInputMode"] == "File"


# --------------------------------------------------------------------------- training: file-system channels


@pytest.mark.parametrize("mode", ["Pipe", "File"])
def test_file_system_channel_is_never_touched_on_its_own(mode):
    request = training(fs_channel("fsx", mode), s3_channel("train", "File"))
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert findings == []
    assert fixed == before


@pytest.mark.parametrize("replacement", ["File", "FastFile"])
def test_file_system_channel_is_pinned_to_pipe_when_the_job_mode_changes(replacement):
    request = training(fs_channel("fsx"), s3_channel("train"), fs_channel("efs", "File"), job_mode="Pipe")
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training", pipe_mode_replacement=replacement)

    assert summary(findings) == [("pipe-mode", "replaced", "AlgorithmSpecification.TrainingInputMode", True)]
    assert fixed["AlgorithmSpecification"]["TrainingInputMode"] == replacement
    # the FSx channel inherited Pipe before; it still reads in Pipe mode
    assert fixed["InputDataConfig"][0] == {**before["InputDataConfig"][0], "InputMode": "Pipe"}
    # the S3 channel inherits the new job mode
    assert fixed["InputDataConfig"][1] == before["InputDataConfig"][1]
    # a file-system channel with its own mode keeps it
    assert fixed["InputDataConfig"][2] == before["InputDataConfig"][2]
    assert request == before


# --------------------------------------------------------------------------- training: refusals


BLOCKERS = [
    pytest.param({"CompressionType": "Gzip"}, {}, "CompressionType 'Gzip'", id="gzip"),
    pytest.param({"RecordWrapperType": "RecordIO"}, {}, "RecordWrapperType 'RecordIO'", id="recordio"),
    pytest.param({}, {"S3DataType": "AugmentedManifestFile"}, "S3DataType 'AugmentedManifestFile'", id="augmented"),
]


def blocked_channel(name, mode, channel_extra, source_extra):
    channel = s3_channel(name, mode, **channel_extra)
    channel["DataSource"]["S3DataSource"].update(source_extra)
    return channel


@pytest.mark.parametrize(("channel_extra", "source_extra", "blocker"), BLOCKERS)
def test_pipe_only_feature_in_explicit_pipe_is_refused(channel_extra, source_extra, blocker):
    request = training(blocked_channel("train", "Pipe", channel_extra, source_extra), s3_channel("test", "Pipe"))
    before = copy.deepcopy(request)

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "training")

    err = caught.value
    assert err.rule == "pipe-mode"
    assert summary(err.findings) == [("pipe-mode", "refused", "InputDataConfig[train]", True)]
    assert blocker in err.findings[0].message
    assert "InputDataConfig[train]" in str(err)
    assert request == before


@pytest.mark.parametrize(("channel_extra", "source_extra", "blocker"), BLOCKERS)
def test_pipe_only_feature_in_inherited_pipe_is_refused_and_job_mode_kept(channel_extra, source_extra, blocker):
    request = training(blocked_channel("train", None, channel_extra, source_extra), fs_channel("fsx"), job_mode="Pipe")

    new, findings = RULE.apply(request, RuleContext("training"))

    assert summary(findings) == [("pipe-mode", "refused", "InputDataConfig[train]", True)]
    assert blocker in findings[0].message
    assert new["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert "InputMode" not in new["InputDataConfig"][1]
    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "training")
    assert [f.where for f in caught.value.findings] == ["InputDataConfig[train]"]


@pytest.mark.parametrize(("channel_extra", "source_extra", "blocker"), BLOCKERS)
@pytest.mark.parametrize("mode", ["File", "FastFile"])
def test_pipe_only_feature_outside_pipe_is_fine(channel_extra, source_extra, blocker, mode):
    request = training(blocked_channel("train", mode, channel_extra, source_extra))
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert findings == []
    assert fixed == before


def test_compression_none_in_pipe_is_replaced_not_refused():
    request = training(s3_channel("train", "Pipe", CompressionType="None", RecordWrapperType="None"))

    fixed, findings = enforce(request, "training")

    assert summary(findings) == [("pipe-mode", "replaced", "InputDataConfig[train].InputMode", True)]
    assert fixed["InputDataConfig"][0]["CompressionType"] == "None"


def test_every_refused_channel_is_listed():
    request = training(
        blocked_channel("a", "Pipe", {"CompressionType": "Gzip"}, {}),
        s3_channel("b", "Pipe"),
        blocked_channel("c", "Pipe", {"RecordWrapperType": "RecordIO"}, {}),
    )

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "training")

    assert [(f.action, f.where) for f in caught.value.findings] == [
        ("refused", "InputDataConfig[a]"),
        ("refused", "InputDataConfig[c]"),
    ]
    assert "(2 problems;" in str(caught.value)


# --------------------------------------------------------------------------- training: unresolved modes


def test_unresolved_channel_mode_is_refused():
    request = training(s3_channel("train", Param()))

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "training")

    err = caught.value
    assert err.rule == "pipe-mode"
    assert summary(err.findings) == [("pipe-mode", "refused", "InputDataConfig[train].InputMode", True)]
    assert "pipeline value Parameters.Mode" in err.findings[0].message


def test_unresolved_job_mode_inherited_by_a_channel_is_refused():
    request = training(s3_channel("train"), job_mode=Param())

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "training")

    assert summary(caught.value.findings) == [("pipe-mode", "refused", "InputDataConfig[train].InputMode", True)]


def test_unresolved_mode_on_a_file_system_channel_is_not_ours_to_judge():
    request = training(fs_channel("fsx", Param()), s3_channel("train", "File"))

    _fixed, findings = enforce(request, "training")

    assert findings == []


# --------------------------------------------------------------------------- on_violation="error"


def test_on_violation_error_refuses_a_pipe_channel():
    request = training(s3_channel("train", "Pipe"))
    before = copy.deepcopy(request)

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "training", on_violation="error")

    err = caught.value
    assert err.rule == "pipe-mode"
    assert summary(err.findings) == [("pipe-mode", "refused", "InputDataConfig[train].InputMode", True)]
    assert err.findings[0].message.endswith("(refused: on_violation='error')")
    assert request == before


def test_on_violation_error_refuses_an_inherited_pipe():
    request = training(s3_channel("train"), job_mode="Pipe")

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "training", on_violation="error")

    assert summary(caught.value.findings) == [("pipe-mode", "refused", "AlgorithmSpecification.TrainingInputMode", True)]


def test_on_violation_error_passes_a_clean_request():
    request = training(s3_channel("train", "FastFile"))
    fixed, findings = enforce(request, "training", on_violation="error")
    assert findings == []
    assert fixed == request


# --------------------------------------------------------------------------- processing


def test_processing_pipe_becomes_file():
    request = processing(s3_input("a", "Pipe"), s3_input("b", "File"), s3_input("c", None))
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "processing")

    assert summary(findings) == [("pipe-mode", "replaced", "ProcessingInputs[a].S3Input.S3InputMode", True)]
    assert "input 'a' now uses File" in findings[0].message
    expected = copy.deepcopy(before)
    expected["ProcessingInputs"][0]["S3Input"]["S3InputMode"] = "File"
    assert fixed == expected
    assert "S3InputMode" not in fixed["ProcessingInputs"][2]["S3Input"]
    assert request == before


def test_processing_ignores_fastfile_replacement():
    request = processing(s3_input("a", "Pipe"))

    fixed, findings = enforce(request, "processing", pipe_mode_replacement="FastFile")

    assert fixed["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
    assert [f.where for f in findings] == ["ProcessingInputs[a].S3Input.S3InputMode"]


def test_processing_gzip_in_pipe_is_refused():
    request = processing(s3_input("a", "Pipe", S3CompressionType="Gzip"), s3_input("b", "Pipe"))

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "processing")

    err = caught.value
    assert err.rule == "pipe-mode"
    assert summary(err.findings) == [("pipe-mode", "refused", "ProcessingInputs[a].S3Input", True)]
    assert "S3CompressionType 'Gzip'" in err.findings[0].message


def test_processing_gzip_in_file_mode_is_fine():
    request = processing(s3_input("a", "File", S3CompressionType="Gzip"))
    fixed, findings = enforce(request, "processing")
    assert findings == []
    assert fixed == request


def test_processing_unresolved_mode_is_refused():
    request = processing(s3_input("a", Param()))

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "processing")

    assert summary(caught.value.findings) == [("pipe-mode", "refused", "ProcessingInputs[a].S3Input.S3InputMode", True)]
    assert "pipeline value Parameters.Mode" in caught.value.findings[0].message


def test_processing_rule_skips_dataset_definition_inputs():
    request = processing(
        {"InputName": "q", "DatasetDefinition": {"AthenaDatasetDefinition": {"Catalog": "c"}, "InputMode": "Pipe"}}
    )
    new, findings = RULE.apply(request, RuleContext("processing"))
    assert findings == []
    assert new is request


def test_processing_on_violation_error_refuses_pipe():
    request = processing(s3_input("a", "Pipe"))

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "processing", on_violation="error")

    assert summary(caught.value.findings) == [("pipe-mode", "refused", "ProcessingInputs[a].S3Input.S3InputMode", True)]


# --------------------------------------------------------------------------- no mutation of tuple-shaped requests


def test_bug_enforce_mutates_channels_given_as_a_tuple():
    """BUG: ``copy_request`` copies lists but not tuples, so a request whose InputDataConfig is a
    tuple (botocore accepts tuples for list members) has its channel dicts shared with the result,
    and the pipe-mode fix writes ``InputMode`` into the caller's own channel."""
    request = training(s3_channel("train", "Pipe"))
    request["InputDataConfig"] = tuple(request["InputDataConfig"])
    before = copy.deepcopy(request)

    fixed, _findings = enforce(request, "training")

    assert fixed["InputDataConfig"][0]["InputMode"] == "File"
    assert request == before  # fails today: the caller's channel now says "File"


def test_bug_enforce_mutates_processing_inputs_given_as_a_tuple():
    """BUG: same as above for ProcessingInputs given as a tuple."""
    request = processing(s3_input("a", "Pipe"))
    request["ProcessingInputs"] = tuple(request["ProcessingInputs"])
    before = copy.deepcopy(request)

    enforce(request, "processing")

    assert request == before  # fails today: the caller's input now says "File"


def test_job_level_pipeline_mode_with_every_s3_channel_explicit_is_refused():
    request = training(s3_channel("train", "File"), job_mode=Param())
    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "training")
    assert summary(caught.value.findings) == [("pipe-mode", "refused", "AlgorithmSpecification.TrainingInputMode", True)]
