"""Fake S3 Access Grants: a grants table, served in-process (botocore events) or over loopback HTTP.

Neither moto nor LocalStack implements S3 Access Grants. This fake answers the calls the preflight
makes (``GetDataAccess`` with either ``InstanceScope``, ``ListCallerAccessGrants``,
``GetAccessGrantsInstanceForPrefix``, STS ``GetCallerIdentity``) from a table of grants with
longest-prefix matching, like the service's "closest grant", and instances of other accounts
shared through AWS RAM (``owners``, ``unshared``)::

    from sagemaker_s3ag.testing import AccessGrantsTable, FakeAccessGrantsServer, install_access_grants

    table = AccessGrantsTable().grant("s3://bucket/train/*", "READ")
    install_access_grants(boto_session, table)          # no network: botocore before-call events

    with FakeAccessGrantsServer(table, latency=0.025) as server:    # a real network path on 127.0.0.1
        os.environ.update(server.environment())         # proxy + endpoint URLs for new clients
        server.inject("GetDataAccess", "throttle", times=2)

The credentials it vends are canaries (``table.secret_access_key`` ...) so tests can prove they
never leak.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from sagemaker_s3ag.testing.emulator import ACCOUNT

CANARY_ACCESS_KEY_ID = "canary-s3ag-fake-access-key-id-0000"  # an obvious fake, shaped like no AWS key id
CANARY_SECRET_ACCESS_KEY = "canary-secret-s3ag-0000000000000000000000"
CANARY_SESSION_TOKEN = "canary-session-token-s3ag-0000000000000000"


class AccessGrantsError(Exception):
    """An error answer: code, message and HTTP status, as S3 Control sends them."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class Grant:
    """One grant: ``scope`` like ``s3://bucket/prefix/*`` (or an object), a permission, a grantee type."""

    scope: str
    permission: str = "READ"
    grantee_type: str = "DIRECTORY_USER"

    def covers(self, target: str, permission: str) -> bool:
        if self.permission not in (permission, "READWRITE"):
            return False
        if self.scope.endswith("*"):
            return target.rstrip("*").startswith(self.scope[:-1])
        return target == self.scope


