"""Operator tooling through the s3ag command: policy, doctor, jobs, describe, errors and --help.

Every command runs through ``main([...])``. The AWS calls go to moto (SageMaker, STS) and to the
package's fakes (S3 Access Grants, the IAM policy simulator), installed on the boto3 session the
command makes for itself.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from conftest import ACCOUNT, IMAGE, ROLE, SDK_MAJOR, train_job

import sagemaker_s3ag.cli.main as cli
from sagemaker_s3ag import GrantAwareProcessor
from sagemaker_s3ag.core.identity import METADATA_FILE_ENV
from sagemaker_s3ag.core.preflight import clear_cache as clear_preflight_cache
from sagemaker_s3ag.sdk.installed import installed_version
from sagemaker_s3ag.testing import AccessGrantsTable, PolicySimulator, install_access_grants

COMMON = dict(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge")
# What a plain training job's record says was changed: SDK v2's default Debugger and Profiler go; v3 adds neither.
DEFAULTS_REMOVED = "debugger profiler" if SDK_MAJOR == 2 else "-"
INSTANCE = f"arn:aws:s3:us-east-1:{ACCOUNT}:access-grants/default"
LOCATION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/S3AccessGrantsLocationRole"
PLUGIN = "S3AccessGrantsPlugin=aws_s3_access_grants_boto3_plugin.s3_access_grants_plugin"
NO_PLUGIN = "not configured (BOTOCORE_EXPERIMENTAL__PLUGINS unset): this kernel's own S3 calls use its IAM credentials"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def table_rows(text: str) -> list[tuple[str, ...]]:
    """The rows of a table printed by the CLI, split at the header's column starts (cells may hold spaces)."""
    lines = text.split("\n")
    header = lines[0]
    starts = [0] + [i for i in range(1, len(header)) if header[i] != " " and header[i - 1] == " "]
    rows = []
    for line in lines[1:]:
        if not line:
            break  # the blank line before the summary
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None], strict=False)]
        rows.append(tuple(cells))
    return rows


def one_error_line(err: str) -> str:
    """The stderr of a failed command: exactly one line, the CLI's own sentence."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


# --------------------------------------------------------------------------- policy


EXECUTION_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowDataAccessAPI",
            "Effect": "Allow",
            "Action": ["s3:GetDataAccess", "s3:GetAccessGrantsInstanceForPrefix"],
            "Resource": [INSTANCE],
        },
        {
            "Sid": "RequiredForIdentificationPropagation",
            "Effect": "Allow",
            "Action": "sts:SetContext",
            "Resource": LOCATION_ROLE,
        },
    ],
}


def test_policy_defaults_region_and_account_from_the_session(session, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    code, text = run("policy", "--grants-role", "S3AccessGrantsLocationRole")
    assert code == 0
    assert json.loads(text) == EXECUTION_POLICY
    assert text.startswith('{\n  "Version": "2012-10-17",')  # indented, pastes into the IAM console


def test_policy_region_defaults_from_the_environment_and_account_from_sts(session, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    code, text = run("policy", "--grants-role", LOCATION_ROLE)
    assert code == 0
    assert json.loads(text)["Statement"][0]["Resource"] == [f"arn:aws:s3:eu-west-1:{ACCOUNT}:access-grants/default"]
    code, text = run("policy", "--region", "ap-south-1", "--grants-role", "G")  # --region beats the environment
    assert json.loads(text)["Statement"][0]["Resource"] == [f"arn:aws:s3:ap-south-1:{ACCOUNT}:access-grants/default"]


def test_policy_trust_is_exact(session, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # ignored: --region is given
    code, text = run("policy", "--region", "us-west-2", "--account", "111122223333", "--trust")
    assert code == 0
    assert json.loads(text) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccessGrantsAssumesThisRole",
                "Effect": "Allow",
                "Principal": {"Service": "access-grants.s3.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:SetContext", "sts:SetSourceIdentity"],
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": "111122223333"},
                    "ArnEquals": {"aws:SourceArn": "arn:aws:s3:us-west-2:111122223333:access-grants/default"},
                },
            }
        ],
    }


def test_policy_trust_defaults_from_the_session(session, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    code, text = run("policy", "--trust")
    assert code == 0
    statement = json.loads(text)["Statement"][0]
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnEquals": {"aws:SourceArn": INSTANCE},
    }


def test_policy_without_grants_role_or_trust_is_one_line(capsys):
    code, text = run("policy", "--region", "us-east-1", "--account", "111122223333")
    assert (code, text) == (2, "")
    assert one_error_line(capsys.readouterr().err) == (
        "s3ag: error: --grants-role is needed for the execution-role policy (or pass --trust)"
    )


def test_policy_bad_region_is_one_line(capsys):
    code, _ = run("policy", "--region", "useast1", "--account", "111122223333", "--trust")
    assert code == 2
    assert one_error_line(capsys.readouterr().err) == ("s3ag: error: 'useast1' is not an AWS Region name such as 'us-east-1'")


# --------------------------------------------------------------------------- doctor


_LOADER = []


def _botocore_session():
    """A new botocore session, as ``boto3.Session(region_name=...)`` makes, sharing one model loader
    across tests: parsing the service models again for every command is most of a test's time."""
    import botocore.loaders
    import botocore.session

    if not _LOADER:
        _LOADER.append(botocore.loaders.create_loader())
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER[0])
    return core


