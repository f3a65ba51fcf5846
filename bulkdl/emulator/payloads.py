"""Request bodies of POST (create) and PATCH (extend), checked as the API checks them.

Unknown fields are refused, not ignored, as the API does. Checks run in a fixed order so each
bad body has one answer: JSON syntax, unknown fields, missing fields (in the documented order),
then each field's type and value. Undocumented choices: a JSON value of the wrong type is
INVALID_JSON_ATTRIBUTE; an empty (or blank) resourceName counts as missing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from bulkdl.emulator import errors
from bulkdl.emulator.fleet import LOG_TYPES

# Any case; REPLICA_SET is the older docs' spelling. Stored (and echoed) lowercase.
RESOURCE_TYPES: Final = {
    "cluster": "cluster",
    "process": "process",
    "replicaset": "replicaset",
    "replica_set": "replicaset",
}
_REQUIRED: Final = ("resourceType", "resourceName", "sizeRequestedPerFileBytes", "logTypes")
_OPTIONAL: Final = ("redacted", "logCollectionFromDate", "logCollectionToDate")


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A valid POST body."""

    resource_type: str  # lowercase, REPLICA_SET folded into replicaset
    resource_name: str
    size_requested_per_file_bytes: int
    log_types: tuple[str, ...]  # as submitted, duplicates dropped
    redacted: bool = False
    log_collection_from_date: int | str | None = None
    log_collection_to_date: int | str | None = None


def parse_create(raw: bytes) -> CreateRequest:
    """The POST body, or the ApiError (400) the API answers for it."""
    body = _object(raw)
    for name in body:
        if name not in _REQUIRED and name not in _OPTIONAL:
            raise errors.invalid_attribute(name)
    for name in _REQUIRED:
        if body.get(name) is None:
            raise errors.missing_attribute(name)
    return CreateRequest(
        resource_type=_resource_type(body["resourceType"]),
        resource_name=_resource_name(body["resourceName"]),
        size_requested_per_file_bytes=_size(body["sizeRequestedPerFileBytes"]),
        log_types=_log_types(body["logTypes"]),
        redacted=_bool(body, "redacted"),
        log_collection_from_date=_filter_date(body, "logCollectionFromDate"),
        log_collection_to_date=_filter_date(body, "logCollectionToDate"),
    )


def parse_extend(raw: bytes) -> datetime:
    """The new expirationDate of a PATCH body (aware, UTC), or the ApiError (400) for it."""
    body = _object(raw)
    for name in body:
        if name != "expirationDate":
            raise errors.invalid_attribute(name)
    value = body.get("expirationDate")
    if value is None:
        raise errors.missing_attribute("expirationDate")
    when = parse_iso(value) if isinstance(value, str) else None
    if when is None:
        raise errors.invalid_json_attribute("expirationDate")
    return when


def parse_iso(text: str) -> datetime | None:
    """An ISO-8601 date or date-time as an aware UTC datetime (no zone means UTC), or None."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
        raise errors.invalid_json() from None
    if not isinstance(body, dict):
        raise errors.invalid_json()
    return body


def _resource_type(value: object) -> str:
    if not isinstance(value, str):
        raise errors.invalid_json_attribute("resourceType")
    folded = RESOURCE_TYPES.get(value.lower())
    if folded is None:
        raise errors.invalid_enum_value(value)
    return folded


def _resource_name(value: object) -> str:
    if not isinstance(value, str):
        raise errors.invalid_json_attribute("resourceName")
    if not value.strip():
        raise errors.missing_attribute("resourceName")
    return value


def _size(value: object) -> int:
    """A positive integer; an integral float (1e7) is one too, as Jackson reads it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise errors.invalid_json_attribute("sizeRequestedPerFileBytes")
    if not math.isfinite(value) or value != int(value) or value <= 0:
        raise errors.invalid_log_request_size()
    return int(value)


def _log_types(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise errors.invalid_json_attribute("logTypes")
    if not value:
        raise errors.invalid_log_request_types()
    for item in value:
        if item not in LOG_TYPES:  # case-sensitive, as a Java enum
            raise errors.invalid_enum_value(item if isinstance(item, str) else json.dumps(item))
    return tuple(dict.fromkeys(value))


def _bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise errors.invalid_json_attribute(name)
    return value


def _filter_date(body: dict[str, Any], name: str) -> int | str | None:
    """An epoch number (GO, mongocli send int64) or an ISO-8601 string (the docs), kept as sent."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and parse_iso(value) is not None:
        return value
    raise errors.invalid_json_attribute(name)
