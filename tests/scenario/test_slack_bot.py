"""The Slack bot end to end: the real Bolt app against the Slack and Bedrock fakes.

Every assertion is on what reached the wire: Slack Web API calls and messages, Socket Mode
acks, and the Bedrock requests.
"""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.messages import message
from bot.slack.render import WORD_JOINER
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import (
    ADMIN,
    ALICE,
    BOB,
    DOCS,
    LEAVE_EN,
    MENTION,
    all_text,
    block_types,
    bot_replies,
    command_reply,
    micro,
    wait_answer,
)
from fakes.slack import FakeSlack, Message
from tests.scenario.bots import CHANNEL, DM, RunningBot, start_bot


async def test_korean_mention_is_answered_in_its_thread_streamed_with_sources_and_feedback(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-micro", micro(LEAVE_EN))
    bedrock.queue(
        "nova-pro",
        Reply(
            text="직원은 연간 **20일**의 유급 연차를 받습니다 [1]. 최대 5일까지 이월할 수 있습니다 [1]."
        ),
    )

    ts = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} 직원은 유급 연차를 며칠 받나요?")
    (answer,) = await wait_answer(slack, CHANNEL, ts)

    pushed = [d for d in slack.deliveries() if d.event.get("ts") == ts]
    assert pushed and all(slack.acks[d.envelope_id].latency_s < 3 for d in pushed)
    reaction = next(c for c in slack.calls("reactions.add") if c.args.get("timestamp") == ts)
    assert reaction.args["name"] == "eyes" and reaction.at - pushed[0].sent_at < 1.0
    assert answer.thread_ts == ts and answer.streamed
    assert answer.recipient_user_id == ALICE and answer.recipient_team_id == "T1"
    assert "20일" in answer.text and "[1]" in answer.text
    assert block_types(answer) == ["context", "actions", "actions"]
    assert "leave-policy.md" in all_text(answer)
    translations, feedback = answer.blocks[1]["elements"], answer.blocks[2]["elements"]  # type: ignore[index]
    assert [a["action_id"] for a in translations] == [
        "show_translation_1"
    ]  # English source, Korean answer
    assert [a["action_id"] for a in feedback] == [
        "feedback_up",
        "feedback_down",
        "feedback_translation",
    ]
    pro = bedrock.calls(model="nova-pro")[0]
    assert "Answer language: Korean (ko)" in pro.text and "20 days of paid annual leave" in pro.text
    await slack.wait_for_async(
        lambda: not slack.reactions(CHANNEL, ts), 5
    )  # the sign of work is cleared


