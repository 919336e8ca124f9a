"""The embedded default state store: one SQLite file (`STATE_PATH`), so a single container
keeps its settings, glossary edits, votes, counters and dedupe memory across restarts.

Same `StateStore` contract as memory and DynamoDB. WAL mode with a busy timeout lets `serve`
and a CLI report (or two local processes) share the file: readers never wait, writers queue
for a few seconds at most. Every operation runs on the store's own thread, so a writer
waiting out another process's lock never blocks the event loop.

Tables (TTL ``expires_at`` in epoch seconds, NULL = kept; expired rows are invisible at once
and deleted about once a minute)::

    claims   key                           owner, at, expires_at
    items    (kind, key)                   value JSON, counters JSON, expires_at
    members  (kind, key, member)           counters JSON, expires_at
    records  (kind, sk = "{at}#{seq}{rnd}") value JSON, expires_at
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bot.state import (
    Clock,
    CounterAt,
    StateError,
    StateStore,
    _alive,
    _as_json,
    _expiry,
    _list_meta,
    _ListKeys,
    _sort_key_prefix,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA_VERSION = 1
#: How long a write waits for another process's write lock before it fails.
BUSY_TIMEOUT_S = 5.0
_PRUNE_EVERY_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY, owner TEXT NOT NULL, at REAL NOT NULL, expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS items (
    kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    counters TEXT NOT NULL DEFAULT '{}', expires_at INTEGER,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    kind TEXT NOT NULL, key TEXT NOT NULL, member TEXT NOT NULL,
    counters TEXT NOT NULL DEFAULT '{}', expires_at INTEGER,
    PRIMARY KEY (kind, key, member)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, sk TEXT NOT NULL, value TEXT NOT NULL, expires_at INTEGER,
    PRIMARY KEY (kind, sk)
) WITHOUT ROWID;
"""


class _Busy(Exception):
    """The file is locked by another process right now (see `_connect`)."""


