"""How a match is printed: grep-style with its provenance, as JSON, or raw (pure: bytes out).

grep-style: `<group>/<job>:<member>:<line>:<text>`, the member path escaped (it comes from the
archive and could carry terminal controls); the log line itself is printed as it is, as grep
does. Colours (grep's defaults) only when asked, i.e. on a terminal.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from bulkdl.domain.printable import shown
from bulkdl.search.engine import Archive
from bulkdl.search.logline import format_ms
from bulkdl.search.members import Member
from bulkdl.search.scan import Hit

_PURPLE: Final = b"\x1b[35m"
_GREEN: Final = b"\x1b[32m"
_CYAN: Final = b"\x1b[36m"
_RED: Final = b"\x1b[1;31m"
_RESET: Final = b"\x1b[0m"


def where(archive: Archive, member: Member) -> str:
    """`<group>/<job>:<member>`, escaped for a terminal."""
    return f"{archive.label}/{archive.job_id}:{shown(member.name)}"


def grep_line(
    archive: Archive,
    member: Member,
    hit: Hit,
    *,
    colour: re.Pattern[bytes] | None = None,
    timeline: bool = False,
) -> bytes:
    """One match as grep prints it, with `colour` (the pattern) marking what matched."""
    head = where(archive, member).encode("utf-8", "surrogateescape")
    number = str(hit.lineno).encode()
    stamp = (format_ms(hit.t_ms) if hit.t_ms is not None else "-").encode() + b" "
    text = hit.text
    if colour is None:
        return (stamp if timeline else b"") + head + b":" + number + b":" + text + b"\n"
    text = colour.sub(lambda m: _RED + m[0] + _RESET, text) if colour.pattern else text
    return (
        (_CYAN + stamp + _RESET if timeline else b"")
        + _PURPLE + head + _RESET + _CYAN + b":" + _RESET
        + _GREEN + number + _RESET + _CYAN + b":" + _RESET + text + b"\n"
    )  # fmt: skip


def json_line(archive: Archive, member: Member, hit: Hit) -> bytes:
    """One match as a JSON object; mongod JSON lines add t, s, c, id, ctx, msg, attr."""
    doc: dict[str, Any] = {
        "groupId": archive.group_id,
        "jobId": archive.job_id,
        "member": member.name,
        "host": member.host,
        "logType": member.log_type,
        "line": hit.lineno,
        "text": hit.text.decode("utf-8", "backslashreplace"),
        "t": format_ms(hit.t_ms) if hit.t_ms is not None else None,
        "s": hit.s,
        "c": hit.c,
        "id": hit.id,
    }
    if archive.group_label:
        doc["group"] = archive.group_label
    if hit.text[:1] == b"{":
        try:
            parsed = json.loads(hit.text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            for key in ("ctx", "msg", "attr"):
                if key in parsed:
                    doc[key] = parsed[key]
    return (json.dumps(doc, ensure_ascii=True) + "\n").encode("ascii")