class FakeAWS:
    """What ``s3ag doctor`` meets: the Access Grants table and the policy simulator, on its own boto3 session."""

    def __init__(self) -> None:
        self.table = AccessGrantsTable().grant("s3://data/train/*", "READ")
        self.simulator = PolicySimulator(
            {
                "s3:GetDataAccess": [INSTANCE],
                "s3:GetAccessGrantsInstanceForPrefix": [INSTANCE],
                "sts:SetContext": [LOCATION_ROLE],
            }
        )
        self.regions: list[object] = []

    def boto_session(self, region):
        self.regions.append(region)
        session = boto3.Session(botocore_session=_botocore_session(), region_name=region)
        install_access_grants(session, self.table)
        self.simulator.install(session)
        return session


@pytest.fixture
def aws(_emulator, monkeypatch):
    """``_cli._boto_session`` makes a boto3 session as the CLI does, with the fakes installed.

    Depends on the emulator so that moto (and its fake credentials and closed proxies) is in place:
    nothing not faked here can leave the process.
    """
    clear_preflight_cache()
    monkeypatch.delenv("BOTOCORE_EXPERIMENTAL__PLUGINS", raising=False)
    fake = FakeAWS()
    monkeypatch.setattr(cli, "_boto_session", fake.boto_session)
    return fake


def doctor(*argv: str) -> tuple[int, list[tuple[str, ...]], str]:
    code, text = run("doctor", "--region", "us-east-1", *argv)
    return code, table_rows(text), text


SDK_ROW = (
    f"sagemaker {installed_version()} (SDK v{SDK_MAJOR}): "
    f"{'GrantAwareEstimator' if SDK_MAJOR == 2 else 'GrantAwareModelTrainer'}, GrantAwareProcessor, grant_aware(), patch()"
)


def row(rows, name: str) -> tuple[str, str]:
    (found,) = [(status, detail) for status, check, detail in rows if check == name]
    return found


def test_doctor_all_good(aws):
    code, rows, text = doctor("--role", ROLE, "--grants-role", LOCATION_ROLE, "--prefix", "s3://data/train/")
    assert code == 0, text
    assert text.splitlines()[0].split() == ["STATUS", "CHECK", "DETAIL"]
    assert rows == [
        ("info", "trusted identity propagation", "disabled (not in a SageMaker Studio space)"),
        ("info", "user background sessions", "not checked: trusted identity propagation is off"),
        ("info", "boto3 Access Grants plugin", NO_PLUGIN),
        ("info", "SageMaker Python SDK", SDK_ROW),
        ("ok", "Access Grants instance", INSTANCE),
        ("ok", "IAM Identity Center", "associated with arn:aws:sso:::instance/ssoins-fake0000000000"),
        (
            "ok",
            "execution role allows S3 Access Grants",
            f"{ROLE} may call s3:GetDataAccess, s3:GetAccessGrantsInstanceForPrefix, sts:SetContext",
        ),
        ("ok", "residual S3 access to s3://data/train/", "the role has no S3 access of its own here: only grants let jobs in"),
        ("ok", "your grant on s3://data/train/", "grant matched (grant s3://data/train/*, DIRECTORY_USER)"),
    ]
    assert text.endswith("\n\nEvery required check passed.\n")
    assert aws.regions == ["us-east-1"]
    # the simulator was asked about this role, on the instance, the location role and the prefix
    assert (ROLE, ["s3:GetDataAccess", "s3:GetAccessGrantsInstanceForPrefix"], [INSTANCE]) in aws.simulator.calls
    assert (ROLE, ["sts:SetContext"], [LOCATION_ROLE]) in aws.simulator.calls
    assert (ROLE, ["s3:GetObject", "s3:PutObject"], ["arn:aws:s3:::data/train/*"]) in aws.simulator.calls
    assert (ROLE, ["s3:ListBucket"], ["arn:aws:s3:::data"]) in aws.simulator.calls
    assert aws.table.counts["GetAccessGrantsInstance"] == 1
    assert ("GetAccessGrantsInstance", {"AccountId": ACCOUNT}) in aws.table.calls


