"""Ingest from S3 into an index on S3, against moto in server mode and the Bedrock fake."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from llama_index.core.embeddings import MockEmbedding

from bot.config import Settings, load_settings
from bot.wiring import build_embedder, build_store, runtime_client
from fakes.aws import MotoServer
from fakes.bedrock import FakeBedrock
from fakes.harness import bucket_of, ingest_with
from fakes.s3_corpus import code_word, put_documents
from kernel.errors import IngestError
from retrieval.embedding import LlamaIndexEmbedder
from retrieval.index import KnowledgeIndex
from retrieval.ingest import ingest
from retrieval.s3 import s3_client
from retrieval.store import IndexStore


class S3Calls:
    """Every S3 operation a client sent, recorded from botocore's own events."""

    def __init__(self, client: Any) -> None:
        self.operations: list[str] = []
        client.meta.events.register("before-call.s3.*", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.operations.append(model.name)

    def count(self, operation: str) -> int:
        return self.operations.count(operation)


def load_current(store: IndexStore) -> KnowledgeIndex:
    version, path = store.require_current()
    return KnowledgeIndex.load(path, version)


def finds(
    index: KnowledgeIndex, word: str, collections: frozenset[str] = frozenset({"public"})
) -> bool:
    hits = index.search(
        texts=[word],
        vectors=[],
        collections=collections,
        top_k=3,
        min_vector_score=0.3,
        min_bm25_score=0.5,
    )
    return any(word in index.nodes[h.row].get_content() for h in hits)


def version_folders(moto: MotoServer, bucket: str) -> list[str]:
    listing = moto.client("s3").list_objects_v2(
        Bucket=bucket, Prefix="index/versions/", Delimiter="/"
    )
    return [p["Prefix"] for p in listing.get("CommonPrefixes", [])]


def test_s3_ingest_is_incremental_unchanged_reruns_cost_nothing_and_deletions_leave(
    s3_settings: Settings, moto_server: MotoServer, bedrock: FakeBedrock
) -> None:
    bucket = bucket_of(s3_settings)
    raw = moto_server.client("s3")
    keys = put_documents(raw, bucket, "docs", range(200))
    client = s3_client(region="us-east-1", endpoint_url=moto_server.url)
    calls = S3Calls(client)

    first = ingest_with(s3_settings, s3=client)

    assert first.published and len(first.added) == 200 and not first.skipped
    assert first.embedding_calls == first.chunks == len(bedrock.calls("InvokeModel"))
    assert calls.count("GetObject") == 200
    index = load_current(build_store(s3_settings))
    assert {n.metadata["source"] for n in index.nodes} == {f"s3://{bucket}/{k}" for k in keys}
    node = next(n for n in index.nodes if n.metadata["source"].endswith(keys[63]))
    assert keys[63].endswith(".md") and node.metadata["title"] == "Item 63 handbook"
    assert node.metadata["language"] == "ko" and node.metadata["last_modified"].startswith("20")
    etag = raw.head_object(Bucket=bucket, Key=keys[63])["ETag"]
    assert node.metadata["fingerprint"] == etag.strip('"')
    assert len(version_folders(moto_server, bucket)) == 1

    bedrock.reset()
    calls.operations.clear()
    second = ingest_with(s3_settings, s3=client)

    assert not second.published and second.version == first.version
    assert "unchanged, nothing published" in second.summary() and len(second.unchanged) == 200
    assert second.embedding_calls == 0 and bedrock.calls("InvokeModel") == []
    assert calls.count("GetObject") == 0  # ETags decided it: no document was fetched
    assert len(version_folders(moto_server, bucket)) == 1

    put_documents(raw, bucket, "docs", [10, 11, 12], revision=1)  # change 3
    raw.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": keys[20]}, {"Key": keys[21]}]}
    )  # delete 2
    added = put_documents(raw, bucket, "docs", [200])  # add 1
    bedrock.reset()
    calls.operations.clear()

    third = ingest_with(s3_settings, s3=client)

    assert third.published and third.version != first.version
    assert sorted(third.updated) == [f"s3://{bucket}/{keys[n]}" for n in (10, 11, 12)]
    assert third.deleted == [f"s3://{bucket}/{keys[n]}" for n in (20, 21)]
    assert third.added == [f"s3://{bucket}/{added[0]}"]
    assert len(third.unchanged) == 200 - 3 - 2
    assert calls.count("GetObject") == 4
    assert third.embedding_calls == len(bedrock.calls("InvokeModel")) == 4  # one chunk each
    index = load_current(build_store(s3_settings))
    assert not finds(index, code_word(20)) and not finds(index, code_word(21))
    assert finds(index, code_word(10, 1)) and not finds(index, code_word(10))
    assert finds(index, code_word(200)) and finds(index, code_word(50))
    assert len(index.nodes) == first.chunks - 2 + 1


