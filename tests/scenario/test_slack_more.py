"""More of the Slack bot: the assistant panel, feedback, access to collections, operations."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bot.cli import main
from bot.config import Settings
from bot.messages import message, suggested_prompts
from bot.slack.access import AccessPolicy
from bot.slack.manifest import BOT_EVENTS, manifest
from bot.slack.serve import check_health, write_health
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import ALICE, BOB, LEAVE_EN, MENTION, bot_replies, eventually, wait_answer
from fakes.slack import FakeSlack
from retrieval.ingest import IngestOptions, ingest
from retrieval.sources import open_source
from retrieval.store import LocalIndexStore
from tests.scenario.bots import CHANNEL, RunningBot, start_bot

ASSISTANT_DM = "D0ASSIST"


async def test_assistant_thread_start_suggests_prompts_in_the_users_language(
    bot: RunningBot, slack: FakeSlack
) -> None:
    thread_ts = slack.add_message(ASSISTANT_DM, ALICE, "(assistant thread)")
    slack.push_event(
        {
            "type": "assistant_thread_started",
            "assistant_thread": {
                "user_id": ALICE,
                "channel_id": ASSISTANT_DM,
                "thread_ts": thread_ts,
                "context": {},
            },
            "event_ts": thread_ts,
        }
    )

    thread = await slack.wait_for_async(
        lambda: (t := slack.assistant_thread(ASSISTANT_DM, thread_ts)).prompts and t, 10
    )
    assert [p["message"] for p in thread.prompts] == list(suggested_prompts("ko"))
    greeting = await slack.wait_for_async(lambda: bot_replies(slack, ASSISTANT_DM, thread_ts), 10)
    assert greeting[0].text == message("greeting", "ko")


async def test_assistant_user_message_runs_the_pipeline_with_a_status(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    bedrock.queue(
        "nova-micro",
        Reply(text=json.dumps({"standalone_question": LEAVE_EN, "intent": "question"})),
    )
    bedrock.queue("nova-pro", Reply(text="직원은 연간 20일의 유급 연차를 받습니다 [1]."))
    thread_ts = slack.add_message(ASSISTANT_DM, ALICE, "(assistant thread)")

    slack.post_user_message(ASSISTANT_DM, ALICE, "연차는 며칠인가요?", thread_ts=thread_ts)
    (answer,) = await wait_answer(slack, ASSISTANT_DM, thread_ts)

    assert "20일" in answer.text
    statuses = slack.assistant_thread(ASSISTANT_DM, thread_ts).status_history
    assert message("working", "ko") in statuses
    assert not [c for c in slack.calls("reactions.add")]


async def test_feedback_clicks_are_recorded_with_question_language_and_route(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    (answer,) = await wait_answer(slack, CHANNEL, ts)
    button = answer.blocks[-1]["elements"][1]  # type: ignore[index]

    click = slack.push_block_action(
        "feedback_down", user=BOB, channel=CHANNEL, message_ts=answer.ts, value=button["value"]
    )
    await slack.wait_for_ack_async(click)
    records = await eventually(lambda: bot.state.list("feedback"))

    value = json.loads(button["value"])
    assert records[0]["vote"] == "down" and records[0]["question_id"] == value["q"]
    assert records[0]["language"] == "en" and records[0]["route"] == "direct"
    await slack.wait_for_async(lambda: slack.response_posts(click), 5)


async def test_a_button_value_the_bot_did_not_write_gets_a_sentence_and_records_nothing(
    bot: RunningBot, slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    ts = slack.post_user_message(CHANNEL, BOB, f"{MENTION} {LEAVE_EN}")
    (answer,) = await wait_answer(slack, CHANNEL, ts)

    for action_id in ("feedback_down", "feedback_translation", "show_translation_1"):
        click = slack.push_block_action(
            action_id, user=BOB, channel=CHANNEL, message_ts=answer.ts, value='{"q": 1'
        )
        await slack.wait_for_ack_async(click)
        await slack.wait_for_async(lambda click=click: slack.response_posts(click), 5)
        [reply] = slack.response_posts(click)
        assert reply.body["text"] == message("error", "en"), action_id
        assert reply.body["response_type"] == "ephemeral"
    assert await bot.state.list("feedback") == []


async def test_a_private_collection_never_answers_in_a_channel_not_mapped_to_it(
    slack_settings: Settings,
    slack: FakeSlack,
    bedrock: FakeBedrock,
    tmp_path: Path,
    sample_index: Path,
) -> None:
    index = tmp_path / "index"
    shutil.copytree(sample_index, index)
    hr = tmp_path / "hr"
    hr.mkdir()
    (hr / "salaries.md").write_text(
        "# Salary bands\n\nThe L5 salary band is KRW 98 million (code SECRET-BAND-77).", "utf-8"
    )
    ingest(
        source=open_source(str(hr)),
        store=LocalIndexStore(index),
        embedder=None,
        detect_language=lambda _: "en",
        options=IngestOptions(collection="hr"),
    )
    settings = slack_settings.model_copy(update={"index_uri": str(index)})
    access = AccessPolicy.load('{"collections": {"hr": {"channels": ["C0HR"], "users": []}}}')
    running = await start_bot(settings, slack, access=access)
    try:
        question = f"{MENTION} What is the L5 salary band SECRET-BAND-77?"
        public_ts = slack.post_user_message(CHANNEL, BOB, question)
        public = await wait_answer(slack, CHANNEL, public_ts)
        public_pro = bedrock.calls(model="nova-pro")
        hr_ts = slack.post_user_message("C0HR", BOB, question)
        private = await wait_answer(slack, "C0HR", hr_ts)
        hr_pro = bedrock.calls(model="nova-pro")[len(public_pro) :]
    finally:
        await running.handler.close_async()

    passages = [call.text.split("Question:")[0] for call in public_pro]
    assert passages and all("KRW 98 million" not in text for text in passages)
    assert "salaries.md" not in json.dumps(public[-1].blocks)
    assert hr_pro and "KRW 98 million" in hr_pro[0].text.split("Question:")[0]
    assert "salaries.md" in json.dumps(private[-1].blocks)


def test_health_is_ok_only_while_connected_and_fresh(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    assert check_health(path)[0] is False
    write_health(path, connected=True)
    assert check_health(path)[0] is True
    assert check_health(path, now=json.loads(path.read_text())["at"] + 60)[0] is False
    write_health(path, connected=False)
    assert check_health(path) == (False, "Socket Mode is not connected")


def test_manifest_enables_socket_mode_and_every_event_and_command_the_app_handles(
    capsys: object,
) -> None:
    data = manifest()
    assert data["settings"]["socket_mode_enabled"] is True
    assert set(BOT_EVENTS) >= {
        "app_mention",
        "message.channels",
        "message.im",
        "assistant_thread_started",
    }
    assert {c["command"] for c in data["features"]["slash_commands"]} == {
        "/ask",
        "/ingest",
        "/dualnova",
        "/glossary",
    }
    assert "assistant:write" in data["oauth_config"]["scopes"]["bot"]
    assert "assistant_view" in data["features"]


def test_manifest_command_prints_json(aws_env: Path, capsys: object) -> None:
    assert main(["manifest"]) == 0
    printed = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert printed == manifest()