def test_doctor_without_grants_role_cannot_check_set_context_but_passes(aws):
    code, rows, text = doctor("--role", ROLE)
    assert code == 0, text
    assert row(rows, "execution role allows S3 Access Grants") == (
        "ok",
        f"{ROLE} may call s3:GetDataAccess, s3:GetAccessGrantsInstanceForPrefix",
    )
    assert row(rows, "sts:SetContext on the grants role") == ("could not check", "pass --grants-role to check it")


def test_doctor_no_instance_fails(aws):
    aws.table.instance_exists = False
    code, rows, text = doctor("--role", ROLE)
    assert code == 1
    status, detail = row(rows, "Access Grants instance")
    assert status == "fail"
    assert detail.startswith(f"none in us-east-1 for account {ACCOUNT}: create one")
    assert row(rows, "IAM Identity Center") == ("could not check", "no Access Grants instance")
    assert text.endswith("\n\n2 required checks failed or could not run.\n")


def test_doctor_instance_without_identity_center_fails(aws):
    aws.table.identity_center_arn = None
    code, rows, text = doctor("--role", ROLE)
    assert code == 1
    assert row(rows, "Access Grants instance") == ("ok", INSTANCE)
    status, detail = row(rows, "IAM Identity Center")
    assert status == "fail"
    assert detail.startswith("the instance is not associated with IAM Identity Center")
    assert text.endswith("\n\n1 required check failed or could not run.\n")


def test_doctor_instance_lookup_denied_is_could_not_check(aws):
    aws.table.denied_operations.add("GetAccessGrantsInstance")
    code, rows, _ = doctor("--role", ROLE)
    assert code == 1
    reason = "not allowed to call s3:GetAccessGrantsInstance"
    assert row(rows, "Access Grants instance") == ("could not check", reason)
    assert row(rows, "IAM Identity Center") == ("could not check", reason)


def test_doctor_role_lacking_get_data_access_fails_naming_it(aws):
    del aws.simulator.allow["s3:GetDataAccess"]
    code, rows, text = doctor("--role", ROLE, "--grants-role", LOCATION_ROLE)
    assert code == 1
    assert row(rows, "execution role allows S3 Access Grants") == (
        "fail",
        f"{ROLE} lacks s3:GetDataAccess (see `s3ag policy`)",
    )
    assert "Every required check passed." not in text


def test_doctor_role_lacking_set_context_on_the_grants_role_fails(aws):
    aws.simulator.allow["sts:SetContext"] = [f"arn:aws:iam::{ACCOUNT}:role/SomeOtherRole"]
    code, rows, _ = doctor("--role", ROLE, "--grants-role", LOCATION_ROLE)
    assert code == 1
    assert row(rows, "execution role allows S3 Access Grants") == ("fail", f"{ROLE} lacks sts:SetContext (see `s3ag policy`)")


def test_doctor_simulator_denied_is_could_not_check_never_ok(aws):
    aws.simulator.denied = True
    code, rows, text = doctor("--role", ROLE, "--grants-role", LOCATION_ROLE, "--prefix", "s3://data/train/")
    assert code == 1
    reason = "not allowed to call iam:SimulatePrincipalPolicy"
    assert row(rows, "execution role allows S3 Access Grants") == ("could not check", reason)
    assert row(rows, "residual S3 access to s3://data/train/") == ("could not check", reason)
    assert aws.simulator.calls == []
    assert [check for status, check, _ in rows if status == "ok"] == [
        "Access Grants instance",
        "IAM Identity Center",
        "your grant on s3://data/train/",
    ]
    assert text.endswith("\n\n1 required check failed or could not run.\n")


