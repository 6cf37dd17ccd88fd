"""Rule profiler: no ProfilerRuleConfigurations; ProfilerConfig absent or {'DisableProfiler': True}."""

from __future__ import annotations

import copy

import pytest
from rule_requests import pipeline_value, summary, training

from sagemaker_s3ag import ConsiderationError, enforce
from sagemaker_s3ag.core.rules import RULES_BY_ID, RuleContext

RULE = RULES_BY_ID["profiler"]

PROFILER = {"S3OutputPath": "s3://out-bucket/profiler/", "ProfilingIntervalInMilliseconds": 500}
PROFILER_RULES = [
    {
        "RuleConfigurationName": "ProfilerReport",
        "RuleEvaluatorImage": "503895931360.dkr.ecr.us-east-1.amazonaws.com/sagemaker-debugger-rules:latest",
        "RuleParameters": {"rule_to_invoke": "ProfilerReport"},
    }
]
DISABLED = {"DisableProfiler": True}


def Param():
    return pipeline_value("DisableProfiler")


def test_rule_is_declared_for_training_only():
    assert RULE.id == "profiler"
    assert RULE.job_types == frozenset({"training"})


def test_request_without_profiler_is_untouched():
    request = training()
    new, findings = RULE.apply(request, RuleContext("training"))
    assert findings == []
    assert new is request


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(PROFILER, id="enabled-with-settings"),
        pytest.param({"DisableProfiler": False}, id="explicitly-enabled"),
        pytest.param({"DisableProfiler": False, **PROFILER}, id="explicitly-enabled-with-settings"),
        pytest.param({}, id="empty"),
    ],
)
def test_enabled_profiler_is_disabled(config):
    request = training(ProfilerConfig=config)
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert summary(findings) == [("profiler", "replaced", "ProfilerConfig", True)]
    assert "profiler disabled" in findings[0].message
    assert fixed == {**before, "ProfilerConfig": {"DisableProfiler": True}}
    assert request == before


def test_unresolved_disable_flag_is_treated_as_enabled():
    request = training(ProfilerConfig={"DisableProfiler": Param()})

    fixed, findings = enforce(request, "training")

    assert summary(findings) == [("profiler", "replaced", "ProfilerConfig", True)]
    assert fixed["ProfilerConfig"] == DISABLED


@pytest.mark.parametrize(
    "config",
    [DISABLED, {"DisableProfiler": True, "S3OutputPath": "s3://out-bucket/profiler/"}],
    ids=["bare", "with-output-path"],
)
def test_already_disabled_profiler_is_untouched(config):
    request = training(ProfilerConfig=config)
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert findings == []
    assert fixed == before
    new, found = RULE.apply(request, RuleContext("training"))
    assert (found, new is request) == ([], True)


def test_profiler_rules_are_removed():
    request = training(ProfilerRuleConfigurations=PROFILER_RULES, ProfilerConfig=DISABLED)
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert summary(findings) == [("profiler", "removed", "ProfilerRuleConfigurations", True)]
    assert "rules removed" in findings[0].message
    assert fixed == {k: v for k, v in before.items() if k != "ProfilerRuleConfigurations"}
    assert request == before


def test_empty_profiler_rules_are_kept():
    request = training(ProfilerRuleConfigurations=[])
    fixed, findings = enforce(request, "training")
    assert findings == []
    assert fixed["ProfilerRuleConfigurations"] == []


def test_rules_removed_and_profiler_disabled_together():
    request = training(ProfilerConfig=PROFILER, ProfilerRuleConfigurations=PROFILER_RULES)
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert summary(findings) == [
        ("profiler", "removed", "ProfilerRuleConfigurations", True),
        ("profiler", "replaced", "ProfilerConfig", True),
    ]
    expected = {k: v for k, v in before.items() if k != "ProfilerRuleConfigurations"}
    expected["ProfilerConfig"] = DISABLED
    assert fixed == expected
    assert request == before


def test_sdk_default_profiler_changes_quietly():
    request = training(ProfilerConfig=PROFILER, ProfilerRuleConfigurations=PROFILER_RULES)

    _fixed, findings = enforce(request, "training", sdk_defaults=frozenset({"ProfilerConfig"}))

    assert summary(findings) == [
        ("profiler", "removed", "ProfilerRuleConfigurations", True),
        ("profiler", "replaced", "ProfilerConfig", False),
    ]


def test_sdk_v2_defaults_pass_on_violation_error_quietly():
    """SDK v2 adds a DebugHookConfig and an enabled ProfilerConfig on its own."""
    request = training(DebugHookConfig={"S3OutputPath": "s3://out-bucket/"}, ProfilerConfig=PROFILER)
    before = copy.deepcopy(request)

    fixed, findings = enforce(
        request, "training", on_violation="error", sdk_defaults=frozenset({"DebugHookConfig", "ProfilerConfig"})
    )

    assert summary(findings) == [
        ("debugger", "removed", "DebugHookConfig", False),
        ("profiler", "replaced", "ProfilerConfig", False),
    ]
    expected = {k: v for k, v in before.items() if k != "DebugHookConfig"}
    expected["ProfilerConfig"] = DISABLED
    assert fixed == expected
    assert request == before


def test_on_violation_error_refuses_an_explicit_profiler():
    request = training(ProfilerConfig=PROFILER)

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "training", on_violation="error")

    err = caught.value
    assert err.rule == "profiler"
    assert summary(err.findings) == [("profiler", "refused", "ProfilerConfig", True)]
    assert err.findings[0].message.endswith("(refused: on_violation='error')")


def test_on_violation_error_refuses_explicit_rules_even_with_a_default_profiler():
    request = training(ProfilerConfig=PROFILER, ProfilerRuleConfigurations=PROFILER_RULES)

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "training", on_violation="error", sdk_defaults=frozenset({"ProfilerConfig"}))

    assert summary(caught.value.findings) == [("profiler", "refused", "ProfilerRuleConfigurations", True)]


def test_on_violation_error_passes_a_disabled_profiler():
    request = training(ProfilerConfig=DISABLED)
    fixed, findings = enforce(request, "training", on_violation="error")
    assert findings == []
    assert fixed == request


def test_processing_jobs_are_not_checked_by_the_profiler_rule():
    request = {"ProcessingJobName": "p", "AppSpecification": {"ImageUri": "img"}, "ProfilerConfig": PROFILER}
    fixed, findings = enforce(request, "processing")
    assert findings == []
    assert fixed == request
