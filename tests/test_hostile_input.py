"""Hostile input and faults: each way a job could launch with a wrong record, hang, or print a traceback.

One test (or a few) per finding of the hostile review, named after what it proves.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import boto3
import pytest
from conftest import BUCKET, IMAGE, ROLE, leaks, ours, pipe_input

import sagemaker_s3ag
from sagemaker_s3ag import ConsiderationError, GrantAwareProcessor, GrantFallbackError, describe_job, doctor
from sagemaker_s3ag.core.identity import METADATA_FILE_ENV
from sagemaker_s3ag.core.locations import S3Location
from sagemaker_s3ag.core.resolver import AccessGrantsResolver
from sagemaker_s3ag.core.tags import merge_tags
from sagemaker_s3ag.testing import AccessGrantsTable, install_access_grants

pytestmark = pytest.mark.usefixtures("unpatch_after")

TRAIN = f"s3://{BUCKET}/train/"


def processor(session, **settings):
    return GrantAwareProcessor(
        image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=session, **settings
    )


def processing_request(name: str, uri: str) -> dict:
    return {
        "ProcessingJobName": name,
        "RoleArn": ROLE,
        "AppSpecification": {"ImageUri": IMAGE},
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}},
        "ProcessingInputs": [
            {
                "InputName": "raw",
                "S3Input": {"S3Uri": uri, "LocalPath": "/opt/ml/processing/in", "S3DataType": "S3Prefix", "S3InputMode": "File"},
            }
        ],
    }


# --------------------------------------------------------------------------- 1. https:// URLs


@pytest.mark.parametrize(
    "url", [f"https://{BUCKET}.s3.amazonaws.com/secret/", f"https://s3.us-east-1.amazonaws.com/{BUCKET}/secret/"]
)
def test_an_https_url_with_no_grant_is_refused_under_deny(session, access_grants, url):
    access_grants.grants.clear()
    access_grants.grant(f"s3://{BUCKET}/train/*", "READ")
    sagemaker_s3ag.patch(identity_propagation=True, on_fallback="deny")
    client = session.boto_session.client("sagemaker")
    with pytest.raises(GrantFallbackError) as err:
        client.create_processing_job(**processing_request("https-secret", url))
    assert err.value.locations == ((url, "READ"),)
    assert client.list_processing_jobs()["ProcessingJobSummaries"] == []
    asked = [p["Target"] for op, p in access_grants.calls if op == "GetDataAccess"]
    assert asked == [f"s3://{BUCKET}/secret/*"]


# --------------------------------------------------------------------------- 2. a failed Studio domain look-up


@pytest.fixture
def studio_domain_unreachable(session, monkeypatch, tmp_path):
    """A Studio space whose DescribeDomain never answers (throttled every time)."""
    path = tmp_path / "resource-metadata.json"
    path.write_text(json.dumps({"DomainId": "d-abc123", "UserProfileName": "alice"}))
    monkeypatch.setenv(METADATA_FILE_ENV, str(path))
    from botocore.awsrequest import AWSResponse

    attempts = []

    class Raw:
        def stream(self, **_):
            yield json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()

    def throttled(request, **_):
        attempts.append(request.url)
        return AWSResponse(request.url, 400, {"x-amzn-RequestId": "r"}, Raw())

    session.sagemaker_client.meta.events.register_first("before-send.sagemaker.DescribeDomain", throttled)
    yield attempts
    session.sagemaker_client.meta.events.unregister("before-send.sagemaker.DescribeDomain", throttled)


def test_an_unknown_tip_keeps_the_rules_on_is_recorded_and_warned_on_every_job(
    session, access_grants, grant_warnings, studio_domain_unreachable
):
    proc = processor(session)  # identity_propagation=None: detect
    for _ in range(2):
        proc.run(inputs=[pipe_input(TRAIN)], wait=False, logs=False)
        decision = proc.latest_decision
        assert decision.identity_propagation.label == "unknown"
        assert decision.adjustments == ("pipe-mode",)  # the rules stayed on
        assert decision.record["s3ag:identity-propagation"] == "unknown"
    identity_warnings = [w for w in ours(grant_warnings) if w.startswith("[s3ag:identity-propagation]")]
    assert len(identity_warnings) == 2  # one per job, never once per process
    assert "identity_propagation=True or False" in identity_warnings[0]
    assert "DescribeDomain failed (ThrottlingException)" in identity_warnings[0]
    assert len(studio_domain_unreachable) == 2 * 3  # asked again for the second job, with botocore's retries each time


def test_an_unknown_tip_is_refused_under_deny_before_anything(session, access_grants, studio_domain_unreachable):
    proc = processor(session, on_fallback="deny")
    with pytest.raises(ConsiderationError) as err:
        proc.run(inputs=[pipe_input(TRAIN)], wait=False, logs=False)
    assert err.value.rule == "identity-propagation"
    assert session.sagemaker_client.list_processing_jobs()["ProcessingJobSummaries"] == []


# --------------------------------------------------------------------------- 3. misspelt settings


@pytest.mark.parametrize(
    ("keyword", "meant"),
    [("on_fallbak", "on_fallback"), ("identity_propogation", "identity_propagation"), ("preflight_timout", "preflight_timeout")],
)
def test_a_misspelt_setting_is_refused_naming_the_setting_meant(session, keyword, meant):
    with pytest.raises(
        TypeError, match=rf"unexpected keyword argument '{keyword}': did you mean the sagemaker-s3ag setting '{meant}'\?"
    ):
        processor(session, **{keyword: "deny"})


# --------------------------------------------------------------------------- 5. patched() blocks


def test_a_stale_patched_block_does_not_undo_a_later_patch():
    with sagemaker_s3ag.patched(identity_propagation=True):
        sagemaker_s3ag.unpatch()
        sagemaker_s3ag.patch(on_fallback="deny")
    assert sagemaker_s3ag.is_patched()
    from sagemaker_s3ag.sdk.context import patch_settings

    assert patch_settings().on_fallback == "deny"


def test_a_block_around_an_explicit_patch_leaves_that_patch():
    sagemaker_s3ag.patch(on_fallback="allow")
    with sagemaker_s3ag.patched(on_fallback="warn"):
        sagemaker_s3ag.patch(on_fallback="deny")  # explicit: the block does not own this
    from sagemaker_s3ag.sdk.context import patch_settings

    assert patch_settings().on_fallback == "deny"


# --------------------------------------------------------------------------- 6. botocore's history recorder


@pytest.fixture
def history():
    """botocore's history recorder switched on (as the AWS CLI's history feature does), keeping everything it is given."""
    from botocore.history import BaseHistoryHandler, get_global_history_recorder

    kept: list[str] = []

    class Keep(BaseHistoryHandler):
        def emit(self, event_type, payload, source):
            kept.append(f"{event_type} {payload!r}")

    recorder = get_global_history_recorder()
    handler = Keep()
    recorder.add_handler(handler)
    recorder.enable()
    yield kept
    recorder.disable()
    recorder._handlers.remove(handler)


def test_the_history_recorder_never_sees_vended_credentials(grants_server, history):
    resolver = AccessGrantsResolver()
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")
    (outcome,) = resolver.resolve(session, [S3Location("a", "READ", "s3://data/train/")], timeout=10, audit_context="job")
    assert outcome.outcome == "granted"
    assert any("accessgrantsinstance/dataaccess" in record for record in history)  # it did record our calls
    assert leaks(*history) == []


def test_the_history_canary_check_would_catch_a_leak(grants_server, history):
    """The control: a plain S3 Control client's GetDataAccess puts the vended secret in the history."""
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")
    session.client("s3control").get_data_access(AccountId="123456789012", Target="s3://data/train/*", Permission="READ")
    assert leaks(*history) != []


