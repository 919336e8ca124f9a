"""Helpers shared by the test harnesses: the people and questions they use, and what the
bot posted in a thread, read off the Slack fake.

Plain functions and constants only; the fixtures live in the conftests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bot.config import Settings, load_settings
from tests.fakes.bedrock import Reply
from tests.fakes.slack import FakeSlack, Message

if TYPE_CHECKING:
    import pytest

T = TypeVar("T")

MENTION = "<@UBOT>"  # the fake's bot user
LEAVE_EN = "How many days of paid annual leave do employees get?"

# The workspace of the in-process app harnesses (tests/scenario, tests/faults); each gives
# its users their locales in its `slack_users` fixture.
ALICE = "U0ALICE"  # ko-KR in both
BOB = "U0BOB"  # es-ES in the scenarios, en-US in the fault tests
ADMIN = "U0ADMIN"  # en-US, an admin (scenarios only)


def micro(question: str) -> Reply:
    """Nova Micro's routing reply: `question` as the standalone question to answer."""
    return Reply(text=json.dumps({"standalone_question": question, "intent": "question"}))


def slack_app_settings(
    monkeypatch: pytest.MonkeyPatch, slack: FakeSlack, workdir: Path, **env: str
) -> Settings:
    """Settings of an app pointed at `slack`, its health file in `workdir`, plus `env`."""
    for name, value in {
        **slack.env(),
        "HEALTH_FILE": str(workdir / "health.json"),
        **env,
    }.items():
        monkeypatch.setenv(name, value)
    return load_settings()


# --- what the bot posted -------------------------------------------------------------------


def bot_replies(slack: FakeSlack, channel: str, thread_ts: str) -> list[Message]:
    return [m for m in slack.messages(channel, thread_ts) if m.bot_id and m.ts != thread_ts]


def block_types(msg: Message) -> list[str]:
    return [b["type"] for b in msg.blocks or []]


def has_feedback(msg: Message) -> bool:
    """A finished answer's last message carries the feedback buttons (an `actions` block)."""
    return any(b.get("type") == "actions" for b in msg.blocks or [])


def all_text(msg: Message) -> str:
    parts = [msg.text or ""]
    for block in msg.blocks or []:
        if block.get("type") == "section":
            parts.append(block["text"]["text"])
        for element in block.get("elements") or []:
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "\n".join(parts)


async def wait_replies(
    slack: FakeSlack, channel: str, thread_ts: str, count: int = 1, timeout: float = 15
) -> list[Message]:
    """The bot's finished (no longer streaming) messages in the thread, once there are `count`."""
    return await _wait_finished(slack, channel, thread_ts, count, timeout, lambda _: True)


async def wait_answer(
    slack: FakeSlack, channel: str, thread_ts: str, count: int = 1, timeout: float = 15
) -> list[Message]:
    """The bot's finished messages in the thread, once `count` answers are complete (each
    answer's last message carries the feedback buttons)."""
    return await _wait_finished(slack, channel, thread_ts, count, timeout, has_feedback)


async def _wait_finished(
    slack: FakeSlack,
    channel: str,
    thread_ts: str,
    count: int,
    timeout: float,
    counts: Callable[[Message], bool],
) -> list[Message]:
    def done() -> list[Message] | None:
        replies = [m for m in bot_replies(slack, channel, thread_ts) if not m.streaming]
        return replies if sum(1 for m in replies if counts(m)) >= count else None

    return await slack.wait_for_async(done, timeout)


async def eventually(read: Callable[[], Awaitable[T]], timeout: float = 5.0) -> T:
    """Poll an async read until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := await read()):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("nothing recorded")
        await asyncio.sleep(0.02)
    return value
