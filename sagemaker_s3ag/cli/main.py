"""The ``s3ag`` command.

s3ag demo                     grant-aware jobs with TIP on, against the embedded emulator (no AWS account)
s3ag rules [--markdown]       the S3 Access Grants rules this package enforces
s3ag policy [--region R] [--account A] --grants-role ROLE [--trust | --scp | --boundary]
                              the execution-role policy (or the location role's trust policy, or an SCP
                              requiring the s3ag record), JSON for IAM
s3ag doctor [--role ARN] [--prefix s3://...]...
                              is S3 Access Grants wired, and do grants govern? (exit 1 if not)
s3ag describe JOB [--json] [--locations]
                              a job's s3ag: record, read back from its tags
s3ag jobs [--since 7d] [--credentials iam-role] [--verify] [--json | --csv] [--html FILE]
                              recent jobs and how they read S3 (and, verified, what CloudTrail shows)
s3ag verify JOB [--event-data-store EDS] [--json]
                              what a job really used, from CloudTrail, beside the prediction
s3ag run [SETTINGS] -- COMMAND [ARGS ...]
                              run a program with every SageMaker SDK class patched
s3ag guard template|package|events|replay
                              the account-wide guard on EventBridge and Lambda
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import timezone
from typing import Any, NoReturn, Optional, TextIO

from sagemaker_s3ag._version import __version__
from sagemaker_s3ag.cli.demo import run_demo
from sagemaker_s3ag.cli.guard import add_guard_parser
from sagemaker_s3ag.cli.run import run
from sagemaker_s3ag.core.considerations import (
    CONSIDERATIONS,
    DEFAULT_BACKGROUND_SESSION_SECONDS,
    check_background_session_duration,
)
from sagemaker_s3ag.core.decision import CREDENTIALS
from sagemaker_s3ag.core.errors import SageMakerS3agError
from sagemaker_s3ag.core.rules import RULES
from sagemaker_s3ag.core.settings import check_seconds
from sagemaker_s3ag.ops.describe import describe_job
from sagemaker_s3ag.ops.doctor import doctor
from sagemaker_s3ag.ops.jobs import list_jobs, parse_since
from sagemaker_s3ag.ops.policy import access_grants_trust_policy, execution_role_policy, require_record_policy
from sagemaker_s3ag.ops.verify import verify_job
from sagemaker_s3ag.sdk.installed import sdk_class


def rules_markdown() -> str:
    """The rules table of the README, generated from the rule registry."""
    lines = ['| id | applies to | rule | what `on_violation="fix"` does |', "|---|---|---|---|"]
    for rule in RULES:
        jobs = ", ".join(sorted(rule.job_types))
        lines.append(f"| `{rule.id}` | {jobs} | {rule.summary} {rule.why} | {rule.fix} |")
    lines += ["", "Considerations: what a TIP job meets when it runs, recorded and announced with the same ids:", ""]
    lines += ["| id | consideration | what sagemaker-s3ag does | AWS says |", "|---|---|---|---|"]
    for item in CONSIDERATIONS:
        lines.append(f"| `{item.id}` | {item.summary} | {item.does} | [{item.title}]({item.source}) |")
    return "\n".join(lines) + "\n"


def _rules(args: argparse.Namespace, out: TextIO) -> int:
    if args.markdown:
        out.write(rules_markdown())
        return 0
    for rule in RULES:
        out.write(f"{rule.id:<19} {rule.title} ({', '.join(sorted(rule.job_types))})\n")
        out.write(f"{'':<19} {rule.summary}\n{'':<19} fix: {rule.fix}\n\n")
    out.write(f"Source: {RULES[0].doc_url}\n\nConsiderations (recorded and announced):\n\n")
    for item in CONSIDERATIONS:
        out.write(f"{item.id:<19} {item.title}\n{'':<19} {item.summary}\n{'':<19} {item.does}\n{'':<19} {item.source}\n\n")
    return 0


def _boto_session(region: Optional[str]) -> Any:
    """The default credentials chain, in ``region`` (or the configured one)."""
    import boto3
    from botocore.exceptions import NoRegionError

    session = boto3.Session(region_name=region)
    if not session.region_name:
        raise NoRegionError()
    return session


def _sagemaker_session(region: Optional[str]) -> Any:

    return sdk_class("Session")(boto_session=_boto_session(region))


def _policy(args: argparse.Namespace, out: TextIO) -> int:

    region, account = args.region, args.account
    if (region is None or account is None) and not (args.scp or args.boundary):
        session = _boto_session(region)
        region = region or session.region_name
        account = account or session.client("sts").get_caller_identity()["Account"]
    if args.exempt and not (args.scp or args.boundary):
        raise ValueError("--exempt goes with --scp or --boundary")
    if args.scp or args.boundary:
        policy = require_record_policy(boundary=args.boundary, exempt=tuple(args.exempt or ()))
    elif args.trust:
        policy = access_grants_trust_policy(region, account)
    elif not args.grants_role:
        raise ValueError("--grants-role is needed for the execution-role policy (or pass --trust)")
    else:
        policy = execution_role_policy(region, account, args.grants_role)
    out.write(json.dumps(policy, indent=2) + "\n")
    return 0


def _table(rows: list[list[str]], out: TextIO) -> None:
    """A plain text table, columns as wide as their widest cell (the last one runs free)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]
        out.write("  ".join(cells).rstrip() + "\n")


