"""`dualnova serve`: Socket Mode, health heartbeat, index polling and a graceful SIGTERM.

`start()` builds and connects everything `serve` runs (tests and benchmarks use it to run
the real app in-process); `serve()` adds the signal handling, heartbeat and index polling.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import logging
import re
import signal
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.health import check_health as check_health  # re-exported for older imports
from bot.health import write_health
from bot.slack.access import AccessPolicy
from bot.slack.app import build_app
from bot.slack.governor import (
    DEFAULT_BUDGETS,
    GovernedClient,
    Governor,
    IdempotentServerErrorRetryHandler,
)
from bot.slack.inflight import InFlight
from bot.slack_rates import parse_method_limits
from bot.state import StateStore
from bot.state_factory import open_state_store
from bot.wiring import Components, build
from kernel.errors import IndexNotFound, RetrievalError

log = logging.getLogger(__name__)
T = TypeVar("T")

HEARTBEAT_S = 5.0
#: Threads for blocking calls. boto3 is synchronous: every Bedrock call, and every streamed
#: answer for its whole length, holds one (`bot.bedrock.stream_chat` reads the stream on the
#: default executor). The default pool (cores + 4 = 6 here) would queue answers behind each other;
#: 256 lets a burst of 200 questions stream at once. Threads are only started when needed.
BLOCKING_THREADS = 256
#: How soon a thread waiting for the GIL gets it (CPython's default is 5 ms).
GIL_SWITCH_S = 0.001
#: Concurrent Web API connections kept open to Slack (one HTTP session for the process).
SLACK_CONNECTIONS = 64


def governor(settings: Settings) -> Governor:
    """Slack's budgets (with SLACK_METHOD_LIMITS applied), this task's share of them."""
    budgets = {**DEFAULT_BUDGETS, **parse_method_limits(settings.slack_method_limits)}
    return Governor(
        budgets, tasks=settings.slack_tasks, stream_max_s=settings.slack_stream_max_seconds
    )


def web_client(
    settings: Settings,
    token: str | None,
    *,
    session: aiohttp.ClientSession | None = None,
    governed_by: Governor | None = None,
) -> GovernedClient:
    """The Web API client: base URL from SLACK_API_URL, every call paced by the governor
    (which also waits out a 429's Retry-After); server errors are retried only for methods
    that are safe to send twice.

    Pass a `session` to reuse connections: without one, slack_sdk opens (and closes) a new
    HTTP session and TCP connection for every call.
    """
    return GovernedClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=30,
        session=session,
        governor=governed_by or governor(settings),
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            IdempotentServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def http_session(connections: int = SLACK_CONNECTIONS) -> aiohttp.ClientSession:
    """One pooled HTTP session for the Web API (call inside the running loop)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections))


class _EarlyAckClient(SocketModeClient):
    """Acks an Events API envelope the moment it is read off the socket.

    An event's ack never carries a payload, so it can go before Bolt runs; commands and
    interactions, whose ack may carry a reply, are acked with Bolt's response as usual.
    """

    early_acked: OrderedDict[str, None]

    async def enqueue_message(self, message: str) -> None:
        envelope_id = _event_envelope_id(message)
        if envelope_id is not None:
            try:
                await self.send_socket_mode_response(SocketModeResponse(envelope_id=envelope_id))
            except Exception as exc:  # Bolt's own ack gets a second chance
                log.info("early ack failed", extra={"reason": exc.__class__.__name__})
            else:
                self.early_acked[envelope_id] = None
                while len(self.early_acked) > 10_000:
                    self.early_acked.popitem(last=False)
        await super().enqueue_message(message)


#: An unescaped `"type": "events_api"` / `"envelope_id": "..."` can only be the envelope's own
#: keys (quotes inside JSON strings are escaped): cheaper than parsing a 40 KB event twice.
_EVENTS_API = re.compile(r'"type"\s*:\s*"events_api"')
_ENVELOPE_ID = re.compile(r'"envelope_id"\s*:\s*"([^"\\]+)"')


