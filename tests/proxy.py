"""A small forward proxy for tests: absolute-form `GET http://host/path` over HTTP/1.1, as
corporate proxies take plain-http requests, in its own thread like EmulatorThread.

It counts what it forwarded (and to where), can demand Basic proxy credentials (407) or refuse
everything (403), and drops hop-by-hop headers, Proxy-Authorization among them, as RFC 9110
says a proxy must. On `url`, `CONNECT` (for https) is only ever refused: with 407 or 403 as
above, else 501, so a test can see how a refused tunnel is reported. `tunnel_url` is a second
listener that opens CONNECT tunnels (raw asyncio streams: a tunnel is bytes both ways, which
aiohttp.web does not hand over), counted in `tunnels`.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Awaitable, Callable
from typing import Final, Self

import aiohttp
from aiohttp import hdrs, web

_HOP_BY_HOP: Final = frozenset(
    h.lower()
    for h in (
        hdrs.CONNECTION,
        hdrs.PROXY_AUTHORIZATION,
        hdrs.PROXY_AUTHENTICATE,
        hdrs.TRANSFER_ENCODING,
        hdrs.TE,
        hdrs.TRAILER,
        hdrs.UPGRADE,
        "Keep-Alive",
        "Proxy-Connection",
    )
)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ForwardProxy:
    """with ForwardProxy() as proxy: ... proxy.url, proxy.forwarded, proxy.targets"""

    def __init__(self, *, credentials: tuple[str, str] | None = None, refuse: bool = False):
        self._expected = (
            None
            if credentials is None
            else "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
        )
        self._refuse = refuse
        self.forwarded = 0
        self.refused = 0
        self.tunnels = 0
        self.tunnel_url = ""
        self.targets: list[str] = []
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application(middlewares=[self._refusals])
        app.router.add_route("*", "/{tail:.*}", self._forward)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.25)
        await runner.setup()
        async with aiohttp.ClientSession(auto_decompress=False) as upstream:
            self._upstream = upstream
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            tunnels = await asyncio.start_server(self._tunnel, "127.0.0.1", 0)
            self.tunnel_url = f"http://127.0.0.1:{tunnels.sockets[0].getsockname()[1]}"
            self._ready.set()
            await self._stop.wait()
            tunnels.close()
            await runner.cleanup()

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """`CONNECT host:port`: connect, answer 200, then copy bytes both ways until one ends."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            self.tunnels += 1
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    @web.middleware
    async def _refusals(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Policy first, for every request (CONNECT's authority-form target matches no route)."""
        if self._refuse:
            self.refused += 1
            return web.Response(status=403, text="<html>Access denied by policy</html>")
        if self._expected is not None and (
            request.headers.get(hdrs.PROXY_AUTHORIZATION) != self._expected
        ):
            self.refused += 1
            return web.Response(
                status=407, headers={hdrs.PROXY_AUTHENTICATE: 'Basic realm="proxy"'}
            )
        if request.method == hdrs.METH_CONNECT:
            return web.Response(status=501, text="no tunnels here")
        return await handler(request)

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        target = request.raw_path
        if not target.startswith("http://"):
            return web.Response(status=400, text="absolute-form requests only")
        self.forwarded += 1
        self.targets.append(target)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        body = await request.read()
        async with self._upstream.request(
            request.method, target, headers=headers, data=body or None, allow_redirects=False
        ) as answer:
            response = web.StreamResponse(
                status=answer.status,
                headers=[(k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP],
            )
            await response.prepare(request)
            async for chunk in answer.content.iter_chunked(64 * 1024):
                await response.write(chunk)
            await response.write_eof()
            return response


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(64 * 1024):
            sink.write(data)
            await sink.drain()
    except OSError:
        pass
    finally:
        sink.close()
