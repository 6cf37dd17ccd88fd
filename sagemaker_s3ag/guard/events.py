"""Events: a SageMaker API call as CloudTrail records it, read back into the API's own request shape.

EventBridge delivers each management call CloudTrail records as an event of detail-type
``AWS API Call via CloudTrail``; its ``detail`` is the CloudTrail record. The record's
``requestParameters`` is the API request with each key's first letter lowered
(``inputDataConfig[].dataSource.s3DataSource.s3Uri``); :func:`api_request` restores the API's
PascalCase (``InputDataConfig[].DataSource.S3DataSource.S3Uri``), leaving the user's own keys
(hyperparameters, environment variables, rule parameters) as they were, so the core rules read it
as they read a request the SDK sends::

    call = read_event(event)            # an EventBridge event, or a bare CloudTrail record
    call.job_type, call.name, call.request["AlgorithmSpecification"]["TrainingInputMode"]

:func:`read_events` reads a file of saved events for ``s3ag guard replay``: a JSON list or JSON
lines of EventBridge events, a CloudTrail log file (``{"Records": [...]}``) or a ``LookupEvents``
export (``{"Events": [{"CloudTrailEvent": "<json>"}]}``).

Sources (shapes): CloudTrail log file examples and the ``userIdentity`` element (AWS CloudTrail
User Guide); "Events delivered via CloudTrail" (Amazon EventBridge User Guide); SageMaker's
CloudTrail examples (``CreateEndpoint``, ``CreateModel``: lowerCamelCase request keys); the
``onBehalfOf`` element of identity-enhanced role sessions (IAM Identity Center User Guide).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from sagemaker_s3ag.core.request import JobType

DETAIL_TYPE = "AWS API Call via CloudTrail"
EVENT_SOURCE = "sagemaker.amazonaws.com"

# The calls the guard judges, and what each creates.
OPERATIONS: Mapping[str, tuple[str, str, str]] = {
    # eventName: (job type or "pipeline", the name's request key, the ARN's response key)
    "CreateTrainingJob": ("training", "TrainingJobName", "trainingJobArn"),
    "CreateProcessingJob": ("processing", "ProcessingJobName", "processingJobArn"),
    "CreateHyperParameterTuningJob": ("tuning", "HyperParameterTuningJobName", "hyperParameterTuningJobArn"),
    "CreatePipeline": ("pipeline", "PipelineName", "pipelineArn"),
    "UpdatePipeline": ("pipeline", "PipelineName", "pipelineArn"),
    "UpdateTrainingJob": ("training", "TrainingJobName", "trainingJobArn"),
}
_ARN_KINDS = {
    "training": "training-job",
    "processing": "processing-job",
    "tuning": "hyper-parameter-tuning-job",
    "pipeline": "pipeline",
}
# Maps whose keys are the user's own words: kept as written.
_USER_KEYS = frozenset(
    {
        "hyperParameters",
        "staticHyperParameters",
        "environment",
        "ruleParameters",
        "hookParameters",
        "collectionParameters",
        "profilingParameters",
    }
)
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"  # what CloudTrail writes for a value it withholds
MAX_DEPTH = 64  # deeper than any SageMaker request; a hostile event is cut off, not recursed into


class EventError(ValueError):
    """An event the guard cannot read: its sentence says what is missing or malformed."""


@dataclass(frozen=True)
class ApiCall:
    """One SageMaker call read from an event.

    Attributes:
        event_id: CloudTrail's ``eventID`` (the same in every redelivery of the event).
        operation: e.g. ``"CreateTrainingJob"``.
        kind: ``"training"``, ``"processing"``, ``"tuning"`` or ``"pipeline"``.
        name: the job's or pipeline's name (``""`` when the event does not carry it).
        arn: the created resource's ARN, from the response or built from account, Region and name.
        region, account: where the call was made.
        time: ``eventTime`` as recorded.
        caller: the caller's ARN (or principal); ``identity``: the IAM Identity Center user
            (``onBehalfOf.userId`` and ``identityStoreArn``), when the call carried one.
        invoked_by: the AWS service that made the call for someone (``userIdentity.invokedBy``).
        request: ``requestParameters`` in the API's PascalCase; ``None`` when the event holds none.
        hidden: the places CloudTrail withheld (``HIDDEN_DUE_TO_SECURITY_REASONS``) or left out.
        error: ``errorCode`` when the call failed (nothing was created).
    """

    event_id: str
    operation: str
    kind: str
    name: str
    arn: str
    region: str
    account: str
    time: str
    caller: str
    identity: Optional[tuple[str, str]]
    invoked_by: str
    request: Optional[dict[str, Any]]
    hidden: tuple[str, ...] = ()
    error: str = ""

    @property
    def job_type(self) -> Optional[JobType]:
        """The job type the core rules take, or ``None`` for a pipeline."""
        return None if self.kind == "pipeline" else self.kind  # type: ignore[return-value]


def is_sagemaker_call(event: Any) -> bool:
    """Whether ``event`` is an EventBridge CloudTrail event (or a bare record) of a call the guard judges."""
    record = _record(event)
    if not isinstance(record, Mapping):
        return False
    name = record.get("eventName")
    return record.get("eventSource") == EVENT_SOURCE and isinstance(name, str) and name in OPERATIONS


def read_event(event: Any) -> ApiCall:
    """The SageMaker call an EventBridge event (or a bare CloudTrail record) holds.

    Raises:
        EventError: not a CloudTrail record of a call the guard judges, or missing what every
            such record has (``eventID``, ``eventName``); one sentence naming what.
    """
    record = _record(event)
    if not isinstance(record, Mapping):
        raise EventError(f"not a CloudTrail event: expected a JSON object, got {type(event).__name__}")
    if record.get("eventSource") != EVENT_SOURCE:
        raise EventError(f"not a SageMaker call: eventSource is {_short(record.get('eventSource'))}")
    operation = record.get("eventName")
    if not isinstance(operation, str) or operation not in OPERATIONS:
        raise EventError(f"not a call the guard judges: eventName is {_short(operation)}")
    event_id = record.get("eventID")
    if not isinstance(event_id, str) or not event_id:
        raise EventError("the record has no eventID")
    kind, name_key, arn_key = OPERATIONS[operation]
    parameters = record.get("requestParameters")
    request: Optional[dict[str, Any]] = None
    hidden: list[str] = []
    if isinstance(parameters, Mapping):
        request = api_request(parameters, hidden)
    elif parameters is not None:
        hidden.append(f"requestParameters ({_short(parameters)})")
    identity_block = _mapping(record.get("userIdentity"))
    region = _text(record.get("awsRegion")) or _text(_mapping(event).get("region"))
    account = _text(record.get("recipientAccountId")) or _text(_mapping(event).get("account"))
    name = _text((request or {}).get(name_key))
    response = _mapping(record.get("responseElements"))
    arn = _text(response.get(arn_key))
    if not arn and name and region and account:
        partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
        arn = f"arn:{partition}:sagemaker:{region}:{account}:{_ARN_KINDS[kind]}/{name.lower()}"
    on_behalf_of = _mapping(identity_block.get("onBehalfOf"))
    user_id, store = _text(on_behalf_of.get("userId")), _text(on_behalf_of.get("identityStoreArn"))
    return ApiCall(
        event_id=event_id,
        operation=operation,
        kind=kind,
        name=name,
        arn=arn,
        region=region,
        account=account,
        time=_text(record.get("eventTime")) or _text(_mapping(event).get("time")),
        caller=_text(identity_block.get("arn")) or _text(identity_block.get("principalId")),
        identity=(user_id, store) if user_id else None,
        invoked_by=_text(identity_block.get("invokedBy")),
        request=request,
        hidden=tuple(hidden),
        error=_text(record.get("errorCode")),
    )


def api_request(parameters: Mapping[str, Any], hidden: Optional[list[str]] = None) -> dict[str, Any]:
    """``requestParameters`` as the API request: each key's first letter raised, user keys kept.

    Places CloudTrail withheld (a value ``HIDDEN_DUE_TO_SECURITY_REASONS``, or a part it marked
    ``omitted``) are appended to ``hidden``, by their API path.
    """
    found = hidden if hidden is not None else []
    return _convert(parameters, "", found, 0)  # type: ignore[no-any-return]


def _convert(value: Any, path: str, hidden: list[str], depth: int, *, user: bool = False) -> Any:
    if depth > MAX_DEPTH:
        hidden.append(f"{path} (nested deeper than {MAX_DEPTH} levels)")
        return None
    if isinstance(value, Mapping):
        if value.get("omitted") is True and len(value) <= 2:
            hidden.append(path or "requestParameters")
        converted: dict[str, Any] = {}
        for key, item in value.items():
            text = str(key)
            api_key = text if user else text[:1].upper() + text[1:]
            converted[api_key] = _convert(
                item, f"{path}.{api_key}" if path else api_key, hidden, depth + 1, user=text in _USER_KEYS
            )
        return converted
    if isinstance(value, list):
        return [_convert(item, f"{path}[{index}]", hidden, depth + 1) for index, item in enumerate(value)]
    if value == HIDDEN:
        hidden.append(path)
    return value


def read_events(data: str | bytes) -> Iterator[Any]:
    """Each event in a saved file: EventBridge events (a JSON list, one object, or JSON lines), a
    CloudTrail log file (``{"Records": [...]}``, gzipped as CloudTrail writes it to S3, or not) or a
    ``LookupEvents`` export (``{"Events": [...]}``, each ``CloudTrailEvent`` a JSON string).

    Raises:
        EventError: the data is none of these (the first line that is not JSON is named).
    """
    if isinstance(data, bytes):
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as err:
                raise EventError(f"not a readable gzip file ({err})") from None
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise EventError(f"not UTF-8 text (byte {err.start})") from None
    stripped = data.strip()
    if not stripped:
        return
    try:
        document: Any = json.loads(stripped)
    except RecursionError:
        raise EventError(f"nested deeper than Python's JSON reader goes (an event is {MAX_DEPTH} levels at most)") from None
    except ValueError:
        document = []
        for number, line in enumerate(stripped.splitlines(), 1):
            if not line.strip():
                continue
            try:
                document.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise EventError(f"line {number} is not JSON ({err.msg})") from None
            except RecursionError:
                raise EventError(f"line {number} is nested deeper than Python's JSON reader goes") from None
    if isinstance(document, Mapping) and isinstance(document.get("Records"), list):
        yield from document["Records"]
    elif isinstance(document, Mapping) and isinstance(document.get("Events"), list):
        for item in document["Events"]:
            embedded = _mapping(item).get("CloudTrailEvent")
            try:
                yield json.loads(embedded) if isinstance(embedded, str) else item
            except (ValueError, RecursionError):
                yield item  # read_event names it
    elif isinstance(document, list):
        yield from document
    else:
        yield document


def _record(event: Any) -> Any:
    """The CloudTrail record: an EventBridge event's ``detail``, or the event itself."""
    if isinstance(event, Mapping) and event.get("detail-type") == DETAIL_TYPE:
        return event.get("detail")
    return event


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
