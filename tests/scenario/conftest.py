"""Scenario harness: the real Bolt app, in-process, against the Slack and Bedrock fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
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
from tests.fakes.slack import FakeSlack
from tests.harness import ADMIN, ALICE, BOB, slack_app_settings

CHANNEL = "C0SUPPORT"
DM = "D0ALICE"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"


@pytest.fixture(autouse=True)
def _every_scenario_keeps_secrets_out_of_logs(no_secrets_in_logs: None) -> None:
    """Every scenario: no Slack token or AWS secret key in any log record."""


@pytest.fixture(scope="session")
def slack_server() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN, app_token=APP_TOKEN) as fake:
        yield fake


@pytest.fixture
def slack_users() -> dict[str, str]:
    return {ALICE: "ko-KR", BOB: "es-ES", ADMIN: "en-US"}


@pytest.fixture
def slack_settings(
    settings: Settings, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, aws_env: Path
) -> Settings:
    return slack_app_settings(monkeypatch, slack, aws_env, ADMIN_USER_IDS=ADMIN)


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


@pytest.fixture
async def bot(slack_settings: Settings, slack: FakeSlack) -> AsyncIterator[RunningBot]:
    running = await start_bot(slack_settings, slack)
    yield running
    await running.stop()
