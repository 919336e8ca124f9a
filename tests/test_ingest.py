"""Ingest: versioned, incremental, atomic publish, bad files skipped with their reason."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from bot.config import Settings
from fakes.bedrock import FakeBedrock
from fakes.harness import DOCS, ingest_with
from kernel.errors import IngestError
from retrieval.index import KnowledgeIndex
from retrieval.ingest import IngestReport
from retrieval.store import LocalIndexStore


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    shutil.copytree(DOCS / "en", folder)
    return folder


@pytest.fixture
def store(tmp_path: Path) -> LocalIndexStore:
    return LocalIndexStore(tmp_path / "index")


def run(
    settings: Settings, docs: Path, store: LocalIndexStore, *, online: bool = True, **kwargs: object
) -> IngestReport:
    if not online:
        kwargs["embedder"] = None
    return ingest_with(settings, source=str(docs), store=store, **kwargs)  # type: ignore[arg-type]


def test_first_ingest_publishes_a_complete_version_with_metadata(
    settings: Settings, docs: Path, store: LocalIndexStore, bedrock: FakeBedrock
) -> None:
    report = run(settings, docs, store)

    assert report.published and len(report.added) == len(list(docs.iterdir()))
    version, path = store.require_current()
    assert version == report.version and path == store.root / "versions" / version
    index = KnowledgeIndex.load(path, version)
    assert index.vectors is not None and index.vectors.shape == (
        report.chunks,
        settings.embed_dimensions,
    )
    assert report.embedding_calls == report.chunks == len(bedrock.calls("InvokeModel"))
    leave = next(n for n in index.nodes if n.metadata["source"].endswith("leave-policy.md"))
    assert leave.metadata["title"] == "Leave and Vacation Policy"
    assert leave.metadata["language"] == "en" and leave.metadata["collection"] == "public"
    assert json.loads((store.root / "CURRENT").read_text())["version"] == version


def test_unchanged_reingest_costs_no_embedding_and_publishes_nothing(
    settings: Settings, docs: Path, store: LocalIndexStore, bedrock: FakeBedrock
) -> None:
    first = run(settings, docs, store)
    bedrock.reset()

    second = run(settings, docs, store)

    assert not second.published and second.version == first.version
    assert second.embedding_calls == 0 and bedrock.calls("InvokeModel") == []
    assert len(second.unchanged) == len(first.added)


def test_changed_deleted_and_added_documents_only_cost_their_own_embeddings(
    settings: Settings, docs: Path, store: LocalIndexStore, bedrock: FakeBedrock
) -> None:
    run(settings, docs, store)
    (docs / "offices.txt").write_text(
        "Offices\n\nThe Busan office opens in 2027 on Haeundae beach.", "utf-8"
    )
    (docs / "vpn-setup.md").unlink()
    (docs / "parking.md").write_text("# Parking\n\nVisitors park on level B2 for free.", "utf-8")
    bedrock.reset()

    report = run(settings, docs, store)

    assert report.updated == [f"{docs.as_posix()}/offices.txt"]
    assert report.added == [f"{docs.as_posix()}/parking.md"]
    assert report.deleted == [f"{docs.as_posix()}/vpn-setup.md"]
    assert report.embedding_calls == len(bedrock.calls("InvokeModel")) == 2
    index = KnowledgeIndex.load(store.require_current()[1], report.version or "")
    sources = {n.metadata["source"] for n in index.nodes}
    assert f"{docs.as_posix()}/vpn-setup.md" not in sources


def test_bad_files_are_skipped_with_their_reason_and_the_rest_ingested(
    settings: Settings, docs: Path, store: LocalIndexStore
) -> None:
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> trailer garbage")
    (docs / "budget.xls").write_bytes(b"PK\x03\x04 not really")
    (docs / "legacy.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1") + b"\xff\xfe\x00")

    report = run(settings, docs, store, online=False)

    reasons = {Path(s.key).name: s.reason for s in report.skipped}
    assert set(reasons) == {"broken.pdf", "budget.xls", "legacy.txt"}
    assert "unsupported file type .xls" in reasons["budget.xls"]
    assert "PDF" in reasons["broken.pdf"]
    assert report.published and len(report.added) == len(list(docs.iterdir())) - 3


def test_a_run_where_every_file_fails_never_replaces_a_good_index(
    settings: Settings, tmp_path: Path, docs: Path, store: LocalIndexStore
) -> None:
    good = run(settings, docs, store, online=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.pdf").write_bytes(b"not a pdf")

    with pytest.raises(IngestError, match=r"every document .* failed"):
        run(settings, bad, store, online=False)
    with pytest.raises(IngestError, match="no supported documents"):
        run(
            settings,
            tmp_path / "empty" if (tmp_path / "empty").mkdir() is None else bad,
            store,
            online=False,
        )

    assert store.current_version() == good.version


def test_an_unwritable_index_uri_is_a_clear_error(
    settings: Settings, docs: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")

    with pytest.raises(IngestError, match=r"INDEX_URI .*a-file/index is not writable"):
        run(settings, docs, LocalIndexStore(blocker / "index"), online=False)


def test_a_second_ingest_at_once_is_told_who_holds_the_lock(
    settings: Settings, docs: Path, store: LocalIndexStore
) -> None:
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.ingest_lock():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(10)
    try:
        with pytest.raises(IngestError, match=r"another ingest is running \(pid \d+ on .* since"):
            run(settings, docs, store, online=False)
    finally:
        release.set()
        holder.join()


def test_collections_are_kept_apart_and_filtered_at_query_time(
    settings: Settings, docs: Path, tmp_path: Path, store: LocalIndexStore
) -> None:
    private = tmp_path / "hr"
    private.mkdir()
    (private / "salaries.md").write_text(
        "# Salary bands\n\nThe salary band for level L5 is secret-band-77.", "utf-8"
    )
    run(settings, docs, store, online=False)
    run(settings, private, store, online=False, collection="hr")

    index = KnowledgeIndex.load(store.require_current()[1], store.current_version() or "")
    public = index.search(
        texts=["salary band L5"],
        vectors=[],
        collections=frozenset({"public"}),
        top_k=5,
        min_vector_score=0.3,
        min_bm25_score=0.5,
    )
    hr = index.search(
        texts=["salary band L5"],
        vectors=[],
        collections=frozenset({"hr"}),
        top_k=5,
        min_vector_score=0.3,
        min_bm25_score=0.5,
    )
    assert index.collections == {"public", "hr"}
    assert public and all(index.nodes[h.row].metadata["collection"] == "public" for h in public)
    assert hr and index.nodes[hr[0].row].metadata["source"].endswith("salaries.md")


def test_a_glossary_beside_the_documents_is_configuration_not_content(
    settings: Settings, docs: Path, store: LocalIndexStore
) -> None:
    (docs / "glossary.json").write_text('{"terms": []}', "utf-8")

    report = run(settings, docs, store, online=False)

    assert [(Path(s.key).name, s.reason) for s in report.skipped] == [
        ("glossary.json", "the glossary (configuration for prompts, not a document)")
    ]


def test_the_relative_cutoff_drops_passages_far_below_the_best_match(
    settings: Settings, tmp_path: Path, store: LocalIndexStore
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "vpn.md").write_text(
        "# VPN\n\nInstall the GlobalConnect VPN client, then sign in to the GlobalConnect "
        "VPN portal with your GlobalConnect VPN token.",
        "utf-8",
    )
    (corpus / "office.md").write_text(
        "# Office\n\nThe office printer is next to the kitchen. Ask IT if the VPN is slow.",
        "utf-8",
    )
    for topic in ("Holidays", "Payroll", "Parking"):
        (corpus / f"{topic.lower()}.md").write_text(f"# {topic}\n\nAll about {topic}.", "utf-8")
    run(settings, corpus, store, online=False)
    index = KnowledgeIndex.load(store.require_current()[1], store.current_version() or "")

    def titles(relative_cutoff: float) -> list[str]:
        hits = index.search(
            texts=["GlobalConnect VPN sign in"],
            vectors=[],
            collections=frozenset({"public"}),
            top_k=5,
            min_vector_score=0.3,
            min_bm25_score=0.1,
            relative_cutoff=relative_cutoff,
        )
        return [str(index.nodes[h.row].metadata["title"]) for h in hits]

    assert titles(0.0) == ["VPN", "Office"]  # both pass the absolute floor
    assert titles(0.5) == ["VPN"]  # "Office" only shares "VPN": far below the best match
