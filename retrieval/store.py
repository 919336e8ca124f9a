"""Where index versions live, and how one is published.

Layout under INDEX_URI (a local folder, or an S3 prefix with the same keys —
`retrieval/s3_store.py`):

    CURRENT                      {"version": "...", "published_at": "..."}  <- the pointer
    versions/<version>/          a complete index, written before it is published
        manifest.json            documents, their content hashes and chunk ids
        docstore.json            LlamaIndex SimpleDocumentStore of the chunk nodes
        vectors.npy              float32 (chunks x dims), row i = manifest["node_ids"][i]
        bm25/                    the bm25s index over the same rows

Publishing replaces one small pointer file atomically (write + rename), so a reader sees
either the old version or the new one, never half of one. A crash mid-ingest leaves a
stray version folder that nothing points at (pruned by a later publish).

`IndexStore` is the seam both stores implement; `bot.wiring.build_store` picks one by
INDEX_URI. A version is always built in a local folder by `KnowledgeIndex.save`, then
`commit` makes it durable where the store lives, and `publish` points readers at it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from kernel.errors import IndexNotFound, IngestError, RetrievalError

log = logging.getLogger(__name__)

POINTER = "CURRENT"
LOCK = ".ingest.lock"
MANIFEST = "manifest.json"
#: Published versions kept besides the current one, for readers still downloading them.
KEEP_VERSIONS = 3


class IngestLease(Protocol):
    """Held while an ingest runs; `confirm()` raises IngestError if the lock was lost."""

    def confirm(self) -> None: ...


class IndexStore(Protocol):
    """Where index versions live and how one is published (local folder or S3 prefix)."""

    @property
    def uri(self) -> str: ...

    def current_version(self) -> str | None:
        """The published version, or None when nothing was published yet. Cheap: pollable."""
        ...

    def require_current(self) -> tuple[str, Path]:
        """The published version and a local folder `KnowledgeIndex.load` can read."""
        ...

    def read_manifest(self, version: str) -> dict[str, Any]: ...

    def check_writable(self) -> None:
        """Fail before any work when INDEX_URI cannot be written, naming the fix."""
        ...

    def begin_version(self) -> tuple[str, Path]:
        """A new version name and an empty local folder to save it into."""
        ...

    def commit(self, version: str, path: Path) -> None:
        """Make the saved version durable in the store (before it is published)."""
        ...

    def abort(self, version: str, path: Path) -> None:
        """Forget a version that will not be published."""
        ...

    def publish(self, version: str, *, extra: dict[str, Any] | None = None) -> None: ...

    def prune(self, *, keep: int = KEEP_VERSIONS) -> None:
        """Delete versions older than the current one beyond the newest `keep`."""
        ...

    def ingest_lock(self) -> AbstractContextManager[IngestLease]: ...


class _FileLease:
    """flock is released by the kernel when its holder dies: nothing can be lost."""

    def confirm(self) -> None:
        return None


def older_versions(names: list[str], current: str | None, keep: int) -> list[str]:
    """Versions a prune may delete: strictly older than `current`, beyond the newest `keep`."""
    if current is None:
        return []
    older = sorted(name for name in names if name < current)
    return older[: max(0, len(older) - keep)]


def published_version(store: IndexStore) -> str:
    """The store's current version; IndexNotFound, saying what to run, when there is none."""
    version = store.current_version()
    if version is None:
        raise IndexNotFound(
            f"no index has been published under {store.uri}; run `dualnova ingest` first"
        )
    return version


def new_version_name() -> str:
    """Sortable, unique version names: UTC time plus pid (two hosts never share a folder)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-{os.getpid()}"


class LocalIndexStore:
    """Versioned index folders on a local (or mounted) file system."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def uri(self) -> str:
        return str(self.root)

    def version_dir(self, version: str) -> Path:
        return self.root / "versions" / version

    def current_version(self) -> str | None:
        try:
            data = json.loads((self.root / POINTER).read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise IndexNotFound(
                f"index pointer {self.root / POINTER} is unreadable: {exc}"
            ) from exc
        version = data.get("version")
        return str(version) if version else None

    def require_current(self) -> tuple[str, Path]:
        version = published_version(self)
        return version, self.version_dir(version)

    def read_manifest(self, version: str) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(
                (self.version_dir(version) / MANIFEST).read_text("utf-8")
            )
        except (OSError, ValueError) as exc:
            raise RetrievalError(f"index version {version}: manifest unreadable: {exc}") from exc
        return data

    def check_writable(self) -> None:
        """Fail before any work when INDEX_URI cannot be written."""
        try:
            (self.root / "versions").mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe-{os.getpid()}"
            probe.write_text("ok", "utf-8")
            probe.unlink()
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise IngestError(
                f"INDEX_URI {self.root} is not writable ({reason}); "
                "point INDEX_URI at a folder this user can write"
            ) from None

    def begin_version(self) -> tuple[str, Path]:
        version = new_version_name()
        path = self.version_dir(version)
        path.mkdir(parents=True)
        return version, path

    def commit(self, version: str, path: Path) -> None:
        return None  # saved in place: the folder already is the store

    def abort(self, version: str, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def prune(self, *, keep: int = KEEP_VERSIONS) -> None:
        folder = self.root / "versions"
        names = [p.name for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
        for name in older_versions(names, self.current_version(), keep):
            shutil.rmtree(folder / name, ignore_errors=True)
            log.info("pruned index version", extra={"version": name})

    def publish(self, version: str, *, extra: dict[str, Any] | None = None) -> None:
        pointer = {
            "version": version,
            "published_at": datetime.now(UTC).isoformat(),
            **(extra or {}),
        }
        tmp = self.root / f".{POINTER}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(pointer), "utf-8")
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, self.root / POINTER)

    @contextlib.contextmanager
    def ingest_lock(self) -> Iterator[IngestLease]:
        """One ingest at a time; the loser is told who holds the lock."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK
        handle = path.open("a+", encoding="utf-8")
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise IngestError(
                    f"another ingest is running ({holder}); try again when it ends"
                ) from None
            handle.seek(0)
            handle.truncate()
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {started}")
            handle.flush()
            yield _FileLease()
        finally:
            handle.close()
