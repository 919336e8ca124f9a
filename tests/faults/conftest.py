"""Fault harness: the app exactly as `dualnova serve` runs it (`bot.slack.serve.start`),
in-process, against the Slack and Bedrock fakes; assertions are on what reached the wire."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.slack.serve import Running, start
from bot.state import StateStore
from tests.fakes.slack import FakeSlack
from tests.harness import ALICE, BOB, slack_app_settings

CHANNEL = "C0FAULTS"
BOT_TOKEN = "xoxb-faults-0000-token"
APP_TOKEN = "xapp-1-faults-0000-token"
LEAVE_KO = "직원은 유급 연차를 며칠 받나요?"
ANSWER = "Employees get 20 days of paid annual leave per year [1]. Up to five unused days carry over [1]."


@pytest.fixture(autouse=True)
def _every_fault_test_keeps_secrets_out_of_logs(no_secrets_in_logs: None) -> None:
    """Every fault test: no Slack token or AWS secret key in any log record."""


class FakeClock:
    """A wall clock the test moves: "five minutes later" is a step, not a sleep."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def slack_server() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN, app_token=APP_TOKEN) as fake:
        yield fake


@pytest.fixture
def slack_users() -> dict[str, str]:
    return {ALICE: "ko-KR", BOB: "en-US"}


@pytest.fixture
def app_settings(
    settings: Settings, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, aws_env: Path
) -> Settings:
    return slack_app_settings(monkeypatch, slack, aws_env, SOCKET_PING_SECONDS="0.5")


async def start_app(
    settings: Settings, slack: FakeSlack, *, state: StateStore | None = None
) -> Running:
    before = slack.connected
    running = await start(settings, state=state)
    await slack.wait_connected_async(before + 1)
    return running


@pytest.fixture
async def app(app_settings: Settings, slack: FakeSlack) -> AsyncIterator[Running]:
    running = await start_app(app_settings, slack)
    yield running
    await running.stop(10)


async def settle(running: Running, slack: FakeSlack, quiet_s: float = 0.2) -> None:
    """Every envelope acked, nothing in flight, then `quiet_s` without a new Web API call."""
    await slack.wait_for_async(
        lambda: all(d.envelope_id in slack.acks for d in slack.deliveries()), 10
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        await running.inflight.drain(10)
        calls = len(slack.calls())
        await asyncio.sleep(quiet_s)
        if len(slack.calls()) == calls and running.inflight.count == 0:
            return
    raise TimeoutError("the app kept calling Slack")
