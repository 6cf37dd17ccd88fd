"""CloudTrail records and EventBridge events of SageMaker calls, shaped as AWS documents them.

For tests of the guard, or of your own EventBridge rules, without an AWS account::

    from sagemaker_s3ag.testing.cloudtrail import cloudtrail_record, eventbridge_event
    event = eventbridge_event(cloudtrail_record("CreateTrainingJob", request, identity=USER))

Shapes, and where they come from:

* the record: AWS's SageMaker examples ("Log Amazon SageMaker API calls using AWS CloudTrail",
  SageMaker Developer Guide: the ``CreateEndpoint`` and ``CreateModel`` entries), whose
  ``requestParameters`` carry the API request with lowerCamelCase keys (``endpointConfigName``,
  ``primaryContainer.image``, ``executionRoleArn``) and whose ``responseElements`` carry the ARN
  (``endpointArn``); the ``readOnly``, ``managementEvent``, ``eventCategory`` and
  ``recipientAccountId`` fields of the CloudTrail record contents (CloudTrail User Guide);
* ``userIdentity`` of a Studio user with trusted identity propagation: the SageMaker execution
  role's session plus ``onBehalfOf`` (``userId``, ``identityStoreArn``), as in "Setting up trusted
  identity propagation with SageMaker Studio" (IAM Identity Center User Guide, step 7: "The userId
  reflects the ID of the IAM Identity Center user who initiated the training job");
* the EventBridge envelope: "Events delivered via CloudTrail" (EventBridge User Guide): ``version``
  ``"0"``, ``id``, ``detail-type`` ``"AWS API Call via CloudTrail"``, ``source``, ``account``,
  ``time``, ``region``, ``resources``, ``detail`` (the record).

User maps (hyperparameters, environment variables, rule parameters) keep their keys as written.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Optional

from sagemaker_s3ag.testing.emulator import ACCOUNT

REGION = "us-east-1"
IDENTITY_STORE = "arn:aws:identitystore::777788889999:identitystore/d-1234567890"
USER_ID = "2801d3e0-f0e1-707f-54e8-f558b19f0a10"
EXECUTION_ROLE = "SageMaker-ExecutionRole-20250728T125817"
_USER_KEYS = frozenset(
    {
        "HyperParameters",
        "StaticHyperParameters",
        "Environment",
        "RuleParameters",
        "HookParameters",
        "CollectionParameters",
        "ProfilingParameters",
    }
)
_NAMES = {
    "CreateTrainingJob": ("TrainingJobName", "trainingJobArn", "training-job"),
    "CreateProcessingJob": ("ProcessingJobName", "processingJobArn", "processing-job"),
    "CreateHyperParameterTuningJob": ("HyperParameterTuningJobName", "hyperParameterTuningJobArn", "hyper-parameter-tuning-job"),
    "CreatePipeline": ("PipelineName", "pipelineArn", "pipeline"),
    "UpdatePipeline": ("PipelineName", "pipelineArn", "pipeline"),
}


def camel(request: Any, *, user: bool = False) -> Any:
    """An API request as CloudTrail writes it: each key's first letter lowered, user maps kept."""
    if isinstance(request, Mapping):
        return {
            (key if user else key[:1].lower() + key[1:]): camel(value, user=key in _USER_KEYS) for key, value in request.items()
        }
    if isinstance(request, list):
        return [camel(item) for item in request]
    return request


def studio_user(user_id: str = USER_ID, role: str = EXECUTION_ROLE, account: str = ACCOUNT) -> dict[str, Any]:
    """``userIdentity`` of a Studio user with TIP: the execution role's session, ``onBehalfOf`` the user."""
    return {
        "type": "AssumedRole",
        "principalId": "AROA123456789EXAMPLE:SageMaker",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/SageMaker",
        "accountId": account,
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROA123456789EXAMPLE",
                "arn": f"arn:aws:iam::{account}:role/{role}",
                "accountId": account,
                "userName": role,
            },
            "attributes": {"creationDate": "2026-12-07T08:00:00Z", "mfaAuthenticated": "false"},
        },
        "onBehalfOf": {"userId": user_id, "identityStoreArn": IDENTITY_STORE},
    }


def role_session(
    role: str = "ml-platform-deployer", session: str = "botocore-session-1", account: str = ACCOUNT
) -> dict[str, Any]:
    """``userIdentity`` of an IAM role session with no Identity Center user (a CI machine, a script)."""
    identity = studio_user(role=role, account=account)
    del identity["onBehalfOf"]
    identity["arn"] = f"arn:aws:sts::{account}:assumed-role/{role}/{session}"
    identity["principalId"] = f"AROA123456789EXAMPLE:{session}"
    return identity