def test_doctor_without_role_or_studio_metadata_says_pass_role(aws):
    code, rows, _ = doctor("--prefix", "s3://data/train/")
    assert code == 1
    assert row(rows, "execution role allows S3 Access Grants") == (
        "could not check",
        "no execution role: pass --role ARN",
    )
    assert row(rows, "residual S3 access to s3://data/train/") == ("could not check", "no execution role: pass --role ARN")
    assert aws.simulator.calls == []


def test_doctor_reads_the_role_from_studio_metadata(aws, monkeypatch, tmp_path):
    metadata = tmp_path / "resource-metadata.json"
    metadata.write_text(json.dumps({"ExecutionRoleArn": ROLE}))
    monkeypatch.setenv(METADATA_FILE_ENV, str(metadata))
    code, rows, _ = doctor()
    assert code == 0
    assert row(rows, "execution role allows S3 Access Grants")[0] == "ok"
    assert {call[0] for call in aws.simulator.calls} == {ROLE}


def test_doctor_residual_s3_access_warns_naming_the_action(aws):
    aws.simulator.allow["s3:GetObject"] = ["arn:aws:s3:::data/*"]
    code, rows, text = doctor("--role", ROLE, "--prefix", "s3://data/train/")
    assert code == 0, text  # a warning, not a required check
    status, detail = row(rows, "residual S3 access to s3://data/train/")
    assert status == "warn"
    assert detail.startswith("the role itself may s3:GetObject: a job whose grant fails falls back")
    aws.simulator.allow["s3:ListBucket"] = ["arn:aws:s3:::data"]
    _, rows, _ = doctor("--role", ROLE, "--prefix", "s3://data/train/")
    assert row(rows, "residual S3 access to s3://data/train/")[1].startswith("the role itself may s3:GetObject, s3:ListBucket:")


def test_doctor_your_grant_per_prefix(aws):
    code, rows, _ = doctor("--role", ROLE, "--prefix", "s3://data/train/", "--prefix", "s3://data/other/")
    assert code == 0
    assert row(rows, "your grant on s3://data/train/") == ("ok", "grant matched (grant s3://data/train/*, DIRECTORY_USER)")
    assert row(rows, "your grant on s3://data/other/") == ("warn", "no matching grant")
    targets = [params["Target"] for op, params in aws.table.calls if op == "GetDataAccess"]
    assert sorted(targets) == ["s3://data/other/*", "s3://data/train/*"]


@pytest.mark.parametrize("operation", ["GetDataAccess", "GetAccessGrantsInstanceForPrefix"])
def test_doctor_your_grant_without_permission_is_never_ok(aws, operation):
    aws.table.denied_operations.add(operation)
    code, rows, _ = doctor("--role", ROLE, "--prefix", "s3://data/train/")
    assert code == 0  # not a required check
    status, detail = row(rows, "your grant on s3://data/train/")
    assert status != "ok"
    assert detail == f"caller may not call s3:{operation}"


@pytest.mark.parametrize("operation", ["GetDataAccess", "GetAccessGrantsInstanceForPrefix"])
def test_doctor_your_grant_without_permission_is_could_not_check(aws, operation):
    """The issue: "Missing permissions to run a check are reported as 'could not check'". When the caller
    may not call s3:GetDataAccess (or s3:GetAccessGrantsInstanceForPrefix), the grant was never looked
    at, yet the row says 'warn' (the preflight's 'fallback' outcome, right for a job, mapped to warn)."""
    aws.table.denied_operations.add(operation)
    _, rows, _ = doctor("--role", ROLE, "--prefix", "s3://data/train/")
    assert row(rows, "your grant on s3://data/train/") == ("could not check", f"caller may not call s3:{operation}")


@pytest.mark.parametrize(
    "value, detail",
    [
        (
            PLUGIN,
            "configured in BOTOCORE_EXPERIMENTAL__PLUGINS: this kernel's own S3 calls use your grants",
        ),
        (None, NO_PLUGIN),
    ],
    ids=["set", "unset"],
)
def test_doctor_plugin_row(aws, monkeypatch, value, detail):
    if value is not None:
        monkeypatch.setenv("BOTOCORE_EXPERIMENTAL__PLUGINS", value)
    code, rows, _ = doctor("--role", ROLE)
    assert code == 0
    assert row(rows, "boto3 Access Grants plugin") == ("info", detail)


