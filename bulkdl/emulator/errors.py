"""Cloud Manager's error answers: the body format, the codes and their message texts.

Handlers raise `ApiError`; the app's middleware turns it into the response. Messages follow Cloud
Manager's documented error texts where it has one, else Atlas's template for the same code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
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


def _coded(
    status: int, code: str, template: str, *params: str, headers: Mapping[str, str] | None = None
) -> ApiError:
    """An error whose detail is `template` filled with its `params`, as the API's templates are."""
    return ApiError(status, code, template.format(*params), params, headers=headers)


def _retry_after(seconds: float | None) -> dict[str, str]:
    """A Retry-After header only when asked for: v1.0 documents none."""
    return {} if seconds is None else {"Retry-After": f"{seconds:g}"}


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
    return _coded(
        401, "NOT_IN_GROUP", "The current user is not in the group, or the group does not exist."
    )


def ip_not_on_whitelist(address: str) -> ApiError:
    """The key's API access list does not contain the caller's address."""
    template = "IP address {} is not allowed to access this resource."
    return _coded(403, "IP_ADDRESS_NOT_ON_WHITELIST", template, address)


def group_not_found(group_id: str) -> ApiError:
    """A well-formed group id that does not exist."""
    return _coded(404, "GROUP_NOT_FOUND", "No group with ID {} exists.", group_id)


def invalid_group_id(group_id: str) -> ApiError:
    """A group id that is not 24 hex digits."""
    return _coded(404, "INVALID_GROUP_ID", "An invalid group ID {} was specified.", group_id)


def job_not_found(job_id: str, group_id: str) -> ApiError:
    """A well-formed job id that is not in the group (the detail names neither)."""
    template = "No job with the given ID exists in this group."
    return _coded(404, "LOG_COLLECTION_JOB_NOT_FOUND_IN_GROUP", template, job_id, group_id)


def invalid_job_id(job_id: str) -> ApiError:
    """A job id that is not 24 hex digits."""
    template = "An invalid log collection job ID {} was specified."
    return _coded(404, "INVALID_LOG_COLLECTION_JOB_ID", template, job_id)


def cannot_download_expired(job_id: str) -> ApiError:
    """Download of an EXPIRED job (403 per the Cloud Manager table)."""
    template = (
        "Cannot download job {}, as it has expired and the data has been "
        "deleted from the Application Database."
    )
    return _coded(403, "CANNOT_DOWNLOAD_EXPIRED_JOB", template, job_id)


def cannot_download_in_progress(job_id: str) -> ApiError:
    """Download of an IN_PROGRESS job (403 per the Cloud Manager table)."""
    template = "Cannot download job {} as it is in progress."
    return _coded(403, "CANNOT_DOWNLOAD_JOB_IN_PROGRESS", template, job_id)


def invalid_query_parameter(name: str) -> ApiError:
    """A query parameter with a value the API refuses (e.g. itemsPerPage > 500)."""
    return _coded(400, "INVALID_QUERY_PARAMETER", "Invalid query parameter {} specified.", name)


def resource_not_found(path: str) -> ApiError:
    """Any path the API does not have."""
    return _coded(404, "RESOURCE_NOT_FOUND", "Cannot find resource {}.", path)


def method_not_allowed(method: str, path: str) -> ApiError:
    """A method the resource does not support (no documented errorCode: inferred)."""
    return _coded(405, "METHOD_NOT_ALLOWED", "Method {} is not allowed on {}.", method, path)


def range_not_satisfiable(length: int) -> ApiError:
    """A Range that starts past the end of the archive (bulkdl-specific: CM has no Range doc)."""
    template = "The requested range is not satisfiable."
    headers = {"Content-Range": f"bytes */{length}"}
    return _coded(416, "RANGE_NOT_SATISFIABLE", template, str(length), headers=headers)


