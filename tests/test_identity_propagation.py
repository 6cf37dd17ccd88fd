"""Identity propagation detection: setting, environment, Studio metadata file + DescribeDomain."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from sagemaker_s3ag import detect_identity_propagation
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
    return boto3.Session(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x").client("sagemaker")


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


def test_describe_domain_denied_is_unknown_and_never_cached(monkeypatch, tmp_path, grant_warnings):
    """A refused look-up is not "off": the rules stay on, the record says unknown, the next job asks again."""
    _studio(monkeypatch, tmp_path)
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error("describe_domain", "AccessDeniedException", "not allowed", 400)
        stub.add_response("describe_domain", {"DomainSettings": {"TrustedIdentityPropagationSettings": {"Status": "ENABLED"}}})
        first = detect_identity_propagation(None, client)
        second = detect_identity_propagation(None, client)  # asked again: a failure is not a verdict
        stub.assert_no_pending_responses()
    assert (first.enabled, first.known, first.label) == (True, False, "unknown")
    assert first.source == "domain d-abc123: not allowed to call sagemaker:DescribeDomain"
    assert (second.enabled, second.known, second.label) == (True, True, "enabled")
    assert grant_warnings == []  # the warning is the job's (one per job), not the look-up's


class FlakyDomain:
    """DescribeDomain over botocore's HTTP layer: ``failures`` error answers (retried by botocore), then ENABLED."""

    def __init__(self, client, failures: int, status: int = 400, code: str = "ThrottlingException") -> None:
        self.attempts = 0
        self.failures, self.status, self.code = failures, status, code
        client.meta.events.register_first("before-send.sagemaker.DescribeDomain", self.answer)

    def answer(self, request, **_):
        from botocore.awsrequest import AWSResponse

        self.attempts += 1
        if self.attempts <= self.failures:
            body = json.dumps({"__type": self.code, "message": "no"}).encode()
            return AWSResponse(request.url, self.status, {"x-amzn-RequestId": "r"}, _Raw(body))
        body = json.dumps({"DomainSettings": {"TrustedIdentityPropagationSettings": {"Status": "ENABLED"}}}).encode()
        return AWSResponse(request.url, 200, {"x-amzn-RequestId": "r"}, _Raw(body))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_):
        yield self.body


@pytest.mark.parametrize(
    ("status", "code"), [(400, "ThrottlingException"), (500, "InternalFailure"), (503, "ServiceUnavailable")]
)
def test_a_throttled_or_failing_look_up_is_retried_by_botocore(monkeypatch, tmp_path, status, code):
    _studio(monkeypatch, tmp_path)
    client = _client()
    flaky = FlakyDomain(client, failures=2, status=status, code=code)
    found = detect_identity_propagation(None, client)
    assert (found.label, flaky.attempts) == ("enabled", 3)


def test_a_look_up_that_keeps_failing_is_unknown(monkeypatch, tmp_path):
    _studio(monkeypatch, tmp_path)
    client = _client()
    flaky = FlakyDomain(client, failures=99)
    found = detect_identity_propagation(None, client)
    assert (found.label, found.source) == ("unknown", "domain d-abc123: DescribeDomain failed (ThrottlingException)")
    assert flaky.attempts == 3  # botocore's standard retry mode, bounded


def test_an_unreachable_endpoint_is_unknown(monkeypatch, tmp_path):
    _studio(monkeypatch, tmp_path)
    client = boto3.Session(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x").client(
        "sagemaker",
        endpoint_url="http://127.0.0.1:9",  # nothing listens there
    )
    found = detect_identity_propagation(None, client, timeout=1.0)
    assert found.label == "unknown" and found.source.startswith("domain d-abc123: DescribeDomain failed (")


def test_no_session_to_ask_in_studio_is_unknown(monkeypatch, tmp_path):
    _studio(monkeypatch, tmp_path)
    assert detect_identity_propagation(None).label == "unknown"


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
