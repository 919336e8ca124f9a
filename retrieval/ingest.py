"""Ingest: list -> load -> chunk -> embed -> write a new version -> publish it.

Incremental by default: a document whose fingerprint is unchanged keeps its chunks and
vectors from the published version (no load, no embedding call); documents gone from the
source leave the index. A run that lists nothing, or where every document failed, raises
`IngestError` and leaves the published version serving.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import TextNode

from bot.errors import IndexNotFound, IngestError, RetrievalError
from retrieval.embedding import Embedder, Progress
from retrieval.index import KnowledgeIndex
from retrieval.loaders import LoaderError, load_bytes
from retrieval.sources import Skipped, Source, SourceObject
from retrieval.store import LocalIndexStore

log = logging.getLogger(__name__)

CHUNK_SIZE = 350
CHUNK_OVERLAP = 40


@dataclass
class IngestReport:
    """What an ingest run did; printed by the CLI and posted by /ingest."""

    source: str
    collection: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks: int = 0
    embedding_calls: int = 0
    version: str | None = None
    published: bool = False
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deleted)

    def summary(self) -> str:
        state = f"published {self.version}" if self.published else "unchanged, nothing published"
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.deleted)} deleted, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped; "
            f"{self.chunks} chunks, {self.embedding_calls} embedding calls; {state} "
            f"in {self.seconds:.1f}s"
        )

    def to_json_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "collection": self.collection,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "skipped": [{"key": s.key, "reason": s.reason} for s in self.skipped],
            "chunks": self.chunks,
            "embedding_calls": self.embedding_calls,
            "version": self.version,
            "published": self.published,
            "seconds": round(self.seconds, 3),
        }


def _node_id(doc_key: str, index: int) -> str:
    return hashlib.sha256(doc_key.encode("utf-8")).hexdigest()[:20] + f"-{index:04d}"


def _load_previous(store: LocalIndexStore) -> KnowledgeIndex | None:
    try:
        version, path = store.require_current()
        return KnowledgeIndex.load(path, version)
    except IndexNotFound:
        return None
    except RetrievalError as exc:
        log.warning("previous index unreadable, rebuilding everything", extra={"reason": str(exc)})
        return None


def ingest(
    *,
    source: Source,
    store: LocalIndexStore,
    embedder: Embedder | None,
    detect_language: Callable[[str], str],
    collection: str = "public",
    full: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    """Bring the index in line with `source` and publish a new version if anything changed."""
    started = time.monotonic()
    report = IngestReport(source=source.uri, collection=collection)
    store.check_writable()
    with store.ingest_lock():
        previous = None if full else _load_previous(store)
        objects = source.list()
        report.skipped.extend(getattr(source, "skipped", []))
        if not objects:
            raise IngestError(
                f"no supported documents under {source.uri}"
                + (f" ({len(report.skipped)} skipped)" if report.skipped else "")
                + "; the published index was left as it was"
            )
        reuse = _reusable_documents(previous, embedder)
        kept_nodes: list[TextNode] = []
        kept_rows: list[int] = []
        new_nodes: list[TextNode] = []
        splitter = SentenceSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
        seen: set[str] = set()
        for number, obj in enumerate(objects, 1):
            seen.add(obj.key)
            old = reuse.get(obj.key)
            if (
                old is not None
                and old.fingerprint == obj.fingerprint
                and old.collection == collection
            ):
                report.unchanged.append(obj.key)
                assert previous is not None
                for row in old.rows:
                    kept_nodes.append(previous.nodes[row])
                    kept_rows.append(row)
            else:
                try:
                    nodes = _chunk(obj, source, splitter, detect_language, collection)
                except LoaderError as exc:
                    report.skipped.append(Skipped(obj.key, str(exc)))
                else:
                    new_nodes.extend(nodes)
                    (report.updated if old is not None else report.added).append(obj.key)
            if progress is not None:
                progress("load", number, len(objects))
        if previous is not None:
            kept_nodes, kept_rows = _keep_other_sources(
                previous, source.uri, collection, seen, report, kept_nodes, kept_rows
            )
        if not report.added and not report.updated and not report.unchanged:
            raise IngestError(
                f"every document under {source.uri} failed to load ({len(report.skipped)} skipped); "
                "the published index was left as it was"
            )
        if not report.changed and not full and previous is not None:
            report.version = previous.version
            report.chunks = len(previous.nodes)
            report.seconds = time.monotonic() - started
            return report
        vectors = _vectors(previous, kept_rows, new_nodes, embedder, report, progress)
        nodes = kept_nodes + new_nodes
        manifest = _manifest(nodes, embedder)
        version, path = store.begin_version()
        try:
            KnowledgeIndex(version=version, nodes=nodes, vectors=vectors, manifest=manifest).save(
                path
            )
        except OSError as exc:
            shutil.rmtree(path, ignore_errors=True)
            raise IngestError(f"could not write index version {version}: {exc.strerror}") from None
        store.publish(version)
        report.version, report.published, report.chunks = version, True, len(nodes)
        report.seconds = time.monotonic() - started
        log.info("ingest published", extra={"version": version, "chunks": len(nodes)})
        return report


@dataclass
class _PreviousDocument:
    fingerprint: str
    collection: str
    rows: list[int] = field(default_factory=list)


def _reusable_documents(
    previous: KnowledgeIndex | None, embedder: Embedder | None
) -> dict[str, _PreviousDocument]:
    """Documents of the previous version whose chunks (and vectors) can be carried over."""
    if previous is None:
        return {}
    if embedder is not None and (
        previous.vectors is None
        or previous.manifest.get("embed_model") != embedder.model_id
        or previous.manifest.get("dimensions") != embedder.dimensions
    ):
        return {}  # vectors missing or from another model: everything must be re-embedded
    if embedder is None and previous.vectors is not None:
        return {}  # offline run: the new version is BM25-only, rebuilt from the documents
    documents: dict[str, _PreviousDocument] = {}
    for row, node in enumerate(previous.nodes):
        meta = node.metadata
        entry = documents.setdefault(
            str(meta["source"]),
            _PreviousDocument(str(meta.get("fingerprint")), str(meta.get("collection"))),
        )
        entry.rows.append(row)
    return documents


def _keep_other_sources(
    previous: KnowledgeIndex,
    source_uri: str,
    collection: str,
    seen: set[str],
    report: IngestReport,
    kept_nodes: list[TextNode],
    kept_rows: list[int],
) -> tuple[list[TextNode], list[int]]:
    """Chunks of other sources or collections stay; this source's vanished documents go."""
    kept_ids = {node.node_id for node in kept_nodes}
    deleted: set[str] = set()
    for row, node in enumerate(previous.nodes):
        key = str(node.metadata["source"])
        if key in seen or node.node_id in kept_ids:
            continue
        if key.startswith(source_uri + "/") and node.metadata.get("collection") == collection:
            deleted.add(key)
            continue
        kept_nodes.append(node)
        kept_rows.append(row)
    report.deleted.extend(sorted(deleted))
    return kept_nodes, kept_rows


