"""Threads and commands against Slack's real rules: thread memory from events, follow-ups
addressed to the bot, group DMs, commands that ack first, sharing and ingesting where the
bot is not a member."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.messages import message
from bot.slack.manifest import BOT_EVENTS, BOT_SCOPES
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import (
    ADMIN,
    ALICE,
    BOB,
    DOCS,
    LEAVE_EN,
    MENTION,
    all_text,
    bot_replies,
    command_reply,
    eventually,
    micro,
    wait_answer,
)
from fakes.slack import FakeSlack
from tests.scenario.bots import CHANNEL, RunningBot, start_bot

ELSEWHERE = "C0NOTJOINED"  # a public channel the bot was never added to
MPIM = "G0GROUPDM"


async def _memory(bot: RunningBot, channel: str, thread_ts: str, turns: int) -> list[str]:
    async def read() -> list[str] | None:
        record = await bot.state.get("thread_memory", f"{channel}:{thread_ts}")
        texts = [t["text"] for t in (record or {}).get("turns", [])]
        return texts if len(texts) >= turns else None

    return await eventually(read)


# --- thread memory ---------------------------------------------------------------------------


async def test_follow_up_history_comes_from_memory_not_conversations_replies(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-pro", Reply(text="Employees get 20 days of paid annual leave [1]."))
    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    await wait_answer(slack, CHANNEL, ts)
    bedrock.queue("nova-micro", micro("Do contractors get paid annual leave?"))

    slack.post_user_message(CHANNEL, BOB, "what about contractors?", thread_ts=ts)
    await wait_answer(slack, CHANNEL, ts, count=2)

    assert slack.calls("conversations.replies") == []
    condense = bedrock.calls(model="nova-micro")[0].text
    assert LEAVE_EN in condense and "20 days of paid annual leave" in condense
    remembered = await _memory(bot, CHANNEL, ts, 4)
    assert remembered[0] == LEAVE_EN and remembered[2] == "what about contractors?"


# --- follow-ups addressed to the bot ---------------------------------------------------------


async def test_thread_replies_between_people_are_remembered_but_not_answered(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    await wait_answer(slack, CHANNEL, ts)

    slack.post_user_message(CHANNEL, ALICE, f"<@{BOB}> can you check the handbook?", thread_ts=ts)
    slack.post_user_message(CHANNEL, ALICE, "thanks, that helps", thread_ts=ts)
    await _memory(bot, CHANNEL, ts, 4)
    bedrock.queue("nova-micro", micro("Do part-time staff get paid annual leave?"))
    slack.post_user_message(CHANNEL, BOB, "and for part-time staff", thread_ts=ts)  # the asker
    await wait_answer(slack, CHANNEL, ts, count=2)
    await _memory(bot, CHANNEL, ts, 6)
    bedrock.queue("nova-micro", micro("Do interns get paid annual leave?"))
    slack.post_user_message(CHANNEL, ALICE, "what about interns?", thread_ts=ts)  # a question
    await wait_answer(slack, CHANNEL, ts, count=3)
    await bot.inflight.drain(5)

    assert len(bedrock.calls(model="nova-pro")) == 3
    assert len(bot_replies(slack, CHANNEL, ts)) == 3
    last_condense = bedrock.calls(model="nova-micro")[-1].text
    assert "can you check the handbook?" in last_condense and "thanks, that helps" in last_condense


async def test_channel_setting_answers_only_mentions_in_threads(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    changed = await command_reply(
        slack, slack.push_slash_command("/dualnova", "settings followups mentions", ADMIN, CHANNEL)
    )
    assert "`mentions`" in changed["text"]
    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    await wait_answer(slack, CHANNEL, ts)

    slack.post_user_message(CHANNEL, BOB, "what about contractors?", thread_ts=ts)
    await _memory(bot, CHANNEL, ts, 3)
    bedrock.queue("nova-micro", micro("Do interns get paid annual leave?"))
    slack.post_user_message(CHANNEL, BOB, f"{MENTION} and interns?", thread_ts=ts)
    await wait_answer(slack, CHANNEL, ts, count=2)
    await bot.inflight.drain(5)

    assert len(bedrock.calls(model="nova-pro")) == 2
    assert "what about contractors?" in bedrock.calls(model="nova-micro")[-1].text


# --- group DMs -------------------------------------------------------------------------------


async def test_group_dms_are_handled_like_channels(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    assert "mpim:history" in BOT_SCOPES and "message.mpim" in BOT_EVENTS
    slack.add_mpim(MPIM)
    slack.subscriptions.add("message.mpim")
    bedrock.queue("nova-pro", Reply(text="Employees get 20 days of paid annual leave [1]."))

    ts = slack.post_user_message(MPIM, BOB, f"{MENTION} {LEAVE_EN}")
    await wait_answer(slack, MPIM, ts)
    slack.post_user_message(MPIM, BOB, "what about contractors?", thread_ts=ts)
    replies = await wait_answer(slack, MPIM, ts, count=2)

    assert "20 days" in all_text(replies[0])
    assert len(bedrock.calls(model="nova-pro")) == 2


# --- commands ack before slow work -----------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "text", "user"),
    [
        ("/ask", LEAVE_EN, BOB),
        ("/ask", "", BOB),
        ("/dualnova", "usage", ADMIN),
        ("/dualnova", "language ja", BOB),
        ("/glossary", "add Foo ko=푸", BOB),
        ("/ingest", "", ALICE),
    ],
)
async def test_slash_commands_ack_before_a_slow_users_info(
    bot: RunningBot, slack: FakeSlack, command: str, text: str, user: str
) -> None:
    slack.latency("users.info", 4.0)

    envelope = slack.push_slash_command(command, text, user, CHANNEL)
    ack = await slack.wait_for_ack_async(envelope, timeout=10)
    posts = await slack.wait_for_async(lambda: slack.response_posts(envelope), 20)
    await bot.inflight.drain(20)

    (lookup, *_) = slack.calls("users.info")
    assert ack.latency_s is not None and ack.latency_s < 3
    assert ack.received_at < lookup.at, "acked only after users.info answered"
    assert posts[0].body["response_type"] == "ephemeral" and posts[0].body["text"]


# --- share in channel ------------------------------------------------------------------------


async def _ask_privately(slack: FakeSlack, channel: str) -> str:
    """/ask in `channel`; the share button's value."""
    envelope = slack.push_slash_command("/ask", LEAVE_EN, BOB, channel)
    posts = await slack.wait_for_async(
        lambda: [p for p in slack.response_posts(envelope) if p.body.get("blocks")], 15
    )
    return str(
        next(
            e["value"]
            for b in posts[-1].body["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == "share_answer"
        )
    )


async def test_share_posts_in_a_channel_the_bot_has_not_joined(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-pro", Reply(text="Employees get 20 days of paid annual leave [1]."))
    value = await _ask_privately(slack, ELSEWHERE)

    click = slack.push_block_action(
        "share_answer", user=BOB, channel=ELSEWHERE, message_ts="0", value=value
    )
    shared = await slack.wait_for_async(lambda: slack.messages(ELSEWHERE), 10)
    await slack.wait_for_async(lambda: len(slack.response_posts(click)) == 2, 10)

    assert not slack.is_member(ELSEWHERE)
    assert "20 days" in all_text(shared[0])
    assert slack.calls("chat.postMessage") == []
    in_channel, confirmed = (p.body for p in slack.response_posts(click))
    assert in_channel["response_type"] == "in_channel"
    assert confirmed["text"] == message("shared", "en")


async def test_a_failed_share_can_be_tried_again(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-pro", Reply(text="Employees get 20 days of paid annual leave [1]."))
    value = await _ask_privately(slack, ELSEWHERE)

    slack.response_url_ttl_s = 0  # this click's response_url has already expired
    failed = slack.push_block_action(
        "share_answer", user=BOB, channel=ELSEWHERE, message_ts="0", value=value
    )
    await slack.wait_for_ack_async(failed)
    await eventually(lambda: bot.state.get("share_attempt", value))
    (told,) = await slack.wait_for_async(lambda: slack.messages(slack.dm_channel(BOB)), 10)
    assert told.text == message("error", "en")  # the spent response_url cannot say it
    slack.response_url_ttl_s = 30 * 60
    slack.push_block_action(
        "share_answer", user=BOB, channel=ELSEWHERE, message_ts="0", value=value
    )
    shared = await slack.wait_for_async(lambda: slack.messages(ELSEWHERE), 10)
    await bot.inflight.drain(5)

    assert len(shared) == 1 and "20 days" in all_text(shared[0])


# --- /ingest ---------------------------------------------------------------------------------


async def test_ingest_summary_reaches_the_admin_by_dm_and_escapes_document_names(
    slack_settings: Settings, slack: FakeSlack, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "leave.md").write_text((DOCS / "en" / "leave-policy.md").read_text("utf-8"), "utf-8")
    (docs / "<!channel> <@U0BOB> notes.xyz").write_text("not a document", "utf-8")
    settings = slack_settings.model_copy(update={"index_uri": str(tmp_path / "index")})
    running = await start_bot(settings, slack)
    try:
        envelope = slack.push_slash_command("/ingest", str(docs), ADMIN, ELSEWHERE)
        dm = slack.dm_channel(ADMIN)

        def summary() -> Any:
            return next((m for m in slack.messages(dm) if "✅" in m.text), None)

        final = await slack.wait_for_async(summary, 30)
        await running.inflight.drain(10)
    finally:
        await running.handler.close_async()

    assert "1 skipped" in final.text and "unsupported file type" in final.text
    # The name reached Slack inert: no broadcast to the channel, no mention of Bob.
    assert "<!channel>" not in final.text and "<@U0BOB>" not in final.text
    assert "@\u2060channel" in final.text
    assert slack.messages(ELSEWHERE) == []
    # Only the ack spoke for the command: nothing rides on its short-lived response_url.
    assert slack.response_posts(envelope) == []