# --------------------------------------------------------------------------- 7. malformed tags


@pytest.mark.parametrize(
    ("tags", "error", "named"),
    [
        ([("team", "ml")], TypeError, "tag #0 ('team', 'ml')"),
        ([None], TypeError, "tag #0 None"),
        ("team=ml", TypeError, "not str 'team=ml'"),
        ([{"Key": "team", "Value": 7}], TypeError, "tag #0 {'Key': 'team', 'Value': 7}: its Value must be a string"),
        ([{"Key": "", "Value": "x"}], ValueError, "tag #0 {'Key': '', 'Value': 'x'}"),
        ([{"Key": "a,b", "Value": "x"}], ValueError, "tag #0 {'Key': 'a,b', 'Value': 'x'}"),
        ([{"Key": "k", "Value": "v" * 257}], ValueError, "at most 256"),
        (
            [{"Key": "k", "Value": "a"}, {"Key": "k", "Value": "b"}],
            ValueError,
            "tag #1 {'Key': 'k', 'Value': 'b'}: the key 'k' is given twice",
        ),
        ([{"Key": f"k{i}", "Value": "v"} for i in range(51)], ValueError, "the request has 51 tags"),
    ],
    ids=["tuple", "none", "string", "int-value", "empty-key", "comma", "long-value", "twice", "fifty-one"],
)
def test_malformed_tags_get_one_clear_error_naming_the_tag(tags, error, named):
    with pytest.raises(error) as caught:
        merge_tags(tags, {"s3ag:credentials": "access-grants"})
    assert named in str(caught.value)