def _chunk(
    obj: SourceObject,
    source: Source,
    splitter: SentenceSplitter,
    detect_language: Callable[[str], str],
    collection: str,
) -> list[TextNode]:
    document = load_bytes(source.read(obj), obj.name)
    language = detect_language(document.text[:3000])
    chunks = [c for c in splitter.split_text(document.text) if c.strip()]
    return [
        TextNode(
            id_=_node_id(obj.key, index),
            text=chunk,
            metadata={
                "title": document.title,
                "source": obj.key,
                "language": language,
                "collection": collection,
                "format": document.format,
                "fingerprint": obj.fingerprint,
                "last_modified": obj.last_modified,
            },
        )
        for index, chunk in enumerate(chunks)
    ]


def _vectors(
    previous: KnowledgeIndex | None,
    kept_rows: list[int],
    new_nodes: list[TextNode],
    embedder: Embedder | None,
    report: IngestReport,
    progress: Progress | None,
) -> np.ndarray | None:
    if embedder is None:
        return None
    texts = [f"{node.metadata['title']}\n{node.get_content()}" for node in new_nodes]
    fresh = embedder.embed_documents(texts, progress=progress) if texts else []
    report.embedding_calls = len(texts)
    parts: list[np.ndarray] = []
    if kept_rows:
        assert previous is not None and previous.vectors is not None
        parts.append(previous.vectors[kept_rows])
    if fresh:
        matrix = np.asarray(fresh, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        parts.append(matrix / np.where(norms == 0, 1.0, norms))
    if not parts:
        return np.zeros((0, embedder.dimensions), dtype=np.float32)
    return np.vstack(parts).astype(np.float32)


def _manifest(nodes: list[TextNode], embedder: Embedder | None) -> dict[str, object]:
    sources = sorted({str(node.metadata["source"]) for node in nodes})
    return {
        "embed_model": embedder.model_id if embedder else None,
        "dimensions": embedder.dimensions if embedder else None,
        "documents": len(sources),
        "chunks": len(nodes),
        "collections": sorted({str(node.metadata["collection"]) for node in nodes}),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
