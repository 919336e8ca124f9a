"""What Bedrock says about its own limits, read and acted on: an answer cut at maxTokens is
marked, each purpose sizes its maxTokens, condense prefills its JSON, and a cache point is
placed only where Nova would cache. Against the Bedrock fake, on the wire."""

from __future__ import annotations

import json

import pytest

from bot.answer import Translator, cap_passage, translation_max_tokens
from bot.bedrock import converse_llm, runtime_client
from bot.condense import PREFILL, condense_max_tokens, parse_reply
from bot.config import Settings
from bot.messages import message
from bot.wiring import build
from fakes.bedrock import FakeBedrock, Reply, estimate_tokens
from fakes.harness import REPO
from kernel.models import Answer, Question

LEAVE_EN = "How many days of paid annual leave do employees get?"
LONG_EN = " ".join(
    f"Sentence {i}: employees get twenty days of paid annual leave [1]." for i in range(120)
)
CACHE_POINT = {"cachePoint": {"type": "default"}}


async def ask(settings: Settings, text: str, **question: object) -> Answer:
    stream = await build(settings).pipeline.answer(Question(text=text, **question))  # type: ignore[arg-type]
    async for _ in stream:
        pass
    return stream.result()


# --- stopReason (issue 12 item 11) -----------------------------------------------------------


