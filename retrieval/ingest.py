"""Ingest: list -> load -> chunk -> embed -> save a version -> commit -> publish.

Incremental by default. Whether a document changed is decided from the published version's
manifest alone (its `sources` map of fingerprints: a content hash locally, the ETag on S3),
so an unchanged re-run costs one listing and one small read: no document is fetched, nothing
is embedded, nothing is published. Changed and new documents are read on a bounded pool
while the previous group's chunks are being embedded; deleted ones leave the index; other
sources and collections are carried over untouched.

A run that lists nothing, or where every document failed, raises `IngestError` (or
`AccessDenied`, naming the missing permission) and leaves the published version serving;
so does an embedding failure (see `retrieval.embedding`) and a lost ingest lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from llama_index.core.schema import TextNode

from kernel.errors import AccessDenied, IngestError, RetrievalError
from kernel.models import PUBLIC_COLLECTION
from retrieval.embedding import Embedder, Progress
from retrieval.index import KnowledgeIndex
from retrieval.loading import ReadLimits, embed_text, load_and_embed
from retrieval.report import IngestReport
from retrieval.sources import Skipped, Source, SourceObject
from retrieval.store import IndexStore

__all__ = ["IngestOptions", "IngestReport", "ingest"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestOptions:
    """What one run is asked to do: which collection the documents join, whether to re-read
    and re-embed everything (`full`) instead of only what changed, and how hard to read."""

    collection: str = PUBLIC_COLLECTION
    full: bool = False
    limits: ReadLimits = field(default_factory=ReadLimits)


@dataclass
class _Prior:
    """The published version as far as change detection needs it: its manifest."""

    version: str
    manifest: dict[str, object]
    documents: dict[str, tuple[str, str]]  # source key -> (fingerprint, collection)

    def vectors_usable(self, embedder: Embedder | None) -> bool:
        if embedder is None:
            return self.manifest.get("embed_model") is None
        return (
            self.manifest.get("embed_model") == embedder.model_id
            and self.manifest.get("dimensions") == embedder.dimensions
        )


@dataclass
class _Plan:
    unchanged: set[str] = field(default_factory=set)
    to_load: list[SourceObject] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


def ingest(
    *,
    source: Source,
    store: IndexStore,
    embedder: Embedder | None,
    detect_language: Callable[[str], str],
    options: IngestOptions | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Bring the index in line with `source` and publish a new version if anything changed."""
    options = options or IngestOptions()
    collection, full = options.collection, options.full
    started = time.monotonic()
    report = IngestReport(source=source.uri, collection=collection)
    store.check_writable()
    with store.ingest_lock() as lease:
        prior = _read_prior(store)
        objects = source.list()
        report.skipped.extend(source.skipped)
        if not objects:
            raise IngestError(
                f"no supported documents under {source.uri}"
                + (f" ({len(report.skipped)} skipped)" if report.skipped else "")
                + "; the published index was left as it was"
            )
        reuse = prior is not None and not full and prior.vectors_usable(embedder)
        plan = _plan(objects, prior if reuse else None, collection)
        if prior is not None:
            report.deleted = sorted(
                key
                for key, (_, owner) in prior.documents.items()
                if key.startswith(source.uri + "/") and owner == collection and key not in plan.seen
            )
        if prior is not None and reuse and not plan.to_load and not report.deleted:
            return _unchanged(report, prior, plan, started)
        previous = _load_index(store, prior.version) if prior is not None else None
        if previous is None and plan.unchanged:  # unreadable after all: rebuild those too
            plan.to_load = [o for o in objects if o.key in plan.seen]
            plan.unchanged.clear()
        report.unchanged = [o.key for o in objects if o.key in plan.unchanged]
        fresh = load_and_embed(
            plan.to_load,
            source=source,
            embedder=embedder,
            detect_language=detect_language,
            collection=collection,
            progress=progress,
            limits=options.limits,
        )
        report.skipped += fresh.skipped
        report.embedding_calls += fresh.embedding_calls
        for obj in fresh.indexed:
            known = prior is not None and obj.key in prior.documents
            (report.updated if known else report.added).append(obj.key)
        if not report.added and not report.updated and not report.unchanged:
            raise _all_failed(source.uri, report.skipped)
        if not report.changed and not full and prior is not None and reuse:
            return _unchanged(report, prior, plan, started)
        usable = prior is not None and prior.vectors_usable(embedder)
        kept, kept_rows, stale = _carry_over(previous, plan, source.uri, collection, usable)
        new_vectors: list[np.ndarray] = []
        if stale and embedder is not None:  # other sources' chunks, from another embedding model
            result = embedder.embed_documents([embed_text(n) for n in stale], progress=progress)
            report.embedding_calls += result.calls
            kept_stale = [i for i in range(len(stale)) if result.vectors[i] is not None]
            stale = [stale[i] for i in kept_stale]
            rows = [result.vectors[i] or [] for i in kept_stale]
            new_vectors.append(np.asarray(rows, dtype=np.float32).reshape(len(rows), -1))
        nodes = kept + stale + fresh.nodes
        vectors = None
        if embedder is not None:
            old = None
            if previous is not None and previous.vectors is not None and usable:
                old = previous.vectors[kept_rows]
            vectors = _stack(old, new_vectors + fresh.vectors, embedder.dimensions)
        version, path = store.begin_version()
        try:
            index = KnowledgeIndex(
                version=version, nodes=nodes, vectors=vectors, manifest=_manifest(nodes, embedder)
            )
            index.save(path)
            store.commit(version, path)
            lease.confirm()  # never publish after losing the lock to another ingest
        except OSError as exc:
            store.abort(version, path)
            raise IngestError(f"could not write index version {version}: {exc.strerror}") from None
        except BaseException:
            store.abort(version, path)
            raise
        store.publish(version)
        store.prune()
        report.version, report.published, report.chunks = version, True, len(nodes)
        report.seconds = time.monotonic() - started
        log.info("ingest published", extra={"version": version, "chunks": len(nodes)})
        return report


