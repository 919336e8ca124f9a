"""The scenario harness's bot: the real Bolt app, in-process, against the Slack and Bedrock
fakes, and the ids it talks to. A plain module, so tests import it (never the conftest).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.config import Settings
from bot.metrics import Write
from bot.observer import build_observer
from bot.pipeline import NoObserver
from bot.slack.access import AccessPolicy
from bot.slack.app import build_app
from bot.slack.inflight import InFlight
from bot.slack.serve import web_client
from bot.state import StateStore
from bot.state_factory import open_state_store
from bot.wiring import Components, build
from fakes.slack import FakeSlack

CHANNEL = "C0SUPPORT"
DM = "D0ALICE"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"


@dataclass
class RunningBot:
    app: AsyncApp
    handler: AsyncSocketModeHandler
    components: Components
    state: StateStore
    inflight: InFlight
    extra: list[AsyncSocketModeHandler] = field(default_factory=list)

    async def stop(self) -> None:
        """Let the answers in flight finish, then close the socket."""
        await self.inflight.drain(10)
        await self.handler.close_async()


async def start_bot(
    settings: Settings,
    slack: FakeSlack,
    *,
    state: StateStore | None = None,
    access: AccessPolicy | None = None,
    metrics: Write | None = None,
) -> RunningBot:
    """`metrics`: run budgets and accounting as `serve` does, EMF lines to this writer;
    without it the bot runs with no observer."""
    bot_token, app_token = settings.require_slack()
    # The product's default store, a SQLite file in the test's working directory (aws_env's
    # tmp_path): the store every real deployment without STATE_TABLE runs is the one tested.
    store = state or open_state_store(settings)
    observer = NoObserver() if metrics is None else build_observer(settings, store, write=metrics)
    components = build(settings, state=store, observer=observer)
    await asyncio.to_thread(components.detector.preload)  # as `serve` does before connecting
    client = web_client(settings, bot_token)
    inflight = InFlight()
    app = build_app(
        components=components,
        client=client,
        state=store,
        access=access or AccessPolicy.load(settings.access_config),
        inflight=inflight,
    )
    handler = AsyncSocketModeHandler(app, app_token=app_token, web_client=client, ping_interval=0.5)
    before = slack.connected
    await handler.connect_async()
    await slack.wait_connected_async(before + 1)
    return RunningBot(app, handler, components, store, inflight)
