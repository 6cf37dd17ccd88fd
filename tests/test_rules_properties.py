"""Property tests: the rules over generated CreateTrainingJob / CreateProcessingJob requests, and merge_tags.

The generated requests are *fixable*: no Gzip / RecordIO / AugmentedManifestFile in Pipe, no
DatasetDefinition, no malformed or unresolved value, so ``enforce(..., on_violation="fix")`` never raises.
"""

from __future__ import annotations

import copy
import re
import string

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from sagemaker_s3ag import ConsiderationError, enforce
from sagemaker_s3ag.core.tags import KEYS, MAX_TAGS, MAX_VALUE, earlier_record, merge_tags

# --------------------------------------------------------------------------- strategies: shared

ALNUM = string.ascii_letters + string.digits
NAME = st.builds(lambda a, b: a + b, st.sampled_from(ALNUM), st.text(ALNUM + "._-", max_size=8))
JOB_NAME = st.builds(lambda a, b: a + b, st.sampled_from(ALNUM), st.text(ALNUM + "-", max_size=8)).map(
    lambda name: name.rstrip("-")  # letters, digits and hyphens, not ending in one
)
BUCKET = st.builds(
    lambda a, b: a + b,
    st.sampled_from(string.ascii_lowercase + string.digits),
    st.text(string.ascii_lowercase + string.digits + ".-", min_size=2, max_size=10),
)
KEY = st.one_of(st.just(""), st.just("/"), st.text(ALNUM + "/_.=-", max_size=14).map(lambda k: "/" + k))
S3_URI = st.builds(lambda b, k: f"s3://{b}{k}", BUCKET, KEY)

# JSON-ish values for extra fields (compared with ==, so nothing that is unequal to its deepcopy)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
# "X-" keeps generated keys clear of every field the rules read
EXTRA = st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=5).map(lambda k: "X-" + k), JSON, max_size=3)

DEBUGGER_KEYS = ("DebugHookConfig", "DebugRuleConfigurations", "TensorBoardOutputConfig")
REMOVED_WHEN_SET = DEBUGGER_KEYS + ("ProfilerRuleConfigurations",)
TRAINING_DEFAULTABLE = DEBUGGER_KEYS + ("ProfilerConfig", "ProfilerRuleConfigurations", "RemoteDebugConfig")


def _optional(key, strategy):
    return st.one_of(st.just({}), strategy.map(lambda v: {key: v}))


def _merge(*parts):
    out = {}
    for part in parts:
        out.update(part)
    return out


# --------------------------------------------------------------------------- strategies: training


@st.composite
def s3_channel(draw, name):
    source = {
        "S3DataType": draw(st.sampled_from(["S3Prefix", "ManifestFile"])),
        "S3Uri": draw(S3_URI),
    }
    if draw(st.booleans()):
        source["S3DataDistributionType"] = draw(st.sampled_from(["FullyReplicated", "ShardedByS3Key"]))
    channel = {"ChannelName": name, "DataSource": {"S3DataSource": source}}
    if draw(st.booleans()):
        channel["ContentType"] = draw(st.sampled_from(["text/csv", "application/x-parquet"]))
    if draw(st.booleans()):
        channel["CompressionType"] = "None"
    if draw(st.booleans()):
        channel["RecordWrapperType"] = "None"
    return channel


@st.composite
def fs_channel(draw, name):
    return {
        "ChannelName": name,
        "DataSource": {
            "FileSystemDataSource": {
                "FileSystemId": "fs-" + draw(st.text("0123456789abcdef", min_size=8, max_size=8)),
                "FileSystemAccessMode": draw(st.sampled_from(["ro", "rw"])),
                "FileSystemType": draw(st.sampled_from(["EFS", "FSxLustre"])),
                "DirectoryPath": "/" + draw(NAME),
            }
        },
    }


@st.composite
def channel(draw, name):
    made = draw(s3_channel(name) if draw(st.integers(0, 3)) else fs_channel(name))
    mode = draw(st.sampled_from([None, "File", "Pipe", "FastFile"]))
    if mode is not None:
        made["InputMode"] = mode
    if draw(st.integers(0, 3)) == 0:
        made["ShuffleConfig"] = {"Seed": draw(st.integers(0, 99))}
    made.update(draw(EXTRA))
    return made


