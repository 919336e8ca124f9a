"""Operations in Slack: budgets, `/dualnova usage`, the App Home and feedback metrics — the
real app with the observer `serve` installs, against the Slack and Bedrock fakes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.budget import format_reset, next_utc_midnight
from bot.config import Settings
from bot.messages import message
from bot.state import DynamoStateStore, StateStore
from bot.usage_format import format_usd
from fakes.aws import MotoServer
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import (
    ADMIN,
    ALICE,
    BOB,
    LEAVE_EN,
    MENTION,
    bot_replies,
    command_reply,
    is_placeholder,
    micro,
    wait_answer,
)
from fakes.slack import FakeSlack, Message
from tests.scenario.bots import CHANNEL, RunningBot, start_bot

GAP_EN = "What is the population of Jupiter's moon Europa?"  # not in the handbook


@dataclass
class OperatedBot:
    running: RunningBot
    emf: list[dict[str, Any]]


async def operated(
    settings: Settings, slack: FakeSlack, state: StateStore | None = None
) -> OperatedBot:
    emf: list[dict[str, Any]] = []
    running = await start_bot(
        settings, slack, state=state, metrics=lambda line: emf.append(json.loads(line))
    )
    return OperatedBot(running, emf)


@pytest.fixture
async def ops(slack_settings: Settings, slack: FakeSlack) -> AsyncIterator[OperatedBot]:
    bot = await operated(slack_settings, slack)
    yield bot
    await bot.running.stop()


async def reply_to(slack: FakeSlack, channel: str, ts: str) -> Message:
    """The bot's finished reply, feedback buttons or not (a refusal has none)."""

    def done() -> Message | None:
        replies = [
            m
            for m in bot_replies(slack, channel, ts)
            if not m.streaming and m.text and not is_placeholder(m)
        ]
        return replies[-1] if replies else None

    return await slack.wait_for_async(done, 15)


async def ask(slack: FakeSlack, user: str, text: str, channel: str = CHANNEL) -> Message:
    prefix = "" if channel.startswith("D") else f"{MENTION} "
    ts = slack.post_user_message(channel, user, prefix + text)
    return await reply_to(slack, channel, ts)


def reset_text(language: str, key: str = "budget_user") -> str:
    return message(key, language, time=format_reset(next_utc_midnight(time.time())))


