"""What to look for: the pattern and the filters, checked and compiled before anything is read.

A Query is plain data (it crosses to worker processes); `compiled()` builds the regex there.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Final

from bulkdl.domain.errors import ConfigError

_REGEX_SYNTAX: Final = frozenset(b".^$*+?{}[]\\|()")


class Mode(Enum):
    """What the caller keeps of each match: the lines, or only counts."""

    LINES = "lines"
    COUNT = "count"  # -c, -l, --summary: counts, severities and first/last times


@dataclass(frozen=True)
class Query:
    pattern: bytes
    fixed: bool = False
    ignore_case: bool = False
    invert: bool = False
    max_count: int | None = None
    from_ms: int | None = None
    to_ms: int | None = None
    severities: frozenset[str] | None = None
    components: frozenset[str] | None = None  # already expanded with their children
    ids: frozenset[int] | None = None
    slow_ms: int | None = None  # attr.durationMillis at least this (decodes the JSON)
    host_glob: str | None = None
    log_types: frozenset[str] | None = None
    mode: Mode = Mode.LINES
    inflater: str | None = None  # None: the fastest installed

    def __post_init__(self) -> None:
        self.regex  # noqa: B018 -- an invalid pattern fails here, before any archive is read

    @cached_property
    def regex(self) -> re.Pattern[bytes]:
        source = re.escape(self.pattern) if self.fixed else self.pattern
        flags = re.MULTILINE | (re.IGNORECASE if self.ignore_case else 0)
        try:
            return re.compile(source, flags)
        except re.error as exc:
            shown = self.pattern.decode("utf-8", "backslashreplace")
            raise ConfigError(f"invalid regular expression {shown!r}: {exc}") from None

    @cached_property
    def literal(self) -> bytes | None:
        """The pattern as a plain string to find, when it is one (case-sensitive, no regex
        syntax, no newline): bytes.find then does the work."""
        if self.ignore_case or not self.pattern or b"\n" in self.pattern:
            return None
        if self.fixed or not any(c in _REGEX_SYNTAX for c in self.pattern):
            return self.pattern
        return None

    @property
    def windowed(self) -> bool:
        return self.from_ms is not None or self.to_ms is not None

    @property
    def matches_every_line(self) -> bool:
        return not self.pattern and not self.invert

    @property
    def needs_fields(self) -> bool:
        """Whether each candidate line's prefix must be read (any field filter)."""
        return (
            self.windowed
            or self.severities is not None
            or self.components is not None
            or self.ids is not None
        )

    def wants_member(self, host: str, log_type: str) -> bool:
        if self.host_glob is not None and not fnmatch.fnmatchcase(host, self.host_glob):
            return False
        return self.log_types is None or log_type in self.log_types
