"""The index a running process answers from, reloaded when a new version is published.

`refresh()` is what `serve` polls every INDEX_POLL_SECONDS: on S3 it costs one conditional
GET of the pointer (a bodiless 304 when nothing changed); a new version is downloaded once,
loaded, and swapped in.
"""

from __future__ import annotations

import logging
import threading

from retrieval.index import KnowledgeIndex
from retrieval.store import IndexStore

log = logging.getLogger(__name__)


class IndexHandle:
    """Holds the loaded current version; `refresh()` swaps in a newer one atomically.

    Questions take `current()` once and keep that object, so a swap never changes the
    index under a question that is being answered.
    """

    def __init__(self, *, store: IndexStore) -> None:
        self._store = store
        self._index: KnowledgeIndex | None = None
        self._lock = threading.Lock()

    def current(self) -> KnowledgeIndex:
        index = self._index
        if index is None:
            self.refresh()
            index = self._index
        assert index is not None
        return index

    def refresh(self) -> bool:
        """Load the published version if it differs from the loaded one; True when swapped."""
        version, path = self._store.require_current()
        if self._index is not None and self._index.version == version:
            return False
        with self._lock:
            if self._index is not None and self._index.version == version:
                return False
            loaded = KnowledgeIndex.load(path, version)
            previous = self._index.version if self._index else None
            self._index = loaded
        log.info(
            "index loaded",
            extra={"version": version, "previous": previous, "chunks": len(loaded.nodes)},
        )
        return True
