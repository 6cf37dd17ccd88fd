"""The Access Grants preflight on its own: outcomes, deduplication, caching, classification (no network)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws  # imported before any session is made: moto hooks the sessions made after it

from sagemaker_s3ag.core.locations import S3Location, s3_locations, target_for
from sagemaker_s3ag.core.outcomes import credentials_verdict, fallback_summary
from sagemaker_s3ag.core.resolver import (
    DENIED_SECONDS,
    DURATION_SECONDS,
    EXPIRY_MARGIN_SECONDS,
    AccessGrantsResolver,
)
from sagemaker_s3ag.testing import AccessGrantsTable, install_access_grants

OTHER_ACCOUNT = "210987654321"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def boto_session():
    return boto3.Session(region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")


@pytest.fixture
def table(boto_session):
    table = AccessGrantsTable().grant("s3://data/train/*", "READ").grant("s3://data/out/*", "READWRITE")
    install_access_grants(boto_session, table)
    return table


def resolve(resolver, boto_session, *locations, timeout=5.0):
    return resolver.resolve(boto_session, list(locations), timeout=timeout, audit_context="job test-job")


def test_outcome_per_location(boto_session, table):
    outcomes = resolve(
        AccessGrantsResolver(),
        boto_session,
        S3Location("InputDataConfig[train]", "READ", "s3://data/train/"),
        S3Location("InputDataConfig[val]", "READ", "s3://data/val/"),
        S3Location("OutputDataConfig.S3OutputPath", "WRITE", "s3://data/out/"),
    )
    assert [(o.uri, o.outcome, o.reason) for o in outcomes] == [
        ("s3://data/train/", "granted", "grant matched"),
        ("s3://data/val/", "fallback", "no matching grant"),
        ("s3://data/out/", "granted", "grant matched"),
    ]
    train = outcomes[0]
    assert (train.grant_target, train.grantee_type, train.instance_arn) == (
        "s3://data/train/*",
        "DIRECTORY_USER",
        "arn:aws:s3:us-east-1:123456789012:access-grants/default",
    )
    assert train.places == ("InputDataConfig[train]",)
    assert credentials_verdict(outcomes) == "mixed"
    assert fallback_summary(outcomes) == "fallback 1/3: no matching grant"


def test_get_data_access_parameters(boto_session, table):
    resolve(AccessGrantsResolver(), boto_session, S3Location("x", "READ", "s3://data/train/"))
    ((operation, params),) = [c for c in table.calls if c[0] == "GetDataAccess"]
    assert params == {
        "AccountId": "123456789012",
        "Target": "s3://data/train/*",
        "Permission": "READ",
        "DurationSeconds": str(DURATION_SECONDS),
        "Privilege": "Minimal",
        "AuditContext": "job test-job",
    }


def test_unique_locations_are_asked_once_and_then_cached(boto_session, table):
    resolver = AccessGrantsResolver()
    locations = [
        S3Location("a", "READ", "s3://data/train/"),
        S3Location("b", "READ", "s3://data/train/"),  # same URI and permission: one call
        S3Location("c", "WRITE", "s3://data/train/"),  # same URI, other permission: another call
    ]
    first = resolve(resolver, boto_session, *locations)
    assert [o.places for o in first] == [("a", "b"), ("c",)]
    assert table.counts == {"GetCallerIdentity": 1, "GetAccessGrantsInstanceForPrefix": 1, "GetDataAccess": 2}
    second = resolve(resolver, boto_session, *locations)
    assert second == first
    assert table.counts == {"GetCallerIdentity": 1, "GetAccessGrantsInstanceForPrefix": 1, "GetDataAccess": 2}


def test_grants_are_cached_until_shortly_before_expiry_and_denials_briefly(boto_session, table):
    clock = Clock()
    resolver = AccessGrantsResolver(clock=clock)
    granted = S3Location("a", "READ", "s3://data/train/")
    denied = S3Location("b", "READ", "s3://data/val/")
    resolve(resolver, boto_session, granted, denied)
    assert table.counts["GetDataAccess"] == 2
    clock.now += DENIED_SECONDS + 1  # the denial is asked again, the grant is not
    resolve(resolver, boto_session, granted, denied)
    assert table.counts["GetDataAccess"] == 3
    assert table.calls[-1][1]["Target"] == "s3://data/val/*"
    clock.now += DURATION_SECONDS - EXPIRY_MARGIN_SECONDS  # past the grant's expiry minus the margin
    resolve(resolver, boto_session, granted)
    assert table.counts["GetDataAccess"] == 4


def test_targets_for_prefixes_objects_and_buckets():
    assert target_for("s3://bk1/train/", "prefix") == "s3://bk1/train/*"
    assert target_for("s3://bk1/train", "prefix") == "s3://bk1/train*"
    assert target_for("s3://bk1", "prefix") == "s3://bk1/*"
    assert target_for("s3://bk1/data/manifest.json", "object") == "s3://bk1/data/manifest.json"


def test_manifest_is_asked_as_an_object(boto_session, table):
    table.grant("s3://data/manifests/train.manifest", "READ")
    request = {
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://data/manifests/train.manifest"}},
            }
        ]
    }
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, *s3_locations(request, "training"))
    assert outcome.outcome == "granted"
    params = [c[1] for c in table.calls if c[0] == "GetDataAccess"][0]
    assert params["Target"] == "s3://data/manifests/train.manifest" and params["TargetType"] == "Object"


def test_permissions_by_place():
    training = {
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://d/in/"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://d/out/"},
        "CheckpointConfig": {"S3Uri": "s3://d/ckpt/"},
    }
    assert [(w.permission, w.uri) for w in s3_locations(training, "training")] == [
        ("READ", "s3://d/in/"),
        ("WRITE", "s3://d/out/"),
        ("READWRITE", "s3://d/ckpt/"),  # checkpoints are uploaded and restored
    ]
    processing = {
        "ProcessingInputs": [{"InputName": "raw", "S3Input": {"S3Uri": "s3://d/raw/"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "clean", "S3Output": {"S3Uri": "s3://d/clean/"}}]},
    }
    assert [(w.permission, w.uri) for w in s3_locations(processing, "processing")] == [
        ("READ", "s3://d/raw/"),
        ("WRITE", "s3://d/clean/"),
    ]


def test_missing_iam_permission_is_not_a_missing_grant(boto_session, table):
    table.denied_operations.add("GetDataAccess")
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "s3://data/train/"))
    assert (outcome.outcome, outcome.reason) == ("fallback", "caller may not call s3:GetDataAccess")


def test_missing_instance_lookup_permission(boto_session, table):
    table.denied_operations.add("GetAccessGrantsInstanceForPrefix")
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "s3://data/train/"))
    assert (outcome.outcome, outcome.reason) == ("fallback", "caller may not call s3:GetAccessGrantsInstanceForPrefix")
    assert table.counts["GetDataAccess"] == 0


def test_no_access_grants_instance(boto_session, table):
    table.no_instance.add("data")
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "s3://data/train/"))
    assert (outcome.outcome, outcome.reason) == ("fallback", "no Access Grants instance for this bucket")


def test_bucket_in_another_account_is_asked_of_its_owner(boto_session, table):
    table.owners["shared-data"] = OTHER_ACCOUNT
    table.grant("s3://shared-data/*", "READ")
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "s3://shared-data/x/"))
    assert outcome.outcome == "granted"
    assert outcome.instance_arn == f"arn:aws:s3:us-east-1:{OTHER_ACCOUNT}:access-grants/default"
    params = [c[1] for c in table.calls if c[0] == "GetDataAccess"][0]
    assert params["AccountId"] == OTHER_ACCOUNT


def test_bucket_without_instance_in_this_region(boto_session, table):
    # A bucket in another Region has no instance here: the preflight says so rather than guessing.
    table.no_instance.add("eu-data")
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "s3://eu-data/x/"))
    assert outcome.outcome == "fallback"


def test_role_grant_is_reported(boto_session, table):
    table.grant("s3://data/shared/*", "READ", grantee_type="IAM")
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "s3://data/shared/"))
    assert (outcome.outcome, outcome.grantee_type, outcome.reason) == (
        "granted",
        "IAM",
        "grant to the IAM role matched",
    )


def test_pipeline_values_are_unknown_and_not_asked(boto_session, table):
    class Param:
        expr = {"Get": "Parameters.TrainData"}

    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", Param()))
    assert (outcome.outcome, outcome.reason) == ("unknown", "a pipeline value, known only when the pipeline runs")
    assert outcome.uri == "pipeline value Parameters.TrainData"
    assert table.counts["GetDataAccess"] == 0
    assert credentials_verdict([outcome]) == "unknown"


def test_malformed_uris_are_never_skipped(boto_session, table):
    """The s3-uri rule refuses such a job; asked anyway (a plan, describe_job), the location is unknown, not left out."""
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "s3:/data"))
    assert (outcome.outcome, outcome.reason.split(":")[0]) == ("unknown", "not an S3 location")
    assert table.calls == []


@pytest.mark.parametrize(
    "url",
    [
        "https://data.s3.amazonaws.com/train/",
        "https://data.s3.us-east-1.amazonaws.com/train/",
        "https://s3.us-east-1.amazonaws.com/data/train/",
        "https://s3.amazonaws.com/data/train/",
        "https://data.s3.dualstack.us-east-1.amazonaws.com/train/",
    ],
)
def test_https_urls_are_asked_about_as_the_s3_uri_they_name(boto_session, table, url):
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", url))
    assert (outcome.uri, outcome.outcome) == (url, "granted")  # the table grants READ on s3://data/*
    assert [p["Target"] for op, p in table.calls if op == "GetDataAccess"] == ["s3://data/train/*"]


def test_an_https_url_with_no_grant_falls_back(boto_session, table):
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "https://secret.s3.amazonaws.com/x/"))
    assert (outcome.outcome, outcome.reason) == ("fallback", "no matching grant")


def test_hundreds_of_channels_under_one_grant_take_one_call(boto_session, table):
    table.grant("s3://data/shards/*", "READ")
    locations = [S3Location(f"InputDataConfig[c{i}]", "READ", f"s3://data/shards/{i:03d}/") for i in range(300)]
    resolver = AccessGrantsResolver()
    outcomes = resolve(resolver, boto_session, *locations)
    assert len(outcomes) == 300 and {(o.outcome, o.grant_target) for o in outcomes} == {("granted", "s3://data/shards/*")}
    assert table.counts == {"GetCallerIdentity": 1, "GetAccessGrantsInstanceForPrefix": 1, "GetDataAccess": 1}
    assert [p["Target"] for op, p in table.calls if op == "GetDataAccess"] == ["s3://data/shards/*"]
    assert resolve(resolver, boto_session, *locations) == outcomes  # every location cached by that one answer
    assert table.counts["GetDataAccess"] == 1


def test_hundreds_of_channels_with_mixed_grants_are_asked_one_by_one(boto_session, table):
    table.grant("s3://data/shards/0*", "READ")  # covers 000-099 only
    locations = [S3Location(f"InputDataConfig[c{i}]", "READ", f"s3://data/shards/{i:03d}/") for i in range(300)]
    outcomes = resolve(AccessGrantsResolver(), boto_session, *locations)
    assert [o.outcome for o in outcomes] == ["granted"] * 100 + ["fallback"] * 200
    # the common prefix first (refused: no single grant covers all 300), then each location
    targets = [p["Target"] for op, p in table.calls if op == "GetDataAccess"]
    assert targets[0] == "s3://data/shards/*" and len(targets) == 301 and len(set(targets)) == 301


def test_few_locations_are_asked_directly(boto_session, table):
    locations = [S3Location(f"c{i}", "READ", f"s3://data/train/{i}/") for i in range(7)]
    resolve(AccessGrantsResolver(), boto_session, *locations)
    assert table.counts["GetDataAccess"] == 7


@pytest.mark.parametrize(
    "kinds, verdict",
    [
        ({"granted"}, "access-grants"),
        ({"fallback"}, "iam-role"),
        ({"granted", "fallback"}, "mixed"),
        ({"granted", "unknown"}, "unknown"),
        (set(), "iam-role"),
    ],
)
def test_verdicts(kinds, verdict):
    from sagemaker_s3ag.core.outcomes import LocationOutcome

    outcomes = [LocationOutcome(f"s3://bk1/{k}/", "READ", k, k) for k in sorted(kinds)]
    assert credentials_verdict(outcomes) == verdict


def test_pipeline_executions_lose_user_and_group_grants():
    from sagemaker_s3ag.core.outcomes import LocationOutcome, as_pipeline_execution

    outcomes = (
        LocationOutcome(
            "s3://bk1/a/", "READ", "granted", "grant matched", grant_target="s3://bk1/a/*", grantee_type="DIRECTORY_USER"
        ),
        LocationOutcome(
            "s3://bk1/b/", "READ", "granted", "grant matched", grant_target="s3://bk1/b/*", grantee_type="DIRECTORY_GROUP"
        ),
        LocationOutcome(
            "s3://bk1/c/", "READ", "granted", "grant to the IAM role matched", grant_target="s3://bk1/*", grantee_type="IAM"
        ),
        LocationOutcome("s3://bk1/d/", "READ", "fallback", "no matching grant"),
    )
    seen = as_pipeline_execution(outcomes)
    assert [(o.outcome, o.reason) for o in seen] == [
        ("fallback", "pipeline executions carry no user identity (the grant is to a directory user)"),
        ("fallback", "pipeline executions carry no user identity (the grant is to a directory group)"),
        ("granted", "grant to the IAM role matched"),
        ("fallback", "no matching grant"),
    ]
    assert seen[0].grant_target is None and seen[2].grant_target == "s3://bk1/*"
    assert credentials_verdict(seen) == "mixed"


# --------------------------------------------------------------------------- pipeline values and manifests


def join(*values, on="/"):
    return {"Std:Join": {"On": on, "Values": list(values)}}


def test_a_join_known_past_its_bucket_is_asked_about_by_its_head(boto_session, table):
    uri = join("s3://data/train", {"Get": "Execution.PipelineExecutionId"}, "out")
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", uri))
    assert (outcome.outcome, outcome.reason) == ("granted", "a grant covers all of s3://data/train/ (a pipeline value)")


def test_a_join_whose_head_stops_inside_the_bucket_name_proves_nothing(boto_session, table):
    """s3://data + Env could be s3://data-prod/: no head is asked about."""
    uri = join("s3://data", {"Get": "Parameters.Env"}, "/out/", on="")
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", uri))
    assert outcome.outcome == "unknown"
    assert [op for op, _ in table.calls if op == "GetDataAccess"] == []


