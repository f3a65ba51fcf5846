"""Faults spelled as short strings, so a rehearsal can inject them from a command line.

    reset:1000  500  503-html  429  429:retry-after=2  stall:1000:5  chunked:1000  not-gzip
    corrupt-gzip  stale-nonce  html  html:502  not-json  missing-results  repeating-next
    malformed-id  slow-answer:2

A 5xx may carry `:retry-after=S` too; `always:` in front makes any of them persistent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Final

from bulkdl.emulator.faults import (
    Always,
    CorruptGzip,
    Fault,
    FaultKind,
    HtmlPage,
    MalformedId,
    MissingResults,
    NotGzip,
    NotJson,
    RateLimit,
    RepeatingNext,
    ResetAfter,
    ServerFault,
    SlowAnswer,
    StaleNonce,
    Stall,
    TruncatedChunked,
)

SPEC_HELP: Final = (
    "reset:BYTES, 5xx[-html][:retry-after=S], 429[:retry-after=S], stall:BYTES:SECONDS, "
    "chunked:BYTES, not-gzip, corrupt-gzip, stale-nonce, html[:STATUS], not-json, "
    "missing-results, repeating-next, malformed-id, slow-answer:SECONDS; "
    "prefix always: to repeat on every attempt"
)
_PLAIN: Final[dict[str, Callable[[], FaultKind]]] = {
    "not-gzip": NotGzip,
    "corrupt-gzip": CorruptGzip,
    "stale-nonce": StaleNonce,
    "html": HtmlPage,
    "not-json": NotJson,
    "missing-results": MissingResults,
    "repeating-next": RepeatingNext,
    "malformed-id": MalformedId,
}
_STATUS: Final = re.compile(r"(?P<status>\d{3})(?P<html>-html)?(?::retry-after=(?P<after>[^:]+))?")
_BYTES: Final = re.compile(r"(?P<kind>reset|chunked):(?P<bytes>\d+)")
_STALL: Final = re.compile(r"stall:(?P<bytes>\d+):(?P<seconds>[^:]+)")
_HTML: Final = re.compile(r"html:(?P<status>\d{3})")
_SLOW: Final = re.compile(r"slow-answer:(?P<seconds>[^:]+)")


def parse_fault_spec(spec: str) -> Fault:
    """One fault from its spelling; ValueError naming the accepted forms otherwise."""
    text = spec.strip().lower()
    if text.startswith("always:"):
        return Always(_parse_kind(spec, text.removeprefix("always:")))
    return _parse_kind(spec, text)


def parse_fault_specs(specs: str) -> list[Fault]:
    """A comma-separated list of specs, e.g. "503,reset:1000" (one fault per attempt)."""
    return [parse_fault_spec(part) for part in specs.split(",") if part.strip()]


def _parse_kind(spec: str, text: str) -> FaultKind:
    try:
        fault = _build(text)
    except ValueError as exc:  # a field's own check, e.g. status 418 for a ServerFault
        raise ValueError(f"bad fault spec {spec!r}: {exc}") from None
    if fault is None:
        raise ValueError(f"unknown fault spec {spec!r}; expected one of: {SPEC_HELP}")
    return fault


def _build(text: str) -> FaultKind | None:
    if (plain := _PLAIN.get(text)) is not None:
        return plain()
    if match := _BYTES.fullmatch(text):
        n_bytes = int(match["bytes"])
        return ResetAfter(n_bytes) if match["kind"] == "reset" else TruncatedChunked(n_bytes)
    if match := _STALL.fullmatch(text):
        return Stall(int(match["bytes"]), _seconds(match["seconds"]))
    if match := _SLOW.fullmatch(text):
        return SlowAnswer(_seconds(match["seconds"]))
    if match := _HTML.fullmatch(text):
        return HtmlPage(int(match["status"]))
    if match := _STATUS.fullmatch(text):
        status = int(match["status"])
        after = None if match["after"] is None else _seconds(match["after"])
        if status == 429:
            if match["html"]:
                raise ValueError("429 has no -html form; use html:429 for an HTML page")
            return RateLimit(retry_after_s=after)
        if status >= 500:
            return ServerFault(status, html=bool(match["html"]), retry_after_s=after)
        raise ValueError(f"status {status} is not a fault: use 429 or a 5xx")
    return None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{text!r} seconds must be a finite number >= 0")
    return value
