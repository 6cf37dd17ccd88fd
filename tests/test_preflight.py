"""The Access Grants preflight on its own: outcomes, deduplication, caching, classification (no network)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws  # imported before any session is made: moto hooks the sessions made after it

from sagemaker_s3ag.core.locations import S3Location, s3_locations, target_for
from sagemaker_s3ag.core.outcomes import Resolution, credentials_verdict, fallback_summary
from sagemaker_s3ag.core.resolver import (
    DENIED_SECONDS,
    DURATION_SECONDS,
    EXPIRY_MARGIN_SECONDS,
    AccessGrantsResolver,
)
from sagemaker_s3ag.testing import AccessGrantsTable, install_access_grants
from sagemaker_s3ag.testing.access_grants import AccessGrantsError

ACCOUNT = "123456789012"
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
        "InstanceScope": "ALL",  # the caller's instance and every one shared with its account through AWS RAM
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
    # SageMaker asks for the bucket's instance first: without that permission the job falls back,
    # whatever GetDataAccess (asked at the same time, to save a round trip) answers
    assert (outcome.outcome, outcome.reason) == ("fallback", "caller may not call s3:GetAccessGrantsInstanceForPrefix")


def test_no_access_grants_instance(boto_session, table):
    table.no_instance.add("data")
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "s3://data/train/"))
    assert (outcome.outcome, outcome.reason) == ("fallback", "no Access Grants instance for this bucket")


def test_a_grant_in_an_instance_shared_through_ram_is_found_and_named(boto_session, table):
    table.owners["shared-data"] = OTHER_ACCOUNT
    table.grant("s3://shared-data/*", "READ")
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "s3://shared-data/x/"))
    assert outcome.outcome == "granted"
    assert outcome.instance_arn == f"arn:aws:s3:us-east-1:{OTHER_ACCOUNT}:access-grants/default"
    assert outcome.reason == f"grant matched in account {OTHER_ACCOUNT}'s instance, shared through AWS RAM"
    (params,) = [c[1] for c in table.calls if c[0] == "GetDataAccess"]
    assert (params["AccountId"], params["InstanceScope"]) == (ACCOUNT, "ALL")  # the caller's own, and every shared one


def test_an_instance_not_shared_with_the_caller_finds_no_grant(boto_session, table):
    table.owners["shared-data"] = OTHER_ACCOUNT
    table.unshared.add(OTHER_ACCOUNT)
    table.grant("s3://shared-data/*", "READ")
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "s3://shared-data/x/"))
    assert (outcome.outcome, outcome.reason) == ("fallback", "no matching grant")


def test_a_caller_without_an_instance_of_its_own_asks_the_buckets_owner(boto_session, table):
    table.instance_exists = False
    table.owners["shared-data"] = OTHER_ACCOUNT
    table.grant("s3://shared-data/*", "READ")
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "s3://shared-data/x/"))
    assert outcome.outcome == "granted"
    assert [c[1]["AccountId"] for c in table.calls if c[0] == "GetDataAccess"] == [ACCOUNT, OTHER_ACCOUNT]


def test_an_instance_shared_by_a_resource_policy_is_asked_of_its_owner_as_sagemaker_does(boto_session, table):
    table.owners["shared-data"] = OTHER_ACCOUNT
    table.policy_shared.add(OTHER_ACCOUNT)  # not through AWS RAM: InstanceScope=ALL does not find it
    table.grant("s3://shared-data/*", "READ")
    resolver = AccessGrantsResolver()
    (outcome,) = resolve(resolver, boto_session, S3Location("a", "READ", "s3://shared-data/x/"))
    assert outcome.outcome == "granted" and outcome.instance_arn.split(":")[4] == OTHER_ACCOUNT
    assert [c[1]["AccountId"] for c in table.calls if c[0] == "GetDataAccess"] == [ACCOUNT, OTHER_ACCOUNT]
    (again,) = resolve(resolver, boto_session, S3Location("b", "READ", "s3://shared-data/y/"))
    assert again.outcome == "granted"  # the owner known now: asked of its instance straight away
    assert [c[1]["AccountId"] for c in table.calls if c[0] == "GetDataAccess"][2:] == [OTHER_ACCOUNT]


def test_an_older_botocore_asks_the_owner_first(boto_session, table, monkeypatch):
    """botocore before 1.44 has no InstanceScope: GetDataAccess goes to the bucket owner's instance."""
    import sagemaker_s3ag.core.resolver as resolver_module

    monkeypatch.setattr(resolver_module, "_knows_instance_scope", lambda client: False)
    table.owners["shared-data"] = OTHER_ACCOUNT
    table.grant("s3://shared-data/*", "READ")
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "s3://shared-data/x/"))
    assert outcome.outcome == "granted"
    (params,) = [c[1] for c in table.calls if c[0] == "GetDataAccess"]
    assert params["AccountId"] == OTHER_ACCOUNT and "InstanceScope" not in params


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
    assert table.counts == {
        "GetCallerIdentity": 1,
        "GetAccessGrantsInstanceForPrefix": 1,
        "GetDataAccess": 1,
        "ListCallerAccessGrants": 1,  # asked at the same time, in case the prefix is refused
    }
    assert [p["Target"] for op, p in table.calls if op == "GetDataAccess"] == ["s3://data/shards/*"]
    assert resolve(resolver, boto_session, *locations) == outcomes  # every location cached by that one answer
    assert table.counts["GetDataAccess"] == 1


