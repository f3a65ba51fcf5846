"""Realistic log text for the emulator's archives: mongod 4.4+ JSON lines and agent lines,
timed inside the job's window, with one seeded incident every archive tells the same way.

The incident, at 60% of the window: connection errors and failed heartbeats on the last host
(from a minute before), slow operations piling up on the first (the primary), which then steps
down; the second host wins the election and becomes primary. Around it, ordinary traffic:
connections, client metadata, checkpoints, slow queries with `attr.durationMillis`. Message ids
21358, 21450, 51803, 22943, 22944, 51800 are mongod's (reference §1.2); the error ids are
illustrative. Random ids, hashes and ports keep the text about as compressible as real logs.
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

INCIDENT_AT: Final = 0.6  # of the window
_BEFORE: Final = timedelta(seconds=60)  # errors start this long before the election
_AFTER: Final = timedelta(seconds=30)
_COLLECTIONS: Final = ("app.orders", "app.users", "app.sessions", "app.events", "app.carts")
_PLANS: Final = ("COLLSCAN", "IXSCAN { status: 1 }", "IXSCAN { userId: 1, ts: -1 }", "IDHACK")


@dataclass(frozen=True, slots=True)
class Window:
    """Where a log's lines fall, and who is who in the replica set."""

    start: datetime
    end: datetime
    hosts: Sequence[str]
    host_index: int

    @property
    def incident(self) -> datetime:
        return self.start + (self.end - self.start) * INCIDENT_AT

    def near_incident(self, when: datetime) -> bool:
        return self.incident - _BEFORE <= when <= self.incident + _AFTER

    def incident_ms(self) -> tuple[int, int]:
        """The span (epoch ms) around the incident where the errors are logged."""
        at = self.incident.timestamp() * 1000
        return int(at - _BEFORE.total_seconds() * 1000), int(at + _AFTER.total_seconds() * 1000)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+00:00"


def _json(when: datetime, s: str, c: str, id_: int, ctx: str, msg: str, attr: str) -> str:
    pad_c = " " * max(0, 8 - len(c))  # mongod pads `c` to 8 columns, after the comma
    return (
        f'{{"t":{{"$date":"{_stamp(when)}"}},"s":"{s}",  "c":"{c}",{pad_c} "id":{id_},'
        f'{" " * max(1, 8 - len(str(id_)))}"ctx":"{ctx}","msg":"{msg}","attr":{{{attr}}}}}\n'
    )


def _token(rng: random.Random, n: int) -> str:
    return base64.b64encode(rng.randbytes(n)).decode()


def _slow(rng: random.Random, when: datetime, big: bool) -> str:
    ns = rng.choice(_COLLECTIONS)
    ms = rng.randint(2000, 15000) if big else rng.randint(100, 900)
    plan = "COLLSCAN" if big else rng.choice(_PLANS)
    conn = rng.randint(1000, 99999)
    attr = (
        f'"type":"command","ns":"{ns}","appName":"orders-api","command":{{"find":"{ns[4:]}",'
        f'"filter":{{"status":"open","userId":{rng.randint(1, 10**6)}}},"lsid":{{"id":{{"$uuid":'
        f'"{rng.getrandbits(128):032x}"}}}},"$clusterTime":{{"clusterTime":{{"$timestamp":{{"t":'
        f'{int(when.timestamp())},"i":{rng.randint(1, 99)}}}}},"signature":{{"hash":{{"$binary":'
        f'{{"base64":"{_token(rng, 20)}","subType":"0"}}}}}}}},"$db":"app"}},'
        f'"planSummary":"{plan}",'
        f'"keysExamined":{0 if big else rng.randint(1, 500)},"docsExamined":'
        f'{rng.randint(10**5, 10**7) if big else rng.randint(1, 500)},"nreturned":'
        f'{rng.randint(0, 100)},"queryHash":"{rng.getrandbits(32):08X}","planCacheKey":'
        f'"{rng.getrandbits(32):08X}","reslen":{rng.randint(200, 90000)},"protocol":"op_msg",'
        f'"durationMillis":{ms}'
    )
    return _json(when, "I", "COMMAND", 51803, f"conn{conn}", "Slow query", attr)


