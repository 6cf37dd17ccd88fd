"""Benchmark: the guard's Lambda cold start and per-event work, side by side, in one run.

    python benchmarks/guard.py [--runs 15] [--events 2000]

* cold import, each in fresh interpreters taking turns (median of ``--runs``), none able to write
  bytecode (a Lambda function's code folder is read-only): an empty Python (the floor), ``import
  boto3`` (what every Python Lambda function that calls AWS pays), the guard's handler from the
  package ``s3ag guard package`` builds, with and without its bytecode (before its first event: no
  boto3 yet), and handler plus boto3 (a cold start's whole import);
* per event, in this process: reading a CloudTrail event back into a request, and the verdict
  (the core rules in check mode), for a 64-channel training job and a 10-step pipeline.

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Callable

from sagemaker_s3ag.guard.deploy import build_package
from sagemaker_s3ag.guard.events import read_event
from sagemaker_s3ag.guard.verdict import judge
from sagemaker_s3ag.testing.cloudtrail import cloudtrail_record


def packages(scratch: Path) -> dict[str, Path]:
    """The Lambda package extracted twice: as built (with bytecode) and with its bytecode removed."""
    archive = scratch / "guard.zip"
    build_package(archive)
    folders = {"bytecode": scratch / "bytecode", "source only": scratch / "source"}
    for label, folder in folders.items():
        with zipfile.ZipFile(archive) as opened:
            opened.extractall(folder, [n for n in opened.namelist() if label == "bytecode" or "__pycache__" not in n])
    return folders


def cold_imports(runs: int, folders: dict[str, Path]) -> dict[str, float]:
    """Median wall time (ms) of each import in a fresh interpreter that cannot write bytecode (as in
    Lambda, whose code folder is read-only), the variants taking turns."""
    load = "import sys; sys.path.insert(0, {!r}); import sagemaker_s3ag.guard.handler"
    variants = {
        "empty interpreter": "pass",
        "import boto3": "import boto3",
        "guard handler from the package (with its bytecode)": load.format(str(folders["bytecode"])),
        "guard handler from the package (source only)": load.format(str(folders["source only"])),
        "handler (with bytecode) + boto3: a whole cold start": load.format(str(folders["bytecode"])) + "; import boto3",
    }
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    times: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(runs):
        for label, code in variants.items():
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=environment)
            times[label].append((time.perf_counter() - started) * 1000)
    return {label: statistics.median(values) for label, values in times.items()}


def channel(i: int) -> dict[str, Any]:
    return {
        "ChannelName": f"c{i}",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://data-bucket/c{i}/"}},
    }


def training(channels: int) -> dict[str, Any]:
    return {
        "TrainingJobName": "bench",
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "Pipe"},
        "InputDataConfig": [channel(i) for i in range(channels)],
        "OutputDataConfig": {"S3OutputPath": "s3://data-bucket/out/"},
        "DebugHookConfig": {"S3OutputPath": "s3://data-bucket/debug/"},
    }


def pipeline(steps: int) -> dict[str, Any]:
    arguments = {k: v for k, v in training(4).items() if k != "TrainingJobName"}
    definition = {
        "Version": "2020-12-01",
        "Steps": [{"Name": f"s{i}", "Type": "Training", "Arguments": arguments} for i in range(steps)],
    }
    return {"PipelineName": "bench", "RoleArn": "arn:aws:iam::123456789012:role/r", "PipelineDefinition": json.dumps(definition)}


def per_event(work: Callable[[], Any], events: int) -> float:
    """Microseconds per event (best of three rounds)."""
    rounds = []
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(events):
            work()
        rounds.append((time.perf_counter() - started) / events * 1e6)
    return min(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        imports = cold_imports(args.runs, packages(Path(scratch)))
    floor = imports["empty interpreter"]
    print("| cold import (fresh interpreter, median) | ms | above an empty interpreter |")
    print("|---|---:|---:|")
    for label, ms in imports.items():
        print(f"| {label} | {ms:.1f} | {ms - floor:+.1f} |")
    ours, boto = imports["guard handler from the package (with its bytecode)"] - floor, imports["import boto3"] - floor
    print(f"\nOur import is {ours / boto:.2f}× boto3's, which the function needs anyway.\n")

    job = cloudtrail_record("CreateTrainingJob", training(64))
    definition = cloudtrail_record("CreatePipeline", pipeline(10))
    print("| per event, in process | µs |")
    print("|---|---:|")
    print(f"| read a 64-channel CreateTrainingJob event | {per_event(lambda: read_event(job), args.events):.0f} |")
    print(f"| read it and judge it | {per_event(lambda: judge(read_event(job)), args.events):.0f} |")
    print(
        f"| read and judge a 10-step CreatePipeline event | {per_event(lambda: judge(read_event(definition)), args.events // 4):.0f} |"
    )


if __name__ == "__main__":
    main()
