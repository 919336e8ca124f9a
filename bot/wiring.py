"""The one place that builds real clients and stages from Settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import boto3

from bot.answer import DRAFT_STYLE, AnswerPrompt, ProAnswerer, Translator
from bot.aws import settings_client
from bot.bedrock import converse_llm, embedding_model, runtime_client
from bot.condense import MicroRouter
from bot.config import Settings
from bot.flow import Budget, FlowControl
from bot.glossary import Glossary, GlossarySource, load_base_glossary
from bot.language import LanguageDetector
from bot.localizer import Localizer
from bot.observer import build_observer
from bot.pipeline import Models, NoObserver, Pipeline, PipelineLimits, PipelineObserver
from bot.state import StateStore
from kernel.errors import ConfigError
from kernel.retriever import Retriever
from retrieval.embedding import Embedder, LlamaIndexEmbedder, embedding_dimensions
from retrieval.handle import IndexHandle
from retrieval.index import KnowledgeIndex
from retrieval.retriever import HybridRetriever
from retrieval.store import IndexStore, LocalIndexStore

if TYPE_CHECKING:
    # Only ingest opens sources; importing them loads the pdf/docx/html parsers (~26 MB).
    from retrieval.sources import Source

log = logging.getLogger(__name__)

CONDENSE_MAX_TOKENS = 300
#: The draft is three short sentences; it never needs the full answer's room.
DRAFT_MAX_TOKENS = 400


def has_aws_credentials(settings: Settings) -> bool:
    """True when boto3 can find credentials (env, profile, container or instance role)."""
    return boto3.Session(region_name=settings.aws_region).get_credentials() is not None


@dataclass(frozen=True)
class Components:
    """What `build` made, fully wired; each consumer is handed the parts it uses."""

    settings: Settings
    detector: LanguageDetector
    store: IndexStore
    index: IndexHandle
    embedder: Embedder | None
    retriever: Retriever
    glossary: GlossarySource
    observer: PipelineObserver
    pipeline: Pipeline
    offline: bool
    bedrock: Any | None


def build_flow(settings: Settings) -> FlowControl:
    """Budgets and fair queues in front of Nova Pro and Micro (one per process)."""
    return FlowControl(
        {
            "nova-pro": Budget(
                settings.bedrock_pro_requests_per_minute, settings.bedrock_pro_tokens_per_minute
            ),
            "nova-micro": Budget(
                settings.bedrock_micro_requests_per_minute,
                settings.bedrock_micro_tokens_per_minute,
            ),
        },
        max_wait_s=settings.queue_max_wait_seconds,
    )


def build_detector(settings: Settings) -> LanguageDetector:
    return LanguageDetector(
        languages=settings.all_detect_languages,
        default=settings.default_language,
        model=settings.language_model,
    )


def build_s3_client(settings: Settings) -> Any:
    return settings_client(settings, "s3")


def build_store(settings: Settings) -> IndexStore:
    """INDEX_URI picks the store: a local folder, or an S3 prefix whose ingest lock lives in
    STATE_TABLE when one is set (else in an S3 conditional write beside the index)."""
    if settings.index_is_local:
        return LocalIndexStore(settings.local_index_path)
    from retrieval.locks import DynamoLock, LeaseBackend, S3ObjectLock
    from retrieval.s3 import parse_s3_uri
    from retrieval.s3_store import S3IndexStore

    location = parse_s3_uri(settings.index_uri, error=ConfigError)
    client = build_s3_client(settings)
    lock: LeaseBackend
    if settings.state_table:
        dynamodb = settings_client(settings, "dynamodb")
        lock = DynamoLock(client=dynamodb, table=settings.state_table, name=location.uri)
    else:
        lock = S3ObjectLock(client=client, location=location, region=settings.aws_region)
    return S3IndexStore(
        location,
        client=client,
        lock=lock,
        lock_ttl_s=settings.ingest_lock_ttl_seconds,
        region=settings.aws_region,
    )


def build_source(settings: Settings, uri: str) -> Source:
    """A local folder or an s3:// prefix to ingest, with the configured size cap."""
    from retrieval.sources import open_source

    return open_source(
        uri,
        max_bytes=int(settings.max_document_mb * 1024 * 1024),
        s3=build_s3_client(settings) if uri.startswith("s3://") else None,
        region=settings.aws_region,
        index_uri=settings.index_uri,
    )


def build_embedder(settings: Settings, client: Any, *, concurrency: int | None = None) -> Embedder:
    return LlamaIndexEmbedder(
        embed_model=embedding_model(settings, client=client),
        model_id=settings.embed_model_id,
        dimensions=embedding_dimensions(settings.embed_model_id, settings.embed_dimensions),
        concurrency=concurrency or settings.embed_concurrency,
    )