class AccessGrantsTable:
    """The state of the fake: grants, which account owns each bucket's instance, and the caller.

    Attributes:
        account: the caller's account (and, by default, every bucket's instance owner).
        caller_arn: what ``GetCallerIdentity`` answers.
        owners: bucket -> account that owns the Access Grants instance for it.
        unshared: owner accounts whose instance is not shared with the caller at all (every other
            owner's is, through AWS RAM): ``GetDataAccess`` never finds their grants.
        policy_shared: owner accounts whose instance is shared with the caller by a resource policy
            only: found when asked of that account, not by ``InstanceScope="ALL"``.
        no_instance: buckets no Access Grants instance covers.
        denied_operations: operations the caller lacks IAM permission for (``"GetDataAccess"`` ...).
        calls: every call answered, as ``(operation, params)``; ``counts`` tallies them.
    """

    secret_access_key = CANARY_SECRET_ACCESS_KEY
    session_token = CANARY_SESSION_TOKEN
    access_key_id = CANARY_ACCESS_KEY_ID

    def __init__(
        self,
        *,
        account: str = ACCOUNT,
        caller_arn: Optional[str] = None,
        region: str = "us-east-1",
        duration_seconds: Optional[int] = None,
    ) -> None:
        self.account = account
        self.region = region
        self.caller_arn = caller_arn or f"arn:aws:sts::{account}:assumed-role/SageMakerExecutionRole/SageMaker"
        self.grants: list[Grant] = []
        self.owners: dict[str, str] = {}
        self.unshared: set[str] = set()
        self.policy_shared: set[str] = set()
        self.no_instance: set[str] = set()
        self.denied_operations: set[str] = set()
        self.instance_exists = True
        self.identity_center_arn: Optional[str] = "arn:aws:sso:::instance/ssoins-fake0000000000"
        self.duration_seconds = duration_seconds
        self.calls: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._hanging: set[str] = set()
        self._released = threading.Event()

    def grant(self, scope: str, permission: str = "READ", grantee_type: str = "DIRECTORY_USER") -> AccessGrantsTable:
        """Add a grant; returns the table, so calls chain."""
        self.grants.append(Grant(scope, permission, grantee_type))
        return self

    @property
    def counts(self) -> Counter[str]:
        """How many times each operation was answered."""
        with self._lock:
            return Counter(op for op, _ in self.calls)

    def _record(self, operation: str, params: Mapping[str, str]) -> None:
        with self._lock:
            self.calls.append((operation, dict(params)))
        if operation in self._hanging:
            self._released.wait(60)

    def _instance_arn(self, account: str) -> str:
        return f"arn:aws:s3:{self.region}:{account}:access-grants/default"

    @staticmethod
    def _bucket(uri: str) -> str:
        return uri[len("s3://") :].split("/", 1)[0] if uri.startswith("s3://") else ""

    def caller_identity(self) -> dict[str, str]:
        self._record("GetCallerIdentity", {})
        return {"Account": self.account, "Arn": self.caller_arn, "UserId": "AROAFAKE:SageMaker"}

    def instance(self, account_id: str) -> dict[str, str]:
        self._record("GetAccessGrantsInstance", {"AccountId": account_id})
        if "GetAccessGrantsInstance" in self.denied_operations:
            raise AccessGrantsError("AccessDenied", "User is not authorized to perform: s3:GetAccessGrantsInstance", 403)
        if not self.instance_exists:
            raise AccessGrantsError("AccessGrantsInstanceNotExistsError", "Access Grants Instance does not exist", 404)
        found = {"AccessGrantsInstanceArn": self._instance_arn(account_id), "AccessGrantsInstanceId": "default"}
        if self.identity_center_arn:
            found["IdentityCenterArn"] = self.identity_center_arn
        return found

    def instance_for_prefix(self, account_id: str, prefix: str) -> dict[str, str]:
        self._record("GetAccessGrantsInstanceForPrefix", {"AccountId": account_id, "S3Prefix": prefix})
        if "GetAccessGrantsInstanceForPrefix" in self.denied_operations:
            raise AccessGrantsError("AccessDenied", "User is not authorized to perform: s3:GetAccessGrantsInstanceForPrefix", 403)
        bucket = self._bucket(prefix)
        if bucket in self.no_instance:
            raise AccessGrantsError("AccessGrantsInstanceNotExistsError", "Access Grants Instance does not exist", 404)
        owner = self.owners.get(bucket, self.account)
        return {"AccessGrantsInstanceArn": self._instance_arn(owner), "AccessGrantsInstanceId": "default"}

    def _searched(self, account_id: str, scope: Optional[str]) -> set[str]:
        """The instance owners a call with ``AccountId`` and ``InstanceScope`` searches."""
        if account_id == self.account and not self.instance_exists:
            raise AccessGrantsError("AccessGrantsInstanceNotExistsError", "Access Grants Instance does not exist", 404)
        searched = {account_id} if account_id == self.account or account_id not in self.unshared else set()
        if scope == "ALL":
            searched |= {owner for owner in self.owners.values() if owner not in self.unshared | self.policy_shared}
        return searched

    def _owner(self, target: str) -> Optional[str]:
        bucket = self._bucket(target)
        return None if bucket in self.no_instance else self.owners.get(bucket, self.account)

    def get_data_access(self, account_id: str, target: str, permission: str, **extra: str) -> dict[str, Any]:
        self._record("GetDataAccess", {"AccountId": account_id, "Target": target, "Permission": permission, **extra})
        if "GetDataAccess" in self.denied_operations:
            raise AccessGrantsError("AccessDenied", "User is not authorized to perform: s3:GetDataAccess", 403)
        owner = self._owner(target)
        searched = self._searched(account_id, extra.get("InstanceScope"))
        matches = [g for g in self.grants if g.covers(target, permission)] if owner in searched else []
        if not matches:
            raise AccessGrantsError(
                "AccessDenied", f"You do not have {permission} permissions to the requested S3 Prefix: {target}", 403
            )
        best = max(matches, key=lambda g: len(g.scope))
        seconds = self.duration_seconds or int(extra.get("DurationSeconds") or 3600)
        return {
            "Credentials": {
                "AccessKeyId": self.access_key_id,
                "SecretAccessKey": self.secret_access_key,
                "SessionToken": self.session_token,
                "Expiration": datetime.now(timezone.utc) + timedelta(seconds=seconds),
            },
            "MatchedGrantTarget": best.scope,
            "Grantee": {"GranteeType": best.grantee_type, "GranteeIdentifier": "user-1234"},
            "MatchedInstanceArn": self._instance_arn(owner or account_id),
        }

    def list_caller_access_grants(self, account_id: str, **extra: str) -> dict[str, Any]:
        """The caller's grants in the instances searched, a page of ``MaxResults`` (default 100) at a time."""
        self._record("ListCallerAccessGrants", {"AccountId": account_id, **extra})
        if "ListCallerAccessGrants" in self.denied_operations:
            raise AccessGrantsError("AccessDenied", "User is not authorized to perform: s3:ListCallerAccessGrants", 403)
        searched = self._searched(account_id, extra.get("InstanceScope"))
        fragment = extra.get("GrantScope") or ""
        listed = [
            {
                "Permission": g.permission,
                "GrantScope": g.scope,
                "AccessGrantsInstanceArn": self._instance_arn(self._owner(g.scope) or self.account),
            }
            for g in self.grants
            if self._owner(g.scope) in searched and fragment in g.scope
        ]
        start = int(extra.get("NextToken") or 0)
        size = int(extra.get("MaxResults") or 100)
        page: dict[str, Any] = {"CallerAccessGrantsList": listed[start : start + size]}
        if start + size < len(listed):
            page["NextToken"] = str(start + size)
        return page

    def hang(self, *operations: str) -> AccessGrantsTable:
        """Make calls of ``operations`` hang (as an unreachable endpoint would) until :meth:`release`, or 60 s."""
        self._released.clear()
        self._hanging.update(operations)
        return self

    def release(self) -> None:
        """Let every hanging call go on, and stop hanging new ones."""
        self._hanging.clear()
        self._released.set()

    def answer(self, operation: str, params: Mapping[str, str]) -> dict[str, Any]:
        """Dispatch one call by operation name (raises :class:`AccessGrantsError`)."""
        if operation == "GetCallerIdentity":
            return self.caller_identity()
        if operation == "GetAccessGrantsInstanceForPrefix":
            return self.instance_for_prefix(params["AccountId"], params["S3Prefix"])
        if operation == "GetAccessGrantsInstance":
            return self.instance(params["AccountId"])
        if operation == "GetDataAccess":
            rest = {k: v for k, v in params.items() if k not in ("AccountId", "Target", "Permission")}
            return self.get_data_access(params["AccountId"], params["Target"], params["Permission"], **rest)
        if operation == "ListCallerAccessGrants":
            rest = {k: v for k, v in params.items() if k != "AccountId"}
            return self.list_caller_access_grants(params["AccountId"], **rest)
        raise AccessGrantsError("InvalidAction", f"{operation} is not faked", 400)