@st.composite
def training_request(draw):
    names = draw(st.lists(NAME, min_size=0, max_size=5, unique=True))
    request = {
        "TrainingJobName": draw(JOB_NAME),
        "AlgorithmSpecification": {
            "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:latest",
            "TrainingInputMode": draw(st.sampled_from(["File", "Pipe", "FastFile"])),
        },
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "InputDataConfig": [draw(channel(name)) for name in names],
        "OutputDataConfig": {"S3OutputPath": draw(S3_URI)},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    if draw(st.booleans()):
        request["AlgorithmSpecification"]["ContainerEntrypoint"] = ["python", "train.py"]
    if not names and draw(st.booleans()):
        del request["InputDataConfig"]
    path = S3_URI.map(lambda u: {"S3OutputPath": u})
    rule = st.fixed_dictionaries({"RuleConfigurationName": NAME, "RuleEvaluatorImage": st.just("img")})
    profiler = st.one_of(
        st.just({}),
        st.fixed_dictionaries({"DisableProfiler": st.booleans()}),
        st.fixed_dictionaries(
            {"S3OutputPath": S3_URI, "ProfilingIntervalInMilliseconds": st.sampled_from([100, 500])},
            optional={"DisableProfiler": st.booleans()},
        ),
    )
    remote = st.one_of(st.just({}), st.fixed_dictionaries({"EnableRemoteDebug": st.booleans()}))
    request.update(
        _merge(
            draw(_optional("DebugHookConfig", path)),
            draw(_optional("DebugRuleConfigurations", st.lists(rule, max_size=2))),
            draw(_optional("TensorBoardOutputConfig", path)),
            draw(_optional("ProfilerConfig", profiler)),
            draw(_optional("ProfilerRuleConfigurations", st.lists(rule, max_size=2))),
            draw(_optional("RemoteDebugConfig", remote)),
            draw(_optional("CheckpointConfig", S3_URI.map(lambda u: {"S3Uri": u, "LocalPath": "/opt/ml/checkpoints"}))),
            draw(_optional("Tags", st.lists(st.fixed_dictionaries({"Key": NAME, "Value": NAME}), max_size=3))),
            draw(_optional("HyperParameters", st.dictionaries(NAME, NAME, max_size=3))),
            draw(_optional("Environment", st.dictionaries(NAME, st.one_of(NAME, S3_URI), max_size=2))),
            draw(EXTRA),
        )
    )
    return request


TRAINING_OPTIONS = st.fixed_dictionaries(
    {
        "pipe_mode_replacement": st.sampled_from(["File", "FastFile"]),
        "sdk_defaults": st.frozensets(st.sampled_from(TRAINING_DEFAULTABLE)),
    }
)


# --------------------------------------------------------------------------- strategies: processing


@st.composite
def processing_input(draw, name):
    s3 = {
        "S3Uri": draw(S3_URI),
        "LocalPath": f"/opt/ml/processing/{name}",
        "S3DataType": draw(st.sampled_from(["S3Prefix", "ManifestFile"])),
    }
    mode = draw(st.sampled_from([None, "File", "Pipe"]))
    if mode is not None:
        s3["S3InputMode"] = mode
    if draw(st.booleans()):
        s3["S3DataDistributionType"] = draw(st.sampled_from(["FullyReplicated", "ShardedByS3Key"]))
    if draw(st.booleans()):
        s3["S3CompressionType"] = "None"
    item = {"InputName": name, "S3Input": s3}
    if draw(st.booleans()):
        item["AppManaged"] = draw(st.booleans())
    item.update(draw(EXTRA))
    return item


@st.composite
def processing_request(draw):
    names = draw(st.lists(NAME, min_size=0, max_size=5, unique=True))
    outputs = [
        {
            "OutputName": out,
            "S3Output": {"S3Uri": draw(S3_URI), "LocalPath": f"/opt/ml/processing/{out}", "S3UploadMode": "EndOfJob"},
        }
        for out in draw(st.lists(NAME, max_size=3, unique=True))
    ]
    request = {
        "ProcessingJobName": draw(JOB_NAME),
        "ProcessingInputs": [draw(processing_input(name)) for name in names],
        "ProcessingOutputConfig": {"Outputs": outputs},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}},
        "AppSpecification": {"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:latest"},
        "RoleArn": "arn:aws:iam::123456789012:role/r",
    }
    request.update(draw(EXTRA))
    return request


# --------------------------------------------------------------------------- model of the expected result


def effective(request, ch):
    """What mode a channel reads in: its own InputMode, else the job's TrainingInputMode."""
    return ch.get("InputMode") or request["AlgorithmSpecification"]["TrainingInputMode"]


