"""Fixed sentences in any language: the catalogue, else one cached Micro translation, else
English with the language named (against the Bedrock fake)."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.localizer import KIND, Localizer, cache_key
from bot.messages import message
from bot.state import MemoryStateStore
from bot.wiring import build
from fakes.bedrock import FakeBedrock, Reply
from kernel.models import ModelCall

BUSY_PL = "Mam teraz zbyt wiele zapytań. Spróbuj ponownie za minutę."
TRUNCATED_PL = "Twoja wiadomość była bardzo długa, więc przeczytałem tylko pierwsze {limit} znaków."


def localizer(settings: Settings, state: MemoryStateStore) -> Localizer:
    translator = build(settings).pipeline.translator
    assert translator is not None
    return Localizer(translator=translator, state=state)


async def test_a_written_sentence_needs_no_model(settings: Settings, bedrock: FakeBedrock) -> None:
    says = localizer(settings, MemoryStateStore())

    assert await says.message("busy", "ko") == message("busy", "ko")
    assert await says.message("busy", "zh-Hant") == message("busy", "zh-Hant")
    assert bedrock.calls() == []


async def test_another_language_is_translated_once_then_read_from_the_state_store(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    state = MemoryStateStore()
    bedrock.queue("nova-micro", Reply(text=BUSY_PL))
    calls: list[ModelCall] = []

    first = await localizer(settings, state).message("busy", "pl", on_call=calls.append)
    again = await localizer(settings, state).message("busy", "pl")  # another task, same store

    assert first == again == BUSY_PL
    (call,) = bedrock.calls(model="nova-micro")
    assert "Target language: Polish (pl)" in call.text and message("busy", "en") in call.text
    assert [c.purpose for c in calls] == ["translate"]
    assert (await state.get(KIND, cache_key("busy", "pl"))) == {"text": BUSY_PL}


async def test_placeholders_survive_translation_and_are_filled(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    bedrock.queue("nova-micro", Reply(text=TRUNCATED_PL))

    text = await localizer(settings, MemoryStateStore()).message("truncated", "pl", limit=4000)

    assert text == TRUNCATED_PL.format(limit=4000)


async def test_a_translation_that_lost_a_placeholder_is_not_used_or_cached(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    state = MemoryStateStore()
    bedrock.queue("nova-micro", Reply(text="Twoja wiadomość była bardzo długa."))

    text = await localizer(settings, state).message("truncated", "pl", limit=4000)

    assert text.startswith(message("truncated", "en", limit=4000)) and "Polish" in text
    assert await state.get(KIND, cache_key("truncated", "pl")) is None


@pytest.mark.parametrize("failure", ["offline", "micro_fails"])
async def test_without_a_model_the_sentence_is_english_with_the_language_named(
    settings: Settings, bedrock: FakeBedrock, failure: str
) -> None:
    if failure == "offline":
        says = Localizer(translator=None)
    else:
        bedrock.responder("nova-micro", lambda _request: Reply(error="validation"))
        says = localizer(settings, MemoryStateStore())

    text = await says.message("not_found", "tr")

    assert text == (
        f"{message('not_found', 'en')} _(in English: no Turkish translation of this message is "
        "available right now)_"
    )


WORKING_PL = "Przeglądam dokumenty…"
QUEUE_PL = "Dużo pytań: twoje jest {position}. w kolejce (około {seconds} s)."


async def test_the_sign_of_work_never_waits_for_a_model_and_learns_a_language_once(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    from bot.slack.working import WorkingTexts

    state = MemoryStateStore()
    says = localizer(settings, state)
    before = await WorkingTexts.known(says, "pl")
    written = await WorkingTexts.known(says, "ko")
    assert bedrock.calls() == [], "known() is never a model call"
    assert before == WorkingTexts.written("en")
    assert written == WorkingTexts.written("ko") and written.working == message("working", "ko")

    bedrock.queue("nova-micro", Reply(text=WORKING_PL))
    bedrock.queue("nova-micro", Reply(text=QUEUE_PL))
    await says.learn(WorkingTexts.LEARNED, "pl")
    await localizer(settings, state).learn(WorkingTexts.LEARNED, "pl")  # another task: cached
    await says.learn(WorkingTexts.LEARNED, "ko")  # written: nothing to learn

    after = await WorkingTexts.known(localizer(settings, state), "pl")
    assert after == WorkingTexts(WORKING_PL, QUEUE_PL)
    assert after.place(3, 41.6) == "Dużo pytań: twoje jest 3. w kolejce (około 42 s)."
    assert len(bedrock.calls(model="nova-micro")) == 2


def test_a_cached_queue_sentence_with_stray_braces_falls_back_to_english() -> None:
    from bot.slack.working import WorkingTexts

    broken = WorkingTexts("…", "kolejka {pozycja}")
    assert broken.place(2, 0.2) == message("queue_position", "en", position=2, seconds=1)
