"""Managed retrieval: an Amazon Bedrock Knowledge Base behind the same `Retriever` seam.

RETRIEVER=bedrock-kb and KNOWLEDGE_BASE_ID select it. Each question is sent to
`bedrock-agent-runtime` Retrieve (`POST /knowledgebases/{id}/retrieve`); the results become
`Passage`s with the title and source taken from the result's metadata and location, and the
relevance score Bedrock returns. Results under KNOWLEDGE_BASE_MIN_SCORE are dropped, so
"not in the documents" still works.

Collections are a metadata filter, `{"in": {"key": "collection", "value": [...]}}`: give each
document in the Knowledge Base's S3 data source a sidecar `<file>.metadata.json` of
`{"metadataAttributes": {"collection": "hr"}}` (and optionally "title", "language"). With the
filter on, a document without that attribute is never returned. KNOWLEDGE_BASE_FILTER=false
turns the filter off and treats the whole Knowledge Base as the `public` collection.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from kernel.aws_errors import DENIED, THROTTLED, error_code
from kernel.errors import ModelThrottled, RetrievalError
from kernel.models import PUBLIC_COLLECTION, ModelCall, Passage

log = logging.getLogger(__name__)

COLLECTION_KEY = "collection"
_LOCATION_FIELDS = (
    ("s3Location", "uri"),
    ("webLocation", "url"),
    ("confluenceLocation", "url"),
    ("sharePointLocation", "url"),
    ("salesforceLocation", "url"),
    ("kendraDocumentLocation", "uri"),
    ("customDocumentLocation", "id"),
)


class KnowledgeBaseRetriever:
    """`Retriever` over Bedrock Knowledge Bases Retrieve; `client` is a bedrock-agent-runtime
    boto3 client (thread safe; calls run in worker threads)."""

    def __init__(
        self,
        *,
        client: Any,
        knowledge_base_id: str,
        min_score: float,
        relative_cutoff: float = 0.0,
        filter_collections: bool = True,
        region: str = "",
    ) -> None:
        self._client = client
        self._knowledge_base_id = knowledge_base_id
        self._min_score = min_score
        self._relative_cutoff = relative_cutoff
        self._filter = filter_collections
        self._region = region

    async def retrieve(
        self,
        queries: Sequence[str],
        *,
        collections: frozenset[str],
        top_k: int,
        on_call: Callable[[ModelCall], None] | None = None,
    ) -> list[Passage]:
        # Retrieve reports no token usage: the Knowledge Base's embedding is billed to it.
        texts = list(dict.fromkeys(q.strip() for q in queries if q.strip()))
        if not texts or not collections:
            return []
        if not self._filter and PUBLIC_COLLECTION not in collections:
            return []  # unfiltered, everything is public: an asker without it sees nothing
        # The standalone question and the asker's own words, as the hybrid retriever does;
        # the same chunk found by both keeps its best score.
        found = await asyncio.gather(
            *(asyncio.to_thread(self._retrieve_one, text, collections, top_k) for text in texts)
        )
        best: dict[str, Passage] = {}
        for passages in found:
            for passage in passages:
                if passage.node_id not in best or passage.score > best[passage.node_id].score:
                    best[passage.node_id] = passage
        ranked = sorted(best.values(), key=lambda p: p.score, reverse=True)
        if not ranked:
            return []
        floor = max(self._min_score, self._relative_cutoff * ranked[0].score)
        return [p for p in ranked if p.score >= floor][:top_k]

    def _retrieve_one(self, text: str, collections: frozenset[str], top_k: int) -> list[Passage]:
        search: dict[str, Any] = {"numberOfResults": top_k}
        if self._filter:
            search["filter"] = {"in": {"key": COLLECTION_KEY, "value": sorted(collections)}}
        try:
            response = self._client.retrieve(
                knowledgeBaseId=self._knowledge_base_id,
                retrievalQuery={"text": text},
                retrievalConfiguration={"vectorSearchConfiguration": search},
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc) from None
        return [p for p in map(self._passage, response.get("retrievalResults", [])) if p]

    def _passage(self, result: dict[str, Any]) -> Passage | None:
        text = str((result.get("content") or {}).get("text") or "")
        if not text.strip():
            return None  # image, audio or table rows: nothing to quote
        metadata = result.get("metadata") or {}
        source = _source_of(result.get("location") or {}, metadata)
        title = str(metadata.get("title") or PurePosixPath(source).stem or source)
        chunk_id = metadata.get("x-amz-bedrock-kb-chunk-id")
        node_id = str(chunk_id) if chunk_id else _digest(source, text)
        return Passage(
            node_id=node_id,
            text=text,
            title=title,
            source=source,
            language=str(metadata.get("language") or ""),
            collection=str(metadata.get(COLLECTION_KEY) or PUBLIC_COLLECTION),
            score=float(result.get("score") or 0.0),
        )

    def _error(self, exc: BaseException) -> Exception:
        code = error_code(exc)
        kb = self._knowledge_base_id
        if code in THROTTLED:
            return ModelThrottled(f"knowledge base {kb}: throttled after retries ({code})")
        if code in DENIED:
            return RetrievalError(
                f"knowledge base {kb}: access denied; allow bedrock:Retrieve on "
                f"arn:aws:bedrock:{self._region or 'REGION'}:ACCOUNT:knowledge-base/{kb}"
            )
        if code == "ResourceNotFoundException":
            return RetrievalError(
                f"knowledge base {kb} was not found in {self._region or 'this region'}; "
                "check KNOWLEDGE_BASE_ID and BEDROCK_REGION"
            )
        return RetrievalError(f"knowledge base {kb}: Retrieve failed ({code})")


def _source_of(location: dict[str, Any], metadata: dict[str, Any]) -> str:
    for field, key in _LOCATION_FIELDS:
        value = (location.get(field) or {}).get(key)
        if value:
            return str(value)
    return str(metadata.get("x-amz-bedrock-kb-source-uri") or "")


def _digest(source: str, text: str) -> str:
    return "kb-" + hashlib.sha256(f"{source}\n{text}".encode()).hexdigest()[:24]
