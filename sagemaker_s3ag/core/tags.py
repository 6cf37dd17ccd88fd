"""Tags: the ``s3ag:`` record written onto each job, merged with the user's tags within AWS limits.

Keys (all under the reserved prefix ``s3ag:``)::

    s3ag:credentials           access-grants | iam-role | mixed | unknown
    s3ag:identity-propagation  enabled | disabled
    s3ag:adjustments           ids of the rules that changed the request, space separated, or none
    s3ag:fallback              why some location falls back to the IAM role (when one does)
    s3ag:launched-by           user (fit()/run() by hand) | pipeline (a SageMaker Pipelines step)
    s3ag:version               sagemaker-s3ag's version

SageMaker tag values may hold only letters, digits, spaces and ``_ . : / = + - @``, so lists are
space separated (a comma would be refused by the API).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sagemaker_s3ag.core.findings import Finding

PREFIX = "s3ag:"
MAX_TAGS = 50
MAX_VALUE = 256
MAX_KEY = 128

# The order in which our tags are kept when the user's tags leave too little room: whether TIP was
# on first (what an SCP can require, and what marks a record), then the version (what tells a record
# sagemaker-s3ag wrote), then the prediction.
KEYS = (
    "s3ag:identity-propagation",
    "s3ag:version",
    "s3ag:credentials",
    "s3ag:adjustments",
    "s3ag:fallback",
    "s3ag:launched-by",
)
_NOT_ALLOWED = re.compile(r"[^\w\s.:/=+\-@]")


def tag_value(text: str) -> str:
    """``text`` made safe as a SageMaker tag value: allowed characters only, at most 256 of them."""
    cleaned = " ".join(_NOT_ALLOWED.sub(" ", text).split())
    return cleaned if len(cleaned) <= MAX_VALUE else cleaned[: MAX_VALUE - 3].rstrip() + "..."


def is_ours(tag: Mapping[str, Any]) -> bool:
    """Whether a tag belongs to the ``s3ag:`` record."""
    key = tag.get("Key")
    return isinstance(key, str) and key.startswith(PREFIX)


def merge_tags(
    existing: Sequence[Mapping[str, Any]] | None, record: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[Finding]]:
    """The request's tags with our ``record`` added, as a new list.

    * The user's tags are kept, in order, untouched; ``existing`` is not modified.
    * A user tag under ``s3ag:`` is replaced by the fresh record (with a finding, so a warning names it).
    * Never more than 50 tags: when the user's tags leave too little room, ours are kept in
      :data:`KEYS` order and the rest are named in a finding.

    Raises:
        TypeError: ``existing`` is not a list of ``{"Key": ..., "Value": ...}`` mappings; names the tag.
        ValueError: a tag the API would refuse (key of 1 to 128 characters, value of at most 256,
            SageMaker's characters, unique keys, at most 50); names the tag.
    """
    existing = check_tags(existing)
    findings: list[Finding] = []
    users = [dict(tag) for tag in existing if not is_ours(tag)]
    stale = sorted({str(tag.get("Key")) for tag in existing if is_ours(tag)})
    if stale and earlier_record(existing):  # settled before (another process, a definition sent again)
        findings.append(Finding("tags", "noted", "Tags", "the request's earlier s3ag: record was renewed", explicit=False))
    elif stale:
        findings.append(
            Finding(
                "tags",
                "replaced",
                "Tags",
                f"tag key{'s' if len(stale) > 1 else ''} {', '.join(stale)} belong{'' if len(stale) > 1 else 's'} "
                "to sagemaker-s3ag's record and were replaced with this job's record",
            )
        )
    ours = [{"Key": key, "Value": tag_value(record[key])} for key in KEYS if key in record]
    room = max(MAX_TAGS - len(users), 0)
    if room < len(ours):
        left_out = [tag["Key"] for tag in ours[room:]]
        findings.append(
            Finding(
                "tags",
                "noted",
                "Tags",
                f"the job already has {len(users)} tags and SageMaker allows {MAX_TAGS}; not recorded on the "
                f"job: {', '.join(left_out)} (the decision object still has them)",
            )
        )
        ours = ours[:room]
    return users + ours, findings


def earlier_record(tags: Any) -> dict[str, str]:
    """The ``s3ag:`` record a request already carries, when sagemaker-s3ag wrote it (it has
    ``s3ag:version`` or ``s3ag:identity-propagation``, the two kept first when tags run short)."""
    if not isinstance(tags, (list, tuple)):
        return {}
    record = record_from_tags(tag for tag in tags if isinstance(tag, Mapping) and "Key" in tag)
    written = record.get("s3ag:identity-propagation") in _IDENTITY_VALUES or bool(
        _VERSION.fullmatch(record.get("s3ag:version", ""))
    )
    return record if written else {}  # a tag of ours holding what we never write is the user's: replaced


_IDENTITY_VALUES = ("enabled", "disabled", "unknown")
_VERSION = re.compile(r"\d+\.\d+[0-9A-Za-z.+_-]*")


def check_tags(tags: Any) -> list[Mapping[str, Any]]:
    """``tags`` as a list of tag mappings, if the API would take them; otherwise one clear error naming the tag."""
    if tags is None:
        return []
    if isinstance(tags, (str, bytes, Mapping)) or not isinstance(tags, (list, tuple)):
        raise TypeError(f"Tags must be a list of {{'Key': ..., 'Value': ...}} mappings, not {type(tags).__name__} {_short(tags)}")
    seen: set[str] = set()
    for index, tag in enumerate(tags):
        if not isinstance(tag, Mapping) or "Key" not in tag:
            raise TypeError(f"tag #{index} {_short(tag)} is not a {{'Key': ..., 'Value': ...}} mapping")
        key, value = tag["Key"], tag.get("Value")
        if not isinstance(key, str):
            raise TypeError(f"tag #{index} {_short(tag)}: its Key must be a string")
        if not 1 <= len(key) <= MAX_KEY or _NOT_ALLOWED.search(key):
            raise ValueError(f"tag #{index} {_short(tag)}: a Key has 1 to {MAX_KEY} letters, digits, spaces or _ . : / = + - @")
        if not _is_pipeline_value(value):
            if not isinstance(value, str):
                raise TypeError(f"tag #{index} {_short(tag)}: its Value must be a string")
            if len(value) > MAX_VALUE or _NOT_ALLOWED.search(value):
                raise ValueError(
                    f"tag #{index} {_short(tag)}: a Value has at most {MAX_VALUE} letters, digits, spaces or _ . : / = + - @"
                )
        if key in seen:
            raise ValueError(f"tag #{index} {_short(tag)}: the key {key!r} is given twice")
        seen.add(key)
    if len(tags) > MAX_TAGS:
        raise ValueError(f"the request has {len(tags)} tags; SageMaker takes at most {MAX_TAGS}")
    return list(tags)


def _is_pipeline_value(value: Any) -> bool:
    return isinstance(value, Mapping) and len(value) == 1 and str(next(iter(value))).startswith(("Get", "Std:"))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def record_from_tags(tags: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The ``s3ag:`` record among a job's tags (as ``ListTags`` returns them)."""
    return {str(tag["Key"]): str(tag.get("Value", "")) for tag in tags if isinstance(tag, Mapping) and is_ours(tag)}
