"""The time filter of a POST (logCollectionFromDate/ToDate): its wire form and its rules.

The docs call both fields ISO-8601 strings; the Go client (2025) and mongocli send int64 epoch
milliseconds, which suggests a Jackson backend that reads both. By default the
emulator reads both (`fleet.FILTER_DATE_FORMS`); `Fleet.filter_date_forms` narrows it to one,
so a client's fallback to the other form can be exercised. A form the server does not read is
a wrongly typed attribute (INVALID_JSON_ATTRIBUTE naming the field), as for any other field.

The rules are the docs': both or neither, the start in the past, and not before the log
history the administrator configured (`Fleet.log_history`). The start must also come before
the end. The docs quote only the messages; the error codes here are our own names.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bulkdl.emulator import errors
from bulkdl.emulator.fleet import FILTER_DATE_FORMS
from bulkdl.emulator.payloads import CreateRequest, parse_iso

ISO_8601, EPOCH_MS = FILTER_DATE_FORMS
FROM, TO = "logCollectionFromDate", "logCollectionToDate"


def check_time_filter(
    request: CreateRequest, now: datetime, *, forms: tuple[str, ...], history: timedelta
) -> None:
    """Raise the 400 the API answers for the request's time filter, if any."""
    raw_from, raw_to = request.log_collection_from_date, request.log_collection_to_date
    if raw_from is None and raw_to is None:
        return
    if raw_from is None or raw_to is None:
        raise _error("NOT_TOGETHER", f"{FROM} and {TO} must be set together.")
    start, end = read_date(FROM, raw_from, forms), read_date(TO, raw_to, forms)
    if start >= now:
        raise _error("FROM_DATE_NOT_IN_PAST", f"{FROM} must be in the past.")
    if start >= end:
        raise _error("FROM_DATE_NOT_BEFORE_TO_DATE", f"{FROM} must be before {TO}.")
    if start < now - history:
        raise _error(
            "FROM_DATE_BEFORE_LOG_HISTORY",
            f"{FROM} must not start earlier than the maximum log history that the Ops Manager "
            f"administrator has configured ({history.days} days).",
        )


def read_date(name: str, value: int | str, forms: tuple[str, ...]) -> datetime:
    """The instant a field names, if the server reads the form it came in."""
    if isinstance(value, int) and EPOCH_MS in forms:
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str) and ISO_8601 in forms and (when := parse_iso(value)) is not None:
        return when
    raise errors.invalid_json_attribute(name)


def _error(code: str, detail: str) -> errors.ApiError:
    return errors.ApiError(400, f"INVALID_LOG_COLLECTION_{code}", detail)