def _doctor(args: argparse.Namespace, out: TextIO) -> int:
    from botocore.exceptions import NoCredentialsError

    session = _boto_session(args.region)
    if session.get_credentials() is None:
        raise NoCredentialsError()
    checks = doctor(
        session,
        role_arn=args.role,
        prefixes=args.prefix or (),
        grants_role=args.grants_role,
        account_id=args.account,
        timeout=args.timeout,
    )
    if args.json:
        out.write(json.dumps([vars(c) for c in checks], indent=2) + "\n")
    else:
        _table([["STATUS", "CHECK", "DETAIL"]] + [[c.status, c.name, c.detail] for c in checks], out)
        blocking = [c for c in checks if c.blocking]
        out.write(
            f"\n{len(blocking)} required check{'s' if len(blocking) != 1 else ''} failed or could not run.\n"
            if blocking
            else "\nEvery required check passed.\n"
        )
    return 1 if any(c.blocking for c in checks) else 0


def _jobs(args: argparse.Namespace, out: TextIO) -> int:

    since = parse_since(args.since)

    def progress(done: int, total: int) -> None:
        if total >= 20 and (done % 20 == 0 or done == total):
            sys.stderr.write(f"\rreading tags: {done}/{total} jobs")
            if done == total:
                sys.stderr.write("\n")

    if (args.event_data_store or args.reverify) and not args.verify:
        raise ValueError("--event-data-store and --reverify go with --verify")
    if args.html:  # said now, not after the listing (and any tagging) is done
        folder = os.path.dirname(os.path.abspath(args.html))
        if os.path.isdir(args.html) or not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise ValueError(f"--html {args.html}: not a file that can be written (is its folder there, and writable?)")

    verify_progress = _Progress()
    records = list_jobs(
        _sagemaker_session(args.region),
        since=since,
        credentials=args.credentials,
        progress=progress,
        verify=args.verify,
        reverify=args.reverify,
        event_data_store=args.event_data_store,
        record_verified=not args.no_record,
        verify_progress=verify_progress,
    )
    verify_progress.done()
    if args.html:
        records.to_html(args.html)
        sys.stderr.write(f"wrote {args.html}\n")
    if args.json:
        out.write(json.dumps([_record_json(r) for r in records], indent=2, default=str) + "\n")
        return 0
    if args.csv:
        out.write(records.to_csv())
        return 0
    rows = [["CREATED", "TYPE", "JOB", "STATUS", "CREDENTIALS", "TIP", "ADJUSTMENTS", "FALLBACK"]]
    if args.verify:
        rows[0] += ["OBSERVED", "VERIFIED"]
    for r in records:
        cells = [
            r.created.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if r.created else "?",
            r.job_type,
            r.job_name,
            r.status or "?",
            r.credentials or "(no record)",
            r.identity_propagation or "-",
            " ".join(r.adjustments) or "-",
            r.fallback or "-",
        ]
        if args.verify:
            verified = r.verification.verdict if r.verification else r.record.get("s3ag:verified", "-")
            cells += [r.verification.observed if r.verification else "-", verified]
        rows.append(cells)
    _table(rows, out)
    relative = args.since.strip()[:-1].strip().isdigit()  # "7d", not a UTC time
    since_text = f"{args.since} ago" if relative else f"{args.since} UTC"
    out.write(f"\n{len(records)} job{'s' if len(records) != 1 else ''} since {since_text}.\n")
    mismatches = [r.job_name for r in records if r.verification and r.verification.verdict == "mismatch"]
    if mismatches:
        out.write(f"MISMATCH (predicted one thing, CloudTrail shows another): {', '.join(mismatches)}\n")
    return 0


