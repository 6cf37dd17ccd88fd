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
        kind: ``"prefix"``; or ``"ManifestFile"`` / ``"AugmentedManifestFile"`` for a manifest, an
            object whose listed data SageMaker reads too.
        attributes: an augmented manifest's ``AttributeNames``.
    """

    where: str
    permission: str
    uri: Any
    kind: str = "prefix"
    attributes: tuple[str, ...] = ()


MANIFESTS = ("ManifestFile", "AugmentedManifestFile")


def s3_locations(request: Mapping[str, Any], job_type: JobType) -> list[S3Location]:
    """Every S3 location SageMaker reads or writes for the job, in request order.

    Parts of the request that are not of the API's shapes are passed over (the rules refuse them).
    """
    if not isinstance(request, Mapping):
        return []
    if job_type == "tuning":
        return [
            location._replace(where=f"{place}.{location.where}")
            for place, definition in tuning_definitions(request)
            for location in s3_locations(definition, "training")
        ]
    if job_type == "training":
        return _training(request)
    return _processing(request)


def _training(request: Mapping[str, Any]) -> list[S3Location]:
    found = []
    for _i, name, channel in training_channels(request):
        source = _mapping(_mapping(channel.get("DataSource")).get("S3DataSource"))
        if source:
            data_type = source.get("S3DataType")
            kind = data_type if isinstance(data_type, str) and data_type in MANIFESTS else "prefix"
            names = source.get("AttributeNames")
            attributes = tuple(n for n in names if isinstance(n, str)) if isinstance(names, list) else ()
            where = f"InputDataConfig[{name}].DataSource.S3DataSource.S3Uri"
            found.append(S3Location(where, "READ", source.get("S3Uri"), kind, attributes))
    output = _mapping(request.get("OutputDataConfig")).get("S3OutputPath")
    if output is not None:
        found.append(S3Location("OutputDataConfig.S3OutputPath", "WRITE", output))
    checkpoint = _mapping(request.get("CheckpointConfig")).get("S3Uri")
    if checkpoint is not None:
        found.append(S3Location("CheckpointConfig.S3Uri", "READWRITE", checkpoint))
    return found


def _processing(request: Mapping[str, Any]) -> list[S3Location]:
    found = []
    for _i, name, item in processing_inputs(request):
        source = _mapping(item.get("S3Input"))
        if source:
            manifest = "ManifestFile" if source.get("S3DataType") == "ManifestFile" else "prefix"
            found.append(S3Location(f"ProcessingInputs[{name}].S3Input.S3Uri", "READ", source.get("S3Uri"), manifest))
    outputs = _mapping(request.get("ProcessingOutputConfig")).get("Outputs")
    for index, item in enumerate(outputs if isinstance(outputs, list) else ()):
        if not isinstance(item, Mapping):
            continue
        output_name = item.get("OutputName")
        label = output_name if isinstance(output_name, str) else f"#{index}"
        target = _mapping(item.get("S3Output"))
        if target:
            found.append(S3Location(f"ProcessingOutputConfig.Outputs[{label}].S3Output.S3Uri", "WRITE", target.get("S3Uri")))
    return found


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
