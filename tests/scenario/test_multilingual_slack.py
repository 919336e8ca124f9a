"""Multilingual teams in Slack: companion language, fast draft, preferences, mixed threads,
translated sources, translation reports and the glossary command — asserted on the wire."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.messages import message, native_name
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import (
    ADMIN,
    ALICE,
    BOB,
    LEAVE_EN,
    MENTION,
    REPO,
    all_text,
    block_types,
    bot_replies,
    command_reply,
    eventually,
    micro,
    wait_answer,
)
from fakes.slack import FakeSlack
from tests.scenario.bots import CHANNEL, RunningBot, start_bot

STAFF = "C0STAFF"


@pytest.fixture
def ml_settings(slack_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("GLOSSARY_URI", str(REPO / "examples" / "glossary.json"))
    monkeypatch.setenv(
        "CHANNEL_SETTINGS",
        json.dumps(
            {
                "channels": {
                    STAFF: {"companion_language": "ko"},
                    "C0FAST": {"answer_mode": "draft_then_pro"},
                }
            }
        ),
    )
    return load_settings()


@pytest.fixture
async def ml_bot(ml_settings: Settings, slack: FakeSlack) -> RunningBot:
    running = await start_bot(ml_settings, slack)
    yield running  # type: ignore[misc]
    await running.stop()


async def test_companion_channel_adds_a_micro_translation_for_staff(
    ml_bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-pro", Reply(text="Employees get 20 days of paid annual leave [1]."))
    bedrock.queue("nova-micro", Reply(text="직원은 연 20일의 유급 연차를 받습니다 [1]."))

    ts = slack.post_user_message(STAFF, BOB, f"{MENTION} {LEAVE_EN}")
    (answer,) = await wait_answer(slack, STAFF, ts)

    assert answer.text.startswith("Employees get 20 days")
    label = message("companion_label", "en", name=native_name("ko"))
    assert label in all_text(answer) and "직원은 연 20일" in all_text(answer)
    assert block_types(answer)[:2] == ["context", "context"]
    companion = bedrock.calls(model="nova-micro")
    assert len(companion) == 1 and "Target language: Korean (ko)" in companion[0].text
    assert "Employees get 20 days" in companion[0].text


async def test_draft_then_pro_shows_micro_first_then_the_pro_answer(
    ml_bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-micro", Reply(text="Quick: 20 days a year [1]."))
    bedrock.queue(
        "nova-pro",
        Reply(text="Employees get 20 days of paid annual leave per year; up to 5 carry over [1]."),
    )

    ts = slack.post_user_message("C0FAST", BOB, f"{MENTION} {LEAVE_EN}")
    replies = await wait_answer(slack, "C0FAST", ts)

    draft, final = replies[0], replies[-1]
    assert draft.text == "Quick: 20 days a year [1]." and draft.created_at < final.created_at
    assert message("draft_label", "en") in all_text(draft)
    assert final.text.startswith("Employees get 20 days") and "[1]" in final.text
    micro_call = bedrock.calls(model="nova-micro")[0]
    assert (
        micro_call.operation == "ConverseStream"
        and "Answer style: a quick first draft" in micro_call.text
    )
    assert "20 days of paid annual leave" in micro_call.text  # grounded in the same passages


async def test_language_preference_wins_over_detection_until_auto(
    ml_bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    envelope = slack.push_slash_command("/dualnova", "language ja", BOB, CHANNEL)
    reply = await command_reply(slack, envelope)
    assert reply["text"] == message("language_set", "ja", name="日本語")

    first = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    await wait_answer(slack, CHANNEL, first)
    assert "Answer language: Japanese (ja)" in bedrock.calls(model="nova-pro")[-1].text

    await command_reply(slack, slack.push_slash_command("/dualnova", "language auto", BOB, CHANNEL))
    second = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    await wait_answer(slack, CHANNEL, second)
    assert "Answer language: English (en)" in bedrock.calls(model="nova-pro")[-1].text


async def test_saying_answer_me_in_japanese_is_remembered(
    ml_bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} answer me in Japanese")
    (confirm,) = await slack.wait_for_async(lambda: bot_replies(slack, CHANNEL, ts), 10)
    assert confirm.text == message("language_set", "ja", name="日本語")
    assert bedrock.requests == []

    follow = slack.post_user_message(CHANNEL, BOB, LEAVE_EN, thread_ts=ts)
    await slack.wait_for_async(
        lambda: len(bot_replies(slack, CHANNEL, ts)) >= 2 and bedrock.calls(model="nova-pro"), 15
    )
    assert "Answer language: Japanese (ja)" in bedrock.calls(model="nova-pro")[0].text
    assert follow


async def test_a_mixed_thread_answers_each_asker_in_their_language(
    ml_bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.responder("nova-micro", lambda _request: micro(LEAVE_EN))
    ts = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} 직원 연차는 며칠인가요?")
    await wait_answer(slack, CHANNEL, ts)
    slack.post_user_message(
        CHANNEL, BOB, "¿Y cuántos días de vacaciones pagadas tienen los empleados?", thread_ts=ts
    )
    await wait_answer(slack, CHANNEL, ts, count=2)
    slack.post_user_message(
        CHANNEL, ALICE, "ok?", thread_ts=ts
    )  # too short to detect: her own last language
    await wait_answer(slack, CHANNEL, ts, count=3)

    languages = [
        c.text.split("Answer language: ")[1].split("\n")[0] for c in bedrock.calls(model="nova-pro")
    ]
    assert languages == ["Korean (ko)", "Spanish (es)", "Korean (ko)"]


async def test_show_translation_gives_a_micro_translation_of_the_cited_passage(
    ml_bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-micro", micro(LEAVE_EN))
    bedrock.queue("nova-pro", Reply(text="직원은 연 20일의 유급 연차를 받습니다 [1]."))
    ts = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} 직원 연차는 며칠인가요?")
    (answer,) = await wait_answer(slack, CHANNEL, ts)
    button = answer.blocks[-2]["elements"][0]  # type: ignore[index]
    bedrock.queue("nova-micro", Reply(text="직원은 매년 20일의 유급 연차를 받습니다."))

    click = slack.push_block_action(
        button["action_id"],
        user=ALICE,
        channel=CHANNEL,
        message_ts=answer.ts,
        value=button["value"],
        block_id="translations",
    )
    post = await slack.wait_for_async(lambda: slack.response_posts(click), 10)

    assert "직원은 매년 20일" in post[0].body["text"]
    assert (
        message("translation_of", "ko", number=1, title="Leave and Vacation Policy")
        in post[0].body["text"]
    )
    translate = bedrock.calls(model="nova-micro")[-1]
    assert (
        "Target language: Korean (ko)" in translate.text
        and "20 days of paid annual leave" in translate.text
    )


async def test_translation_was_wrong_records_question_answer_languages_and_terms(
    ml_bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-micro", micro(LEAVE_EN))
    bedrock.queue("nova-pro", Reply(text="직원은 연 20일의 年次有給休暇를 받습니다 [1]."))
    ts = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} 직원 연차는 며칠인가요?")
    (answer,) = await wait_answer(slack, CHANNEL, ts)
    button = answer.blocks[-1]["elements"][2]  # type: ignore[index]
    assert button["action_id"] == "feedback_translation"
    # The record is written just after the answer's last message; a person clicks later.
    question_id = json.loads(button["value"])["q"]
    await eventually(lambda: ml_bot.state.get("answer_record", question_id))

    click = slack.push_block_action(
        "feedback_translation",
        user=ALICE,
        channel=CHANNEL,
        message_ts=answer.ts,
        value=button["value"],
    )
    await slack.wait_for_ack_async(click)
    (record,) = await eventually(lambda: ml_bot.state.list("feedback"))

    assert record["vote"] == "translation" and record["question"] == "직원 연차는 며칠인가요?"
    assert "年次有給休暇" in record["answer"]
    assert record["question_language"] == "ko" and record["answer_language"] == "ko"
    assert record["source_languages"] == ["en"] and "annual leave" in record["glossary_terms"]


async def test_glossary_command_lists_and_admin_changes_take_effect_without_restart(
    ml_bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    listing = await command_reply(slack, slack.push_slash_command("/glossary", "", BOB, CHANNEL))
    assert "GlobalConnect" in listing["text"]
    refused = await command_reply(
        slack, slack.push_slash_command("/glossary", "add Foo ko=푸", BOB, CHANNEL)
    )
    assert "/glossary add" in refused["text"]

    added = await command_reply(
        slack,
        slack.push_slash_command(
            "/glossary", "add HelpBot --dnt The support chatbot", ADMIN, CHANNEL
        ),
    )
    assert "Added" in added["text"]
    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    await wait_answer(slack, CHANNEL, ts)
    assert (
        "HelpBot: DO NOT TRANSLATE" in bedrock.calls(model="nova-pro")[-1].body["system"][0]["text"]
    )


async def test_admins_change_channel_settings_in_slack(
    ml_bot: RunningBot, slack: FakeSlack, tmp_path: Path
) -> None:
    refused = await command_reply(
        slack, slack.push_slash_command("/dualnova", "settings companion ja", BOB, CHANNEL)
    )
    assert "/dualnova settings" in refused["text"]
    changed = await command_reply(
        slack,
        slack.push_slash_command(
            "/dualnova", "settings companion ja mode draft_then_pro", ADMIN, CHANNEL
        ),
    )
    assert "`ja`" in changed["text"] and "draft_then_pro" in changed["text"]