def test_doctor_tip_row_says_where_it_was_read(aws, monkeypatch):
    monkeypatch.setenv("TRUSTED_IDENTITY_PROPOGATION_ENABLED", "true")
    _, rows, _ = doctor("--role", ROLE)
    assert row(rows, "trusted identity propagation") == (
        "info",
        "enabled (environment TRUSTED_IDENTITY_PROPOGATION_ENABLED)",
    )


def test_doctor_json(aws):
    aws.table.identity_center_arn = None
    code, text = run("doctor", "--region", "us-east-1", "--role", ROLE, "--prefix", "s3://data/train/", "--json")
    assert code == 1
    checks = json.loads(text)
    assert all(set(check) == {"name", "status", "detail", "required"} for check in checks)
    assert [(c["name"], c["status"], c["required"]) for c in checks] == [
        ("trusted identity propagation", "info", False),
        ("user background sessions", "info", False),
        ("boto3 Access Grants plugin", "info", False),
        ("SageMaker Python SDK", "info", False),
        ("Access Grants instance", "ok", True),
        ("IAM Identity Center", "fail", True),
        ("execution role allows S3 Access Grants", "ok", True),
        ("sts:SetContext on the grants role", "could not check", False),
        ("residual S3 access to s3://data/train/", "ok", False),
        ("your grant on s3://data/train/", "ok", False),
    ]
    assert "required check" not in text  # no human summary in the JSON


@pytest.mark.parametrize("prefix", ["data/train/", "s3:/data/train/", "s3://a/train/"])
def test_doctor_malformed_prefix_is_one_line(aws, capsys, prefix):
    code, text = run("doctor", "--region", "us-east-1", "--role", ROLE, "--prefix", prefix)
    assert (code, text) == (2, "")
    assert one_error_line(capsys.readouterr().err) == (f"s3ag: error: {prefix!r} is not an S3 URI of the form s3://bucket/prefix")
    assert aws.simulator.calls == [] and aws.table.calls == []


# --------------------------------------------------------------------------- jobs and describe


@pytest.fixture
def cli_regions(session, monkeypatch):
    """The CLI's SageMaker session is ``session`` (whose boto session has the fake Access Grants);
    the Regions the CLI asked for, in order."""
    regions: list[object] = []

    def sagemaker_session(region):
        regions.append(region)
        return session

    monkeypatch.setattr(cli, "_sagemaker_session", sagemaker_session)
    return regions


def launch_four(session) -> dict[str, str]:
    """A grant-aware job with TIP on and one with TIP off, a stock job and a grant-aware processing job."""
    names = {
        "tip-on": train_job(session, "s3://s3ag-demo/train/", identity_propagation=True, base_job_name="tip-on"),
        "tip-off": train_job(session, "s3://s3ag-demo/train/", identity_propagation=False, base_job_name="tip-off"),
        "stock": train_job(session, "s3://s3ag-demo/train/", stock=True, base_job_name="stock"),
    }
    proc = GrantAwareProcessor(**COMMON, sagemaker_session=session, identity_propagation=False, base_job_name="proc")
    proc.run(wait=False, logs=False)
    names["proc"] = proc.latest_job.job_name if SDK_MAJOR == 2 else proc.latest_job.processing_job_name
    return names