async def test_an_answer_cut_at_max_tokens_is_marked_not_shown_as_complete(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-pro", Reply(text=LONG_EN))
    settings = settings.model_copy(update={"answer_max_tokens": 100})

    answer = await ask(settings, LEAVE_EN)

    (pro,) = bedrock.calls(model="nova-pro")
    assert pro.body["inferenceConfig"]["maxTokens"] == 100
    assert answer.status == "incomplete"
    assert answer.text.endswith(message("answer_cut", "en"))
    assert answer.text.startswith("Sentence 0")


async def test_an_answer_that_ends_its_turn_is_complete(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-pro", Reply(text="Employees get 20 days [1]."))

    answer = await ask(settings, LEAVE_EN)

    assert answer.status == "answered"
    assert message("answer_cut", "en") not in answer.text


async def test_a_long_english_answer_translated_into_korean_gets_room_for_korean(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-micro", Reply(text="번역"))
    translator = Translator(
        llm=converse_llm(
            model_id=settings.micro_model_id,
            client=runtime_client(settings),
            max_tokens=settings.answer_max_tokens,
        ),
        model_id=settings.micro_model_id,
    )

    await translator.translate(LONG_EN, target="ko", purpose="companion")

    (call,) = bedrock.calls(model="nova-micro")
    asked = call.body["inferenceConfig"]["maxTokens"]
    assert asked == translation_max_tokens(LONG_EN, "ko")
    assert asked >= 2.5 * estimate_tokens(LONG_EN), "Korean takes more tokens than English"
    assert asked > settings.answer_max_tokens  # not the answer's maxTokens reused


async def test_a_translation_cut_at_max_tokens_is_marked_in_the_target_language(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-micro", Reply(text="직원은 연간 20일의 유급 연차를 받습니다. " * 2000))
    translator = Translator(
        llm=converse_llm(
            model_id=settings.micro_model_id, client=runtime_client(settings), max_tokens=1500
        ),
        model_id=settings.micro_model_id,
    )

    translated, _ = await translator.translate(
        "Employees get 20 days.", target="ko", purpose="companion"
    )

    assert translated.endswith(message("translation_cut", "ko"))


def test_each_purpose_sizes_its_max_tokens_on_its_own() -> None:
    short, long = "VPN?", "x" * 4000

    assert translation_max_tokens(short, "ko") == 256  # the floor
    assert translation_max_tokens(long, "ja") > translation_max_tokens(long, "de")
    assert translation_max_tokens("y" * 100_000, "ko") == 5000  # Nova's output ceiling
    assert condense_max_tokens(short) == 300
    assert condense_max_tokens("연차" * 400) > 300  # a long Korean question's translation fits


# --- condense JSON (issue 12 item 13) --------------------------------------------------------


async def test_condense_prefills_the_assistant_turn_and_parses_the_continuation(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    bedrock.queue(
        "nova-micro",
        Reply(text=json.dumps({"standalone_question": LEAVE_EN, "intent": "question"})),
    )
    bedrock.queue("nova-pro", Reply(text="직원은 20일을 받습니다 [1]."))

    answer = await ask(settings, "직원은 유급 연차를 며칠 받나요?")

    (micro,) = bedrock.calls(model="nova-micro")
    assert micro.body["messages"][-1] == {"role": "assistant", "content": [{"text": PREFILL}]}
    assert answer.route.standalone_question == LEAVE_EN and answer.route.translated


@pytest.mark.parametrize(
    "reply",
    [
        '"standalone_question": "VPN setup?", "intent": "question"}',  # the continuation
        '{"standalone_question": "VPN setup?", "intent": "question"}',  # brace repeated
        'Sure: {"standalone_question": "VPN setup?", "intent": "question"} hope it helps',
    ],
)
def test_condense_replies_parse_with_or_without_the_prefilled_brace(reply: str) -> None:
    parsed = parse_reply(reply)

    assert parsed is not None and parsed.standalone_question == "VPN setup?"


def test_a_condense_reply_that_is_not_the_json_asked_for_is_rejected() -> None:
    assert parse_reply('"intent": "dance"}') is None
    assert parse_reply("I cannot help with that.") is None


async def test_malformed_condense_reply_falls_back_to_the_original_question(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-micro", Reply(text="I would search for leave days."))
    bedrock.queue("nova-pro", Reply(text="20일 [1]."))

    answer = await ask(settings, "직원은 유급 연차를 며칠 받나요?")

    assert answer.route.standalone_question == "직원은 유급 연차를 며칠 받나요?"
    assert answer.status == "answered"


# --- cache points (issue 12 item 10) ---------------------------------------------------------


async def test_with_the_example_glossary_the_pro_prefix_is_cached_and_read_back(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    settings = settings.model_copy(
        update={"glossary_uri": str(REPO / "examples" / "glossary.json")}
    )

    first = await ask(settings, LEAVE_EN)
    second = await ask(settings, "How do I set up the VPN client?")

    calls = bedrock.calls(model="nova-pro")
    assert calls and all(c.body["system"][-1] == CACHE_POINT for c in calls)
    (answer_first,) = [c for c in first.route.calls if c.purpose == "answer"]
    (answer_second,) = [c for c in second.route.calls if c.purpose == "answer"]
    assert answer_first.cache_write_tokens >= 1000 and answer_first.cache_read_tokens == 0
    assert answer_second.cache_read_tokens == answer_first.cache_write_tokens


async def test_without_a_glossary_no_prefix_reaches_the_minimum_and_nothing_claims_a_cache(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    bedrock.queue(
        "nova-micro",
        Reply(text=json.dumps({"standalone_question": LEAVE_EN, "intent": "question"})),
    )

    answer = await ask(settings, "직원은 유급 연차를 며칠 받나요?")

    for call in bedrock.calls("Converse") + bedrock.calls("ConverseStream"):
        assert CACHE_POINT not in call.body.get("system", []), call.model_id
    assert answer.route.calls and all(
        c.cache_read_tokens == c.cache_write_tokens == 0 for c in answer.route.calls
    )


# --- passage cap (issue 12 item 10, savings) -------------------------------------------------


def test_a_passage_is_capped_after_the_last_sentence_that_fits() -> None:
    text = "First sentence here. Second sentence is longer than the first. Third one."

    assert cap_passage(text, 0) == text  # 0: no cap
    assert cap_passage(text, len(text)) == text
    assert cap_passage(text, 40) == "First sentence here. …"
    assert cap_passage(text, 60) == "First sentence here. Second sentence is longer than the …"
    assert (
        cap_passage("word " * 100, 40).endswith(" …") and len(cap_passage("word " * 100, 40)) <= 42
    )


async def test_max_passage_chars_caps_what_reaches_pro(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-pro", Reply(text="20 days [1]."))
    settings = settings.model_copy(update={"max_passage_chars": 200})

    await ask(settings, LEAVE_EN)

    (pro,) = bedrock.calls(model="nova-pro")
    bodies = pro.text.split("<passage ")[1:]
    assert bodies and all(len(b.split("</passage>")[0].split("\n", 1)[1]) <= 203 for b in bodies)


@pytest.mark.parametrize("key", ["busy_retry", "answer_cut", "translation_cut"])
def test_every_language_of_the_catalogue_has_the_new_sentences(key: str) -> None:
    from bot.messages import available_languages

    assert available_languages(key) == available_languages("busy")
    for language in available_languages(key):
        text = message(key, language, minutes=3)
        assert text and "{" not in text
        if key == "busy_retry":
            assert "3" in text, language
