"""The s3ag command: demo, rules, policy, describe."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from conftest import SDK_MAJOR, train_job

from sagemaker_s3ag.cli.main import main


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_demo_runs_offline_and_reports_every_step():
    code, text = run("demo")
    assert code == 0, text
    assert "[s3ag:pipe-mode]" in text
    assert "refused (rule dataset-definition)" in text
    # v2's default Debugger and Profiler go quietly; v3 adds neither, and the demo asks for remote debugging
    expected = "pipe-mode debugger profiler" if SDK_MAJOR == 2 else "pipe-mode remote-debug"
    assert f"s3ag:adjustments={expected}" in text
    assert "Demo finished: every step behaved as documented." in text


def test_console_script_entry_point_is_installed():
    result = subprocess.run([sys.executable, "-m", "sagemaker_s3ag.cli.main", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("sagemaker-s3ag ")


def test_rules_lists_every_rule():
    code, text = run("rules")
    assert code == 0
    for rule_id in ("pipe-mode", "debugger", "profiler", "remote-debug", "dataset-definition", "names", "s3-uri"):
        assert f"\n{rule_id} " in "\n" + text


def test_policy_prints_json_for_iam():
    code, text = run("policy", "--region", "eu-west-1", "--account", "111122223333", "--grants-role", "G")
    assert code == 0
    policy = json.loads(text)
    assert policy["Statement"][1]["Resource"] == "arn:aws:iam::111122223333:role/G"


def test_policy_bad_account_is_a_sentence_not_a_traceback(capsys):
    code, _ = run("policy", "--region", "eu-west-1", "--account", "12", "--grants-role", "G")
    assert code == 2
    assert capsys.readouterr().err.startswith("s3ag: error: '12' is not a 12-digit AWS account id")


def test_missing_subcommand_exits_2(capsys):
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2


def test_describe_uses_the_default_session(session, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    name = train_job(session, "s3://s3ag-demo/train/", identity_propagation=True)
    code, text = run("describe", name, "--json")
    assert code == 0
    data = json.loads(text)
    assert data["job_name"] == name and data["record"]["s3ag:credentials"] == "access-grants"
    code, text = run("describe", name)
    assert code == 0 and "identity propagation  enabled" in text


def test_describe_missing_job_is_a_sentence(session, monkeypatch, capsys):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    code, _ = run("describe", "nope")
    assert code == 2
    assert "no training or processing job named 'nope'" in capsys.readouterr().err