def test_malformed_tags_on_a_raw_request_are_refused_before_the_call(session, access_grants):
    sagemaker_s3ag.patch(identity_propagation=True)
    client = session.boto_session.client("sagemaker")
    with pytest.raises(TypeError, match=r"tag #0"):
        client.create_processing_job(**processing_request("bad-tags", TRAIN), Tags=[("team", "ml")])
    assert client.list_processing_jobs()["ProcessingJobSummaries"] == []


# --------------------------------------------------------------------------- 8. names


@pytest.mark.parametrize("name", ["bad_name", "-leading", "x" * 64, "with space"])
def test_a_job_name_the_api_refuses_is_refused_before_the_call(session, access_grants, name):
    sagemaker_s3ag.patch(identity_propagation=True)
    client = session.boto_session.client("sagemaker")
    with pytest.raises(ConsiderationError) as err:
        client.create_processing_job(**processing_request(name, TRAIN))
    assert err.value.rule == "names" and err.value.findings[0].where == "ProcessingJobName"


# --------------------------------------------------------------------------- 9. library and CLI arguments


@pytest.mark.parametrize("timeout", [-1, 0, float("nan"), float("inf"), 1e308, "5", True])
def test_nonsense_timeouts_are_one_value_error(session, timeout):
    with pytest.raises(ValueError, match="timeout must be a number of seconds above 0 and at most 600"):
        describe_job("any-job", session, timeout=timeout)
    with pytest.raises(ValueError, match="timeout must be a number of seconds above 0 and at most 600"):
        doctor(session.boto_session, timeout=timeout)


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["doctor", "--timeout", "-1"],
            "s3ag doctor: error: argument --timeout: '-1' is not a number of seconds above 0 and at most 600",
        ),
        (
            ["doctor", "--timeout", "nan"],
            "s3ag doctor: error: argument --timeout: 'nan' is not a number of seconds above 0 and at most 600",
        ),
        (
            ["doctor", "--timeout", "1e308"],
            "s3ag doctor: error: argument --timeout: '1e308' is not a number of seconds above 0 and at most 600",
        ),
        (["jobs", "--since", "1000000d"], "s3ag: error: --since 1000000d is too far back: at most 3650d"),
        (
            ["jobs", "--since", "99999999999999999999d"],
            "s3ag: error: --since takes a number and a unit (m, h, d or w), e.g. 7d, or a past UTC time such as 2026-12-01T08:00, not '99999999999999999999d'",
        ),
    ],
)
def test_nonsense_cli_arguments_are_one_line_and_exit_2(argv, line, capsys):
    from sagemaker_s3ag.cli.main import main

    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [line]


