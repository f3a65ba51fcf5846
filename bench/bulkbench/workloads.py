"""What gets downloaded: the issue's workloads, and tiny ones for the CI smoke."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MIB: Final = 1024 * 1024
KIB: Final = 1024
WAN_DELAY_MS: Final = 40  # the `wan` server spends this long on every request, 401s included
LINK_RTTS_MS: Final = (40, 100)  # the link model's round-trip times (link.py)
LINK_RATE_MBIT: Final = 200  # the link's downstream rate per TCP connection


@dataclass(frozen=True, slots=True)
class Workload:
    key: str  # what --workloads names
    title: str
    kind: str  # "download" or "listing"
    jobs: int
    size: int  # bytes of archive payload per job (0 for listing)
    groups: int
    delay_ms: int = 0  # server delay per request: the `wan` workloads
    rtt_ms: int = 0  # over HTTPS through the link model with this round trip (link.py)

    @property
    def name(self) -> str:
        """Fixture folder name; also seeds the ids, so different sizes never share ids."""
        return f"{self.key}-{self.jobs}x{self.size}-g{self.groups}"

    @property
    def equal_guarantees(self) -> bool:
        """Whether the curl + sync + sha256sum peer runs here (the three loopback downloads)."""
        return self.kind == "download" and not self.delay_ms and not self.rtt_ms


def _catalogue(quick: bool) -> dict[str, Workload]:
    q = "quick: " if quick else ""

    def pick(full: int, small: int) -> int:
        return small if quick else full

    wan = WAN_DELAY_MS
    k64 = 64 * KIB
    workloads = (
        Workload("link-64k", "", "download", pick(200, 8), k64, pick(4, 2), rtt_ms=40),
        Workload("link-64k-100", "", "download", pick(200, 8), k64, pick(4, 2), rtt_ms=100),
        Workload("link-1000", "", "download", pick(1000, 12), k64, pick(10, 3), rtt_ms=40),
        Workload("link-5m", "", "download", pick(20, 2), pick(5, 1) * MIB, pick(4, 2), rtt_ms=40),
        Workload("5m", "", "download", pick(200, 4), pick(5, 1) * MIB, pick(10, 2)),
        Workload("64k", "", "download", pick(2000, 10), 64 * KIB, pick(20, 2)),
        Workload("512m", "", "download", pick(4, 1), pick(512, 4) * MIB, 1),
        Workload("list", "", "listing", pick(10_000, 100), 0, pick(200, 2)),
        Workload("wan-64k", "", "download", pick(400, 8), 64 * KIB, pick(4, 2), wan),
        Workload("wan-5m", "", "download", pick(40, 2), pick(5, 1) * MIB, pick(4, 2), wan),
    )
    return {w.key: _titled(w, q) for w in workloads}


def _titled(w: Workload, prefix: str) -> Workload:
    if w.kind == "listing":
        what = f"listing {w.jobs:,} jobs / {w.groups} groups"
    else:
        size = f"{w.size // MIB} MiB" if w.size >= MIB else f"{w.size // KIB} KiB"
        over = w.delay_ms or w.rtt_ms
        what = f"{w.jobs:,} x {size}" + (f" over {w.groups} groups" if over else "")
    wan = f"wan ({w.delay_ms} ms per request): " if w.delay_ms else ""
    if w.rtt_ms:
        wan = f"link (HTTPS, RTT {w.rtt_ms} ms, {LINK_RATE_MBIT} Mbit/s a connection): "
    return Workload(
        w.key, prefix + wan + what, w.kind, w.jobs, w.size, w.groups, w.delay_ms, w.rtt_ms
    )


FULL: Final = _catalogue(quick=False)
QUICK: Final = _catalogue(quick=True)
ALIASES: Final = {
    "wan": ("wan-64k", "wan-5m"),
    "link": ("link-64k", "link-64k-100", "link-1000", "link-5m"),
}
CHOICES: Final = sorted([*FULL, *ALIASES])
DEFAULT: Final = ("link", "5m", "64k", "512m", "list", "wan")


def select(keys: list[str], quick: bool) -> list[Workload]:
    """The workloads --workloads names, aliases expanded, each once, in the order given."""
    catalogue = QUICK if quick else FULL
    expanded = [k for key in keys for k in ALIASES.get(key, (key,))]
    return [catalogue[k] for k in dict.fromkeys(expanded)]