def _record_json(record: Any) -> dict[str, Any]:
    data = {
        "job_name": record.job_name,
        "job_type": record.job_type,
        "arn": record.arn,
        "status": record.status,
        "created": record.created.isoformat() if record.created else None,
        "record": dict(record.record),
        "locations": [vars(location) for location in record.locations],
    }
    if record.verification is not None:
        data["verification"] = record.verification.to_dict()
    return data


class _Progress:
    """One line of progress on stderr, rewritten in place, ended before anything else is printed."""

    def __init__(self) -> None:
        self.wrote = False

    def __call__(self, line: str) -> None:
        sys.stderr.write(f"\r{line:<78}")
        self.wrote = True

    def done(self) -> None:
        if self.wrote:
            sys.stderr.write("\n")
            self.wrote = False


def _verify(args: argparse.Namespace, out: TextIO) -> int:
    progress = _Progress()
    try:
        verification = verify_job(
            args.job,
            _sagemaker_session(args.region),
            job_type=args.type,
            event_data_store=args.event_data_store,
            record=not args.no_record,
            progress=progress,
        )
    finally:
        progress.done()
    out.write(json.dumps(verification.to_dict(), indent=2) + "\n" if args.json else f"{verification}\n")
    return 1 if verification.verdict == "mismatch" else 0


def _describe(args: argparse.Namespace, out: TextIO) -> int:

    record = describe_job(args.job, _sagemaker_session(args.region), locations=args.locations)
    out.write(json.dumps(_record_json(record), indent=2) + "\n" if args.json else f"{record}\n")
    return 0


def _run(args: argparse.Namespace, out: TextIO) -> int:

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    settings = {
        "identity_propagation": {"auto": None, "on": True, "off": False}[args.identity_propagation],
        "on_violation": args.on_violation,
        "on_fallback": args.on_fallback,
        "pipe_mode_replacement": args.pipe_mode_replacement,
        "preflight_timeout": args.preflight_timeout,
        "script_locations": args.script_locations,
        "background_session_duration": args.background_session_days,
    }
    run(command, settings)  # does not return


def _demo(args: argparse.Namespace, out: TextIO) -> int:

    return run_demo(out, region=args.region)


