"""AWS's further TIP considerations: background sessions, directory buckets, reads the job's code makes, tuning.

The decisions run on real botocore clients: S3 Access Grants through the in-process fake, IAM
Identity Center's ``GetApplicationSessionConfiguration`` and SageMaker's ``DescribeDomain`` answered
by botocore ``before-call`` handlers (moto implements neither), and end to end through a raw boto3
client on moto under ``patch()``.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest
from conftest import BUCKET, ours, tag_map, training_job_request

import sagemaker_s3ag
from sagemaker_s3ag import GrantFallbackError, Settings
from sagemaker_s3ag.core.considerations import (
    CODE_REASON,
    CONSIDERATIONS,
    MAX_SCRIPT_LOCATIONS,
    SCRIPT_REASON,
    BackgroundSessions,
    script_locations,
)
from sagemaker_s3ag.core.decision import decide, plan
from sagemaker_s3ag.core.identity import METADATA_FILE_ENV, IdentityPropagation, background_sessions
from sagemaker_s3ag.core.locations import DIRECTORY_BUCKET_REASON, is_directory_bucket
from sagemaker_s3ag.core.preflight import Preflight
from sagemaker_s3ag.testing import AccessGrantsTable, install_access_grants

TIP = IdentityPropagation(True, "setting")
APP = "arn:aws:sso::111122223333:application/ssoins-1111/apl-2222"
EXPRESS = "s3://fast--use1-az4--x-s3/train/"


def request(**extra) -> dict:
    return training_job_request(**extra)


@pytest.fixture
def boto_session():
    return boto3.Session(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")


@pytest.fixture
def table(boto_session):
    table = AccessGrantsTable().grant(f"s3://{BUCKET}/*", "READWRITE")
    install_access_grants(boto_session, table)
    return table


def decided(boto_session, req, job_type="training", settings=None, **kwargs):
    return decide(
        req,
        job_type,
        settings=settings or Settings(),
        identity_propagation=TIP,
        preflight=Preflight(boto_session, 5.0),
        **kwargs,
    )


def test_every_consideration_cites_aws_and_has_a_unique_id():
    ids = [c.id for c in CONSIDERATIONS]
    assert ids == ["background-session", "directory-bucket", "script-locations", "tuning"]
    assert all(c.source.startswith("https://docs.aws.amazon.com/") for c in CONSIDERATIONS)


# --------------------------------------------------------------------------- directory buckets


@pytest.mark.parametrize(
    "uri, express",
    [
        (EXPRESS, True),
        ("s3://fast--usw2-az1--x-s3", True),
        ("https://fast--use1-az4--x-s3.s3express-use1-az4.us-east-1.amazonaws.com/train/", False),  # not an S3 URL we read
        ("s3://x-s3-lookalike/train/", False),
        ("s3://data--x-s3-not/train/", False),
    ],
)
def test_directory_buckets_are_recognised_by_name(uri, express):
    bucket = uri.split("/")[2]
    assert is_directory_bucket(bucket) is express


def test_a_directory_bucket_falls_back_without_a_call(boto_session, table):
    req = request(
        InputDataConfig=[
            {"ChannelName": "fast", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": EXPRESS}}},
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/t/"}}},
        ]
    )
    _, decision = decided(boto_session, req)
    (express,) = [o for o in decision.locations if o.uri == EXPRESS]
    assert (express.outcome, express.reason) == ("fallback", DIRECTORY_BUCKET_REASON)
    assert not [params for op, params in table.calls if "--x-s3" in str(params)]
    assert decision.credentials == "mixed"
    assert "a directory bucket" in tag_map(decision.tags)["s3ag:fallback"]


# --------------------------------------------------------------------------- reads the job's own code makes


def test_uris_in_hyperparameters_and_environment_are_found_once_each():
    req = request(
        HyperParameters={
            "lookup": '"s3://ref/table.csv"',
            "two": "s3://ref/a/, s3://ref/b/",
            "https": "https://ref.s3.us-east-1.amazonaws.com/c/d.json",
            "web": "https://example.com/s3://not/",  # a web URL with s3:// in its path: not an S3 location
            "again": "s3://ref/table.csv",
            "number": 3,
        },
        Environment={"MODEL": "s3://ref/model/", "PLAIN": "hello"},
    )
    found = [(loc.where, loc.uri, loc.kind) for loc in script_locations(req, "training")]
    assert found == [
        ("HyperParameters[lookup]", "s3://ref/table.csv", "script"),
        ("HyperParameters[two]", "s3://ref/a/", "script"),
        ("HyperParameters[two]", "s3://ref/b/", "script"),
        ("HyperParameters[https]", "s3://ref/c/d.json", "script"),
        ("Environment[MODEL]", "s3://ref/model/", "script"),
    ]
    assert all(loc.permission == "READ" for loc in script_locations(req, "training"))


@pytest.mark.parametrize(
    "values",
    [
        None,
        "not a map",
        [1, 2],
        {"k": None},
        {"k": {"nested": "s3://x/"}},
        {"k": "s3://"},
        {"k": "x" * 1_000_000 + "s3://late/"},  # read only so far: bounded work
        {str(i): f"s3://b/{i}/" for i in range(500)},
    ],
)
def test_hostile_maps_give_a_bounded_list_and_never_raise(values):
    found = script_locations(request(HyperParameters=values, Environment=values), "training")
    assert len(found) <= MAX_SCRIPT_LOCATIONS
    assert all(loc.uri.startswith("s3://") and len(loc.uri) > len("s3://") for loc in found)


def test_processing_reads_environment_only_and_tuning_its_static_hyperparameters():
    processing = {"ProcessingJobName": "p", "Environment": {"A": "s3://proc/a/"}, "HyperParameters": {"B": "s3://proc/b/"}}
    assert [loc.uri for loc in script_locations(processing, "processing")] == ["s3://proc/a/"]
    assert script_locations({"Environment": {"A": "s3://x/a/"}}, "processing") == []  # no such bucket name
    tuning = {
        "TrainingJobDefinition": {"StaticHyperParameters": {"t": "s3://tune/a/"}, "Environment": {"E": "s3://tune/e/"}},
    }
    assert [(loc.where, loc.uri) for loc in script_locations(tuning, "tuning")] == [
        ("TrainingJobDefinition.StaticHyperParameters[t]", "s3://tune/a/"),
        ("TrainingJobDefinition.Environment[E]", "s3://tune/e/"),
    ]


def test_script_locations_are_listed_warned_once_and_recorded(boto_session, table):
    req = request(HyperParameters={"ref": "s3://ref/table.csv", "ref2": "s3://ref/other/"})
    _, decision = decided(boto_session, req)
    assert [(o.uri, o.outcome, o.reason) for o in decision.script_locations] == [
        ("s3://ref/table.csv", "fallback", SCRIPT_REASON),
        ("s3://ref/other/", "fallback", SCRIPT_REASON),
    ]
    assert decision.credentials == "access-grants"  # the channels: SageMaker reads them, not the code
    assert tag_map(decision.tags)["s3ag:fallback"] == "script 2: read by your code with the role"
    assert decision.script_warning.startswith("[s3ag:script-locations] training job job: your code names 2 S3 locations")
    assert "role (read by your code)  s3://ref/table.csv  (HyperParameters[ref])" in str(decision)
    assert "role (read by your code)" in decision._repr_html_()
    assert not [p for op, p in table.calls if "ref" in p.get("Target", "")]  # nothing to ask: the role reads them


def test_the_sdks_source_code_location_is_listed_but_never_warned_about(boto_session, table):
    req = request(HyperParameters={"sagemaker_submit_directory": f'"s3://{BUCKET}/job/source/sourcedir.tar.gz"'})
    _, decision = decided(boto_session, req, settings=Settings(on_fallback="deny", script_locations="deny"))
    ((uri, reason),) = [(o.uri, o.reason) for o in decision.script_locations]
    assert (uri, reason) == (f"s3://{BUCKET}/job/source/sourcedir.tar.gz", CODE_REASON)
    assert decision.script_warning is None
    assert "s3ag:fallback" not in tag_map(decision.tags)
    assert "role (the SageMaker training toolkit)" in str(decision)


@pytest.mark.parametrize(
    "on_fallback, script_setting, outcome",
    [
        ("allow", "warn", "silent"),
        ("allow", "deny", "silent"),
        ("warn", "warn", "warned"),
        ("warn", "deny", "warned"),
        ("deny", "warn", "warned"),  # a string that looks like a URI may never be read: refused only on request
        ("deny", "deny", "refused"),
    ],
)
def test_script_locations_under_each_setting(boto_session, table, on_fallback, script_setting, outcome):
    req = request(Environment={"REF": "s3://ref/table.csv"})
    settings = Settings(on_fallback=on_fallback, script_locations=script_setting)
    if outcome == "refused":
        with pytest.raises(GrantFallbackError) as err:
            decided(boto_session, req, settings=settings)
        assert str(err.value).startswith("[s3ag:script-locations] training job job: your code names 1 S3 location")
        assert list(err.value.locations) == [("s3://ref/table.csv", "READ")]
        refused = plan(req, "training", settings=settings, identity_propagation=TIP, preflight=Preflight(boto_session, 5.0))
        assert refused.refused
        return
    _, decision = decided(boto_session, req, settings=settings)
    assert (decision.script_warning is not None) == (outcome == "warned")
    assert tag_map(decision.tags)["s3ag:fallback"] == "script 1: read by your code with the role"


def test_with_tip_off_script_locations_are_not_judged(boto_session, table):
    _, decision = decide(
        request(Environment={"REF": "s3://ref/x/"}),
        "training",
        settings=Settings(on_fallback="deny", script_locations="deny"),
        identity_propagation=IdentityPropagation(False, "setting"),
    )
    assert decision.script_locations == () and decision.credentials == "iam-role"


def test_a_raw_boto3_job_under_patch_with_script_deny_is_refused_before_create(session, unpatch_after, grant_warnings):
    sagemaker_s3ag.patch(identity_propagation=True, on_fallback="deny", script_locations="deny")
    client = session.boto_session.client("sagemaker")
    with pytest.raises(GrantFallbackError, match=r"\[s3ag:script-locations\]"):
        client.create_training_job(**request(TrainingJobName="refused", HyperParameters={"ref": "s3://ref/x.csv"}))
    assert client.list_training_jobs()["TrainingJobSummaries"] == []
    sagemaker_s3ag.patch(identity_propagation=True)
    client.create_training_job(**request(TrainingJobName="warned", HyperParameters={"ref": "s3://ref/x.csv"}))
    (warning,) = [w for w in ours(grant_warnings) if "script-locations" in w]
    assert "s3://ref/x.csv (HyperParameters[ref])" in warning
    tags = client.list_tags(ResourceArn=client.describe_training_job(TrainingJobName="warned")["TrainingJobArn"])["Tags"]
    assert tag_map(tags)["s3ag:fallback"] == "script 1: read by your code with the role"


# --------------------------------------------------------------------------- background sessions


def studio(monkeypatch, tmp_path, domain="d-abc123"):
    path = tmp_path / "resource-metadata.json"
    path.write_text(json.dumps({"DomainId": domain, "UserProfileName": "alice"}))
    monkeypatch.setenv(METADATA_FILE_ENV, str(path))


class IdentityCenter:
    """DescribeDomain and GetApplicationSessionConfiguration, answered by botocore before-call handlers."""

    def __init__(self, boto_session, status="ENABLED", *, error=None, application=APP):
        self.status, self.error, self.application = status, error, application
        self.asked: list[str] = []
        boto_session.events.register("before-call.sagemaker.DescribeDomain", self.describe_domain)
        boto_session.events.register("before-call.sso-admin.GetApplicationSessionConfiguration", self.session_configuration)

    def describe_domain(self, params, **_):
        self.asked.append("DescribeDomain")
        body = {"DomainSettings": {"TrustedIdentityPropagationSettings": {"Status": "ENABLED"}}}
        if self.application:
            body["SingleSignOnApplicationArn"] = self.application
        return _response(200, body)

    def session_configuration(self, params, **_):
        self.asked.append("GetApplicationSessionConfiguration")
        if self.error:
            return _response(400, {"Error": {"Code": self.error, "Message": "no"}})
        return _response(200, {"UserBackgroundSessionApplicationStatus": self.status})


def _response(status, parsed):
    from botocore.awsrequest import AWSResponse

    parsed["ResponseMetadata"] = {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}
    return AWSResponse("https://fake.invalid/", status, {}, None), parsed


@pytest.mark.parametrize(
    "status, error, expected",
    [
        ("ENABLED", None, BackgroundSessions("enabled", "application apl-2222")),
        ("DISABLED", None, BackgroundSessions("disabled", "application apl-2222")),
        ("SOMETHING", None, BackgroundSessions("unknown", "GetApplicationSessionConfiguration gave 'SOMETHING'")),
        (
            None,
            "AccessDeniedException",
            BackgroundSessions("unknown", "could not check: not allowed to call sso:GetApplicationSessionConfiguration"),
        ),
        (None, "ResourceNotFoundException", BackgroundSessions("unknown", "could not check: failed (ResourceNotFoundException)")),
    ],
)
def test_background_sessions_are_read_through_the_users_session(monkeypatch, tmp_path, boto_session, status, error, expected):
    studio(monkeypatch, tmp_path)
    center = IdentityCenter(boto_session, status, error=error)
    client = boto_session.client("sagemaker")
    assert background_sessions(TIP, client) == expected
    assert background_sessions(TIP, client) == expected
    assert center.asked.count("GetApplicationSessionConfiguration") == 1
    assert center.asked.count("DescribeDomain") == 1
    later = time.monotonic() + 61  # an answer is kept 15 minutes, "could not check" a minute
    monkeypatch.setattr("sagemaker_s3ag.core.identity.time.monotonic", lambda: later)
    assert background_sessions(TIP, client) == expected
    assert center.asked.count("GetApplicationSessionConfiguration") == (1 if expected.status != "unknown" else 2)


def test_background_sessions_outside_studio_and_without_an_application(monkeypatch, tmp_path, boto_session):
    center = IdentityCenter(boto_session, application=None)
    client = boto_session.client("sagemaker")
    assert background_sessions(TIP, client) is None  # not in Studio: no user session to run on
    studio(monkeypatch, tmp_path)
    found = background_sessions(TIP, client)
    assert found.status == "unknown" and "names no IAM Identity Center application" in found.source
    assert background_sessions(IdentityPropagation(True, "domain d-x: DescribeDomain failed (X)", known=False), client) == (
        BackgroundSessions("unknown", "could not check: domain d-x: DescribeDomain failed (X)")
    )
    assert "GetApplicationSessionConfiguration" not in center.asked


@pytest.mark.parametrize(
    "extra, background, duration, expected",
    [
        ({}, BackgroundSessions("enabled", "a"), 7 * 86_400, []),
        ({"StoppingCondition": {"MaxRuntimeInSeconds": 8 * 86_400}}, BackgroundSessions("enabled", "a"), 7 * 86_400, ["8 days"]),
        ({"StoppingCondition": {"MaxRuntimeInSeconds": 8 * 86_400}}, None, 9 * 86_400, []),
        ({"StoppingCondition": {"MaxRuntimeInSeconds": 7200}}, None, 3600, ["2 hours"]),
        ({"StoppingCondition": {}}, None, 3600, ["1 day"]),  # the API's default runtime
        (
            {
                "EnableManagedSpotTraining": True,
                "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 10 * 86_400},
            },
            None,
            7 * 86_400,
            ["10 days", "MaxWaitTimeInSeconds"],
        ),
        ({}, BackgroundSessions("disabled", "application apl-2222"), 7 * 86_400, ["disabled", "15 minutes"]),
        ({}, BackgroundSessions("unknown", "could not check: x"), 7 * 86_400, ["could not check"]),
        ({"StoppingCondition": {"MaxRuntimeInSeconds": "9e9"}}, None, 900, []),  # malformed: the API refuses it
        ({"StoppingCondition": {"MaxRuntimeInSeconds": True}}, None, 900, []),  # not a duration: the API refuses it
        ({"StoppingCondition": {"MaxRuntimeInSeconds": 10**400}}, None, 900, ["more than 30,000 years"]),  # beyond a float
        ({"StoppingCondition": {"MaxRuntimeInSeconds": 10**5000}}, None, 900, ["more than 30,000 years"]),  # beyond str()
        (
            {"EnableManagedSpotTraining": True, "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": True}},
            None,
            900,
            ["1 hour", "MaxRuntimeInSeconds"],
        ),
    ],
)
def test_background_session_findings(boto_session, table, extra, background, duration, expected):
    settings = Settings(background_session_duration=duration)
    _, decision = decided(boto_session, request(**extra), settings=settings, background=background)
    notes = [f"{f.where}: {f.message}" for f in decision.findings if f.rule == "background-session"]
    if not expected:
        assert notes == []
        return
    (note,) = notes
    assert all(part in note for part in expected), note
    assert decision.adjustments == ()  # a note, not a change to the request


def test_a_pipeline_step_runs_on_no_user_session(boto_session, table):
    long = request(StoppingCondition={"MaxRuntimeInSeconds": 20 * 86_400})
    _, decision = decided(boto_session, long, pipeline=True, step="Train", background=BackgroundSessions("disabled", "a"))
    assert [f for f in decision.findings if f.rule == "background-session"] == []


def test_a_grant_aware_job_in_studio_reads_the_setting_once(monkeypatch, tmp_path, session, unpatch_after, grant_warnings):
    studio(monkeypatch, tmp_path)
    center = IdentityCenter(session.boto_session, "DISABLED")
    install = session.boto_session.client("sagemaker")  # made after the handlers: the choke point sees it
    sagemaker_s3ag.patch(identity_propagation=True)
    install.create_training_job(**request(TrainingJobName="one"))
    install.create_training_job(**request(TrainingJobName="two"))
    warned = [w for w in ours(grant_warnings) if w.startswith("[s3ag:background-session]")]
    assert len(warned) == 2 and "user background sessions are disabled (application apl-2222)" in warned[0]
    assert center.asked.count("GetApplicationSessionConfiguration") == 1  # cached for 15 minutes


# --------------------------------------------------------------------------- tuning


def tuning_request(**extra) -> dict:
    definition = {k: v for k, v in request().items() if k not in ("TrainingJobName",)}
    definition["StaticHyperParameters"] = {}
    return {
        "HyperParameterTuningJobName": "tune",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
        },
        "TrainingJobDefinition": definition,
        **extra,
    }


def test_tuning_is_recorded_unknown_unless_every_location_uses_the_role(boto_session, table):
    _, granted = decided(boto_session, tuning_request(), "tuning")
    assert granted.credentials == "unknown"
    assert [(f.rule, f.action) for f in granted.findings] == [("tuning", "noted")]
    table.grants.clear()
    sagemaker_s3ag.clear_caches()
    _, role = decided(boto_session, tuning_request(), "tuning")
    assert role.credentials == "iam-role"  # the role, whether or not TIP reaches the training jobs


def test_tuning_under_deny_is_refused(boto_session, table):
    with pytest.raises(GrantFallbackError, match=r"^\[s3ag:tuning\] tuning job tune: hyperparameter tuning is not"):
        decided(boto_session, tuning_request(), "tuning", settings=Settings(on_fallback="deny"))


def test_one_long_value_cannot_pass_the_cap_and_sdk_keys_are_the_toolkits():
    many = ", ".join(f"s3://ref/{i}/" for i in range(300))
    found = script_locations(request(HyperParameters={"all": many}), "training")
    assert len(found) == MAX_SCRIPT_LOCATIONS
    sdk = request(
        HyperParameters={"sagemaker_s3_output": '"s3://out-bucket/rl/"', "sagemaker_submit_directory": '"s3://c0de/x.tgz"'}
    )
    assert {(loc.where, loc.kind) for loc in script_locations(sdk, "training")} == {
        ("HyperParameters[sagemaker_s3_output]", "code"),
        ("HyperParameters[sagemaker_submit_directory]", "code"),
    }
