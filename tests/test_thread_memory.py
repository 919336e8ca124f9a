"""Thread memory and addressing rules, without Slack: what is kept, what counts as addressed."""

from __future__ import annotations

from typing import cast

import pytest

from bot.slack.addressing import FollowUps, addressed_to_bot, reads_as_question
from bot.slack.thread_memory import ThreadMemory
from bot.state import MemoryStateStore
from kernel.models import Turn


async def test_memory_keeps_the_newest_turns_within_the_token_budget() -> None:
    memory = ThreadMemory(state=MemoryStateStore(), budget_tokens=40)

    for i in range(10):
        await memory.record(
            "C1", "1.0", Turn(role="user", text=f"turn {i} " + "x" * 40), ts=f"{i}.0"
        )

    turns = await memory.turns("C1", "1.0")
    assert turns is not None and 0 < len(turns) < 10
    assert turns[-1].text.startswith("turn 9") and sum(len(t.text) // 4 + 4 for t in turns) <= 40


async def test_a_redelivered_message_is_remembered_once_and_long_turns_still_fit() -> None:
    memory = ThreadMemory(state=MemoryStateStore(), budget_tokens=100)

    await memory.record("C1", "1.0", Turn(role="user", text="hello"), ts="2.0")
    await memory.record("C1", "1.0", Turn(role="user", text="hello"), ts="2.0")
    await memory.record("C1", "1.0", Turn(role="assistant", text="y" * 10_000))

    turns = await memory.turns("C1", "1.0")
    assert turns is not None and [t.role for t in turns][-1] == "assistant"
    assert len(turns[-1].text) // 4 + 4 <= 100
    assert await memory.turns("C1", "9.9") is None  # unknown, not empty


@pytest.mark.parametrize(
    "text",
    [
        "what about contractors",
        "¿Y los becarios?",
        "인턴도 해당되나요",
        "インターンも対象ですか",
        "does it apply to interns",
        "and interns？",
    ],
)
def test_questions_read_as_questions_in_several_languages(text: str) -> None:
    assert reads_as_question(text)


@pytest.mark.parametrize(
    ("text", "user", "mode", "answered"),
    [
        ("<@U2> can you check?", "U1", "addressed", False),  # talking to someone else
        ("<!here> is anyone around?", "U1", "addressed", False),
        ("thanks, that helps", "U2", "addressed", False),  # not the asker, not a question
        ("and for part-time staff", "U1", "addressed", True),  # the asker
        ("what about interns?", "U2", "addressed", True),  # a question
        ("thanks, that helps", "U2", "all", True),
        ("what about interns?", "U1", "mentions", False),
    ],
)
def test_thread_replies_are_answered_only_when_addressed(
    text: str, user: str, mode: str, answered: bool
) -> None:
    rule = cast(FollowUps, mode)
    assert addressed_to_bot(text, user=user, asker="U1", bot_user_id="UBOT", mode=rule) is answered
