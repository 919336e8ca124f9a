"""The state store contract, pinned on all three implementations.

Every behavioural test runs three times: on `MemoryStateStore`, on `SqliteStateStore` (a
file in the test's tmp_path; another handle is another connection, as another process
would have), and on `DynamoStateStore` talking HTTP to moto in server mode (real boto3
serialisation, conditional writes and error parsing). Time is a fake clock, so TTLs are
tested by stepping it, never by sleeping. Two real processes racing for one claim are in
tests/test_state_processes.py. Needs the `moto_server` and `state_table` fixtures from
tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from bot.config import Settings
from bot.state import DynamoStateStore, MemoryStateStore, StateAccessDenied, StateError, StateStore
from bot.state_factory import build_state_store, open_state_store
from bot.state_sqlite import SqliteStateStore
from fakes.aws import MotoServer
from kernel.errors import AccessDenied

T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Backend:
    """One shared state and a way to open another handle on it (another "process")."""

    name: str
    clock: FakeClock
    open: Callable[[], StateStore]
    sent_to: list[str] = field(default_factory=list)


def _record_urls(urls: list[str]) -> Callable[..., None]:
    def record(request: Any, **_: Any) -> None:
        urls.append(request.url)  # returns None: a value here would replace the response

    return record


@pytest.fixture(params=["memory", "sqlite", "dynamo"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    clock = FakeClock()
    if request.param == "memory":
        shared = MemoryStateStore(clock)
        yield Backend("memory", clock, lambda: shared)
        return
    if request.param == "sqlite":
        opened: list[SqliteStateStore] = []

        def connect() -> SqliteStateStore:
            opened.append(SqliteStateStore(path=tmp_path / "state.db", clock=clock).open())
            return opened[-1]

        yield Backend("sqlite", clock, connect)
        for handle in opened:
            handle.close()
        return
    moto: MotoServer = request.getfixturevalue("moto_server")
    table: str = request.getfixturevalue("state_table")
    backend = Backend("dynamo", clock, lambda: store_for(table))

    def store_for(name: str) -> DynamoStateStore:
        client = moto.client("dynamodb", config=Config(max_pool_connections=32))
        client.meta.events.register("before-send.dynamodb", _record_urls(backend.sent_to))
        return DynamoStateStore(table_name=name, client=client, clock=clock)

    yield backend
    # Server mode, not an in-process mock: every call went over HTTP to the loopback moto.
    assert all(url.startswith(moto.url + "/") for url in backend.sent_to), backend.sent_to[:3]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", moto.url)


@pytest.fixture
def store(backend: Backend) -> StateStore:
    return backend.open()


# --- claim ---------------------------------------------------------------------------------


async def test_first_claim_wins_and_every_later_claim_loses(store: StateStore) -> None:
    assert await store.claim("event:Ev123", ttl_s=3600, owner="task-a") is True
    assert await store.claim("event:Ev123", ttl_s=3600, owner="task-b") is False
    assert await store.claim("event:Ev123", ttl_s=3600, owner="task-a") is False
    assert await store.claim("msg:C1:1700000000.000100", ttl_s=3600) is True


async def test_claim_is_held_until_its_ttl_then_free_again(
    store: StateStore, backend: Backend
) -> None:
    assert await store.claim("event:Ev1", ttl_s=300)
    backend.clock.advance(300)
    assert await store.claim("event:Ev1", ttl_s=300) is False
    backend.clock.advance(1)
    assert await store.claim("event:Ev1", ttl_s=300) is True
    assert await store.claim("event:Ev1", ttl_s=300) is False


async def test_two_processes_sharing_state_let_exactly_one_claim(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    assert await a.claim("event:EvShared", ttl_s=3600, owner="a") is True
    assert await b.claim("event:EvShared", ttl_s=3600, owner="b") is False

    # The redelivery race: both tasks see the same event at once, 20 times over.
    results = await asyncio.gather(
        *(
            (a if i % 2 else b).claim("msg:C1:1700000000.000200", ttl_s=3600, owner=str(i))
            for i in range(20)
        )
    )
    assert results.count(True) == 1


# --- put / get / delete --------------------------------------------------------------------


async def test_put_get_delete_round_trip_keeps_unicode_and_types(store: StateStore) -> None:
    value = {
        "text": "연차 휴가는 며칠? — 有給休暇は何日？ ✅ 🇰🇷",
        "count": 3,
        "ratio": 0.25,
        "nested": {"langs": ["ko", "ja"], "none": None, "ok": True},
    }
    await store.put("shared_answer", "C1:1700000000.000100", value)
    assert await store.get("shared_answer", "C1:1700000000.000100") == value
    assert await store.get("shared_answer", "C1:other") is None
    assert await store.get("prefs", "C1:1700000000.000100") is None  # kinds are separate

    await store.put("shared_answer", "C1:1700000000.000100", {"text": "replaced"})
    assert await store.get("shared_answer", "C1:1700000000.000100") == {"text": "replaced"}

    await store.delete("shared_answer", "C1:1700000000.000100")
    assert await store.get("shared_answer", "C1:1700000000.000100") is None
    await store.delete("shared_answer", "never-there")


async def test_returned_values_are_copies(store: StateStore) -> None:
    value: dict[str, Any] = {"langs": ["ko"]}
    await store.put("prefs", "U1", value)
    value["langs"].append("ja")
    got = await store.get("prefs", "U1")
    assert got == {"langs": ["ko"]}
    assert got is not None
    got["langs"].append("en")
    assert await store.get("prefs", "U1") == {"langs": ["ko"]}


async def test_get_returns_none_once_the_ttl_has_passed(
    store: StateStore, backend: Backend
) -> None:
    await store.put("thread", "C1:1700000000.000100", {"member": True}, ttl_s=60)
    await store.put("prefs", "U1", {"language": "ko"})
    backend.clock.advance(60)
    assert await store.get("thread", "C1:1700000000.000100") == {"member": True}
    backend.clock.advance(1)
    assert await store.get("thread", "C1:1700000000.000100") is None
    backend.clock.advance(30 * 86400)
    assert await store.get("prefs", "U1") == {"language": "ko"}  # no ttl: kept


async def test_values_must_be_json_serialisable(store: StateStore) -> None:
    with pytest.raises(TypeError):
        await store.put("prefs", "U1", {"langs": {"ko", "ja"}})
    with pytest.raises(TypeError):
        await store.append("feedback", {"at": object()})


# --- append / list -------------------------------------------------------------------------


async def test_list_returns_records_oldest_first_with_their_time(
    store: StateStore, backend: Backend
) -> None:
    await store.append("feedback", {"vote": "up", "n": 1})
    backend.clock.advance(10)
    await store.append("feedback", {"vote": "down", "n": 2})
    await store.append("feedback", {"vote": "up", "n": 3})  # same clock reading: append order
    backend.clock.advance(10)
    await store.append("feedback", {"vote": "up", "n": 4})
    await store.append("gaps", {"question": "육아휴직?"})

    records = await store.list("feedback")
    assert [r["n"] for r in records] == [1, 2, 3, 4]
    assert [r["_at"] for r in records] == [T0, T0 + 10, T0 + 10, T0 + 20]
    assert records[0]["vote"] == "up"
    assert len({r["_id"] for r in records}) == 4
    assert [r["question"] for r in await store.list("gaps")] == ["육아휴직?"]
    assert await store.list("nothing-here") == []


async def test_list_since_keeps_records_appended_at_or_after_it(
    store: StateStore, backend: Backend
) -> None:
    for n in range(5):
        await store.append("feedback", {"n": n})
        backend.clock.advance(100)

    assert [r["n"] for r in await store.list("feedback", since=T0 + 200)] == [2, 3, 4]
    assert [r["n"] for r in await store.list("feedback", since=T0 + 200.5)] == [3, 4]
    assert [r["n"] for r in await store.list("feedback", since=T0 + 1000)] == []
    assert [r["n"] for r in await store.list("feedback", since=0)] == [0, 1, 2, 3, 4]
    assert [r["n"] for r in await store.list("feedback", limit=2)] == [0, 1]
    assert [r["n"] for r in await store.list("feedback", since=T0 + 100, limit=2)] == [1, 2]


async def test_list_leaves_out_expired_records(store: StateStore, backend: Backend) -> None:
    await store.append("gaps", {"n": 1}, ttl_s=60)
    await store.append("gaps", {"n": 2})
    await store.append("gaps", {"n": 3}, ttl_s=600)
    backend.clock.advance(61)
    assert [r["n"] for r in await store.list("gaps")] == [2, 3]
    assert [r["n"] for r in await store.list("gaps", limit=1)] == [2]


# --- incr ----------------------------------------------------------------------------------


async def test_incr_is_atomic_under_50_concurrent_increments(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    results = await asyncio.gather(
        *((a if i % 2 else b).incr("budget", "2026-11", "tokens") for i in range(50))
    )
    assert sorted(results) == [float(n) for n in range(1, 51)]  # each saw its own increment
    assert await a.get("budget", "2026-11") == {"tokens": 50.0}


async def test_incr_adds_amounts_beside_put_values(store: StateStore) -> None:
    assert await store.incr("budget", "U1", "usd", 0.25) == 0.25
    assert await store.incr("budget", "U1", "usd", 1.5) == 1.75
    assert await store.incr("budget", "U1", "calls") == 1.0
    assert await store.get("budget", "U1") == {"usd": 1.75, "calls": 1.0}


async def test_incr_restarts_from_zero_after_its_ttl(store: StateStore, backend: Backend) -> None:
    assert await store.incr("budget", "day", "tokens", 100, ttl_s=60) == 100
    assert await store.incr("budget", "day", "tokens", 50) == 150
    backend.clock.advance(61)
    assert await store.get("budget", "day") is None
    assert await store.incr("budget", "day", "tokens", 7, ttl_s=60) == 7
    assert await store.get("budget", "day") == {"tokens": 7.0}


async def test_incr_many_adds_several_counters_in_one_atomic_step(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    assert await a.incr_many("usage_day", "2026-12-01", {"questions": 1, "cost": 0.25}) == {
        "questions": 1.0,
        "cost": 0.25,
    }
    results = await asyncio.gather(
        *(
            (a if i % 2 else b).incr_many("usage_day", "2026-12-01", {"questions": 1, "cost": 0.5})
            for i in range(20)
        )
    )
    assert sorted(r["questions"] for r in results) == [float(n) for n in range(2, 22)]
    assert results and all(r["cost"] == 0.25 + 0.5 * (r["questions"] - 1) for r in results)
    assert await a.get("usage_day", "2026-12-01") == {"questions": 21.0, "cost": 10.25}
    assert await a.incr_many("usage_day", "2026-12-01", {}) == {}


async def test_counter_members_are_items_of_their_own_listed_by_group(
    store: StateStore, backend: Backend
) -> None:
    await store.incr_many("usage_channel_day", "2026-12-01", {"questions": 1}, member="C2")
    await store.incr_many(
        "usage_channel_day", "2026-12-01", {"questions": 1, "cost": 0.5}, member="C1", ttl_s=60
    )
    assert await store.incr_many(
        "usage_channel_day", "2026-12-01", {"questions": 2}, member="C1"
    ) == {"questions": 3.0}
    await store.incr_many("usage_channel_day", "2026-12-02", {"questions": 9}, member="C1")

    assert await store.members("usage_channel_day", "2026-12-01") == {
        "C1": {"questions": 3.0, "cost": 0.5},
        "C2": {"questions": 1.0},
    }
    assert await store.get("usage_channel_day", "2026-12-01") is None  # no point item
    assert await store.members("usage_channel_day", "2026-11-30") == {}
    backend.clock.advance(61)
    assert await store.members("usage_channel_day", "2026-12-01") == {"C2": {"questions": 1.0}}
    assert await store.incr_many(
        "usage_channel_day", "2026-12-01", {"questions": 1}, member="C1"
    ) == {"questions": 1.0}  # restarted from zero after its ttl


# --- memory only ---------------------------------------------------------------------------


async def test_memory_store_prunes_expired_entries() -> None:
    clock = FakeClock()
    store = MemoryStateStore(clock)
    for n in range(100):
        await store.claim(f"event:{n}", ttl_s=10)
        await store.put("thread", str(n), {}, ttl_s=10)
        await store.append("gaps", {"n": n}, ttl_s=10)
    clock.advance(61)
    await store.claim("event:new", ttl_s=10)
    assert len(store._claims) == 1
    assert not store._items
    assert not store._lists


# --- DynamoDB only: layout, wiring and errors ----------------------------------------------


async def test_dynamo_store_writes_the_documented_layout_over_http(
    moto_server: MotoServer, state_table: str
) -> None:
    sent_to: list[str] = []
    client = moto_server.client("dynamodb")
    client.meta.events.register("before-send.dynamodb", _record_urls(sent_to))
    store = DynamoStateStore(table_name=state_table, client=client, clock=FakeClock())
    await store.claim("event:Ev9", ttl_s=3600, owner="task-a")
    await store.put("prefs", "U1", {"language": "ko"}, ttl_s=60)
    await store.append("feedback", {"vote": "up"})

    host, port = moto_server.url.removeprefix("http://").split(":")
    assert host == "127.0.0.1"
    assert sent_to == [f"http://127.0.0.1:{port}/"] * 3  # three calls, all over HTTP to moto

    raw = moto_server.client("dynamodb")
    items = {i["pk"]["S"]: i for i in raw.scan(TableName=state_table)["Items"]}
    assert set(items) == {"claim#event:Ev9", "prefs#U1", "feedback"}
    assert items["claim#event:Ev9"]["sk"] == {"S": "_"}
    assert items["claim#event:Ev9"]["expires_at"] == {"N": str(int(T0) + 3600)}
    assert items["claim#event:Ev9"]["owner"] == {"S": "task-a"}
    assert items["prefs#U1"]["v"] == {"S": '{"language":"ko"}'}
    assert items["prefs#U1"]["expires_at"] == {"N": str(int(T0) + 60)}
    assert re.fullmatch(r"1700000000\.000000#[0-9a-f]{20}", items["feedback"]["sk"]["S"])
    ttl = raw.describe_time_to_live(TableName=state_table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


async def test_missing_table_is_a_state_error_naming_table_and_region(
    moto_server: MotoServer,
) -> None:
    store = DynamoStateStore(table_name="dualnova-missing", client=moto_server.client("dynamodb"))
    expected = "STATE_TABLE dualnova-missing does not exist in us-east-1"
    with pytest.raises(StateError, match=expected):
        await store.claim("event:Ev1", ttl_s=60)
    with pytest.raises(StateError, match=expected):
        await store.get("prefs", "U1")
    with pytest.raises(StateError, match=expected):
        await store.list("feedback")
    with pytest.raises(StateError, match=expected):
        await store.incr("budget", "day", "tokens")


async def test_access_denied_names_the_permission_and_table_arn(
    moto_server: MotoServer, state_table: str
) -> None:
    keys = moto_server.credentials_allowing("dynamodb:GetItem", user=f"bot-{uuid.uuid4().hex[:8]}")
    store = DynamoStateStore(table_name=state_table, client=moto_server.client("dynamodb", **keys))
    with moto_server.enforce_iam():
        assert await store.get("prefs", "U1") is None
        with pytest.raises(StateAccessDenied) as denied:
            await store.put("prefs", "U1", {"language": "ko"})
    message = str(denied.value)
    assert isinstance(denied.value, AccessDenied)
    assert f"dynamodb:PutItem on arn:aws:dynamodb:us-east-1:123456789012:table/{state_table}" in (
        message
    )
    assert keys["aws_secret_access_key"] not in message


async def test_unreachable_endpoint_is_a_state_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before use: connection refused
    client = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1),
    )
    store = DynamoStateStore(table_name="t", client=client)
    with pytest.raises(StateError, match="t: GetItem could not reach DynamoDB"):
        await store.get("prefs", "U1")


def test_build_state_store_is_a_sqlite_file_without_a_table_and_memory_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=None, state_table=None)  # type: ignore[call-arg]
    store = build_state_store(settings)
    assert isinstance(store, SqliteStateStore)
    assert store.path == Path(".dualnova/state.db")
    assert not (tmp_path / ".dualnova").exists()  # built, not opened: no I/O yet
    assert open_state_store(settings) is not None
    assert (tmp_path / ".dualnova" / "state.db").is_file()
    memory = Settings(_env_file=None, state_backend="memory")  # type: ignore[call-arg]
    assert isinstance(build_state_store(memory), MemoryStateStore)


async def test_build_state_store_uses_the_configured_table_and_endpoint(
    moto_server: MotoServer,
    state_table: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name, value in moto_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        state_table=state_table,
        aws_region="us-east-1",
        aws_endpoint_url_dynamodb=moto_server.url,
    )
    store = build_state_store(settings)
    assert isinstance(store, DynamoStateStore)
    config = store.client.meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert (config.connect_timeout, config.read_timeout) == (3, 5)
    assert store.client.meta.endpoint_url == moto_server.url

    assert await store.claim("event:EvWired", ttl_s=60)
    raw = moto_server.client("dynamodb")
    item = raw.get_item(
        TableName=state_table, Key={"pk": {"S": "claim#event:EvWired"}, "sk": {"S": "_"}}
    )
    assert "Item" in item
