"""``s3ag guard``: the account-wide guard, from a shell.

s3ag guard template             the CloudFormation template (YAML) that deploys it
s3ag guard package [ZIP]        the Lambda deployment zip the template points at
s3ag guard events               the CloudTrail trail it needs, and what it sees
s3ag guard replay EVENTS.json   what it would have done with saved events (no AWS call)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from sagemaker_s3ag.guard.actions import GuardConfig
from sagemaker_s3ag.guard.deploy import RUNTIME, TRAIL, build_package, runtime_matches, template_text
from sagemaker_s3ag.guard.events import read_events
from sagemaker_s3ag.guard.handler import guard


def _template(args: argparse.Namespace, out: TextIO) -> int:
    out.write(template_text())
    return 0


def _events(args: argparse.Namespace, out: TextIO) -> int:
    out.write(TRAIL)
    return 0


def _package(args: argparse.Namespace, out: TextIO) -> int:
    names = build_package(args.zip)
    size = Path(args.zip).stat().st_size
    out.write(f"wrote {args.zip}: {len(names)} files, {size / 1024:.0f} KiB (handler sagemaker_s3ag.guard.handler.handler)\n")
    if not runtime_matches():
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        out.write(
            f"note: this is Python {version} and the template's runtime is {RUNTIME}: the bytecode in the zip will "
            f"not be used and each cold start compiles the modules; run this command with {RUNTIME} to include it\n"
        )
    return 0


def _replay(args: argparse.Namespace, out: TextIO) -> int:
    data = sys.stdin.buffer.read() if args.events == "-" else Path(args.events).read_bytes()
    config = GuardConfig(
        identity_propagation=args.identity_propagation,
        tag=not args.no_tag,
        stop=args.stop,
        notify=args.notify,
        topic_arn="the guard's topic",
        security_hub=args.security_hub,
    )
    logging.getLogger("sagemaker_s3ag.guard").setLevel(logging.ERROR)  # the report below is the output
    seen: set[str] = set()
    summaries: list[dict[str, Any]] = []
    for event in read_events(data):
        summary = guard(event, config)  # no clients: nothing is called, each action says "would"
        event_id = summary.get("eventId") or ""
        if event_id and event_id in seen and summary["outcome"] not in ("malformed", "ignored"):
            summary = {**summary, "outcome": "duplicate", "actions": [], "notes": ["delivered again: handled before"]}
        seen.add(event_id)
        summaries.append(summary)
    if args.json:
        out.write(json.dumps(summaries, indent=2) + "\n")
        return 0
    for summary in summaries:
        what = f"{summary.get('operation', '?')} {summary.get('name') or summary.get('eventId') or '(no id)'}"
        out.write(f"{summary.get('tag') or summary['outcome']:<28} {what}\n")
        for line in (*summary.get("findings", []), *summary.get("notes", [])):
            out.write(f"    {line}\n")
        for action in summary.get("actions", []):
            out.write(f"    -> {action}\n")
    counts = Counter(s["outcome"] for s in summaries)
    out.write(f"\n{len(summaries)} events: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + "\n")
    return 0


def add_guard_parser(commands: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """``s3ag guard ...`` on the ``s3ag`` parser."""
    guard_parser = commands.add_parser(
        "guard",
        help="the account-wide guard: the same rules on every SageMaker job, on EventBridge and Lambda",
        description="Deploys and tries the guard: a Lambda function on an EventBridge rule that judges every "
        "CreateTrainingJob, CreateProcessingJob, CreateHyperParameterTuningJob, CreatePipeline, UpdatePipeline and UpdateTrainingJob "
        "CloudTrail records in the account, with the same rules, and tags, reports or stops what breaks them.",
        epilog="example:\n  s3ag guard package guard.zip && aws s3 cp guard.zip s3://BUCKET/sagemaker-s3ag-guard.zip\n"
        "  s3ag guard template > guard.yaml\n"
        "  aws cloudformation deploy --template-file guard.yaml --stack-name s3ag-guard "
        "--capabilities CAPABILITY_IAM --parameter-overrides CodeBucket=BUCKET",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = guard_parser.add_subparsers(dest="guard_command", metavar="ACTION", required=True, parser_class=parser_class)
    template = actions.add_parser("template", help="print the CloudFormation template (YAML)")
    template.set_defaults(handler=_template)
    events = actions.add_parser("events", help="explain the CloudTrail trail the guard needs, and what it sees")
    events.set_defaults(handler=_events)
    package = actions.add_parser("package", help="write the Lambda deployment zip (default sagemaker-s3ag-guard.zip)")
    package.add_argument("zip", nargs="?", default="sagemaker-s3ag-guard.zip")
    package.set_defaults(handler=_package)
    replay = actions.add_parser(
        "replay",
        help="show what the guard would do with saved events (no AWS call)",
        description="Reads EventBridge events (a JSON list, one event, or JSON lines), a CloudTrail log file "
        '({"Records": [...]}) or a LookupEvents export ({"Events": [...]}), and prints each verdict and the '
        "actions the guard would take with these settings. Nothing is called.",
        epilog="example: aws cloudtrail lookup-events --lookup-attributes AttributeKey=EventName,"
        "AttributeValue=CreateTrainingJob > events.json && s3ag guard replay events.json",
    )
    replay.add_argument("events", help="the file of saved events, or - for standard input")
    replay.add_argument("--identity-propagation", choices=("auto", "on"), default="auto", help="default: auto")
    replay.add_argument("--stop", choices=("off", "violation", "not-ok"), default="off", help="default: off")
    replay.add_argument("--notify", choices=("off", "violation", "not-ok", "all"), default="not-ok", help="default: not-ok")
    replay.add_argument("--no-tag", action="store_true", help="as with TagJobs=false")
    replay.add_argument("--security-hub", action="store_true", help="as with SecurityHub=true")
    replay.add_argument("--json", action="store_true", help="machine-readable output")
    replay.set_defaults(handler=_replay)