def _event_envelope_id(message: str) -> str | None:
    """The envelope id of an Events API envelope (None for anything else)."""
    if _EVENTS_API.search(message) is None:
        return None
    match = _ENVELOPE_ID.search(message)
    return match.group(1) if match else None


class SocketLink:
    """Socket Mode on a thread and event loop of its own; the Bolt app stays on the main loop.

    Bolt acks an event only after its middleware has run on the app's loop, so in a burst
    every ack waits behind the work of the envelopes before it and of the answers they
    start (measured: p99 of 300 ms for 200 events at once). Here the WebSocket is read on a
    loop that does nothing else: an event is acked as soon as it is read, then handed to
    the app's loop. Reconnects (`apps.connections.open`, pings) happen on this thread too.
    """

    def __init__(
        self, app: AsyncApp, *, app_token: str, settings: Settings, ping_interval: float
    ) -> None:
        self._app = app
        self._app_token = app_token
        self._settings = settings
        self._ping_interval = ping_interval
        self._main: asyncio.AbstractEventLoop | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="slack-socket", daemon=True
        )
        self.client: _EarlyAckClient | None = None
        self._dispatching: set[concurrent.futures.Future[Any]] = set()

    def _on_socket_loop(self, coro: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def connect(self) -> None:
        """Open the WebSocket (from the app's loop); events flow to the app from now on."""
        self._main = asyncio.get_running_loop()
        self._thread.start()
        await self._on_socket_loop(self._connect())

    async def _connect(self) -> None:
        # The Web API client of the socket thread only opens connections (app token,
        # Tier 1): governed too, by a governor of this loop's own.
        web = web_client(self._settings, None)
        client = _EarlyAckClient(
            app_token=self._app_token,
            logger=self._app.logger,
            web_client=web,
            ping_interval=self._ping_interval,
        )
        client.early_acked = OrderedDict()
        client.socket_mode_request_listeners.append(self._handle)  # type: ignore[arg-type]
        self.client = client
        await client.connect()  # type: ignore[no-untyped-call]

    async def is_connected(self) -> bool:
        client = self.client
        if client is None or not self._thread.is_alive():
            return False
        return bool(await self._on_socket_loop(client.is_connected()))

    async def close(self) -> None:
        """Close the socket (no new events), let events already read reach the app, stop."""
        if self.client is not None and self._thread.is_alive():
            await self._on_socket_loop(self._close())
        pending = [asyncio.wrap_future(f) for f in list(self._dispatching)]
        if pending:
            await asyncio.wait(pending, timeout=10)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, 10)
        if not self._loop.is_running():
            self._loop.close()

    async def _close(self) -> None:
        assert self.client is not None
        await self.client.close()  # type: ignore[no-untyped-call]
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        """On the socket loop: run the Bolt app on the main loop; ack with its response unless
        the envelope was acked on arrival."""
        assert self._main is not None and self.client is not None
        started = time.time()
        future = asyncio.run_coroutine_threadsafe(run_async_bolt_app(self._app, req), self._main)
        if self.client.early_acked.pop(req.envelope_id, False) is None:
            self._dispatching.add(future)
            future.add_done_callback(self._dispatched)
            return
        await send_async_response(client, req, await asyncio.wrap_future(future), started)

    def _dispatched(self, future: concurrent.futures.Future[Any]) -> None:
        self._dispatching.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("event dispatch failed", exc_info=future.exception())


@dataclass
class Running:
    """The app as `serve` runs it, connected to Slack."""

    app: AsyncApp
    link: SocketLink
    components: Components
    client: AsyncWebClient
    state: StateStore
    inflight: InFlight
    session: aiohttp.ClientSession

    async def stop(self, grace_seconds: float) -> bool:
        """No new events; let answers in flight finish (up to `grace_seconds`); close."""
        await self.link.close()
        finished = await self.inflight.drain(grace_seconds)
        await self.session.close()
        return finished