def is_s3(ch):
    return "S3DataSource" in ch["DataSource"]


def profiler_disabled(config):
    return config.get("DisableProfiler") is True


def expected_removed(request):
    gone = {key for key in REMOVED_WHEN_SET if request.get(key)}
    if (request.get("RemoteDebugConfig") or {}).get("EnableRemoteDebug") is True:
        gone.add("RemoteDebugConfig")
    return gone


def check_training_fix(original, fixed, replacement):
    # (a) top-level fields: exactly the forbidden ones are gone, nothing is added
    assert set(fixed) == set(original) - expected_removed(original)
    for key, value in original.items():
        if key in fixed and key not in ("AlgorithmSpecification", "InputDataConfig", "ProfilerConfig"):
            assert fixed[key] == value, key
    if "ProfilerConfig" in original:
        if profiler_disabled(original["ProfilerConfig"]):
            assert fixed["ProfilerConfig"] == original["ProfilerConfig"]
        else:
            assert fixed["ProfilerConfig"] == {"DisableProfiler": True}
    spec, new_spec = original["AlgorithmSpecification"], fixed["AlgorithmSpecification"]
    assert {k: v for k, v in new_spec.items() if k != "TrainingInputMode"} == {
        k: v for k, v in spec.items() if k != "TrainingInputMode"
    }
    if new_spec["TrainingInputMode"] != spec["TrainingInputMode"]:
        assert (spec["TrainingInputMode"], new_spec["TrainingInputMode"]) == ("Pipe", replacement)

    # (a) channels: same count, names, order, URIs; only InputMode may differ
    before, after = original.get("InputDataConfig", []), fixed.get("InputDataConfig", [])
    assert [c["ChannelName"] for c in after] == [c["ChannelName"] for c in before]
    for old, new in zip(before, after, strict=False):
        assert {k: v for k, v in new.items() if k != "InputMode"} == {k: v for k, v in old.items() if k != "InputMode"}
        assert new["DataSource"] == old["DataSource"]
        if is_s3(old):
            assert new["DataSource"]["S3DataSource"]["S3Uri"] == old["DataSource"]["S3DataSource"]["S3Uri"]
            assert ("InputMode" in new) == ("InputMode" in old)
            # (b) an S3 channel that read in Pipe now reads in the replacement; others as before
            was = effective(original, old)
            assert effective(fixed, new) == (replacement if was == "Pipe" else was)
        else:
            # a file-system channel reads exactly as before (pinned to Pipe if the job mode moved)
            assert effective(fixed, new) == effective(original, old)
            if "InputMode" in old:
                assert new["InputMode"] == old["InputMode"]
            elif "InputMode" in new:
                assert new["InputMode"] == "Pipe" == spec["TrainingInputMode"]

    # (b) nothing forbidden survives
    assert not any(effective(fixed, c) == "Pipe" for c in after if is_s3(c))
    for key in REMOVED_WHEN_SET:
        assert not fixed.get(key)
    assert "ProfilerConfig" not in fixed or profiler_disabled(fixed["ProfilerConfig"])
    assert (fixed.get("RemoteDebugConfig") or {}).get("EnableRemoteDebug") is not True


def check_processing_fix(original, fixed):
    assert set(fixed) == set(original)
    for key, value in original.items():
        if key != "ProcessingInputs":
            assert fixed[key] == value, key
    before, after = original["ProcessingInputs"], fixed["ProcessingInputs"]
    assert [i["InputName"] for i in after] == [i["InputName"] for i in before]
    for old, new in zip(before, after, strict=False):
        assert {k: v for k, v in new.items() if k != "S3Input"} == {k: v for k, v in old.items() if k != "S3Input"}
        old_s3, new_s3 = old["S3Input"], new["S3Input"]
        assert {k: v for k, v in new_s3.items() if k != "S3InputMode"} == {k: v for k, v in old_s3.items() if k != "S3InputMode"}
        assert ("S3InputMode" in new_s3) == ("S3InputMode" in old_s3)
        if "S3InputMode" in old_s3:
            assert new_s3["S3InputMode"] == ("File" if old_s3["S3InputMode"] == "Pipe" else old_s3["S3InputMode"])
        assert new_s3.get("S3InputMode") != "Pipe"


# --------------------------------------------------------------------------- properties: training