def service_call(service: str, role: str = "ml-platform-automation", account: str = ACCOUNT) -> dict[str, Any]:
    """``userIdentity`` of a call an AWS service (CloudFormation, Step Functions) made with a role."""
    identity = role_session(role, f"{service.split('.')[0]}-session", account)
    identity["invokedBy"] = service
    return identity


def cloudtrail_record(
    operation: str,
    request: Mapping[str, Any],
    *,
    identity: Optional[Mapping[str, Any]] = None,
    event_id: Optional[str] = None,
    event_time: str = "2026-12-07T09:15:02Z",
    region: str = REGION,
    account: str = ACCOUNT,
    error_code: Optional[str] = None,
    user_agent: str = "Boto3/1.40.0 md/Botocore#1.40.0 ua/2.1 os/linux lang/python#3.12 exec-env/AWS_Lambda_python3.12",
) -> dict[str, Any]:
    """The CloudTrail record of ``operation`` sent with the API ``request`` (PascalCase, as boto3 takes it)."""
    name_key, arn_key, kind = _NAMES.get(operation, ("", "", ""))
    name = request.get(name_key) if name_key else None
    record: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": dict(identity) if identity is not None else studio_user(account=account),
        "eventTime": event_time,
        "eventSource": "sagemaker.amazonaws.com",
        "eventName": operation,
        "awsRegion": region,
        "sourceIPAddress": "198.51.100.24",
        "userAgent": user_agent,
        "requestParameters": camel(dict(request)),
        "responseElements": (
            {arn_key: f"arn:aws:sagemaker:{region}:{account}:{kind}/{str(name).lower()}"} if name and not error_code else None
        ),
        "requestID": str(uuid.uuid4()),
        "eventID": event_id or str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if error_code:
        record["errorCode"] = error_code
        record["errorMessage"] = f"{error_code}: the request was refused"
    return record


