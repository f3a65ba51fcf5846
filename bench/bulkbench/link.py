"""The link model: a user-space WAN between a tool and the HTTPS server (no netem here).

Run as a subprocess (`python -m bulkbench.link SPEC`), one listening port per round-trip time,
each forwarding to the server's TLS port. What it charges, per TCP connection:

- one round trip before the connection's first byte reaches the server (the TCP handshake:
  the client's connect() returns at once on loopback, so its first bytes wait here instead);
- RTT/2 on every chunk in each direction, in order (TLS handshakes and each request then pay
  their real round trips);
- a downstream rate per connection (server to client): a chunk leaves when the previous one
  has, plus its size / rate, like a bottleneck link's serialisation.

It writes one line per accepted connection to its log, so the harness counts the TCP
connections each tool opened. The link spends CPU itself (it runs in Python): the rate is kept
modest (200 Mbit/s a connection) so that the link, not its emulator, is the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

READ_SIZE = 64 * 1024


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    delay_s: float,
    not_before: float,
    rate_bytes_s: float | None,
) -> None:
    """Forward reader -> writer, each chunk due at its departure + delay_s, in order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                with contextlib.suppress(OSError, RuntimeError):
                    if writer.can_write_eof():
                        writer.write_eof()
                    else:
                        writer.close()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    free_at = 0.0
    try:
        while True:
            try:
                data = await reader.read(READ_SIZE)
            except OSError:
                data = b""
            now = max(loop.time(), not_before)
            if data and rate_bytes_s:
                free_at = max(free_at, now) + len(data) / rate_bytes_s
                now = free_at
            queue.put_nowait((now + delay_s, data or None))
            if not data:
                break
        await sender
    except (OSError, ConnectionError):
        sender.cancel()


def make_handler(upstream_port: int, rtt_s: float, rate_bytes_s: float, log: IO[str]) -> Any:
    """One accepted connection: connect upstream, then pump both ways through the link."""
    counter = iter(range(1, 1 << 62))

    async def handle(c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        log.write(f"{next(counter)}\n")
        accepted = asyncio.get_running_loop().time()
        try:
            s_reader, s_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            c_writer.close()
            return
        half = rtt_s / 2
        try:
            await asyncio.gather(
                # The handshake's round trip: nothing reaches the server before accepted + RTT.
                _pump(
                    c_reader, s_writer, delay_s=half, not_before=accepted + rtt_s, rate_bytes_s=None
                ),
                _pump(s_reader, c_writer, delay_s=half, not_before=0.0, rate_bytes_s=rate_bytes_s),
            )
        finally:
            for w in (s_writer, c_writer):
                with contextlib.suppress(OSError, RuntimeError):
                    w.close()

    return handle


async def serve(spec: dict[str, Any], log: IO[str]) -> None:
    """Every link port until SIGTERM."""
    servers = []
    for rtt_ms, port in spec["links"]:
        handler = make_handler(spec["upstream"], rtt_ms / 1000, spec["rate_bytes_s"], log)
        servers.append(await asyncio.start_server(handler, "127.0.0.1", port, backlog=512))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


def start_link(
    work: Path, links: tuple[tuple[int, int], ...], upstream: int, rate_mbit: int
) -> tuple[subprocess.Popen[bytes], Path]:
    """The link process and its connection log."""
    log = work / "link.log"
    log.write_text("")
    spec = {
        "links": links,
        "upstream": upstream,
        "rate_bytes_s": rate_mbit * 1e6 / 8,
        "log": str(log),
    }
    with (work / "link.err").open("wb") as errf:
        proc = subprocess.Popen(  # noqa: S603 -- this package, a fixed argv
            [sys.executable, "-m", "bulkbench.link", json.dumps(spec)],
            stdout=subprocess.DEVNULL,
            stderr=errf,
            cwd=Path(__file__).resolve().parent.parent,
        )
    return proc, log


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness stops us with SIGTERM
    conf = json.loads(sys.argv[1])
    with open(conf["log"], "a", buffering=1) as log_file:
        asyncio.run(serve(conf, log_file))
