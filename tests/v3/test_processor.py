"""Grant-aware processors on the real SageMaker SDK v3 (``sagemaker.core.processing``), against moto.

Every test runs ``run(..., wait=False, logs=False)`` on an emulated session and reads back what was
sent (fixture ``calls``), what the SDK kept (``proc.latest_job``, a ``sagemaker.core.resources.ProcessingJob``
built from the request dict) and the job's tags. The processor kinds are ``GrantAwareProcessor`` and
``grant_aware(...)`` of ScriptProcessor, FrameworkProcessor and PySparkProcessor; the last three add
code inputs of their own (FrameworkProcessor packs and uploads a local ``source_dir`` in ``run()``,
before ``_normalize_args``). The last section builds SageMaker Pipelines definitions (``sagemaker.mlops``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Optional

import pytest
from conftest import (
    ATHENA_QUERY,
    BUCKET,
    IMAGE,
    NO_IDENTITY,
    REDSHIFT_QUERY,
    ROLE,
    ProcessorKind,
    access_grants_calls,
    created_jobs,
    expected_record,
    input_rows,
    make_processor,
    ours,
    processing_creates,
    processing_tags,
    uploaded_keys,
)
from sagemaker.core.processing import FrameworkProcessor, Processor, ScriptProcessor
from sagemaker.core.resources import ProcessingJob
from sagemaker.core.shapes import (
    AthenaDatasetDefinition,
    DatasetDefinition,
    ProcessingInput,
    ProcessingOutput,
    ProcessingS3Input,
    ProcessingS3Output,
    RedshiftDatasetDefinition,
    Tag,
)
from sagemaker.core.spark.processing import PySparkProcessor
from sagemaker.core.workflow.pipeline_context import PipelineSession

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
        {"image_uri": IMAGE},
        "code",
        (("entrypoint", S3_CODE),),
        local_code_keys=(
            "{job}/source/install_requirements.py",
            "{job}/source/runproc.sh",
            "{job}/source/sourcedir.tar.gz",
        ),
        local_code_inputs=(
            ("code", f"s3://{BUCKET}/{{job}}/source/"),
            ("entrypoint", f"s3://{BUCKET}/{{job}}/source/runproc.sh"),
        ),
    ),
    ProcessorKind(PySparkProcessor, {"framework_version": "3.3"}, "submit_app", (("code", S3_CODE),), **_SCRIPT_LOCAL),
]
kinds = pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])
# The classes that upload local code: ScriptProcessor a file, FrameworkProcessor a packed source_dir (in run()).
UPLOADING_KINDS = pytest.mark.parametrize("kind", KINDS[:3], ids=[k.id for k in KINDS[:3]])


# --------------------------------------------------------------------------- helpers


def run(proc, kind: ProcessorKind, code: Any = S3_CODE, **kwargs: Any):
    """``proc.run`` with the kind's code: an S3 URI, or a local file (a Path; FrameworkProcessor: its folder as ``source_dir``)."""
    if kind.code_arg is not None:
        if isinstance(code, Path) and kind.stock is FrameworkProcessor:
            kwargs["code"], kwargs["source_dir"] = code.name, str(code.parent)
        else:
            kwargs[kind.code_arg] = str(code)
    kwargs.setdefault("wait", False)
    kwargs.setdefault("logs", False)
    return proc.run(**kwargs)


def s3_input(name: str, uri: str, mode: Optional[str] = None, **extra: Any) -> ProcessingInput:
    if mode is not None:
        extra["s3_input_mode"] = mode
    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(s3_uri=uri, local_path=f"/opt/ml/processing/{name}", s3_data_type="S3Prefix", **extra),
    )


def pipe_input(**extra: Any) -> ProcessingInput:
    return s3_input("raw", RAW, "Pipe", **extra)


def file_input() -> ProcessingInput:
    return s3_input("lookup", LOOKUP)


