"""The built-in fallback server (no nginx): aiohttp static files behind the emulator's digest.

Run as a subprocess (`python -m bulkbench.fallback SPEC`) so its CPU is measured apart from
the harness. The `wan` port sleeps WAN_DELAY_MS before answering anything, 401s included.
"""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

from .fixtures import API, PRIVATE_KEY, PUBLIC_KEY
from .servers import Ports, Server, wait_listening
from .workloads import WAN_DELAY_MS

Handler = Callable[[Any], Awaitable[Any]]


def start_fallback(
    work: Path, www: Path, ports: Ports, auth: str, cert_chain: Path | None = None
) -> Server:
    log = work / "access.log"
    log.write_text("")
    err = work / "emulator.log"
    spec = {
        "www": str(www),
        "ports": [ports.plain, ports.wan],
        "tls": [ports.tls, str(cert_chain)] if cert_chain else None,
        "auth": auth,
        "log": str(log),
    }
    with err.open("wb") as errf:
        proc = subprocess.Popen(  # noqa: S603 -- this package, a fixed argv
            [sys.executable, "-m", "bulkbench.fallback", json.dumps(spec)],
            stdout=subprocess.DEVNULL,
            stderr=errf,
            cwd=Path(__file__).resolve().parent.parent,
        )
    wait_listening(ports, proc, "the fallback server", err)
    if cert_chain:
        wait_listening(Ports(ports.tls, ports.tls), proc, "the fallback's HTTPS port", err)
    how = "digest auth from bulkdl.emulator.digest" if auth == "digest" else "NO auth (--auth none)"
    about = (
        f"built-in fallback: aiohttp static files (sendfile), 1 process, {how}; "
        f"wan port: asyncio.sleep {WAN_DELAY_MS} ms per request"
        + ("; HTTPS port (throwaway CA) behind the link model" if cert_chain else "")
    )
    return Server("emulator", auth, about, ports, log, proc)


def make_handler(www: Path, auth: str, log: IO[str], delay_s: float) -> Handler:
    """One request: wait (wan), check digest, then the listing's index.json or the archive."""
    from aiohttp import web

    from bulkdl.emulator.digest import (
        NonceStore,
        Verdict,
        challenge_header,
        check_credentials,
        parse_authorization,
    )

    nonces = NonceStore()
    keys = {PUBLIC_KEY: PRIVATE_KEY}

    def note(request: web.Request, status: int) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        log.write(f"{peer[1] if peer else 0} {status}\n")

    def answer(request: web.Request, status: int) -> web.Response:
        note(request, status)
        return web.Response(status=status)

    async def handle(request: web.Request) -> web.StreamResponse:
        if delay_s:
            await asyncio.sleep(delay_s)
        if auth == "digest":
            verdict = check_credentials(
                parse_authorization(request.headers.get("Authorization")),
                method=request.method,
                uris={request.raw_path, request.path_qs},
                keys=keys,
                nonce_state=nonces.state,
            )
            if verdict is not Verdict.OK:
                denied = answer(request, 401)
                header = challenge_header(nonces.issue(), stale=verdict is Verdict.STALE)
                denied.headers["WWW-Authenticate"] = header
                return denied
        path = request.path
        if ".." in path or not path.startswith(API + "/groups/"):
            return answer(request, 404)
        if path.endswith("/logCollectionJobs"):
            file, ctype = www / path.lstrip("/") / "index.json", "application/json"
        elif path.endswith("/download"):
            file, ctype = www / path.lstrip("/"), "application/gzip"
        else:
            return answer(request, 404)
        if not file.is_file():
            return answer(request, 404)
        note(request, 200)
        return web.FileResponse(file, headers={"Content-Type": ctype})

    return handle


async def serve(conf: dict[str, Any], www: Path, log: IO[str]) -> None:
    """Both ports until SIGTERM."""
    from aiohttp import web

    runners = []
    sites: list[tuple[int, int, ssl.SSLContext | None]] = [
        (port, delay_ms, None)
        for port, delay_ms in zip(conf["ports"], (0, WAN_DELAY_MS), strict=True)
    ]
    if conf.get("tls"):
        port, chain = conf["tls"]
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(chain)
        sites.append((port, 0, ctx))
    for port, delay_ms, ctx in sites:
        app = web.Application()
        handler = make_handler(www, conf["auth"], log, delay_ms / 1000)
        app.router.add_route("GET", "/{tail:.*}", handler)
        # keepalive as long as a run: aiohttp's 75 s default, curl's and nginx's alike
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx, backlog=512).start()
        runners.append(runner)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness stops us with SIGTERM
    spec = json.loads(sys.argv[1])
    with open(spec["log"], "a", buffering=1) as log_file:
        asyncio.run(serve(spec, Path(spec["www"]).resolve(), log_file))