@settings(max_examples=150, deadline=None)
@given(request=training_request(), options=TRAINING_OPTIONS)
def test_training_fix_keeps_everything_but_the_forbidden(request, options):
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "training", **options)

    assert request == before  # (d)
    assert fixed is not request
    check_training_fix(before, fixed, options["pipe_mode_replacement"])  # (a), (b)
    assert all(f.action in ("removed", "replaced") for f in findings)
    for finding in findings:
        assert finding.explicit == (finding.where not in options["sdk_defaults"])

    again, more = enforce(fixed, "training", **options)  # (c)
    assert again == fixed
    assert more == []
    assert not any(f.changed for f in more)


@settings(max_examples=100, deadline=None)
@given(request=training_request(), options=TRAINING_OPTIONS)
def test_training_error_mode_raises_iff_an_explicit_change(request, options):
    before = copy.deepcopy(request)
    fixed, findings = enforce(request, "training", **options)
    explicit_changes = [f for f in findings if f.changed and f.explicit]

    if explicit_changes:
        with pytest.raises(ConsiderationError) as caught:
            enforce(request, "training", on_violation="error", **options)
        err = caught.value
        assert err.rule == explicit_changes[0].rule
        assert [(f.rule, f.action, f.where) for f in err.findings] == [(f.rule, "refused", f.where) for f in explicit_changes]
    else:
        strict, strict_findings = enforce(request, "training", on_violation="error", **options)
        assert strict == fixed
        assert strict_findings == findings
        assert all(not f.explicit for f in strict_findings)
    assert request == before  # (d)


# --------------------------------------------------------------------------- properties: processing


@settings(max_examples=100, deadline=None)
@given(request=processing_request(), replacement=st.sampled_from(["File", "FastFile"]))
def test_processing_fix_keeps_everything_but_pipe(request, replacement):
    before = copy.deepcopy(request)

    fixed, findings = enforce(request, "processing", pipe_mode_replacement=replacement)

    assert request == before  # (d)
    assert fixed is not request
    check_processing_fix(before, fixed)  # (a), (b)
    piped = [i["InputName"] for i in before["ProcessingInputs"] if i["S3Input"].get("S3InputMode") == "Pipe"]
    assert [(f.rule, f.action, f.where) for f in findings] == [
        ("pipe-mode", "replaced", f"ProcessingInputs[{name}].S3Input.S3InputMode") for name in piped
    ]

    again, more = enforce(fixed, "processing", pipe_mode_replacement=replacement)  # (c)
    assert again == fixed
    assert more == []

    # (e)
    if piped:
        with pytest.raises(ConsiderationError) as caught:
            enforce(request, "processing", on_violation="error")
        assert caught.value.rule == "pipe-mode"
        assert len(caught.value.findings) == len(piped)
    else:
        assert enforce(request, "processing", on_violation="error") == (fixed, [])
    assert request == before


# --------------------------------------------------------------------------- properties: merge_tags

SAGEMAKER_TAG_VALUE = re.compile(r"[\w\s.:/=+\-@]*")
OTHER_KEY = st.one_of(
    NAME,
    NAME,
    st.text(min_size=1, max_size=10).filter(lambda k: not k.startswith("s3ag:")),
    st.sampled_from(["S3AG:credentials", "s3ag", "xs3ag:version", " s3ag:version"]),
)
OUR_KEY = st.one_of(st.sampled_from(KEYS), st.text(max_size=8).map(lambda s: "s3ag:" + s))


TAG_VALUE = st.one_of(st.text(alphabet=ALNUM + " ._:/=+-@", max_size=10), st.text(max_size=10))  # mostly valid


def _tag(key):
    return st.fixed_dictionaries({"Key": key, "Value": TAG_VALUE})


# up to 60 user tags (lengths drawn uniformly, so lists near and above the 50-tag limit are common)
# plus up to 6 tags under our prefix, shuffled together, at most 60 in all
USER_TAGS = (
    st.tuples(
        st.integers(0, 60).flatmap(lambda n: st.lists(_tag(OTHER_KEY), min_size=n, max_size=n)),
        st.lists(_tag(OUR_KEY), max_size=6),
    )
    .flatmap(lambda parts: st.permutations(parts[0] + parts[1]))
    .map(lambda tags: tags[:60])
)
RECORD = st.dictionaries(
    st.sampled_from(KEYS + ("s3ag:other",)),
    st.one_of(st.text(max_size=40), st.text(min_size=250, max_size=400), st.text(alphabet=",;!?<>\n\t ", max_size=20)),
)


