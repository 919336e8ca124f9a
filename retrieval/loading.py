"""Read -> chunk -> embed for the documents an ingest (re)indexes, overlapped.

Documents are read and parsed on the read pool (`sources.read_documents`), chunked and
language-tagged here, and handed to the embedder in groups on a background thread, so the
next group is read while the previous one is embedded and neither waits for the other's
tail. The embedder bounds the calls in flight across groups (EMBED_CONCURRENCY).

Parsing (pypdf, python-docx, HTML) is pure-Python CPU work; in threads it holds the GIL the
HTTP threads need, so above a few dozen documents it runs in INGEST_PARSE_PROCESSES worker
processes (forkserver: no fork of a threaded process). Measured with 2,000 mixed documents
on 2 CPUs: 21 s with parsing in threads, 16 s with one parser process.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field

import numpy as np
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import TextNode
from llama_index.core.utils import get_tokenizer

from retrieval.embedding import DocumentEmbeddings, Embedder, Progress
from retrieval.extracted import Part, location_of
from retrieval.loaders import LoadedDocument
from retrieval.sources import Skipped, Source, SourceObject, read_documents

CHUNK_SIZE = 350
CHUNK_OVERLAP = 40
#: Groups being embedded at once: one finishing its tail while the next one starts.
GROUPS_IN_FLIGHT = 2
#: Fewer documents than this are parsed in threads: a process pool takes ~1 s to start.
PARSER_POOL_MIN_DOCUMENTS = 64
#: Sheets with at most this many rows get a chunk (and an embedding call) per row; larger
#: ones pack rows into chunks, so a 5,000-row sheet costs hundreds of calls, not thousands.
ROW_CHUNKS_MAX_ROWS = 200

Group = list[tuple[SourceObject, list[TextNode]]]


@dataclass
class Loaded:
    """What the documents became: chunks in order, their vectors (None offline), outcomes."""

    nodes: list[TextNode] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    indexed: list[SourceObject] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    embedding_calls: int = 0


def node_id(doc_key: str, index: int) -> str:
    return hashlib.sha256(doc_key.encode("utf-8")).hexdigest()[:20] + f"-{index:04d}"


def embed_text(node: TextNode) -> str:
    """What is embedded for a chunk: its document title, then its text."""
    return f"{node.metadata['title']}\n{node.get_content()}"


def chunk(
    obj: SourceObject,
    document: LoadedDocument,
    splitter: SentenceSplitter,
    detect_language: Callable[[str], str],
    collection: str,
) -> list[TextNode]:
    language = detect_language(document.text[:3000])
    if document.parts:
        pieces = _located_pieces(document.parts, splitter)
    else:
        pieces = [(c, "") for c in splitter.split_text(document.text) if c.strip()]
    extra = {"encoding": document.encoding} if document.encoding else {}
    return [
        TextNode(
            id_=node_id(obj.key, index),
            text=piece,
            metadata={
                "title": document.title,
                "source": obj.key,
                "language": language,
                "collection": collection,
                "format": document.format,
                "fingerprint": obj.fingerprint,
                "last_modified": obj.last_modified,
                **extra,
                **({"location": location} if location else {}),
            },
        )
        for index, (piece, location) in enumerate(pieces)
    ]


def _located_pieces(parts: tuple[Part, ...], splitter: SentenceSplitter) -> list[tuple[str, str]]:
    """Chunks that each keep their place: a slide is its own chunk (split if long); each row
    of a sheet of up to ROW_CHUNKS_MAX_ROWS rows too, so a citation names the row; rows of a
    larger sheet share chunks while they fit. Row chunks are headed by the sheet's name."""
    count = get_tokenizer()
    rows_per_sheet = Counter(p.sheet for p in parts if p.unit == "row")
    budget = CHUNK_SIZE - 20  # room for the sheet name heading
    pieces: list[tuple[str, str]] = []
    run: list[Part] = []
    used = 0

    def flush() -> None:
        nonlocal used
        if run:
            text = run[0].sheet + "\n" + "\n".join(p.text for p in run)
            pieces.extend((c, location_of(run[0], run[-1])) for c in splitter.split_text(text))
        run.clear()
        used = 0

    for part in parts:
        size = len(count(part.text)) + 1
        if part.unit != "row":
            flush()
            pieces.extend((c, part.location) for c in splitter.split_text(part.text) if c.strip())
            continue
        alone = rows_per_sheet[part.sheet] <= ROW_CHUNKS_MAX_ROWS
        if run and (run[0].sheet != part.sheet or alone or used + size > budget):
            flush()
        run.append(part)
        used += size
    flush()
    return [(text, location) for text, location in pieces if text.strip()]


