"""RETRIEVER=bedrock-kb: Bedrock Knowledge Bases Retrieve behind the Retriever seam, on the
wire against a loopback fake reached through AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.wiring import build, build_retriever
from fakes.bedrock import FakeBedrock, Reply
from fakes.bedrock_agent import FakeKnowledgeBase
from kernel.errors import ModelThrottled, RetrievalError
from kernel.models import Question
from retrieval.knowledge_base import KnowledgeBaseRetriever

KB = "KBTEST0001"


@pytest.fixture(scope="module")
def fake_kb() -> Iterator[FakeKnowledgeBase]:
    with FakeKnowledgeBase() as fake:
        yield fake


@pytest.fixture
def kb_settings(
    aws_env: Path, fake_kb: FakeKnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    fake_kb.reset()
    fake_kb.add(
        KB,
        "Employees get 20 days of paid annual leave per year.",
        uri="s3://kb-docs/policies/leave-policy.md",
        metadata={"collection": "public", "title": "Leave policy", "language": "en"},
    )
    fake_kb.add(
        KB,
        "Salary bands: level L5 earns band 77; paid leave is unrelated.",
        uri="s3://kb-docs/hr/salaries.md",
        metadata={"collection": "hr"},
    )
    fake_kb.add(KB, "The cafeteria opens at noon.", uri="s3://kb-docs/misc/cafe.md")
    monkeypatch.setenv("RETRIEVER", "bedrock-kb")
    monkeypatch.setenv("KNOWLEDGE_BASE_ID", KB)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME", fake_kb.url)
    monkeypatch.setenv("KNOWLEDGE_BASE_MIN_SCORE", "0.2")
    yield load_settings()


def retriever(settings: Settings) -> KnowledgeBaseRetriever:
    built = build_retriever(settings, index=lambda: None, embedder=None, offline=False)  # type: ignore[arg-type,return-value]
    assert isinstance(built, KnowledgeBaseRetriever)
    return built


async def test_passages_come_from_retrieve_with_title_source_score_and_collection_filter(
    kb_settings: Settings, fake_kb: FakeKnowledgeBase
) -> None:
    passages = await retriever(kb_settings).retrieve(
        ["How many days of paid annual leave?"], collections=frozenset({"public"}), top_k=3
    )

    request = fake_kb.requests[0]
    assert request["knowledgeBaseId"] == KB
    assert request["retrievalQuery"] == {"text": "How many days of paid annual leave?"}
    search = request["retrievalConfiguration"]["vectorSearchConfiguration"]
    assert search == {
        "numberOfResults": 3,
        "filter": {"in": {"key": "collection", "value": ["public"]}},
    }
    assert [(p.title, p.source, p.collection, p.language) for p in passages] == [
        ("Leave policy", "s3://kb-docs/policies/leave-policy.md", "public", "en")
    ]
    assert 0 < passages[0].score <= 1 and "20 days" in passages[0].text


async def test_collections_and_the_min_score_decide_what_is_returned(
    kb_settings: Settings, fake_kb: FakeKnowledgeBase
) -> None:
    kb = retriever(kb_settings)
    both = frozenset({"public", "hr"})

    found = await kb.retrieve(["paid leave salary bands"], collections=both, top_k=5)
    # One word in six matches the leave policy: Bedrock returns it, scored 0.17 < 0.2.
    weak = await kb.retrieve(["leave weather tomorrow rain snow sun"], collections=both, top_k=5)
    uncollected = await kb.retrieve(["cafeteria opens noon"], collections=both, top_k=5)

    assert {p.source for p in found} == {
        "s3://kb-docs/policies/leave-policy.md",
        "s3://kb-docs/hr/salaries.md",
    }
    assert weak == []
    assert uncollected == []  # no collection attribute: invisible while the filter is on


async def test_the_relative_cutoff_drops_results_far_below_the_best(
    kb_settings: Settings, fake_kb: FakeKnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    both = frozenset({"public", "hr"})
    question = ["paid annual leave days per year salary"]

    monkeypatch.setenv("RELATIVE_CUTOFF", "0")
    loose = await retriever(load_settings()).retrieve(question, collections=both, top_k=5)
    monkeypatch.setenv("RELATIVE_CUTOFF", "0.6")
    strict = await retriever(load_settings()).retrieve(question, collections=both, top_k=5)

    assert [p.title for p in loose] == ["Leave policy", "salaries"]
    assert loose[1].score < 0.6 * loose[0].score
    assert [p.title for p in strict] == ["Leave policy"]


async def test_both_queries_are_asked_and_the_same_chunk_keeps_its_best_score(
    kb_settings: Settings, fake_kb: FakeKnowledgeBase
) -> None:
    passages = await retriever(kb_settings).retrieve(
        ["paid annual leave days", "연차 paid leave"], collections=frozenset({"public"}), top_k=5
    )

    assert len(fake_kb.requests) == 2
    assert len(passages) == 1 and passages[0].title == "Leave policy"


async def test_throttling_and_denial_become_typed_errors(
    kb_settings: Settings, fake_kb: FakeKnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEDROCK_MAX_ATTEMPTS", "1")
    kb = retriever(load_settings())
    public = frozenset({"public"})

    fake_kb.fail("ThrottlingException")
    with pytest.raises(ModelThrottled):
        await kb.retrieve(["leave"], collections=public, top_k=3)
    fake_kb.fail("AccessDeniedException")
    with pytest.raises(
        RetrievalError,
        match=rf"allow bedrock:Retrieve on arn:aws:bedrock:us-east-1:ACCOUNT:knowledge-base/{KB}",
    ):
        await kb.retrieve(["leave"], collections=public, top_k=3)


async def test_the_pipeline_answers_from_the_knowledge_base(
    kb_settings: Settings, bedrock: FakeBedrock, fake_kb: FakeKnowledgeBase
) -> None:
    bedrock.queue("nova-pro", Reply(text="Employees get 20 days [1]."))

    stream = await build(kb_settings).pipeline.answer(
        Question(text="How many days of paid annual leave do employees get?")
    )
    async for _ in stream:
        pass
    answer = stream.result()

    assert answer.status == "answered"
    assert [c.source for c in answer.citations] == ["s3://kb-docs/policies/leave-policy.md"]
    assert "20 days of paid annual leave" in bedrock.calls(model="nova-pro")[0].text
    assert fake_kb.requests and bedrock.calls("InvokeModel") == []  # no local embedding
