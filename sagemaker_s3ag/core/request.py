"""Request shapes: reading and copying CreateTrainingJob / CreateProcessingJob requests.

These helpers know the SageMaker API shapes, not any SDK. A request may hold values the
SDK resolves later (SageMaker Pipelines parameters and properties): anything that is not
a plain ``str`` where the API wants a string is *unresolved* and is never guessed at.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal, Optional
from urllib.parse import unquote, urlsplit

JobType = Literal["training", "processing", "tuning"]
Request = dict[str, Any]

# Bucket names are 3-63 characters today; legacy us-east-1 buckets may have capitals and "_".
# A key may hold spaces (SageMaker's S3Uri pattern takes any character), not control characters.
_S3_URI = re.compile(r"s3://(?P<bucket>[A-Za-z0-9][A-Za-z0-9._-]{2,254})(?:/(?P<key>[^\x00-\x1f\x7f]*))?")
_LEAVES = (str, int, float, bool, type(None))
_LEAF_TYPES = frozenset(_LEAVES)  # exact types: a subclass (a pipeline variable may be one) takes the long way
_PAST_THE_BUCKET = re.compile(r"(?i)(s3|https)://[^/]+/")


MAX_DEPTH = 64  # deeper than any SageMaker request
MAX_PARTS = 200_000  # dicts and lists: far more than any SageMaker request holds


def copy_request(value: Any) -> Any:
    """A copy of every dict, list and tuple (as a list) in ``value``; other objects are shared.

    Pipeline variables are shared on purpose: a deep copy would also copy Pipelines step
    properties and the steps they point at. Every part of the copy is its own (an object the
    request holds twice is copied twice), so a hostile value is refused, not followed: one that
    holds itself or nests deeper than :data:`MAX_DEPTH` levels, or one holding more than
    :data:`MAX_PARTS` parts (the same list held many times over).

    Raises:
        ValueError: ``value`` holds itself, nests too deep or holds too many parts.
    """
    parts = MAX_PARTS

    def copy(value: Any, depth: int) -> Any:
        nonlocal parts
        parts -= 1
        if parts < 0 or depth > MAX_DEPTH:  # one test on the hot path; which limit, said below
            if depth > MAX_DEPTH:
                raise ValueError(
                    f"the request is nested deeper than {MAX_DEPTH} levels, or holds itself: no SageMaker request does"
                )
            raise ValueError(
                f"the request holds more than {MAX_PARTS} parts (or one part many times over): no SageMaker request does"
            )
        depth += 1
        kind = type(value)
        if kind is dict:  # the hot path: leaves are not copied, nor called for
            return {k: v if type(v) in _LEAF_TYPES else copy(v, depth) for k, v in value.items()}
        if kind is list or kind is tuple:
            return [v if type(v) in _LEAF_TYPES else copy(v, depth) for v in value]
        if isinstance(value, _LEAVES):
            return value
        if isinstance(value, (dict, Mapping)):
            return {k: copy(v, depth) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [copy(v, depth) for v in value]
        return value

    return copy(value, 0)


def is_expression(value: Any) -> bool:
    """Whether a value is a pipeline expression as a definition spells it: ``{"Get": ...}``, ``{"Std:Join": ...}``."""
    if not isinstance(value, Mapping) or len(value) != 1:
        return False
    key = next(iter(value))
    return isinstance(key, str) and (key == "Get" or key.startswith("Std:"))


def is_unresolved(value: Any) -> bool:
    """Whether a value is only known when a pipeline runs (a parameter, property or expression).

    SDK objects (``ParameterString``, step properties, ``Join``) before a definition is built, or
    their JSON form (:func:`is_expression`) after.
    """
    if value is None or isinstance(value, (str, int, float, bool, list)):
        return False
    return is_expression(value) if isinstance(value, dict) else True


def literal_head(value: Any) -> Optional[str]:
    """What is known now of a pipeline value that builds an S3 URI: the literal start of a ``Join``.

    ``Join(on="/", values=["s3://bucket/pipeline", ExecutionVariables.PIPELINE_EXECUTION_ID, "out"])``
    (``{"Std:Join": ...}`` in a definition) always starts with ``s3://bucket/pipeline/``; ``None``
    when nothing is known (a parameter, a step property, a ``Join`` that starts with one).
    """
    expr = value if isinstance(value, Mapping) else getattr(value, "expr", None)
    if not isinstance(expr, Mapping) or len(expr) != 1 or not isinstance(expr.get("Std:Join"), Mapping):
        return None
    on, values = expr["Std:Join"].get("On"), expr["Std:Join"].get("Values")
    if not isinstance(on, str) or not isinstance(values, list):
        return None
    head: list[str] = []
    for item in values:
        if not isinstance(item, (str, int, float)) or isinstance(item, bool):
            break
        head.append(str(item))
    if not head:
        return None
    text = on.join(head) + (on if len(head) < len(values) else "")
    # Known only once it reaches past the bucket: "s3://bucket" + Env could be s3://bucket-prod/.
    return text if _PAST_THE_BUCKET.match(text) else None


def show(value: Any) -> str:
    """A short, safe text for a request value in a message."""
    if is_unresolved(value):
        expr = value if isinstance(value, Mapping) else getattr(value, "expr", None)
        if isinstance(expr, Mapping) and isinstance(expr.get("Get"), str):
            return f"pipeline value {expr['Get']}"
        if isinstance(expr, Mapping) and len(expr) == 1:
            return f"pipeline value {next(iter(expr))}"
        return f"pipeline value {type(value).__name__}"
    return repr(value)


@functools.lru_cache(maxsize=4096)
def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, key)`` of an ``s3://bucket/key`` URI; ``ValueError`` when it is malformed."""
    match = _S3_URI.fullmatch(uri)
    if not match:
        raise ValueError(f"{uri!r} is not an S3 URI of the form s3://bucket/prefix")
    return match["bucket"], match["key"] or ""


