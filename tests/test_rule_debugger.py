"""Rule debugger: no DebugHookConfig, DebugRuleConfigurations or TensorBoardOutputConfig on a training job."""

from __future__ import annotations

import copy

import pytest
from rule_requests import summary, training

from sagemaker_s3ag import ConsiderationError, enforce
from sagemaker_s3ag.core.rules import RULES_BY_ID, RuleContext

RULE = RULES_BY_ID["debugger"]

HOOK = {
    "S3OutputPath": "s3://out-bucket/debug/",
    "CollectionConfigurations": [{"CollectionName": "losses", "CollectionParameters": {"save_interval": "10"}}],
}
RULES = [
    {
        "RuleConfigurationName": "LossNotDecreasing",
        "RuleEvaluatorImage": "503895931360.dkr.ecr.us-east-1.amazonaws.com/sagemaker-debugger-rules:latest",
        "RuleParameters": {"rule_to_invoke": "LossNotDecreasing"},
    }
]
TENSORBOARD = {"S3OutputPath": "s3://out-bucket/tensorboard/", "LocalPath": "/opt/ml/output/tensorboard"}


def without(request, *keys):
    return {k: v for k, v in request.items() if k not in keys}


def test_rule_is_declared_for_training_only():
    assert RULE.id == "debugger"
    assert RULE.job_types == frozenset({"training"})


def test_request_without_debugger_is_untouched():
    request = training()
    fixed, findings = enforce(request, "training")
    assert findings == []
    assert fixed == request
    new, found = RULE.apply(request, RuleContext("training"))
    assert (new, found) == (request, [])
    assert new is request


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("DebugHookConfig", HOOK, "hook removed"),
        ("DebugRuleConfigurations", RULES, "rules removed"),
        ("TensorBoardOutputConfig", TENSORBOARD, "TensorBoard output"),
    ],
)
def test_each_debugger_field_is_removed(key, value, words):
    request = training(**{key: value})
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert summary(findings) == [("debugger", "removed", key, True)]
    assert words in findings[0].message
    assert fixed == without(before, key)
    assert request == before


def test_all_three_are_removed_in_a_fixed_order():
    request = training(TensorBoardOutputConfig=TENSORBOARD, DebugRuleConfigurations=RULES, DebugHookConfig=HOOK)
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert summary(findings) == [
        ("debugger", "removed", "DebugHookConfig", True),
        ("debugger", "removed", "DebugRuleConfigurations", True),
        ("debugger", "removed", "TensorBoardOutputConfig", True),
    ]
    assert fixed == without(before, "DebugHookConfig", "DebugRuleConfigurations", "TensorBoardOutputConfig")
    assert request == before


@pytest.mark.parametrize("key", ["DebugRuleConfigurations", "DebugHookConfig"])
def test_empty_field_is_not_a_debugger_and_is_kept(key):
    empty = [] if key == "DebugRuleConfigurations" else {}
    request = training(**{key: empty})

    fixed, findings = enforce(request, "training")

    assert findings == []
    assert fixed[key] == empty


def test_sdk_default_hook_is_removed_quietly():
    request = training(DebugHookConfig=HOOK, DebugRuleConfigurations=RULES)

    fixed, findings = enforce(request, "training", sdk_defaults=frozenset({"DebugHookConfig"}))

    assert summary(findings) == [
        ("debugger", "removed", "DebugHookConfig", False),
        ("debugger", "removed", "DebugRuleConfigurations", True),
    ]
    assert "DebugHookConfig" not in fixed
    assert "DebugRuleConfigurations" not in fixed


def test_on_violation_error_still_removes_the_sdk_default_hook_quietly():
    request = training(DebugHookConfig=HOOK)
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training", on_violation="error", sdk_defaults=frozenset({"DebugHookConfig"}))

    assert summary(findings) == [("debugger", "removed", "DebugHookConfig", False)]
    assert fixed == without(before, "DebugHookConfig")
    assert request == before


def test_on_violation_error_refuses_an_explicit_hook():
    request = training(DebugHookConfig=HOOK)
    before = copy.deepcopy(request)

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "training", on_violation="error")

    err = caught.value
    assert err.rule == "debugger"
    assert summary(err.findings) == [("debugger", "refused", "DebugHookConfig", True)]
    assert err.findings[0].message.endswith("(refused: on_violation='error')")
    assert request == before


def test_on_violation_error_lists_only_the_explicit_fields():
    request = training(DebugHookConfig=HOOK, DebugRuleConfigurations=RULES, TensorBoardOutputConfig=TENSORBOARD)

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "training", on_violation="error", sdk_defaults=frozenset({"DebugHookConfig"}))

    assert summary(caught.value.findings) == [
        ("debugger", "refused", "DebugRuleConfigurations", True),
        ("debugger", "refused", "TensorBoardOutputConfig", True),
    ]
    assert "(2 problems;" in str(caught.value)


def test_processing_jobs_are_not_checked_by_the_debugger_rule():
    request = {
        "ProcessingJobName": "p",
        "AppSpecification": {"ImageUri": "img"},
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "DebugHookConfig": HOOK,
    }
    fixed, findings = enforce(request, "processing")
    assert findings == []
    assert fixed == request


def test_apply_does_not_mutate_and_returns_a_new_request():
    request = training(DebugHookConfig=HOOK)
    before = copy.deepcopy(request)

    new, findings = RULE.apply(request, RuleContext("training"))

    assert new is not request
    assert "DebugHookConfig" not in new
    assert request == before
    assert len(findings) == 1
