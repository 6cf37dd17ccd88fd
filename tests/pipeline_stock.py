"""What a settled pipeline step may differ in from the stock one: the fields the rules own, and the ``s3ag:`` tags."""

from __future__ import annotations

import copy
from typing import Any

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
