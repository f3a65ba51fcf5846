"""When to try again, how long to wait first, and the loop that does it.

Everything above `retrying` is pure (no sleeping); `retrying` runs an operation under the policy.

Retried: connection failures, resets and stalls mid-body, bodies shorter than Content-Length,
5xx, 429 (honouring Retry-After; Cloud Manager usually sends none, so we back off on our own)
and an archive that fails --verify. Never retried: other 4xx, a rejected key, a body that is
not gzip, disk errors.
Bounded twice: by attempts and by a deadline per job. Backoff is capped exponential with full
jitter (`random.uniform(0, cap)`), so a fleet of workers does not retry in lockstep.

A short loop of our own rather than stamina/tenacity: a 429 feeds the per-group pacer (the
whole group slows down) and each attempt resumes a download where the last one stopped, which
those libraries' decorator shape does not express more simply.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import anyio

from bulkdl.cloud.pacing import GroupPacer
from bulkdl.domain.errors import (
    BulkdlError,
    CorruptArchive,
    IncompleteDownload,
    NetworkError,
    RateLimited,
    ServerError,
)
from bulkdl.domain.retry_after import wait_too_long

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How hard to try one job (or one listing) before calling it failed.

    No defaults here: they are declared once, with the settings (bulkdl.settings.spec);
    ApiSession builds the policy from them.
    """

    retries: int  # attempts = retries + 1
    deadline_s: float  # no new attempt starts after this many seconds
    initial_backoff_s: float
    max_backoff_s: float = 30.0  # not a setting: the cap the README documents
    retry_after_max_s: float = 300.0  # a longer Retry-After fails at once, saying so

    @property
    def attempts(self) -> int:
        return self.retries + 1


def is_retryable(exc: BulkdlError) -> bool:
    """Transient failures only; a 4xx other than 429 will not change by asking again."""
    if isinstance(exc, CorruptArchive):
        return not exc.repeated  # the same bytes twice: a verdict on them, not the network
    return isinstance(exc, NetworkError | IncompleteDownload | ServerError | RateLimited)


def backoff_s(attempt: int, policy: RetryPolicy, rng: random.Random | None = None) -> float:
    """Wait before attempt `attempt + 1` (attempt counts from 1): full jitter under a cap."""
    cap = min(policy.max_backoff_s, policy.initial_backoff_s * 2 ** (attempt - 1))
    return (rng or random).uniform(0, cap)


def delay_before_retry(
    exc: BulkdlError, attempt: int, policy: RetryPolicy, rng: random.Random | None = None
) -> float:
    """The server's Retry-After when it gave one (capped), else our own backoff."""
    if isinstance(exc, RateLimited) and exc.retry_after_s is not None:
        return min(exc.retry_after_s, policy.max_backoff_s * 4)
    return backoff_s(attempt, policy, rng)


def should_retry(
    exc: BulkdlError, attempt: int, elapsed_s: float, delay_s: float, policy: RetryPolicy
) -> bool:
    """Retry when the error is transient and both bounds leave room for another attempt."""
    return (
        is_retryable(exc) and attempt < policy.attempts and elapsed_s + delay_s < policy.deadline_s
    )


def _waited_too_long(
    exc: RateLimited, policy: RetryPolicy, limit: str = "retry_after_max_s"
) -> RateLimited:
    """The same failure, saying what the server asked for and when a rerun makes sense."""
    asked = exc.retry_after_s or 0.0
    cap = policy.retry_after_max_s if limit == "retry_after_max_s" else policy.deadline_s
    told = RateLimited(
        f"{exc}; {wait_too_long(asked, cap, datetime.now(UTC), limit)}",
        status=exc.status,
        error_code=exc.error_code,
        group_id=exc.group_id,
        job_id=exc.job_id,
        retry_after_s=asked,
    )
    told.attempts = exc.attempts
    return told


async def retrying(
    operation: Callable[[int], Awaitable[T]],
    *,
    group: str,
    policy: RetryPolicy,
    pacer: GroupPacer,
    on_retry: Callable[[BulkdlError, int, float], None] | None = None,
    give_up: Callable[[BulkdlError], bool] | None = None,
) -> tuple[T, int]:
    """Run `operation(attempt)` until it succeeds or the policy gives up.

    Returns the result and the number of attempts; on giving up (policy exhausted, error not
    transient, or `give_up(error)`), re-raises the last error with its `attempts` set.
    """
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        await pacer.wait(group)
        try:
            result = await operation(attempt)
        except BulkdlError as exc:
            exc.attempts = attempt
            if isinstance(exc, RateLimited) and (exc.retry_after_s or 0) > policy.retry_after_max_s:
                raise _waited_too_long(exc, policy) from None
            if isinstance(exc, RateLimited):
                delay = pacer.rate_limited(group, exc)
            else:
                delay = delay_before_retry(exc, attempt, policy)
            elapsed = time.monotonic() - started
            if give_up is not None and give_up(exc):
                raise
            if not should_retry(exc, attempt, elapsed, delay, policy):
                if isinstance(exc, RateLimited) and exc.retry_after_s and attempt < policy.attempts:
                    # Only the server's wait stood in the way: say so, and when to rerun.
                    raise _waited_too_long(exc, policy, "retry_deadline_s") from None
                raise
            if on_retry is not None:
                on_retry(exc, attempt, delay)
            if not isinstance(exc, RateLimited):  # a 429's pause is taken in pacer.wait()
                await anyio.sleep(delay)
            continue
        pacer.succeeded(group)
        return result, attempt