class _Parser(argparse.ArgumentParser):
    """``s3ag``'s parser: a bad argument is one line (``s3ag doctor: error: ...``) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _seconds(text: str) -> float:
    """An argparse type: seconds above 0 and at most 600 (``0``, ``-1``, ``nan``, ``inf``, ``1e308`` are not)."""
    try:
        return check_seconds(float(text), "seconds")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0 and at most 600") from None


def _session_days(text: str) -> float:
    """An argparse type: a user background session duration in days (15 minutes to 90 days), as seconds."""
    try:
        return check_background_session_duration(float(text) * 86_400)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days from 0.0105 (15 minutes) to 90") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``s3ag``."""
    parser = _Parser(
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
    demo.epilog = "example: s3ag demo --region eu-west-1"
    demo.add_argument("--region", default="us-east-1", help="emulated Region (default: us-east-1)")
    demo.set_defaults(handler=_demo)

    run = commands.add_parser(
        "run",
        help="run a program (a script, a pipeline, jupyter nbconvert ...) with every SageMaker SDK class patched",
        description="Runs COMMAND with sagemaker_s3ag.patch() applied to every Python process it starts "
        "(through a sitecustomize module on PYTHONPATH), so an existing script or pipeline gets the S3 Access "
        "Grants rules, preflight and records without a code change. Arguments and exit code pass through.",
        epilog="example: s3ag run --on-fallback deny -- python build_pipeline.py --upsert",
    )
    run.add_argument(
        "--identity-propagation",
        choices=("auto", "on", "off"),
        default="auto",
        help="whether the Studio domain has TIP on (default: detect)",
    )
    run.add_argument("--on-violation", choices=("fix", "error"), default="fix", help="default: fix")
    run.add_argument("--on-fallback", choices=("allow", "warn", "deny"), default="warn", help="default: warn")
    run.add_argument("--pipe-mode-replacement", choices=("File", "FastFile"), default="File", help="default: File")
    run.add_argument("--preflight-timeout", type=_seconds, default=5.0, help="seconds (default: 5)")
    run.add_argument("--script-locations", choices=("warn", "deny"), default="warn", help="default: warn")
    run.add_argument(
        "--background-session-days",
        type=_session_days,
        default=float(DEFAULT_BACKGROUND_SESSION_SECONDS),
        help="days your user background sessions last (default: 7)",
    )
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS ...]")
    run.set_defaults(handler=_run)

    rules = commands.add_parser(
        "rules",
        help="list the S3 Access Grants rules",
        description="Lists the rules grant-aware jobs follow with TIP on: id, what it checks, and what "
        "on_violation='fix' does (or when the job is refused). Ids name rules in warnings, errors and tags.",
        epilog="example: s3ag rules --markdown > RULES.md",
    )
    rules.add_argument("--markdown", action="store_true", help="print the README's rules table")
    rules.set_defaults(handler=_rules)

    policy = commands.add_parser(
        "policy",
        help="print the execution-role policy (or, with --trust, the location role's trust policy)",
        description="Prints the IAM policy AWS documents for a SageMaker execution role that reads S3 "
        "through S3 Access Grants with trusted identity propagation, or with --trust the trust policy of the "
        "role S3 Access Grants assumes for your locations. JSON that pastes into IAM. Region and account "
        "default to the current credentials'.",
        epilog="examples:\n  s3ag policy --grants-role S3AccessGrantsLocationRole\n"
        "  s3ag policy --region us-east-1 --account 111122223333 --trust\n"
        "  s3ag policy --scp --exempt arn:aws:iam::111122223333:role/BreakGlass",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    policy.add_argument("--region", help="Region of the Access Grants instance (default: your configured Region)")
    policy.add_argument("--account", help="12-digit account of the instance (default: your credentials' account)")
    policy.add_argument("--grants-role", help="the Access Grants location role, name or ARN")
    which = policy.add_mutually_exclusive_group()
    which.add_argument("--trust", action="store_true", help="print the location role's trust policy instead")
    which.add_argument(
        "--scp",
        action="store_true",
        help="print a service control policy denying CreateTrainingJob, CreateProcessingJob and CreateHyperParameterTuningJob without the "
        "s3ag:identity-propagation tag. A tag can be forged by anyone who may create jobs: this keeps out tools "
        "that never heard of sagemaker-s3ag, and the guard (s3ag guard template) is the check",
    )
    which.add_argument("--boundary", action="store_true", help="the same denial as a permissions boundary")
    policy.add_argument(
        "--exempt", action="append", metavar="PRINCIPAL_ARN", help="with --scp/--boundary: a principal it does not apply to"
    )
    policy.set_defaults(handler=_policy)

    doctor = commands.add_parser(
        "doctor",
        help="check that S3 Access Grants is wired for SageMaker jobs, and that grants govern",
        description="Checks, with your credentials: TIP and where it was read from; the boto3 Access Grants "
        "plugin; the Access Grants instance and its IAM Identity Center association; that the execution role "
        "may call the documented actions (IAM policy simulator); for each --prefix, whether the role could "
        "read or write it directly (then a failed grant silently falls back and grants do not govern), and "
        "your own grant. A check it may not run says 'could not check', never 'ok'. Exits 1 when a required "
        "check fails or could not run.",
        epilog="example: s3ag doctor --role arn:aws:iam::111122223333:role/SageMakerRole --prefix s3://bucket/data/",
    )
    doctor.add_argument("--role", help="the SageMaker execution role ARN (default: the Studio space's)")
    doctor.add_argument("--prefix", action="append", metavar="S3_URI", help="an S3 prefix jobs use (repeatable)")
    doctor.add_argument("--grants-role", help="the Access Grants location role ARN, to check sts:SetContext on it")
    doctor.add_argument("--region", help="Region to check (default: your configured Region)")
    doctor.add_argument("--account", help="account to check (default: your credentials' account)")
    doctor.add_argument("--timeout", type=_seconds, default=5.0, help="seconds for the grant look-ups (default: 5)")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.set_defaults(handler=_doctor)

    describe = commands.add_parser(
        "describe",
        help="show a job's s3ag: record",
        description="Reads the s3ag: record of a training or processing job from its tags, with your credentials and Region.",
        epilog="example: s3ag describe my-job-2026-11-30-10-00-00-000 --locations",
    )
    describe.add_argument("job", help="training or processing job name")
    describe.add_argument("--region", help="Region of the job (default: your configured Region)")
    describe.add_argument("--json", action="store_true", help="machine-readable output")
    describe.add_argument(
        "--locations",
        action="store_true",
        help="also resolve the job's S3 locations against S3 Access Grants now, with your credentials",
    )
    describe.set_defaults(handler=_describe)

    jobs = commands.add_parser(
        "jobs",
        help="list recent jobs and how they read S3",
        description="Lists the training and processing jobs created recently with their s3ag: records "
        "(credentials, TIP, adjustments, fallback), newest first, so you can see which jobs fell back to "
        "the IAM role. Jobs not launched grant-aware show '(no record)'.",
        epilog="example: s3ag jobs --since 7d --credentials iam-role",
    )
    jobs.add_argument(
        "--since", default="7d", help="how far back: 30m, 12h, 7d, 2w, or a UTC time such as 2026-12-01T08:00 (default: 7d)"
    )
    jobs.add_argument(
        "--credentials",
        choices=CREDENTIALS,
        help="only jobs recorded with these credentials",
    )
    jobs.add_argument("--region", help="Region (default: your configured Region)")
    jobs.add_argument("--verify", action="store_true", help="also verify each job against CloudTrail (one pass for all)")
    jobs.add_argument("--reverify", action="store_true", help="with --verify: verify again jobs already recorded match/mismatch")
    jobs.add_argument(
        "--event-data-store", metavar="EDS", help="with --verify: a CloudTrail Lake event data store with S3 data events"
    )
    jobs.add_argument("--no-record", action="store_true", help="with --verify: do not write s3ag:verified on the jobs")
    jobs.add_argument("--html", metavar="FILE", help="also write the report (table and chart) as one self-contained HTML file")
    output = jobs.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="machine-readable output")
    output.add_argument("--csv", action="store_true", help="CSV output")
    jobs.set_defaults(handler=_jobs)

    verify = commands.add_parser(
        "verify",
        help="what a job really used, from CloudTrail, beside what was predicted (exit 1 on a mismatch)",
        description="Reads the job's description and CloudTrail: the GetDataAccess calls SageMaker made for it "
        "(one LookupEvents pass over the job's window; sagemaker-s3ag's own preflight calls never count) and, with "
        "--event-data-store, the S3 data events of its reads and writes. Prints per S3 location the evidence "
        "(granted, denied or no-evidence, with event ids and times) beside the predicted s3ag:credentials, and records "
        "s3ag:verified (match, mismatch or no-evidence) on the job.",
        epilog="example: s3ag verify my-job-2026-11-30-10-00-00-000 --json",
    )
    verify.add_argument("job", help="training or processing job name")
    verify.add_argument("--type", choices=("training", "processing"), help="when a training and a processing job share the name")
    verify.add_argument("--region", help="Region of the job (default: your configured Region)")
    verify.add_argument("--event-data-store", metavar="EDS", help="a CloudTrail Lake event data store with S3 data events")
    verify.add_argument("--no-record", action="store_true", help="do not write s3ag:verified on the job")
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    verify.set_defaults(handler=_verify)

    add_guard_parser(commands, _Parser)
    return parser


