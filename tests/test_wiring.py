"""`wiring.build` hands out collaborators fully built (nothing attached later), and one
`run_ingest` serves the CLI and /ingest (against the Bedrock fake and a local index)."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from bot import messages
from bot.config import Settings, load_settings
from bot.glossary import GlossaryTerm
from bot.ingest_run import IngestTools, run_ingest
from bot.messages import MessageKey
from bot.observer import Operations
from bot.pipeline import NoObserver
from bot.state import MemoryStateStore
from bot.wiring import build, build_detector, build_store
from fakes.bedrock import FakeBedrock, Reply
from kernel.models import Answer, Question
from retrieval.handle import IndexHandle

EXAMPLE_DOCS = Path(__file__).resolve().parents[1] / "examples" / "docs"
BUSY_PL = "Mam teraz zbyt wiele zapytań. Spróbuj ponownie za minutę."


async def test_with_a_state_store_the_build_runs_budgets_and_shares_glossary_and_sentences(
    settings: Settings, bedrock: FakeBedrock
) -> None:
    state = MemoryStateStore()
    first, second = build(settings, state=state), build(settings, state=state)

    assert isinstance(first.observer, Operations) and first.pipeline.observer is first.observer
    # An admin's glossary change through one task is seen by another sharing the store.
    await first.glossary.add(GlossaryTerm(term="Zorblax", do_not_translate=True))
    assert "Zorblax" in [t.term for t in (await second.glossary.refresh(force=True)).terms]
    # A fixed sentence translated for one task is read from the store by the next.
    bedrock.queue("nova-micro", Reply(text=BUSY_PL))
    assert await first.pipeline.localizer.message("busy", "pl") == BUSY_PL
    assert await second.pipeline.localizer.message("busy", "pl") == BUSY_PL
    assert len(bedrock.calls(model="nova-micro")) == 1


async def test_without_a_state_store_nothing_is_observed_or_shared(settings: Settings) -> None:
    first, second = build(settings), build(settings)

    assert isinstance(first.observer, NoObserver)
    await first.glossary.add(GlossaryTerm(term="Zorblax", do_not_translate=True))
    assert "Zorblax" not in [t.term for t in (await second.glossary.refresh(force=True)).terms]


async def test_the_observer_hears_who_asked_with_the_answer(settings: Settings) -> None:
    heard: list[tuple[str | None, str | None, str]] = []

    class Listening(NoObserver):
        async def finished(self, question: Question, answer: Answer) -> None:
            heard.append((question.user_id, question.channel_id, question.question_id))

    pipeline = build(settings, offline=True, observer=Listening()).pipeline
    question = Question(text="How many days of annual leave?", user_id="U1", channel_id="C1")
    stream = await pipeline.answer(question)
    async for _ in stream:
        pass

    assert heard == [("U1", "C1", question.question_id)]


def test_run_ingest_publishes_and_reloads_the_served_index(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INDEX_URI", str(aws_env / "index"))
    settings = load_settings()
    store = build_store(settings)
    served = IndexHandle(store=store)
    tools = IngestTools(settings, store, None, build_detector(settings), served)

    report = run_ingest(tools, str(EXAMPLE_DOCS), collection="handbook")

    assert report.published
    assert served.current().version == store.current_version()
    assert served.current().collections == {"handbook"}


def test_every_catalogue_sentence_has_a_message_key_and_no_key_is_missing() -> None:
    assert set(get_args(MessageKey)) == set(messages._MESSAGES)


def test_every_sentence_asked_of_the_catalogue_is_written_in_each_of_its_languages() -> None:
    """A missing language falls back to English (a Traditional Chinese asker told their place
    in line in English); only the note that a sentence is untranslated is English by design."""
    languages = set(messages._MESSAGES["working"])
    assert {"en", "ko", "ja", "zh", "zh-Hant"} <= languages
    missing = {
        key: sorted(languages - set(texts))
        for key, texts in messages._MESSAGES.items()
        if key != "untranslated" and languages - set(texts)
    }
    assert missing == {}