def test_hundreds_of_channels_with_mixed_grants_take_one_call_per_covering_grant(boto_session, table):
    table.grant("s3://data/shards/0*", "READ")  # covers 000-099 only
    locations = [S3Location(f"InputDataConfig[c{i}]", "READ", f"s3://data/shards/{i:03d}/") for i in range(300)]
    outcomes = resolve(AccessGrantsResolver(), boto_session, *locations)
    assert [o.outcome for o in outcomes] == ["granted"] * 100 + ["fallback"] * 200
    # the common prefix first (refused: no single grant covers all 300), then the one listed grant
    # that covers some; none covers the rest
    targets = [p["Target"] for op, p in table.calls if op == "GetDataAccess"]
    assert targets == ["s3://data/shards/*", "s3://data/shards/0*"]


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


# --------------------------------------------------------------------------- many locations: what one answer teaches


def shards(prefix: str, n: int, permission: str = "READ") -> list[S3Location]:
    return [S3Location(f"InputDataConfig[{prefix}{i}]", permission, f"s3://mix/{prefix}/shard-{i:03d}/") for i in range(n)]


def data_access_targets(table) -> list[str]:
    return [params["Target"] for op, params in table.calls if op == "GetDataAccess"]


def test_many_locations_under_one_grant_cost_one_call(boto_session, table):
    table.grant("s3://mix/*", "READ")
    outcomes = AccessGrantsResolver().resolve(
        boto_session, shards("granted", 64), timeout=5.0, audit_context="job", account=ACCOUNT
    )
    assert {o.outcome for o in outcomes} == {"granted"}
    assert data_access_targets(table) == ["s3://mix/granted/shard-0*"]
    assert table.counts["GetCallerIdentity"] == 0  # the account came with the job (its role's)


def test_mixed_grants_are_settled_by_the_callers_listed_grants(boto_session, table):
    table.grant("s3://mix/granted/*", "READ")
    locations = shards("granted", 32) + shards("none", 32)
    outcomes = AccessGrantsResolver().resolve(boto_session, locations, timeout=5.0, audit_context="job", account=ACCOUNT)
    assert [o.outcome for o in outcomes] == ["granted"] * 32 + ["fallback"] * 32
    assert {o.reason for o in outcomes[32:]} == {"no matching grant"}
    assert {o.grant_target for o in outcomes[:32]} == {"s3://mix/granted/*"}
    # one round: the common prefix (refused) and its two folders (granted/ settles 32); the listing
    # shows no grant covering none/: no call per location
    assert sorted(data_access_targets(table)) == ["s3://mix/*", "s3://mix/granted/*", "s3://mix/none/*"]
    assert table.counts["ListCallerAccessGrants"] == 1