def _traffic(rng: random.Random, when: datetime, conn: int) -> str:
    remote = f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    port = rng.randint(30000, 65000)
    pick = rng.random()
    if pick < 0.35:
        attr = f'"remote":"{remote}:{port}","uuid":"{rng.getrandbits(128):032x}","connectionId":{conn},"connectionCount":{rng.randint(20, 400)}'  # noqa: E501
        return _json(when, "I", "NETWORK", 22943, "listener", "Connection accepted", attr)
    if pick < 0.6:
        attr = (
            f'"remote":"{remote}:{port}","client":"conn{conn}","doc":{{"driver":{{"name":'
            f'"mongo-java-driver|sync","version":"4.{rng.randint(0, 11)}.{rng.randint(0, 9)}"}},'
            f'"os":{{"type":"Linux","architecture":"amd64"}},"platform":"Java/17"}}'
        )
        return _json(when, "I", "NETWORK", 51800, f"conn{conn}", "client metadata", attr)
    if pick < 0.9:
        attr = f'"remote":"{remote}:{port}","uuid":"{rng.getrandbits(128):032x}","connectionId":{conn},"connectionCount":{rng.randint(20, 400)}'  # noqa: E501
        return _json(when, "I", "NETWORK", 22944, f"conn{conn}", "Connection ended", attr)
    if pick < 0.97:
        return _slow(rng, when, big=False)
    attr = (
        f'"message":{{"ts_sec":{int(when.timestamp())},"ts_usec":{rng.randint(0, 999999)},'
        f'"thread":"{rng.randint(1000, 9999)}:0x{rng.getrandbits(48):x}","session_name":'
        f'"WT_SESSION.checkpoint","category":"WT_VERB_CHECKPOINT_PROGRESS","verbose_level":'
        f'"DEBUG_1","msg":"saving checkpoint snapshot min: {rng.randint(1, 10**6)}"}}'
    )
    return _json(when, "I", "STORAGE", 22430, "Checkpointer", "WiredTiger message", attr)


def _incident_lines(w: Window, rng: random.Random) -> list[tuple[datetime, str]]:
    """The election, as each host logged it (the errors come from _mongod_line)."""
    t = w.incident
    if w.host_index == 0:
        return [
            (t, _json(t, "I", "REPL", 21579, "conn77", "Stepping down from primary",
                      f'"reason":"a newer term","term":{rng.randint(5, 9)}')),
            (t + timedelta(milliseconds=40), _json(
                t, "I", "REPL", 21358, "ReplCoord-3", "Replica set state transition",
                '"newState":"SECONDARY","oldState":"PRIMARY"')),
        ]  # fmt: skip
    if w.host_index == 1:
        t2 = t + timedelta(seconds=2)
        return [
            (t2, _json(t2, "I", "ELECTION", 21450, "ReplCoord-1",
                       "Election succeeded, assuming primary role",
                       f'"term":{rng.randint(10, 12)}')),
            (t2 + timedelta(milliseconds=15), _json(
                t2, "I", "REPL", 21358, "ReplCoord-1", "Replica set state transition",
                '"newState":"PRIMARY","oldState":"SECONDARY"')),
        ]  # fmt: skip
    return []


def _error_line(w: Window, rng: random.Random, when: datetime) -> str:
    target = w.hosts[0]
    if rng.random() < 0.5:
        attr = (
            f'"target":"{target}:27017","maxHeartbeatRetries":2,"error":{{"code":6,'
            f'"codeName":"HostUnreachable","errmsg":"Error connecting to {target}:27017 :: '
            f'caused by :: Connection refused"}}'
        )
        return _json(
            when, "E", "REPL_HB", 23974, "ReplCoord-0", "Heartbeat failed after max retries", attr
        )
    attr = (
        f'"remote":"{target}:{rng.randint(30000, 65000)}","error":{{"code":6,"codeName":'
        f'"HostUnreachable","errmsg":"Connection reset by peer"}}'
    )
    return _json(when, "E", "NETWORK", 4615610, f"conn{rng.randint(100, 999)}",
                 "Error receiving request from client, ending connection", attr)  # fmt: skip


# Past this many bytes of a member, ordinary traffic lines carry a base64 token that barely
# compresses (as the emulator's logs always did): a multi-MiB archive renders in a fraction of
# the time, and its size still tracks the job's (fleet.text_bytes). The incident is all there.
REALISTIC_BYTES: Final = 256 * 1024
NOISE_RATIO: Final = 11 / 5  # how such lines gzip
_POOL: Final = 1024  # ordinary lines rendered in full; later ones re-stamp one of them
_CLOCK: Final = re.compile(r"\[\d\d:\d\d:\d\d\.\d{3}\] ")
_JSON_HEAD: Final = len('{"t":{"$date":"') + len("2026-10-02T17:54:00.123+00:00")


class _Stamps:
    """ISO stamps from epoch ms, the seconds part formatted once per second (strftime per
    line was most of the cost of a large log)."""

    def __init__(self, offset: str) -> None:
        self._offset = offset
        self._second = -1
        self._prefix = ""

    def __call__(self, ms: int) -> str:
        second = ms // 1000
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        return f"{self._prefix}{ms % 1000:03d}{self._offset}"


