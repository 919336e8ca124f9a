"""Fault harness: the app exactly as `dualnova serve` runs it (`bot.slack.serve.start`),
in-process, against the Slack and Bedrock fakes; assertions are on what reached the wire."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.slack.serve import Running, start
from bot.state import StateStore
from tests.fakes.bedrock import Reply
from tests.fakes.slack import FakeSlack, Message
from tests.scenario.conftest import no_secrets_in_logs  # noqa: F401 - autouse here too

CHANNEL = "C0FAULTS"
MENTION = "<@UBOT>"
ALICE = "U0ALICE"  # Korean locale
BOB = "U0BOB"  # English locale
BOT_TOKEN = "xoxb-faults-0000-token"
APP_TOKEN = "xapp-1-faults-0000-token"
LEAVE_EN = "How many days of paid annual leave do employees get?"
LEAVE_KO = "직원은 유급 연차를 며칠 받나요?"
ANSWER = "Employees get 20 days of paid annual leave per year [1]. Up to five unused days carry over [1]."


def micro(question: str) -> Reply:
    return Reply(text=json.dumps({"standalone_question": question, "intent": "question"}))


class FakeClock:
    """A wall clock the test moves: "five minutes later" is a step, not a sleep."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def fault_slack_server() -> Iterator[FakeSlack]:
    with FakeSlack(
        bot_user_id="UBOT", team_id="T1", bot_token=BOT_TOKEN, app_token=APP_TOKEN
    ) as fake:
        yield fake


@pytest.fixture
def slack(fault_slack_server: FakeSlack) -> Iterator[FakeSlack]:
    fault_slack_server.reset()
    fault_slack_server.add_user(ALICE, locale="ko-KR")
    fault_slack_server.add_user(BOB, locale="en-US")
    yield fault_slack_server
    fault_slack_server.reset()


@pytest.fixture
def app_settings(
    settings: Settings, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, aws_env: Path
) -> Settings:
    for name, value in slack.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HEALTH_FILE", str(aws_env / "health.json"))
    monkeypatch.setenv("SOCKET_PING_SECONDS", "0.5")
    return load_settings()


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


def bot_replies(slack: FakeSlack, channel: str, thread_ts: str) -> list[Message]:
    return [m for m in slack.messages(channel, thread_ts) if m.bot_id and m.ts != thread_ts]


async def wait_replies(
    slack: FakeSlack, channel: str, thread_ts: str, count: int = 1, timeout: float = 15
) -> list[Message]:
    """`count` finished (no longer streaming) bot messages in the thread."""

    def done() -> list[Message] | None:
        replies = [m for m in bot_replies(slack, channel, thread_ts) if not m.streaming]
        return replies if len(replies) >= count else None

    return await slack.wait_for_async(done, timeout)


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


def has_feedback(msg: Message) -> bool:
    return any(b.get("type") == "actions" for b in msg.blocks or [])