def test_s3_ingest_honours_the_collection(
    s3_settings: Settings, moto_server: MotoServer, bedrock: FakeBedrock
) -> None:
    bucket = bucket_of(s3_settings)
    raw = moto_server.client("s3")
    put_documents(raw, bucket, "docs", range(5))
    put_documents(raw, bucket, "hr", range(100, 103))

    ingest_with(s3_settings)
    hr = ingest_with(s3_settings, source=f"s3://{bucket}/hr", collection="hr")
    again = ingest_with(s3_settings, source=f"s3://{bucket}/hr", collection="hr")

    assert hr.published and len(hr.added) == 3 and not hr.deleted
    assert not again.published and len(again.unchanged) == 3
    index = load_current(build_store(s3_settings))
    assert index.collections == {"public", "hr"}
    assert finds(index, code_word(101), frozenset({"hr"}))
    assert not finds(index, code_word(101), frozenset({"public"}))
    assert finds(index, code_word(2), frozenset({"public"}))


def test_bad_objects_are_skipped_with_their_reason_and_the_run_goes_on(
    s3_settings: Settings,
    moto_server: MotoServer,
    bedrock: FakeBedrock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = bucket_of(s3_settings)
    raw = moto_server.client("s3")
    put_documents(raw, bucket, "docs", range(3))
    raw.put_object(Bucket=bucket, Key="docs/broken.pdf", Body=b"%PDF-1.7 trailer garbage")
    raw.put_object(Bucket=bucket, Key="docs/budget.xls", Body=b"PK\x03\x04 not really")
    raw.put_object(Bucket=bucket, Key="docs/legacy.txt", Body=bytes(range(256)) * 4)
    raw.put_object(Bucket=bucket, Key="docs/huge.md", Body=b"# Huge\n\n" + b"x " * 700_000)
    raw.put_object(Bucket=bucket, Key="docs/cold.md", Body=b"# Cold", StorageClass="GLACIER")
    raw.put_object(Bucket=bucket, Key="docs/sub/", Body=b"")  # a console "folder"
    raw.put_object(Bucket=bucket, Key="docs/item.md.metadata.json", Body=b"{}")
    monkeypatch.setenv("MAX_DOCUMENT_MB", "1")
    settings = load_settings()
    from bot.wiring import build_source

    report = ingest(
        source=build_source(settings, settings.docs_source),
        store=build_store(settings),
        embedder=None,
        detect_language=lambda text: "en",
    )

    reasons = {s.key.rsplit("/", 1)[1]: s.reason for s in report.skipped}
    assert set(reasons) == {"broken.pdf", "budget.xls", "legacy.txt", "huge.md", "cold.md"}
    assert "unsupported file type .xls" in reasons["budget.xls"]
    assert "too large" in reasons["huge.md"] and "GLACIER" in reasons["cold.md"]
    assert report.published and len(report.added) == 3


def test_embedding_is_bounded_by_concurrency_and_throttling_is_retried(
    s3_settings: Settings,
    moto_server: MotoServer,
    bedrock: FakeBedrock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    put_documents(moto_server.client("s3"), bucket_of(s3_settings), "docs", range(24))
    monkeypatch.setenv("BEDROCK_MAX_ATTEMPTS", "1")  # only our backoff retries
    settings = load_settings()
    embedder = build_embedder(settings, runtime_client(settings), concurrency=4)
    assert isinstance(embedder, LlamaIndexEmbedder)
    embedder._backoff_s = 0.01
    bedrock.latency("titan-embed", fixed_s=0.05)
    bedrock.throttle("titan-embed", times=3)

    report = ingest_with(settings, embedder=embedder)

    invokes = bedrock.calls("InvokeModel")
    assert report.published and len(report.added) == 24
    assert report.embedding_calls == len(invokes) == 24 + 3
    assert [r.error for r in invokes].count("ThrottlingException") == 3
    in_flight = max(
        sum(1 for o in invokes if o.started_at <= r.started_at < (o.finished_at or 1e12))
        for r in invokes
    )
    assert in_flight <= 4


def test_persistent_throttling_fails_the_run_and_publishes_nothing(
    s3_settings: Settings,
    moto_server: MotoServer,
    bedrock: FakeBedrock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = bucket_of(s3_settings)
    put_documents(moto_server.client("s3"), bucket, "docs", range(4))
    good = ingest_with(s3_settings)
    put_documents(moto_server.client("s3"), bucket, "docs", range(4), revision=1)
    monkeypatch.setenv("BEDROCK_MAX_ATTEMPTS", "1")
    settings = load_settings()
    embedder = build_embedder(settings, runtime_client(settings), concurrency=2)
    assert isinstance(embedder, LlamaIndexEmbedder)
    embedder._backoff_s, embedder._throttle_retries = 0.01, 2
    bedrock.throttle("titan-embed")

    with pytest.raises(IngestError, match=r"throttled.*nothing was published.*EMBED_CONCURRENCY"):
        ingest_with(settings, embedder=embedder)

    store = build_store(settings)
    assert store.current_version() == good.version
    assert len(version_folders(moto_server, bucket)) == 1
    assert (
        moto_server.client("s3").list_objects_v2(Bucket=bucket, Prefix="index/.ingest.lock")[
            "KeyCount"
        ]
        == 0
    )


class _PickyEmbedding(MockEmbedding):
    """An embedding model that refuses any text containing a marker, as Bedrock refuses
    invalid input with a ValidationException."""

    def _get_text_embedding(self, text: str) -> list[float]:
        if "POISON" in text:
            raise ValueError("input rejected")
        return super()._get_text_embedding(text)


def test_a_document_the_model_refuses_is_skipped_with_its_reason(
    s3_settings: Settings, moto_server: MotoServer
) -> None:
    bucket = bucket_of(s3_settings)
    raw = moto_server.client("s3")
    put_documents(raw, bucket, "docs", range(3))
    raw.put_object(Bucket=bucket, Key="docs/poison.md", Body=b"# Bad\n\nPOISON text here.")
    embedder = LlamaIndexEmbedder(
        embed_model=_PickyEmbedding(embed_dim=8), model_id="mock", dimensions=8
    )

    report = ingest_with(s3_settings, embedder=embedder)

    assert [s.key for s in report.skipped] == [f"s3://{bucket}/docs/poison.md"]
    assert "refused" in report.skipped[0].reason and "input rejected" in report.skipped[0].reason
    assert report.published and len(report.added) == 3


async def test_cohere_embeds_in_batches_with_document_and_query_input_types(
    s3_settings: Settings,
    moto_server: MotoServer,
    bedrock: FakeBedrock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    put_documents(moto_server.client("s3"), bucket_of(s3_settings), "docs", range(100))
    monkeypatch.setenv("EMBED_MODEL_ID", "cohere.embed-multilingual-v3")
    settings = load_settings()
    embedder = build_embedder(settings, runtime_client(settings))

    report = ingest_with(settings, embedder=embedder)

    calls = bedrock.calls("InvokeModel", model="cohere.embed-multilingual-v3")
    assert report.embedding_calls == len(calls) == math.ceil(report.chunks / 96)
    assert {c.body["input_type"] for c in calls} == {"search_document"}
    assert sorted(len(c.body["texts"]) for c in calls) == sorted(
        [96] * (report.chunks // 96) + [report.chunks % 96]
    )
    index = load_current(build_store(settings))
    assert index.vectors is not None and index.vectors.shape[1] == 1024
    bedrock.reset()
    await embedder.embed_query("code word for item 7")
    assert (
        json.loads(json.dumps(bedrock.calls("InvokeModel")[0].body))["input_type"] == "search_query"
    )


def test_an_index_inside_the_source_prefix_is_never_ingested_as_documents(
    s3_settings: Settings, moto_server: MotoServer, bedrock: FakeBedrock
) -> None:
    from bot.wiring import build_source

    bucket = bucket_of(s3_settings)
    put_documents(moto_server.client("s3"), bucket, "docs", range(3))
    whole_bucket = f"s3://{bucket}"

    reports = [
        ingest(
            source=build_source(s3_settings, whole_bucket),
            store=build_store(s3_settings),
            embedder=None,
            detect_language=lambda text: "en",
        )
        for _ in range(2)
    ]

    assert reports[0].published and len(reports[0].added) == 3
    assert not reports[1].published and len(reports[1].unchanged) == 3
    assert not any("/index/" in key for r in reports for key in r.added + r.unchanged)


async def test_a_throttled_question_embedding_is_a_typed_model_error(
    s3_settings: Settings, bedrock: FakeBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kernel.errors import ModelThrottled

    monkeypatch.setenv("BEDROCK_MAX_ATTEMPTS", "1")
    settings = load_settings()
    bedrock.throttle("titan-embed")

    with pytest.raises(ModelThrottled):
        await build_embedder(settings, runtime_client(settings)).embed_query("how many days?")
