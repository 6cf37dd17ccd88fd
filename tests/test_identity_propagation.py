"""Identity propagation detection: setting, environment, Studio metadata file + DescribeDomain."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from sagemaker_s3ag import GrantAwareWarning, detect_identity_propagation
from sagemaker_s3ag.core.identity import METADATA_FILE_ENV


def test_setting_wins_over_everything(monkeypatch):
    monkeypatch.setenv("TRUSTED_IDENTITY_PROPOGATION_ENABLED", "true")
    assert detect_identity_propagation(False).enabled is False
    assert detect_identity_propagation(False).source == "setting"
    assert detect_identity_propagation(True).enabled is True


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes", "Enabled", " on "])
def test_studio_spelling_true(monkeypatch, value):
    monkeypatch.setenv("TRUSTED_IDENTITY_PROPOGATION_ENABLED", value)
    found = detect_identity_propagation(None)
    assert (found.enabled, found.source) == (True, "environment TRUSTED_IDENTITY_PROPOGATION_ENABLED")


@pytest.mark.parametrize("value", ["false", "0", "No", "DISABLED", "off"])
def test_correct_spelling_false(monkeypatch, value):
    monkeypatch.setenv("TRUSTED_IDENTITY_PROPAGATION_ENABLED", value)
    assert detect_identity_propagation(None).enabled is False


def test_correct_spelling_overrides_studio_spelling(monkeypatch):
    monkeypatch.setenv("TRUSTED_IDENTITY_PROPOGATION_ENABLED", "true")
    monkeypatch.setenv("TRUSTED_IDENTITY_PROPAGATION_ENABLED", "false")
    found = detect_identity_propagation(None)
    assert (found.enabled, found.source) == (False, "environment TRUSTED_IDENTITY_PROPAGATION_ENABLED")


def test_unrecognised_value_warns_and_falls_through(monkeypatch, grant_warnings):
    monkeypatch.setenv("TRUSTED_IDENTITY_PROPOGATION_ENABLED", "maybe")
    found = detect_identity_propagation(None)
    assert found.enabled is False and found.source == "not in a SageMaker Studio space"
    assert len(grant_warnings) == 1 and "'maybe'" in str(grant_warnings[0].message)


def test_outside_studio_is_off():
    found = detect_identity_propagation(None)
    assert (found.enabled, found.source) == (False, "not in a SageMaker Studio space")


def _studio(monkeypatch, tmp_path, domain="d-abc123"):
    path = tmp_path / "resource-metadata.json"
    path.write_text(json.dumps({"DomainId": domain, "UserProfileName": "alice"}))
    monkeypatch.setenv(METADATA_FILE_ENV, str(path))


def _client():
    return boto3.Session(
        region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x"
    ).client("sagemaker")


@pytest.mark.parametrize("status, enabled", [("ENABLED", True), ("DISABLED", False)])
def test_studio_domain_is_asked_once_and_cached(monkeypatch, tmp_path, status, enabled):
    _studio(monkeypatch, tmp_path)
    client = _client()
    with Stubber(client) as stub:
        stub.add_response(
            "describe_domain",
            {"DomainSettings": {"TrustedIdentityPropagationSettings": {"Status": status}}},
            {"DomainId": "d-abc123"},
        )
        first = detect_identity_propagation(None, client)
        second = detect_identity_propagation(None, client)  # served from the cache: no second response queued
        stub.assert_no_pending_responses()
    assert first == second
    assert (first.enabled, first.source) == (enabled, "domain d-abc123 (DescribeDomain)")


def test_describe_domain_denied_warns_once_and_is_off(monkeypatch, tmp_path, grant_warnings):
    _studio(monkeypatch, tmp_path)
    client = _client()
    with Stubber(client) as stub:
        for _ in range(2):
            stub.add_client_error("describe_domain", "AccessDeniedException", "not allowed", 400)
        first = detect_identity_propagation(None, client)
        second = detect_identity_propagation(None, client)
    assert first.enabled is second.enabled is False
    assert len(grant_warnings) == 1
    text = str(grant_warnings[0].message)
    assert "d-abc123" in text and "identity_propagation=True" in text and "DescribeDomain" in text
    assert issubclass(grant_warnings[0].category, GrantAwareWarning)


def test_studio_domain_on_moto(session, monkeypatch, tmp_path):
    client = session.sagemaker_client
    domain = client.create_domain(
        DomainName="studio",
        AuthMode="SSO",
        DefaultUserSettings={"ExecutionRole": "arn:aws:iam::123456789012:role/r"},
        SubnetIds=["subnet-1"],
        VpcId="vpc-1",
    )["DomainArn"].split("/")[-1]
    _studio(monkeypatch, tmp_path, domain)
    found = detect_identity_propagation(None, client)
    # moto keeps no TIP settings, so the domain reads as off; the point is the call path works.
    assert (found.enabled, found.source) == (False, f"domain {domain} (DescribeDomain)")


def test_unreadable_metadata_file_is_not_studio(monkeypatch, tmp_path):
    path = tmp_path / "resource-metadata.json"
    path.write_text("{not json")
    monkeypatch.setenv(METADATA_FILE_ENV, str(path))
    assert detect_identity_propagation(None).source == "not in a SageMaker Studio space"
