"""Deploying the guard: the CloudFormation template (cfn-lint, and in step with the code), the Lambda
package (runs with no SageMaker SDK, wrapt or packaging), the ``s3ag guard`` commands and the SCP."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import pytest
import yaml
from conftest import BUCKET, ROLE

from sagemaker_s3ag.cli.main import main
from sagemaker_s3ag.guard.actions import TIERS, GuardConfig
from sagemaker_s3ag.guard.deploy import RUNTIME, build_package, template_text
from sagemaker_s3ag.guard.events import OPERATIONS
from sagemaker_s3ag.ops.policy import require_record_policy
from sagemaker_s3ag.testing.cloudtrail import cloudtrail_record, eventbridge_event


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...) read as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: {suffix: _construct(loader, node)})


def _construct(loader, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


TEMPLATE = yaml.load(template_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
RESOURCES = TEMPLATE["Resources"]


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


# --------------------------------------------------------------------------- the template


def test_the_template_passes_cfn_lint_informational_checks_included():
    from cfnlint.api import ManualArgs, lint

    matches = lint(
        template_text(),
        config=ManualArgs(regions=["us-east-1", "eu-west-1", "ap-southeast-2"], include_checks=["I"]),
    )
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


def test_the_rule_listens_for_exactly_the_calls_the_handler_judges():
    pattern = RESOURCES["Rule"]["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.sagemaker"] and pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    assert sorted(pattern["detail"]["eventName"]) == sorted(OPERATIONS)


def test_the_functions_settings_are_the_ones_the_handler_reads():
    function = RESOURCES["Function"]["Properties"]
    variables = function["Environment"]["Variables"]
    assert GuardConfig.from_environment({k: "" for k in variables}) == GuardConfig()  # every name is read
    parameters = TEMPLATE["Parameters"]
    assert parameters["Notify"]["AllowedValues"] == list(TIERS)
    assert parameters["StopJobs"]["AllowedValues"] == ["off", "violation", "not-ok"]
    for name, allowed in (("IdentityPropagation", ("auto", "on")), ("TagJobs", ("true", "false"))):
        for value in allowed:  # each allowed value starts the function
            key = {"IdentityPropagation": "S3AG_GUARD_IDENTITY_PROPAGATION", "TagJobs": "S3AG_GUARD_TAG"}[name]
            GuardConfig.from_environment({key: value})
    module, _, attribute = function["Handler"].rpartition(".")
    assert callable(getattr(__import__(module, fromlist=[attribute]), attribute))


def test_the_template_runs_the_runtime_the_package_is_built_for():
    assert RESOURCES["Function"]["Properties"]["Runtime"] == RUNTIME


def test_the_functions_role_has_no_s3_access_and_tags_only_sagemaker_jobs():
    statements = RESOURCES["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    actions = []
    for statement in statements:
        body = statement["If"][1] if "If" in statement else statement
        actions.extend([body["Action"]] if isinstance(body["Action"], str) else body["Action"])
    assert not [a for a in actions if a.startswith("s3:") or a == "*" or a.endswith(":*")]
    assert "sagemaker:AddTags" in actions and "sagemaker:StopTrainingJob" in actions


# --------------------------------------------------------------------------- the Lambda package


def test_the_package_runs_the_handler_without_the_sdk(tmp_path):
    archive = tmp_path / "guard.zip"
    names = build_package(archive)
    assert "sagemaker_s3ag/guard/handler.py" in names and not [n for n in names if "/sdk/" in n or "/cli/" in n]
    assert [n for n in names if n.endswith(".pyc")]  # a Lambda function cannot write its own bytecode
    assert build_package(tmp_path / "again.zip") == names
    assert (tmp_path / "again.zip").read_bytes() == archive.read_bytes()  # the same package, the same bytes
    code = tmp_path / "code"
    zipfile.ZipFile(archive).extractall(code)
    event = eventbridge_event(
        cloudtrail_record(
            "CreateTrainingJob",
            {
                "TrainingJobName": "zip-test",
                "RoleArn": ROLE,
                "AlgorithmSpecification": {"TrainingImage": "i", "TrainingInputMode": "Pipe"},
                "InputDataConfig": [
                    {
                        "ChannelName": "train",
                        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/t/"}},
                    }
                ],
            },
        )
    )
    (tmp_path / "event.json").write_text(json.dumps(event))
    script = textwrap.dedent(f"""
        import importlib.abc, json, sys
        class Forbidden(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("sagemaker", "wrapt", "packaging"):
                    raise ImportError("not in the Lambda package: " + name)
        sys.meta_path.insert(0, Forbidden())
        sys.path.insert(0, {str(code)!r})
        from sagemaker_s3ag.guard.handler import handler
        import sagemaker_s3ag
        assert sagemaker_s3ag.__file__.startswith({str(code)!r}), sagemaker_s3ag.__file__
        assert "boto3" not in sys.modules  # loaded on the first event only
        print(json.dumps(handler(json.load(open({str(tmp_path / "event.json")!r})), None)))
    """)
    environment = {
        **os.environ,
        "S3AG_GUARD_TAG": "false",
        "S3AG_GUARD_NOTIFY": "off",
        "AWS_DEFAULT_REGION": "us-east-1",
        "S3AG_GUARD_IDENTITY_PROPAGATION": "on",
    }
    result = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, env=environment, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert json.loads(lines[0])["Outcome"] == "violation"  # the embedded-metric line
    assert json.loads(lines[-1])["tag"] == "violation pipe-mode"


# --------------------------------------------------------------------------- s3ag guard ...


def test_guard_template_and_events_commands():
    assert run("guard", "template") == (0, template_text())
    code, text = run("guard", "events")
    assert code == 0 and "management events" in text


def test_guard_package_command(tmp_path):
    code, text = run("guard", "package", str(tmp_path / "g.zip"))
    assert code == 0 and text.startswith(f"wrote {tmp_path / 'g.zip'}: ")


def test_guard_replay_says_what_it_would_do_and_calls_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # any AWS call would fail loudly
    pipe = cloudtrail_record(
        "CreateTrainingJob",
        {
            "TrainingJobName": "replayed",
            "RoleArn": ROLE,
            "AlgorithmSpecification": {"TrainingImage": "i", "TrainingInputMode": "Pipe"},
            "InputDataConfig": [
                {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/t/"}}}
            ],
        },
    )
    events = [eventbridge_event(pipe), eventbridge_event(pipe), {"detail-type": "AWS API Call via CloudTrail", "detail": []}]
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events))
    code, text = run("guard", "replay", str(path), "--stop", "violation")
    assert code == 0
    assert "violation pipe-mode" in text and "-> would stop training job replayed" in text
    assert text.rstrip().endswith("3 events: 1 duplicate, 1 malformed, 1 violation")
    code, text = run("guard", "replay", str(path), "--json")
    assert [s["outcome"] for s in json.loads(text)] == ["violation", "duplicate", "malformed"]


def test_guard_replay_of_a_file_that_is_not_events_is_one_line(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("{}\nhello\n")
    assert run("guard", "replay", str(path))[0] == 2
    assert capsys.readouterr().err == "s3ag: error: line 2 is not JSON (Expecting value)\n"


@pytest.mark.parametrize(
    "argv, says",
    [
        (["guard", "replay", "{tmp}/missing.json"], "No such file or directory"),
        (["guard", "replay", "{tmp}"], "Is a directory"),
        (["guard", "replay", "{tmp}/deep.json"], "nested deeper than Python's JSON reader goes"),
        (["guard", "replay", "{tmp}/deep-lines.json"], "line 2 is nested deeper than Python's JSON reader goes"),
        (["guard", "package", "{tmp}/missing/guard.zip"], "No such file or directory"),
        (["guard", "package", "{tmp}"], "Is a directory"),
        (["run", "--", "{tmp}/script.sh"], "Exec format error"),
    ],
    ids=["replay missing", "replay directory", "replay deep", "replay deep line", "package missing", "package dir", "run exec"],
)
def test_files_that_cannot_be_read_written_or_run_are_one_line(tmp_path, capsys, argv, says):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "deep-lines.json").write_text("{}\n" + "[" * 100_000 + "]" * 100_000 + "\n")
    script = tmp_path / "script.sh"
    script.write_text("echo hi\n")  # no #! line: the kernel cannot run it
    script.chmod(0o755)
    code = main([part.format(tmp=tmp_path) for part in argv], out=io.StringIO())
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("s3ag: error: ") and says in err, err


# --------------------------------------------------------------------------- s3ag policy --scp


def test_scp_denies_jobs_without_the_record_tag():
    code, text = run("policy", "--scp", "--exempt", "arn:aws:iam::111122223333:role/BreakGlass")
    policy = json.loads(text)
    (deny,) = policy["Statement"]
    assert code == 0 and deny["Effect"] == "Deny"
    assert deny["Action"] == [
        "sagemaker:CreateTrainingJob",
        "sagemaker:CreateProcessingJob",
        "sagemaker:CreateHyperParameterTuningJob",
    ]
    assert deny["Condition"] == {
        "Null": {"aws:RequestTag/s3ag:identity-propagation": "true"},
        "ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::111122223333:role/BreakGlass"]},
    }
    boundary = require_record_policy(boundary=True)
    assert [s["Effect"] for s in boundary["Statement"]] == ["Allow", "Deny"]


def test_the_scp_help_says_a_tag_can_be_forged(capsys):
    with pytest.raises(SystemExit):
        main(["policy", "--help"])
    assert "can be forged" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            [
                "policy",
                "--exempt",
                "arn:aws:iam::111122223333:role/A",
                "--grants-role",
                "R",
                "--region",
                "us-east-1",
                "--account",
                "111122223333",
            ],
            "--exempt goes with --scp or --boundary",
        ),
        (["policy", "--scp", "--exempt", "BreakGlass"], "'BreakGlass' is not an IAM principal ARN"),
    ],
)
def test_scp_arguments_are_checked(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_plugins_jobs_carry_the_tag_the_scp_requires(session):
    """What the SCP asks for is what every job request the plugin sends carries, for each action it denies."""
    from test_guard import processing, sent_by_the_plugin, training

    import sagemaker_s3ag

    policy = require_record_policy()["Statement"][0]
    tag_key = next(iter(policy["Condition"]["Null"])).split("/", 1)[1]
    client = session.boto_session.client("sagemaker")
    sent: list[dict] = []
    client.meta.events.register(
        "before-parameter-build.sagemaker", lambda params, **_: sent.append(json.loads(json.dumps(params)))
    )
    definition = {k: v for k, v in training("x").items() if k not in ("TrainingJobName", "HyperParameters")}
    with sagemaker_s3ag.patched(identity_propagation=True, on_fallback="allow"):
        client.create_processing_job(**processing("scp-processing"))
        client.create_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="scp-tuning",
            HyperParameterTuningJobConfig={
                "Strategy": "Random",
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
            },
            TrainingJobDefinition=definition,
        )
    sent.insert(0, sent_by_the_plugin(session, training("scp-training")))
    assert len(sent) == len(policy["Action"])
    for request in sent:
        assert tag_key in {t["Key"] for t in request["Tags"]}
