"""Run the emulator on a real socket: `serve()` inside a loop, `EmulatorThread` beside sync code.

Both bind 127.0.0.1 on a free port by default and report the actual `base_url`. Shutdown is
quick: streams still running are given `shutdown_timeout_s`, then cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Self, Unpack

from aiohttp import web

from bulkdl.emulator.app import AppOptions, build_app, emulator_state
from bulkdl.emulator.fleet import Fleet, demo_fleet
from bulkdl.emulator.state import EmulatorState

DEFAULT_SHUTDOWN_TIMEOUT_S = 0.25
_THREAD_START_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class RunningEmulator:
    """A bound, serving emulator."""

    base_url: str  # e.g. http://127.0.0.1:43123 (no trailing slash, no API prefix)
    app: web.Application

    @property
    def state(self) -> EmulatorState:
        """Fleet, counters and nonces of this server."""
        return emulator_state(self.app)


class ServeOptions(AppOptions, total=False):
    """`serve`'s keyword options, which `EmulatorThread` passes on as they are."""

    host: str
    port: int
    shutdown_timeout_s: float
    ssl_context: ssl.SSLContext | None


@asynccontextmanager
async def serve(
    fleet: Fleet,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    shutdown_timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S,
    ssl_context: ssl.SSLContext | None = None,
    **app_options: Unpack[AppOptions],
) -> AsyncIterator[RunningEmulator]:
    """Serve `fleet` until the block exits (port 0 picks a free port); https with ssl_context.

    The other options (chunking, nonce lifetime, collect durations, clocks) as for `build_app`.
    """
    app = build_app(fleet, **app_options)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout_s)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
        bound_port = runner.addresses[0][1]
        shown_host = f"[{host}]" if ":" in host else host
        scheme = "https" if ssl_context is not None else "http"
        yield RunningEmulator(base_url=f"{scheme}://{shown_host}:{bound_port}", app=app)
    finally:
        await runner.cleanup()


class EmulatorThread:
    """`serve()` on its own event loop in a daemon thread, for tests that run the CLI sync.

    with EmulatorThread(fleet, chunk_delay_s=0.01) as emu:
        run_cli(emu.base_url); assert emu.state.counters.max_in_flight <= 4
    """

    def __init__(self, fleet: Fleet | None = None, **options: Unpack[ServeOptions]) -> None:
        self.fleet = fleet if fleet is not None else demo_fleet()
        # serve() with every option bound now; the thread only has to call it.
        self._serve = functools.partial(serve, self.fleet, **options)
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._running: RunningEmulator | None = None
        self._error: BaseException | None = None

    @property
    def running(self) -> RunningEmulator:
        """The emulator once started; still readable (counters) after stop()."""
        if self._running is None:
            raise RuntimeError("the emulator was never started")
        return self._running

    @property
    def base_url(self) -> str:
        """e.g. http://127.0.0.1:43123"""
        return self.running.base_url

    @property
    def state(self) -> EmulatorState:
        """Fleet, counters, nonces; read counters once the client is done (or after stop())."""
        return self.running.state

    def start(self) -> Self:
        """Start serving; returns once the port is bound (or raises the start-up error)."""
        if self._thread is not None:
            raise RuntimeError("the emulator thread was already started")
        self._thread = threading.Thread(target=self._run, name="bulkdl-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(_THREAD_START_TIMEOUT_S):
            raise RuntimeError("the emulator did not start in time")
        if self._error is not None:
            self._thread.join()
            raise RuntimeError("the emulator failed to start") from self._error
        return self

    def stop(self) -> None:
        """Stop serving and join the thread (idempotent); re-raise a crash of the server."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: it is stopping
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError("the emulator thread crashed") from error

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 -- handed to start() in the caller's thread
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self._serve() as running:
            self._running = running
            self._ready.set()
            await self._stop.wait()
