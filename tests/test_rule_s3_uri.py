"""Rule s3-uri: every S3 input, output and checkpoint location is an s3://bucket/prefix URI.

Also the general guarantees of ``enforce``: it never mutates its input, always returns a new
dict, and a rule that crashes becomes a refusal naming the rule.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
from rule_requests import pipeline_value, summary

import sagemaker_s3ag.core.rules as rules_module
from sagemaker_s3ag import ConsiderationError, enforce
from sagemaker_s3ag.core.rules import RULES, RULES_BY_ID, Rule, RuleContext

RULE = RULES_BY_ID["s3-uri"]
CHANNEL_URI = "InputDataConfig[train].DataSource.S3DataSource.S3Uri"


def Param():
    return pipeline_value("InputUri")


def training(uri="s3://train-bucket/data/", output="s3://out-bucket/output/", checkpoint=None, **extra):
    request = {
        "TrainingJobName": "job-1",
        "AlgorithmSpecification": {"TrainingImage": "123.dkr.ecr.us-east-1.amazonaws.com/img:1", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}],
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        **extra,
    }
    if checkpoint is not None:
        request["CheckpointConfig"] = {"S3Uri": checkpoint, "LocalPath": "/opt/ml/checkpoints"}
    return request


def processing(in_uri="s3://in-bucket/raw/", out_uri="s3://out-bucket/p/", out_name="result"):
    output = {"S3Output": {"S3Uri": out_uri, "LocalPath": "/opt/ml/processing/out", "S3UploadMode": "EndOfJob"}}
    if out_name is not None:
        output["OutputName"] = out_name
    return {
        "ProcessingJobName": "proc-1",
        "ProcessingInputs": [
            {
                "InputName": "raw",
                "S3Input": {
                    "S3Uri": in_uri,
                    "LocalPath": "/opt/ml/processing/raw",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ],
        "ProcessingOutputConfig": {"Outputs": [output]},
        "AppSpecification": {"ImageUri": "123.dkr.ecr.us-east-1.amazonaws.com/img:1"},
        "RoleArn": "arn:aws:iam::123456789012:role/r",
    }


def refusal(request, job_type="training"):
    with pytest.raises(ConsiderationError) as caught:
        enforce(request, job_type)
    return caught.value


GOOD = [
    "s3://bucket",
    "s3://bucket/",
    "s3://bucket/prefix/",
    "s3://bucket/prefix/file.csv",
    "s3://MyLegacyBucket/Data",
    "s3://my.dotted-bucket_1/a/b=c/d+e@f",
    "s3://bucket/prefix/ünïcode/ключ",
    "s3://bucket/my key",  # S3 keys may hold spaces, and so may SageMaker's S3Uri
    "s3://bucket/key ",
]
BAD = [
    "s3:/bucket/key",
    "s3:bucket/key",
    "s3://",
    "s3:///key",
    "s3://b",
    "S3://bucket/key",
    "bucket/key",
    "/local/path",
    " s3://bucket/key",
    "s3://bucket\t/key",
    "s3://bucket:443/key",
    "s3://-bucket/key",
    "gs://bucket/key",
]


def test_rule_is_declared_for_both_job_types():
    assert RULE.job_types == frozenset({"training", "processing"})


@pytest.mark.parametrize("uri", GOOD)
def test_good_uri_passes_everywhere_in_training(uri):
    request = training(uri, output=uri, checkpoint=uri)
    fixed, findings = enforce(request, "training")
    assert findings == []
    assert fixed == request


@pytest.mark.parametrize("uri", GOOD)
def test_good_uri_passes_everywhere_in_processing(uri):
    request = processing(uri, uri)
    fixed, findings = enforce(request, "processing")
    assert findings == []
    assert fixed == request


@pytest.mark.parametrize("uri", BAD)
def test_malformed_channel_uri_is_refused_naming_the_channel(uri):
    err = refusal(training(uri))

    assert err.rule == "s3-uri"
    assert summary(err.findings) == [("s3-uri", "refused", CHANNEL_URI, True)]
    assert repr(uri) in err.findings[0].message
    assert f"[s3ag:s3-uri] {CHANNEL_URI}: " in str(err)


@pytest.mark.parametrize("uri", ["", 123, ["s3://bucket/key"]])
def test_non_uri_values_are_refused(uri):
    err = refusal(training(uri))
    assert summary(err.findings) == [("s3-uri", "refused", CHANNEL_URI, True)]
    assert err.findings[0].message == f"{uri!r} is not an S3 URI"


@pytest.mark.parametrize("uri", ["s3://bucket/key\n", "s3://bucket\n"])
def test_bug_uri_with_a_trailing_newline_is_refused(uri):
    """BUG: ``_request._S3_URI`` ends in ``$``, which also matches before a trailing newline, so
    ``parse_s3_uri("s3://bucket/key\\n")`` succeeds and the rule lets the URI through."""
    err = refusal(training(uri))
    assert summary(err.findings) == [("s3-uri", "refused", CHANNEL_URI, True)]


def test_malformed_output_path_is_refused():
    err = refusal(training(output="s3:/out-bucket/output"))
    assert summary(err.findings) == [("s3-uri", "refused", "OutputDataConfig.S3OutputPath", True)]
    assert "'s3:/out-bucket/output'" in err.findings[0].message


def test_malformed_checkpoint_is_refused():
    err = refusal(training(checkpoint="checkpoints/run-1"))
    assert summary(err.findings) == [("s3-uri", "refused", "CheckpointConfig.S3Uri", True)]
    assert err.findings[0].message == "'checkpoints/run-1' is not an S3 URI of the form s3://bucket/prefix"


def test_every_malformed_location_is_listed_in_order():
    err = refusal(training("s3://", output="out", checkpoint="s3://bucket/a\tb"))
    assert [f.where for f in err.findings] == [CHANNEL_URI, "OutputDataConfig.S3OutputPath", "CheckpointConfig.S3Uri"]
    assert "(3 problems;" in str(err)


def test_malformed_processing_input_is_refused():
    err = refusal(processing(in_uri="in-bucket/raw"), "processing")
    assert err.rule == "s3-uri"
    assert summary(err.findings) == [("s3-uri", "refused", "ProcessingInputs[raw].S3Input.S3Uri", True)]


def test_malformed_processing_output_is_refused():
    err = refusal(processing(out_uri="s3//out-bucket/p"), "processing")
    assert summary(err.findings) == [("s3-uri", "refused", "ProcessingOutputConfig.Outputs[result].S3Output.S3Uri", True)]


def test_unnamed_processing_output_is_named_by_index():
    err = refusal(processing(out_uri="s3://", out_name=None), "processing")
    assert [f.where for f in err.findings] == ["ProcessingOutputConfig.Outputs[#0].S3Output.S3Uri"]


def test_unresolved_uris_are_skipped():
    request = training(Param(), output=Param(), checkpoint=Param())
    _fixed, findings = enforce(request, "training")
    assert findings == []
    _fixed, findings = enforce(processing(Param(), Param()), "processing")
    assert findings == []


@pytest.mark.parametrize(
    "uri",
    [
        "https://bucket.s3.amazonaws.com/manifest.json",
        "https://bucket.s3.eu-west-1.amazonaws.com/data/",
        "https://s3.eu-west-1.amazonaws.com/bucket/data/",
        "https://s3-eu-west-1.amazonaws.com/bucket/data/",
        "https://my.dotted.bucket.s3.amazonaws.com/data/",
        "file:///home/user/data",
        "file://./data",
    ],
)
def test_s3_https_urls_and_local_mode_paths_pass(uri):
    request = training(uri, output=uri, checkpoint=uri)
    fixed, findings = enforce(request, "training")
    assert findings == []
    assert fixed == request


@pytest.mark.parametrize(
    "uri",
    [
        "https://ap-1234.s3-accesspoint.us-east-1.amazonaws.com/data/",  # an access point: no bucket to ask about
        "https://example.com/bucket/data/",
        "https://bucket.s3.amazonaws.com.evil.example/data/",
        "https://bucket.s3.amazonaws.com/data/?versionId=1",
        "http://bucket.s3.amazonaws.com/data/",
    ],
)
def test_https_urls_that_name_no_bucket_are_refused_naming_the_channel(uri):
    with pytest.raises(ConsiderationError) as err:
        enforce(training(uri), "training")
    assert [(f.rule, f.where) for f in err.value.findings] == [("s3-uri", "InputDataConfig[train].DataSource.S3DataSource.S3Uri")]


def test_a_location_longer_than_the_api_takes_is_refused_naming_the_channel():
    uri = "s3://bucket/" + "k" * 1013  # 1025 characters
    with pytest.raises(ConsiderationError) as err:
        enforce(training(uri), "training")
    (finding,) = err.value.findings
    assert finding.where == "InputDataConfig[train].DataSource.S3DataSource.S3Uri"
    assert "1025 characters long; SageMaker takes at most 1024" in finding.message
    enforce(training("s3://bucket/" + "k" * 1012), "training")  # 1024: fine


def test_file_system_channels_and_missing_outputs_are_not_locations():
    request = training()
    request["InputDataConfig"].append(
        {
            "ChannelName": "fsx",
            "DataSource": {
                "FileSystemDataSource": {
                    "FileSystemId": "fs-1",
                    "FileSystemAccessMode": "ro",
                    "FileSystemType": "FSxLustre",
                    "DirectoryPath": "/fsx",
                }
            },
        }
    )
    del request["OutputDataConfig"]
    new, findings = RULE.apply(request, RuleContext("training"))
    assert findings == []
    assert new is request


def test_s3_uri_runs_after_the_removals():
    """A malformed path inside a removed debugger field is not refused: the field is gone."""
    request = training(DebugHookConfig={"S3OutputPath": "not-a-uri"})
    fixed, findings = enforce(request, "training")
    assert summary(findings) == [("debugger", "removed", "DebugHookConfig", True)]
    assert "DebugHookConfig" not in fixed


# --------------------------------------------------------------------------- enforce: general guarantees


def test_rule_ids_are_unique_and_in_a_fixed_order():
    assert [r.id for r in RULES] == ["pipe-mode", "debugger", "profiler", "remote-debug", "dataset-definition", "names", "s3-uri"]
    assert set(RULES_BY_ID) == {r.id for r in RULES}


@pytest.mark.parametrize("job_type", ["training", "processing"])
def test_enforce_returns_a_new_equal_dict_when_nothing_changes(job_type):
    request = training() if job_type == "training" else processing()
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, job_type)

    assert findings == []
    assert fixed == before
    assert fixed is not request
    fixed["Extra"] = 1
    first = "InputDataConfig" if job_type == "training" else "ProcessingInputs"
    fixed[first][0]["ChangedLater"] = True
    assert request == before


def test_enforce_never_mutates_its_input_when_fixing_everything():
    request = training(
        DebugHookConfig={"S3OutputPath": "s3://out-bucket/d/"},
        DebugRuleConfigurations=[{"RuleConfigurationName": "r", "RuleEvaluatorImage": "img"}],
        TensorBoardOutputConfig={"S3OutputPath": "s3://out-bucket/tb/"},
        ProfilerConfig={"ProfilingIntervalInMilliseconds": 500},
        ProfilerRuleConfigurations=[{"RuleConfigurationName": "p", "RuleEvaluatorImage": "img"}],
        RemoteDebugConfig={"EnableRemoteDebug": True},
    )
    request["AlgorithmSpecification"]["TrainingInputMode"] = "Pipe"
    request["InputDataConfig"].append(
        {
            "ChannelName": "val",
            "InputMode": "Pipe",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bk2/v/"}},
        }
    )
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert request == before
    assert [(f.rule, f.action, f.where) for f in findings] == [
        ("pipe-mode", "replaced", "InputDataConfig[val].InputMode"),
        ("pipe-mode", "replaced", "AlgorithmSpecification.TrainingInputMode"),
        ("debugger", "removed", "DebugHookConfig"),
        ("debugger", "removed", "DebugRuleConfigurations"),
        ("debugger", "removed", "TensorBoardOutputConfig"),
        ("profiler", "removed", "ProfilerRuleConfigurations"),
        ("profiler", "replaced", "ProfilerConfig"),
        ("remote-debug", "removed", "RemoteDebugConfig"),
    ]
    assert fixed["ProfilerConfig"] == {"DisableProfiler": True}
    assert fixed["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert fixed["InputDataConfig"][1]["InputMode"] == "File"
    for key in (
        "DebugHookConfig",
        "DebugRuleConfigurations",
        "TensorBoardOutputConfig",
        "ProfilerRuleConfigurations",
        "RemoteDebugConfig",
    ):
        assert key not in fixed
    again, more = enforce(fixed, "training")
    assert (again, more) == (fixed, [])


def crash(request, ctx):
    raise ZeroDivisionError("boom")


def test_a_crashing_rule_becomes_a_refusal_naming_it(monkeypatch):
    crashing = Rule(
        id="crashy",
        title="t",
        summary="s",
        why="w",
        fix="f",
        job_types=frozenset({"training"}),
        apply=crash,
    )
    monkeypatch.setattr(rules_module, "RULES", (crashing,))
    request = training()
    before = copy.deepcopy(request)

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "training")

    err = caught.value
    assert err.rule == "crashy"
    assert summary(err.findings) == [("crashy", "refused", "(request)", True)]
    assert "(ZeroDivisionError: boom)" in err.findings[0].message
    assert "identity_propagation=False" in err.findings[0].message
    assert request == before


def test_a_crashing_rule_does_not_hide_the_other_rules(monkeypatch):
    crashing = dataclasses.replace(RULES_BY_ID["debugger"], apply=crash)
    patched = tuple(crashing if r.id == "debugger" else r for r in RULES)
    monkeypatch.setattr(rules_module, "RULES", patched)
    request = training("s3:/broken", ProfilerConfig={})

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "training")

    err = caught.value
    assert err.rule == "debugger"
    assert summary(err.findings) == [
        ("debugger", "refused", "(request)", True),
        ("s3-uri", "refused", CHANNEL_URI, True),
    ]


def test_a_crashing_rule_for_another_job_type_is_not_run(monkeypatch):
    crashing = dataclasses.replace(RULES_BY_ID["dataset-definition"], apply=crash)
    monkeypatch.setattr(rules_module, "RULES", (crashing,))
    fixed, findings = enforce(training(), "training")
    assert findings == []
    with pytest.raises(ConsiderationError) as caught:
        enforce(processing(), "processing")
    assert caught.value.rule == "dataset-definition"