def _quiet_sdk() -> None:
    """A command's output is its own: no SDK v2 deprecation banner, config or telemetry chatter."""
    import logging
    import os

    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    logging.getLogger("sagemaker").setLevel(logging.WARNING)
    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)
    logging.getLogger("sagemaker.telemetry").setLevel(logging.CRITICAL)


def main(argv: Optional[Sequence[str]] = None, out: Optional[TextIO] = None) -> int:
    """Entry point of the ``s3ag`` console script."""
    args = build_parser().parse_args(argv)
    stream = out or sys.stdout
    if args.handler is not _run:  # `s3ag run` hands its environment to the program unchanged
        _quiet_sdk()
    try:
        return int(args.handler(args, stream))
    except Exception as err:  # a CLI answers with a sentence, not a traceback
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

        if isinstance(err, NoRegionError):
            sys.stderr.write("s3ag: error: no AWS Region: pass --region or set AWS_DEFAULT_REGION\n")
        elif isinstance(err, NoCredentialsError):
            sys.stderr.write("s3ag: error: no AWS credentials: configure them (aws configure, AWS_PROFILE, ...)\n")
        elif isinstance(err, (SageMakerS3agError, ValueError, OSError, ClientError, BotoCoreError)):
            sys.stderr.write(f"s3ag: error: {err}\n")  # OSError: a file that is not there, a directory, not executable
        else:
            raise
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
