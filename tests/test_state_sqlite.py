"""The SQLite state file: what start-up says about a bad path or a damaged file, what a full
disk does to a write, and the file's own settings (WAL, schema). The contract itself is in
tests/test_state.py, run on all three stores."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.state import StateError
from bot.state_sqlite import SqliteStateStore
from fakes.harness import bot_command, clean_environ

FULL_DISK_ROW = "~{n:07d}"


def fill_the_disk(store: SqliteStateStore) -> None:
    """Make the store's file behave as it does on a full disk: SQLite may add no page to it
    (`max_page_count`, so a write fails with SQLITE_FULL, "database or disk is full", the
    error a full volume gives), and every table's pages are packed, so any new row needs a
    page it cannot get. Rows never expire, so pruning cannot make room."""
    db = store._db  # the store's own connection: max_page_count is per connection
    assert db is not None
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    inserts = [
        "INSERT INTO claims VALUES (?, '', 0, 99999999999)",
        "INSERT INTO items VALUES ('~', ?, '{}', '{}', NULL)",
        "INSERT INTO members VALUES ('~', '~', ?, '{}', NULL)",
        "INSERT INTO records VALUES ('~', ?, '{}', NULL)",
    ]
    for insert in inserts:
        n = 0
        while True:
            try:
                db.execute(insert, (FULL_DISK_ROW.format(n=n),))
            except sqlite3.OperationalError as exc:
                assert exc.sqlite_errorcode == sqlite3.SQLITE_FULL
                break
            n += 1


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# --- start-up --------------------------------------------------------------------------------


def test_a_new_file_is_created_with_its_folder_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    SqliteStateStore(path=path).open().close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"claims", "items", "members", "records"}


def test_a_path_under_a_file_stops_start_up_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("x")
    path = tmp_path / "not-a-folder" / "state.db"
    with pytest.raises(StateError) as failed:
        SqliteStateStore(path=path).open()
    message = str(failed.value)
    assert "\n" not in message
    assert f"STATE_PATH {path}" in message
    assert "set STATE_PATH to a writable file" in message
    assert "/home/dualnova/.dualnova" in message


@contextlib.contextmanager
def _read_only(*paths: Path) -> Iterator[None]:
    """Make `paths` unwritable for this process: by permissions, or — for root, which writes
    through them — by the immutable attribute (chattr, util-linux/e2fsprogs)."""
    if os.geteuid() != 0:
        modes = [(p, p.stat().st_mode) for p in paths]
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes:
                p.chmod(mode)
        return
    if shutil.which("chattr") is None:
        pytest.fail("root needs chattr to make a file read-only (apt install e2fsprogs)")
    made = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"this filesystem or container refuses chattr +i: {made.stderr[:100]}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)


def test_a_read_only_file_stops_start_up_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    SqliteStateStore(path=path).open().close()
    with (
        _read_only(path, tmp_path),
        pytest.raises(StateError, match=f"STATE_PATH {path}: cannot write"),
    ):
        SqliteStateStore(path=path).open()


def test_a_folder_as_the_state_path_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="is a folder; point STATE_PATH at a file"):
        SqliteStateStore(path=tmp_path).open()


def test_a_file_that_is_not_a_database_stops_start_up_saying_move_it_aside(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is a text file, not SQLite\n" * 200)
    with pytest.raises(StateError) as failed:
        SqliteStateStore(path=path).open()
    message = str(failed.value)
    assert message.startswith(f"STATE_PATH {path} is not a usable SQLite database")
    assert "move it aside and restart" in message and "\n" not in message
    assert path.read_bytes().startswith(b"this is a text file")  # left as it was


async def test_a_damaged_database_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStateStore(path=path).open()
    for n in range(400):
        await store.append("gaps", {"question": f"question {n} " * 20})
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    data[2 * page : 6 * page] = b"\xa5" * (4 * page)  # scribble over a few b-tree pages
    path.write_bytes(bytes(data))
    with pytest.raises(StateError, match=f"STATE_PATH {path} is not a usable SQLite database"):
        SqliteStateStore(path=path).open()


def test_serve_with_an_unwritable_state_path_exits_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    env = {
        **clean_environ(),
        "SLACK_BOT_TOKEN": "xoxb-never-used",
        "SLACK_APP_TOKEN": "xapp-never-used",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",  # never reached: the state check is first
        "STATE_PATH": str(tmp_path / "file" / "state.db"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = bot_command("serve", cwd=tmp_path, env=env)
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert line.startswith(f"dualnova: STATE_PATH {tmp_path / 'file' / 'state.db'}: cannot")
    assert "xoxb-never-used" not in result.stderr


def test_the_reports_with_a_damaged_file_exit_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"\x00garbage" * 1000)
    env = {**clean_environ(), "STATE_PATH": str(tmp_path / "state.db")}
    result = bot_command("gaps", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "is not a usable SQLite database" in _one_line(result.stderr)


# --- a full disk -------------------------------------------------------------------------------


async def test_a_full_disk_fails_the_write_with_a_log_line_and_reads_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    store = SqliteStateStore(path=path).open()
    await store.put("channel_settings", "C1", {"companion_language": "ko"})
    fill_the_disk(store)
    caplog.set_level(logging.ERROR, logger="bot.state_sqlite")

    with pytest.raises(StateError) as failed:
        await store.append("gaps", {"question": "육아휴직은 며칠인가요?"})
    assert str(failed.value) == (
        f"state file {path}: append gaps failed: the disk is full; free space on its volume"
    )
    with pytest.raises(StateError, match="disk is full"):
        await store.claim("event:Ev1", ttl_s=3600)
    with pytest.raises(StateError, match="disk is full"):
        await store.incr_many("usage_day", "2026-12-01", {"questions": 1, "cost": 0.1})

    assert await store.get("channel_settings", "C1") == {"companion_language": "ko"}
    failures = [r for r in caplog.records if r.getMessage() == "state write failed"]
    assert [r.operation for r in failures] == ["append gaps", "claim", "incr usage_day"]  # type: ignore[attr-defined]
    assert failures and all(r.path == str(path) for r in failures)  # type: ignore[attr-defined]
    assert "육아휴직" not in caplog.text  # the question is not logged

    store.close()  # "space freed": a new connection has no page limit
    again = SqliteStateStore(path=path).open()
    assert await again.claim("event:Ev1", ttl_s=3600) is True
    again.close()


# --- sharing the file ------------------------------------------------------------------------


async def test_a_second_process_reads_while_the_first_holds_a_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    serve = SqliteStateStore(path=path).open()
    await serve.append("feedback", {"vote": "down"})
    report = SqliteStateStore(path=path, busy_timeout_s=0.2).open()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        assert [r["vote"] for r in await report.list("feedback")] == ["down"]  # WAL: no wait
        with pytest.raises(StateError, match=r"held the write lock for over 0\.2 s"):
            await report.append("feedback", {"vote": "up"})
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    await report.append("feedback", {"vote": "up"})
    assert [r["vote"] for r in await serve.list("feedback")] == ["down", "up"]
    serve.close()
    report.close()


# --- configuration ---------------------------------------------------------------------------


def test_state_backend_defaults_follow_state_table_and_contradictions_are_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.config import load_settings
    from kernel.errors import ConfigError

    for name in ("STATE_TABLE", "STATE_BACKEND", "STATE_PATH"):
        monkeypatch.delenv(name, raising=False)

    assert load_settings(_env_file=None).state_kind == "sqlite"
    assert load_settings(_env_file=None, state_table="t").state_kind == "dynamodb"
    assert load_settings(_env_file=None, state_backend="memory").state_kind == "memory"
    with pytest.raises(ConfigError, match=r"^STATE_BACKEND: dynamodb needs STATE_TABLE"):
        load_settings(_env_file=None, state_backend="dynamodb")
    with pytest.raises(ConfigError, match=r"^STATE_BACKEND: memory conflicts with STATE_TABLE=t"):
        load_settings(_env_file=None, state_backend="memory", state_table="t")
    with pytest.raises(ConfigError, match=r"^STATE_BACKEND: Input should be 'sqlite'"):
        load_settings(_env_file=None, state_backend="redis")


UNSHARE = ("unshare", "--user", "--map-root-user", "--mount")
_ON_A_TMPFS = """
import asyncio, os, sys
from pathlib import Path
from bot.state import StateError
from bot.state_sqlite import SqliteStateStore