# --------------------------------------------------------------------------- in-process (botocore events)

_QUERY_NAMES = {
    "target": "Target",
    "permission": "Permission",
    "durationSeconds": "DurationSeconds",
    "privilege": "Privilege",
    "targetType": "TargetType",
    "auditContext": "AuditContext",
    "s3prefix": "S3Prefix",
    "instanceScope": "InstanceScope",
    "grantscope": "GrantScope",
    "maxResults": "MaxResults",
    "nextToken": "NextToken",
    "allowedByApplication": "AllowedByApplication",
}
_EVENTS = {
    "before-call.s3-control.GetAccessGrantsInstance": "GetAccessGrantsInstance",
    "before-call.s3-control.GetDataAccess": "GetDataAccess",
    "before-call.s3-control.GetAccessGrantsInstanceForPrefix": "GetAccessGrantsInstanceForPrefix",
    "before-call.s3-control.ListCallerAccessGrants": "ListCallerAccessGrants",
    "before-call.sts.GetCallerIdentity": "GetCallerIdentity",
}


def _request_params(request_dict: Mapping[str, Any]) -> dict[str, str]:
    params = {_QUERY_NAMES.get(k, k): str(v) for k, v in (request_dict.get("query_string") or {}).items()}
    account = (request_dict.get("headers") or {}).get("x-amz-account-id")
    if account:
        params["AccountId"] = account.decode() if isinstance(account, bytes) else str(account)
    return params


