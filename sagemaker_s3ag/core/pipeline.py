"""Pipeline definitions: the job steps a SageMaker Pipelines definition holds, and settling them.

A definition (the JSON that ``Pipeline.definition()`` returns and ``CreatePipeline`` sends) lists
steps; a ``Training``, ``Processing`` or ``Tuning`` step's ``Arguments`` is the CreateTrainingJob /
CreateProcessingJob / CreateHyperParameterTuningJob request without the job name, in which pipeline
values are expressions such as ``{"Get": "Parameters.InputMode"}``. Condition steps hold more steps
in their ``IfSteps`` and ``ElseSteps``::

    settled = settle_definition(text, lambda name, job_type, arguments: fixed_arguments)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Optional

from sagemaker_s3ag.core.request import JobType, Request

# Step types whose Arguments are a job request (QualityCheck and ClarifyCheck steps run processing jobs).
STEP_TYPES: Mapping[str, JobType] = {
    "Training": "training",
    "Processing": "processing",
    "Tuning": "tuning",
    "QualityCheck": "processing",
    "ClarifyCheck": "processing",
}
_NESTED = ("IfSteps", "ElseSteps", "Steps")

SettleStep = Callable[[str, JobType, Request], Request]


def job_steps(definition: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], JobType]]:
    """``(step, job type)`` for every job step of a definition, condition branches included, in order."""
    for step, job_type in _steps(definition):
        if job_type is not None and isinstance(step.get("Arguments"), dict):
            yield step, job_type


def unreadable_job_steps(definition: Mapping[str, Any]) -> list[str]:
    """The names of job steps (``Training``, ``Processing``, ...) whose ``Arguments`` is not an object."""
    return [
        str(step.get("Name") or "(unnamed)")
        for step, job_type in _steps(definition)
        if job_type is not None and not isinstance(step.get("Arguments"), dict)
    ]


def _steps(definition: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], Optional[JobType]]]:
    pending = list(definition.get("Steps") or ()) if isinstance(definition, Mapping) else []
    pending.reverse()
    while pending:
        step = pending.pop()
        if not isinstance(step, dict):
            continue
        step_type = step.get("Type")
        job_type = STEP_TYPES.get(step_type) if isinstance(step_type, str) else None
        yield step, job_type
        arguments = step.get("Arguments")
        if job_type is None and isinstance(arguments, dict):
            for key in reversed(_NESTED):
                branch = arguments.get(key)
                if isinstance(branch, list):
                    pending.extend(reversed(branch))


def settle_definition(text: str, settle_step: SettleStep) -> str:
    """``text`` with each job step's ``Arguments`` replaced by ``settle_step(name, job_type, arguments)``.

    Returns ``text`` itself when nothing changed or it is not a JSON definition (SageMaker refuses
    that on its own); otherwise the definition as ``json.dumps`` writes it, as the SDK does.
    """
    try:
        definition = json.loads(text)
    except (TypeError, ValueError):
        return text
    if not isinstance(definition, dict):
        return text
    changed = False
    for step, job_type in job_steps(definition):
        name = step.get("Name")
        arguments = step["Arguments"]
        fixed = settle_step(name if isinstance(name, str) else "(unnamed)", job_type, arguments)
        if fixed != arguments:
            step["Arguments"] = fixed
            changed = True
    return json.dumps(definition) if changed else text


def digest(text: str) -> str:
    """A short fingerprint of a definition, to know one we settled when it comes back."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def step_label(name: Optional[str]) -> str:
    """How a step is named in messages and decisions."""
    return f"pipeline step {name or '(unnamed)'}"
