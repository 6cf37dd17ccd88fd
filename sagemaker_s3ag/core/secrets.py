"""Secrets: the credentials GetDataAccess vends are cut out of its answer as it arrives, never kept.

The preflight only needs to know that a grant matched (and until when); the credentials that prove
it are removed from the response body before botocore reads it, so no log record, history record,
parsed response, cache entry, warning or exception ever holds them::

    scrub_on_arrival(s3control_client)     # the client's HTTP session cuts them out
"""

from __future__ import annotations

import re
from typing import Any

_SECRET_ELEMENTS = re.compile(rb"<(AccessKeyId|SecretAccessKey|SessionToken)>.*?</\1>", re.S)


def scrub_credentials(response_dict: dict[str, Any], **_: Any) -> None:
    """botocore ``before-parse`` hook: cut the secret parts out of a GetDataAccess body."""
    body = response_dict.get("body")
    if isinstance(body, bytes) and b"<Credentials>" in body:
        response_dict["body"] = _SECRET_ELEMENTS.sub(b"", body)


class ScrubbingHTTP:
    """Our S3 Control client's HTTP session: a GetDataAccess answer loses its credentials as it arrives.

    botocore's history recorder (``botocore.history``, which the AWS CLI's history feature turns on)
    keeps every raw response body before any event handler could see it; here the secret parts are cut
    out before botocore reads the body at all. The ``before-parse`` hook stays as a second line.
    """

    def __init__(self, http: Any) -> None:
        self._http = http

    def send(self, request: Any) -> Any:
        response = self._http.send(request)
        if "/accessgrantsinstance/dataaccess" in str(getattr(request, "url", "")):
            body = response.content  # read once; botocore reads ``content`` from here on
            if b"<Credentials>" in body:
                response._content = _SECRET_ELEMENTS.sub(b"", body)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._http, name)


def scrub_on_arrival(client: Any) -> None:
    """Make ``client`` (an S3 Control client of ours) cut vended credentials out of GetDataAccess answers."""
    client.meta.events.register("before-parse.s3-control.GetDataAccess", scrub_credentials)
    endpoint = getattr(client, "_endpoint", None)
    http = getattr(endpoint, "http_session", None)
    if endpoint is not None and http is not None and not isinstance(http, ScrubbingHTTP):
        endpoint.http_session = ScrubbingHTTP(http)
