"""What a settled pipeline step may differ in from the stock one: the fields the rules own, and the ``s3ag:`` tags."""

from __future__ import annotations

import copy
from typing import Any

from conftest import BUCKET, tag_map

import sagemaker_s3ag

TIP_FIELDS = (
    "DebugHookConfig",
    "DebugRuleConfigurations",
    "TensorBoardOutputConfig",
    "ProfilerConfig",
    "ProfilerRuleConfigurations",
    "RemoteDebugConfig",
)


def without_tip(definition: dict[str, Any]) -> dict[str, Any]:
    """``definition`` without what the S3 Access Grants rules and records may change, in every job step."""
    definition = copy.deepcopy(definition)
    for step in definition["Steps"]:
        arguments = step.get("Arguments") or {}
        for field in TIP_FIELDS:
            arguments.pop(field, None)
        arguments.get("AlgorithmSpecification", {}).pop("TrainingInputMode", None)
        for channel in arguments.get("InputDataConfig", ()):
            channel.pop("InputMode", None)
        for item in arguments.get("ProcessingInputs", ()):
            (item.get("S3Input") or {}).pop("S3InputMode", None)
        tags = [t for t in arguments.get("Tags", ()) if not t["Key"].startswith("s3ag:")]
        arguments.pop("Tags", None)
        if tags:
            arguments["Tags"] = tags
    return definition


def code_locations(definition: dict[str, Any]) -> list[str]:
    """Every S3 URI under ``/code/`` in a definition (where the SDK puts a step's code, by content)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and value.startswith("s3://") and "/code/" in value:
            found.append(value)

    walk(definition)
    return found


def assert_stock_but_for_tip(define: Any, pipeline_name: str) -> None:
    """``define()`` (a pipeline definition as a dict), stock and under ``patch()``: only TIP fields and tags differ.

    The code the SDK uploads for a step sits at its content-addressed place in both
    (``s3://BUCKET/PIPELINE/code/HASH/file.py``), so SageMaker Pipelines step caching still works.
    """
    stock = define()
    sagemaker_s3ag.patch(identity_propagation=True)
    try:
        patched = define()
    finally:
        sagemaker_s3ag.unpatch()
    assert without_tip(patched) == without_tip(stock)
    scripts = [uri for uri in code_locations(stock) if uri.endswith(".py")]
    assert len(scripts) == 2 and all(f"s3://{BUCKET}/{pipeline_name}/code/" in uri for uri in scripts)
    assert code_locations(patched) == code_locations(stock)
    steps = {s["Name"]: s["Arguments"] for s in patched["Steps"]}
    assert steps["Prep"]["ProcessingInputs"][0]["S3Input"]["S3InputMode"] == "File"
    assert steps["Train"]["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert all(tag_map(arguments["Tags"])["s3ag:launched-by"] == "pipeline" for arguments in steps.values())
    assert patched != stock  # the control: the rules did change something
