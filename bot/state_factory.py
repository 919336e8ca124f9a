"""The state store the settings name, built and opened: memory, a SQLite file, or DynamoDB.

Lives apart from `bot.state` because it imports every backend, and the backends import
`bot.state` for the protocol they implement.
"""

from __future__ import annotations

from bot.aws import settings_client
from bot.config import Settings
from bot.state import DynamoStateStore, MemoryStateStore, StateStore
from bot.state_sqlite import SqliteStateStore


def build_state_store(settings: Settings) -> StateStore:
    """The store `settings.state_kind` names: the SQLite file at STATE_PATH (default),
    memory, or DynamoDB with STATE_TABLE. Does no I/O (see `open_state_store`)."""
    if settings.state_kind == "memory":
        return MemoryStateStore()
    if settings.state_kind == "sqlite":
        return SqliteStateStore(path=settings.state_path)
    assert settings.state_table is not None  # validated in bot.config
    # Retries and timeouts: kernel.aws_clients (dedupe must decide within Slack's patience).
    client = settings_client(settings, "dynamodb")
    return DynamoStateStore(table_name=settings.state_table, client=client)


def open_state_store(settings: Settings) -> StateStore:
    """`build_state_store`, then open a SQLite file: an unwritable path or a damaged file
    raises StateError here, at start-up, with one line naming the file and the fix."""
    store = build_state_store(settings)
    opener = getattr(store, "open", None)
    if callable(opener):
        opener()
    return store
