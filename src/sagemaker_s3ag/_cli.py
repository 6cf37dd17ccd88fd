"""The ``s3ag`` command.

    s3ag demo                     grant-aware jobs with TIP on, against the embedded emulator (no AWS account)
    s3ag rules [--markdown]       the S3 Access Grants rules this package enforces
    s3ag policy --region R --account A --grants-role ROLE
                                  the execution-role policy AWS documents, as JSON for IAM
    s3ag describe JOB [--json]    a job's s3ag: record, read back from its tags
    s3ag run [SETTINGS] -- COMMAND [ARGS ...]
                                  run a program with every SDK v2 class patched
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Optional, TextIO

from ._rules import RULES
from ._version import __version__


def rules_markdown() -> str:
    """The rules table of the README, generated from the rule registry."""
    lines = ["| id | applies to | rule | what `on_violation=\"fix\"` does |", "|---|---|---|---|"]
    for rule in RULES:
        jobs = ", ".join(sorted(rule.job_types))
        lines.append(f"| `{rule.id}` | {jobs} | {rule.summary} {rule.why} | {rule.fix} |")
    return "\n".join(lines) + "\n"


def _rules(args: argparse.Namespace, out: TextIO) -> int:
    if args.markdown:
        out.write(rules_markdown())
        return 0
    for rule in RULES:
        out.write(f"{rule.id:<19} {rule.title} ({', '.join(sorted(rule.job_types))})\n")
        out.write(f"{'':<19} {rule.summary}\n{'':<19} fix: {rule.fix}\n\n")
    out.write(f"Source: {RULES[0].doc_url}\n")
    return 0


def _policy(args: argparse.Namespace, out: TextIO) -> int:
    from ._policy import execution_role_policy

    out.write(json.dumps(execution_role_policy(args.region, args.account, args.grants_role), indent=2) + "\n")
    return 0


def _describe(args: argparse.Namespace, out: TextIO) -> int:
    from ._describe import describe_job

    record = describe_job(args.job, locations=args.locations)
    if args.json:
        data = {
            "job_name": record.job_name,
            "job_type": record.job_type,
            "arn": record.arn,
            "status": record.status,
            "record": dict(record.record),
            "locations": [vars(location) for location in record.locations],
        }
        out.write(json.dumps(data, indent=2) + "\n")
    else:
        out.write(f"{record}\n")
    return 0


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from ._run import run

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    settings = {
        "identity_propagation": {"auto": None, "on": True, "off": False}[args.identity_propagation],
        "on_violation": args.on_violation,
        "on_fallback": args.on_fallback,
        "pipe_mode_replacement": args.pipe_mode_replacement,
        "preflight_timeout": args.preflight_timeout,
    }
    run(command, settings)  # does not return


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    from ._demo import run_demo

    return run_demo(out, region=args.region)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``s3ag``."""
    parser = argparse.ArgumentParser(
        prog="s3ag",
        description="SageMaker training and processing jobs that read S3 through S3 Access Grants "
        "under trusted identity propagation.",
    )
    parser.add_argument("--version", action="version", version=f"sagemaker-s3ag {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="launch grant-aware jobs with TIP on against the embedded emulator (no AWS account needed)",
        description="Runs a GrantAwareEstimator.fit() and GrantAwareProcessor.run() with trusted identity "
        "propagation on, against an in-process AWS emulator (moto), and prints what was fixed and recorded.",
    )
    demo.add_argument("--region", default="us-east-1", help="emulated Region (default: us-east-1)")
    demo.set_defaults(handler=_demo)

    run = commands.add_parser(
        "run",
        help="run a program (a script, a pipeline, jupyter nbconvert ...) with every SDK v2 class patched",
        description="Runs COMMAND with sagemaker_s3ag.patch() applied to every Python process it starts "
        "(through a sitecustomize module on PYTHONPATH), so an existing script or pipeline gets the S3 Access "
        "Grants rules, preflight and records without a code change. Arguments and exit code pass through.",
        epilog="example: s3ag run --on-fallback deny -- python build_pipeline.py --upsert",
    )
    run.add_argument("--identity-propagation", choices=("auto", "on", "off"), default="auto",
                     help="whether the Studio domain has TIP on (default: detect)")
    run.add_argument("--on-violation", choices=("fix", "error"), default="fix", help="default: fix")
    run.add_argument("--on-fallback", choices=("allow", "warn", "deny"), default="warn", help="default: warn")
    run.add_argument("--pipe-mode-replacement", choices=("File", "FastFile"), default="File", help="default: File")
    run.add_argument("--preflight-timeout", type=float, default=5.0, help="seconds (default: 5)")
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS ...]")
    run.set_defaults(handler=_run)

    rules = commands.add_parser("rules", help="list the S3 Access Grants rules", description="Lists the rules.")
    rules.add_argument("--markdown", action="store_true", help="print the README's rules table")
    rules.set_defaults(handler=_rules)

    policy = commands.add_parser(
        "policy",
        help="print the execution-role policy for S3 Access Grants with TIP",
        description="Prints the IAM policy AWS documents for a SageMaker execution role that reads S3 "
        "through S3 Access Grants with trusted identity propagation. Paste it into IAM.",
        epilog="example: s3ag policy --region us-east-1 --account 111122223333 --grants-role S3AccessGrantsRole",
    )
    policy.add_argument("--region", required=True, help="Region of the Access Grants instance, e.g. us-east-1")
    policy.add_argument("--account", required=True, help="12-digit account id of the Access Grants instance")
    policy.add_argument("--grants-role", required=True, help="the Access Grants location role, name or ARN")
    policy.set_defaults(handler=_policy)

    describe = commands.add_parser(
        "describe",
        help="show a job's s3ag: record",
        description="Reads the s3ag: record of a training or processing job from its tags, with the "
        "default AWS credentials and Region.",
    )
    describe.add_argument("job", help="training or processing job name")
    describe.add_argument("--json", action="store_true", help="machine-readable output")
    describe.add_argument(
        "--locations",
        action="store_true",
        help="also resolve the job's S3 locations against S3 Access Grants now, with your credentials",
    )
    describe.set_defaults(handler=_describe)
    return parser


def main(argv: Optional[Sequence[str]] = None, out: Optional[TextIO] = None) -> int:
    """Entry point of the ``s3ag`` console script."""
    args = build_parser().parse_args(argv)
    stream = out or sys.stdout
    try:
        return int(args.handler(args, stream))
    except Exception as err:  # a CLI answers with a sentence, not a traceback
        from botocore.exceptions import BotoCoreError, ClientError

        from ._errors import SageMakerS3agError

        if isinstance(err, (SageMakerS3agError, ValueError, ClientError, BotoCoreError)):
            sys.stderr.write(f"s3ag: error: {err}\n")
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
