"""What every loopback fake shares: a server on ``127.0.0.1:<ephemeral>`` in a daemon thread.

``LoopbackService`` is the lifecycle contract (``url``, ``start``/``stop``, ``with``);
``LoopbackServer`` runs an aiohttp application on its own event loop in that thread, so one
fake serves sync tests, async tests and an app running as a subprocess alike. A subclass
adds its routes in ``_routes`` and, when stopping must do more than close the server (drop
WebSockets, say), extends ``_shutdown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

__all__ = ["LoopbackServer", "LoopbackService"]

T = TypeVar("T")


class LoopbackService:
    """A server on ``127.0.0.1``: ``url`` while started, a context manager that stops it."""

    _url: str | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        if self._url is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._url

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class LoopbackServer(LoopbackService):
    """An aiohttp application served from a daemon thread with its own event loop."""

    thread_name = "fake"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._requested_port = port
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        return self._port

    def _routes(self, app: web.Application) -> None:
        """Add the fake's routes to ``app``."""
        raise NotImplementedError

    def start(self) -> Self:
        """Bind the port and serve from a daemon thread; returns self."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        self._port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        running = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(running.set)
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
        self._thread.start()
        running.wait(10)
        try:
            self._run(self._serve(sock), timeout=10)
        except BaseException:
            self.stop()
            sock.close()
            raise
        self._url = f"http://{self.host}:{self._port}"
        return self

    async def _serve(self, sock: socket.socket) -> None:
        app = web.Application()
        self._routes(app)
        # Short shutdown: tests stop a fake while clients may still hold keep-alives or
        # streams they abandoned.
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    def stop(self) -> None:
        """Close the server and join its thread."""
        if self._loop is None or self._thread is None:
            return
        with contextlib.suppress(Exception):
            self._run(self._shutdown(), timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop = self._thread = self._runner = None
        self._url = None

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # Pending timers would otherwise be destroyed with the loop, noisily.
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the fake's loop from another thread and wait for its result."""
        if self._loop is None:
            coro.close()
            raise RuntimeError(f"{type(self).__name__} is not started")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                f"{type(self).__name__} helpers cannot be called from the fake's own loop"
            )
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)