async def main() -> None:
    root = Path(sys.argv[1])
    store = SqliteStateStore(path=root / "state.db").open()
    await store.put("channel_settings", "C1", {"companion_language": "ko"})
    with open(root / "filler", "wb") as filler:
        try:
            while True:
                filler.write(bytes(65536))
                filler.flush()
        except OSError:
            pass
    for write in (
        store.append("gaps", {"question": "q" * 3000}),
        store.claim("event:Ev1", ttl_s=60),
        store.incr_many("usage_day", "d", {"questions": 1}),
    ):
        try:
            await write
            print("written")
        except StateError as exc:
            print(exc)
    print(await store.get("channel_settings", "C1"))
    os.remove(root / "filler")
    print(await store.claim("event:Ev1", ttl_s=60))

asyncio.run(main())
"""


def test_a_really_full_tmpfs_fails_writes_then_recovers_when_space_is_freed(
    tmp_path: Path,
) -> None:
    """The same, on a real 256 KiB tmpfs in a private mount namespace (no privileges needed
    where unprivileged user namespaces are allowed): the kernel's ENOSPC, not a page limit."""
    import sys

    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux unshare for a private tmpfs")
    mount = tmp_path / "small"
    mount.mkdir()
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unprivileged user namespaces are off here: {probe.stderr.decode()[:100]}")
    script = 'mount -t tmpfs -o size=256k tmpfs "$1" && exec "$2" -c "$3" "$1"'
    result = subprocess.run(
        [*UNSHARE, "sh", "-c", script, "sh", str(mount), sys.executable, _ON_A_TMPFS],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stderr[-2000:]
    full = "failed: the disk is full; free space on its volume"
    assert result.stdout.splitlines() == [
        f"state file {mount}/state.db: append gaps {full}",
        f"state file {mount}/state.db: claim {full}",
        f"state file {mount}/state.db: incr usage_day {full}",
        "{'companion_language': 'ko'}",
        "True",
    ]
    assert result.stderr.count("state write failed") == 3
