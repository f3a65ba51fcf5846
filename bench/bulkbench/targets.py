"""Issue 10's "Done when" goals, each PASS, MISS or n/a (not measured in this run)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .report import ToolSummary

Done = dict[str, list[ToolSummary]]  # workload key -> summaries

RATIOS = (  # (workload, attribute, at least, what)
    ("link-64k", "vs_curl", 1.25, "link RTT 40 ms, 200 x 64 KiB / 4 groups: >= 1.25x curl"),
    ("link-64k-100", "vs_curl", 1.25, "link RTT 100 ms, 200 x 64 KiB / 4 groups: >= 1.25x curl"),
    ("link-1000", "vs_curl", 1.6, "link RTT 40 ms, 1,000 x 64 KiB / 10 groups: >= 1.6x curl"),
    ("link-5m", "vs_curl", 0.85, "link RTT 40 ms, 20 x 5 MiB / 4 groups: >= 0.85x curl"),
    ("5m", "vs_curl", 0.9, "200 x 5 MiB: MB/s >= 0.9x curl"),
    ("512m", "vs_curl", 0.9, "4 x 512 MiB: MB/s >= 0.9x curl"),
    ("64k", "vs_curl", 1.0, "2000 x 64 KiB: files/s >= 1.0x curl"),
    ("5m", "vs_equal", 1.5, "200 x 5 MiB: >= 1.5x curl+sync+sha256"),
    ("64k", "vs_equal", 1.5, "2000 x 64 KiB: >= 1.5x curl+sync+sha256"),
    ("512m", "vs_equal", 1.5, "4 x 512 MiB: >= 1.5x curl+sync+sha256"),
    ("wan-64k", "vs_curl", 1.8, "wan 400 x 64 KiB: >= 1.8x curl"),
    ("wan-5m", "vs_curl", 1.2, "wan 40 x 5 MiB: >= 1.2x curl"),
)
RSS_MAX_MIB = 64.0
LIST_CPU_MAX_S = 0.5
VERSION_WALL_MAX_S = 0.15
CPU_PER_GB_MAX = 2.0  # x curl's
CPU_PER_GB_WORKLOADS = (("5m", "200 x 5 MiB"), ("512m", "4 x 512 MiB"))


@dataclass(frozen=True, slots=True)
class Target:
    text: str
    value: str
    passed: bool | None  # None: not measured in this run

    @property
    def verdict(self) -> str:
        return "n/a" if self.passed is None else ("PASS" if self.passed else "MISS")


def _check(text: str, value: float | None, shown: Callable[[float], str], ok: bool) -> Target:
    return Target(text, "n/a" if value is None else shown(value), None if value is None else ok)


def _of(done: Done, key: str, tool: str = "bulkdl") -> ToolSummary | None:
    return next((s for s in done.get(key, []) if s.tool == tool), None)


def targets(
    done: Done,
    version_wall: float | None,
    version_error: str | None,
    groups: dict[str, int] | None = None,
    concurrency: int = 16,
) -> list[Target]:
    out = []
    for key, attr, need, text in RATIOS:
        s = _of(done, key)
        ratio: float | None = getattr(s, attr) if s else None
        out.append(_check(text, ratio, lambda v: f"{v:.2f}x", ratio is not None and ratio >= need))
    out.append(worst_rss(done))
    s = _of(done, "list")
    cpu = s.cpu_median if s else None
    out.append(
        _check(
            f"listing 10,000 jobs: <= {LIST_CPU_MAX_S} s client CPU",
            cpu,
            lambda v: f"{v:.2f} s",
            cpu is not None and cpu <= LIST_CPU_MAX_S,
        )
    )
    out.append(version_target(version_wall, version_error))
    out += [cpu_per_gb(done, key, title) for key, title in CPU_PER_GB_WORKLOADS]
    out.append(worst_challenges(done))
    out.append(link_connections(done, groups or {}, concurrency))
    return out


def link_connections(done: Done, groups: dict[str, int], concurrency: int) -> Target:
    """On every link workload, TCP connections per run <= concurrency + groups + 2."""
    text = "link: TCP connections per run <= concurrency + groups + 2"
    over = []
    seen = 0
    for key, n in groups.items():
        s = _of(done, key)
        if not key.startswith("link") or s is None or s.connections is None:
            continue
        seen += 1
        if s.connections > concurrency + n + 2:
            over.append(f"{key} {s.connections:.0f} > {concurrency + n + 2}")
    if not seen:
        return Target(text, "n/a", None)
    return Target(text, "; ".join(over) or f"all {seen} within", not over)


def worst_challenges(done: Done) -> Target:
    """bulkdl pays one digest challenge per run, not one per request (one connection pool)."""
    counts = [s.challenges for key in done if (s := _of(done, key)) and s.challenges is not None]
    worst = max(counts) if counts else None
    return _check(
        "<= 1 401 challenge per run (one connection pool)",
        worst,
        lambda v: f"{v:.0f} (worst workload)",
        worst is not None and worst <= 1,
    )


def worst_rss(done: Done) -> Target:
    """One line for all workloads: the worst bulkdl peak, and where."""
    peaks = [(s.rss_max, key) for key in done if (s := _of(done, key)) and s.rss_max is not None]
    text = f"peak RSS <= {RSS_MAX_MIB:.0f} MiB on every workload"
    if not peaks:
        return Target(text, "n/a", None)
    rss, key = max(peaks)
    return Target(text, f"{rss:.1f} MiB (worst: {key})", rss <= RSS_MAX_MIB)


def version_target(wall: float | None, error: str | None) -> Target:
    text = f"`bulkdl --version`: <= {VERSION_WALL_MAX_S} s wall median"
    if error:
        return Target(text, error, False)
    ok = wall is not None and wall <= VERSION_WALL_MAX_S
    return _check(text, wall, lambda v: f"{v:.3f} s", ok)


def cpu_per_gb(done: Done, key: str, title: str) -> Target:
    mine, curl = _of(done, key), _of(done, key, "curl")
    text = f"{title}: client CPU per GB <= {CPU_PER_GB_MAX:.0f}x curl's"
    if not (mine and curl and mine.cpu_s_per_gb and curl.cpu_s_per_gb):
        return Target(text, "n/a", None)
    ratio = mine.cpu_s_per_gb / curl.cpu_s_per_gb
    shown = f"{ratio:.2f}x ({mine.cpu_s_per_gb:.2f} vs {curl.cpu_s_per_gb:.2f} s/GB)"
    return Target(text, shown, ratio <= CPU_PER_GB_MAX)
