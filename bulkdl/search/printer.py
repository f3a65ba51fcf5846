"""What `bulkdl search` prints as results arrive: matches, counts per host, member names, the
summary table or the timeline, to a binary stream (stdout), and what went wrong, as lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import BinaryIO

from bulkdl.domain.printable import shown
from bulkdl.search.engine import Archive, ArchiveResult
from bulkdl.search.members import Member
from bulkdl.search.merge import timeline
from bulkdl.search.render import grep_line, json_line, where
from bulkdl.search.scan import Hit
from bulkdl.search.summary import HostSummary, table


class View(Enum):
    LINES = "lines"
    RAW = "raw"
    JSON = "json"
    COUNT = "count"
    FILES = "files"
    SUMMARY = "summary"
    TIMELINE = "timeline"


@dataclass
class Printer:
    """Consumes ArchiveResults in order; `finish()` prints what needs them all."""

    out: BinaryIO
    warn: Callable[[str], None]
    view: View
    as_json: bool = False
    colour: re.Pattern[bytes] | None = None
    show_skipped: bool = False
    matched: int = 0
    searched: int = 0  # archives read to their end
    broken: int = 0  # archives that could not be read (to their end)
    _hosts: dict[str, HostSummary] = field(default_factory=dict)
    _streams: list[tuple[tuple[Archive, Member], list[Hit]]] = field(default_factory=list)

    def add(self, result: ArchiveResult) -> None:
        archive = result.archive
        for name, why in result.skipped:
            if self.show_skipped:
                self.warn(f"skipped {archive.label}/{archive.job_id}:{shown(name)}: {why}")
        for problem in result.problems:
            self.warn(f"{archive.path}: {shown(problem)}; member skipped")
        if result.error is not None:
            self.broken += 1
            self.warn(f"{archive.path}: {shown(result.error)}; archive not searched to its end")
        else:
            self.searched += 1
        for m in result.members:
            self.matched += m.tally.count
            host = self._hosts.setdefault(m.member.host, HostSummary(m.member.host))
            host.add(m.tally)
            self._member(archive, m.member, m.tally.hits, m.tally.count)

    def _member(self, archive: Archive, member: Member, hits: list[Hit], count: int) -> None:
        view = self.view
        if view is View.FILES and count:
            self._write(where(archive, member).encode("utf-8", "surrogateescape") + b"\n")
        elif view is View.TIMELINE:
            self._streams.append(((archive, member), hits))
        elif view is View.JSON:
            self._write(b"".join(json_line(archive, member, h) for h in hits))
        elif view is View.RAW:
            self._write(b"".join(h.text + b"\n" for h in hits))
        elif view is View.LINES:
            self._write(b"".join(grep_line(archive, member, h, colour=self.colour) for h in hits))

    def finish(self) -> None:
        hosts = sorted(self._hosts.values(), key=lambda h: h.host)  # the same order every run
        if self.view is View.COUNT:
            if self.as_json:
                doc = {h.host: h.total for h in hosts}
                self._write((json.dumps(doc) + "\n").encode())
            else:
                self._write(b"".join(f"{shown(h.host)}:{h.total}\n".encode() for h in hosts))
        elif self.view is View.SUMMARY:
            if self.as_json:
                rows = [h.to_json() for h in hosts if h.total]
                self._write((json.dumps({"hosts": rows}) + "\n").encode())
            else:
                self._write(table([h for h in hosts if h.total]).encode("utf-8", "replace"))
        elif self.view is View.TIMELINE:
            for (archive, member), hit in timeline(self._streams):
                if self.as_json:
                    self._write(json_line(archive, member, hit))
                else:
                    self._write(grep_line(archive, member, hit, colour=self.colour, timeline=True))

    def _write(self, data: bytes) -> None:
        if data:
            self.out.write(data)