def test_a_grant_deeper_than_the_folders_is_asked_once_from_the_listing(boto_session, table):
    table.grant("s3://mix/granted/shard-00*", "READ")  # covers shard-000 to shard-009
    locations = shards("granted", 32) + shards("none", 32)
    outcomes = AccessGrantsResolver().resolve(boto_session, locations, timeout=5.0, audit_context="job", account=ACCOUNT)
    assert [o.outcome for o in outcomes] == ["granted"] * 10 + ["fallback"] * 54
    assert sorted(data_access_targets(table)) == [
        "s3://mix/*",
        "s3://mix/granted/*",
        "s3://mix/granted/shard-00*",  # round 2: the one listed grant that covers some
        "s3://mix/none/*",
    ]


def test_without_a_listing_a_refused_prefix_is_split_a_segment_deeper(boto_session, table):
    table.denied_operations.add("ListCallerAccessGrants")
    table.grant("s3://mix/granted/*", "READ")
    locations = shards("granted", 32) + shards("none", 32)
    outcomes = AccessGrantsResolver().resolve(boto_session, locations, timeout=5.0, audit_context="job", account=ACCOUNT)
    assert [o.outcome for o in outcomes] == ["granted"] * 32 + ["fallback"] * 32
    asked = data_access_targets(table)
    assert sorted(asked[:3]) == ["s3://mix/*", "s3://mix/granted/*", "s3://mix/none/*"]  # one round
    assert sorted(asked[3:]) == [loc.uri + "*" for loc in shards("none", 32)]  # a refusal above proves nothing below


def test_many_folders_are_not_asked_ahead(boto_session, table):
    """Past four folders below the common prefix, asking each ahead would cost more than it saves."""
    table.denied_operations.add("ListCallerAccessGrants")
    table.grant("s3://mix/a/*", "READ")
    locations = [S3Location(f"c{i}", "READ", f"s3://mix/{folder}/{i}/") for folder in "abcde" for i in range(4)]
    outcomes = AccessGrantsResolver().resolve(boto_session, locations, timeout=5.0, audit_context="job", account=ACCOUNT)
    assert [o.outcome for o in outcomes] == ["granted"] * 4 + ["fallback"] * 16
    asked = data_access_targets(table)
    assert asked[0] == "s3://mix/*" and sorted(asked[1:6]) == [f"s3://mix/{f}/*" for f in "abcde"]
    assert len(asked) == 1 + 5 + 16  # the common prefix; then the five folders; then what they did not settle


def test_getdataaccess_stays_the_authority_for_a_listed_grant(boto_session, table):
    """A listed grant that GetDataAccess does not honour (another application's, say) proves nothing."""
    table.grant("s3://mix/granted/*", "READ")

    def add_a_grant(parsed, **_):
        parsed.setdefault("CallerAccessGrantsList", []).append({"GrantScope": "s3://mix/none/*", "Permission": "READ"})

    boto_session.events.register("after-call.s3-control.ListCallerAccessGrants", add_a_grant)
    locations = shards("granted", 16) + shards("none", 16)
    outcomes = AccessGrantsResolver().resolve(boto_session, locations, timeout=5.0, audit_context="job", account=ACCOUNT)
    assert [o.outcome for o in outcomes] == ["granted"] * 16 + ["fallback"] * 16
    assert "s3://mix/none/*" in data_access_targets(table)
    assert len(data_access_targets(table)) == 3 + 16  # none/ refused: each location is asked on its own


def test_a_listing_that_would_not_end_is_not_used(boto_session, table):
    table.grant("s3://mix/granted/*", "READ")
    for i in range(3001):
        table.grant(f"s3://elsewhere/{i}/*", "READ")
    locations = shards("granted", 8) + shards("none", 8)
    outcomes = AccessGrantsResolver().resolve(boto_session, locations, timeout=5.0, audit_context="job", account=ACCOUNT)
    assert [o.outcome for o in outcomes] == ["granted"] * 8 + ["fallback"] * 8
    assert table.counts["ListCallerAccessGrants"] == 3  # three pages at most, then split and asked
    assert table.counts["GetDataAccess"] == 3 + 8