def eventbridge_event(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` as EventBridge delivers it to a rule's target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.sagemaker",
        "account": record.get("recipientAccountId", ACCOUNT),
        "time": record.get("eventTime"),
        "region": record.get("awsRegion", REGION),
        "resources": [],
        "detail": dict(record),
    }


def lookup_events_export(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    """``records`` as ``aws cloudtrail lookup-events`` prints them (each record a JSON string)."""
    return {
        "Events": [
            {
                "EventId": r.get("eventID"),
                "EventName": r.get("eventName"),
                "ReadOnly": "false",
                "EventTime": r.get("eventTime"),
                "EventSource": r.get("eventSource"),
                "Username": "SageMaker",
                "Resources": [],
                "CloudTrailEvent": json.dumps(r),
            }
            for r in records
        ]
    }


# --------------------------------------------------------------------------- S3 Access Grants and S3 data events


def get_data_access_record(
    target: str,
    permission: str = "READ",
    *,
    event_time: str,
    identity: Optional[Mapping[str, Any]] = None,
    error_code: Optional[str] = None,
    audit_context: Optional[str] = None,
    event_id: Optional[str] = None,
    region: str = REGION,
    account: str = ACCOUNT,
) -> dict[str, Any]:
    """A ``GetDataAccess`` management event, as the AWS Transfer Family User Guide shows one ("CloudTrail
    logging for Transfer Family web apps"): ``eventSource`` ``s3.amazonaws.com``, ``requestParameters``
    ``target``/``permission``/``durationSeconds``, ``responseElements`` null (no credential is ever
    logged), the Access Grants instance as the resource, ``readOnly`` true; a refusal carries
    ``errorCode`` ``AccessDenied`` and the API's message."""
    parameters: dict[str, Any] = {
        "Host": f"{account}.s3-control.dualstack.{region}.amazonaws.com",
        "durationSeconds": 900,
        "permission": permission,
        "target": target,
    }
    if audit_context is not None:
        parameters["auditContext"] = audit_context
    record: dict[str, Any] = {
        "eventVersion": "1.10",
        "userIdentity": dict(identity) if identity is not None else studio_user(account=account),
        "eventTime": event_time,
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetDataAccess",
        "awsRegion": region,
        "sourceIPAddress": "sagemaker.amazonaws.com",
        "userAgent": "sagemaker.amazonaws.com",
        "requestParameters": parameters,
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": event_id or str(uuid.uuid4()),
        "readOnly": True,
        "resources": [
            {
                "type": "AWS::S3::AccessGrantsInstance",
                "ARN": f"arn:aws:s3:{region}:{account}:access-grants/default",
                "accountId": account,
            }
        ],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if error_code:
        record["errorCode"] = error_code
        record["errorMessage"] = f"You do not have {permission} permissions to the requested S3 Prefix: {target}"
    return record


def s3_data_event(
    uri: str,
    *,
    event_time: str,
    session_arn: str,
    issuer_arn: str,
    operation: str = "GetObject",
    on_behalf_of: Optional[str] = None,
    account: str = ACCOUNT,
    region: str = REGION,
) -> dict[str, Any]:
    """An S3 data event for one object: read with a grant's credentials (``session_arn`` an
    ``assumed-role/LOCATION-ROLE/access-grants-…`` session) or with the job's role (``…/SageMaker``).
    ``on_behalf_of`` adds ``onBehalfOf`` (an identity-enhanced session); whether S3 writes it on reads
    with vended credentials is not documented."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    identity: dict[str, Any] = {
        "type": "AssumedRole",
        "arn": session_arn,
        "accountId": account,
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": issuer_arn, "accountId": account}},
    }
    if on_behalf_of:
        identity["onBehalfOf"] = {"userId": on_behalf_of, "identityStoreArn": IDENTITY_STORE}
    return {
        "eventVersion": "1.10",
        "userIdentity": identity,
        "eventTime": event_time,
        "eventSource": "s3.amazonaws.com",
        "eventName": operation,
        "awsRegion": region,
        "requestParameters": {"bucketName": bucket, "key": key, "Host": f"{bucket}.s3.{region}.amazonaws.com"},
        "responseElements": None,
        "eventID": str(uuid.uuid4()),
        "readOnly": operation.startswith(("Get", "Head", "List")),
        "resources": [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"}],
        "eventType": "AwsApiCall",
        "managementEvent": False,
        "recipientAccountId": account,
        "eventCategory": "Data",
    }


# --------------------------------------------------------------------------- the CloudTrail double


class CloudTrailDouble:
    """CloudTrail in process: event history (``LookupEvents``) and one CloudTrail Lake event data store.

    moto does not implement ``LookupEvents`` nor CloudTrail Lake. This double answers them at botocore's
    HTTP layer (``before-send``; requests go to a host no emulator serves, so it works beside moto), so
    botocore parses, pages and retries as it does against AWS:

    * ``LookupEvents``: one lookup attribute at most (``EventName``, ``EventSource``, ``EventId``,
      ``ReadOnly``), ``StartTime``/``EndTime`` inclusive, newest first, at most 50 a page with
      ``NextToken``; ``throttle_every=N`` answers every N-th call ``ThrottlingException`` (HTTP 400),
      as CloudTrail does past two calls a second. ``calls["LookupEvents"]`` counts the calls that got
      through, ``throttled`` those that did not.
    * Lake: ``StartQuery`` (the statement is kept in ``queries``), ``DescribeQuery`` (``RUNNING`` for the
      first ``running_polls`` polls, then ``FINISHED``), ``GetQueryResults`` with the rows of
      ``data_events`` in pages. It does not run SQL: every stored data event is a row, as ``eventJson``,
      and the caller must filter; a double that filtered would hide a caller that does not.

    ``install(boto_session)`` answers for clients made from that session afterwards::

        trail = CloudTrailDouble(records).install(boto_session)
    """

    def __init__(
        self,
        records: Iterable[Mapping[str, Any]] = (),
        data_events: Iterable[Mapping[str, Any]] = (),
        *,
        throttle_every: int = 0,
        running_polls: int = 1,
        event_data_store: str = "arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/s3ag-test-eds",
    ) -> None:
        self.records = [dict(r) for r in records]
        self.data_events = [dict(r) for r in data_events]
        self.throttle_every = throttle_every
        self.running_polls = running_polls
        self.event_data_store = event_data_store
        self.calls: Counter[str] = Counter()
        self.throttled = 0
        self.queries: list[str] = []
        self._attempts = 0
        self._polls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def install(self, target: Any) -> CloudTrailDouble:
        """Answer CloudTrail calls of clients made from ``target`` (a boto3 or botocore session) from now on."""
        events = target.events if hasattr(target, "events") else target.meta.events
        for event, handler in (("request-created.cloudtrail", _off_aws), ("before-send.cloudtrail", self._answer)):
            events.unregister(event, unique_id=f"s3ag-cloudtrail-double-{event}")
            events.register_first(event, handler, unique_id=f"s3ag-cloudtrail-double-{event}")
        return self

    # ------------------------------------------------------------------ HTTP

    def _answer(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        target = request.headers.get("X-Amz-Target", "")
        operation = (target.decode() if isinstance(target, bytes) else str(target)).rpartition(".")[2]
        body = json.loads(request.body or b"{}")
        status, payload = self._handle(operation, body)
        return AWSResponse(
            request.url, status, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(json.dumps(payload, default=str).encode())
        )

    def _handle(self, operation: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if operation == "LookupEvents":
                self._attempts += 1
                if self.throttle_every and self._attempts % self.throttle_every == 0:
                    self.throttled += 1
                    return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
            self.calls[operation] += 1
        handlers = {
            "LookupEvents": self._lookup,
            "StartQuery": self._start_query,
            "DescribeQuery": self._describe_query,
            "GetQueryResults": self._query_results,
            "CancelQuery": lambda body: (200, {"QueryId": body.get("QueryId"), "QueryStatus": "CANCELLED"}),
        }
        handler = handlers.get(operation)
        if handler is None:
            return 400, {"__type": "UnsupportedOperationException", "message": f"{operation} is not emulated"}
        return handler(body)

    # ------------------------------------------------------------------ LookupEvents

    def _lookup(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        attributes = body.get("LookupAttributes") or []
        if len(attributes) > 1:
            return 400, {"__type": "InvalidLookupAttributesException", "message": "only one lookup attribute"}
        limit = int(body.get("MaxResults") or 50)
        if not 1 <= limit <= 50:
            return 400, {"__type": "InvalidMaxResultsException", "message": "MaxResults is 1 to 50"}
        start = _epoch(body.get("StartTime"), float("-inf"))
        end = _epoch(body.get("EndTime"), float("inf"))
        if start > end:
            return 400, {"__type": "InvalidTimeRangeException", "message": "StartTime is after EndTime"}
        field = {"EventName": "eventName", "EventSource": "eventSource", "EventId": "eventID", "ReadOnly": "readOnly"}
        matching = []
        for record in self.records:
            moment = _epoch(record.get("eventTime"), float("nan"))
            if not start <= moment <= end:
                continue
            if attributes:
                key = field.get(attributes[0].get("AttributeKey"), "")
                if str(record.get(key)).lower() != str(attributes[0].get("AttributeValue")).lower():
                    continue
            matching.append(record)
        matching.sort(key=lambda r: _epoch(r.get("eventTime"), 0.0), reverse=True)
        offset = int(body.get("NextToken") or 0)
        page = matching[offset : offset + limit]
        answer: dict[str, Any] = {
            "Events": [
                {
                    "EventId": r.get("eventID"),
                    "EventName": r.get("eventName"),
                    "ReadOnly": str(bool(r.get("readOnly"))).lower(),
                    "EventTime": _epoch(r.get("eventTime"), 0.0),
                    "EventSource": r.get("eventSource"),
                    "Username": "SageMaker",
                    "Resources": [],
                    "CloudTrailEvent": json.dumps(r),
                }
                for r in page
            ]
        }
        if offset + limit < len(matching):
            answer["NextToken"] = str(offset + limit)
        return 200, answer

    # ------------------------------------------------------------------ Lake

    def _start_query(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        statement = str(body.get("QueryStatement", ""))
        store_id = self.event_data_store.rsplit("/", 1)[-1]
        if store_id not in statement and self.event_data_store not in statement:
            return 400, {"__type": "EventDataStoreNotFoundException", "message": "no such event data store"}
        self.queries.append(statement)
        return 200, {"QueryId": str(uuid.UUID(int=len(self.queries)))}

    def _describe_query(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        query = str(body.get("QueryId"))
        self._polls[query] += 1
        status = "RUNNING" if self._polls[query] <= self.running_polls else "FINISHED"
        return 200, {"QueryId": query, "QueryStatus": status}

    def _query_results(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        limit = int(body.get("MaxQueryResults") or 1000)
        offset = int(body.get("NextToken") or 0)
        rows = [[{"eventJson": json.dumps(r)}] for r in self.data_events[offset : offset + limit]]
        answer: dict[str, Any] = {"QueryStatus": "FINISHED", "QueryResultRows": rows}
        if offset + limit < len(self.data_events):
            answer["NextToken"] = f"{offset + limit:04d}"
        return 200, answer


def _off_aws(request: Any, **_: Any) -> None:
    """Send the request to a host no AWS emulator serves, so that moto (whose handler sees every
    request) leaves it to the double, which answers it first."""
    request.url = "https://cloudtrail.s3ag-double.invalid/"


class _Raw:
    """The body of a fake HTTP response, as botocore reads one."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *_: Any) -> bytes:
        return self._data


def _epoch(value: Any, default: float) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return default
    return default
