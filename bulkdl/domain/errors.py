"""bulkdl's errors and exit statuses.

Everything a user, the disk or the network can cause is a BulkdlError, printed as one line
(plus a hint) without a traceback. Which exit status it leads to depends on where it happens:
an error before any download can start ends the run with 2, the same error for one group or
job only fails that group or job (exit 1 at the end).

Every error can say which group and job it is about (`group_id`, `job_id`); `where()` is the
one place that phrases them ("group G job J"), for the messages that name them and for the
summary's failure lines.

* BulkdlError(message, hint, group_id, job_id)
  x ConfigError                         bad flag, config file, credentials, output dir -> exit 2
  x ProxyError                          the proxy refused us (407, 403, tunnel refused) -> exit 2
  x ApiError(status, error_code)
    + AuthError                         401 challenge the key cannot answer -> exit 2
    + GroupAccessError                  401 NOT_IN_GROUP, 403, 404 GROUP_NOT_FOUND: group fails
    + RateLimited(retry_after_s)        429
    + ServerError                       5xx
  x ProtocolError                       the server sent something that is not the documented API
  x NetworkError                        refused, reset, TLS, stalled or cut-short body
    + ResumeRejected                    a Range answer at the wrong offset
      + Misframed                       bytes past Content-Length: this body is not trusted
    + TooSlow                           a body below min_rate_bytes_s over min_rate_window_s
  x TransferError
    + IncompleteDownload(received, expected)
    + CorruptArchive                    --verify: gzip or tar fails to read to its end
    + NotAnArchive                      an HTML/JSON answer, or gzip that does not start a tar
    + DiskError                         writing, syncing or renaming a file failed (path in message)
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """Exit codes a runbook can rely on (documented in the README)."""

    OK = 0  # every downloadable job is on disk
    FAILED = 1  # some job or group failed; each is named in the output and the manifest
    CANNOT_START = 2  # bad flag/config/credentials/output dir, or the API rejected the key
    INTERRUPTED = 130  # SIGINT / SIGTERM


def where(group_id: str | None, job_id: str | None = None) -> str:
    """What a failure is about, as every message names it: "group G job J", "group G", or
    "the API" for a call that concerns no group (the group listing)."""
    if not group_id:
        return "the API"
    return f"group {group_id}" + (f" job {job_id}" if job_id else "")


class BulkdlError(Exception):
    """An expected failure: printed as one line and a hint, never as a traceback."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        group_id: str | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.group_id = group_id
        self.job_id = job_id
        self.attempts = 1  # set by the retry loop when it gives up

    def __str__(self) -> str:
        return self.message


class ConfigError(BulkdlError):
    """The run cannot start: a flag, the config file, credentials or the output directory."""


class ApiError(BulkdlError):
    """The API answered with an error status; carries what the API said and about what."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_code: str | None = None,
        group_id: str | None = None,
        job_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, group_id=group_id, job_id=job_id)
        self.status = status
        self.error_code = error_code


class AuthError(ApiError):
    """The API key pair was rejected (a digest challenge the key could not answer)."""


class GroupAccessError(ApiError):
    """The key cannot reach this group, or the group does not exist: only this group fails."""


class RateLimited(ApiError):
    """429 RATE_LIMITED; `retry_after_s` is the server's Retry-After, if it sent one."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 429,
        error_code: str | None = None,
        group_id: str | None = None,
        job_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(
            message, status=status, error_code=error_code, group_id=group_id, job_id=job_id
        )
        self.retry_after_s = retry_after_s


class ServerError(ApiError):
    """A 5xx answer: the server's fault, worth retrying."""


class ProtocolError(BulkdlError):
    """The server answered 2xx with something that is not the documented API (not JSON, ...)."""


class NetworkError(BulkdlError):
    """The connection failed: refused, reset, TLS, stalled (no data in time), body cut short."""


class ResumeRejected(NetworkError):
    """A Range resume came back at the wrong offset: the next attempt starts from byte 0."""


class Misframed(ResumeRejected):
    """The server sent more than its Content-Length: which length was meant is unknowable, so
    none of this body is kept and the next attempt starts from byte 0."""


class TooSlow(NetworkError):
    """A body kept below the minimum rate for a whole window: retried (and resumed) like a
    stall, since a fresh connection often gets a better route or a less busy server."""


class ProxyError(BulkdlError):
    """The proxy itself refused (407, 403, a refused tunnel): every request would meet it."""


class TransferError(BulkdlError):
    """One archive could not be written completely."""


class IncompleteDownload(TransferError):
    """The body ended before Content-Length bytes arrived."""

    def __init__(self, message: str, *, received: int, expected: int) -> None:
        super().__init__(message)
        self.received = received
        self.expected = expected


class CorruptArchive(TransferError):
    """The archive does not read as gzip+tar to its end, trailers checked (store/
    archive_check.py). `sha256` is that of the bytes judged: the same bytes again earn the same
    verdict, so a retry is only worth it when they differ (`repeated`)."""

    sha256: str | None = None
    repeated = False


class NotAnArchive(TransferError):
    """A 2xx that is not a log archive (a login page, a JSON answer, gzip of something else)."""


class DiskError(TransferError):
    """Writing, syncing or renaming a file failed (no space, permissions, ...)."""


def error_code(exc: BulkdlError) -> str:
    """The API's errorCode when it sent one, else bulkdl's name for the kind of failure.

    Stable names a runbook can branch on (`failures[].errorCode`, the manifest's lines).
    """
    if isinstance(exc, ApiError):
        return exc.error_code or f"HTTP_{exc.status}"
    for kind, code in _KINDS:
        if isinstance(exc, kind):
            return code
    return "ERROR"


_KINDS: tuple[tuple[type[BulkdlError], str], ...] = (
    (ResumeRejected, "RESUME_REJECTED"),
    (NetworkError, "NETWORK"),
    (IncompleteDownload, "INCOMPLETE_DOWNLOAD"),
    (CorruptArchive, "CORRUPT_ARCHIVE"),
    (DiskError, "DISK"),
    (ProtocolError, "PROTOCOL"),
    (ConfigError, "CONFIG"),
)