def test_jobs_table_json_and_filters(session, cli_regions, capsys):
    names = launch_four(session)
    capsys.readouterr()

    code, text = run("jobs", "--region", "eu-west-1")
    assert code == 0
    assert cli_regions == ["eu-west-1"]
    assert text.splitlines()[0].split() == ["CREATED", "TYPE", "JOB", "STATUS", "CREDENTIALS", "TIP", "ADJUSTMENTS", "FALLBACK"]
    rows = {cells[2]: cells for cells in table_rows(text)}
    assert set(rows) == set(names.values())
    client = session.sagemaker_client
    created = {j["TrainingJobName"]: j["CreationTime"] for j in client.list_training_jobs()["TrainingJobSummaries"]}
    created.update({j["ProcessingJobName"]: j["CreationTime"] for j in client.list_processing_jobs()["ProcessingJobSummaries"]})
    assert {name: cells[0] for name, cells in rows.items()} == {
        name: when.strftime("%Y-%m-%d %H:%M") for name, when in created.items()
    }
    assert rows[names["tip-on"]][1:2] + rows[names["tip-on"]][4:] == (
        "training",
        "access-grants",
        "enabled",
        DEFAULTS_REMOVED,
        "-",
    )
    assert rows[names["tip-off"]][1:2] + rows[names["tip-off"]][4:] == ("training", "iam-role", "disabled", "-", "-")
    assert rows[names["stock"]][1:2] + rows[names["stock"]][4:] == ("training", "(no record)", "-", "-", "-")
    assert rows[names["proc"]][1:2] + rows[names["proc"]][4:] == ("processing", "iam-role", "disabled", "-", "-")
    assert text.endswith("\n\n4 jobs since 7d ago.\n")
    assert capsys.readouterr().err == ""  # fewer than 20 jobs: no progress

    code, text = run("jobs", "--credentials", "iam-role")
    assert code == 0
    assert sorted(cells[2] for cells in table_rows(text)) == sorted([names["tip-off"], names["proc"]])
    assert text.endswith("\n\n2 jobs since 7d ago.\n")

    code, text = run("jobs", "--credentials", "access-grants", "--json")
    assert code == 0
    (only,) = json.loads(text)
    assert only["job_name"] == names["tip-on"] and only["job_type"] == "training"
    assert only["record"]["s3ag:credentials"] == "access-grants"
    assert only["arn"] == f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/{names['tip-on']}"
    assert datetime.fromisoformat(only["created"]) > datetime.now(timezone.utc) - timedelta(hours=1)
    assert only["locations"] == []

    code, text = run("jobs", "--json")
    by_name = {job["job_name"]: job for job in json.loads(text)}
    assert set(by_name) == set(names.values())
    assert by_name[names["stock"]]["record"] == {}
    assert by_name[names["proc"]]["job_type"] == "processing"

    code, text = run("jobs", "--credentials", "mixed")
    assert (code, table_rows(text)) == (0, [])
    assert text.endswith("\n\n0 jobs since 7d ago.\n")


def test_jobs_since_is_sent_as_creation_time_after(session, cli_regions):
    launch_four(session)
    sent: list[datetime] = []

    def record(params, **_):
        sent.append(params["CreationTimeAfter"])

    events = session.sagemaker_client.meta.events
    events.register("provide-client-params.sagemaker.ListTrainingJobs", record, unique_id="test-since")
    events.register("provide-client-params.sagemaker.ListProcessingJobs", record, unique_id="test-since-p")
    try:
        before = datetime.now(timezone.utc)
        code, text = run("jobs", "--since", "1m")
        after = datetime.now(timezone.utc)
    finally:
        events.unregister("provide-client-params.sagemaker.ListTrainingJobs", unique_id="test-since")
        events.unregister("provide-client-params.sagemaker.ListProcessingJobs", unique_id="test-since-p")
    assert code == 0
    assert len(table_rows(text)) == 4  # launched a moment ago: within the minute
    assert text.endswith("\n\n4 jobs since 1m ago.\n")
    assert len(sent) == 2
    for value in sent:
        assert before - timedelta(minutes=1) <= value <= after - timedelta(minutes=1)


@pytest.mark.parametrize("since", ["7x", "d7", "", "7 days"])
def test_jobs_bad_since_is_one_line(session, cli_regions, capsys, since):
    code, text = run("jobs", "--since", since)
    assert (code, text) == (2, "")
    assert one_error_line(capsys.readouterr().err) == (
        f"s3ag: error: --since takes a number and a unit (m, h, d or w), e.g. 7d, or a past UTC time such as 2026-12-01T08:00, not {since!r}"
    )


@pytest.mark.parametrize("where", ["missing-folder/report.html", "."], ids=["folder missing", "a directory"])
def test_jobs_html_that_cannot_be_written_is_one_line_before_any_listing(session, cli_regions, capsys, tmp_path, where):
    code, text = run("jobs", "--html", str(tmp_path / where))
    assert (code, text, cli_regions) == (2, "", [])  # no session made, nothing listed or tagged
    assert one_error_line(capsys.readouterr().err).endswith("not a file that can be written (is its folder there, and writable?)")


