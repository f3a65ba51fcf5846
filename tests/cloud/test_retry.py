"""Retry policy and group pacing (pure, or with a fake clock)."""

from __future__ import annotations

import random

import pytest

from bulkdl.cloud.pacing import RATE_LIMIT_MAX_S, GroupPacer
from bulkdl.cloud.retry import (
    RetryPolicy,
    backoff_s,
    delay_before_retry,
    is_retryable,
    retrying,
    should_retry,
)
from bulkdl.domain.errors import (
    ApiError,
    AuthError,
    CorruptArchive,
    DiskError,
    GroupAccessError,
    IncompleteDownload,
    NetworkError,
    RateLimited,
    ServerError,
    TransferError,
)

POLICY = RetryPolicy(retries=4, deadline_s=60, initial_backoff_s=0.5, max_backoff_s=8)


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (NetworkError("reset"), True),
        (IncompleteDownload("short", received=1, expected=2), True),
        (ServerError("503", status=503), True),
        (RateLimited("429"), True),
        (CorruptArchive("crc"), True),
        (AuthError("401", status=401), False),
        (GroupAccessError("403", status=403), False),
        (ApiError("404", status=404), False),
        (TransferError("not gzip"), False),
        (DiskError("ENOSPC"), False),
    ],
)
def test_only_transient_errors_are_retried(exc: Exception, retry: bool) -> None:
    assert is_retryable(exc) is retry  # type: ignore[arg-type]


def test_backoff_is_capped_full_jitter() -> None:
    rng = random.Random(1)
    for attempt in range(1, 12):
        cap = min(8, 0.5 * 2 ** (attempt - 1))
        samples = [backoff_s(attempt, POLICY, rng) for _ in range(200)]
        assert all(0 <= s <= cap for s in samples)
        assert max(samples) > cap * 0.8  # it does use the whole range


def test_retry_after_wins_but_is_capped() -> None:
    assert delay_before_retry(RateLimited("x", retry_after_s=3), 1, POLICY) == 3
    assert delay_before_retry(RateLimited("x", retry_after_s=10_000), 1, POLICY) == 32


def test_attempts_and_deadline_both_bound() -> None:
    net = NetworkError("reset")
    assert should_retry(net, 4, 0, 1, POLICY)
    assert not should_retry(net, 5, 0, 1, POLICY)  # 5 attempts = retries + 1
    assert not should_retry(net, 1, 59.5, 1, POLICY)  # would start past the deadline


def test_pacer_pauses_a_group_and_grows() -> None:
    now = [100.0]
    pacer = GroupPacer(clock=lambda: now[0])
    rng = random.Random(0)
    pauses = [pacer.rate_limited("g", RateLimited("429"), rng) for _ in range(8)]
    assert 1 <= pauses[0] <= 2
    assert pauses[-1] <= RATE_LIMIT_MAX_S
    assert pauses[-1] >= RATE_LIMIT_MAX_S / 2
    pacer.succeeded("g")
    assert pacer.rate_limited("g", RateLimited("429"), rng) <= 2  # reset after a success
    assert pacer.rate_limited("h", RateLimited("429", retry_after_s=7)) == 7


async def test_retrying_gives_up_with_attempt_count() -> None:
    calls: list[int] = []

    async def always_fails(attempt: int) -> None:
        calls.append(attempt)
        raise ServerError("boom", status=500)

    policy = RetryPolicy(retries=2, deadline_s=60, initial_backoff_s=0.001, max_backoff_s=0.001)
    with pytest.raises(ServerError) as info:
        await retrying(always_fails, group="g", policy=policy, pacer=GroupPacer())
    assert calls == [1, 2, 3]
    assert info.value.attempts == 3


async def test_retrying_stops_at_once_on_a_4xx() -> None:
    calls: list[int] = []

    async def forbidden(attempt: int) -> None:
        calls.append(attempt)
        raise GroupAccessError("nope", status=403)

    with pytest.raises(GroupAccessError):
        await retrying(forbidden, group="g", policy=POLICY, pacer=GroupPacer())
    assert calls == [1]


async def test_retrying_returns_result_and_attempts() -> None:
    async def flaky(attempt: int) -> str:
        if attempt < 3:
            raise NetworkError("reset")
        return "ok"

    policy = RetryPolicy(retries=5, deadline_s=60, initial_backoff_s=0.001, max_backoff_s=0.001)
    assert await retrying(flaky, group="g", policy=policy, pacer=GroupPacer()) == ("ok", 3)
