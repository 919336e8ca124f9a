"""`dualnova serve`: Socket Mode, health heartbeat, index polling and a graceful SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.errors import IndexNotFound, RetrievalError
from bot.observer import build_observer
from bot.slack.access import AccessPolicy
from bot.slack.app import build_app
from bot.slack.inflight import InFlight
from bot.state import build_state_store
from bot.wiring import build

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
HEALTH_MAX_AGE_S = 30.0


def web_client(settings: Settings, token: str) -> AsyncWebClient:
    """The Web API client: base URL from SLACK_API_URL; waits out `ratelimited` (Retry-After)."""
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=30,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def write_health(path: Path, *, connected: bool) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"connected": connected, "at": time.time(), "pid": os.getpid()}), "utf-8"
    )
    os.replace(tmp, path)


def check_health(path: Path, *, now: float | None = None) -> tuple[bool, str]:
    """For the container health check: healthy only while the socket is connected and fresh."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return False, f"no heartbeat at {path} (is `dualnova serve` running?)"
    age = (now or time.time()) - float(data.get("at", 0))
    if age > HEALTH_MAX_AGE_S:
        return False, f"heartbeat is {age:.0f}s old"
    if not data.get("connected"):
        return False, "Socket Mode is not connected"
    return True, f"connected (heartbeat {age:.0f}s ago)"


async def serve(settings: Settings) -> int:
    bot_token, app_token = settings.require_slack()
    loop = asyncio.get_running_loop()
    # Bedrock calls run in threads (boto3 is sync): the default pool (cores + 4) would cap
    # concurrent answers at 6 on this 2-core task.
    loop.set_default_executor(ThreadPoolExecutor(max_workers=64, thread_name_prefix="dualnova"))
    components = build(settings)
    await asyncio.to_thread(components.detector.preload)
    try:
        await asyncio.to_thread(components.index.refresh)
    except IndexNotFound as exc:
        log.warning("no index yet; questions get a 'run /ingest' reply", extra={"reason": str(exc)})
    client = web_client(settings, bot_token)
    inflight = InFlight()
    state = build_state_store(settings)
    components.pipeline.observer = build_observer(settings, state)
    app = build_app(
        components=components,
        client=client,
        state=state,
        access=AccessPolicy.load(settings.access_config),
        inflight=inflight,
    )
    handler = AsyncSocketModeHandler(
        app, app_token=app_token, web_client=client, ping_interval=settings.socket_ping_seconds
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    log.info("connected to Slack", extra={"offline": components.offline})
    background = [
        asyncio.create_task(_heartbeat(handler, settings.health_file)),
        asyncio.create_task(_poll_index(components.index.refresh, settings.index_poll_seconds)),
    ]
    await stop.wait()
    log.info(
        "shutting down: no new events; letting answers in flight finish",
        extra={"in_flight": inflight.count},
    )
    await handler.close_async()  # type: ignore[no-untyped-call]
    finished = await inflight.drain(settings.shutdown_grace_seconds)
    for task in background:
        task.cancel()
    write_health(settings.health_file, connected=False)
    log.info("stopped", extra={"drained": finished})
    return 0


async def _heartbeat(handler: AsyncSocketModeHandler, path: Path) -> None:
    while True:
        try:
            write_health(path, connected=await handler.client.is_connected())
        except OSError as exc:
            log.warning(
                "could not write the health file", extra={"path": str(path), "reason": exc.strerror}
            )
        await asyncio.sleep(HEARTBEAT_S)


async def _poll_index(refresh: object, every: float) -> None:
    """Every task notices a newly published index version within `every` seconds."""
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(refresh)  # type: ignore[arg-type]
        except (IndexNotFound, RetrievalError) as exc:
            log.warning(
                "index refresh failed; still serving the loaded version", extra={"reason": str(exc)}
            )