async def test_follow_up_in_the_thread_needs_no_mention_and_uses_the_history(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-pro", Reply(text="Employees get 20 days of paid annual leave [1]."))
    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    await wait_answer(slack, CHANNEL, ts)
    bedrock.queue("nova-micro", micro("Do contractors get paid annual leave?"))
    bedrock.queue("nova-pro", Reply(text="Contractors are not eligible for paid leave [1]."))

    slack.post_user_message(CHANNEL, BOB, "what about contractors?", thread_ts=ts)
    replies = await wait_answer(slack, CHANNEL, ts, count=2)

    condense = bedrock.calls(model="nova-micro")[0]
    assert LEAVE_EN in condense.text and "20 days of paid annual leave" in condense.text
    assert "what about contractors?" in condense.text
    assert "Contractors are not eligible" in replies[1].text


async def test_a_follow_up_posted_while_the_answer_still_streams_is_answered(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.latency("nova-pro", tokens_per_s=40)  # the first answer streams for about 2 s
    bedrock.queue("nova-pro", Reply(text="Employees get 20 days of paid annual leave [1]. " * 4))
    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    await slack.wait_for_async(
        lambda: [m for m in bot_replies(slack, CHANNEL, ts) if m.streaming], 15
    )
    bedrock.queue("nova-micro", micro("Do contractors get paid annual leave?"))
    bedrock.queue("nova-pro", Reply(text="Contractors are not eligible for paid leave [1]."))

    slack.post_user_message(CHANNEL, BOB, "what about contractors?", thread_ts=ts)
    replies = await wait_answer(slack, CHANNEL, ts, count=2, timeout=30)

    assert any("Contractors are not eligible" in m.text for m in replies)


async def test_a_thread_the_bot_never_joined_is_ignored(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    parent = slack.post_user_message(CHANNEL, BOB, "Lunch plans?")
    slack.post_user_message(CHANNEL, ALICE, "how about noon?", thread_ts=parent)
    probe = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} {LEAVE_EN}")
    await wait_answer(slack, CHANNEL, probe)  # by then the earlier events were handled

    assert bot_replies(slack, CHANNEL, parent) == []
    assert len(bedrock.calls(model="nova-pro")) == 1
    assert not [c for c in slack.calls("reactions.add") if c.args.get("timestamp") != probe]


async def test_a_dm_is_answered_in_the_dm_only(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-pro", Reply(text="Employees get 20 days [1]."))

    ts = slack.post_user_message(DM, BOB, LEAVE_EN)
    (answer,) = await wait_answer(slack, DM, ts)

    assert "20 days" in answer.text
    posted = [c for c in slack.calls() if c.method.startswith("chat.") and c.ok]
    assert posted and {c.args.get("channel") for c in posted} == {DM}


async def test_ask_is_ephemeral_and_share_posts_once(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-pro", Reply(text="Employees get 20 days of paid annual leave [1]."))

    envelope = slack.push_slash_command("/ask", LEAVE_EN, BOB, CHANNEL)
    ack = await slack.wait_for_ack_async(envelope)
    posts = await slack.wait_for_async(
        lambda: [p for p in slack.response_posts(envelope) if p.body.get("blocks")], 15
    )

    assert ack.latency_s is not None and ack.latency_s < 3
    body = posts[-1].body
    assert body["response_type"] == "ephemeral" and "20 days" in body["text"]
    share = next(
        e
        for b in body["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "share_answer"
    )
    assert [m for m in slack.messages(CHANNEL) if m.bot_id] == []  # nothing public yet

    for _ in range(2):
        click = slack.push_block_action(
            "share_answer", user=BOB, channel=CHANNEL, message_ts="0", value=share["value"]
        )
        await slack.wait_for_ack_async(click)
    shared = await slack.wait_for_async(
        lambda: [m for m in slack.messages(CHANNEL) if m.bot_id], 10
    )

    await bot.inflight.drain(5)
    assert len([m for m in slack.messages(CHANNEL) if m.bot_id]) == 1
    assert "20 days" in all_text(shared[0])


async def test_ingest_is_refused_for_non_admins_in_their_language(
    bot: RunningBot, slack: FakeSlack
) -> None:
    reply = await command_reply(slack, slack.push_slash_command("/ingest", "", ALICE, CHANNEL))

    assert reply["text"] == message("not_admin", "ko", command="/ingest")


async def test_ingest_by_an_admin_reports_progress_and_a_summary(
    slack_settings: Settings, slack: FakeSlack, bedrock: FakeBedrock, tmp_path: Path
) -> None:
    settings = slack_settings.model_copy(update={"index_uri": str(tmp_path / "index")})
    running = await start_bot(settings, slack)
    slack.join(CHANNEL)  # the admin runs /ingest in a channel the bot is in
    try:
        envelope = slack.push_slash_command(
            "/ingest", f"{DOCS / 'ko'} --collection korean", ADMIN, CHANNEL
        )
        ack = await slack.wait_for_ack_async(envelope)
        assert ack.payload is not None and "started" in ack.payload["text"]

        def final() -> Message | None:
            return next(
                (m for m in slack.messages(CHANNEL) if m.bot_id and "added" in m.text), None
            )

        summary = await slack.wait_for_async(final, 30)
        added = f"{sum(1 for p in (DOCS / 'ko').iterdir() if p.is_file())} added"
        assert added in summary.text and "published" in summary.text
        assert summary.text.startswith(f"Ingest of `{DOCS / 'ko'}`")
        assert summary.edits, "the progress message is edited in place, not reposted"
        assert len(bedrock.calls("InvokeModel")) > 0
        status = await command_reply(
            slack, slack.push_slash_command("/ingest", "status", ADMIN, CHANNEL)
        )
        assert added in status["text"]
        assert running.components.index.current().collections == {"korean"}
    finally:
        await running.handler.close_async()


async def test_redeliveries_and_mention_twins_are_answered_once(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")  # message + app_mention
    first = next(d for d in slack.deliveries() if d.event.get("ts") == ts)
    await slack.wait_for_ack_async(first.envelope_id)
    slack.redeliver(first.envelope_id, retry_attempt=1)
    slack.redeliver(first.envelope_id, retry_attempt=2)
    await wait_answer(slack, CHANNEL, ts)
    await slack.wait_for_async(lambda: len(slack.acks) >= 4, 5)
    await bot.inflight.drain(5)

    assert len(bot_replies(slack, CHANNEL, ts)) == 1
    assert len(bedrock.calls(model="nova-pro")) == 1


async def test_streaming_refused_falls_back_to_post_and_update_with_the_same_text(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    text = (
        "Employees get **20 days** of paid annual leave [1]. Unused days carry over up to five [1]."
    )
    bedrock.queue("nova-pro", Reply(text=text))
    slack.refuse_streaming = True

    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    (answer,) = await wait_answer(slack, CHANNEL, ts)

    assert not answer.streamed
    assert slack.calls("chat.startStream")[0].error == "channel_type_not_supported"
    assert answer.text == text.replace("**", "*")
    assert block_types(answer)[-2:] == ["context", "actions"]


async def test_a_20000_character_answer_is_delivered_within_slack_limits(
    slack_settings: Settings, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    running = await start_bot(slack_settings.model_copy(update={"answer_max_tokens": 8000}), slack)
    paragraph = "Employees get 20 days of paid annual leave per calendar year, prorated in the first year [1]. "
    long_answer = (paragraph * 220)[:20_000]
    try:
        for refuse in (False, True):
            bedrock.queue("nova-pro", Reply(text=long_answer))
            slack.refuse_streaming = refuse
            ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
            replies = await wait_answer(slack, CHANNEL, ts, timeout=30)

            chat_calls = [c for c in slack.calls() if c.method.startswith("chat.")]
            assert chat_calls and all(c.ok for c in chat_calls if c.method != "chat.startStream"), [
                c.error for c in chat_calls
            ]
            assert len(replies) >= 2, "a 20,000-character answer continues in a second message"
            delivered = "".join(m.text for m in replies)
            assert delivered.count("[1]") == long_answer.count("[1]")
            assert max(len(m.text) for m in replies) <= 12_000
    finally:
        await running.handler.close_async()


async def test_mentions_broadcasts_and_disguised_links_in_model_output_are_inert(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    evil = "Ask <!channel> or <@U123>, see <https://evil.example/x|docs> and [handbook](https://evil.example/y) @here [1]."
    bedrock.queue("nova-pro", Reply(text=evil))

    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    (answer,) = await wait_answer(slack, CHANNEL, ts)

    for raw in ("<!channel>", "<@U123>", "<https://evil.example/x|docs>", "](https://", "@here"):
        assert raw not in answer.text
    assert f"@{WORD_JOINER}channel" in answer.text and f"@{WORD_JOINER}here" in answer.text
    assert (
        "docs (https://evil.example/x)" in answer.text
        and "handbook (https://evil.example/y)" in answer.text
    )


async def test_bedrock_failing_gives_a_localized_reply_and_clears_the_reaction(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-micro", micro(LEAVE_EN))
    bedrock.fail("nova-pro", status=500, times=5)

    ts = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} 직원은 유급 연차를 며칠 받나요?")
    (answer,) = await slack.wait_for_async(lambda: bot_replies(slack, CHANNEL, ts), 20)
    await slack.wait_for_async(lambda: slack.calls("reactions.remove"), 5)

    assert message("model_error", "ko") in answer.text
    assert "Traceback" not in answer.text and "Exception" not in answer.text
    assert slack.reactions(CHANNEL, ts) == set()


async def test_the_socket_dropped_by_the_server_reconnects_and_answers_the_next_event(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    opened = slack.connections_opened
    slack.drop_socket()
    await slack.wait_for_async(
        lambda: slack.connections_opened > opened and slack.connected >= 1, 15
    )

    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    (answer,) = await wait_answer(slack, CHANNEL, ts)
    assert answer.text