@pytest.mark.parametrize(
    "since, error",
    [
        (timedelta(days=10**6), ValueError),
        (timedelta(0), ValueError),
        (timedelta(days=-1), ValueError),
        (7, TypeError),
        ("7x", ValueError),
        ("0d", ValueError),
    ],
)
def test_list_jobs_since_gets_one_clear_error(session, since, error):
    from sagemaker_s3ag import list_jobs

    with pytest.raises(error, match="since"):
        list_jobs(session, since=since)


def test_list_jobs_takes_since_as_text(session):
    from sagemaker_s3ag import list_jobs

    assert list(list_jobs(session, since="1h")) == []


def test_jobs_bad_credentials_choice_exits_2(session, cli_regions, capsys):
    with pytest.raises(SystemExit) as caught:
        run("jobs", "--credentials", "grants")
    assert caught.value.code == 2
    assert "invalid choice: 'grants'" in capsys.readouterr().err


def test_jobs_shows_progress_for_long_listings(session, cli_regions, capsys):
    client = session.sagemaker_client
    for i in range(22):
        client.create_training_job(
            TrainingJobName=f"cheap-{i:02d}",
            AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            RoleArn=ROLE,
            OutputDataConfig={"S3OutputPath": "s3://s3ag-demo/out/"},
            ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 60},
        )
    capsys.readouterr()
    code, text = run("jobs")
    assert code == 0
    assert sorted(cells[2] for cells in table_rows(text)) == [f"cheap-{i:02d}" for i in range(22)]
    assert capsys.readouterr().err == "\rreading tags: 20/22 jobs\rreading tags: 22/22 jobs\n"
    code, text = run("jobs", "--json")  # progress goes to stderr, so the JSON stays clean
    assert code == 0 and len(json.loads(text)) == 22
    assert capsys.readouterr().err.endswith("22/22 jobs\n")


def test_describe_json_with_locations(session, cli_regions, access_grants):
    access_grants.grants.clear()
    access_grants.grant("s3://s3ag-demo/train/*", "READ")
    name = train_job(
        session, "s3://s3ag-demo/train/", output="s3://s3ag-demo/models/", identity_propagation=True, on_fallback="allow"
    )

    code, text = run("describe", name, "--json")
    assert code == 0
    data = json.loads(text)
    assert data["locations"] == [] and data["record"]["s3ag:credentials"] == "mixed"

    code, text = run("describe", name, "--json", "--locations", "--region", "us-east-1")
    assert code == 0
    assert cli_regions[-1] == "us-east-1"
    data = json.loads(text)
    status = session.sagemaker_client.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
    assert (data["job_name"], data["job_type"], data["status"]) == (name, "training", status)
    assert [(o["uri"], o["permission"], o["outcome"], o["grant_target"]) for o in data["locations"]] == [
        ("s3://s3ag-demo/train/", "READ", "granted", "s3://s3ag-demo/train/*"),
        ("s3://s3ag-demo/models/", "WRITE", "fallback", None),
    ]
    assert set(data["locations"][0]) == {
        "uri",
        "permission",
        "outcome",
        "reason",
        "places",
        "grant_target",
        "grantee_type",
        "instance_arn",
    }

    code, text = run("describe", name, "--locations")
    assert code == 0
    assert "S3 location (now)     granted  READ      s3://s3ag-demo/train/" in text


# --------------------------------------------------------------------------- missing credentials or Region


