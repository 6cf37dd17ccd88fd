"""``s3ag run -- COMMAND``: an unchanged program runs with patch() applied, arguments and exit code passed through.

Every test starts ``s3ag run`` as a real subprocess. The SageMaker program is a small script that
starts its own moto emulator (``sagemaker_s3ag.testing.Emulator``), grants READWRITE on
s3://s3ag-demo/* in a fake S3 Access Grants table, trains with a *stock* ``Estimator`` (SDK v2) or
``ModelTrainer`` (SDK v3) in Pipe mode and prints what the emulator recorded. Child processes that import sagemaker take ~3 s each, so the
assertions are grouped per run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import SDK_MAJOR

from sagemaker_s3ag.cli.run import BOOTSTRAP_DIR, SETTINGS_ENV
from sagemaker_s3ag.core.identity import ENV_VARS, METADATA_FILE_ENV

S3AG = [sys.executable, "-m", "sagemaker_s3ag.cli.main"]
# v2 also switches Debugger and Profiler on by default; v3 does not.
ADJUSTED = "pipe-mode debugger profiler" if SDK_MAJOR == 2 else "pipe-mode"
VENV_BIN = os.path.dirname(sys.executable)

PIPELINE = textwrap.dedent(
    """
    import json
    import sys

    from sagemaker_s3ag.testing import BUCKET, IMAGE, ROLE, AccessGrantsTable, Emulator, install_access_grants

    emulator = Emulator()
    session = emulator.start()
    install_access_grants(session.boto_session, AccessGrantsTable().grant("s3://s3ag-demo/*", "READWRITE"))

    from importlib.metadata import version

    import sagemaker  # noqa: F401  (the import s3ag run waits for)

    import sagemaker_s3ag
    from sagemaker_s3ag.sdk.patch import patch_settings

    print("PATCHED " + json.dumps(sagemaker_s3ag.is_patched()))
    print("SETTINGS " + json.dumps(vars(patch_settings()) if patch_settings() else None))
    if version("sagemaker").startswith("2."):
        from sagemaker.estimator import Estimator

        est = Estimator(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge",
                        sagemaker_session=session, input_mode="Pipe")
        est.fit(f"s3://{BUCKET}/train/", wait=False, logs=False)
        name = est.latest_training_job.name
    else:
        from sagemaker.core.training.configs import InputData
        from sagemaker.train import ModelTrainer

        trainer = ModelTrainer(training_image=IMAGE, role=ROLE, sagemaker_session=session, training_input_mode="Pipe")
        trainer.train(input_data_config=[InputData(channel_name="train", data_source=f"s3://{BUCKET}/train/")],
                      wait=False, logs=False)
        name = trainer._latest_training_job.training_job_name
    client = session.boto_session.client("sagemaker")
    job = client.describe_training_job(TrainingJobName=name)
    print("MODE " + job["AlgorithmSpecification"]["TrainingInputMode"])
    tags = client.list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]
    print("TAGS " + json.dumps({t["Key"]: t["Value"] for t in tags if t["Key"].startswith("s3ag:")}))
    print("ARGV " + json.dumps(sys.argv))
    sys.stdout.flush()
    sys.exit(int(sys.argv[1]))
    """
)

NO_SAGEMAKER = textwrap.dedent(
    """
    import json
    import os
    import subprocess
    import sys

    # A Python subprocess of the program inherits the patch environment too.
    child = subprocess.run(
        [sys.executable, "-c", "import sitecustomize, sys; print(sitecustomize.__file__); print('sagemaker' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )
    print("REPORT " + json.dumps({
        "sagemaker_imported": "sagemaker" in sys.modules,
        "argv": sys.argv,
        "settings": os.environ.get("S3AG_PATCH_SETTINGS"),
        "pythonpath": os.environ.get("PYTHONPATH"),
        "child": child.stdout.splitlines(),
    }))
    sys.exit(int(sys.argv[1]))
    """
)

DEFAULT_SETTINGS = {
    "identity_propagation": None,
    "on_violation": "fix",
    "on_fallback": "warn",
    "pipe_mode_replacement": "File",
    "preflight_timeout": 5.0,
    "script_locations": "warn",
    "background_session_duration": 604800.0,
}


def clean_environment() -> dict[str, str]:
    """The environment of the program: no TIP variables, no Studio, no patch settings, our venv's python first."""
    env = dict(os.environ)
    for name in (*ENV_VARS, "PYTHONPATH", SETTINGS_ENV):
        env.pop(name, None)
    env[METADATA_FILE_ENV] = "/nonexistent/s3ag-no-studio-metadata.json"
    env["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"
    env["PATH"] = os.pathsep.join([VENV_BIN, env.get("PATH", "")])
    return env


@pytest.fixture
def child_env() -> dict[str, str]:
    return clean_environment()


@pytest.fixture
def no_sagemaker(tmp_path) -> Path:
    path = tmp_path / "no_sagemaker.py"
    path.write_text(NO_SAGEMAKER)
    return path


def execute(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def lines(stdout: str, prefix: str) -> list[str]:
    return [line[len(prefix) + 1 :] for line in stdout.splitlines() if line.startswith(prefix + " ")]


def value(stdout: str, prefix: str):
    (found,) = lines(stdout, prefix)
    return json.loads(found) if prefix != "MODE" else found


def s3ag_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "GrantAwareWarning" in line]


# --------------------------------------------------------------------------- the SageMaker program

PROGRAM_ARGS = ["7", "--flag", "x", "--", "two words", "--on-violation", "error"]
USER_SITE_MARKER = "USER-SITECUSTOMIZE-RAN"


@pytest.fixture(scope="module")
def pipeline_runs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """The three runs of the SageMaker program, started at once (each child imports sagemaker: seconds)."""
    work = tmp_path_factory.mktemp("pipeline")
    (work / "my_pipeline.py").write_text(PIPELINE)
    site = work / "site"
    site.mkdir()
    # An environment that already has a sitecustomize; ``s3ag`` itself runs under that PYTHONPATH too,
    # so the marker names the process it ran in.
    (site / "sitecustomize.py").write_text(
        f"import os, sys\nprint('{USER_SITE_MARKER}', os.path.basename(sys.argv[0]), flush=True)\n"
    )
    with_site = {**clean_environment(), "PYTHONPATH": str(site)}
    commands = {
        "patched": ([*S3AG, "run", "--identity-propagation", "on", "--", "python", "my_pipeline.py", *PROGRAM_ARGS], with_site),
        "stock": ([sys.executable, "my_pipeline.py", "0"], clean_environment()),
        "error": (
            [*S3AG, "run", "--identity-propagation", "on", "--on-violation", "error", "--", "python", "my_pipeline.py", "0"],
            clean_environment(),
        ),
    }
    started = {
        name: subprocess.Popen(argv, env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, (argv, env) in commands.items()
    }
    results = {}
    for name, process in started.items():
        try:
            stdout, stderr = process.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        results[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return results


def test_run_patches_an_unchanged_script_and_passes_arguments_and_exit_code(pipeline_runs):
    result = pipeline_runs["patched"]
    assert result.returncode == 7, result.stderr
    assert value(result.stdout, "PATCHED") is True
    assert value(result.stdout, "SETTINGS") == {**DEFAULT_SETTINGS, "identity_propagation": True}
    assert value(result.stdout, "MODE") == "File"
    tags = value(result.stdout, "TAGS")
    assert sorted(tags) == [
        "s3ag:adjustments",
        "s3ag:credentials",
        "s3ag:identity-propagation",
        "s3ag:launched-by",
        "s3ag:version",
    ]
    assert tags["s3ag:adjustments"] == ADJUSTED
    assert tags["s3ag:credentials"] == "access-grants"
    assert tags["s3ag:identity-propagation"] == "enabled"
    assert tags["s3ag:launched-by"] == "user"
    # verbatim, the program's own "--" and s3ag-looking options included
    assert value(result.stdout, "ARGV") == ["my_pipeline.py", *PROGRAM_ARGS]
    (warning,) = s3ag_warnings(result.stderr)
    assert "[s3ag:pipe-mode] AlgorithmSpecification.TrainingInputMode:" in warning
    assert warning.split(":")[0].endswith("my_pipeline.py")  # points at the user's fit()/train() line


def test_an_existing_sitecustomize_still_runs_in_the_patched_program(pipeline_runs):
    result = pipeline_runs["patched"]
    # Once in ``s3ag`` itself (python -m: argv[0] is "-m" at that point) and once in the program.
    markers = [line for line in result.stdout.splitlines() if line.startswith(USER_SITE_MARKER)]
    assert markers == [f"{USER_SITE_MARKER} -m", f"{USER_SITE_MARKER} my_pipeline.py"]
    assert value(result.stdout, "MODE") == "File"  # and the patch is still applied


def test_without_s3ag_run_the_script_is_stock(pipeline_runs):
    result = pipeline_runs["stock"]
    assert result.returncode == 0, result.stderr
    assert value(result.stdout, "PATCHED") is False
    assert value(result.stdout, "SETTINGS") is None
    assert value(result.stdout, "MODE") == "Pipe"
    assert value(result.stdout, "TAGS") == {}
    assert value(result.stdout, "ARGV") == ["my_pipeline.py", "0"]
    assert s3ag_warnings(result.stderr) == []


def test_on_violation_error_makes_the_script_fail_before_the_job(pipeline_runs):
    result = pipeline_runs["error"]
    assert result.returncode == 1
    assert value(result.stdout, "SETTINGS") == {**DEFAULT_SETTINGS, "identity_propagation": True, "on_violation": "error"}
    assert lines(result.stdout, "MODE") == []  # fit() raised: no job
    assert lines(result.stdout, "ARGV") == []
    # The program's own uncaught exception. sagemaker v2 installs a rich traceback hook, which prints
    # the traceback boxed and wrapped to the console width (on stdout, in this SDK version).
    output = result.stdout + result.stderr
    assert "Traceback (most recent call last)" in output
    assert "ConsiderationError: this job cannot read S3 through S3 Access Grants" in output
    assert "[s3ag:pipe-mode] AlgorithmSpecification.TrainingInputMode" in output
    assert "(refused: on_violation='error')" in " ".join(output.split())
    assert s3ag_warnings(result.stderr) == []


# --------------------------------------------------------------------------- programs that never import sagemaker


def test_a_program_that_never_imports_sagemaker_does_not_import_it(no_sagemaker, child_env, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\nif sys.argv[:1] != ['-m']:  # not in s3ag itself\n    print('USER-SITE')\n"
    )
    child_env["PYTHONPATH"] = str(site)
    result = execute([*S3AG, "run", "--", "python", no_sagemaker.name, "3", "a b"], child_env, tmp_path)
    assert result.returncode == 3, result.stderr
    report = value(result.stdout, "REPORT")
    assert result.stdout.splitlines()[0] == "USER-SITE"  # the environment's sitecustomize ran in the program
    assert report["sagemaker_imported"] is False
    assert report["argv"] == [no_sagemaker.name, "3", "a b"]
    assert json.loads(report["settings"]) == DEFAULT_SETTINGS
    assert report["pythonpath"] == os.pathsep.join([BOOTSTRAP_DIR, str(site)])
    # the program's Python subprocess: the user's sitecustomize ran, then reported from the bootstrap one
    assert report["child"] == ["USER-SITE", os.path.join(BOOTSTRAP_DIR, "sitecustomize.py"), "False"]
    assert result.stderr == ""


def test_every_setting_reaches_the_program(no_sagemaker, child_env, tmp_path):
    result = execute(
        [
            *S3AG,
            "run",
            "--identity-propagation",
            "off",
            "--on-violation",
            "error",
            "--on-fallback",
            "deny",
            "--pipe-mode-replacement",
            "FastFile",
            "--preflight-timeout",
            "2.5",
            "--script-locations",
            "deny",
            "--background-session-days",
            "1.5",
            "--",
            "python",
            no_sagemaker.name,
            "0",
        ],
        child_env,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(value(result.stdout, "REPORT")["settings"]) == {
        "identity_propagation": False,
        "on_violation": "error",
        "on_fallback": "deny",
        "pipe_mode_replacement": "FastFile",
        "preflight_timeout": 2.5,
        "script_locations": "deny",
        "background_session_duration": 129600.0,
    }


def test_the_installed_console_script_runs_too(no_sagemaker, child_env, tmp_path):
    console = os.path.join(VENV_BIN, "s3ag")
    assert os.access(console, os.X_OK)
    result = execute(
        [console, "run", "--identity-propagation", "on", "--", "python", no_sagemaker.name, "0"], child_env, tmp_path
    )
    assert result.returncode == 0, result.stderr
    report = value(result.stdout, "REPORT")
    assert json.loads(report["settings"]) == {**DEFAULT_SETTINGS, "identity_propagation": True}
    assert report["argv"] == [no_sagemaker.name, "0"]


def test_an_interpreter_without_sagemaker_s3ag_still_runs_the_existing_sitecustomize(child_env, tmp_path):
    """A Python without sagemaker-s3ag says so on stderr and still runs the environment's own sitecustomize."""
    base = getattr(sys, "_base_executable", None)
    if not base or base == sys.executable:
        pytest.skip("no interpreter without sagemaker-s3ag")
    probe = subprocess.run(  # not from the checkout, whose top level holds the package itself
        [base, "-c", "import sagemaker_s3ag"], capture_output=True, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path
    )
    if probe.returncode == 0:
        pytest.skip("the base interpreter has sagemaker-s3ag")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\nif sys.argv[:1] != ['-m']:  # not in s3ag itself\n    print('USER-SITE')\n"
    )
    script = tmp_path / "plain.py"
    script.write_text("print('PLAIN-RAN')\n")
    child_env["PYTHONPATH"] = str(site)
    result = execute([*S3AG, "run", "--", base, script.name], child_env, tmp_path)
    assert result.returncode == 0
    assert result.stdout.splitlines() == ["USER-SITE", "PLAIN-RAN"]
    assert "Error in sitecustomize" not in result.stderr


# --------------------------------------------------------------------------- the command line itself


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "s3ag: error: nothing to run: give a command after --, e.g. s3ag run -- python train.py\n"),
        (["--"], "s3ag: error: nothing to run: give a command after --, e.g. s3ag run -- python train.py\n"),
        (["--on-violation", "error"], "s3ag: error: nothing to run: give a command after --, e.g. s3ag run -- python train.py\n"),
        (["--", "s3ag-no-such-command", "x"], "s3ag: error: 's3ag-no-such-command': command not found\n"),
        (
            ["--preflight-timeout", "0", "--", "python", "-c", "pass"],
            "s3ag run: error: argument --preflight-timeout: '0' is not a number of seconds above 0 and at most 600\n",
        ),
        (
            ["--preflight-timeout", "nan", "--", "python", "-c", "pass"],
            "s3ag run: error: argument --preflight-timeout: 'nan' is not a number of seconds above 0 and at most 600\n",
        ),
    ],
    ids=["no-command", "only-dashes", "settings-only", "missing-command", "bad-setting", "nan-setting"],
)
def test_run_without_a_usable_command_exits_2_with_one_line(child_env, tmp_path, argv, message):
    result = execute([*S3AG, "run", *argv], child_env, tmp_path)
    assert result.returncode == 2
    assert result.stderr == message
    assert result.stdout == ""


def test_run_rejects_an_unknown_choice_like_argparse(child_env, tmp_path):
    result = execute([*S3AG, "run", "--on-violation", "nope", "--", "python", "-c", "pass"], child_env, tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "s3ag run: error: argument --on-violation: invalid choice: 'nope' (choose from 'fix', 'error')"
    )


def test_run_help_shows_the_double_dash(child_env, tmp_path):
    result = execute([*S3AG, "run", "--help"], child_env, tmp_path)
    assert result.returncode == 0
    assert "-- COMMAND [ARGS ...]" in result.stdout
    assert "example: s3ag run --on-fallback deny -- python build_pipeline.py --upsert" in result.stdout
    for option in ("--identity-propagation", "--on-violation", "--on-fallback", "--pipe-mode-replacement", "--preflight-timeout"):
        assert option in result.stdout


SAGEMAKER_PIPELINE = textwrap.dedent(
    """
    import json

    from sagemaker_s3ag.testing import BUCKET, IMAGE, ROLE, AccessGrantsTable, Emulator, install_access_grants

    emulator = Emulator()
    session = emulator.start()
    install_access_grants(
        session.boto_session, AccessGrantsTable().grant("s3://s3ag-demo/*", "READWRITE", grantee_type="IAM")
    )

    # An existing pipeline, unchanged: stock classes only.
    from importlib.metadata import version

    if version("sagemaker").startswith("2."):
        from sagemaker.estimator import Estimator
        from sagemaker.workflow.pipeline import Pipeline
        from sagemaker.workflow.pipeline_context import PipelineSession
        from sagemaker.workflow.steps import TrainingStep

        pipeline_session = PipelineSession(
            boto_session=session.boto_session, sagemaker_client=session.sagemaker_client, default_bucket=BUCKET
        )
        est = Estimator(image_uri=IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.xlarge",
                        sagemaker_session=pipeline_session, input_mode="Pipe", output_path=f"s3://{BUCKET}/out/")
        step_args = est.fit({"train": f"s3://{BUCKET}/train/"})
    else:
        import os

        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # sagemaker.mlops needs one to import
        from sagemaker.core.training.configs import InputData
        from sagemaker.core.workflow.pipeline_context import PipelineSession
        from sagemaker.mlops.workflow.pipeline import Pipeline
        from sagemaker.mlops.workflow.steps import TrainingStep
        from sagemaker.train import ModelTrainer

        pipeline_session = PipelineSession(boto_session=session.boto_session, default_bucket=BUCKET)
        trainer = ModelTrainer(training_image=IMAGE, role=ROLE, sagemaker_session=pipeline_session,
                               training_input_mode="Pipe")
        step_args = trainer.train(input_data_config=[InputData(channel_name="train", data_source=f"s3://{BUCKET}/train/")])
    step = TrainingStep(name="Train", step_args=step_args)
    pipeline = Pipeline(name="existing", steps=[step], sagemaker_session=pipeline_session)
    print("DEFINITION " + json.dumps(json.loads(pipeline.definition())["Steps"][0]["Arguments"]))
    """
)


def test_an_existing_pipeline_unchanged_gets_compliant_step_arguments(child_env, tmp_path):
    script = tmp_path / "pipeline.py"
    script.write_text(SAGEMAKER_PIPELINE)
    patched = execute([*S3AG, "run", "--identity-propagation", "on", "--", sys.executable, str(script)], child_env, tmp_path)
    assert patched.returncode == 0, patched.stderr
    arguments = value(patched.stdout, "DEFINITION")
    assert arguments["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert "DebugHookConfig" not in arguments
    if SDK_MAJOR == 2:
        assert arguments["ProfilerConfig"] == {"DisableProfiler": True}
    else:
        assert "ProfilerConfig" not in arguments
    assert {t["Key"]: t["Value"] for t in arguments["Tags"] if t["Key"].startswith("s3ag:")} == {
        "s3ag:credentials": "access-grants",  # the grant is to the IAM role: pipeline executions can use it
        "s3ag:identity-propagation": "enabled",
        "s3ag:adjustments": ADJUSTED,
        "s3ag:launched-by": "pipeline",
        "s3ag:version": __import__("sagemaker_s3ag").__version__,
    }
    stock = execute([sys.executable, str(script)], child_env, tmp_path)
    assert stock.returncode == 0, stock.stderr
    unchanged = value(stock.stdout, "DEFINITION")
    assert unchanged["AlgorithmSpecification"]["TrainingInputMode"] == "Pipe"
    assert not [t for t in unchanged.get("Tags", []) if t["Key"].startswith("s3ag:")]


RAW_BOTO3 = textwrap.dedent(
    """
    import json
    import os
    import sys

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", HTTPS_PROXY="http://127.0.0.1:9")
    import boto3
    from moto import mock_aws

    from sagemaker_s3ag.testing import AccessGrantsTable, install_access_grants

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        install_access_grants(session, AccessGrantsTable().grant("s3://s3ag-demo/*", "READWRITE"))
        client = session.client("sagemaker")
        sent = []
        client.meta.events.register("before-parameter-build.sagemaker.CreateTrainingJob", lambda params, **_: sent.append(params))
        client.create_training_job(
            TrainingJobName="raw-boto3", RoleArn="arn:aws:iam::123456789012:role/r",
            AlgorithmSpecification={"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/i:1", "TrainingInputMode": "Pipe"},
            InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://s3ag-demo/train/"}}}],
            OutputDataConfig={"S3OutputPath": "s3://s3ag-demo/out/"},
            ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            StoppingCondition={"MaxRuntimeInSeconds": 3600},
        )
    print("SAGEMAKER " + json.dumps("sagemaker" in sys.modules))
    print("MODE " + sent[-1]["AlgorithmSpecification"]["TrainingInputMode"])
    print("TAGS " + json.dumps({t["Key"]: t["Value"] for t in sent[-1].get("Tags", ())}))
    """
)


def test_run_governs_a_program_of_raw_boto3_calls_that_never_imports_sagemaker(child_env, tmp_path):
    (tmp_path / "raw.py").write_text(RAW_BOTO3)
    result = execute([*S3AG, "run", "--identity-propagation", "on", "--", "python", "raw.py"], child_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert value(result.stdout, "SAGEMAKER") is False
    assert value(result.stdout, "MODE") == "File"
    tags = value(result.stdout, "TAGS")
    assert (tags["s3ag:adjustments"], tags["s3ag:credentials"]) == ("pipe-mode", "access-grants")
    stock = execute([sys.executable, "raw.py"], child_env, tmp_path)  # the control: unchanged without s3ag run
    assert value(stock.stdout, "MODE") == "Pipe" and value(stock.stdout, "TAGS") == {}