def _read_prior(store: IndexStore) -> _Prior | None:
    version = store.current_version()
    if version is None:
        return None
    try:
        manifest = store.read_manifest(version)
    except RetrievalError as exc:
        log.warning("previous index unreadable, rebuilding everything", extra={"reason": str(exc)})
        return None
    sources = manifest.get("sources")
    if isinstance(sources, dict):
        documents = {str(k): (str(v[0]), str(v[1])) for k, v in sources.items()}
    else:  # written before manifests listed their sources: read the chunks themselves
        index = _load_index(store, version)
        if index is None:
            return None
        documents = {
            str(n.metadata["source"]): (
                str(n.metadata.get("fingerprint")),
                str(n.metadata.get("collection")),
            )
            for n in index.nodes
        }
    return _Prior(version=version, manifest=manifest, documents=documents)


def _load_index(store: IndexStore, version: str) -> KnowledgeIndex | None:
    try:
        current, path = store.require_current()
        return KnowledgeIndex.load(path, current) if current == version else None
    except RetrievalError as exc:
        log.warning("previous index unreadable, rebuilding everything", extra={"reason": str(exc)})
        return None


def _plan(objects: list[SourceObject], reusable: _Prior | None, collection: str) -> _Plan:
    plan = _Plan()
    for obj in objects:
        plan.seen.add(obj.key)
        old = reusable.documents.get(obj.key) if reusable else None
        if old == (obj.fingerprint, collection):
            plan.unchanged.add(obj.key)
        else:
            plan.to_load.append(obj)
    return plan


def _unchanged(report: IngestReport, prior: _Prior, plan: _Plan, started: float) -> IngestReport:
    report.unchanged = report.unchanged or sorted(plan.unchanged)
    report.version = prior.version
    report.chunks = int(str(prior.manifest.get("chunks", 0)))
    report.seconds = time.monotonic() - started
    return report


def _all_failed(uri: str, skipped: list[Skipped]) -> IngestError | AccessDenied:
    denied = next((s for s in skipped if s.denied), None)
    if denied is not None:
        return AccessDenied(f"{denied.reason}; the published index was left as it was")
    first = f"; first: {skipped[0].key}: {skipped[0].reason}" if skipped else ""
    return IngestError(
        f"every document under {uri} failed to load ({len(skipped)} skipped{first}); "
        "the published index was left as it was"
    )


def _carry_over(
    previous: KnowledgeIndex | None, plan: _Plan, uri: str, collection: str, usable: bool
) -> tuple[list[TextNode], list[int], list[TextNode]]:
    """Chunks that stay: unchanged documents, and other sources or collections. Returns
    (kept nodes, their rows in the previous vectors, kept nodes that need new vectors)."""
    if previous is None:
        return [], [], []
    kept: list[TextNode] = []
    rows: list[int] = []
    stale: list[TextNode] = []
    for row, node in enumerate(previous.nodes):
        key = str(node.metadata["source"])
        if key in plan.unchanged:
            kept.append(node)
            rows.append(row)
        elif key in plan.seen:
            continue  # re-read this run (changed, or moved between collections)
        elif key.startswith(uri + "/") and node.metadata.get("collection") == collection:
            continue  # gone from the source
        elif usable:
            kept.append(node)
            rows.append(row)
        else:
            stale.append(node)
    return kept, rows, stale


def _stack(old: np.ndarray | None, fresh: list[np.ndarray], dimensions: int) -> np.ndarray:
    """The previous version's rows (already unit length) then the new ones, normalised."""
    parts: list[np.ndarray] = [] if old is None or not len(old) else [old]
    new = [part for part in fresh if len(part)]
    if new:
        matrix = np.vstack(new).astype(np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        parts.append(matrix / np.where(norms == 0, 1.0, norms))
    if not parts:
        return np.zeros((0, dimensions), dtype=np.float32)
    return np.vstack(parts).astype(np.float32)


def _manifest(nodes: list[TextNode], embedder: Embedder | None) -> dict[str, object]:
    sources: dict[str, list[str]] = {}
    for node in nodes:
        meta = node.metadata
        sources.setdefault(
            str(meta["source"]), [str(meta.get("fingerprint")), str(meta.get("collection"))]
        )
    return {
        "embed_model": embedder.model_id if embedder else None,
        "dimensions": embedder.dimensions if embedder else None,
        "documents": len(sources),
        "chunks": len(nodes),
        "collections": sorted({str(node.metadata["collection"]) for node in nodes}),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        # What the next run compares its listing against (fingerprint, collection).
        "sources": sources,
    }