def api_takes(tags) -> bool:
    """Whether SageMaker would take these tags: keys 1-128, values up to 256, its characters, unique, at most 50."""
    tags = tags or []
    keys = [t["Key"] for t in tags]
    return (
        len(tags) <= MAX_TAGS
        and len(set(keys)) == len(keys)
        and all(1 <= len(t["Key"]) <= 128 and SAGEMAKER_TAG_VALUE.fullmatch(t["Key"]) for t in tags)
        and all(len(t["Value"]) <= MAX_VALUE and SAGEMAKER_TAG_VALUE.fullmatch(t["Value"]) for t in tags)
    )


@settings(max_examples=300, deadline=None)
@given(existing=st.one_of(st.none(), USER_TAGS), record=RECORD)
@example(existing=[{"Key": "s3ag:identity-propagation", "Value": ""}], record={})  # a user's tag, not our record
@example(existing=[{"Key": "s3ag:identity-propagation", "Value": "enabled"}], record={})  # our earlier record
def test_merge_tags_keeps_user_tags_and_fits_aws_limits(existing, record):
    before = copy.deepcopy(existing)
    event("tags the API takes" if api_takes(existing) else "tags the API refuses")
    if not api_takes(existing):  # the API would refuse the request: one clear error, naming the tag
        with pytest.raises((TypeError, ValueError), match=r"tag #\d+ |at most 50"):
            merge_tags(existing, record)
        assert existing == before
        return

    merged, findings = merge_tags(existing, record)

    assert existing == before  # not mutated
    users = [t for t in before or () if not t["Key"].startswith("s3ag:")]
    stale = [t for t in before or () if t["Key"].startswith("s3ag:")]
    # every non-s3ag user tag kept, unchanged, in order, first
    assert merged[: len(users)] == users
    if existing:
        assert all(m is not t for m in merged for t in existing)
    ours = merged[len(users) :]
    our_keys = [t["Key"] for t in ours]
    assert all(k.startswith("s3ag:") for k in our_keys)
    assert len(set(our_keys)) == len(our_keys)
    # ours come in KEYS order, only for keys in the record, as many as fit
    wanted = [k for k in KEYS if k in record]
    room = max(MAX_TAGS - len(users), 0)
    assert our_keys == wanted[:room]
    assert len(merged) <= max(MAX_TAGS, len(users))
    if len(users) >= MAX_TAGS:
        assert merged == users
    for tag in ours:
        assert len(tag["Value"]) <= MAX_VALUE
        assert SAGEMAKER_TAG_VALUE.fullmatch(tag["Value"]), tag["Value"]
    # findings: a replaced one iff a user tag used our prefix (noted instead when they are a record we
    # wrote before), a noted one iff some of ours did not fit
    renewed = bool(stale) and bool(earlier_record(before))
    expected = (["noted"] if renewed else ["replaced"] * bool(stale)) + ["noted"] * (room < len(wanted))
    assert [f.action for f in findings] == expected


# --------------------------------------------------------------------------- properties: any request shape at all

KNOWN_KEYS = (
    "InputDataConfig",
    "AlgorithmSpecification",
    "OutputDataConfig",
    "CheckpointConfig",
    "DebugHookConfig",
    "DebugRuleConfigurations",
    "TensorBoardOutputConfig",
    "ProfilerConfig",
    "ProfilerRuleConfigurations",
    "RemoteDebugConfig",
    "ProcessingInputs",
    "ProcessingOutputConfig",
    "TrainingJobDefinition",
    "TrainingJobDefinitions",
    "Tags",
    "TrainingJobName",
    "ProcessingJobName",
    "HyperParameterTuningJobName",
    "ChannelName",
    "DataSource",
    "S3DataSource",
    "S3Uri",
    "S3DataType",
    "InputMode",
    "TrainingInputMode",
    "S3Input",
    "S3InputMode",
    "S3CompressionType",
    "Outputs",
    "S3Output",
    "OutputName",
    "InputName",
    "EnableRemoteDebug",
    "DisableProfiler",
    "Key",
    "Value",
    "DatasetDefinition",
    "CompressionType",
    "RecordWrapperType",
    "AttributeNames",
    "S3OutputPath",
    "StoppingCondition",
    "MaxRuntimeInSeconds",
    "MaxWaitTimeInSeconds",
    "EnableManagedSpotTraining",
    "HyperParameters",
    "StaticHyperParameters",
    "Environment",
    "RoleArn",
    "AthenaDatasetDefinition",
    "RedshiftDatasetDefinition",
    "Get",
    "Std:Join",
    "On",
    "Values",
)
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(
        [
            "Pipe",
            "File",
            "FastFile",
            "Gzip",
            "RecordIO",
            "ManifestFile",
            "AugmentedManifestFile",
            "s3://b/k/",
            "s3://",
            "https://b.s3.amazonaws.com/k",
            "file:///x",
            "s3:/bad",
            10**400,  # beyond a float
            2**63,
            -1,
        ]
    ),
)
SHAPE = st.recursive(
    SCALAR,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=6)), children, max_size=5),
    ),
    max_leaves=30,
)
ANY_REQUEST = st.dictionaries(st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=8)), SHAPE, max_size=8)