def build_retriever(
    settings: Settings,
    *,
    index: Callable[[], KnowledgeIndex],
    embedder: Embedder | None,
    offline: bool,
) -> Retriever:
    """RETRIEVER=bedrock-kb: a Bedrock Knowledge Base; otherwise (and offline) hybrid search
    over the published index."""
    if settings.retriever == "bedrock-kb" and not offline:
        from retrieval.knowledge_base import KnowledgeBaseRetriever

        client = settings_client(settings, "bedrock-agent-runtime")
        return KnowledgeBaseRetriever(
            client=client,
            knowledge_base_id=settings.knowledge_base_id or "",
            min_score=settings.knowledge_base_min_score,
            relative_cutoff=settings.relative_cutoff,
            filter_collections=settings.knowledge_base_filter,
            region=settings.bedrock_region_name,
        )
    return HybridRetriever(
        index=index,
        embedder=embedder,
        min_vector_score=settings.min_vector_score,
        min_bm25_score=settings.min_bm25_score,
        relative_cutoff=settings.relative_cutoff,
    )


def build(
    settings: Settings,
    *,
    state: StateStore | None = None,
    observer: PipelineObserver | None = None,
    offline: bool | None = None,
    wrap_retriever: Callable[[Retriever], Retriever] | None = None,
) -> Components:
    """Everything the CLI and the Slack app need, fully built. No network I/O happens here.

    `state`: the shared store (`serve`) behind admin glossary changes, translated fixed
    sentences and, unless `observer` is given, budgets and accounting (`build_observer`);
    None keeps all of it in this process (the CLI). `wrap_retriever` lets `dualnova eval`
    see the ranked passages of every question.
    """
    if offline is None:
        offline = settings.offline or not has_aws_credentials(settings)
    if observer is None:
        observer = NoObserver() if state is None else build_observer(settings, state)
    detector = build_detector(settings)
    store = build_store(settings)
    handle = IndexHandle(store=store)
    # One pooled connection per concurrently streaming answer (serve allows 256 threads).
    client = None if offline else runtime_client(settings)
    embedder = None if client is None else build_embedder(settings, client)
    glossary = GlossarySource(base=build_base_glossary(settings), state=state)
    models = Models() if client is None else build_models(settings, client, glossary.current)
    retriever = build_retriever(settings, index=handle.current, embedder=embedder, offline=offline)
    if wrap_retriever is not None:
        retriever = wrap_retriever(retriever)
    pipeline = Pipeline(
        detector=detector,
        retriever=retriever,
        limits=PipelineLimits(
            corpus_languages=tuple(settings.corpus_languages),
            max_question_chars=settings.max_question_chars,
            top_k=settings.retrieval_top_k,
        ),
        models=models,
        glossary=glossary.current,
        observer=observer,
        localizer=Localizer(translator=models.translator, state=state),
    )
    return Components(
        settings=settings,
        detector=detector,
        store=store,
        index=handle,
        embedder=embedder,
        retriever=retriever,
        glossary=glossary,
        observer=observer,
        pipeline=pipeline,
        offline=offline,
        bedrock=client,
    )


def build_models(settings: Settings, client: Any, glossary: Callable[[], Glossary]) -> Models:
    """Nova Micro (condense, translate, draft) and Nova Pro (answer), behind one flow control."""
    flow = build_flow(settings)
    micro = converse_llm(
        model_id=settings.micro_model_id,
        client=client,
        max_tokens=settings.answer_max_tokens,  # translations set their own per call
    )
    prompt = AnswerPrompt(glossary=glossary, passage_chars=settings.max_passage_chars)
    drafter = ProAnswerer(
        llm=converse_llm(
            model_id=settings.micro_model_id, client=client, max_tokens=DRAFT_MAX_TOKENS
        ),
        model_id=settings.micro_model_id,
        prompt=replace(prompt, style=DRAFT_STYLE),
        purpose="draft",
        flow=flow,
    )
    translator = Translator(
        llm=micro, model_id=settings.micro_model_id, glossary=glossary, flow=flow
    )
    router = MicroRouter(
        llm=converse_llm(
            model_id=settings.micro_model_id,
            client=client,
            max_tokens=CONDENSE_MAX_TOKENS,
            temperature=0.0,
        ),
        model_id=settings.micro_model_id,
        corpus_languages=settings.corpus_languages,
        history_budget=settings.history_token_budget,
        glossary=glossary,
        flow=flow,
    )
    answerer = ProAnswerer(
        llm=converse_llm(
            model_id=settings.pro_model_id, client=client, max_tokens=settings.answer_max_tokens
        ),
        model_id=settings.pro_model_id,
        prompt=prompt,
        flow=flow,
    )
    return Models(router=router, answerer=answerer, drafter=drafter, translator=translator)


def build_base_glossary(settings: Settings) -> Glossary:
    """The glossary file's terms (GLOSSARY_URI, or glossary.json beside the documents)."""

    def read_s3(uri: str) -> str | None:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        client = settings_client(settings, "s3")
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:
            log.info("no glossary at %s (%s)", uri, exc.__class__.__name__)
            return None
        return bytes(body).decode("utf-8")

    return load_base_glossary(
        glossary_uri=settings.glossary_uri, docs_source=settings.docs_source, read_s3=read_s3
    )