# --------------------------------------------------------------------------- 10. hung calls at exit


def test_a_script_ending_right_after_a_hung_preflight_exits_promptly(tmp_path):
    """The preflight gave up on a hanging endpoint; the interpreter must not wait for the hung calls."""
    script = tmp_path / "hang.py"
    script.write_text(
        textwrap.dedent("""
        import boto3
        from sagemaker_s3ag.core.locations import S3Location
        from sagemaker_s3ag.core.resolver import AccessGrantsResolver
        from sagemaker_s3ag.testing import AccessGrantsTable, install_access_grants

        table = AccessGrantsTable().grant("s3://data/*", "READ").hang("GetDataAccess")  # hangs for 60 s
        session = boto3.Session(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")
        install_access_grants(session, table)
        (outcome,) = AccessGrantsResolver().resolve(session, [S3Location("a", "READ", "s3://data/x/")], timeout=0.5, audit_context="j")
        print(outcome.outcome)
    """)
    )
    started = time.monotonic()
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    elapsed = time.monotonic() - started
    assert result.stdout.strip() == "unknown", result.stderr
    assert elapsed < 15  # the hung call lasts 60 s; a joined worker would hold the interpreter that long


# --------------------------------------------------------------------------- 11. caches in a long-running process


def test_cached_answers_are_evicted_over_ten_simulated_hours():
    now = [0.0]
    resolver = AccessGrantsResolver(clock=lambda: now[0])
    table = AccessGrantsTable().grant("s3://data/*", "READ")
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")
    install_access_grants(session, table)
    for minute in range(600):  # a job a minute for ten hours, each with locations never seen before
        now[0] = minute * 60.0
        resolver.resolve(
            session, [S3Location("a", "READ", f"s3://data/job-{minute}/{i}/") for i in range(2)], timeout=5, audit_context="j"
        )
    # granted answers live about 14 minutes (900 s credentials, less a margin), each kept twice: the
    # call's answer and the caller's copy
    live = 2 * 2 * (15 + 1)
    assert len(resolver._cache) <= live + 1 + 2 * 1  # plus the bucket's owner, and at most a minute not yet purged


def test_the_cache_has_a_hard_bound(monkeypatch):
    from sagemaker_s3ag.core import resolver as resolver_module

    monkeypatch.setattr(resolver_module, "MAX_CACHED", 10)
    resolver = AccessGrantsResolver()
    table = AccessGrantsTable().grant("s3://data/*", "READ")
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")
    install_access_grants(session, table)
    resolver.resolve(session, [S3Location(f"c{i}", "READ", f"s3://data/{i}/") for i in range(7)], timeout=5, audit_context="j")
    resolver.resolve(
        session, [S3Location(f"d{i}", "READ", f"s3://data/more-{i}/") for i in range(7)], timeout=5, audit_context="j"
    )
    assert len(resolver._cache) <= 10


# --------------------------------------------------------------------------- found by review


def test_a_session_whose_client_is_not_botocore_is_no_crash():
    """Local mode's LocalSagemakerClient is no botocore client: nothing to ask DescribeDomain with, and no traceback."""
    from sagemaker_s3ag.core.settings import Settings
    from sagemaker_s3ag.sdk.context import Launch

    assert Launch(Settings(identity_propagation=False), sagemaker_client=object()).identity().label == "disabled"
    assert Launch(Settings(identity_propagation=True), sagemaker_client=object()).identity().label == "enabled"
    assert Launch(Settings(), sagemaker_client=object()).identity().label == "disabled"  # not in Studio