@pytest.mark.parametrize(
    "roles, account",
    [
        ({"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/x"}, ACCOUNT),
        ({"RoleArn": f"arn:aws-us-gov:iam::{OTHER_ACCOUNT}:role/path/x"}, OTHER_ACCOUNT),
        ({"RoleArn": "arn:aws:iam::12345:role/x"}, None),
        ({"RoleArn": {"Get": "Parameters.Role"}}, None),
        ({}, None),
    ],
)
def test_the_callers_account_comes_from_the_jobs_role(roles, account):
    from sagemaker_s3ag.core.request import role_account

    assert role_account(roles, "training") == account
    tuning = {"TrainingJobDefinitions": [roles, {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/y"}]}
    assert role_account(tuning, "tuning") == (ACCOUNT if account == ACCOUNT else None)


def test_a_job_asked_before_is_answered_whole_until_its_first_answer_expires(boto_session, table):
    clock = Clock()
    resolver = AccessGrantsResolver(clock=clock)
    locations = [S3Location("a", "READ", "s3://data/train/"), S3Location("b", "READ", "s3://data/val/")]
    first = resolve(resolver, boto_session, *locations)
    calls = len(table.calls)
    assert resolve(resolver, boto_session, *locations) == first
    assert len(table.calls) == calls  # no call: the job's answers all last
    memo = {("s3://data/train/*", "READ"): Resolution("unknown", "throttled")}  # this job heard otherwise before
    again = resolver.resolve(boto_session, locations, timeout=5.0, audit_context="job", memo=memo)
    assert again[0].outcome == "unknown"  # an answer given to a job stands for that job
    clock.now += DENIED_SECONDS + 1  # the refusal of val/ expires: the whole job is asked again, val/ only
    resolve(resolver, boto_session, *locations)
    assert [c[1]["Target"] for c in table.calls[calls:] if c[0] == "GetDataAccess"] == ["s3://data/val/*"]
    resolver.clear()
    resolve(resolver, boto_session, *locations)
    assert table.counts["GetDataAccess"] == 5  # 2 + val/ + both again after clear()


# --------------------------------------------------------------------------- the instance look-up has the last word

THIRD_ACCOUNT = "333333333333"


@pytest.mark.parametrize("fault", ["error", "throttle"])
def test_a_failed_instance_look_up_is_never_called_granted_nor_kept(boto_session, table, fault):
    code, status = ("InternalError", 500) if fault == "error" else ("SlowDown", 503)
    failing = {"on": True}
    real = table.instance_for_prefix

    def look_up(account_id, prefix):
        if failing["on"]:
            table._record("GetAccessGrantsInstanceForPrefix", {"AccountId": account_id, "S3Prefix": prefix})
            raise AccessGrantsError(code, code, status)
        return real(account_id, prefix)

    table.instance_for_prefix = look_up
    resolver = AccessGrantsResolver()
    (outcome,) = resolve(resolver, boto_session, S3Location("a", "READ", "s3://data/train/"))
    assert outcome.outcome == "unknown"  # GetDataAccess granted it, but SageMaker asks the instance first
    failing["on"] = False
    (outcome,) = resolve(resolver, boto_session, S3Location("a", "READ", "s3://data/train/"))
    assert outcome.outcome == "granted"  # nothing was kept from the failed look-up


def test_an_instance_look_up_that_does_not_answer_in_time_is_unknown(boto_session, table):
    table.hang("GetAccessGrantsInstanceForPrefix")
    try:
        (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "s3://data/train/"), timeout=0.5)
    finally:
        table.release()
    assert (outcome.outcome, outcome.reason) == ("unknown", "no answer within the 0.5 s preflight budget")


@pytest.mark.parametrize("owner_grants", [True, False])
def test_a_grant_matched_in_another_instance_than_the_buckets_is_asked_of_the_buckets(boto_session, owner_grants):
    class Elsewhere(AccessGrantsTable):
        """InstanceScope=ALL matches in a third account's instance; the bucket's own is account OTHER's."""

        def get_data_access(self, account_id, target, permission, **extra):
            if extra.get("InstanceScope") == "ALL":
                self._record("GetDataAccess", {"AccountId": account_id, "Target": target, **extra})
                answer = AccessGrantsTable().grant("s3://shared-data/*").get_data_access(ACCOUNT, target, permission)
                answer["MatchedInstanceArn"] = f"arn:aws:s3:us-east-1:{THIRD_ACCOUNT}:access-grants/default"
                return answer
            return super().get_data_access(account_id, target, permission, **extra)

    table = Elsewhere()
    table.owners["shared-data"] = OTHER_ACCOUNT
    if owner_grants:
        table.grant("s3://shared-data/*", "READ")
    install_access_grants(boto_session, table)
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "s3://shared-data/x/"))
    asked = [(c[1]["AccountId"], c[1].get("InstanceScope")) for c in table.calls if c[0] == "GetDataAccess"]
    assert asked == [(ACCOUNT, "ALL"), (OTHER_ACCOUNT, "SELF")]
    if owner_grants:
        assert (outcome.outcome, _account(outcome.instance_arn)) == ("granted", OTHER_ACCOUNT)
    else:
        assert (outcome.outcome, outcome.reason) == ("fallback", "no matching grant")