async def start(
    settings: Settings,
    *,
    state: StateStore | None = None,
    access: AccessPolicy | None = None,
    components: Components | None = None,
    settle: bool = False,
) -> Running:
    """Build everything from `settings`, load the index and connect to Slack.

    `settle`: hide the start-up heap from the garbage collector (see `settle_heap`) before
    connecting, as `serve` does; off by default since it is process-wide.
    """
    bot_token, app_token = settings.require_slack()
    # First: an unwritable or damaged state file stops start-up before anything connects.
    state = state or open_state_store(settings)
    components = components or build(settings, state=state)
    await asyncio.to_thread(components.detector.preload)
    try:
        await asyncio.to_thread(components.index.refresh)
    except IndexNotFound as exc:
        log.warning("no index yet; questions get a 'run /ingest' reply", extra={"reason": str(exc)})
    session = http_session()
    client = web_client(settings, bot_token, session=session)
    inflight = InFlight()
    app = build_app(
        components=components,
        client=client,
        state=state,
        access=access or AccessPolicy.load(settings.access_config),
        inflight=inflight,
    )
    if settle:
        settle_heap()
    link = SocketLink(
        app,
        app_token=app_token,
        settings=settings,
        ping_interval=settings.socket_ping_seconds,
    )
    try:
        await link.connect()
    except BaseException:
        await link.close()
        await session.close()
        raise
    return Running(app, link, components, client, state, inflight, session)


async def serve(settings: Settings) -> int:
    settings.require_slack()
    # Answers stream on up to BLOCKING_THREADS threads; with CPython's default 5 ms switch
    # interval the socket thread and the event loop could wait tens of ms for the GIL behind
    # them. 1 ms keeps acks and the loop responsive at a negligible cost in throughput.
    sys.setswitchinterval(GIL_SWITCH_S)
    loop = asyncio.get_running_loop()
    loop.set_default_executor(
        ThreadPoolExecutor(max_workers=BLOCKING_THREADS, thread_name_prefix="dualnova")
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    running = await start(settings, settle=True)
    log.info("connected to Slack", extra={"offline": running.components.offline})
    background = [
        asyncio.create_task(_heartbeat(running.link, settings.health_file)),
        asyncio.create_task(
            _poll_index(running.components.index.refresh, settings.index_poll_seconds)
        ),
    ]
    await stop.wait()
    log.info(
        "shutting down: no new events; letting answers in flight finish",
        extra={"in_flight": running.inflight.count},
    )
    finished = await running.stop(settings.shutdown_grace_seconds)
    for task in background:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*background, return_exceptions=True)
    write_health(settings.health_file, connected=False)
    log.info("stopped", extra={"drained": finished})
    return 0


def settle_heap() -> None:
    """Hide what start-up built from the cyclic garbage collector.

    After start-up the collector tracks ~230k objects (modules, the index, the models);
    each full collection walked them all, holding the GIL for ~150 ms: every socket ack and
    every answer stalled that long a few times a minute under load. Frozen objects are
    skipped by collections (reference counting still frees them); this runs again after an
    index swap, so the version it replaced is collected first.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


async def _heartbeat(link: SocketLink, path: Path) -> None:
    while True:
        try:
            write_health(path, connected=await link.is_connected())
        except OSError as exc:
            log.warning(
                "could not write the health file", extra={"path": str(path), "reason": exc.strerror}
            )
        await asyncio.sleep(HEARTBEAT_S)


async def _poll_index(refresh: Any, every: float) -> None:
    """Every task notices a newly published index version within `every` seconds."""
    while True:
        await asyncio.sleep(every)
        try:
            swapped = await asyncio.to_thread(refresh)
        except (IndexNotFound, RetrievalError) as exc:
            log.warning(
                "index refresh failed; still serving the loaded version", extra={"reason": str(exc)}
            )
        else:
            if swapped:
                settle_heap()
