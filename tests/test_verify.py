"""Verifying jobs against CloudTrail (issue 12): per-location evidence, one pass for many jobs, reports.

SageMaker and S3 run on moto; CloudTrail (which moto does not implement: ``LookupEvents``, Lake) is
``sagemaker_s3ag.testing.cloudtrail.CloudTrailDouble``, answering at botocore's HTTP layer so that
botocore's paging and retries run as against AWS. Events are shaped as the AWS documentation shows
them (sources cited in that module).
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from conftest import BUCKET, IMAGE, ROLE, tag_map, training_job_request
from hypothesis import given, settings
from hypothesis import strategies as st

import sagemaker_s3ag
from sagemaker_s3ag.cli.main import main
from sagemaker_s3ag.core.evidence import read_access_call
from sagemaker_s3ag.core.preflight import audit_context
from sagemaker_s3ag.ops.jobs import list_jobs, parse_since
from sagemaker_s3ag.ops.verify import verify_job
from sagemaker_s3ag.testing.cloudtrail import (
    CloudTrailDouble,
    cloudtrail_record,
    get_data_access_record,
    s3_data_event,
    studio_user,
)

ROLE_NAME = ROLE.rsplit("/", 1)[-1]
USER = "2801d3e0-f0e1-707f-54e8-f558b19f0a10"
LOCATION_ROLE = "arn:aws:iam::123456789012:role/S3AccessGrantsLocationRole"


def request(name: str) -> dict:
    return training_job_request(name)


def launch(session, name: str, *, tip: bool = True) -> dict:
    """A training job launched through the plugin (its record predicts), and its description."""
    client = session.boto_session.client("sagemaker")
    with sagemaker_s3ag.patched(identity_propagation=tip, on_fallback="allow"):
        client.create_training_job(**request(name))
    return session.sagemaker_client.describe_training_job(TrainingJobName=name)


def at(description: dict, seconds: float) -> str:
    moment = description["CreationTime"] + timedelta(seconds=seconds)
    return moment.astimezone(tz=None).strftime("%Y-%m-%dT%H:%M:%S%z")


def grants_for(description: dict, *, seconds: float = 30, error: str | None = None, **kwargs) -> list[dict]:
    """SageMaker's GetDataAccess calls for a job: READ for the channel, WRITE for the output."""
    identity = kwargs.pop("identity", studio_user(USER, role=ROLE_NAME))
    return [
        get_data_access_record(
            f"s3://{BUCKET}/train/*", "READ", event_time=at(description, seconds), identity=identity, error_code=error, **kwargs
        ),
        get_data_access_record(
            f"s3://{BUCKET}/out/*",
            "WRITE",
            event_time=at(description, seconds + 1),
            identity=identity,
            error_code=error,
            **kwargs,
        ),
    ]


def created(description: dict, user: str = USER) -> dict:
    return cloudtrail_record(
        "CreateTrainingJob",
        request(description["TrainingJobName"]),
        identity=studio_user(user, role=ROLE_NAME),
        event_time=at(description, 0),
    )


def trail(session, records=(), **kwargs) -> CloudTrailDouble:
    return CloudTrailDouble(records, **kwargs).install(session.boto_session)


@pytest.fixture
def cli(session, monkeypatch):
    """``s3ag`` commands use the emulated session (where the CloudTrail double is installed)."""
    from sagemaker_s3ag.cli import main as module

    monkeypatch.setattr(module, "_boto_session", lambda region: session.boto_session)
    return main


def tags(session, name: str) -> dict[str, str]:
    arn = session.sagemaker_client.describe_training_job(TrainingJobName=name)["TrainingJobArn"]
    return tag_map(session.sagemaker_client.list_tags(ResourceArn=arn)["Tags"])


# --------------------------------------------------------------------------- one job


def test_a_job_that_got_its_grants_matches(session):
    job = launch(session, "verify-match")
    double = trail(session, [*grants_for(job), created(job)])
    result = verify_job("verify-match", session)
    assert (result.predicted, result.observed, result.verdict) == ("access-grants", "access-grants", "match")
    assert [(o.uri, o.permission, o.evidence) for o in result.observations] == [
        (f"s3://{BUCKET}/train/", "READ", "granted"),
        (f"s3://{BUCKET}/out/", "WRITE", "granted"),
    ]
    assert all(o.event_ids and "on behalf of " + USER in o.detail for o in result.observations)
    assert result.user == USER and result.recorded
    assert tags(session, "verify-match")["s3ag:verified"] == "match"
    assert double.calls["LookupEvents"] == 2  # GetDataAccess and CreateTrainingJob: one page each


