"""Locations: every S3 location SageMaker reads or writes for a job, read from its request.

Training channels and processing inputs are read (``READ``), the training output path and
processing outputs are written (``WRITE``), the checkpoint location is both (``READWRITE``:
SageMaker uploads checkpoints and restores them). A tuning job's locations are those of each of
its training job definitions::

    for where, permission, uri, kind in s3_locations(request, "training"):
        ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from sagemaker_s3ag.core.request import JobType, processing_inputs, training_channels, tuning_definitions


class S3Location(NamedTuple):
    """One S3 location SageMaker reads or writes for a job.

    Attributes:
        where: the place in the request.
        permission: ``"READ"`` (inputs), ``"WRITE"`` (outputs) or ``"READWRITE"`` (training
            checkpoints, which SageMaker uploads and restores).
        uri: as in the request; may be unresolved (a pipeline value) or malformed.
        kind: ``"object"`` for a manifest file, else ``"prefix"``.
    """

    where: str
    permission: str
    uri: Any
    kind: str = "prefix"


_OBJECT_TYPES = ("ManifestFile", "AugmentedManifestFile")


def s3_locations(request: Mapping[str, Any], job_type: JobType) -> list[S3Location]:
    """Every S3 location SageMaker reads or writes for the job, in request order."""
    found: list[S3Location] = []
    if job_type == "tuning":
        for place, definition in tuning_definitions(request):
            found.extend(
                S3Location(f"{place}.{where}", permission, uri, kind)
                for where, permission, uri, kind in s3_locations(definition, "training")
            )
    elif job_type == "training":
        for _i, name, channel in training_channels(request):
            source = (channel.get("DataSource") or {}).get("S3DataSource")
            if source:
                kind = "object" if source.get("S3DataType") in _OBJECT_TYPES else "prefix"
                where = f"InputDataConfig[{name}].DataSource.S3DataSource.S3Uri"
                found.append(S3Location(where, "READ", source.get("S3Uri"), kind))
        output = (request.get("OutputDataConfig") or {}).get("S3OutputPath")
        if output is not None:
            found.append(S3Location("OutputDataConfig.S3OutputPath", "WRITE", output))
        checkpoint = (request.get("CheckpointConfig") or {}).get("S3Uri")
        if checkpoint is not None:
            found.append(S3Location("CheckpointConfig.S3Uri", "READWRITE", checkpoint))
    else:
        for _i, name, item in processing_inputs(request):
            source = item.get("S3Input")
            if source:
                kind = "object" if source.get("S3DataType") == "ManifestFile" else "prefix"
                found.append(S3Location(f"ProcessingInputs[{name}].S3Input.S3Uri", "READ", source.get("S3Uri"), kind))
        outputs = (request.get("ProcessingOutputConfig") or {}).get("Outputs") or ()
        for index, item in enumerate(outputs):
            name = item.get("OutputName") if isinstance(item.get("OutputName"), str) else f"#{index}"
            target = item.get("S3Output")
            if target:
                where = f"ProcessingOutputConfig.Outputs[{name}].S3Output.S3Uri"
                found.append(S3Location(where, "WRITE", target.get("S3Uri")))
    return found
