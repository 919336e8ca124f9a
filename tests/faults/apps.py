"""The fault harness's app, exactly as `dualnova serve` runs it (`bot.slack.serve.start`),
in-process against the fakes, and the helpers its tests share. A plain module, so tests
import it (never the conftest).
"""

from __future__ import annotations

import asyncio
import time

from bot.config import Settings
from bot.slack.serve import Running, start
from bot.state import StateStore
from fakes.slack import FakeSlack

CHANNEL = "C0FAULTS"
BOT_TOKEN = "xoxb-faults-0000-token"
APP_TOKEN = "xapp-1-faults-0000-token"
LEAVE_KO = "직원은 유급 연차를 며칠 받나요?"
ANSWER = "Employees get 20 days of paid annual leave per year [1]. Up to five unused days carry over [1]."


class FakeClock:
    """A wall clock the test moves: "five minutes later" is a step, not a sleep."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def start_app(
    settings: Settings, slack: FakeSlack, *, state: StateStore | None = None
) -> Running:
    before = slack.connected
    running = await start(settings, state=state)
    await slack.wait_connected_async(before + 1)
    return running


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
