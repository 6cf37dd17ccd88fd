"""Manifests: the data a manifest channel lists, read so that it can be asked about too.

A ``ManifestFile`` or ``AugmentedManifestFile`` channel names one object, the manifest; SageMaker
then reads every object the manifest lists, with the same credentials, and those may sit under
other prefixes or in other buckets. The preflight reads the manifest (at most
:data:`MAX_MANIFEST_BYTES`, through the user's own session) and asks S3 Access Grants about the
prefixes it lists::

    listed = read_listed(s3_client, "s3://bucket/train.manifest", "ManifestFile", ())
    listed.prefixes          # ("s3://bucket/images/", "s3://other-bucket/more/")

What cannot be read (refused, too large, not a manifest) comes back with ``problem`` set: the
channel is then ``unknown``, with that reason, never taken for granted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from sagemaker_s3ag.core.request import parse_s3_uri, s3_uri_of

MAX_MANIFEST_BYTES = 1 << 20  # a larger manifest is not read: its channel is unknown
MAX_LISTED_PREFIXES = 32  # more folders than this are asked about as one common prefix per bucket
MANIFEST_TYPES = ("ManifestFile", "AugmentedManifestFile")


@dataclass(frozen=True)
class Listed:
    """What a manifest lists, as prefixes to ask about; or why it could not be read."""

    prefixes: tuple[str, ...] = ()
    problem: Optional[str] = None


def read_listed(s3_client: Any, uri: str, data_type: str, attributes: Sequence[str]) -> Listed:
    """The prefixes the manifest at ``uri`` lists (one bounded ``GetObject`` through ``s3_client``)."""
    try:
        bucket, key = parse_s3_uri(s3_uri_of(uri))
        response = s3_client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_MANIFEST_BYTES}")
        body = response["Body"].read(MAX_MANIFEST_BYTES + 1)
    except Exception as err:  # any failure leaves the listed data unchecked, said in a few words
        code = getattr(err, "response", {}).get("Error", {}).get("Code") if hasattr(err, "response") else None
        return Listed(problem=f"the manifest could not be read ({code or type(err).__name__}), so what it lists was not checked")
    if len(body) > MAX_MANIFEST_BYTES:
        return Listed(problem=f"the manifest is larger than {MAX_MANIFEST_BYTES} bytes, so what it lists was not checked")
    try:
        uris = listed_uris(body, data_type, attributes)
    except ValueError as err:
        return Listed(problem=f"the manifest is not a {data_type} ({err}), so what it lists was not checked")
    return Listed(prefixes=prefixes_of(uris))


def listed_uris(body: bytes, data_type: str, attributes: Sequence[str]) -> list[str]:
    """The S3 objects a manifest lists.

    * ``ManifestFile``: a JSON array, ``[{"prefix": "s3://bucket/path/"}, "key1", "key2", ...]``;
    * ``AugmentedManifestFile``: JSON Lines, each an object whose ``attributes`` (all of its
      ``s3://`` string values when none are named) are S3 URIs.

    Raises:
        ValueError: the body is not that kind of manifest, or lists something that is not an S3 URI.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError("not UTF-8 text") from err
    uris = _plain(text) if data_type == "ManifestFile" else _augmented(text, attributes)
    for uri in uris:
        parse_s3_uri(s3_uri_of(uri))  # ValueError, naming it
    return uris


def _plain(text: str) -> list[str]:
    data = json.loads(text)
    if not isinstance(data, list) or not data or not isinstance(data[0], dict) or not isinstance(data[0].get("prefix"), str):
        raise ValueError('it must be a JSON array that starts with {"prefix": "s3://..."}')
    prefix = data[0]["prefix"]
    if not all(isinstance(item, str) for item in data[1:]):
        raise ValueError("every entry after the prefix must be a key (a string)")
    return [prefix + item for item in data[1:]] or [prefix]


def _augmented(text: str, attributes: Sequence[str]) -> list[str]:
    uris: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError(f"line {number} is not a JSON object")
        values: Iterable[Any] = (record.get(name) for name in attributes) if attributes else record.values()
        uris.extend(value for value in values if isinstance(value, str) and value[:5].lower() in ("s3://", "https"))
    return uris


def prefixes_of(uris: Iterable[str]) -> tuple[str, ...]:
    """The folders holding ``uris``; past :data:`MAX_LISTED_PREFIXES`, one common prefix per bucket."""
    folders = sorted({s3_uri_of(uri).rsplit("/", 1)[0] + "/" for uri in uris})
    if len(folders) <= MAX_LISTED_PREFIXES:
        return tuple(folders)
    by_bucket: dict[str, list[str]] = {}
    for folder in folders:
        by_bucket.setdefault(parse_s3_uri(folder)[0], []).append(folder)
    return tuple(os.path.commonprefix(group) for group in by_bucket.values())