def _account(arn: str) -> str:
    return arn.split(":")[4]


def test_a_refused_listing_is_not_asked_again_for_a_while(boto_session, table):
    table.denied_operations.add("ListCallerAccessGrants")
    table.grant("s3://mix/granted/*", "READ")
    resolver = AccessGrantsResolver()
    resolver.resolve(boto_session, shards("granted", 8) + shards("none", 8), timeout=5.0, audit_context="j", account=ACCOUNT)
    resolver.resolve(boto_session, shards("other", 16), timeout=5.0, audit_context="j", account=ACCOUNT)
    assert table.counts["ListCallerAccessGrants"] == 1  # a refusal is kept 15 minutes: no AccessDenied a minute


def test_a_pipeline_value_in_a_directory_bucket_falls_back_without_a_call(boto_session, table):
    class Join:
        expr = {"Std:Join": {"On": "", "Values": ["s3://fast--use1-az4--x-s3/runs/", {"Get": "Execution.ExecutionId"}]}}

    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", Join()))
    assert outcome.outcome == "fallback" and "directory bucket" in outcome.reason
    assert table.counts["GetDataAccess"] == 0


# --------------------------------------------------------------------------- found by the second review


class SlowOwner(AccessGrantsTable):
    """The instance look-up answers a little after GetDataAccess, as it often does over a network."""

    def instance_for_prefix(self, account_id, prefix):
        time.sleep(0.05)
        return super().instance_for_prefix(account_id, prefix)


def data_access_calls(table) -> list[tuple[str, str, str]]:
    return [(p["AccountId"], p.get("InstanceScope"), p["Target"]) for op, p in table.calls if op == "GetDataAccess"]


def test_one_location_spelt_two_ways_among_many_is_answered_for_both(boto_session, table):
    table.denied_operations.add("ListCallerAccessGrants")
    locations = [S3Location(f"c{i}", "READ", f"s3://bk1/{f}/{i}/") for i, f in enumerate("aaaccc")]
    locations += [S3Location("d1", "READ", "s3://bk1/c/9/"), S3Location("d2", "READ", "https://bk1.s3.amazonaws.com/c/9/")]
    outcomes = AccessGrantsResolver().resolve(boto_session, locations, timeout=5.0, audit_context="j", account=ACCOUNT)
    assert [o.outcome for o in outcomes] == ["fallback"] * 8  # never a KeyError out of the preflight


def test_every_spelling_of_a_location_gets_the_owners_answer(boto_session):
    table = SlowOwner().grant("s3://shared/*")
    table.owners["shared"] = OTHER_ACCOUNT
    table.policy_shared.add(OTHER_ACCOUNT)
    install_access_grants(boto_session, table)
    locations = [S3Location("a", "READ", "s3://shared/x/"), S3Location("b", "READ", "https://shared.s3.amazonaws.com/x/")]
    outcomes = AccessGrantsResolver().resolve(boto_session, locations, timeout=5.0, audit_context="j", account=ACCOUNT)
    assert [o.outcome for o in outcomes] == ["granted", "granted"]
    assert data_access_calls(table) == [(ACCOUNT, "ALL", "s3://shared/x/*"), (OTHER_ACCOUNT, "SELF", "s3://shared/x/*")]