def test_predicted_grants_but_refused_is_a_mismatch_and_the_headline(session, cli, capsys):
    job = launch(session, "verify-mismatch")
    trail(session, [*grants_for(job, error="AccessDenied"), created(job)])
    code = main(["verify", "verify-mismatch"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("training job verify-mismatch: MISMATCH: predicted access-grants, observed iam-role")
    assert "refused (AccessDenied)" in out
    assert tags(session, "verify-mismatch")["s3ag:verified"] == "mismatch"


def test_no_evidence_says_what_was_searched(session):
    launch(session, "verify-nothing")
    trail(session)
    result = verify_job("verify-nothing", session)
    assert (result.observed, result.verdict) == ("unknown", "no-evidence")
    assert "GetDataAccess and CreateTrainingJob events from" in result.searched
    assert all(o.evidence == "no-evidence" and "no GetDataAccess covering it" in o.detail for o in result.observations)


def test_our_own_preflight_calls_never_count(session):
    job = launch(session, "verify-ours")
    trail(session, grants_for(job, audit_context=audit_context("training", "verify-ours")))
    assert verify_job("verify-ours", session).verdict == "no-evidence"


@pytest.mark.parametrize(
    "offset, counted",
    [(-4 * 60, True), (-6 * 60, False), ("end+4m", True), ("end+6m", False)],
)
def test_the_window_edges_allow_five_minutes_of_clock_skew(session, offset, counted):
    name = f"verify-edge-{'a' if counted else 'b'}-{abs(hash(str(offset))) % 1000}"
    job = launch(session, name)
    end = (job["TrainingEndTime"] - job["CreationTime"]).total_seconds()
    seconds = {"end+4m": end + 4 * 60, "end+6m": end + 6 * 60}.get(offset, offset)
    trail(session, grants_for(job, seconds=seconds))
    assert (verify_job(name, session).verdict == "match") is counted


def test_calls_by_another_role_or_for_another_user_are_not_this_jobs(session):
    job = launch(session, "verify-others")
    other_role = grants_for(job, identity=studio_user(USER, role="SomeoneElsesRole"))
    other_user = grants_for(job, identity=studio_user("11111111-2222-3333-4444-555555555555", role=ROLE_NAME))
    trail(session, [*other_role, *other_user, created(job)])
    assert verify_job("verify-others", session).verdict == "no-evidence"


def test_predicted_role_with_a_grant_observed_is_a_mismatch(session):
    job = launch(session, "verify-tip-off", tip=False)
    trail(session, grants_for(job))
    result = verify_job("verify-tip-off", session)
    assert (result.predicted, result.verdict) == ("iam-role", "mismatch")


def test_data_events_show_what_the_reads_used(session):
    job = launch(session, "verify-data")
    grants = (
        "arn:aws:sts::123456789012:assumed-role/S3AccessGrantsLocationRole/access-grants-ade86c3c-4781-4c65-8beb-4639bb72f5e6"
    )
    role_session = f"arn:aws:sts::123456789012:assumed-role/{ROLE_NAME}/SageMaker"
    data = [
        s3_data_event(
            f"s3://{BUCKET}/train/part-0", event_time=at(job, 40), session_arn=grants, issuer_arn=LOCATION_ROLE, on_behalf_of=USER
        ),
        s3_data_event(
            f"s3://{BUCKET}/out/model.tar.gz",
            event_time=at(job, 50),
            session_arn=role_session,
            issuer_arn=ROLE,
            operation="PutObject",
        ),
        s3_data_event(f"s3://{BUCKET}/unrelated/x", event_time=at(job, 50), session_arn=role_session, issuer_arn=ROLE),
    ]
    double = trail(session, [created(job)], data_events=data)  # no GetDataAccess found: the reads speak
    result = verify_job("verify-data", session, event_data_store=double.event_data_store, record=False)
    assert [o.used for o in result.observations] == [("access-grants",), ("iam-role",)]
    assert [o.credentials for o in result.observations] == ["access-grants", "unknown"]  # the role's write decides nothing
    assert result.verdict == "no-evidence"
    assert any("reads by the execution role are shown, not counted" in n for n in result.notes)
    (query,) = double.queries
    assert "eventCategory = 'Data'" in query and f"'{BUCKET}'" in query


def test_reads_with_someone_elses_grant_or_role_do_not_count(session):
    job = launch(session, "verify-data-others")
    grants = "arn:aws:sts::123456789012:assumed-role/S3AccessGrantsLocationRole/access-grants-0000"
    other_account = "arn:aws:sts::999999999999:assumed-role/X/SageMaker"
    data = [
        s3_data_event(
            f"s3://{BUCKET}/train/a",
            event_time=at(job, 40),
            session_arn=grants,
            issuer_arn=LOCATION_ROLE,
            on_behalf_of="another-user",
        ),
        s3_data_event(f"s3://{BUCKET}/train/b", event_time=at(job, 40), session_arn=grants, issuer_arn=LOCATION_ROLE),
        s3_data_event(
            f"s3://{BUCKET}/train/c",
            event_time=at(job, 40),
            session_arn=other_account,
            issuer_arn=f"arn:aws:iam::999999999999:role/{ROLE_NAME}",
        ),
        s3_data_event(
            f"s3://{BUCKET}-2/train/d", event_time=at(job, 40), session_arn=grants, issuer_arn=LOCATION_ROLE, on_behalf_of=USER
        ),
    ]
    double = trail(session, [created(job)], data_events=data)
    result = verify_job("verify-data-others", session, event_data_store=double.event_data_store, record=False)
    assert [o.used for o in result.observations] == [(), ()]


# --------------------------------------------------------------------------- many jobs


def test_many_jobs_are_verified_in_one_pass(session):
    jobs = [launch(session, f"verify-many-{i:02d}") for i in range(24)]
    noise = [
        get_data_access_record(
            f"s3://other-bucket/p{i}/*", event_time=at(jobs[i % 24], 20), identity=studio_user(USER, role=ROLE_NAME)
        )
        for i in range(2400)
    ]
    calls = [event for job in jobs for event in grants_for(job)]
    creates = [created(job) for job in jobs]
    double = trail(session, [*noise, *calls, *creates])
    found = list_jobs(session, since=timedelta(hours=1), verify=True)
    mine = [r for r in found if r.job_name.startswith("verify-many-")]
    assert len(mine) == 24 and {r.verification.verdict for r in mine} == {"match"}
    expected = math.ceil((len(noise) + len(calls)) / 50) + math.ceil(len(creates) / 50)
    assert double.calls["LookupEvents"] == expected == 50  # pages of the whole window, never one lookup per job
    again = list_jobs(session, since=timedelta(hours=1), verify=True)  # resumable: final verdicts are kept
    assert double.calls["LookupEvents"] == expected  # nothing left to verify: CloudTrail is not read again
    assert {r.record.get("s3ag:verified") for r in again if r.job_name.startswith("verify-many-")} == {"match"}


def test_throttled_lookups_are_retried_by_botocore(session):
    job = launch(session, "verify-throttled")
    noise = [get_data_access_record(f"s3://other-bucket/{i}/*", event_time=at(job, 5)) for i in range(200)]
    double = trail(session, [*noise, *grants_for(job), created(job)], throttle_every=3)
    assert verify_job("verify-throttled", session).verdict == "match"
    assert double.throttled >= 1


def test_the_report_frame_chart_and_html(session, tmp_path):
    job = launch(session, "verify-report")
    trail(session, [*grants_for(job, error="AccessDenied"), created(job)])
    jobs = list_jobs(session, since=timedelta(hours=1), verify=True)
    frame = jobs.to_frame()
    row = frame[frame.job_name == "verify-report"].iloc[0]
    assert (row.predicted, row.observed, row.verified, row.user) == ("access-grants", "iam-role", "mismatch", USER)
    ET.fromstring(str(jobs.plot()))  # well-formed SVG
    path = tmp_path / "report.html"
    document = jobs.to_html(path)
    assert path.read_text() == document and "verify-report" in document and "<svg" in document
    assert "<script" not in document and "src=" not in document and "href=" not in document  # self-contained
    assert 'style="background:#fde2d4"' in document  # the mismatch stands out


def test_jobs_verify_command_writes_csv_and_html(session, cli, tmp_path, capsys):
    job = launch(session, "verify-cli")
    trail(session, [*grants_for(job), created(job)])
    report = tmp_path / "jobs.html"
    assert main(["jobs", "--verify", "--since", "1h", "--csv", "--html", str(report)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(",")[:4] == ["created", "job_name", "job_type", "status"]
    assert any(",verify-cli," in line and ",match," in line for line in lines)
    assert report.exists()


def test_since_takes_a_time_to_resume_from():
    assert parse_since(
        "2026-12-01T08:00",
        now=parse_since.__globals__["datetime"](2026, 12, 2, 8, tzinfo=parse_since.__globals__["timezone"].utc),
    ) == timedelta(days=1)
    for bad in ("2999-01-01T00:00", "yesterday", "1900-01-01"):
        with pytest.raises(ValueError):
            parse_since(bad)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["verify", "no-such-job"], "no-such-job"),
        (["verify", "x", "--event-data-store", "not an ARN!"], "is not a CloudTrail Lake event data store"),
        (["jobs", "--reverify"], "--event-data-store and --reverify go with --verify"),
    ],
)
def test_bad_arguments_are_one_line(session, cli, argv, message, capsys):
    launch(session, "x") if "x" in argv else None
    trail(session)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["eventName", "eventSource", "eventTime", "eventID", "requestParameters", "userIdentity", "errorCode"]),
        st.recursive(
            st.none() | st.text(max_size=12) | st.integers() | st.booleans(),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
            max_leaves=12,
        ),
    )
)
def test_any_record_reads_as_a_call_or_nothing(fields):
    record = {**get_data_access_record("s3://b/p/*", event_time="2026-12-07T09:00:00Z"), **fields}
    call = read_access_call(record)
    assert call is None or (call.target and call.permission)