def _noise(rng: random.Random, size: int, realistic: int | None) -> Callable[[int], str]:
    """Slices of one base64 buffer, enough for the lines past `realistic` bytes."""
    extra = 0 if realistic is None else max(0, size - realistic)
    buf = base64.b64encode(rng.randbytes(extra * 3 // 4 + 256)).decode()
    span = max(1, len(buf) - 160)
    return lambda written: buf[written % span : written % span + 160]


def mongod_log(
    w: Window, rng: random.Random, size: int, realistic: int | None = REALISTIC_BYTES
) -> bytes:
    """`size` bytes of mongod JSON lines (the last one cut to fit, as a file cut by the agent);
    `realistic`: past this many bytes, ordinary lines carry noise (None: never)."""
    errors_here = w.host_index == len(w.hosts) - 1 and len(w.hosts) > 1
    pool: list[str] = []
    stamp = _Stamps("+00:00")
    lo, hi = w.incident_ms()
    noise = _noise(rng, size, realistic)

    def line(when_ms: int, n: int) -> str:
        if lo <= when_ms <= hi:
            when = _at(when_ms)
            if errors_here and rng.random() < 0.4:
                return _error_line(w, rng, when)
            if w.host_index == 0 and rng.random() < 0.25:
                return _slow(rng, when, big=True)
        if realistic is not None and n > realistic:
            return (
                f'{{"t":{{"$date":"{stamp(when_ms)}"}},"s":"I",  "c":"NETWORK",  "id":22943,   '
                f'"ctx":"listener","msg":"Connection accepted","attr":{{"remote":"10.0.'
                f'{n % 251}.{n % 97}:{20000 + n % 40000}","connectionId":{n // 300},'
                f'"client":"{noise(n)}"}}}}\n'
            )
        if len(pool) < _POOL:
            text = _traffic(rng, _at(when_ms), n // 300)
            pool.append(text[_JSON_HEAD:])
            return text
        return f'{{"t":{{"$date":"{stamp(when_ms)}{pool[rng.getrandbits(10)]}'

    return _fill(w, size, line, _incident_lines(w, rng))


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _agent_line(w: Window, rng: random.Random, when: datetime) -> str:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"
    clock = f"{when:%H:%M:%S}.{when.microsecond // 1000:03d}"
    errors_here = w.host_index == len(w.hosts) - 1 and len(w.hosts) > 1
    if errors_here and w.near_incident(when) and rng.random() < 0.5:
        return (
            f"[{stamp}] [.error] [cm/mongoclientservice/mongoclientservice.go:"
            f"sendClientToRequesters:609] <hb-checker> [{clock}] Error getting client ready "
            f"for conn params = {w.hosts[0]}:27017 (local=false): connection() error "
            f"occurred during connection handshake: dial tcp {w.hosts[0]}:27017: connect: "
            f"connection refused\n"
        )
    token = f"{rng.getrandbits(64):016x}"
    if rng.random() < 0.7:
        return (
            f"[{stamp}] [.info] [cm/director/director.go:planAndExecute:534] <mms-automation> "
            f"[{clock}] Step=WaitAllRsMembersUp as part of Move=WaitRsInit in plan failed : "
            f"<none>, planId={token}\n"
            if rng.random() < 0.02
            else f"[{stamp}] [.info] [cm/director/director.go:computePlan:291] <mms-automation> "
            f"[{clock}] ... process has a plan : <none> (goal version {rng.randint(10, 99)}, "
            f"token {token})\n"
        )
    return (
        f"[{stamp}] [.info] [main/components/agent.go:LoadClusterConfig:{rng.randint(100, 999)}] "
        f"[{clock}] clusterConfig unchanged (version {rng.randint(10, 99)}, hash {token})\n"
    )


def agent_log(
    w: Window, rng: random.Random, size: int, realistic: int | None = REALISTIC_BYTES
) -> bytes:
    """`size` bytes of automation agent lines (newer ISO format), same window and incident."""
    errors_here = w.host_index == len(w.hosts) - 1 and len(w.hosts) > 1
    pool: list[tuple[str, str]] = []
    stamp = _Stamps("+0000")
    lo, hi = w.incident_ms()
    noise = _noise(rng, size, realistic)

    def line(when_ms: int, n: int) -> str:
        if realistic is not None and n > realistic and not (errors_here and lo <= when_ms <= hi):
            full = stamp(when_ms)
            return (
                f"[{full}] [.info] [cm/director/director.go:planAndExecute:534] <mms-automation> "
                f"[{full[11:23]}] Step state unchanged, token={noise(n)}\n"
            )
        if (errors_here and lo <= when_ms <= hi) or len(pool) < _POOL:
            text = _agent_line(w, rng, _at(when_ms))
            clock = _CLOCK.search(text, 31)  # after "[<stamp>] "
            if len(pool) < _POOL and "[.error]" not in text and clock:
                pool.append((text[31 : clock.start()], text[clock.end() :]))
            return text
        head, tail = pool[rng.getrandbits(10)]
        full = stamp(when_ms)
        return f"[{full}] {head}[{full[11:23]}] {tail}"

    return _fill(w, size, line, [])


def _fill(
    w: Window,
    size: int,
    line: Callable[[int, int], str],
    events: list[tuple[datetime, str]],
) -> bytes:
    """Lines until `size` bytes; a line's time is its place in the file across the window."""
    start = int(w.start.timestamp() * 1000)
    span = int((w.end - w.start).total_seconds() * 1000)
    out: list[str] = []
    written = 0
    pending = sorted((int(t.timestamp() * 1000), text) for t, text in events)
    while written < size:
        when = start + span * written // size
        while pending and pending[0][0] <= when:
            event = pending.pop(0)[1]
            out.append(event)
            written += len(event)
        text = line(when, written)
        out.append(text)
        written += len(text)
    data = "".join(out).encode()
    return data[: size - 1] + b"\n" if size else b""