@pytest.fixture
def s3(boto_session, table):
    """Objects in moto's S3, read through the same session the preflight asks with."""
    with mock_aws():
        install_access_grants(boto_session, table)
        client = boto_session.client("s3")
        for bucket in ("data", "elsewhere"):
            client.create_bucket(Bucket=bucket)
        yield client


def manifest_outcomes(boto_session, uri, data_type="ManifestFile", attributes=()):
    from sagemaker_s3ag.core.preflight import Preflight

    request = {
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": data_type,
                        "S3Uri": uri,
                        **({"AttributeNames": list(attributes)} if attributes else {}),
                    }
                },
            }
        ]
    }
    return Preflight(boto_session, 5.0, resolver=AccessGrantsResolver())(request, "training")


def test_a_manifest_channel_asks_about_what_the_manifest_lists(boto_session, table, s3):
    listing = [{"prefix": "s3://elsewhere/images/"}, "cats/1.jpg", "dogs/2.jpg"]
    s3.put_object(Bucket="data", Key="train/train.manifest", Body=json.dumps(listing).encode())
    outcomes = manifest_outcomes(boto_session, "s3://data/train/train.manifest")
    assert [(o.uri, o.outcome) for o in outcomes] == [
        ("s3://data/train/train.manifest", "granted"),
        ("s3://elsewhere/images/cats/", "fallback"),  # no grant on the bucket the data really sits in
        ("s3://elsewhere/images/dogs/", "fallback"),
    ]
    assert outcomes[1].places == ("InputDataConfig[train].DataSource.S3DataSource.S3Uri (listed in the manifest)",)


