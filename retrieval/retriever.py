"""Hybrid search over the published index, scoped to collections (a `kernel.retriever.Retriever`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from kernel.models import PUBLIC_COLLECTION, ModelCall, Passage
from retrieval.embedding import Embedder
from retrieval.index import KnowledgeIndex

log = logging.getLogger(__name__)


class HybridRetriever:
    """Vector (when the index has vectors and an embedder is given) + BM25, fused by rank.

    The first query (the standalone question in the corpus language) is embedded; every
    query goes through BM25, so the asker's own words still find exact terms.
    """

    def __init__(
        self,
        *,
        index: Callable[[], KnowledgeIndex],
        embedder: Embedder | None,
        min_vector_score: float,
        min_bm25_score: float,
        relative_cutoff: float = 0.0,
    ) -> None:
        self._index = index
        self._embedder = embedder
        self._min_vector_score = min_vector_score
        self._min_bm25_score = min_bm25_score
        self._relative_cutoff = relative_cutoff

    async def retrieve(
        self,
        queries: Sequence[str],
        *,
        collections: frozenset[str],
        top_k: int,
        on_call: Callable[[ModelCall], None] | None = None,
    ) -> list[Passage]:
        index = (
            self._index()
        )  # one version for the whole question, even if a new one is published meanwhile
        texts = list(dict.fromkeys(q for q in queries if q.strip()))
        vectors: list[list[float]] = []
        if self._embedder is not None and index.has_vectors and texts:
            vectors.append(await self._embedder.embed_query(texts[0], on_call=on_call))
        hits = await asyncio.to_thread(
            index.search,
            texts=texts,
            vectors=vectors,
            collections=collections,
            top_k=top_k,
            min_vector_score=self._min_vector_score,
            min_bm25_score=self._min_bm25_score,
            relative_cutoff=self._relative_cutoff,
        )
        passages = []
        for hit in hits:
            node = index.nodes[hit.row]
            meta = node.metadata
            passages.append(
                Passage(
                    node_id=node.node_id,
                    text=node.get_content(),
                    title=str(meta.get("title", "")),
                    source=str(meta.get("source", "")),
                    language=str(meta.get("language", "")),
                    collection=str(meta.get("collection", PUBLIC_COLLECTION)),
                    score=hit.score,
                    location=str(meta.get("location", "")),
                )
            )
        return passages
