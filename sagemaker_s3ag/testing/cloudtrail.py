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

import uuid
from collections.abc import Mapping
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
    import json

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
