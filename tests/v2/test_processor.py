"""Grant-aware processors on the real SageMaker SDK v2, against moto.

Every test runs ``run(..., wait=False, logs=False)`` on an emulated session and reads the job
back with ``DescribeProcessingJob`` / ``ListTags``. The processor kinds cover the plain
``GrantAwareProcessor`` and ``grant_aware(...)`` of ScriptProcessor, FrameworkProcessor (with the
SKLearn estimator), SKLearnProcessor and PySparkProcessor; the last four add code inputs of their own.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    ATHENA_QUERY,
    BUCKET,
    IMAGE,
    REDSHIFT_QUERY,
    ProcessorKind,
    created_jobs,
    expected_record,
    input_rows,
    make_processor,
    ours,
    uploaded_keys,
)
from sagemaker.dataset_definition.inputs import (
    AthenaDatasetDefinition,
    DatasetDefinition,
    RedshiftDatasetDefinition,
)
from sagemaker.processing import (
    FrameworkProcessor,
    ProcessingInput,
    ProcessingOutput,
    Processor,
    ScriptProcessor,
)
from sagemaker.sklearn import SKLearn
from sagemaker.sklearn.processing import SKLearnProcessor
from sagemaker.spark.processing import PySparkProcessor

import sagemaker_s3ag
from sagemaker_s3ag import ConsiderationError, GrantAwareProcessor, GrantAwareWarning, GrantFallbackError, grant_aware
from sagemaker_s3ag.core.preflight import audit_context
from sagemaker_s3ag.sdk.processing import GrantAwareProcessingMixin

S3_CODE = f"s3://{BUCKET}/code/process.py"
RAW = f"s3://{BUCKET}/raw/"
LOOKUP = f"s3://{BUCKET}/lookup/"
OUT = f"s3://{BUCKET}/out/"
REPORT = f"s3://{BUCKET}/report/"


_SCRIPT_LOCAL = dict(
    local_code_keys=("{job}/input/code/process.py",),
    local_code_inputs=(("code", f"s3://{BUCKET}/{{job}}/input/code/process.py"),),
)

KINDS = [
    ProcessorKind(Processor, {"image_uri": IMAGE}),
    ProcessorKind(
        ScriptProcessor,
        {"image_uri": IMAGE, "command": ["python3"]},
        "code",
        (("code", S3_CODE),),
        **_SCRIPT_LOCAL,
    ),
    ProcessorKind(
        FrameworkProcessor,
        {"estimator_cls": SKLearn, "framework_version": "1.2-1"},
        "code",
        (("entrypoint", S3_CODE),),
        local_code_keys=("{job}/source/runproc.sh", "{job}/source/sourcedir.tar.gz"),
        local_code_inputs=(
            ("code", f"s3://{BUCKET}/{{job}}/source/sourcedir.tar.gz"),
            ("entrypoint", f"s3://{BUCKET}/{{job}}/source/runproc.sh"),
        ),
    ),
    ProcessorKind(SKLearnProcessor, {"framework_version": "1.2-1"}, "code", (("code", S3_CODE),), **_SCRIPT_LOCAL),
    ProcessorKind(PySparkProcessor, {"framework_version": "3.3"}, "submit_app", (("code", S3_CODE),), **_SCRIPT_LOCAL),
]
kinds = pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])


# --------------------------------------------------------------------------- helpers


def run(proc, kind: ProcessorKind, code: str = S3_CODE, **kwargs: Any) -> None:
    if kind.code_arg is not None:
        kwargs[kind.code_arg] = code
    proc.run(wait=False, logs=False, **kwargs)


def describe(session, proc) -> dict[str, Any]:
    return session.sagemaker_client.describe_processing_job(ProcessingJobName=proc.latest_job.job_name)


def job_tags(session, job: dict[str, Any]) -> list[dict[str, str]]:
    return session.sagemaker_client.list_tags(ResourceArn=job["ProcessingJobArn"])["Tags"]


def pipe_input(**extra: Any) -> ProcessingInput:
    return ProcessingInput(source=RAW, destination="/opt/ml/processing/raw", input_name="raw", s3_input_mode="Pipe", **extra)


def file_input() -> ProcessingInput:
    return ProcessingInput(source=LOOKUP, destination="/opt/ml/processing/lookup", input_name="lookup")


def outputs() -> list[ProcessingOutput]:
    return [
        ProcessingOutput(source="/opt/ml/processing/out", destination=OUT, output_name="out"),
        ProcessingOutput(
            source="/opt/ml/processing/report", destination=REPORT, output_name="report", s3_upload_mode="Continuous"
        ),
    ]


def dataset_input(source: str) -> ProcessingInput:
    if source == "Athena":
        definition = DatasetDefinition(
            local_path="/opt/ml/processing/query",
            athena_dataset_definition=AthenaDatasetDefinition(**ATHENA_QUERY),
        )
    else:
        definition = DatasetDefinition(
            local_path="/opt/ml/processing/query",
            redshift_dataset_definition=RedshiftDatasetDefinition(**REDSHIFT_QUERY),
        )
    return ProcessingInput(input_name="query", dataset_definition=definition)


@pytest.fixture
def local_code(tmp_path) -> str:
    path = tmp_path / "process.py"
    path.write_text("print('processing')\n")
    return str(path)


def local_input(local_dir: Path) -> ProcessingInput:
    return ProcessingInput(source=str(local_dir), destination="/opt/ml/processing/local", input_name="local")


def assert_nothing_sent(session, proc) -> None:
    assert uploaded_keys(session) == []
    assert created_jobs(session)["processing"] == []
    assert proc.latest_decision.refused and proc.latest_decision.tags == ()  # the refusal, not an earlier job


# --------------------------------------------------------------------------- 1. Pipe -> File


@kinds
def test_pipe_input_becomes_file_and_nothing_else_changes(session, grant_warnings, kind):
    # The stock class builds the reference job from the same arguments.
    stock = make_processor(kind, session, grant=False)
    run(stock, kind, inputs=[pipe_input(), file_input()], outputs=outputs())
    reference = describe(session, stock)
    assert reference["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "Pipe"

    proc = make_processor(kind, session)
    run(proc, kind, inputs=[pipe_input(), file_input()], outputs=outputs())
    job = describe(session, proc)

    expected_inputs = copy.deepcopy(reference["ProcessingInputs"])
    expected_inputs[0]["S3Input"]["S3InputMode"] = "File"
    assert job["ProcessingInputs"] == expected_inputs
    assert input_rows(job) == [
        ("raw", RAW, "File"),
        ("lookup", LOOKUP, "File"),
        *((name, uri, "File") for name, uri in kind.s3_code_inputs),
    ]
    assert job["ProcessingOutputConfig"] == reference["ProcessingOutputConfig"]
    assert [
        (o["OutputName"], o["S3Output"]["S3Uri"], o["S3Output"]["S3UploadMode"]) for o in job["ProcessingOutputConfig"]["Outputs"]
    ] == [("out", OUT, "EndOfJob"), ("report", REPORT, "Continuous")]
    assert job["AppSpecification"] == reference["AppSpecification"]

    messages = ours(grant_warnings)
    assert len(messages) == 1
    assert messages[0].startswith("[s3ag:pipe-mode] ProcessingInputs[raw].S3Input.S3InputMode:")
    assert [w.filename for w in grant_warnings if issubclass(w.category, GrantAwareWarning)] == [__file__]

    decision = proc.latest_decision
    assert decision.adjustments == ("pipe-mode",)
    assert decision.job_name == job["ProcessingJobName"]
    # conftest grants READWRITE on the whole bucket, so every location of the final request is granted.
    assert decision.credentials == "access-grants"
    assert sorted((o.uri, o.permission, o.outcome) for o in decision.locations) == sorted(
        [(RAW, "READ", "granted"), (LOOKUP, "READ", "granted"), (OUT, "WRITE", "granted"), (REPORT, "WRITE", "granted")]
        + [(uri, "READ", "granted") for _n, uri in kind.s3_code_inputs]
    )
    assert job_tags(session, job) == expected_record("access-grants", "pipe-mode")


@kinds
def test_preflight_audit_context_names_the_created_job(session, access_grants, grant_warnings, kind):
    proc = make_processor(kind, session)
    run(proc, kind, inputs=[pipe_input(), file_input()], outputs=outputs())
    name = proc.latest_job.job_name
    calls = [params for op, params in access_grants.calls if op == "GetDataAccess"]
    assert sorted((c["Target"], c["Permission"]) for c in calls) == sorted(
        [(RAW + "*", "READ"), (LOOKUP + "*", "READ"), (OUT + "*", "WRITE"), (REPORT + "*", "WRITE")]
        + [(uri + "*", "READ") for _n, uri in kind.s3_code_inputs]
    )
    assert {c["AuditContext"] for c in calls} == {audit_context("processing", name)}


# --------------------------------------------------------------------------- 2. error mode


@kinds
def test_error_mode_refuses_pipe_before_any_upload(session, grant_warnings, kind, local_code, local_dir):
    proc = make_processor(kind, session, on_violation="error")
    with pytest.raises(ConsiderationError) as info:
        run(proc, kind, code=local_code, inputs=[pipe_input(), local_input(local_dir)], outputs=outputs())
    err = info.value
    assert err.rule == "pipe-mode"
    assert [(f.rule, f.action, f.where) for f in err.findings] == [
        ("pipe-mode", "refused", "ProcessingInputs[raw].S3Input.S3InputMode")
    ]
    assert "(refused: on_violation='error')" in str(err)
    assert_nothing_sent(session, proc)
    assert ours(grant_warnings) == []


@kinds
def test_on_fallback_deny_refuses_an_ungranted_s3_input_before_any_upload(session, access_grants, kind, local_code):
    access_grants.grants.clear()
    access_grants.grant(f"s3://{BUCKET}/lookup/*", "READ")
    proc = make_processor(kind, session, on_fallback="deny")
    with pytest.raises(GrantFallbackError) as info:
        run(proc, kind, code=local_code, inputs=[pipe_input(), file_input()])
    raw, *code = info.value.locations
    assert raw == (RAW, "READ")
    # where the SDK would upload local code (s3://BUCKET/JOB/) is asked about before the upload, and not granted either
    assert len(code) == bool(kind.local_code_keys)
    assert all(uri.startswith(f"s3://{BUCKET}/") and permission == "READ" for uri, permission in code)
    assert_nothing_sent(session, proc)


@kinds
def test_fix_mode_uploads_local_code_and_data_then_creates_the_job(session, grant_warnings, kind, local_code, local_dir):
    """The same call as the error-mode test, in fix mode: it does upload, so an empty bucket there means something."""
    proc = make_processor(kind, session)
    run(proc, kind, code=local_code, inputs=[pipe_input(), local_input(local_dir)])
    name = proc.latest_job.job_name
    assert uploaded_keys(session) == sorted(
        [f"{name}/input/local/part.csv", *(key.format(job=name) for key in kind.local_code_keys)]
    )
    job = describe(session, proc)
    assert input_rows(job) == [
        ("raw", RAW, "File"),
        ("local", f"s3://{BUCKET}/{name}/input/local", "File"),
        *((n, uri.format(job=name), "File") for n, uri in kind.local_code_inputs),
    ]
    assert proc.latest_decision.adjustments == ("pipe-mode",)
    assert len(ours(grant_warnings)) == 1


# --------------------------------------------------------------------------- 3. DatasetDefinition


@pytest.mark.parametrize("source", ["Athena", "Redshift"])
@kinds
def test_dataset_definition_is_refused_even_in_fix_mode(session, grant_warnings, kind, source, local_code, local_dir):
    proc = make_processor(kind, session)
    assert proc.s3ag_settings.on_violation == "fix"
    with pytest.raises(ConsiderationError) as info:
        run(proc, kind, code=local_code, inputs=[dataset_input(source), local_input(local_dir)])
    err = info.value
    assert err.rule == "dataset-definition"
    assert [(f.rule, f.action, f.where) for f in err.findings] == [
        ("dataset-definition", "refused", "ProcessingInputs[query].DatasetDefinition")
    ]
    message = str(err)
    assert f"{source} DatasetDefinition" in message
    assert f"materialise the query to S3 first ({source} UNLOAD" in message
    assert "S3Input.S3Uri='s3://" in message
    assert_nothing_sent(session, proc)
    assert ours(grant_warnings) == []


@pytest.mark.parametrize("source", ["Athena", "Redshift"])
@kinds
def test_dataset_definition_goes_through_with_tip_off(session, grant_warnings, kind, source):
    proc = make_processor(kind, session, identity_propagation=False)
    query = dataset_input(source)
    expected = query._to_request_dict()
    run(proc, kind, inputs=[query])
    job = describe(session, proc)
    assert job["ProcessingInputs"][0] == expected
    assert f"{source}DatasetDefinition" in job["ProcessingInputs"][0]["DatasetDefinition"]
    assert [i["InputName"] for i in job["ProcessingInputs"]] == ["query", *(n for n, _ in kind.s3_code_inputs)]
    assert job_tags(session, job) == expected_record("iam-role", "none", identity="disabled")
    assert proc.latest_decision.credentials == "iam-role"
    assert proc.latest_decision.findings == ()
    assert ours(grant_warnings) == []


# --------------------------------------------------------------------------- 4. Pipe + Gzip


@kinds
def test_pipe_with_gzip_is_refused_in_fix_mode(session, grant_warnings, kind, local_code):
    proc = make_processor(kind, session)
    gz = pipe_input(s3_compression_type="Gzip")
    with pytest.raises(ConsiderationError) as info:
        run(proc, kind, code=local_code, inputs=[gz, file_input()])
    err = info.value
    assert err.rule == "pipe-mode"
    assert [(f.rule, f.action, f.where) for f in err.findings] == [("pipe-mode", "refused", "ProcessingInputs[raw].S3Input")]
    assert "S3CompressionType 'Gzip'" in err.findings[0].message
    assert_nothing_sent(session, proc)
    assert (gz.s3_input_mode, gz.s3_input.s3_input_mode, gz.s3_input.s3_compression_type) == ("Pipe", "Pipe", "Gzip")
    assert ours(grant_warnings) == []


# --------------------------------------------------------------------------- 5. local and malformed sources


@kinds
def test_local_input_is_uploaded_by_the_sdk_with_tip_on(session, grant_warnings, kind, local_dir):
    proc = make_processor(kind, session)
    run(proc, kind, inputs=[local_input(local_dir)], outputs=outputs())
    name = proc.latest_job.job_name
    assert uploaded_keys(session) == [f"{name}/input/local/part.csv"]
    job = describe(session, proc)
    assert input_rows(job) == [
        ("local", f"s3://{BUCKET}/{name}/input/local", "File"),
        *((n, uri, "File") for n, uri in kind.s3_code_inputs),
    ]
    assert proc.latest_decision.findings == ()
    assert job_tags(session, job) == expected_record("access-grants", "none")
    assert ours(grant_warnings) == []


@pytest.mark.parametrize("place", ["local input", "default output"])
def test_on_fallback_deny_leaves_locations_the_sdk_fills_in_later_to_the_final_request(session, grant_warnings, place, local_dir):
    """Locations the SDK fills in later (a local input, an output without destination) are asked about with the final request, not refused as unknown."""
    proc = make_processor(KINDS[0], session, on_fallback="deny")
    if place == "local input":
        run(proc, KINDS[0], inputs=[local_input(local_dir)])
    else:
        run(proc, KINDS[0], outputs=[ProcessingOutput(source="/opt/ml/processing/out", output_name="out")])
    name = proc.latest_job.job_name
    assert proc.latest_decision.credentials == "access-grants"
    expected = f"s3://{BUCKET}/{name}/input/local" if place == "local input" else f"s3://{BUCKET}/{name}/output/out"
    assert [(o.uri, o.outcome) for o in proc.latest_decision.locations] == [(expected, "granted")]


@pytest.mark.parametrize(
    "place, where",
    [
        ("input", "ProcessingInputs[bad].S3Input.S3Uri"),
        ("output", "ProcessingOutputConfig.Outputs[bad].S3Output.S3Uri"),
    ],
)
@kinds
def test_malformed_s3_uri_is_refused_naming_the_location(session, grant_warnings, kind, place, where, local_code):
    proc = make_processor(kind, session)
    if place == "input":
        bad = ProcessingInput(source="s3:/bkt/x", destination="/opt/ml/processing/x", input_name="bad")
        inputs = [file_input(), bad]
        outs = outputs()
    else:
        inputs = [file_input()]
        outs = [ProcessingOutput(source="/opt/ml/processing/out", destination="s3:/bkt/x", output_name="bad")]
    with pytest.raises(ConsiderationError) as info:
        run(proc, kind, code=local_code, inputs=inputs, outputs=outs)
    err = info.value
    assert err.rule == "s3-uri"
    assert [(f.rule, f.action, f.where) for f in err.findings] == [("s3-uri", "refused", where)]
    assert "'s3:/bkt/x'" in err.findings[0].message
    assert where in str(err)
    assert_nothing_sent(session, proc)


# --------------------------------------------------------------------------- 6. tags


@kinds
def test_user_tags_list_is_not_mutated_and_user_tags_reach_the_job(session, grant_warnings, kind, monkeypatch, tmp_path):
    # A Studio project config in the working directory makes the SDK append its project tags to the
    # tag list it is handed, in place.
    (tmp_path / ".sagemaker-code-config").write_text('{"sagemakerProjectId": "p-1234", "sagemakerProjectName": "churn-project"}')
    monkeypatch.chdir(tmp_path)
    project = [
        {"Key": "sagemaker:project-id", "Value": "p-1234"},
        {"Key": "sagemaker:project-name", "Value": "churn-project"},
    ]
    user = [{"Key": "team", "Value": "ml"}, {"Key": "project", "Value": "churn"}]

    control = copy.deepcopy(user)
    stock = make_processor(kind, session, grant=False, tags=control)
    run(stock, kind, inputs=[file_input()])
    assert control == [*user, *project], "precondition: the stock SDK grows the caller's list"

    tags = copy.deepcopy(user)
    proc = make_processor(kind, session, tags=tags)
    run(proc, kind, inputs=[pipe_input()])
    assert tags == user
    assert proc.tags is tags
    job = describe(session, proc)
    assert job_tags(session, job) == [*user, *project, *expected_record("access-grants", "pipe-mode")]


# --------------------------------------------------------------------------- 7. TIP off


@pytest.mark.parametrize("on_violation", ["fix", "error"])
@kinds
def test_tip_off_keeps_pipe_and_only_tags_the_job(session, grant_warnings, access_grants, kind, on_violation):
    proc = make_processor(kind, session, identity_propagation=False, on_violation=on_violation)
    run(proc, kind, inputs=[pipe_input(), file_input()])
    job = describe(session, proc)
    assert [(i["InputName"], i["S3Input"]["S3InputMode"]) for i in job["ProcessingInputs"]] == [
        ("raw", "Pipe"),
        ("lookup", "File"),
        *((n, "File") for n, _ in kind.s3_code_inputs),
    ]
    assert job_tags(session, job) == expected_record("iam-role", "none", identity="disabled")
    decision = proc.latest_decision
    assert decision.identity_propagation.enabled is False
    assert decision.adjustments == ()
    assert decision.credentials == "iam-role"
    assert decision.locations == ()
    assert access_grants.calls == []
    assert ours(grant_warnings) == []


# --------------------------------------------------------------------------- 8. classes


@kinds
def test_grant_aware_class_is_cached_and_a_subclass_of_the_stock_class(session, kind):
    cls = grant_aware(kind.stock)
    assert grant_aware(kind.stock) is cls
    assert grant_aware(cls) is cls
    assert issubclass(cls, kind.stock)
    assert issubclass(cls, GrantAwareProcessingMixin)
    proc = make_processor(kind, session)
    assert type(proc) is cls
    assert isinstance(proc, kind.stock)
    assert isinstance(proc, Processor)
    assert isinstance(proc, sagemaker_s3ag.GrantAwareProcessor) is (kind.stock is Processor)
    assert proc.s3ag_settings.identity_propagation is True
    assert proc.latest_decision is None


def test_grant_aware_of_named_classes():
    assert grant_aware(Processor) is GrantAwareProcessor
    assert grant_aware(GrantAwareProcessor) is GrantAwareProcessor
    assert sagemaker_s3ag.GrantAwareProcessor is GrantAwareProcessor
    assert grant_aware(SKLearnProcessor) is grant_aware(SKLearnProcessor)
    sk = grant_aware(SKLearnProcessor)
    assert (sk.__name__, sk.__module__) == ("GrantAwareSKLearnProcessor", "sagemaker_s3ag")
    assert issubclass(sk, ScriptProcessor)
    assert not issubclass(sk, FrameworkProcessor)
    with pytest.raises(TypeError):
        grant_aware(ProcessingInput)


# --------------------------------------------------------------------------- 9. the user's inputs


@kinds
def test_fix_does_not_mutate_the_users_input_objects(session, grant_warnings, kind):
    raw, lookup = pipe_input(), file_input()
    inputs = [raw, lookup]
    proc = make_processor(kind, session)
    run(proc, kind, inputs=inputs)
    assert describe(session, proc)["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"

    assert inputs == [raw, lookup]
    assert (raw.source, raw.s3_input_mode, raw.s3_input.s3_input_mode, raw.s3_input.s3_uri) == (
        RAW,
        "Pipe",
        "Pipe",
        RAW,
    )
    assert raw._to_request_dict()["S3Input"]["S3InputMode"] == "Pipe"
    # The same objects handed to the stock class still ask for Pipe.
    stock = make_processor(kind, session, grant=False)
    run(stock, kind, inputs=inputs)
    assert describe(session, stock)["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "Pipe"
    # And a second grant-aware run fixes (and warns) again.
    run(proc, kind, inputs=inputs)
    assert describe(session, proc)["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
    assert len(ours(grant_warnings)) == 2