def test_on_fallback_deny_refuses_before_the_code_upload(session, access_grants, tmp_path, mocker):
    """The code and the outputs with no destination go under s3://BUCKET/JOB/: asked about before the upload."""
    import botocore.endpoint

    from sagemaker_s3ag import grant_aware
    from sagemaker_s3ag.sdk.installed import sdk_class

    access_grants.grants.clear()
    access_grants.grant(f"s3://{BUCKET}/train/*", "READ")  # the input is granted; the job's own folder is not
    script_processor = sys.modules[sdk_class("Processor").__module__].ScriptProcessor
    code = tmp_path / "process.py"
    code.write_text("print('hello')\n")
    proc = grant_aware(script_processor)(
        image_uri=IMAGE,
        command=["python3"],
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        identity_propagation=True,
        on_fallback="deny",
    )
    sending = mocker.spy(botocore.endpoint.Endpoint, "make_request")
    with pytest.raises(GrantFallbackError) as err:
        proc.run(code=str(code), inputs=[pipe_input(TRAIN)], wait=False, logs=False)
    assert {permission for _uri, permission in err.value.locations} == {"READ"}
    assert all(uri.startswith(f"s3://{BUCKET}/") and uri != TRAIN for uri, _p in err.value.locations)
    sent = {call.args[1].name for call in sending.call_args_list}
    assert not {"PutObject", "CreateMultipartUpload", "CreateProcessingJob"} & sent


# --------------------------------------------------------------------------- 12. a second hostile review


