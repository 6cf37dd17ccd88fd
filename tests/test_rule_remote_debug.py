"""Rule remote-debug: no RemoteDebugConfig with EnableRemoteDebug on a training job."""

from __future__ import annotations

import copy

import pytest
from rule_requests import pipeline_value, summary, training

from sagemaker_s3ag import ConsiderationError, enforce
from sagemaker_s3ag.core.rules import RULES_BY_ID, RuleContext

RULE = RULES_BY_ID["remote-debug"]


def Param():
    return pipeline_value("RemoteDebug")


def test_rule_is_declared_for_training_only():
    assert RULE.id == "remote-debug"
    assert RULE.job_types == frozenset({"training"})


def test_enabled_remote_debug_is_removed():
    request = training(RemoteDebugConfig={"EnableRemoteDebug": True})
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert summary(findings) == [("remote-debug", "removed", "RemoteDebugConfig", True)]
    assert "remote debugging" in findings[0].message
    assert fixed == {k: v for k, v in before.items() if k != "RemoteDebugConfig"}
    assert request == before


@pytest.mark.parametrize("config", [{"EnableRemoteDebug": False}, {}], ids=["disabled", "empty"])
def test_disabled_remote_debug_is_kept(config):
    request = training(RemoteDebugConfig=config)
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training")

    assert findings == []
    assert fixed == before
    assert fixed["RemoteDebugConfig"] == config
    new, found = RULE.apply(request, RuleContext("training"))
    assert (found, new is request) == ([], True)


def test_absent_remote_debug_is_fine():
    request = training()
    new, findings = RULE.apply(request, RuleContext("training"))
    assert findings == []
    assert new is request


def test_unresolved_flag_is_removed_because_it_could_be_true():
    request = training(RemoteDebugConfig={"EnableRemoteDebug": Param()})

    fixed, findings = enforce(request, "training")

    assert summary(findings) == [("remote-debug", "removed", "RemoteDebugConfig", True)]
    assert "RemoteDebugConfig" not in fixed


def test_sdk_default_remote_debug_is_removed_quietly():
    request = training(RemoteDebugConfig={"EnableRemoteDebug": True})

    fixed, findings = enforce(request, "training", on_violation="error", sdk_defaults=frozenset({"RemoteDebugConfig"}))

    assert summary(findings) == [("remote-debug", "removed", "RemoteDebugConfig", False)]
    assert "RemoteDebugConfig" not in fixed


def test_on_violation_error_refuses_enabled_remote_debug():
    request = training(RemoteDebugConfig={"EnableRemoteDebug": True})
    before = copy.deepcopy(request)

    with pytest.raises(ConsiderationError) as caught:
        enforce(request, "training", on_violation="error")

    err = caught.value
    assert err.rule == "remote-debug"
    assert summary(err.findings) == [("remote-debug", "refused", "RemoteDebugConfig", True)]
    assert err.findings[0].message.endswith("(refused: on_violation='error')")
    assert request == before


def test_on_violation_error_keeps_disabled_remote_debug():
    request = training(RemoteDebugConfig={"EnableRemoteDebug": False})
    fixed, findings = enforce(request, "training", on_violation="error")
    assert findings == []
    assert fixed == request


def test_processing_jobs_are_not_checked_by_the_remote_debug_rule():
    request = {
        "ProcessingJobName": "p",
        "AppSpecification": {"ImageUri": "img"},
        "RemoteDebugConfig": {"EnableRemoteDebug": True},
    }
    fixed, findings = enforce(request, "processing")
    assert findings == []
    assert fixed == request