async def test_a_users_third_question_is_refused_with_the_reset_time_and_admins_are_not_limited(
    slack_settings: Settings, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    settings = slack_settings.model_copy(update={"budget_user_daily_questions": 2})
    bot = await operated(settings, slack)
    try:
        first = await ask(slack, BOB, LEAVE_EN)
        second = await ask(slack, BOB, LEAVE_EN)
        third = await ask(slack, BOB, LEAVE_EN)
        for _ in range(3):
            assert "Fake answer" in (await ask(slack, ADMIN, LEAVE_EN)).text
    finally:
        await bot.running.stop()

    assert "Fake answer" in first.text and "Fake answer" in second.text
    assert third.text == reset_text("en")
    assert "00:00 UTC" in third.text
    assert len(bedrock.calls(model="nova-pro")) == 2 + 3
    statuses = [d.get("status") for d in bot.emf if "Questions" in d]
    assert statuses == ["answered", "answered", "refused", "answered", "answered", "answered"]


async def test_with_a_state_table_two_bots_hold_one_limit(
    slack_settings: Settings,
    slack: FakeSlack,
    bedrock: FakeBedrock,
    moto_server: MotoServer,
    state_table: str,
) -> None:
    settings = slack_settings.model_copy(update={"budget_user_daily_questions": 2})

    def store() -> DynamoStateStore:
        return DynamoStateStore(table_name=state_table, client=moto_server.client("dynamodb"))

    bots = [await operated(settings, slack, store()), await operated(settings, slack, store())]
    try:
        replies = [
            await ask(slack, ALICE, "Do contractors get paid annual leave?") for _ in range(3)
        ]
    finally:
        for bot in bots:
            await bot.running.stop()

    handled_by = {d.connection_id for d in slack.deliveries() if d.event.get("user") == ALICE}
    assert len(handled_by) == 2, "both bots answered some of the questions"
    assert [r.text == reset_text("en") for r in replies] == [False, False, True]
    assert len(bedrock.calls(model="nova-pro")) == 2


async def test_usage_shows_an_admin_the_totals_of_the_day_and_refuses_others(
    ops: OperatedBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-pro", Reply(text="20 days [1].", input_tokens=1000, output_tokens=100))
    bedrock.queue(
        "nova-micro", Reply(text=micro(LEAVE_EN).text, input_tokens=200, output_tokens=40)
    )
    bedrock.queue(
        "nova-pro",
        Reply(text="20일입니다 [1].", input_tokens=300, output_tokens=60, cache_read_tokens=700),
    )
    await ask(slack, BOB, LEAVE_EN)
    await ask(slack, ALICE, "직원은 유급 연차를 며칠 받나요?")
    await ask(slack, ADMIN, GAP_EN, channel="D0ADMIN")  # not in the documents: no model call

    reply = await command_reply(
        slack, slack.push_slash_command("/dualnova", "usage", ADMIN, CHANNEL)
    )
    refused = await command_reply(
        slack, slack.push_slash_command("/dualnova", "usage", ALICE, CHANNEL)
    )

    assert refused["text"] == message("not_admin", "ko", command="/dualnova usage")
    blocks = reply["blocks"]
    shown = "\n".join(
        field["text"] for block in blocks if block["type"] == "section" for field in block["fields"]
    )
    today, _month = blocks[1]["fields"][0]["text"], blocks[1]["fields"][1]["text"]
    # 1000+100 + 200+40 + 300+60+700 tokens; Nova list prices.
    cost = (1000 + 300 + 700 * 0.25) * 0.0008 / 1000 + 160 * 0.0032 / 1000
    cost += 200 * 0.000035 / 1000 + 40 * 0.00014 / 1000
    assert "Questions: *3*" in today
    assert "Answered 2 · not found 1 · failed 0" in today
    assert "Tokens: *2.4k*" in today and "700 cached" in today
    assert f"Cost: *{format_usd(cost)}*" in today and format_usd(cost) == "$0.0017"
    assert f"<#{CHANNEL}> 2 q" in shown and "<#D0ADMIN> 1 q" in shown
    assert "`us.amazon.nova-pro-v1:0` 2 calls" in shown
    assert "`translate+answer` 1 q" in shown and "`none` 1 q" in shown
    assert "`en` 2 (67%)" in shown and "`ko` 1 (33%)" in shown
    assert "3 questions" in reply["text"]


async def test_app_home_shows_ingest_collections_and_the_weeks_gaps_to_admins_only(
    ops: OperatedBot, slack: FakeSlack
) -> None:
    await ops.running.state.put(
        "ingest",
        "last",
        {"summary": "12 added, 0 changed", "by": ADMIN, "finished": "2026-04-24 03:00 UTC"},
    )
    for _ in range(2):
        await ask(slack, ADMIN, GAP_EN)  # (en-US locale: an English hint)

    for user in (ADMIN, BOB):
        slack.push_event({"type": "app_home_opened", "user": user, "channel": "D0X", "tab": "home"})
    admin_view = await slack.wait_for_async(lambda: slack.home_view(ADMIN), 10)
    bob_view = await slack.wait_for_async(lambda: slack.home_view(BOB), 10)

    admin_text = view_text(admin_view)
    assert message("home_intro", "en") in admin_text
    assert "Last ingest: 2026-04-24 03:00 UTC by <@U0ADMIN> — 12 added, 0 changed" in admin_text
    assert "Collections in version" in admin_text and "`public`" in admin_text
    assert f"*2×* `en` {GAP_EN}" in admin_text
    assert "Today (UTC)*: 2 questions" in admin_text
    bob_text = view_text(bob_view)
    assert message("home_intro", "es") in bob_text  # Bob's Slack locale
    assert GAP_EN not in bob_text and "Collections" not in bob_text


def view_text(view: dict[str, Any]) -> str:
    parts = []
    for block in view["blocks"]:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(text["text"])
        parts += [e["text"] for e in block.get("elements") or [] if isinstance(e, dict)]
    return "\n".join(parts)


async def test_feedback_is_stored_with_the_question_id_and_counted_as_a_metric(
    ops: OperatedBot, slack: FakeSlack
) -> None:
    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    (answer,) = await wait_answer(slack, CHANNEL, ts)
    down = next(
        e
        for b in answer.blocks or []
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "feedback_down"
    )

    click = slack.push_block_action(
        "feedback_down", user=BOB, channel=CHANNEL, message_ts=answer.ts, value=down["value"]
    )
    await slack.wait_for_ack_async(click)
    records: list[dict[str, Any]] = []
    for _ in range(500):
        records = await ops.running.state.list("feedback")
        if records:
            break
        await asyncio.sleep(0.01)
    (record,) = records

    question_id = next(d["question_id"] for d in ops.emf if "Questions" in d)
    assert record["question_id"] == question_id and record["vote"] == "down"
    (metric,) = [d for d in ops.emf if "Feedback" in d]
    assert metric["Vote"] == "down" and metric["Feedback"] == 1