def test_verification_json_is_complete(session, cli, capsys):
    job = launch(session, "verify-json")
    trail(session, [*grants_for(job), created(job)])
    assert main(["verify", "verify-json", "--json", "--no-record"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "match" and data["recorded"] is False
    assert [loc["evidence"] for loc in data["locations"]] == ["granted", "granted"]
    assert "s3ag:verified" not in tags(session, "verify-json")


# --------------------------------------------------------------------------- found by review


def noise_case(job: dict, **changes) -> dict:
    record = get_data_access_record(
        f"s3://{BUCKET}/train/*",
        "READ",
        event_time=at(job, 30),
        identity=studio_user(USER, role=ROLE_NAME),
        error_code="AccessDenied",
    )
    record.update(changes.pop("record", {}))
    for key, value in changes.items():
        record["requestParameters"][key] = value
    return record


@pytest.mark.parametrize(
    "case",
    [
        "iam user, no role",
        "READWRITE refused for a READ location",
        "a wider target refused",
        "no user on whose behalf",
        "from a notebook's address",
    ],
)
def test_refusals_that_are_not_this_jobs_do_not_count(session, case):
    name = f"verify-noise-{abs(hash(case)) % 10000}"
    job = launch(session, name)
    identity = studio_user(USER, role=ROLE_NAME)
    record = {
        "iam user, no role": lambda: noise_case(
            job, record={"userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/intern"}}
        ),
        "READWRITE refused for a READ location": lambda: noise_case(job, permission="READWRITE"),
        "a wider target refused": lambda: noise_case(job, target=f"s3://{BUCKET}/*"),
        "no user on whose behalf": lambda: noise_case(
            job, record={"userIdentity": {k: v for k, v in identity.items() if k != "onBehalfOf"}}
        ),
        "from a notebook's address": lambda: noise_case(
            job, record={"sourceIPAddress": "203.0.113.7", "userAgent": "Boto3/1.40"}
        ),
    }[case]()
    trail(session, [record, created(job)])
    (train, _out) = verify_job(name, session, record=False).observations
    assert train.evidence == "no-evidence"


@pytest.mark.parametrize(
    "target, covers",
    [
        (f"s3://{BUCKET}/train/*", True),
        (f"s3://{BUCKET}/*", True),
        (f"s3://{BUCKET}/tr*", True),
        (f"s3://{BUCKET}/train/", True),
        (f"s3://{BUCKET}/train/sub/*", False),
        (f"s3://{BUCKET}/train/one-file.csv", False),
        (f"s3://{BUCKET}/tr", False),
        (f"s3://{BUCKET[:-1]}*", False),
        (f"s3://{BUCKET}-2/train/*", False),
    ],
)
def test_a_grant_covers_a_location_only_from_at_or_above_it(session, target, covers):
    name = f"verify-covers-{abs(hash(target)) % 100000}"
    job = launch(session, name)
    trail(
        session,
        [
            get_data_access_record(target, "READ", event_time=at(job, 30), identity=studio_user(USER, role=ROLE_NAME)),
            created(job),
        ],
    )
    (train, _out) = verify_job(name, session, record=False).observations
    assert (train.evidence == "granted") is covers


@pytest.mark.parametrize(
    "context",
    [
        "sagemaker-s3ag doctor",
        {"additionalAuditContext": "sagemaker-s3ag preflight for SageMaker training job x"},
        "training-job/sweep-trial-07",
    ],
)
def test_calls_of_our_tools_or_naming_another_job_do_not_count(session, context):
    name = f"verify-context-{abs(hash(str(context))) % 100000}"
    job = launch(session, name)
    trail(session, [*grants_for(job, audit_context=context), created(job)])
    assert verify_job(name, session, record=False).verdict == "no-evidence"


def test_a_mixed_prediction_against_uniform_evidence_is_a_mismatch():
    from sagemaker_s3ag.core.evidence import Observation, compare

    granted = [Observation("s3://b/a/", "READ", "granted", ""), Observation("s3://b/o/", "WRITE", "granted", "")]
    refused = [Observation("s3://b/a/", "READ", "denied", ""), Observation("s3://b/o/", "WRITE", "denied", "")]
    both = [granted[0], refused[1]]
    assert (compare("mixed", granted), compare("mixed", refused), compare("mixed", both)) == ("mismatch", "mismatch", "match")
    assert compare("access-grants", granted, complete=False) == "no-evidence"


def test_a_job_that_ended_without_an_end_time_closes_its_window_at_its_last_change():
    import boto3
    from botocore.stub import Stubber

    from sagemaker_s3ag.ops.verify import job_facts

    client = boto3.Session(region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b").client("sagemaker")
    created_at = parse_since.__globals__["datetime"](2026, 11, 1, 10, tzinfo=parse_since.__globals__["timezone"].utc)
    with Stubber(client) as stub:
        stub.add_response(
            "describe_training_job",
            training_description(
                "failed-early", "Failed", CreationTime=created_at, LastModifiedTime=created_at + timedelta(minutes=3)
            ),
        )
        stub.add_response("list_tags", {"Tags": []})
        facts = job_facts(client, "failed-early", "training")
    assert facts.ended and facts.window.end == created_at + timedelta(minutes=8)


def test_a_training_and_a_processing_job_of_one_name_are_told_apart(session, cli, capsys):
    launch(session, "nightly")
    session.sagemaker_client.create_processing_job(
        ProcessingJobName="nightly",
        RoleArn=ROLE,
        AppSpecification={"ImageUri": IMAGE},
        ProcessingResources={"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}},
    )
    trail(session)
    assert main(["verify", "nightly"]) == 2
    assert "both a training and a processing job are named 'nightly'" in capsys.readouterr().err
    assert main(["verify", "nightly", "--type", "processing", "--json", "--no-record"]) == 0
    assert json.loads(capsys.readouterr().out)["job_type"] == "processing"
    found = [
        r for r in list_jobs(session, since=timedelta(hours=1), verify=True, record_verified=False) if r.job_name == "nightly"
    ]
    assert sorted((r.job_type, r.verification.job_type) for r in found) == [
        ("processing", "processing"),
        ("training", "training"),
    ]


def test_a_manifest_channel_cannot_match(session):
    name = "verify-manifest"
    client = session.boto_session.client("sagemaker")
    manifest = request(name)
    manifest["InputDataConfig"][0]["DataSource"]["S3DataSource"].update(
        S3DataType="ManifestFile", S3Uri=f"s3://{BUCKET}/train/x.manifest"
    )
    with sagemaker_s3ag.patched(identity_propagation=True, on_fallback="allow"):
        client.create_training_job(**manifest)
    job = session.sagemaker_client.describe_training_job(TrainingJobName=name)
    trail(session, [*grants_for(job), created(job)])
    result = verify_job(name, session, record=False)
    assert result.verdict == "no-evidence"
    assert any("a manifest: the data it lists is not checked" in n for n in result.notes)


def test_a_final_verdict_is_not_worn_away_when_the_evidence_ages_out(session):
    job = launch(session, "verify-keep")
    trail(session, [*grants_for(job), created(job)])
    assert verify_job("verify-keep", session).verdict == "match"
    trail(session)  # later: CloudTrail no longer has the calls
    again = verify_job("verify-keep", session)
    assert again.verdict == "no-evidence" and not again.recorded
    assert any("keeps its earlier s3ag:verified=match" in n for n in again.notes)
    assert tags(session, "verify-keep")["s3ag:verified"] == "match"


def test_a_job_without_a_record_is_not_tagged(session):
    session.sagemaker_client.create_training_job(**request("verify-unrecorded"))
    trail(session)
    result = verify_job("verify-unrecorded", session)
    assert result.predicted is None and not result.recorded
    assert "s3ag:verified" not in tags(session, "verify-unrecorded")


def test_csv_cells_are_not_formulas():
    from sagemaker_s3ag.ops.report import _csv_cell

    assert [_csv_cell(v) for v in ("=1+1", "+x", "-x", "@x", "ok")] == ["'=1+1", "'+x", "'-x", "'@x", "ok"]


# --------------------------------------------------------------------------- descriptions that lie


def training_description(name, status="Completed", **fields):
    """A DescribeTrainingJob answer botocore's Stubber takes as well-formed, with ``fields`` over it."""
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "TrainingJobStatus": status,
        "SecondaryStatus": status,
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ResourceConfig": {"VolumeSizeInGB": 30},
        "StoppingCondition": {},
        "ModelArtifacts": {"S3ModelArtifacts": ""},
        **fields,
    }


def _stubbed_sagemaker(description, tags):
    import boto3
    from botocore.stub import Stubber

    client = boto3.Session(region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b").client("sagemaker")
    stub = Stubber(client)
    stub.add_response("describe_training_job", description)
    stub.add_client_error("describe_processing_job", "ValidationException")
    stub.add_response("list_tags", {"Tags": tags})
    stub.activate()
    return client


@pytest.mark.parametrize(
    "times",
    [
        {"TrainingEndTime": "9999-12-31T23:59:00Z"},
        {"CreationTime": "0001-01-01T00:00:00Z", "TrainingEndTime": "0001-01-01T00:01:00Z"},
    ],
    ids=["ends in year 9999", "made in year 1"],
)
def test_a_description_at_the_ends_of_the_calendar_gets_a_window_not_a_crash(times):
    """Stubber takes these as well-formed: the window is held at the ends of the calendar, no OverflowError."""
    from datetime import datetime, timezone

    when = {k: datetime.fromisoformat(v.replace("Z", "+00:00")) for k, v in times.items()}
    description = training_description("j", **{"CreationTime": datetime(2025, 1, 1, tzinfo=timezone.utc), **when})
    from sagemaker_s3ag.ops.verify import job_facts

    facts = job_facts(_stubbed_sagemaker(description, []), "j")
    assert facts.window.start < facts.window.end and facts.window.end.tzinfo is not None


def test_job_facts_from_a_client_that_lies_are_one_clear_error_or_skipped():
    """A fake client (not botocore): a description without its ARN is a ValueError saying so, and a
    ListTags entry that is not a tag is passed over."""
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from sagemaker_s3ag.core.tags import record_from_tags
    from sagemaker_s3ag.ops.verify import job_facts

    created = datetime(2025, 1, 1, tzinfo=timezone.utc)
    client = SimpleNamespace(describe_training_job=lambda **_: {"TrainingJobName": "j", "CreationTime": created})
    with pytest.raises(ValueError, match="without its ARN"):
        job_facts(client, "j", "training")
    assert record_from_tags([None, "s3ag:x", {"Key": "s3ag:credentials", "Value": "granted"}]) == {"s3ag:credentials": "granted"}


def test_window_arithmetic_is_held_at_the_ends_of_the_calendar():
    """gather() widens the Create* pass past the newest job's start: held at the calendar's end, no OverflowError."""
    from datetime import datetime, timezone

    from sagemaker_s3ag.core.evidence import shifted

    end = datetime.max.replace(tzinfo=timezone.utc)
    assert shifted(end - timedelta(minutes=1), timedelta(minutes=10)) == end
    assert shifted(datetime.min, -timedelta(minutes=5)) == datetime.min.replace(tzinfo=timezone.utc)