class _GroupEmbedder:
    """Embeds groups on a background pool; results come back in submission order."""

    def __init__(self, embedder: Embedder, progress: Progress | None) -> None:
        self._embedder = embedder
        self._progress = progress
        self._pool = ThreadPoolExecutor(max_workers=GROUPS_IN_FLIGHT, thread_name_prefix="group")
        self._pending: list[tuple[Group, Future[DocumentEmbeddings]]] = []
        self._done: dict[int, int] = {}
        self._total = 0
        self._lock = threading.Lock()

    def submit(self, group: Group) -> None:
        texts = [embed_text(node) for _, nodes in group for node in nodes]
        number = len(self._pending)
        with self._lock:
            self._total += len(texts)

        def report(stage: str, done: int, total: int) -> None:
            with self._lock:
                self._done[number] = done
                overall, known = sum(self._done.values()), self._total
            if self._progress is not None:
                self._progress(stage, overall, known)

        future = self._pool.submit(self._embedder.embed_documents, texts, progress=report)
        self._pending.append((group, future))
        # Back-pressure: never more than GROUPS_IN_FLIGHT groups waiting on the model. A
        # failed group raises here, so reading stops early.
        running = [f for _, f in self._pending if not f.done()]
        while len(running) > GROUPS_IN_FLIGHT:
            wait(running, return_when=FIRST_COMPLETED)
            running = [f for _, f in self._pending if not f.done()]
        for _, done in self._pending:
            if done.done() and done.exception() is not None:
                done.result()

    def results(self) -> list[tuple[Group, DocumentEmbeddings]]:
        return [(group, future.result()) for group, future in self._pending]

    def close(self) -> None:
        for _, future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True)


@contextlib.contextmanager
def parser_pool(processes: int, documents: int) -> Iterator[Executor | None]:
    """Worker processes for parsing, or None (parse in threads) for small runs."""
    if processes <= 0 or documents < PARSER_POOL_MIN_DOCUMENTS:
        yield None
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        context.set_forkserver_preload(["retrieval.loaders"])
    pool = ProcessPoolExecutor(max_workers=processes, mp_context=context)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class ReadLimits:
    """How documents are read: how many fetched at once, and how many processes parse them
    (0: parse in this process)."""

    concurrency: int = 8
    parse_processes: int = 0


def load_and_embed(
    to_load: list[SourceObject],
    *,
    source: Source,
    embedder: Embedder | None,
    detect_language: Callable[[str], str],
    collection: str,
    progress: Progress | None,
    limits: ReadLimits,
) -> Loaded:
    """Read, chunk and embed `to_load`; a document the model refuses is skipped with why."""
    splitter = SentenceSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    group_size = 4 * embedder.parallelism if embedder is not None else 256
    loaded = Loaded()
    groups = _GroupEmbedder(embedder, progress) if embedder is not None else None
    finished: list[tuple[Group, DocumentEmbeddings | None]] = []
    group: Group = []
    chunks = 0
    try:
        with parser_pool(limits.parse_processes, len(to_load)) as parser:
            reads = read_documents(
                source, to_load, concurrency=limits.concurrency, ahead=2 * group_size, parser=parser
            )
            for number, (obj, document) in enumerate(reads, 1):
                if isinstance(document, Skipped):
                    loaded.skipped.append(document)
                else:
                    # Parts left out of a loaded document (a sheet cut at its row cap).
                    loaded.skipped += [Skipped(obj.key, note) for note in document.notes]
                    nodes = chunk(obj, document, splitter, detect_language, collection)
                    if nodes:
                        group.append((obj, nodes))
                        chunks += len(nodes)
                    else:
                        loaded.skipped.append(Skipped(obj.key, "no text to index"))
                if progress is not None:
                    progress("load", number, len(to_load))
                if chunks >= group_size or number == len(to_load):
                    if groups is None:
                        finished.append((group, None))
                    elif group:
                        groups.submit(group)
                    group, chunks = [], 0
        if groups is not None:
            finished += groups.results()
    finally:
        if groups is not None:
            groups.close()
    for done, result in finished:
        _collect(done, result, loaded)
    return loaded


def _collect(group: Group, result: DocumentEmbeddings | None, loaded: Loaded) -> None:
    if result is not None:
        loaded.embedding_calls += result.calls
    offset = 0
    for obj, nodes in group:
        span = range(offset, offset + len(nodes))
        offset += len(nodes)
        if result is not None:
            refused = [result.failures[i] for i in span if i in result.failures]
            if refused:
                loaded.skipped.append(Skipped(obj.key, refused[0]))
                continue
            vectors = [result.vectors[i] or [] for i in span]
            loaded.vectors.append(np.asarray(vectors, dtype=np.float32))
        loaded.nodes.extend(nodes)
        loaded.indexed.append(obj)
