"""One API session: the client, its pacing and retry policy, and which groups a command covers.

Downloads (`runner`) and the fleet commands (`actions`, the CLI's `groups`/`list`) all call the
API through it, so "retry this", "give up at once when nothing answers", "this error ends the
whole command" and "which groups" mean the same everywhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bulkdl.cloud.client import CloudManagerClient, is_fatal
from bulkdl.cloud.pacing import GroupPacer, RequestBudget
from bulkdl.cloud.retry import RetryPolicy, retrying
from bulkdl.domain.errors import BulkdlError, NetworkError
from bulkdl.domain.models import GroupId, GroupInfo, Malformed
from bulkdl.domain.selection import choose_groups, select_groups
from bulkdl.settings.load import Settings

T = TypeVar("T")

OnRetry = Callable[[BulkdlError, int, float], None]


@dataclass(frozen=True, slots=True)
class Groups:
    """The groups a command covers, and what was found wrong while choosing them."""

    chosen: list[GroupId]
    names: dict[str, str] = field(default_factory=dict)  # discovered groups' names
    malformed: list[Malformed] = field(default_factory=list)  # listed, skipped for their id
    missing: list[str] = field(default_factory=list)  # one line per --group not found


class ApiSession:
    """A client plus the retry machinery, for one command.

    `on_retry` hears every retry (a download's reporter shows them); `max_connections`
    defaults to the listing concurrency, which is all a command that downloads nothing needs.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        max_connections: int | None = None,
        on_retry: OnRetry | None = None,
    ) -> None:
        self.settings = settings
        self.client = CloudManagerClient(
            settings,
            max_connections=max_connections or settings.list_concurrency,
            budget=RequestBudget(settings.requests_per_minute, window_s=settings.rate_window_s),
        )
        self.pacer = GroupPacer()
        self.policy = RetryPolicy(
            retries=settings.retries,
            deadline_s=settings.retry_deadline_s,
            initial_backoff_s=settings.retry_backoff_s,
            retry_after_max_s=settings.retry_after_max_s,
        )
        self._on_retry = on_retry

    def never_reached(self, exc: BulkdlError) -> bool:
        """Nothing answers at base_url at all: retrying would only delay saying so."""
        return isinstance(exc, NetworkError) and not self.client.reached

    def fatal(self, exc: BulkdlError) -> bool:
        """An error that makes every other request pointless: it ends the command (exit 2)."""
        return is_fatal(exc) or self.never_reached(exc)

    async def call(self, group: str, operation: Callable[[], Awaitable[T]]) -> T:
        """One API operation under the retry policy (given up at once when nothing answers)."""
        result, _ = await self.attempts(group, lambda _attempt: operation())
        return result

    async def attempts(
        self,
        group: str,
        operation: Callable[[int], Awaitable[T]],
        *,
        on_retry: OnRetry | None = None,
    ) -> tuple[T, int]:
        """`call`, for an operation that wants its attempt number (and its own retry report,
        else the session's); returns the result and how many attempts it took."""
        return await retrying(
            operation,
            group=group,
            policy=self.policy,
            pacer=self.pacer,
            on_retry=on_retry or self._on_retry,
            give_up=self.never_reached,
        )

    async def list_groups(self) -> tuple[list[GroupInfo], list[Malformed]]:
        """Every group the key can see (or the org's), and the entries skipped for their id."""
        return await self.call(GroupId(""), lambda: self.client.list_groups(self.settings.org))

    async def visible_groups(self) -> tuple[list[GroupInfo], list[str]]:
        """The groups the key can see, narrowed by the name glob; one line per malformed id."""
        found, malformed = await self.list_groups()
        return select_groups(found, self.settings.group_name), [m.error for m in malformed]

    async def resolve_groups(self) -> Groups:
        """The configured groups, or the discovered ones narrowed by org and name.

        Raises what listing the groups raised, and ConfigError when discovery leaves none.
        """
        if not self.settings.discover:
            return Groups(list(self.settings.groups))
        found, malformed = await self.list_groups()
        chosen, missing = choose_groups(self.settings, found)
        return Groups(chosen, {g.id: g.name for g in found}, malformed, missing)