class SqliteStateStore(StateStore):
    """State in one local SQLite file (see the module doc). `open()` checks the file and is
    the only step that may raise at start-up; every later failure is a `StateError` naming
    the file, logged once at ERROR for writes."""

    def __init__(
        self, *, path: Path, clock: Clock = time.time, busy_timeout_s: float = BUSY_TIMEOUT_S
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._busy_timeout_s = busy_timeout_s
        self._db: sqlite3.Connection | None = None
        self._opening = threading.Lock()
        # One thread owns the connection: operations are serialised without a lock, and a
        # write waiting for another process (busy timeout) blocks only this thread.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dualnova-state")
        self._keys = _ListKeys()
        self._pruned_at = 0.0

    # --- lifecycle ------------------------------------------------------------------------

    def open(self) -> SqliteStateStore:
        """Create or check the file: writable, a SQLite database, intact, our schema.
        Raises StateError with one line naming the file and the fix."""
        with self._opening:
            if self._db is None:
                self._db = self._connect()
        return self

    def close(self) -> None:
        with self._opening:
            if self._db is not None:
                self._db.close()
                self._db = None
        self._thread.shutdown(wait=False)

    def _connect(self) -> sqlite3.Connection:
        where = f"STATE_PATH {self.path}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"{where}: cannot create its folder ({exc.strerror or exc}); {_WRITABLE_FIX}"
            ) from None
        if self.path.is_dir():
            raise StateError(f"{where} is a folder; point STATE_PATH at a file such as state.db")
        # Two processes preparing one new file at once (two `serve`s, or `serve` and a CLI
        # report) can meet a lock SQLite will not wait for — both hold a read lock and want to
        # write, so one is told "locked" at once rather than deadlock. The busy timeout then
        # does not apply; trying again within it does.
        deadline = time.monotonic() + self._busy_timeout_s
        while True:
            try:
                return self._prepare(where)
            except _Busy:
                if time.monotonic() >= deadline:
                    raise StateError(
                        f"{where}: cannot write to it now (database is locked); free space on "
                        "its volume, or stop the process that holds it"
                    ) from None
                time.sleep(0.05)

    def _prepare(self, where: str) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_s,
                isolation_level=None,  # autocommit; read-modify-write takes BEGIN IMMEDIATE
                check_same_thread=False,  # opened here, then used only on the store's thread
            )
        except sqlite3.Error as exc:
            raise StateError(f"{where}: cannot open it ({exc}); {_WRITABLE_FIX}") from None
        try:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {check}")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                db.close()
                raise StateError(
                    f"{where} was written by a newer dualnova (schema {version}); upgrade, "
                    "or set STATE_PATH to another file"
                )
            # NORMAL in WAL mode: a commit survives a process crash; a power cut may lose
            # the last moments, never the file.
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)  # also proves the file is writable
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except StateError:
            raise
        except sqlite3.DatabaseError as exc:
            db.close()
            if _readonly(exc):
                raise StateError(f"{where}: cannot write to it ({exc}); {_WRITABLE_FIX}") from None
            if _primary_code(exc) == sqlite3.SQLITE_BUSY:
                raise _Busy from None
            if _primary_code(exc) == sqlite3.SQLITE_FULL:
                raise StateError(
                    f"{where}: cannot write to it now ({exc}); free space on its "
                    "volume, or stop the process that holds it"
                ) from None
            raise StateError(
                f"{where} is not a usable SQLite database ({exc}); move it aside and restart "
                "(a new empty file is created), or restore it from a backup"
            ) from None
        if str(mode).lower() != "wal":
            logger.warning(
                "state file could not use WAL mode; concurrent readers will wait",
                extra={"path": str(self.path), "journal_mode": mode},
            )
        return db

    # --- the contract -----------------------------------------------------------------------

    async def claim(self, key: str, *, ttl_s: int, owner: str = "") -> bool:
        def claim(db: sqlite3.Connection, now: float) -> bool:
            # One statement, so atomic across processes: insert, or take over an expired claim.
            cursor = db.execute(
                "INSERT INTO claims (key, owner, at, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, at = excluded.at, "
                "expires_at = excluded.expires_at WHERE claims.expires_at < ?",
                (key, owner, now, _expiry(now, ttl_s), now),
            )
            return cursor.rowcount == 1

        return await self._run("claim", claim, write=True)

    async def put(
        self, kind: str, key: str, value: dict[str, Any], *, ttl_s: int | None = None
    ) -> None:
        text = _as_json(value)

        def put(db: sqlite3.Connection, now: float) -> None:
            # Replaces counters too, as a DynamoDB PutItem replaces the whole item.
            db.execute(
                "INSERT OR REPLACE INTO items (kind, key, value, counters, expires_at) "
                "VALUES (?, ?, ?, '{}', ?)",
                (kind, key, text, _expiry(now, ttl_s)),
            )

        await self._run(f"put {kind}", put, write=True)

    async def get(self, kind: str, key: str) -> dict[str, Any] | None:
        def get(db: sqlite3.Connection, now: float) -> dict[str, Any] | None:
            row = db.execute(
                "SELECT value, counters FROM items WHERE kind = ? AND key = ? AND (expires_at IS NULL OR expires_at >= ?)",
                (kind, key, now),
            ).fetchone()
            if row is None:
                return None
            value: dict[str, Any] = json.loads(row[0])
            return {**value, **json.loads(row[1])}

        return await self._run(f"get {kind}", get)

    async def delete(self, kind: str, key: str) -> None:
        def delete(db: sqlite3.Connection, now: float) -> None:
            db.execute("DELETE FROM items WHERE kind = ? AND key = ?", (kind, key))

        await self._run(f"delete {kind}", delete, write=True)

    async def append(self, kind: str, value: dict[str, Any], *, ttl_s: int | None = None) -> None:
        text = _as_json(value)

        def append(db: sqlite3.Connection, now: float) -> None:
            db.execute(
                "INSERT INTO records (kind, sk, value, expires_at) VALUES (?, ?, ?, ?)",
                (kind, self._keys.next(now), text, _expiry(now, ttl_s)),
            )

        await self._run(f"append {kind}", append, write=True)

    async def list(
        self, kind: str, *, since: float | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        floor = _sort_key_prefix(since) if since is not None else ""

        def list_(db: sqlite3.Connection, now: float) -> list[dict[str, Any]]:
            rows = db.execute(
                "SELECT sk, value FROM records WHERE kind = ? AND sk >= ? AND (expires_at IS NULL OR expires_at >= ?) "
                "ORDER BY sk LIMIT ?",
                (kind, floor, now, max(limit, 0)),
            ).fetchall()
            return [{**json.loads(value), **_list_meta(sk)} for sk, value in rows]

        return await self._run(f"list {kind}", list_)

    async def _add(
        self, at: CounterAt, amounts: Mapping[str, float], ttl_s: int | None
    ) -> dict[str, float]:
        kind, key, member = at
        added = {name: float(amount) for name, amount in amounts.items()}

        def incr(db: sqlite3.Connection, now: float) -> dict[str, float]:
            db.execute("BEGIN IMMEDIATE")  # the write lock first: no lost update across processes
            try:
                row = _counter_row(db, kind, key, member)
                counters: dict[str, float] = {}
                expires_at = None
                fresh = row is None or not _alive(row[1], now)
                if row is not None and not fresh:
                    counters, expires_at = json.loads(row[0]), row[1]
                for name, amount in added.items():
                    counters[name] = float(counters.get(name, 0.0) + amount)
                if ttl_s is not None:
                    expires_at = _expiry(now, ttl_s)
                if member is None and fresh:
                    # An expired item restarts empty (its value too), as in DynamoDB.
                    db.execute(
                        "INSERT OR REPLACE INTO items (kind, key, value, counters, expires_at) "
                        "VALUES (?, ?, '{}', ?, ?)",
                        (kind, key, json.dumps(counters), expires_at),
                    )
                elif member is None:
                    db.execute(
                        "UPDATE items SET counters = ?, expires_at = ? WHERE kind = ? AND key = ?",
                        (json.dumps(counters), expires_at, kind, key),
                    )
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO members (kind, key, member, counters, expires_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (kind, key, member, json.dumps(counters), expires_at),
                    )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:  # SQLITE_FULL and a few others roll back on their own
                    db.execute("ROLLBACK")
                raise
            return {name: counters[name] for name in added}

        return await self._run(f"incr {kind}", incr, write=True)

    async def members(self, kind: str, key: str) -> dict[str, dict[str, float]]:
        def members(db: sqlite3.Connection, now: float) -> dict[str, dict[str, float]]:
            rows = db.execute(
                "SELECT member, counters FROM members WHERE kind = ? AND key = ? AND (expires_at IS NULL OR expires_at >= ?) "
                "ORDER BY member",
                (kind, key, now),
            ).fetchall()
            return {member: json.loads(counters) for member, counters in rows}

        return await self._run(f"members {kind}", members)

    # --- running an operation ---------------------------------------------------------------

    async def _run(
        self, operation: str, work: Callable[[sqlite3.Connection, float], T], *, write: bool = False
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._call, operation, work, write)

    def _call(
        self, operation: str, work: Callable[[sqlite3.Connection, float], T], write: bool
    ) -> T:
        db = self._db or self.open()._db
        assert db is not None
        now = self._clock()
        try:
            result = work(db, now)
        except sqlite3.Error as exc:
            raise self._failed(operation, exc, write=write) from exc
        if write and now - self._pruned_at >= _PRUNE_EVERY_S:
            self._pruned_at = now
            self._prune(db, now)
        return result

    def _prune(self, db: sqlite3.Connection, now: float) -> None:
        """Expired rows are already invisible; deleting them only keeps the file small, so a
        failure here (a full disk, a busy file) waits for the next round."""
        try:
            for statement in _PRUNE:
                db.execute(statement, (now,))
        except sqlite3.Error as exc:
            logger.warning("expired state rows not deleted", extra={"reason": str(exc)})

    def _failed(self, operation: str, exc: sqlite3.Error, *, write: bool) -> StateError:
        code = _primary_code(exc)
        if code == sqlite3.SQLITE_FULL:
            reason = "the disk is full; free space on its volume"
        elif code == sqlite3.SQLITE_BUSY:
            reason = f"another process held the write lock for over {self._busy_timeout_s:g} s"
        elif _readonly(exc):
            reason = f"the file is read-only ({exc}); {_WRITABLE_FIX}"
        else:
            reason = str(exc)
        error = StateError(f"state file {self.path}: {operation} failed: {reason}")
        if write:
            # State is not on the answer's path: the caller goes on; this line says what was lost.
            logger.error(
                "state write failed",
                extra={"path": str(self.path), "operation": operation, "reason": reason},
            )
        return error


_WRITABLE_FIX = (
    "set STATE_PATH to a writable file (in a container, mount a volume at "
    "/home/dualnova/.dualnova), or STATE_BACKEND=memory to keep nothing"
)


def _primary_code(exc: sqlite3.Error) -> int | None:
    """The primary result code (extended codes carry it in their low byte)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def _readonly(exc: sqlite3.Error) -> bool:
    return _primary_code(exc) in (
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PERM,
    )


def _counter_row(
    db: sqlite3.Connection, kind: str, key: str, member: str | None
) -> tuple[str, int | None] | None:
    if member is None:
        return db.execute(  # type: ignore[no-any-return]
            "SELECT counters, expires_at FROM items WHERE kind = ? AND key = ?", (kind, key)
        ).fetchone()
    return db.execute(  # type: ignore[no-any-return]
        "SELECT counters, expires_at FROM members WHERE kind = ? AND key = ? AND member = ?",
        (kind, key, member),
    ).fetchone()


_PRUNE = tuple(
    f"DELETE FROM {table} WHERE expires_at < ?"  # noqa: S608 - fixed table names
    for table in ("claims", "items", "members", "records")
)
