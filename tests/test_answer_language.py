"""The answer-language guard's verdicts, and the stream it guards (against the Bedrock fake)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest

from bot.answer_language import AnswerLanguageGuard
from bot.answer_stream import AnswerStream, Plan, StreamTools
from bot.config import Settings
from bot.language import LanguageDetector
from bot.messages import message, native_name
from bot.pricing import PriceTable
from bot.slack.usage_command import usage_message
from bot.usage import usage_of
from bot.usage_ledger import UsageSummary, usage_increments
from bot.wiring import build
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import micro
from kernel.models import Question, Route

LANGUAGES = ["en", "ko", "ja", "zh", "es", "de", "fr", "vi", "pt", "it", "id", "th"]
ENGLISH = "Employees get 20 days of paid annual leave per year [1]. Unused days carry over."
KOREAN = "직원은 연간 20일의 유급 연차를 받습니다 [1]. 남은 연차는 이월됩니다."


@pytest.fixture(scope="module")
def guard() -> AnswerLanguageGuard:
    return AnswerLanguageGuard(detector=LanguageDetector(languages=LANGUAGES, default="en"))


@pytest.mark.parametrize(
    ("answer", "expected", "pair"),
    [
        (ENGLISH, "ko", "en>ko"),
        ("Employees get 20 days of 연차 per year [1].", "ko", "en>ko"),
        (KOREAN, "en", "ko>en"),
        (
            "员工每年有二十天带薪年假，未使用的天数可以结转到明年 [1]。",
            "zh-Hant",
            "zh-Hans>zh-Hant",
        ),
        ("Los empleados tienen veinte días de vacaciones pagadas al año [1].", "de", "es>de"),
    ],
)
def test_an_answer_in_another_language_or_script_is_a_mismatch_named_by_pair(
    guard: AnswerLanguageGuard, answer: str, expected: str, pair: str
) -> None:
    verdict = guard.verdict(answer, expected)

    assert verdict.mismatch and verdict.pair == pair


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (KOREAN, "ko"),
        # Product names, a code block and citations in English do not make it English.
        (
            "GlobalConnect VPN은 `gc-client` 앱으로 설정합니다 [1]. SSO 로그인 후 Connect를 누르세요.",
            "ko",
        ),
        ("GlobalConnect 앱을 설치하세요 [1].", "ko"),
        ("員工每年有二十天帶薪年假，未使用的天數可以結轉到明年 [1]。", "zh-Hant"),
        ("员工每年有二十天带薪年假 [1]。", "zh"),  # plain zh promises no script
        ("従業員には年間20日の有給休暇があります [1]。", "ja"),
        ("Os funcionários têm 20 dias de férias remuneradas por ano [1].", "pt"),
        (ENGLISH, "en-US"),
    ],
)
def test_an_answer_in_the_promised_language_passes(
    guard: AnswerLanguageGuard, answer: str, expected: str
) -> None:
    assert not guard.verdict(answer, expected).mismatch


def test_too_little_text_gives_no_verdict(guard: AnswerLanguageGuard) -> None:
    assert guard.verdict("OK [1].", "ko").found is None


def test_a_latin_language_the_model_was_not_built_for_gets_no_verdict_on_latin_text(
    guard: AnswerLanguageGuard,
) -> None:
    # Turkish is not among the configured languages: the model cannot say "Turkish", so it
    # must not call a Turkish answer English or Indonesian. A Korean answer is still wrong.
    assert guard.verdict("Çalışanlar yılda yirmi gün ücretli izin alır [1].", "tr").found is None
    assert guard.verdict(KOREAN, "tr").pair == "ko>tr"


def test_the_early_check_waits_for_the_first_sentence(guard: AnswerLanguageGuard) -> None:
    assert not guard.ready("Employees get")
    assert guard.ready("Employees get 20 days.")
    assert guard.ready("Employees get twenty days of paid annual leave and")


async def run(settings: Settings, question: Question) -> tuple[list[str], object]:
    stream = await build(settings).pipeline.answer(question)
    chunks = [chunk async for chunk in stream]
    return chunks, stream


async def test_an_english_answer_to_a_korean_question_is_translated_by_micro_and_counted(
    settings: Settings, bedrock: FakeBedrock, caplog: pytest.LogCaptureFixture
) -> None:
    bedrock.queue("nova-micro", micro("How many days of annual leave do employees get?"))
    bedrock.queue("nova-pro", Reply(text=ENGLISH))
    bedrock.queue("nova-micro", Reply(text=KOREAN))

    chunks, stream = await run(settings, Question(text="직원 연차는 며칠인가요?"))
    answer = stream.result()  # type: ignore[attr-defined]

    # Shown: the first sentence (not held back), a note, the rest held, then the translation.
    shown = "".join(chunks)
    assert shown.startswith("Employees get 20 days")
    assert message("answer_translating", "ko", name=native_name("ko")) in shown
    assert "Unused days carry over" not in shown
    assert shown.endswith(KOREAN)
    assert answer.text == KOREAN and answer.language == "ko"
    assert answer.language_mismatch == "en>ko"
    assert [c.number for c in answer.citations] == [1]
    translate = bedrock.calls(model="nova-micro")[-1]
    assert "Target language: Korean (ko)" in translate.text and ENGLISH in translate.text
    assert [c.purpose for c in answer.route.calls][-1] == "answer_language"
    usage = usage_of(answer, PriceTable(), user_id="U1", channel_id="C1")
    assert usage.language_mismatch == "en>ko"
    assert usage_increments(usage)["mismatch|en>ko|questions"] == 1
    day = UsageSummary.from_counters(usage_increments(usage))
    shown = json.dumps(usage_message(today=day, month=day, now=0.0), ensure_ascii=False)
    assert "wrong language `en>ko` 1" in shown  # /dualnova usage
    assert any(r.getMessage() == "answer in the wrong language" for r in caplog.records)


async def test_a_right_answer_costs_no_translation_and_shows_everything(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-micro", micro("How many days of annual leave do employees get?"))
    bedrock.queue("nova-pro", Reply(text=KOREAN))

    chunks, stream = await run(settings, Question(text="직원 연차는 며칠인가요?"))

    assert "".join(chunks) == KOREAN
    assert stream.result().language_mismatch is None  # type: ignore[attr-defined]
    assert len(bedrock.calls(model="nova-micro")) == 1  # the condense call only


async def test_when_micro_cannot_translate_the_held_text_is_released_not_lost(
    settings: Settings, bedrock: FakeBedrock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    bedrock.queue("nova-micro", micro("How many days of annual leave do employees get?"))
    bedrock.queue("nova-pro", Reply(text=ENGLISH))
    bedrock.queue("nova-micro", Reply(error="validation"))

    chunks, stream = await run(settings, Question(text="직원 연차는 며칠인가요?"))
    answer = stream.result()  # type: ignore[attr-defined]

    assert "Unused days carry over" in "".join(chunks)
    assert answer.language_mismatch == "en>ko"  # still counted
    assert any(r.getMessage() == "answer translation failed" for r in caplog.records)


@pytest.mark.parametrize(
    "translation",
    [ENGLISH, "Los empleados tienen veinte días de vacaciones pagadas al año [1].", "  "],
    ids=["echoed", "another-language", "empty"],
)
async def test_a_translation_still_not_in_the_askers_language_is_not_used(
    settings: Settings, bedrock: FakeBedrock, caplog: pytest.LogCaptureFixture, translation: str
) -> None:
    caplog.set_level(logging.WARNING)
    bedrock.queue("nova-micro", micro("How many days of annual leave do employees get?"))
    bedrock.queue("nova-pro", Reply(text=ENGLISH))
    bedrock.queue("nova-micro", Reply(text=translation))

    chunks, stream = await run(settings, Question(text="직원 연차는 며칠인가요?"))
    answer = stream.result()  # type: ignore[attr-defined]

    assert "".join(chunks).endswith("Unused days carry over."), "the model's answer is released"
    assert answer.text == ENGLISH and answer.language_mismatch == "en>ko"
    if translation.strip():
        assert translation not in "".join(chunks).replace(ENGLISH, "")
    assert [c.purpose for c in answer.route.calls][-1] == "answer_language", "still paid for"
    assert any(
        r.getMessage() == "answer translation not in the asker's language" for r in caplog.records
    )


async def test_an_english_first_sentence_in_a_korean_answer_is_held_then_released_untranslated(
    guard: AnswerLanguageGuard,
) -> None:
    pieces = [
        "GlobalConnect VPN setup guide [1]. ",
        "설정 방법은 다음과 같습니다: 앱을 설치하고 로그인한 다음 연결을 누르세요. ",
        "문제가 있으면 헬프데스크에 문의하세요.",
    ]

    async def pro(on_call: object) -> AsyncIterator[str]:
        for piece in pieces:  # as Pro's deltas arrive, one at a time
            yield piece

    stream = AnswerStream(
        Plan(
            question=Question(text="VPN은 어떻게 설정하나요?"),
            language="ko",
            route=Route(standalone_question="How do I set up the VPN?"),
            status="answered",
        ),
        generate=pro,
        tools=StreamTools(guard=guard),
    )
    chunks = [chunk async for chunk in stream]
    answer = stream.result()

    note = message("answer_translating", "ko", name=native_name("ko"))
    assert chunks[0] == pieces[0].rstrip() + f"\n\n_{note}_"  # the first sentence, the note
    assert "".join(chunks).endswith("".join(pieces[1:]))  # released at the end, not lost
    assert answer.text == "".join(pieces) and answer.language_mismatch is None
    assert stream.rewritten  # Slack edits the message to the text without the note
