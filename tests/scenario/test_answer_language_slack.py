"""The asker's language and script, verified in Slack: a wrong-language answer is replaced by
its translation and counted, Traditional Chinese is carried through, and a language without
written fixed sentences gets them translated once and cached — asserted on the wire."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.chinese import chinese_script
from bot.config import DEFAULT_DETECT_LANGUAGES, Settings, load_settings
from bot.localizer import KIND, cache_key
from bot.messages import message
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import (
    ALICE,
    LEAVE_EN,
    MENTION,
    all_text,
    bot_replies,
    eventually,
    micro,
    wait_answer,
)
from fakes.slack import FakeSlack
from tests.scenario.bots import CHANNEL, RunningBot, start_bot

CAROL = "U0CAROL"  # zh-TW
DENIZ = "U0DENIZ"  # tr-TR
ENGLISH = "Employees get 20 days of paid annual leave per year [1]. Unused days carry over."
KOREAN = "직원은 연간 20일의 유급 연차를 받습니다 [1]. 남은 연차는 이월됩니다."
GAP_EN = "What is the population of Jupiter's moon Europa?"  # not in the handbook
NOT_FOUND_TR = (
    "Bunu elimdeki belgelerde bulamadım. Soruyu farklı sorun ya da konunun sahibi ekibe danışın."
)


@pytest.fixture
def slack_users() -> dict[str, str]:
    return {ALICE: "ko-KR", CAROL: "zh-TW", DENIZ: "tr-TR"}


@pytest.fixture
def lg_settings(slack_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DETECT_LANGUAGES", f"{DEFAULT_DETECT_LANGUAGES},tr")
    return load_settings()


@pytest.fixture
async def lg_bot(
    lg_settings: Settings, slack: FakeSlack
) -> AsyncIterator[tuple[RunningBot, list[dict[str, Any]]]]:
    emf: list[dict[str, Any]] = []
    # As `serve` wires it: the usage line, the day's counters and EMF metrics per question.
    running = await start_bot(lg_settings, slack, metrics=lambda line: emf.append(json.loads(line)))
    yield running, emf
    await running.stop()


async def test_a_korean_question_answered_in_english_by_pro_ends_as_a_korean_answer_and_is_counted(
    lg_bot: tuple[RunningBot, list[dict[str, Any]]],
    slack: FakeSlack,
    bedrock: FakeBedrock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    running, emf = lg_bot
    caplog.set_level("INFO")
    bedrock.queue("nova-micro", micro(LEAVE_EN))
    bedrock.queue("nova-pro", Reply(text=ENGLISH))
    bedrock.queue("nova-micro", Reply(text=KOREAN))

    ts = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} 직원 연차는 며칠인가요?")
    await wait_answer(slack, CHANNEL, ts)
    # The edit comes just after the stream stops.
    (answer,) = await slack.wait_for_async(
        lambda: [m for m in bot_replies(slack, CHANNEL, ts) if m.edits], 10
    )

    # One message, replaced by the translation: no English left, sources and buttons kept.
    assert len(bot_replies(slack, CHANNEL, ts)) == 1
    assert answer.text.startswith("직원은 연간 20일") and "Employees" not in all_text(answer)
    assert answer.edits and answer.edits[-1].text == answer.text
    assert answer.blocks is not None and answer.blocks[-1]["type"] == "actions"
    # While it streamed, no more than the first English sentence was shown.
    assert "Unused days" not in "".join(answer.stream_parts)
    translate = bedrock.calls(model="nova-micro")[-1]
    assert "Target language: Korean (ko)" in translate.text and ENGLISH in translate.text
    # Counted by pair: the usage line, the day's counters and the EMF metrics.
    (usage,) = [r for r in caplog.records if r.getMessage() == "question usage"]
    assert usage.language_mismatch == "en>ko"  # type: ignore[attr-defined]
    day = await running.state.get("usage_day", time.strftime("%Y-%m-%d", time.gmtime()))
    assert day is not None and day["mismatch|en>ko|questions"] == 1
    pair = [d for d in emf if d.get("LanguagePair")]
    assert pair and pair[0]["LanguagePair"] == "en>ko" and pair[0]["LanguageMismatch"] == 1


async def test_a_zh_tw_asker_gets_traditional_chinese_from_pro_and_in_the_fixed_sentences(
    lg_bot: tuple[RunningBot, list[dict[str, Any]]], slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    traditional = "員工每年有二十天帶薪特休 [1]。"
    bedrock.queue("nova-micro", micro(LEAVE_EN))
    bedrock.queue("nova-pro", Reply(text=traditional))
    # "How many days of annual leave?" with no character only one script has: the locale decides.
    ts = slack.post_user_message(CHANNEL, CAROL, f"{MENTION} 年假有多少天？")
    (answer,) = await wait_answer(slack, CHANNEL, ts)

    (pro,) = bedrock.calls(model="nova-pro")
    assert "Answer language: Traditional Chinese (zh-Hant)" in pro.text
    assert answer.text.startswith(traditional.split(" ")[0]) and not answer.edits

    bedrock.queue("nova-micro", micro(GAP_EN))
    ts = slack.post_user_message(CHANNEL, CAROL, f"{MENTION} 木星的衛星歐羅巴有多少人口？")
    (not_found,) = await wait_answer(slack, CHANNEL, ts)

    assert not_found.text == message("not_found", "zh-Hant")
    assert chinese_script(not_found.text) == "zh-Hant"


async def test_a_turkish_not_found_is_translated_by_micro_once_and_the_cached_sentence_reused(
    lg_bot: tuple[RunningBot, list[dict[str, Any]]], slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    running, _ = lg_bot
    working_tr = "Belgelere bakıyorum…"
    queue_tr = "Şu an çok soru var: sıranız {position} (yaklaşık {seconds} sn)."
    bedrock.queue(
        "nova-micro",
        micro(GAP_EN),
        Reply(text=NOT_FOUND_TR),
        Reply(text=working_tr),  # after the answer: the sign of work learns Turkish
        Reply(text=queue_tr),
    )
    ts = slack.post_user_message(
        CHANNEL, DENIZ, f"{MENTION} Jüpiter'in uydusu Europa'nın nüfusu ne kadar?"
    )
    (first,) = await wait_answer(slack, CHANNEL, ts)

    assert first.text == NOT_FOUND_TR
    translate = bedrock.calls(model="nova-micro")[1]
    assert "Target language: Turkish (tr)" in translate.text
    assert message("not_found", "en") in translate.text
    cached = await running.state.get(KIND, cache_key("not_found", "tr"))
    assert cached is not None and cached["text"] == NOT_FOUND_TR
    learned = await eventually(lambda: running.state.get(KIND, cache_key("queue_position", "tr")))
    assert learned == {"text": queue_tr}
    assert await running.state.get(KIND, cache_key("working", "tr")) == {"text": working_tr}

    bedrock.queue("nova-micro", micro("What is the population of Mars?"))
    ts = slack.post_user_message(
        CHANNEL, DENIZ, f"{MENTION} Mars'ın nüfusu ne kadar, biliyor musun?"
    )
    (second,) = await wait_answer(slack, CHANNEL, ts)

    assert second.text == NOT_FOUND_TR
    # Two condense calls, one translation of the answer and two of the sign of work, once.
    assert len(bedrock.calls(model="nova-micro")) == 5


async def test_dualnova_language_zh_hant_is_remembered_and_asks_pro_for_traditional(
    lg_bot: tuple[RunningBot, list[dict[str, Any]]], slack: FakeSlack, bedrock: FakeBedrock
) -> None:
    running, _ = lg_bot
    await slack.wait_for_ack_async(
        slack.push_slash_command("/dualnova", "language zh-hant", ALICE, CHANNEL)
    )
    # Remembered in its canonical form, whatever case or region code was typed.
    assert await eventually(lambda: running.state.get("user_pref", ALICE)) == {
        "language": "zh-Hant"
    }

    bedrock.queue("nova-pro", Reply(text="員工每年有二十天帶薪特休 [1]。"))
    ts = slack.post_user_message(CHANNEL, ALICE, f"{MENTION} {LEAVE_EN}")
    (answer,) = await wait_answer(slack, CHANNEL, ts)

    prompt = bedrock.calls(model="nova-pro")[-1].text
    assert "Answer language: Traditional Chinese (zh-Hant)" in prompt
    assert answer.text.startswith("員工每年") and not answer.edits