def looks_like_s3(value: Any) -> bool:
    """Whether a literal value claims to be an S3 location (even a malformed one)."""
    return isinstance(value, str) and value[:3].lower() == "s3:"


def is_remote(value: Any) -> bool:
    """Whether a literal location is read from elsewhere (``s3://`` or ``https://``), not a local path to upload."""
    return looks_like_s3(value) or (isinstance(value, str) and value[:8].lower() == "https://")


MAX_S3_URI = 1024  # the API's limit on every S3Uri and S3OutputPath the rules read
_S3_HOSTS = (".amazonaws.com", ".amazonaws.com.cn")
_NOT_BUCKETS = ("s3-accesspoint", "s3-object-lambda", "s3-outposts", "s3express-control")


@functools.lru_cache(maxsize=4096)
def s3_uri_of(uri: str) -> str:
    """A location SageMaker takes (``s3://bucket/key``, or an S3 ``https://`` URL) as ``s3://bucket/key``.

    The API also takes ``https://BUCKET.s3[.REGION].amazonaws.com/KEY`` (virtual-hosted) and
    ``https://s3[.REGION].amazonaws.com/BUCKET/KEY`` (path style), dual-stack and FIPS included; they
    name the same objects. Raises ``ValueError`` saying why for anything else (an access point, a host
    that is not S3's), which cannot be checked against S3 Access Grants.
    """
    if looks_like_s3(uri):
        parse_s3_uri(uri)
        return uri
    if not uri[:8].lower() == "https://":
        raise ValueError(f"{uri!r} is not an S3 URI of the form s3://bucket/prefix")
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    labels = host.split(".")
    s3_at = next((i for i, label in enumerate(labels) if label == "s3" or label.startswith("s3-")), None)
    if not host.endswith(_S3_HOSTS) or s3_at is None or labels[s3_at] in _NOT_BUCKETS or parts.query or parts.fragment:
        raise ValueError(
            f"{uri!r} is not an S3 bucket URL (https://BUCKET.s3.REGION.amazonaws.com/KEY or "
            "https://s3.REGION.amazonaws.com/BUCKET/KEY): it cannot be checked against S3 Access Grants; use s3://bucket/prefix"
        )
    path = unquote(parts.path.lstrip("/"))
    if s3_at == 0:  # path style: the bucket is the first segment
        bucket, _, key = path.partition("/")
    else:
        bucket, key = ".".join(labels[:s3_at]), path
    normal = f"s3://{bucket}/{key}"
    parse_s3_uri(normal)  # a bucket name S3 would not have: ValueError
    return normal


def tuning_definitions(request: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(place, definition)`` for every training job definition of a CreateHyperParameterTuningJob request."""
    single = request.get("TrainingJobDefinition")
    if isinstance(single, Mapping) and single:
        yield "TrainingJobDefinition", single
    for index, definition in _items(request.get("TrainingJobDefinitions")):
        name = definition.get("DefinitionName")
        yield f"TrainingJobDefinitions[{name if isinstance(name, str) else index}]", definition


def training_channels(request: Mapping[str, Any]) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    """``(index, name, channel)`` for every channel of a CreateTrainingJob request."""
    for index, channel in _items(request.get("InputDataConfig")):
        name = channel.get("ChannelName")
        yield index, name if isinstance(name, str) else f"#{index}", channel


def processing_inputs(request: Mapping[str, Any]) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    """``(index, name, input)`` for every input of a CreateProcessingJob request."""
    for index, item in _items(request.get("ProcessingInputs")):
        name = item.get("InputName")
        yield index, name if isinstance(name, str) else f"#{index}", item


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else ``{}``: a request part not of the API's shapes is passed over (botocore refuses it)."""
    return value if type(value) is dict or isinstance(value, Mapping) else {}  # dict first: the hot path


def as_list(value: Any) -> list[Any]:
    """``value`` as a new list if it is a list or tuple, else ``[]`` (as :func:`as_mapping`)."""
    return list(value) if isinstance(value, (list, tuple)) else []


def _items(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    """``(index, item)`` for the mappings of a list in a request (anything else is not of the API's shapes: passed over)."""
    if not isinstance(value, (list, tuple)):
        return []
    return [(index, item) for index, item in enumerate(value) if type(item) is dict or isinstance(item, Mapping)]


def job_input_mode(request: Mapping[str, Any]) -> Any:
    """The job-wide ``AlgorithmSpecification.TrainingInputMode`` of a training request."""
    return as_mapping(request.get("AlgorithmSpecification")).get("TrainingInputMode")


_NAME_KEYS = {
    "training": "TrainingJobName",
    "processing": "ProcessingJobName",
    "tuning": "HyperParameterTuningJobName",
}


def job_name(request: Mapping[str, Any], job_type: JobType) -> str | None:
    """The job name a request creates."""
    name = request.get(_NAME_KEYS[job_type])
    return name if isinstance(name, str) else None


_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/\S+")


def role_account(request: Mapping[str, Any], job_type: JobType) -> Optional[str]:
    """The account of the job's execution role (every tuning definition's, when they agree), or ``None``.

    SageMaker runs a job only with a role of the account that creates it, so this is the account
    of the caller who creates the job.
    """
    if job_type == "tuning":
        roles = [definition.get("RoleArn") for _place, definition in tuning_definitions(request)]
    else:
        roles = [request.get("RoleArn")]
    matches = [_ROLE_ARN.fullmatch(role) if isinstance(role, str) else None for role in roles]
    accounts = {match.group(1) for match in matches if match is not None}
    return accounts.pop() if len(accounts) == 1 and all(matches) else None
