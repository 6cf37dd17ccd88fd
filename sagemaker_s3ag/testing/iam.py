"""Fake IAM policy simulator: ``SimulatePrincipalPolicy`` answered from a table (moto has none).

from sagemaker_s3ag.testing import PolicySimulator
simulator = PolicySimulator({"s3:GetDataAccess": ["arn:aws:s3:*:*:access-grants/default"]})
simulator.install(boto_session)      # clients created from the session after this are answered
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import Any, Optional


class PolicySimulator:
    """Answers ``iam:SimulatePrincipalPolicy``: an action is allowed on the resources its globs match.

    Attributes:
        allow: action -> resource globs (``fnmatch`` patterns) the role may use it on.
        denied: when ``True``, the caller may not call the simulator at all (AccessDenied).
        calls: ``(role ARN, actions, resources)`` of every simulation answered.
    """

    def __init__(self, allow: Optional[Mapping[str, Sequence[str]]] = None, *, denied: bool = False) -> None:
        self.allow = {action: list(globs) for action, globs in dict(allow or {}).items()}
        self.denied = denied
        self.calls: list[tuple[str, list[str], list[str]]] = []

    def decide(self, action: str, resource: str) -> str:
        return "allowed" if any(fnmatch.fnmatchcase(resource, g) for g in self.allow.get(action, ())) else "implicitDeny"

    def install(self, boto_session: Any) -> None:
        """Answer the simulator calls of clients created from ``boto_session`` from now on."""
        from botocore.awsrequest import AWSResponse

        def handler(params: Mapping[str, Any], **_: Any) -> Any:
            body = params.get("body") or {}
            role = str(body.get("PolicySourceArn", ""))
            actions = [v for k, v in sorted(body.items(), key=_member_order) if k.startswith("ActionNames.member.")]
            resources = [v for k, v in sorted(body.items(), key=_member_order) if k.startswith("ResourceArns.member.")]
            if self.denied:
                parsed: dict[str, Any] = {
                    "Error": {"Code": "AccessDenied", "Message": "not authorized to perform: iam:SimulatePrincipalPolicy"}
                }
                status = 403
            else:
                self.calls.append((role, actions, resources))
                parsed = {
                    "EvaluationResults": [
                        {
                            "EvalActionName": action,
                            "EvalResourceName": resource,
                            "EvalDecision": self.decide(action, resource),
                        }
                        for action in actions
                        for resource in resources or ["*"]
                    ],
                    "IsTruncated": False,
                }
                status = 200
            parsed["ResponseMetadata"] = {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}
            return AWSResponse("https://fake-iam.invalid/", status, {}, None), parsed

        event = "before-call.iam.SimulatePrincipalPolicy"
        boto_session.events.unregister(event, unique_id="s3ag-fake-iam-simulator")
        boto_session.events.register(event, handler, unique_id="s3ag-fake-iam-simulator")


def _member_order(item: tuple[str, Any]) -> tuple[str, int]:
    key = item[0]
    match = re.search(r"(\d+)$", key)
    return (key.rsplit(".", 1)[0], int(match.group(1)) if match else 0)