def install_access_grants(target: Any, table: AccessGrantsTable) -> None:
    """Answer Access Grants and STS calls with ``table``: those of clients created from ``target`` from now on.

    ``target`` is a boto3 or botocore session, or a client: sagemaker-s3ag asks about a request that
    came with no SageMaker session (raw boto3, ``@remote``) with the event hooks of the client that
    sends it, so a fake installed on a SageMaker client answers those. Uses botocore ``before-call``
    events; installing again replaces the table.
    """
    from botocore.awsrequest import AWSResponse

    meta = getattr(target, "meta", None)
    events = meta.events if meta is not None and hasattr(meta, "events") else target.events
    for event, operation in _EVENTS.items():

        def handler(params: Mapping[str, Any], operation: str = operation, **_: Any) -> Any:
            try:
                parsed = table.answer(operation, _request_params(params))
                status = 200
            except AccessGrantsError as err:
                parsed = {"Error": {"Code": err.code, "Message": err.message}}
                status = err.status
            parsed["ResponseMetadata"] = {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}
            return AWSResponse("https://fake-access-grants.invalid/", status, {}, None), parsed

        unique = f"s3ag-fake-access-grants-{operation}"
        events.unregister(event, unique_id=unique)
        events.register(event, handler, unique_id=unique)


# --------------------------------------------------------------------------- loopback HTTP


def _xml(root: str, body: str, attributes: str = "") -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><{root}{attributes}>{body}</{root}>'.encode()


_LIST_MEMBERS = {"CallerAccessGrantsList": "AccessGrant"}


def _to_xml(value: Any) -> str:
    if isinstance(value, Mapping):
        return "".join(
            f"<{k}>{''.join(f'<{_LIST_MEMBERS[k]}>{_to_xml(i)}</{_LIST_MEMBERS[k]}>' for i in v)}</{k}>"
            if isinstance(v, list)
            else f"<{k}>{_to_xml(v)}</{k}>"
            for k, v in value.items()
        )
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return escape(str(value))


def proxy_environment(url: str) -> dict[str, str]:
    """Variables that send new clients' STS, S3 and S3 Control calls to the fake listening at ``url``."""
    return {
        "HTTP_PROXY": url,
        "http_proxy": url,
        "NO_PROXY": "",
        "no_proxy": "",
        "AWS_ENDPOINT_URL_S3_CONTROL": "http://s3-control.s3ag.test",
        "AWS_ENDPOINT_URL_STS": "http://sts.s3ag.test",
        "AWS_ENDPOINT_URL_S3": "http://s3.s3ag.test",
    }


@dataclass
class _Fault:
    kind: str
    times: int
    seconds: float = 0.0


