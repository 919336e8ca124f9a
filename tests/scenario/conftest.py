"""Scenario harness: the real Bolt app, in-process, against the Slack and Bedrock fakes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.config import Settings, load_settings
from bot.slack.access import AccessPolicy
from bot.slack.app import build_app
from bot.slack.inflight import InFlight
from bot.slack.serve import web_client
from bot.state import MemoryStateStore, StateStore
from bot.wiring import Components, build
from tests.fakes.slack import FakeSlack
from tests.faults.secrets import AWS_SECRET, leaks

CHANNEL = "C0SUPPORT"
DM = "D0ALICE"
ALICE = "U0ALICE"  # Korean locale
BOB = "U0BOB"  # Spanish locale
ADMIN = "U0ADMIN"


@pytest.fixture(scope="session")
def fake_slack_server() -> Iterator[FakeSlack]:
    with FakeSlack(
        bot_user_id="UBOT", team_id="T1", bot_token="xoxb-test-token", app_token="xapp-test-token"
    ) as fake:
        yield fake


@pytest.fixture
def slack(fake_slack_server: FakeSlack) -> Iterator[FakeSlack]:
    fake_slack_server.reset()
    fake_slack_server.add_user(ALICE, locale="ko-KR")
    fake_slack_server.add_user(BOB, locale="es-ES")
    fake_slack_server.add_user(ADMIN, locale="en-US")
    yield fake_slack_server
    fake_slack_server.reset()


@pytest.fixture
def slack_settings(
    settings: Settings, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, aws_env: Path
) -> Settings:
    for name, value in slack.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ADMIN_USER_IDS", ADMIN)
    monkeypatch.setenv("HEALTH_FILE", str(aws_env / "health.json"))
    return load_settings()


@dataclass
class RunningBot:
    app: AsyncApp
    handler: AsyncSocketModeHandler
    components: Components
    state: StateStore
    inflight: InFlight
    extra: list[AsyncSocketModeHandler] = field(default_factory=list)


async def start_bot(
    settings: Settings,
    slack: FakeSlack,
    *,
    state: StateStore | None = None,
    access: AccessPolicy | None = None,
) -> RunningBot:
    bot_token, app_token = settings.require_slack()
    components = build(settings)
    await asyncio.to_thread(components.detector.preload)  # as `serve` does before connecting
    client = web_client(settings, bot_token)
    inflight = InFlight()
    store = state or MemoryStateStore()
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
    await running.inflight.drain(10)
    await running.handler.close_async()


@pytest.fixture(autouse=True)
def no_secrets_in_logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, aws_env: Path
) -> Iterator[None]:
    """Every scenario: no Slack token or AWS secret key in any log record, DEBUG included."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)  # after aws_env's dummy one
    caplog.set_level(logging.DEBUG)
    yield
    assert leaks(caplog.records, [AWS_SECRET]) == []