@settings(max_examples=500, deadline=None)
@example(request={"ProcessingInputs": [{"DatasetDefinition": 1}]}, job_type="processing", on_violation="fix")  # was a TypeError
@example(request={"ProcessingInputs": [{"DatasetDefinition": "x"}]}, job_type="processing", on_violation="error")
@given(
    request=ANY_REQUEST,
    job_type=st.sampled_from(["training", "processing", "tuning"]),
    on_violation=st.sampled_from(["fix", "error"]),
)
def test_any_request_shape_gets_a_decision_or_a_documented_error(request, job_type, on_violation):
    """Random shapes through the rules, the locations and the whole decision: only the documented errors
    escape (ConsiderationError; TypeError/ValueError naming a malformed tag), and no rule ever crashes."""
    _decided_or_documented_error(request, job_type, on_violation)


def _paths(value, path=()):
    """Every path into a request's dicts and lists (the request itself excluded)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield (*path, key)
        yield from _paths(child, (*path, key))


def _with(request, path, value):
    """A deep copy of ``request`` with the part at ``path`` replaced by ``value``."""
    out = copy.deepcopy(request)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return out


@st.composite
def one_part_malformed(draw):
    """A realistic training, tuning or processing request with one part (anywhere, at any depth) replaced by any shape."""
    job_type = draw(st.sampled_from(["training", "processing", "tuning"]))
    if job_type == "processing":
        request = draw(processing_request())
    else:
        request = draw(training_request())
        if job_type == "tuning":
            request = {"HyperParameterTuningJobName": "t", "TrainingJobDefinition": request}
    path = draw(st.sampled_from(list(_paths(request))))
    return job_type, _with(request, path, draw(SHAPE))


@settings(max_examples=300, deadline=None)
@example(
    case=("processing", {"ProcessingInputs": [{"InputName": "a", "DatasetDefinition": 1}]}), on_violation="fix", background=None
)
@example(
    case=("training", {"StoppingCondition": {"MaxRuntimeInSeconds": 10**400}}), on_violation="fix", background="enabled"
)  # was an OverflowError
@given(
    case=one_part_malformed(),
    on_violation=st.sampled_from(["fix", "error"]),
    background=st.sampled_from([None, "enabled", "disabled", "unknown"]),
)
def test_a_realistic_request_with_any_part_malformed_gets_a_decision_or_a_documented_error(case, on_violation, background):
    """As above, but each malformed part sits deep inside an otherwise valid request, where the rules look."""
    job_type, request = case
    _decided_or_documented_error(request, job_type, on_violation, background)


def _decided_or_documented_error(request, job_type, on_violation, background=None):
    from sagemaker_s3ag.core.considerations import BackgroundSessions
    from sagemaker_s3ag.core.decision import decide
    from sagemaker_s3ag.core.identity import IdentityPropagation
    from sagemaker_s3ag.core.locations import s3_locations
    from sagemaker_s3ag.core.settings import Settings

    before = copy.deepcopy(request)
    s3_locations(request, job_type)  # never raises, whatever the shape
    try:
        fixed, decision = decide(
            request,
            job_type,
            settings=Settings(on_violation=on_violation),
            identity_propagation=IdentityPropagation(True, "test"),
            background=BackgroundSessions(background, "test") if background else None,
        )
    except ConsiderationError as err:
        crashed = [f for f in err.findings if "could not check this request" in f.message]
        assert crashed == [], crashed
        event("refused")
    except (TypeError, ValueError) as err:
        # only a malformed tag list, or a request beyond any SageMaker request's size, is the caller's TypeError/ValueError
        assert "tag" in str(err).lower() or "no SageMaker request does" in str(err), err
        event("malformed tags")
    else:
        assert isinstance(fixed, dict) and all(t["Key"].startswith("s3ag:") for t in decision.tags)
        event("decided")
    assert request == before  # never mutated
