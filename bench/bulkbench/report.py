"""Per-workload summaries (medians over the good runs) and their markdown tables."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from .fixtures import Fixture
from .runner import RunResult
from .tools import EQUAL, Tool


@dataclass(slots=True)
class ToolSummary:
    tool: str
    runs: int
    failed: int
    wall_median: float | None = None
    wall_min: float | None = None
    wall_max: float | None = None
    mb_s: float | None = None
    files_s: float | None = None
    cpu_median: float | None = None
    cpu_max: float | None = None
    cpu_s_per_gb: float | None = None
    server_cpu_median: float | None = None
    other_cpu_median: float | None = None
    rss_max: float | None = None
    requests: float | None = None
    challenges: float | None = None
    connections: float | None = None
    vs_curl: float | None = None  # curl's median wall / this tool's: above 1 is faster
    vs_equal: float | None = None  # the same against curl + sync + sha256
    errors: list[str] = field(default_factory=list)


def summarise(fixture: Fixture, results: list[RunResult], tools: list[Tool]) -> list[ToolSummary]:
    out = [summarise_tool(fixture, [r for r in results if r.tool == t.name], t) for t in tools]
    curl = _median_of(out, "curl")
    equal = _median_of(out, EQUAL)
    for s in out:
        if s.wall_median:
            s.vs_curl = curl / s.wall_median if curl else None
            s.vs_equal = equal / s.wall_median if equal else None
    return out


def _median_of(summaries: list[ToolSummary], name: str) -> float | None:
    return next((s.wall_median for s in summaries if s.tool == name and s.wall_median), None)


def summarise_tool(fixture: Fixture, mine: list[RunResult], tool: Tool) -> ToolSummary:
    good = [r for r in mine if r.ok]
    s = ToolSummary(tool.name, len(mine), len(mine) - len(good))
    s.errors = [f"run {r.run}: {r.error}" for r in mine if r.error]
    if not good:
        return s
    walls = [r.wall_s for r in good]
    s.wall_median = statistics.median(walls)
    s.wall_min, s.wall_max = min(walls), max(walls)
    s.cpu_median = statistics.median(r.cpu_s for r in good)
    s.cpu_max = max(r.cpu_s for r in good)
    if fixture.archives:
        s.mb_s = fixture.total_bytes / 1e6 / s.wall_median
        s.files_s = len(fixture.archives) / s.wall_median
        s.cpu_s_per_gb = s.cpu_median / (fixture.total_bytes / 1e9)
    s.server_cpu_median = statistics.median(r.server_cpu_s for r in good)
    s.other_cpu_median = statistics.median(r.other_cpu_s for r in good)
    s.rss_max = max(r.rss_mib for r in good)
    s.requests = statistics.median(r.requests for r in good)
    s.challenges = statistics.median(r.challenges for r in good)
    s.connections = statistics.median(r.connections for r in good)
    return s


def fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else format(value, spec) + suffix


COLUMNS = (
    "tool",
    "runs",
    "wall s median [min-max]",
    "MB/s",
    "files/s",
    "CPU s median",
    "CPU s/GB",
    "server CPU s",
    "other CPU s",
    "peak RSS MiB",
    "requests/run",
    "401s/run",
    "conns/run",
    "vs curl",
    f"vs {EQUAL}",
)


def table(summaries: list[ToolSummary]) -> str:
    rows = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for s in summaries:
        if s.wall_median is None:
            blanks = " |" * (len(COLUMNS) - 3)
            rows.append(f"| {s.tool} | {s.runs} | FAILED ({s.failed}/{s.runs}) |{blanks}")
            continue
        failed = f" ({s.failed} FAILED)" if s.failed else ""
        cells = (
            s.tool,
            f"{s.runs}{failed}",
            f"{s.wall_median:.3f} [{s.wall_min:.3f}-{s.wall_max:.3f}]",
            fmt(s.mb_s, ".0f"),
            fmt(s.files_s, ",.0f"),
            fmt(s.cpu_median, ".2f"),
            fmt(s.cpu_s_per_gb, ".2f"),
            fmt(s.server_cpu_median, ".2f"),
            fmt(s.other_cpu_median, ".2f"),
            fmt(s.rss_max, ".1f"),
            fmt(s.requests, ".0f"),
            fmt(s.challenges, ".0f"),
            fmt(s.connections, ".0f"),
            fmt(s.vs_curl, ".2f", "x"),
            fmt(s.vs_equal, ".2f", "x"),
        )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
