"""Locations: every S3 location SageMaker reads or writes for a job, read from its request.

Training channels and processing inputs are read (``READ``), the training output path and
processing outputs are written (``WRITE``), the checkpoint location is both (``READWRITE``:
SageMaker uploads checkpoints and restores them). A tuning job's locations are those of each of
its training job definitions::

    for where, permission, uri, kind in s3_locations(request, "training"):
        ...
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

from sagemaker_s3ag.core.outcomes import LocationOutcome, Resolution
from sagemaker_s3ag.core.request import (
    JobType,
    is_unresolved,
    literal_head,
    parse_s3_uri,
    processing_inputs,
    s3_uri_of,
    show,
    training_channels,
    tuning_definitions,
)


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
    found: list[S3Location] = []
    append = found.append
    for _i, name, channel in training_channels(request):
        source = channel.get("DataSource")
        source = source.get("S3DataSource") if type(source) is dict else _mapping(source).get("S3DataSource")
        if type(source) is not dict:
            source = _mapping(source)
        if source:
            data_type = source.get("S3DataType")
            where = f"InputDataConfig[{name}].DataSource.S3DataSource.S3Uri"
            if data_type == "S3Prefix" or data_type is None:  # the common case
                append(S3Location(where, "READ", source.get("S3Uri")))
                continue
            kind = data_type if isinstance(data_type, str) and data_type in MANIFESTS else "prefix"
            names = source.get("AttributeNames")
            attributes = tuple(n for n in names if isinstance(n, str)) if isinstance(names, list) else ()
            append(S3Location(where, "READ", source.get("S3Uri"), kind, attributes))
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
    return value if type(value) is dict or isinstance(value, Mapping) else {}


@functools.lru_cache(maxsize=4096)
def target_for(uri: str, kind: str) -> str:
    """The ``GetDataAccess`` target of a location: a prefix gets ``*``, a manifest object does not.

    An S3 ``https://`` URL is asked about as the ``s3://`` URI it names.
    """
    bucket, key = parse_s3_uri(s3_uri_of(uri))
    if kind != "prefix" and key:
        return f"s3://{bucket}/{key}"
    base = f"s3://{bucket}/{key}"
    return base if base.endswith("*") else base + "*"


@dataclass
class Question:
    """One (location, permission) of a job: where it appears, and what to ask about it."""

    uri: Any
    places: list[str]
    target: Optional[str]  # what GetDataAccess is asked, or None (nothing to ask)
    head: Optional[str] = None  # a pipeline value's literal start, asked about in its place
    unknown: str = ""  # why it is unknown, when there is nothing to ask
    fallback: str = ""  # why it falls back without asking (a directory bucket)

    def outcome(self, key: tuple[str, str], found: Resolution) -> LocationOutcome:
        if self.head is not None:  # a grant on the head covers every value; anything less proves nothing
            if found.outcome == "granted":
                found = Resolution(
                    "granted",
                    f"a grant covers all of {self.head} (a pipeline value)",
                    found.grant_target,
                    found.grantee_type,
                    found.instance_arn,
                )
            else:
                found = Resolution("unknown", f"a pipeline value under {self.head}: {found.reason} for all of it")
        return LocationOutcome(
            key[0],
            key[1],
            found.outcome,
            found.reason,
            tuple(self.places),
            found.grant_target,
            found.grantee_type,
            found.instance_arn,
        )


DIRECTORY_BUCKET_REASON = "a directory bucket (S3 Express One Zone): S3 Access Grants does not support it"


def is_directory_bucket(bucket: str) -> bool:
    """Whether ``bucket`` is an S3 Express One Zone directory bucket (``base--zone-id--x-s3``)."""
    return bucket.endswith("--x-s3")


@functools.lru_cache(maxsize=4096)
def _target(uri: str, kind: str) -> tuple[str, bool]:
    """:func:`target_for` and whether it is in a directory bucket (``ValueError`` as there)."""
    asked = target_for(uri, kind)
    return asked, is_directory_bucket(parse_s3_uri(asked)[0])


def questions(locations: Sequence[S3Location]) -> dict[tuple[str, str], Question]:
    """The job's locations by (URI, permission), in first-seen order, each with its question."""
    groups: dict[tuple[str, str], Question] = {}
    for where, permission, uri, kind, _attributes in locations:
        if uri is None:
            continue  # not known yet (a local input the SDK uploads later): asked about then
        key = (uri if isinstance(uri, str) else show(uri), permission)
        if key in groups:
            groups[key].places.append(where)
            continue
        if isinstance(uri, str):
            if uri[:7].lower() == "file://":
                groups[key] = Question(uri, [where], None, unknown="a local path (local mode), not read from S3")
                continue
            try:
                asked, directory = _target(uri, kind)
            except ValueError as err:  # the s3-uri rule refuses the job; if asked anyway, never skipped
                groups[key] = Question(uri, [where], None, unknown=f"not an S3 location: {err}")
                continue
            if directory:
                groups[key] = Question(uri, [where], None, fallback=DIRECTORY_BUCKET_REASON)
            else:
                groups[key] = Question(uri, [where], asked)
            continue
        head = literal_head(uri) if is_unresolved(uri) else None
        try:
            target, directory = _target(head, "prefix") if head else (None, False)
        except ValueError:
            target, head, directory = None, None, False
        if directory:  # whatever the value, it is in a directory bucket
            groups[key] = Question(uri, [where], None, fallback=DIRECTORY_BUCKET_REASON)
            continue
        unknown = "a pipeline value, known only when the pipeline runs" if is_unresolved(uri) else "not an S3 URI"
        groups[key] = Question(uri, [where], target, head, unknown)
    return groups
