"""Faults spelled as short strings, so a rehearsal can inject them from a command line.

    reset:1000  500  503-html  429  429:retry-after=2  429:retry-after-date=60  stall:1000:5
    chunked:1000  not-gzip
    corrupt-gzip  stale-nonce  html  html:502  not-json  missing-results  repeating-next
    gzipped-html  gzip-not-tar  changed-archive:1000  longer-body:100  trickle:16:0.05
    no-challenge  relative-next  foreign-next:http://central.example:8080
    malformed-id  slow-answer:2  close-delimited  close-delimited:1000  bad-crc  no-trailer
    lying-range:length

A 5xx may carry `:retry-after=S` too; `always:` in front makes any of them persistent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Final

from bulkdl.emulator import faults

SPEC_HELP: Final = (
    "reset:BYTES, 5xx[-html][:retry-after=S], 429[:retry-after[-date]=S], stall:BYTES:SECONDS, "
    "chunked:BYTES, not-gzip, corrupt-gzip, stale-nonce, html[:STATUS], not-json, "
    "missing-results, wrong-total, repeating-next, gzipped-html, gzip-not-tar, "
    "changed-archive:BYTES, "
    "longer-body:BYTES, trickle:BYTES:SECONDS, no-challenge, relative-next, foreign-next:ORIGIN, "
    "malformed-id, slow-answer:SECONDS, close-delimited[:BYTES], bad-crc, no-trailer, "
    "lying-range:start|backwards|past-end|length; prefix always: to repeat on every attempt"
)
_PLAIN: Final[dict[str, Callable[[], faults.FaultKind]]] = {
    "not-gzip": faults.NotGzip,
    "corrupt-gzip": faults.CorruptGzip,
    "stale-nonce": faults.StaleNonce,
    "html": faults.HtmlPage,
    "not-json": faults.NotJson,
    "missing-results": faults.MissingResults,
    "wrong-total": faults.WrongTotal,
    "repeating-next": faults.RepeatingNext,
    "gzipped-html": faults.GzippedHtml,
    "gzip-not-tar": faults.GzipNotTar,
    "no-challenge": faults.NoChallenge,
    "relative-next": faults.RelativeNext,
    "malformed-id": faults.MalformedId,
    "bad-crc": faults.BadCrc,
    "no-trailer": faults.NoTrailer,
    "close-delimited": faults.CloseDelimited,
}
_STATUS: Final = re.compile(
    r"(?P<status>\d{3})(?P<html>-html)?(?::retry-after(?P<dated>-date)?=(?P<after>[^:]+))?"
)
_BYTES: Final = re.compile(
    r"(?P<kind>reset|chunked|changed-archive|longer-body|close-delimited):(?P<bytes>\d+)"
)
_BYTES_KINDS: Final[dict[str, Callable[[int], faults.FaultKind]]] = {
    "reset": faults.ResetAfter,
    "chunked": faults.TruncatedChunked,
    "changed-archive": faults.ChangedArchive,
    "longer-body": faults.LongerBody,
    "close-delimited": faults.CloseDelimited,
}
_STALL: Final = re.compile(r"(?P<kind>stall|trickle):(?P<bytes>\d+):(?P<seconds>[^:]+)")
_FOREIGN: Final = re.compile(r"foreign-next:(?P<origin>https?://[^/?#\s]+)")
_HTML: Final = re.compile(r"html:(?P<status>\d{3})")
_LYING: Final = re.compile(r"lying-range:(?P<how>[a-z-]+)")
_SLOW: Final = re.compile(r"slow-answer:(?P<seconds>[^:]+)")


def parse_fault_spec(spec: str) -> faults.Fault:
    """One fault from its spelling; ValueError naming the accepted forms otherwise."""
    text = spec.strip().lower()
    if text.startswith("always:"):
        return faults.Always(_parse_kind(spec, text.removeprefix("always:")))
    return _parse_kind(spec, text)


def parse_fault_specs(specs: str) -> list[faults.Fault]:
    """A comma-separated list of specs, e.g. "503,reset:1000" (one fault per attempt)."""
    return [parse_fault_spec(part) for part in specs.split(",") if part.strip()]


def _parse_kind(spec: str, text: str) -> faults.FaultKind:
    try:
        fault = _build(text)
    except ValueError as exc:  # a field's own check, e.g. status 418 for a faults.ServerFault
        raise ValueError(f"bad fault spec {spec!r}: {exc}") from None
    if fault is None:
        raise ValueError(f"unknown fault spec {spec!r}; expected one of: {SPEC_HELP}")
    return fault


def _build(text: str) -> faults.FaultKind | None:
    if (plain := _PLAIN.get(text)) is not None:
        return plain()
    if match := _BYTES.fullmatch(text):
        return _BYTES_KINDS[match["kind"]](int(match["bytes"]))
    if match := _STALL.fullmatch(text):
        timed = faults.Stall if match["kind"] == "stall" else faults.Trickle
        return timed(int(match["bytes"]), _seconds(match["seconds"]))
    if match := _LYING.fullmatch(text):
        return faults.LyingRange(match["how"])
    if match := _FOREIGN.fullmatch(text):
        return faults.ForeignNext(match["origin"])
    if match := _SLOW.fullmatch(text):
        return faults.SlowAnswer(_seconds(match["seconds"]))
    if match := _HTML.fullmatch(text):
        return faults.HtmlPage(int(match["status"]))
    if match := _STATUS.fullmatch(text):
        status = int(match["status"])
        after = None if match["after"] is None else _seconds(match["after"])
        if status == 429:
            if match["html"]:
                raise ValueError("429 has no -html form; use html:429 for an HTML page")
            return faults.RateLimit(retry_after_s=after, dated=bool(match["dated"]))
        if status >= 500:
            return faults.ServerFault(status, html=bool(match["html"]), retry_after_s=after)
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
