"""Cloud Manager's error answers: the body format, the codes and their message texts.

Handlers raise `ApiError`; the app's middleware turns it into the response. Messages follow the
reference's table (Cloud Manager text where it has one, else the Atlas template).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web
from multidict import CIMultiDict

ERROR_CONTENT_TYPE: Final = "application/json;charset=ISO-8859-1"


class ApiError(Exception):
    """An error answer. `error_code=None` is the bare 401 of a rejected key (no code, no params)."""

    def __init__(
        self,
        status: int,
        error_code: str | None,
        detail: str,
        parameters: Sequence[str] = (),
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(f"{status} {error_code}: {detail}")
        self.status = status
        self.error_code = error_code
        self.detail = detail
        self.parameters = list(parameters)
        self.headers: CIMultiDict[str] = CIMultiDict(headers or {})  # a header may repeat

    def body(self) -> dict[str, Any]:
        """The JSON document, keys alphabetical like the real API's."""
        doc: dict[str, Any] = {"detail": self.detail, "error": self.status}
        if self.error_code is not None:
            doc["errorCode"] = self.error_code
            doc["parameters"] = self.parameters
        doc["reason"] = HTTPStatus(self.status).phrase
        return doc

    def to_response(self) -> web.Response:
        """The aiohttp response carrying this error."""
        headers = self.headers.copy()
        headers["Content-Type"] = ERROR_CONTENT_TYPE
        return web.Response(
            status=self.status,
            body=json.dumps(self.body()).encode("latin-1", "replace"),
            headers=headers,
        )


def unauthorized(*challenges: str) -> ApiError:
    """A rejected or missing Authorization header: 401 with a fresh digest challenge (after any
    other challenges a server in front of the API offers, one WWW-Authenticate header each)."""
    return ApiError(
        401,
        None,
        "You are not authorized for this resource.",
        headers=[("WWW-Authenticate", challenge) for challenge in challenges],
    )


def not_in_group() -> ApiError:
    """The key is valid but not a member of the project (no challenge: retrying cannot help)."""
    return ApiError(
        401, "NOT_IN_GROUP", "The current user is not in the group, or the group does not exist."
    )


def ip_not_on_whitelist(address: str) -> ApiError:
    """The key's API access list does not contain the caller's address."""
    return ApiError(
        403,
        "IP_ADDRESS_NOT_ON_WHITELIST",
        f"IP address {address} is not allowed to access this resource.",
        [address],
    )


def group_not_found(group_id: str) -> ApiError:
    """A well-formed group id that does not exist."""
    return ApiError(404, "GROUP_NOT_FOUND", f"No group with ID {group_id} exists.", [group_id])


def invalid_group_id(group_id: str) -> ApiError:
    """A group id that is not 24 hex digits."""
    return ApiError(
        404, "INVALID_GROUP_ID", f"An invalid group ID {group_id} was specified.", [group_id]
    )


def job_not_found(job_id: str, group_id: str) -> ApiError:
    """A well-formed job id that is not in the group."""
    return ApiError(
        404,
        "LOG_COLLECTION_JOB_NOT_FOUND_IN_GROUP",
        "No job with the given ID exists in this group.",
        [job_id, group_id],
    )


def invalid_job_id(job_id: str) -> ApiError:
    """A job id that is not 24 hex digits."""
    return ApiError(
        404,
        "INVALID_LOG_COLLECTION_JOB_ID",
        f"An invalid log collection job ID {job_id} was specified.",
        [job_id],
    )


def cannot_download_expired(job_id: str) -> ApiError:
    """Download of an EXPIRED job (403 per the Cloud Manager table)."""
    return ApiError(
        403,
        "CANNOT_DOWNLOAD_EXPIRED_JOB",
        f"Cannot download job {job_id}, as it has expired and the data has been "
        "deleted from the Application Database.",
        [job_id],
    )


def cannot_download_in_progress(job_id: str) -> ApiError:
    """Download of an IN_PROGRESS job (403 per the Cloud Manager table)."""
    return ApiError(
        403,
        "CANNOT_DOWNLOAD_JOB_IN_PROGRESS",
        f"Cannot download job {job_id} as it is in progress.",
        [job_id],
    )


def invalid_query_parameter(name: str) -> ApiError:
    """A query parameter with a value the API refuses (e.g. itemsPerPage > 500)."""
    return ApiError(
        400, "INVALID_QUERY_PARAMETER", f"Invalid query parameter {name} specified.", [name]
    )


def resource_not_found(path: str) -> ApiError:
    """Any path the API does not have."""
    return ApiError(404, "RESOURCE_NOT_FOUND", f"Cannot find resource {path}.", [path])