def outputs() -> list[ProcessingOutput]:
    return [
        ProcessingOutput(
            output_name="out",
            s3_output=ProcessingS3Output(s3_uri=OUT, local_path="/opt/ml/processing/out", s3_upload_mode="EndOfJob"),
        ),
        ProcessingOutput(
            output_name="report",
            s3_output=ProcessingS3Output(s3_uri=REPORT, local_path="/opt/ml/processing/report", s3_upload_mode="Continuous"),
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
def local_code(tmp_path) -> Path:
    """A local script alone in its folder (FrameworkProcessor packs the folder as ``source_dir``)."""
    folder = tmp_path / "src"
    folder.mkdir()
    path = folder / "process.py"
    path.write_text("print('processing')\n")
    return path


def local_input(local_dir: Path) -> ProcessingInput:
    return s3_input("local", str(local_dir))


def assert_nothing_sent(session, calls, proc) -> None:
    assert uploaded_keys(session) == []
    assert created_jobs(session) == {"training": [], "processing": []}
    assert processing_creates(calls) == []
    assert proc.latest_job is None
    assert proc.latest_decision.refused and proc.latest_decision.tags == ()  # the refusal, not an earlier job


# --------------------------------------------------------------------------- 1. Pipe -> File


@kinds
def test_pipe_input_becomes_file_and_nothing_else_changes(session, calls, grant_warnings, kind):
    """Only S3InputMode changes in the CreateProcessingJob sent, ``latest_job`` shows File, and one warning points at the caller."""
    stock = make_processor(kind, session, grant=False)
    run(stock, kind, inputs=[pipe_input(), file_input()], outputs=outputs())
    proc = make_processor(kind, session)
    run(proc, kind, inputs=[pipe_input(), file_input()], outputs=outputs())

    reference, request = processing_creates(calls)
    assert reference["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "Pipe"
    assert stock.latest_job.processing_inputs[0].s3_input.s3_input_mode == "Pipe"
    assert "Tags" not in reference

    expected = {k: v for k, v in copy.deepcopy(reference).items() if k != "ProcessingJobName"}
    expected["ProcessingInputs"][0]["S3Input"]["S3InputMode"] = "File"
    assert {k: v for k, v in request.items() if k not in ("ProcessingJobName", "Tags")} == expected
    assert input_rows(request) == [
        ("raw", RAW, "File"),
        ("lookup", LOOKUP, "File"),
        *((name, uri, "File") for name, uri in kind.s3_code_inputs),
    ]
    assert [
        (o["OutputName"], o["S3Output"]["S3Uri"], o["S3Output"]["S3UploadMode"])
        for o in request["ProcessingOutputConfig"]["Outputs"]
    ] == [("out", OUT, "EndOfJob"), ("report", REPORT, "Continuous")]
    assert request["Tags"] == expected_record("access-grants", "pipe-mode")

    # The SDK's own record of the job is what was sent, not what it was handed.
    assert isinstance(proc.latest_job, ProcessingJob)
    assert proc.latest_job.processing_job_name == request["ProcessingJobName"]
    assert proc.latest_job.processing_inputs[0].s3_input.s3_input_mode == "File"
    assert [i.s3_input.s3_input_mode for i in proc.latest_job.processing_inputs] == ["File"] * len(request["ProcessingInputs"])
    assert proc.jobs == [proc.latest_job]

    described = session.sagemaker_client.describe_processing_job(ProcessingJobName=request["ProcessingJobName"])
    assert described["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
    assert processing_tags(session, request["ProcessingJobName"]) == expected_record("access-grants", "pipe-mode")

    messages = ours(grant_warnings)
    assert len(messages) == 1
    assert messages[0].startswith("[s3ag:pipe-mode] ProcessingInputs[raw].S3Input.S3InputMode:")
    assert [w.filename for w in grant_warnings if issubclass(w.category, GrantAwareWarning)] == [__file__]

    decision = proc.latest_decision
    assert decision.adjustments == ("pipe-mode",)
    assert decision.job_name == request["ProcessingJobName"]
    # conftest grants READWRITE on the whole bucket, so every location of the final request is granted.
    assert decision.credentials == "access-grants"
    assert sorted((o.uri, o.permission, o.outcome) for o in decision.locations) == sorted(
        [(RAW, "READ", "granted"), (LOOKUP, "READ", "granted"), (OUT, "WRITE", "granted"), (REPORT, "WRITE", "granted")]
        + [(uri, "READ", "granted") for _n, uri in kind.s3_code_inputs]
    )
    assert list(decision.tags) == request["Tags"]


@kinds
def test_preflight_audit_context_names_the_created_job(session, access_grants, grant_warnings, kind):
    proc = make_processor(kind, session)
    run(proc, kind, inputs=[pipe_input(), file_input()], outputs=outputs())
    name = proc.latest_job.processing_job_name
    asked = [params for op, params in access_grants.calls if op == "GetDataAccess"]
    assert sorted((c["Target"], c["Permission"]) for c in asked) == sorted(
        [(RAW + "*", "READ"), (LOOKUP + "*", "READ"), (OUT + "*", "WRITE"), (REPORT + "*", "WRITE")]
        + [(uri + "*", "READ") for _n, uri in kind.s3_code_inputs]
    )
    assert {c["AuditContext"] for c in asked} == {audit_context("processing", name)}


def test_the_users_input_objects_still_ask_for_pipe(session, calls, grant_warnings):
    """The fix is made in the request, not in the caller's ProcessingInput; a second run fixes (and warns) again."""
    raw = pipe_input()
    proc = make_processor(KINDS[0], session)
    run(proc, KINDS[0], inputs=[raw])
    assert raw.s3_input.s3_input_mode == "Pipe"
    run(proc, KINDS[0], inputs=[raw])
    first, second = processing_creates(calls)
    assert first["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
    assert second["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
    assert raw.s3_input.s3_input_mode == "Pipe"
    assert len(ours(grant_warnings)) == 2
    assert len(proc.jobs) == 2


# --------------------------------------------------------------------------- 2. error mode, fallback deny


@kinds
def test_error_mode_refuses_pipe_before_any_upload(session, calls, grant_warnings, kind, local_code, local_dir):
    proc = make_processor(kind, session, on_violation="error")
    with pytest.raises(ConsiderationError) as info:
        run(proc, kind, code=local_code, inputs=[pipe_input(), local_input(local_dir)], outputs=outputs())
    err = info.value
    assert err.rule == "pipe-mode"
    assert [(f.rule, f.action, f.where) for f in err.findings] == [
        ("pipe-mode", "refused", "ProcessingInputs[raw].S3Input.S3InputMode")
    ]
    assert "(refused: on_violation='error')" in str(err)
    assert_nothing_sent(session, calls, proc)
    assert ours(grant_warnings) == []


@kinds
def test_fix_mode_uploads_local_code_and_data_then_creates_the_job(session, calls, grant_warnings, kind, local_code, local_dir):
    """The same call as the error-mode test, in fix mode: it does upload, so an empty bucket there means something."""
    proc = make_processor(kind, session)
    run(proc, kind, code=local_code, inputs=[pipe_input(), local_input(local_dir)])
    name = proc.latest_job.processing_job_name
    assert uploaded_keys(session) == sorted(
        [f"{name}/input/local/part.csv", *(key.format(job=name) for key in kind.local_code_keys)]
    )
    (request,) = processing_creates(calls)
    assert request["ProcessingJobName"] == name
    assert input_rows(request) == [
        ("raw", RAW, "File"),
        ("local", f"s3://{BUCKET}/{name}/input/local", "File"),
        *((n, uri.format(job=name), "File") for n, uri in kind.local_code_inputs),
    ]
    assert created_jobs(session)["processing"] == [name]
    assert proc.latest_decision.adjustments == ("pipe-mode",)
    assert proc.latest_decision.credentials == "access-grants"
    assert len(ours(grant_warnings)) == 1


@kinds
def test_on_fallback_deny_refuses_an_ungranted_s3_input_before_any_upload(session, access_grants, calls, kind, local_code):
    access_grants.grants.clear()
    access_grants.grant(LOOKUP + "*", "READ")
    proc = make_processor(kind, session, on_fallback="deny")
    with pytest.raises(GrantFallbackError) as info:
        run(proc, kind, code=local_code, inputs=[pipe_input(), file_input()])
    assert info.value.rule == "fallback"
    raw, *code = info.value.locations
    assert raw == (RAW, "READ")
    # where the SDK would upload local code (s3://BUCKET/JOB/) is asked about before the upload, and not granted either
    assert len(code) == bool(kind.local_code_keys)
    assert all(uri.startswith(f"s3://{BUCKET}/") and permission == "READ" for uri, permission in code)
    assert "on_fallback='deny'" in str(info.value)
    assert_nothing_sent(session, calls, proc)


# --------------------------------------------------------------------------- 3. DatasetDefinition


@pytest.mark.parametrize("source", ["Athena", "Redshift"])
@UPLOADING_KINDS
def test_dataset_definition_is_refused_before_anything_is_uploaded(
    session, calls, grant_warnings, kind, source, local_code, local_dir
):
    """Refused even in fix mode, before the SDK uploads the local code (FrameworkProcessor: its packed
    ``source_dir``, in ``run()`` before ``_normalize_args``) or the local data input."""
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
    assert "nothing was uploaded or created" in message
    assert_nothing_sent(session, calls, proc)
    assert ours(grant_warnings) == []


def test_dataset_definition_with_tip_off_is_not_refused_but_its_loss_is_warned(session, calls, grant_warnings):
    """SDK v3 drops a DatasetDefinition from the request on its own; with TIP off it is not refused, and the loss is said."""
    proc = make_processor(KINDS[0], session, identity_propagation=False)
    run(proc, KINDS[0], inputs=[dataset_input("Athena"), file_input()])
    (request,) = processing_creates(calls)
    assert [i["InputName"] for i in request["ProcessingInputs"]] == ["query", "lookup"]
    assert "DatasetDefinition" not in request["ProcessingInputs"][0]  # the SDK's doing, not ours
    assert request["Tags"] == expected_record("iam-role", "none", identity="disabled")
    assert proc.latest_decision.findings == ()
    assert ours(grant_warnings) == [
        "[s3ag:dataset-definition] ProcessingInputs[query].DatasetDefinition: SageMaker Python SDK v3 leaves "
        "DatasetDefinition inputs out of the CreateProcessingJob request, so the job runs without this input"
    ]


# --------------------------------------------------------------------------- 4. other refusals


@kinds
def test_pipe_with_gzip_is_refused_in_fix_mode(session, calls, grant_warnings, kind, local_code):
    proc = make_processor(kind, session)
    gz = pipe_input(s3_compression_type="Gzip")
    with pytest.raises(ConsiderationError) as info:
        run(proc, kind, code=local_code, inputs=[gz, file_input()])
    err = info.value
    assert err.rule == "pipe-mode"
    assert [(f.rule, f.action, f.where) for f in err.findings] == [("pipe-mode", "refused", "ProcessingInputs[raw].S3Input")]
    assert "S3CompressionType 'Gzip'" in err.findings[0].message
    assert_nothing_sent(session, calls, proc)
    assert (gz.s3_input.s3_input_mode, gz.s3_input.s3_compression_type) == ("Pipe", "Gzip")


@pytest.mark.parametrize(
    "place, where",
    [("input", "ProcessingInputs[bad].S3Input.S3Uri"), ("output", "ProcessingOutputConfig.Outputs[bad].S3Output.S3Uri")],
)
def test_malformed_s3_uri_is_refused_naming_the_location(session, calls, place, where):
    proc = make_processor(KINDS[0], session)
    if place == "input":
        inputs, outs = [file_input(), s3_input("bad", "s3:/bkt/x")], None
    else:
        bad = ProcessingS3Output(s3_uri="s3:/bkt/x", local_path="/opt/ml/processing/out", s3_upload_mode="EndOfJob")
        inputs, outs = [file_input()], [ProcessingOutput(output_name="bad", s3_output=bad)]
    with pytest.raises(ConsiderationError) as info:
        run(proc, KINDS[0], inputs=inputs, outputs=outs)
    assert info.value.rule == "s3-uri"
    assert [(f.rule, f.action, f.where) for f in info.value.findings] == [("s3-uri", "refused", where)]
    assert "'s3:/bkt/x'" in info.value.findings[0].message
    assert_nothing_sent(session, calls, proc)


# --------------------------------------------------------------------------- 5. TIP off


@kinds
def test_tip_off_keeps_pipe_and_only_tags_the_job(session, calls, grant_warnings, access_grants, kind):
    """With TIP off even on_violation="error" sends the stock request, plus the s3ag: record."""
    stock = make_processor(kind, session, grant=False)
    run(stock, kind, inputs=[pipe_input(), file_input()])
    proc = make_processor(kind, session, identity_propagation=False, on_violation="error")
    run(proc, kind, inputs=[pipe_input(), file_input()])
    reference, request = processing_creates(calls)
    assert {k: v for k, v in request.items() if k not in ("ProcessingJobName", "Tags")} == {
        k: v for k, v in reference.items() if k != "ProcessingJobName"
    }
    assert input_rows(request)[0] == ("raw", RAW, "Pipe")
    assert proc.latest_job.processing_inputs[0].s3_input.s3_input_mode == "Pipe"
    tip_off = expected_record("iam-role", "none", identity="disabled")
    assert request["Tags"] == tip_off
    assert processing_tags(session, request["ProcessingJobName"]) == tip_off
    decision = proc.latest_decision
    assert decision.identity_propagation.enabled is False
    assert (decision.adjustments, decision.credentials, decision.locations) == ((), "iam-role", ())
    assert access_grants_calls(access_grants) == []
    assert ours(grant_warnings) == []


# --------------------------------------------------------------------------- 6. preflight verdicts


def test_no_grant_is_recorded_as_a_fallback_with_one_warning(session, access_grants, calls, grant_warnings):
    access_grants.grants.clear()
    access_grants.grant(LOOKUP + "*", "READ")
    proc = make_processor(KINDS[0], session)
    run(proc, KINDS[0], inputs=[pipe_input(), file_input()])
    (request,) = processing_creates(calls)
    expected = expected_record("mixed", "pipe-mode", fallback="fallback 1/2: no matching grant")
    assert request["Tags"] == expected
    assert processing_tags(session, request["ProcessingJobName"]) == expected
    decision = proc.latest_decision
    assert decision.credentials == "mixed"
    assert [(o.uri, o.outcome) for o in decision.locations] == [(RAW, "fallback"), (LOOKUP, "granted")]
    fallback = [m for m in ours(grant_warnings) if m.startswith("[s3ag:fallback]")]
    assert len(fallback) == 1
    assert "1 of 2 S3 locations" in fallback[0] and RAW in fallback[0] and LOOKUP not in fallback[0]
    assert f"processing job {request['ProcessingJobName']}" in fallback[0]


def test_no_grant_at_all_is_iam_role(session, access_grants, calls, grant_warnings):
    access_grants.grants.clear()
    proc = make_processor(KINDS[0], session, on_fallback="allow")
    run(proc, KINDS[0], inputs=[file_input()])
    (request,) = processing_creates(calls)
    assert request["Tags"] == expected_record("iam-role", "none", fallback="fallback 1/1: no matching grant")
    assert proc.latest_decision.credentials == "iam-role"
    assert ours(grant_warnings) == []  # allow: recorded, not warned


def test_on_fallback_deny_with_every_location_granted_creates_the_job(session, calls):
    proc = make_processor(KINDS[0], session, on_fallback="deny")
    run(proc, KINDS[0], inputs=[file_input()], outputs=outputs())
    (request,) = processing_creates(calls)
    assert request["Tags"] == expected_record("access-grants", "none")
    assert created_jobs(session)["processing"] == [request["ProcessingJobName"]]


def test_on_fallback_deny_leaves_locations_the_sdk_fills_in_later_to_the_final_request(session, calls, local_dir):
    """A local input and an output without an S3 URI get their S3 place in ``_normalize_args``: asked about with the
    final request, not refused as unknown before it."""
    proc = make_processor(KINDS[0], session, on_fallback="deny")
    local_out = ProcessingS3Output(
        s3_uri="/opt/ml/processing/out", local_path="/opt/ml/processing/out", s3_upload_mode="EndOfJob"
    )
    run(proc, KINDS[0], inputs=[local_input(local_dir)], outputs=[ProcessingOutput(output_name="out", s3_output=local_out)])
    name = proc.latest_job.processing_job_name
    assert [(o.uri, o.permission, o.outcome) for o in proc.latest_decision.locations] == [
        (f"s3://{BUCKET}/{name}/input/local", "READ", "granted"),
        (f"s3://{BUCKET}/{name}/output/out", "WRITE", "granted"),
    ]
    assert proc.latest_decision.credentials == "access-grants"
    assert [params["ProcessingJobName"] for params in processing_creates(calls)] == [name]


# --------------------------------------------------------------------------- 7. tags


@kinds
def test_user_tags_list_is_not_mutated_and_user_tags_reach_the_job(session, calls, grant_warnings, kind, monkeypatch, tmp_path):
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
    _stock, request = processing_creates(calls)
    expected = [*user, *project, *expected_record("access-grants", "pipe-mode")]
    assert request["Tags"] == expected
    assert processing_tags(session, request["ProcessingJobName"]) == expected

    run(proc, kind, inputs=[pipe_input()])  # and again: the list is still the user's
    assert tags == user
    assert processing_creates(calls)[-1]["Tags"] == expected


@pytest.mark.parametrize("form", ["dict", "Tag"])
def test_v3_tag_forms_reach_the_job_in_api_form(session, calls, grant_warnings, form):
    """SDK v3 takes tags as a dict or as ``Tag`` shapes; the user's tags come first, then the s3ag: record."""
    tags = {"team": "ml"} if form == "dict" else [Tag(key="team", value="ml")]
    proc = make_processor(KINDS[0], session, tags=tags)
    run(proc, KINDS[0], inputs=[pipe_input()])
    (request,) = processing_creates(calls)
    assert request["Tags"] == [{"Key": "team", "Value": "ml"}, *expected_record("access-grants", "pipe-mode")]
    assert processing_tags(session, request["ProcessingJobName"]) == request["Tags"]


# --------------------------------------------------------------------------- 8. plan()


@UPLOADING_KINDS
def test_plan_creates_nothing_and_says_what_run_would_do(session, calls, access_grants, kind, local_code, local_dir):
    proc = make_processor(kind, session, tags=[{"Key": "team", "Value": "ml"}])
    code = {} if kind.code_arg is None else {"code": str(local_code)}
    decision = proc.plan(inputs=[pipe_input(), local_input(local_dir)], outputs=outputs(), **code)
    assert decision.planned is True and decision.refused is False
    assert decision.job_type == "processing"
    assert decision.job_name  # the name run() would use now
    assert decision.adjustments == ("pipe-mode",)
    assert [(o.uri, o.permission, o.outcome) for o in decision.locations] == [
        (RAW, "READ", "granted"),
        (OUT, "WRITE", "granted"),
        (REPORT, "WRITE", "granted"),
    ]  # the local input goes to a place not known yet
    assert list(decision.tags) == expected_record("access-grants", "pipe-mode")  # the record; the user's tags stay theirs
    assert uploaded_keys(session) == []
    assert created_jobs(session) == {"training": [], "processing": []}
    assert calls == []
    assert proc.latest_decision is None and proc.latest_job is None


def test_plan_shows_a_refusal_instead_of_raising(session, calls):
    proc = make_processor(KINDS[0], session)
    decision = proc.plan(inputs=[dataset_input("Redshift")])
    assert decision.refused is True and decision.planned is True
    assert [(f.rule, f.action) for f in decision.findings] == [("dataset-definition", "refused")]
    assert calls == [] and uploaded_keys(session) == []


# --------------------------------------------------------------------------- 9. classes


@kinds
def test_grant_aware_class_is_cached_and_a_subclass_of_the_stock_class(session, kind):
    cls = grant_aware(kind.stock)
    assert grant_aware(kind.stock) is cls
    assert grant_aware(cls) is cls
    assert issubclass(cls, kind.stock)
    assert issubclass(cls, GrantAwareProcessingMixin)
    proc = make_processor(kind, session)
    assert type(proc) is cls
    assert isinstance(proc, Processor)
    assert isinstance(proc, GrantAwareProcessor) is (kind.stock is Processor)
    assert proc.s3ag_settings.identity_propagation is True
    assert proc.latest_decision is None


def test_grant_aware_of_named_classes():
    assert grant_aware(Processor) is GrantAwareProcessor
    assert issubclass(GrantAwareProcessor, Processor)
    assert sagemaker_s3ag.GrantAwareProcessor is GrantAwareProcessor
    script = grant_aware(ScriptProcessor)
    assert (script.__name__, script.__module__) == ("GrantAwareScriptProcessor", "sagemaker_s3ag")
    spark = grant_aware(PySparkProcessor)
    assert issubclass(spark, ScriptProcessor) and not issubclass(spark, FrameworkProcessor)
    with pytest.raises(TypeError, match="grant_aware\\(\\) takes a SageMaker ModelTrainer or processor class"):
        grant_aware(ProcessingInput)
    with pytest.raises(TypeError):
        grant_aware("Processor")  # not a class


def test_grant_aware_script_processor_with_local_code(session, calls, grant_warnings, local_code):
    """``grant_aware(ScriptProcessor)`` end to end: the code is uploaded under the job's name and read as File."""
    proc = grant_aware(ScriptProcessor)(
        image_uri=IMAGE,
        command=["python3"],
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        sagemaker_session=session,
        identity_propagation=True,
    )
    proc.run(code=str(local_code), inputs=[pipe_input()], wait=False, logs=False)
    name = proc.latest_job.processing_job_name
    (request,) = processing_creates(calls)
    assert input_rows(request) == [
        ("raw", RAW, "File"),
        ("code", f"s3://{BUCKET}/{name}/input/code/process.py", "File"),
    ]
    assert request["AppSpecification"]["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/input/code/process.py"]
    assert uploaded_keys(session) == [f"{name}/input/code/process.py"]
    assert request["Tags"] == expected_record("access-grants", "pipe-mode")
    assert len(ours(grant_warnings)) == 1


# --------------------------------------------------------------------------- 10. SageMaker Pipelines (v3)


@pytest.fixture
def ps(session, monkeypatch):
    """A v3 PipelineSession on the emulator (sagemaker.mlops, imported here, needs a default region to import)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    import sagemaker.mlops.workflow.pipeline  # noqa: F401
    import sagemaker.mlops.workflow.steps  # noqa: F401

    return PipelineSession(boto_session=session.boto_session, default_bucket=BUCKET)


@pytest.fixture(params=["grant-aware", "patched"])
def flavour(request):
    """How the processor is made grant-aware: the class, or ``patch()`` on the stock class."""
    try:
        yield request.param
    finally:
        sagemaker_s3ag.unpatch()


def pipeline_processor(flavour: str, sess, kind: ProcessorKind = KINDS[0], **settings: Any):
    settings = {"identity_propagation": True, **settings}
    kwargs = dict(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=sess, **kind.init)
    if flavour == "grant-aware":
        return kind.grant_aware_cls()(**kwargs, **settings)
    sagemaker_s3ag.patch(**settings)
    return kind.stock(**kwargs)


def step_arguments(ps, step_args, name: str = "Prep") -> dict[str, Any]:
    """The step's Arguments in the pipeline definition, as SageMaker would receive it."""
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import ProcessingStep

    pipeline = Pipeline(name="S3agPipeline", steps=[ProcessingStep(name=name, step_args=step_args)], sagemaker_session=ps)
    (step,) = json.loads(pipeline.definition())["Steps"]
    assert step["Name"] == name and step["Type"] == "Processing"
    return step["Arguments"]


@pytest.mark.filterwarnings("ignore:Running within a PipelineSession:UserWarning")
def test_control_stock_processor_step_is_untouched(ps, session, calls, grant_warnings):
    proc = Processor(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge", sagemaker_session=ps)
    arguments = step_arguments(ps, proc.run(inputs=[pipe_input()]))
    assert arguments["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "Pipe"
    assert "Tags" not in arguments
    assert ours(grant_warnings) == []


@pytest.mark.filterwarnings("ignore:Running within a PipelineSession:UserWarning")
def test_processing_step_args_pipe_is_fixed_and_recorded_as_a_pipeline_job(flavour, ps, session, calls, grant_warnings):
    proc = pipeline_processor(flavour, ps)
    step_args = proc.run(inputs=[pipe_input()], outputs=outputs()[:1])
    arguments = step_arguments(ps, step_args)
    assert arguments["ProcessingInputs"] == [
        {
            "InputName": "raw",
            "S3Input": {
                "S3Uri": RAW,
                "LocalPath": "/opt/ml/processing/raw",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated",
                "S3CompressionType": "None",
            },
        }
    ]
    # The conftest grant is to a directory user: a pipeline execution cannot use it.
    expected = expected_record("iam-role", "pipe-mode", fallback=f"fallback 2/2: {NO_IDENTITY}", launched_by="pipeline")
    assert arguments["Tags"] == expected
    assert proc.latest_decision.adjustments == ("pipe-mode",)
    assert list(proc.latest_decision.tags) == expected
    assert [m.split(" ", 1)[0] for m in ours(grant_warnings)] == ["[s3ag:pipe-mode]", "[s3ag:fallback]"]
    assert processing_creates(calls) == []  # a definition, not a job
    assert created_jobs(session) == {"training": [], "processing": []}


@pytest.mark.filterwarnings("ignore:Running within a PipelineSession:UserWarning")
def test_processing_step_args_with_a_grant_to_the_role_uses_access_grants(flavour, ps, access_grants, grant_warnings):
    access_grants.grants.clear()
    access_grants.grant(f"s3://{BUCKET}/*", "READWRITE", grantee_type="IAM")
    proc = pipeline_processor(flavour, ps)
    arguments = step_arguments(ps, proc.run(inputs=[pipe_input()]))
    assert arguments["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
    assert arguments["Tags"] == expected_record("access-grants", "pipe-mode", launched_by="pipeline")
    assert [m.split(" ", 1)[0] for m in ours(grant_warnings)] == ["[s3ag:pipe-mode]"]


@pytest.mark.filterwarnings("ignore:Running within a PipelineSession:UserWarning")
def test_on_violation_error_refuses_a_pipe_step_when_it_is_defined(flavour, ps, session, grant_warnings):
    proc = pipeline_processor(flavour, ps, on_violation="error")
    with pytest.raises(ConsiderationError) as info:
        proc.run(inputs=[pipe_input()])
    assert info.value.rule == "pipe-mode"
    assert uploaded_keys(session) == []
    assert ours(grant_warnings) == []


@pytest.mark.filterwarnings("ignore:Running within a PipelineSession:UserWarning")
def test_dataset_definition_step_is_refused_before_the_framework_code_is_uploaded(flavour, ps, session, local_code):
    proc = pipeline_processor(flavour, ps, KINDS[2])
    with pytest.raises(ConsiderationError) as info:
        step_args = proc.run(code=local_code.name, source_dir=str(local_code.parent), inputs=[dataset_input("Athena")])
        step_arguments(ps, step_args)  # not reached: refused when the step is defined
    assert info.value.rule == "dataset-definition"
    assert uploaded_keys(session) == []
