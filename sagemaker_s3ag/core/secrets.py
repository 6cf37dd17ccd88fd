"""Secrets: the credentials GetDataAccess vends are cut out of its answer as it arrives, never kept.

The preflight only needs to know that a grant matched (and until when); the credentials that prove
it are removed from the response body before botocore reads it, so no log record, history record,
parsed response, cache entry, warning or exception ever holds them::

    scrub_on_arrival(s3control_client)     # the client's HTTP session cuts them out
"""

from __future__ import annotations

import re
from typing import Any

# Each secret element however it is spelt in well-formed XML: a namespace prefix, attributes, spaces,
# CDATA or entities inside (botocore's parser reads them all the same).
_NAMES = rb"(?:[\w.-]+:)?(AccessKeyId|SecretAccessKey|SessionToken)"
_SECRET_ELEMENTS = re.compile(rb"<\s*" + _NAMES + rb"(?:\s[^>]*)?>.*?<\s*/\s*(?:[\w.-]+:)?\1\s*>", re.S | re.I)
# A secret element left after the cut (unclosed, or spelt in a way not foreseen). Element text, where a
# grant's own prefix may well read "accesskeyid=…", is escaped by XML and never matches.
_ANY_LEFT = re.compile(rb"<\s*/?\s*" + _NAMES + rb"[\s/>]", re.I)
_NOTHING = b"<GetDataAccessResult></GetDataAccessResult>"  # what is left of a body we cannot cut cleanly


def scrubbed(body: bytes, status: Any = 200) -> bytes:
    """``body`` without its secret elements; an answer that still names one after the cut (malformed, or
    spelt in a way not foreseen) is replaced whole: an answer without credentials, which is ``unknown``.
    An error's body is only cut (its code may name one: ``InvalidAccessKeyId``)."""
    body = _SECRET_ELEMENTS.sub(b"", body)
    answer = not isinstance(status, int) or status < 300
    return _NOTHING if answer and _ANY_LEFT.search(body) else body


def scrub_credentials(response_dict: dict[str, Any], **_: Any) -> None:
    """botocore ``before-parse`` hook: cut the secret parts out of a GetDataAccess body."""
    body = response_dict.get("body")
    if isinstance(body, bytes):
        response_dict["body"] = scrubbed(body, response_dict.get("status_code"))


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
            if isinstance(body, bytes):
                response._content = scrubbed(body, getattr(response, "status_code", None))
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
