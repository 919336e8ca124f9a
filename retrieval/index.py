"""One loaded index version: chunk nodes, their vectors and a BM25 index over them.

Vector search is a float32 matrix product (normalised vectors, so a dot product is the
cosine); BM25 is bm25s, the engine LlamaIndex's BM25Retriever wraps, used directly so the
tokenizer can be multilingual (`retrieval.tokenize`) and the collection filter can change
per query. Both lists are fused by reciprocal rank.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
from llama_index.core.schema import TextNode
from llama_index.core.storage.docstore import SimpleDocumentStore

from kernel.errors import RetrievalError
from kernel.models import PUBLIC_COLLECTION
from retrieval.tokenize import tokenize

log = logging.getLogger(__name__)
# bm25s sets its own logger to DEBUG on import; its per-build messages are noise for operators.
logging.getLogger("bm25s").setLevel(logging.WARNING)

RRF_K = 60
_MASK_CACHE = 64


@dataclass(frozen=True)
class Hit:
    """A fused search result: the node's row, its fused score and what made it relevant."""

    row: int
    score: float
    vector_score: float | None
    bm25_score: float | None


class KnowledgeIndex:
    """An immutable, searchable index version."""

    def __init__(
        self,
        *,
        version: str,
        nodes: list[TextNode],
        vectors: np.ndarray | None,
        manifest: dict[str, Any],
    ) -> None:
        self.version = version
        self.nodes = nodes
        self.vectors = vectors
        self.manifest = manifest
        self._collections = np.array(
            [str(node.metadata.get("collection", PUBLIC_COLLECTION)) for node in nodes],
            dtype=object,
        )
        self._bm25 = bm25s.BM25()
        if nodes:
            self._bm25.index([tokenize(self._bm25_text(n)) for n in nodes], show_progress=False)
        self._vocab: dict[str, int] = dict(getattr(self._bm25, "vocab_dict", {}) or {})
        self._masks: dict[frozenset[str], np.ndarray] = {}

    @staticmethod
    def _bm25_text(node: TextNode) -> str:
        return f"{node.metadata.get('title', '')}\n{node.get_content()}"

    def node(self, node_id: str) -> TextNode | None:
        """A chunk by id (for "Show translation" on a cited passage)."""
        if not hasattr(self, "_by_id"):
            self._by_id = {n.node_id: n for n in self.nodes}
        return self._by_id.get(node_id)

    @property
    def has_vectors(self) -> bool:
        return self.vectors is not None and len(self.nodes) > 0

    @property
    def collections(self) -> frozenset[str]:
        return frozenset(str(c) for c in self._collections)

    # ---- persistence -------------------------------------------------------------------

    def save(self, path: Path) -> None:
        docstore = SimpleDocumentStore()
        docstore.add_documents(self.nodes, allow_update=True)
        docstore.persist(str(path / "docstore.json"))
        if self.vectors is not None:
            np.save(path / "vectors.npy", self.vectors.astype(np.float32), allow_pickle=False)
        manifest = dict(self.manifest, node_ids=[n.node_id for n in self.nodes])
        (path / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, path: Path, version: str) -> KnowledgeIndex:
        try:
            manifest = json.loads((path / "manifest.json").read_text("utf-8"))
            docstore = SimpleDocumentStore.from_persist_path(str(path / "docstore.json"))
            vectors_path = path / "vectors.npy"
            vectors = np.load(vectors_path, allow_pickle=False) if vectors_path.exists() else None
        except (OSError, ValueError) as exc:
            raise RetrievalError(f"index version {version} at {path} is unreadable: {exc}") from exc
        nodes = []
        for node_id in manifest["node_ids"]:
            node = docstore.get_node(node_id)
            if not isinstance(node, TextNode):
                raise RetrievalError(f"index version {version}: node {node_id} is missing")
            nodes.append(node)
        if vectors is not None and vectors.shape[0] != len(nodes):
            raise RetrievalError(
                f"index version {version}: {vectors.shape[0]} vectors for {len(nodes)} chunks"
            )
        return cls(version=version, nodes=nodes, vectors=vectors, manifest=manifest)

    # ---- search --------------------------------------------------------------------------

    def _mask(self, collections: frozenset[str]) -> np.ndarray:
        """Rows the asker may see. Cached: a handful of collection sets recur for every query,
        and comparing 100k object strings costs ~1 ms each time."""
        mask = self._masks.get(collections)
        if mask is None:
            mask = np.isin(self._collections, list(collections))
            mask.flags.writeable = False
            if len(self._masks) >= _MASK_CACHE:
                self._masks.clear()
            self._masks[collections] = mask
        return mask

    def vector_search(
        self, query_vector: Sequence[float], *, mask: np.ndarray, top_k: int
    ) -> list[tuple[int, float]]:
        if self.vectors is None or not len(self.nodes):
            return []
        query = np.asarray(query_vector, dtype=np.float32)
        if query.shape[0] != self.vectors.shape[1]:
            raise RetrievalError(
                f"query vector has {query.shape[0]} dimensions, the index {self.vectors.shape[1]}: "
                "EMBED_MODEL_ID or EMBED_DIMENSIONS changed since the last ingest; re-ingest with --full"
            )
        norm = float(np.linalg.norm(query)) or 1.0
        scores = self.vectors @ (query / norm)
        if not mask.all():
            scores = np.where(mask, scores, -np.inf)
        return _top(scores, top_k)

    def bm25_search(self, query: str, *, mask: np.ndarray, top_k: int) -> list[tuple[int, float]]:
        tokens = [t for t in tokenize(query) if t in self._vocab]
        if not tokens or not len(self.nodes):
            return []
        scores = np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)
        # Only chunks holding a query term score above 0: rank those, not every row.
        rows = np.flatnonzero(mask & (scores > 0))
        return [(int(rows[i]), score) for i, score in _top(scores[rows], top_k)]

    def search(
        self,
        *,
        texts: Sequence[str],
        vectors: Sequence[Sequence[float]],
        collections: frozenset[str],
        top_k: int,
        min_vector_score: float,
        min_bm25_score: float,
        relative_cutoff: float = 0.0,
    ) -> list[Hit]:
        """Hybrid search: every text through BM25, every vector through the matrix, RRF-fused.

        A chunk is kept only if at least one list found it relevant on its own terms: its
        cosine or BM25 score reaches that list's absolute floor and `relative_cutoff` times
        the best score that list found for this question. Fusion ranks; it never makes an
        irrelevant chunk relevant, and the relative cutoff keeps a distant fourth or fifth
        chunk (which costs Pro input tokens and invites off-topic citations) out of the prompt.
        """
        mask = self._mask(collections)
        depth = max(top_k * 4, 20)
        fused: dict[int, float] = {}
        best_vector: dict[int, float] = {}
        best_bm25: dict[int, float] = {}
        ranked_lists: list[tuple[list[tuple[int, float]], dict[int, float], float]] = []
        for vector in vectors:
            ranked = self.vector_search(vector, mask=mask, top_k=depth)
            ranked_lists.append((ranked, best_vector, min_vector_score))
        for text in texts:
            ranked = self.bm25_search(text, mask=mask, top_k=depth)
            ranked_lists.append((ranked, best_bm25, min_bm25_score))
        # Each list is cut against its own best score: BM25 scores of the translated question
        # and of the original one are not on one scale (a Korean question scores high on a
        # Korean page through many shared bigrams and would cut the English hits).
        relevant: set[int] = set()
        for ranked, best, absolute in ranked_lists:
            floor = _floor({0: ranked[0][1]} if ranked else {}, absolute, relative_cutoff)
            for rank, (row, score) in enumerate(ranked):
                fused[row] = fused.get(row, 0.0) + 1.0 / (RRF_K + rank + 1)
                best[row] = max(best.get(row, -np.inf), score)
                if score >= floor:
                    relevant.add(row)
        ranked_rows = sorted(relevant, key=lambda row: fused[row], reverse=True)
        return [
            Hit(
                row=row,
                score=fused[row],
                vector_score=best_vector.get(row),
                bm25_score=best_bm25.get(row),
            )
            for row in ranked_rows[:top_k]
        ]


def _floor(best: dict[int, float], absolute: float, relative: float) -> float:
    """The score a chunk needs in one list: the absolute floor, raised relative to the best."""
    top = max(best.values(), default=-np.inf)
    return max(absolute, relative * top) if top > 0 else absolute


def _top(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    finite = int(np.isfinite(scores).sum())
    k = min(k, finite)
    if k <= 0:
        return []
    rows = np.argpartition(-scores, k - 1)[:k]
    rows = rows[np.argsort(-scores[rows])]
    return [(int(row), float(scores[row])) for row in rows]