class FakeAccessGrantsServer:
    """S3 Access Grants over real HTTP on 127.0.0.1, with injectable latency and faults.

    Clients reach it as an HTTP proxy (S3 Control puts the account id in the host name, which
    does not resolve here), so point a session at it with :meth:`environment`.

    Args:
        table: the grants to answer from.
        latency: seconds added to every answer (one round trip).
    """

    def __init__(self, table: AccessGrantsTable, *, latency: float = 0.0) -> None:
        self.table = table
        self.latency = latency
        self._faults: dict[str, list[_Fault]] = {}
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- control ----------------------------------------------------------------------------

    def inject(self, operation: str, kind: str, *, times: int = 1, seconds: float = 0.0) -> None:
        """Make the next ``times`` calls of ``operation`` fail.

        ``kind``: ``"throttle"`` (503 SlowDown), ``"error"`` (500 InternalError), ``"slow"`` (wait
        ``seconds`` before answering) or ``"drop"`` (close the connection without an answer).
        """
        with self._lock:
            self._faults.setdefault(operation, []).append(_Fault(kind, times, seconds))

    def _next_fault(self, operation: str) -> Optional[_Fault]:
        with self._lock:
            queue = self._faults.get(operation) or []
            while queue and queue[0].times <= 0:
                queue.pop(0)
            if not queue:
                return None
            queue[0].times -= 1
            return queue[0]

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def environment(self) -> dict[str, str]:
        """Variables that send new clients' STS, S3 and S3 Control calls to this server."""
        return proxy_environment(self.url)

    def start(self) -> FakeAccessGrantsServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def setup(self) -> None:
                super().setup()
                # Answers go out in a few small writes: without this, Nagle's algorithm and delayed
                # ACKs add ~40 ms to a call that should cost one injected round trip.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                fake._handle(self)

            do_POST = do_GET
            do_HEAD = do_GET
            do_PUT = do_GET

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (timeouts, dropped connections) is part of the tests

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-access-grants", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeAccessGrantsServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- serving ----------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()} if body else {}
        if parts.path.endswith("/accessgrantsinstance/dataaccess"):
            operation = "GetDataAccess"
        elif parts.path.endswith("/accessgrantsinstance") and request.command == "GET":
            operation = "GetAccessGrantsInstance"
        elif parts.path.endswith("/accessgrantsinstance/prefix"):
            operation = "GetAccessGrantsInstanceForPrefix"
        elif parts.path.endswith("/accessgrantsinstance/caller/grants"):
            operation = "ListCallerAccessGrants"
        elif form.get("Action") == "GetCallerIdentity":
            operation = "GetCallerIdentity"
        else:
            operation = "S3"
        if self.latency:
            time.sleep(self.latency)
        fault = self._next_fault(operation)
        if fault is not None and fault.kind == "drop":
            request.close_connection = True
            request.connection.close()
            return
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind in ("throttle", "error"):
            code, status = ("SlowDown", 503) if fault.kind == "throttle" else ("InternalError", 500)
            self._send(request, status, _xml("Error", f"<Code>{code}</Code><Message>{code}</Message>"))
            return
        if operation == "S3":
            # Enough S3 for the boto3 Access Grants plugin: every bucket and object exists, here.
            self._send(request, 200, b"", {"x-amz-bucket-region": self.table.region})
            return
        params = {_QUERY_NAMES.get(k, k): v for k, v in query.items()}
        account = request.headers.get("x-amz-account-id")
        if account:
            params["AccountId"] = account
        try:
            answer = self.table.answer(operation, params)
        except AccessGrantsError as err:
            self._send(request, err.status, _xml("Error", f"<Code>{err.code}</Code><Message>{escape(err.message)}</Message>"))
            return
        if operation == "GetCallerIdentity":
            payload = _xml(
                "GetCallerIdentityResponse",
                f"<GetCallerIdentityResult>{_to_xml(answer)}</GetCallerIdentityResult>",
                ' xmlns="https://sts.amazonaws.com/doc/2011-06-15/"',
            )
        else:
            payload = _xml(f"{operation}Result", _to_xml(answer))
        self._send(request, 200, payload)

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, payload: bytes, headers: Optional[dict[str, str]] = None) -> None:
        request.send_response(status)
        request.send_header("Content-Type", "application/xml")
        request.send_header("Content-Length", str(len(payload)))
        request.send_header("x-amz-request-id", "fake")
        for key, value in (headers or {}).items():
            request.send_header(key, value)
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(payload)