@pytest.mark.parametrize("answer", ["matched in a third account", "no instance named"])
def test_a_grant_not_proven_in_the_buckets_instance_is_asked_of_it_with_scope_self(boto_session, answer):
    class Table(SlowOwner):
        def get_data_access(self, account_id, target, permission, **extra):
            if extra.get("InstanceScope") == "ALL":  # the search over shared instances finds a grant ...
                self._record("GetDataAccess", {"AccountId": account_id, "Target": target, **extra})
                found = AccessGrantsTable().grant("s3://shared-data/*").get_data_access(ACCOUNT, target, permission)
                if answer == "no instance named":
                    del found["MatchedInstanceArn"]
                else:
                    found["MatchedInstanceArn"] = f"arn:aws:s3:us-east-1:{THIRD_ACCOUNT}:access-grants/default"
                return found
            return super().get_data_access(account_id, target, permission, **extra)  # ... the owner's has none

    table = Table()
    table.owners["shared-data"] = OTHER_ACCOUNT
    install_access_grants(boto_session, table)
    resolver = AccessGrantsResolver()
    (outcome,) = resolve(resolver, boto_session, S3Location("a", "READ", "s3://shared-data/x/"))
    assert (outcome.outcome, outcome.reason) == ("fallback", "no matching grant")
    assert data_access_calls(table)[-1] == (OTHER_ACCOUNT, "SELF", "s3://shared-data/x/*")
    (again,) = resolve(resolver, boto_session, S3Location("b", "READ", "s3://shared-data/x/"))
    assert again.outcome == "fallback"  # and that is what is kept


@pytest.mark.parametrize("found", [{}, {"AccessGrantsInstanceArn": "not-an-arn"}, {"AccessGrantsInstanceArn": None}])
def test_an_instance_look_up_naming_no_instance_is_unknown(boto_session, table, found):
    table.instance_for_prefix = lambda account_id, prefix: dict(found)
    (outcome,) = resolve(AccessGrantsResolver(), boto_session, S3Location("a", "READ", "s3://data/x/"))
    assert outcome.outcome == "unknown" and outcome.reason.startswith("GetAccessGrantsInstanceForPrefix named no instance")


def test_an_expiry_without_a_time_zone_is_read_as_utc_and_nothing_gets_stuck(boto_session):
    class Table(AccessGrantsTable):
        def get_data_access(self, account_id, target, permission, **extra):
            found = super().get_data_access(account_id, target, permission, **extra)
            found["Credentials"]["Expiration"] = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(hours=1)
            return found

    table = Table().grant("s3://data/*")
    install_access_grants(boto_session, table)
    resolver = AccessGrantsResolver()
    for _ in range(3):
        (outcome,) = resolve(
            resolver, boto_session, S3Location("a", "READ", "s3://data/x/"), timeout=5.0
        )  # a roomy budget: a busy CI machine
        assert outcome.outcome == "granted"
    assert table.counts["GetDataAccess"] == 1 and not resolver._inflight


def test_the_listing_is_asked_only_where_it_can_be_used(boto_session, table):
    locations = shards("a", 4) + shards("b", 4, permission="WRITE")  # 8 locations, no group of 8
    AccessGrantsResolver().resolve(boto_session, locations, timeout=5.0, audit_context="j", account=ACCOUNT)
    assert table.counts["ListCallerAccessGrants"] == 0


def test_no_call_starts_once_the_budget_is_spent(boto_session, table):
    table.denied_operations.add("ListCallerAccessGrants")
    table.hang("GetDataAccess")
    try:
        AccessGrantsResolver().resolve(boto_session, shards("x", 200), timeout=0.5, audit_context="j", account=ACCOUNT)
        started = table.counts["GetDataAccess"]
    finally:
        table.release()
    assert started <= 3  # the common prefix and what round 1 asked; never round 2's or 3's after the budget