def test_an_augmented_manifest_lists_its_attributes(boto_session, table, s3):
    lines = [{"source-ref": "s3://data/train/images/1.jpg", "label": 1, "note": "s3://elsewhere/ignored/"} for _ in range(3)]
    s3.put_object(Bucket="data", Key="train/aug.manifest", Body="\n".join(json.dumps(line) for line in lines).encode())
    outcomes = manifest_outcomes(boto_session, "s3://data/train/aug.manifest", "AugmentedManifestFile", ["source-ref", "label"])
    assert [(o.uri, o.outcome) for o in outcomes] == [
        ("s3://data/train/aug.manifest", "granted"),
        ("s3://data/train/images/", "granted"),
    ]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (None, "the manifest could not be read (NoSuchKey)"),
        (b"not json", "the manifest is not a ManifestFile"),
        (json.dumps([{"prefix": "s3://data/x/"}, 7]).encode(), "every entry after the prefix must be a key"),
        (b"[" + b" " * (1 << 20) + b"]", "the manifest is larger than 1048576 bytes"),
    ],
    ids=["missing", "not-json", "not-a-key", "too-large"],
)
def test_a_manifest_that_cannot_be_read_leaves_its_data_unknown_with_the_reason(boto_session, table, s3, body, reason):
    if body is not None:
        s3.put_object(Bucket="data", Key="bad.manifest", Body=body)
    outcomes = manifest_outcomes(boto_session, "s3://data/bad.manifest")
    assert [(o.uri, o.outcome) for o in outcomes][-1] == ("s3://data/bad.manifest (what it lists)", "unknown")
    assert reason in outcomes[-1].reason