def rate_limited(
    resource: str,
    limit: int,
    minutes: str,
    *,
    retry_after_s: float | None = None,
    dated: bool = False,
) -> ApiError:
    """429 over the group's request budget; Retry-After only if asked (v1.0 documents none),
    in seconds or (`dated`) as the HTTP-date that many seconds from now."""
    template = "Resource {} is limited to {} requests every {} minutes."
    params = (resource, str(limit), minutes)
    headers = _retry_after(retry_after_s)
    if dated and retry_after_s is not None:
        when = datetime.now(UTC) + timedelta(seconds=retry_after_s)
        headers = {"Retry-After": format_datetime(when, usegmt=True)}
    return _coded(429, "RATE_LIMITED", template, *params, headers=headers)


def unexpected_error(status: int = 500, *, retry_after_s: float | None = None) -> ApiError:
    """The API's only documented 5xx body; other 5xx statuses reuse it with their reason."""
    headers = _retry_after(retry_after_s)
    return _coded(status, "UNEXPECTED_ERROR", "Unexpected error.", headers=headers)


def org_not_found(org_id: str) -> ApiError:
    """A well-formed organization id that does not exist."""
    return _coded(404, "ORG_NOT_FOUND", "No organization with ID {} exists.", org_id)


def invalid_org_id(org_id: str) -> ApiError:
    """An organization id that is not 24 hex digits."""
    return _coded(404, "INVALID_ORG_ID", "An invalid organization ID {} was specified.", org_id)


def invalid_json() -> ApiError:
    """A request body that does not parse as a JSON object."""
    return _coded(400, "INVALID_JSON", "Received JSON is malformed.")


def invalid_json_attribute(name: str) -> ApiError:
    """A body attribute of the wrong JSON type (a string where a number belongs...)."""
    template = "Received JSON for the {} attribute does not match expected format."
    return _coded(400, "INVALID_JSON_ATTRIBUTE", template, name)


def missing_attribute(name: str) -> ApiError:
    """A required body attribute that is absent."""
    template = "The required attribute {} was not specified."
    return _coded(400, "MISSING_ATTRIBUTE", template, name)


def invalid_attribute(name: str) -> ApiError:
    """A body attribute the resource does not have: unknown fields are refused, not ignored."""
    return _coded(400, "INVALID_ATTRIBUTE", "Invalid attribute {} specified.", name)


def invalid_enum_value(value: str) -> ApiError:
    """A resourceType or log type outside its enum."""
    template = "An invalid enumeration value {} was specified."
    return _coded(400, "INVALID_ENUM_VALUE", template, value)


def invalid_log_request_size() -> ApiError:
    """sizeRequestedPerFileBytes that is not a positive integer."""
    template = "Log request size must be a positive number."
    return _coded(400, "INVALID_LOG_REQUEST_SIZE", template)


def invalid_log_request_types() -> ApiError:
    """An empty logTypes list."""
    template = "The list of requested log types must not be empty."
    return _coded(400, "INVALID_LOG_REQUEST_TYPES", template)


def cannot_extend_expired() -> ApiError:
    """PATCH on an EXPIRED job (403 per the Cloud Manager table)."""
    template = "Cannot extend duration of logs that have already expired."
    return _coded(403, "CANNOT_EXTEND_EXPIRED_JOB", template)


def expiration_not_in_future() -> ApiError:
    """PATCH to a date at or before the time of the request."""
    template = "Expiration date for log collection request job must be in the future."
    return _coded(400, "EXPIRATION_DATE_MUST_BE_IN_FUTURE", template)


def expiration_too_distant() -> ApiError:
    """PATCH to a date more than 6 months after the job's creation."""
    template = (
        "Expiration date for log collection request job can only be as far as 6 months "
        "in the future."
    )
    return _coded(400, "EXPIRATION_DATE_TOO_DISTANT", template)


def only_failed_can_restart() -> ApiError:
    """PUT …/retry on a job that is not FAILURE (the message says FAILED, as CM's does)."""
    template = "A log collection request job can only be restarted if it is in the FAILED state."
    return _coded(400, "ONLY_FAILED_JOB_CAN_BE_RESTARTED", template)