@pytest.fixture
def no_aws_configuration(monkeypatch, tmp_path):
    """No credentials and no Region anywhere the default chain looks (moto's fake keys included)."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty-aws-file"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


NO_CREDENTIALS = "s3ag: error: no AWS credentials: configure them (aws configure, AWS_PROFILE, ...)"
NO_REGION = "s3ag: error: no AWS Region: pass --region or set AWS_DEFAULT_REGION"


@pytest.mark.parametrize(
    "argv",
    [
        ("policy", "--region", "us-east-1", "--grants-role", "G"),
        ("jobs", "--region", "us-east-1"),
        ("describe", "some-job", "--region", "us-east-1"),
    ],
    ids=lambda argv: argv[0],
)
def test_missing_credentials_is_one_line(_emulator, no_aws_configuration, capsys, argv):
    # moto is running (_emulator): it does not make credentials unnecessary, signing needs them
    code, text = run(*argv)
    assert (code, text) == (2, "")
    assert one_error_line(capsys.readouterr().err) == NO_CREDENTIALS


def test_doctor_without_credentials_is_the_cli_error_not_a_table_row(_emulator, no_aws_configuration, capsys):
    """`s3ag doctor` without credentials prints a table with a 'caller' row and exits 1 (as if a check had
    failed) instead of the one-line 'no AWS credentials' error and exit 2 of every other command."""
    code, text = run("doctor", "--region", "us-east-1", "--role", ROLE)
    assert (code, text) == (2, "")
    assert one_error_line(capsys.readouterr().err) == NO_CREDENTIALS


@pytest.mark.parametrize(
    "argv",
    [
        ("policy", "--grants-role", "G"),
        ("doctor",),
        ("jobs",),
        ("describe", "some-job"),
    ],
    ids=lambda argv: argv[0],
)
def test_missing_region_is_one_line(no_aws_configuration, capsys, argv):
    code, text = run(*argv)
    assert (code, text) == (2, "")
    assert one_error_line(capsys.readouterr().err) == NO_REGION


def test_no_credentials_from_the_session_factory_is_one_line(monkeypatch, capsys):
    from botocore.exceptions import NoCredentialsError

    def no_credentials(region):
        raise NoCredentialsError()

    monkeypatch.setattr(cli, "_boto_session", no_credentials)
    code, _ = run("doctor", "--region", "us-east-1")
    assert code == 2
    assert one_error_line(capsys.readouterr().err) == NO_CREDENTIALS


# --------------------------------------------------------------------------- --help


@pytest.mark.parametrize("command", ["policy", "doctor", "describe", "jobs", "run"])
def test_help_teaches_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main([command, "--help"])
    assert caught.value.code == 0
    help_text = capsys.readouterr().out
    assert help_text.startswith(f"usage: s3ag {command} ")
    example_lines = [line for line in help_text.splitlines() if "example" in line]
    assert example_lines, help_text
    assert f"s3ag {command} " in help_text.split(example_lines[0], 1)[1] or f"s3ag {command} " in example_lines[0]


@pytest.mark.parametrize("command", ["policy", "doctor", "describe", "jobs"])
def test_help_of_operator_commands_mentions_json_or_trust(command, capsys):
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    help_text = capsys.readouterr().out
    assert ("--trust" if command == "policy" else "--json") in help_text


@pytest.mark.parametrize("command", ["demo", "rules"])
def test_help_of_every_subcommand_has_an_example(command, capsys):
    """The issue: "All commands: --help that teaches". `s3ag demo --help` and `s3ag rules --help` have no
    example line (no epilog), unlike policy/doctor/describe/jobs/run."""
    with pytest.raises(SystemExit) as caught:
        cli.main([command, "--help"])
    assert caught.value.code == 0
    help_text = capsys.readouterr().out
    assert any("example" in line for line in help_text.splitlines()), help_text


@pytest.mark.parametrize(
    "status, expected",
    [
        ("ENABLED", ("ok", "enabled (application apl-2222): a TIP job runs for at most the session duration")),
        ("DISABLED", ("warn", "disabled (application apl-2222): a TIP job fails within 15 minutes of your signing out")),
        (None, ("could not check", "could not check: not allowed to call sso:GetApplicationSessionConfiguration")),
    ],
)
def test_doctor_reads_user_background_sessions_in_studio(aws, monkeypatch, tmp_path, status, expected):
    from test_considerations import IdentityCenter, studio

    studio(monkeypatch, tmp_path)
    made = aws.boto_session

    def with_identity_center(region):
        session = made(region)
        IdentityCenter(session, status, error=None if status else "AccessDeniedException")
        return session

    monkeypatch.setattr(cli, "_boto_session", with_identity_center)
    code, rows, text = doctor("--role", ROLE)
    assert row(rows, "trusted identity propagation") == ("info", "enabled (domain d-abc123 (DescribeDomain))")
    found = row(rows, "user background sessions")
    assert found[0] == expected[0] and found[1].startswith(expected[1]), found
    assert code == 0, text  # a note for the user, not a wiring fault