def method_not_allowed(method: str, path: str) -> ApiError:
    """A method the resource does not support (no documented errorCode: inferred)."""
    return ApiError(
        405, "METHOD_NOT_ALLOWED", f"Method {method} is not allowed on {path}.", [method, path]
    )


def range_not_satisfiable(length: int) -> ApiError:
    """A Range that starts past the end of the archive (bulkdl-specific: CM has no Range doc)."""
    return ApiError(
        416,
        "RANGE_NOT_SATISFIABLE",
        "The requested range is not satisfiable.",
        [str(length)],
        headers={"Content-Range": f"bytes */{length}"},
    )


def rate_limited(
    resource: str, limit: int, minutes: str, *, retry_after_s: float | None = None
) -> ApiError:
    """429 over the group's request budget; Retry-After only if asked (v1.0 documents none)."""
    headers = {} if retry_after_s is None else {"Retry-After": f"{retry_after_s:g}"}
    return ApiError(
        429,
        "RATE_LIMITED",
        f"Resource {resource} is limited to {limit} requests every {minutes} minutes.",
        [resource, str(limit), minutes],
        headers=headers,
    )


def unexpected_error(status: int = 500, *, retry_after_s: float | None = None) -> ApiError:
    """The API's only documented 5xx body; other 5xx statuses reuse it with their reason."""
    headers = {} if retry_after_s is None else {"Retry-After": f"{retry_after_s:g}"}
    return ApiError(status, "UNEXPECTED_ERROR", "Unexpected error.", headers=headers)


def org_not_found(org_id: str) -> ApiError:
    """A well-formed organization id that does not exist."""
    return ApiError(404, "ORG_NOT_FOUND", f"No organization with ID {org_id} exists.", [org_id])


def invalid_org_id(org_id: str) -> ApiError:
    """An organization id that is not 24 hex digits."""
    return ApiError(
        404, "INVALID_ORG_ID", f"An invalid organization ID {org_id} was specified.", [org_id]
    )


def invalid_json() -> ApiError:
    """A request body that does not parse as a JSON object."""
    return ApiError(400, "INVALID_JSON", "Received JSON is malformed.")


def invalid_json_attribute(name: str) -> ApiError:
    """A body attribute of the wrong JSON type (a string where a number belongs...)."""
    return ApiError(
        400,
        "INVALID_JSON_ATTRIBUTE",
        f"Received JSON for the {name} attribute does not match expected format.",
        [name],
    )


def missing_attribute(name: str) -> ApiError:
    """A required body attribute that is absent."""
    return ApiError(
        400, "MISSING_ATTRIBUTE", f"The required attribute {name} was not specified.", [name]
    )


def invalid_attribute(name: str) -> ApiError:
    """A body attribute the resource does not have: unknown fields are refused, not ignored."""
    return ApiError(400, "INVALID_ATTRIBUTE", f"Invalid attribute {name} specified.", [name])


def invalid_enum_value(value: str) -> ApiError:
    """A resourceType or log type outside its enum."""
    return ApiError(
        400, "INVALID_ENUM_VALUE", f"An invalid enumeration value {value} was specified.", [value]
    )


def invalid_log_request_size() -> ApiError:
    """sizeRequestedPerFileBytes that is not a positive integer."""
    return ApiError(400, "INVALID_LOG_REQUEST_SIZE", "Log request size must be a positive number.")


def invalid_log_request_types() -> ApiError:
    """An empty logTypes list."""
    return ApiError(
        400, "INVALID_LOG_REQUEST_TYPES", "The list of requested log types must not be empty."
    )


def cannot_extend_expired() -> ApiError:
    """PATCH on an EXPIRED job (403 per the Cloud Manager table)."""
    return ApiError(
        403,
        "CANNOT_EXTEND_EXPIRED_JOB",
        "Cannot extend duration of logs that have already expired.",
    )


def expiration_not_in_future() -> ApiError:
    """PATCH to a date at or before the time of the request."""
    return ApiError(
        400,
        "EXPIRATION_DATE_MUST_BE_IN_FUTURE",
        "Expiration date for log collection request job must be in the future.",
    )


def expiration_too_distant() -> ApiError:
    """PATCH to a date more than 6 months after the job's creation."""
    return ApiError(
        400,
        "EXPIRATION_DATE_TOO_DISTANT",
        "Expiration date for log collection request job can only be as far as 6 months "
        "in the future.",
    )


def only_failed_can_restart() -> ApiError:
    """PUT …/retry on a job that is not FAILURE (the message says FAILED, as CM's does)."""
    return ApiError(
        400,
        "ONLY_FAILED_JOB_CAN_BE_RESTARTED",
        "A log collection request job can only be restarted if it is in the FAILED state.",
    )