def _answer(body):
    """A botocore ``before-call`` handler that answers the call with ``body`` (a parsed response), unsent."""
    from botocore.awsrequest import AWSResponse

    meta = {"ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}}
    return lambda **_: (AWSResponse("https://s3ag.invalid/", 200, {}, None), {**body, **meta})


@pytest.mark.parametrize("scope", ["s3://*", "s3://buck*", "s3://other-bucket/*", "not a uri"])
def test_a_listed_grant_over_many_buckets_is_asked_as_what_it_covers_here(scope):
    """ListCallerAccessGrants may list a grant on the default location (``s3://*``) or on a name
    pattern: the locations it covers are asked as their common prefix in their own bucket, never a ValueError."""
    from sagemaker_s3ag.core.preflight import Preflight

    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    table = AccessGrantsTable(account="111122223333")  # no grant: every ask refused
    install_access_grants(session, table)
    session.events.register_first(
        "before-call.s3-control.ListCallerAccessGrants",
        _answer({"CallerAccessGrantsList": [{"GrantScope": scope, "Permission": "READ"}]}),
    )
    request = {
        "TrainingJobName": "job",
        "RoleArn": "arn:aws:iam::111122223333:role/R",
        "InputDataConfig": [
            {"ChannelName": f"c{i}", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://bucket/d{i}/"}}}
            for i in range(8)
        ],
    }

    outcomes = Preflight(session, 5.0, resolver=AccessGrantsResolver())(request, "training")

    assert len(outcomes) == 8 and {o.outcome for o in outcomes} == {"fallback"}
    targets = [params["Target"] for op, params in table.calls if op == "GetDataAccess"]
    assert all(t.startswith("s3://bucket/") for t in targets), targets


SPELLINGS = {
    "attributes and spaces": lambda body: (
        body.replace(b"<Credentials>", b'<Credentials xmlns="">')
        .replace(b"<SecretAccessKey>", b"<SecretAccessKey >")
        .replace(b"</SessionToken>", b"</SessionToken >")
    ),
    "namespace prefixes": lambda body: (
        body.replace(b"<SessionToken>", b'<a:SessionToken xmlns:a="urn:x">')
        .replace(b"</SessionToken>", b"</a:SessionToken>")
        .replace(b"<AccessKeyId>", b'<a:AccessKeyId xmlns:a="urn:x">')
        .replace(b"</AccessKeyId>", b"</a:AccessKeyId>")
    ),
    "CDATA and a line break in the tag": lambda body: body.replace(b"<SecretAccessKey>", b"<SecretAccessKey\n><![CDATA[").replace(
        b"</SecretAccessKey>", b"]]></SecretAccessKey\n>"
    ),
    "unclosed (malformed)": lambda body: body.replace(b"</SecretAccessKey>", b""),
}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_vended_credentials_spelt_any_way_reach_no_log_and_no_history(grants_server, history, caplog, monkeypatch, spelling):
    """The cut works on the XML, not on one spelling of it: a body botocore reads the same (or cannot
    read at all) leaves no secret in botocore's DEBUG log or its history recorder."""
    import logging

    from sagemaker_s3ag.testing import FakeAccessGrantsServer

    send, respell = FakeAccessGrantsServer._send, SPELLINGS[spelling]
    monkeypatch.setattr(
        FakeAccessGrantsServer,
        "_send",
        staticmethod(lambda request, status, body, headers=None: send(request, status, respell(body), headers)),
    )
    caplog.set_level(logging.DEBUG)
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")

    (outcome,) = AccessGrantsResolver().resolve(
        session, [S3Location("a", "READ", "s3://data/train/")], timeout=10, audit_context="job"
    )

    assert outcome.outcome == ("unknown" if "malformed" in spelling else "granted"), outcome
    assert any("Response body" in r.getMessage() for r in caplog.records)  # botocore did log the body it read
    assert leaks(*history, *(f"{r.getMessage()} {r.args!r}" for r in caplog.records), repr(outcome)) == []


@pytest.mark.parametrize(
    "scope", ["s3://security-lake/cloudtrail/accesskeyid=EXAMPLE/*", "s3://features/SessionToken_embeddings/SecretAccessKey/*"]
)
def test_a_grant_whose_prefix_names_a_credential_field_is_still_granted(grants_server, scope):
    """Only secret elements are cut: a grant's own prefix may read like a field name, and stays a grant."""
    grants_server.table.grant(scope, "READ")
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")

    (outcome,) = AccessGrantsResolver().resolve(session, [S3Location("a", "READ", scope[:-1])], timeout=10, audit_context="job")

    assert (outcome.outcome, outcome.grant_target) == ("granted", scope)


def test_an_error_naming_a_key_keeps_its_code():
    """An error body is only cut, never replaced: its code (InvalidAccessKeyId) still says what went wrong."""
    from sagemaker_s3ag.core.secrets import scrubbed

    body = b"<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id does not exist</Message></Error>"
    assert scrubbed(body, 403) == body
    assert b"<SecretAccessKey" not in scrubbed(b"<Error><SecretAccessKey>x</SecretAccessKey></Error>", 403)


def _deep(levels):
    value = "x"
    for _ in range(levels):
        value = {"A": value}
    return value


def _holding_itself():
    request = {
        "TrainingJobName": "j",
        "InputDataConfig": [{"ChannelName": "c", "DataSource": {"S3DataSource": {"S3Uri": TRAIN}}}],
    }
    request["Extra"] = request
    request["InputDataConfig"][0]["Self"] = request
    return request


def _held_many_times():
    bomb = ["x"]
    for _ in range(40):
        bomb = [bomb] * 1000  # 1000**40 paths, 41 objects
    return {"TrainingJobName": "j", "Extra": bomb}


@pytest.mark.parametrize(
    "request_, says",
    [
        ({"TrainingJobName": "j", "HyperParameters": {"k": _deep(5000)}}, "nested deeper than 64 levels"),
        (_holding_itself(), "nested deeper than 64 levels, or holds itself"),
        (_held_many_times(), "holds more than 200000 parts"),
    ],
    ids=["5000 levels deep", "holding itself", "one list held 1000 times at 40 levels"],
)
@pytest.mark.parametrize("job_type", ["training", "processing", "tuning"])
def test_a_request_deep_or_holding_itself_is_one_clear_error_in_time_its_size(request_, says, job_type):
    """No RecursionError, no exponential copy, no copy sharing the caller's objects: one ValueError saying what."""
    from sagemaker_s3ag import Settings
    from sagemaker_s3ag.core.decision import decide
    from sagemaker_s3ag.core.identity import IdentityPropagation

    if job_type == "tuning":
        request_ = {"HyperParameterTuningJobName": "t", "TrainingJobDefinition": request_}
    for tip in (True, False):
        with pytest.raises(ValueError, match=says):
            decide(request_, job_type, settings=Settings(), identity_propagation=IdentityPropagation(tip, "t"))


def test_a_request_holding_one_part_twice_gets_two_copies():
    """The copy shares nothing, with the caller or within itself (an empty tuple is one object in Python)."""
    from sagemaker_s3ag import enforce

    channel = {"ChannelName": "c", "DataSource": {"S3DataSource": {"S3Uri": TRAIN}}}
    fixed, _ = enforce({"TrainingJobName": "j", "InputDataConfig": (), "Tags": (), "A": channel, "B": channel}, "training")
    assert fixed["InputDataConfig"] == fixed["Tags"] == [] and fixed["InputDataConfig"] is not fixed["Tags"]
    assert fixed["A"] == fixed["B"] == channel and fixed["A"] is not fixed["B"] and fixed["A"] is not channel


def test_a_raw_call_with_a_value_too_deep_is_refused_before_it_is_sent_under_patch(session):
    """Through the choke point, a hostile value is one clear error and nothing is created."""
    sagemaker_s3ag.patch(identity_propagation=True, on_fallback="allow")
    client = session.boto_session.client("sagemaker")
    request = {
        "TrainingJobName": "deep",
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out/"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    with pytest.raises(ValueError, match="nested deeper than 64 levels"):
        client.create_training_job(**request, HyperParameters={"k": _deep(600)})
    assert client.list_training_jobs()["TrainingJobSummaries"] == []


@pytest.mark.parametrize(
    "lie",
    [
        {"MatchedGrantTarget": 5, "Grantee": {"GranteeType": ["IAM"]}, "MatchedInstanceArn": {"a": 1}},
        {"MatchedGrantTarget": None, "Grantee": "DIRECTORY_USER", "MatchedInstanceArn": ""},
        {"MatchedGrantTarget": "<b>s3://x/*</b>" * 1000, "Grantee": [], "MatchedInstanceArn": 7},
    ],
    ids=["numbers and lists", "none and a string", "huge markup"],
)
def test_a_granted_answer_with_fields_of_the_wrong_type_is_shown_not_crashed_on(lie):
    """A GetDataAccess answer whose fields are not the API's strings keeps only what is a string:
    the decision prints and renders as HTML in a notebook."""
    from datetime import datetime, timedelta, timezone

    from sagemaker_s3ag import Settings
    from sagemaker_s3ag.core.decision import decide
    from sagemaker_s3ag.core.identity import IdentityPropagation
    from sagemaker_s3ag.core.preflight import Preflight

    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    install_access_grants(session, AccessGrantsTable(account="111122223333").grant("s3://bucket/*", "READWRITE"))
    expiry = datetime.now(timezone.utc) + timedelta(hours=1)
    session.events.register_first("before-call.s3-control.GetDataAccess", _answer({"Credentials": {"Expiration": expiry}, **lie}))
    request = {
        "TrainingJobName": "job",
        "RoleArn": "arn:aws:iam::111122223333:role/R",
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out/"},
    }

    _, decision = decide(
        request,
        "training",
        settings=Settings(),
        identity_propagation=IdentityPropagation(True, "test"),
        preflight=Preflight(session, 3.0, resolver=AccessGrantsResolver()),
    )

    (outcome,) = decision.locations
    assert outcome.outcome == "granted"
    assert outcome.grant_target is None or (isinstance(outcome.grant_target, str) and len(outcome.grant_target) <= 2048)
    assert outcome.grantee_type is None and outcome.instance_arn is None
    assert "<b>s3://x" not in decision._repr_html_() and str(decision)  # escaped
