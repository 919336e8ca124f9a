"""Two real processes sharing one state store: the SQLite file (WAL, busy timeout) and the
DynamoDB table on the moto server. Each process opens its own store, waits at a barrier,
then races the other for the same claims and counters."""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid
from pathlib import Path
from typing import Any

import pytest

from fakes.aws import MotoServer

KEYS = [f"event:Ev{n}" for n in range(25)]
INCREMENTS = 40


def _open(spec: dict[str, str]) -> Any:
    if spec["backend"] == "sqlite":
        from bot.state_sqlite import SqliteStateStore

        return SqliteStateStore(path=Path(spec["path"])).open()
    import boto3

    from bot.state import DynamoStateStore

    client = boto3.client(
        "dynamodb",
        region_name=spec["region"],
        endpoint_url=spec["url"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return DynamoStateStore(table_name=spec["table"], client=client)


def _race(spec: dict[str, str], owner: str, start: Any, results: Any) -> None:
    """One process: open the store, wait for the other, then claim every key and count."""
    store = _open(spec)

    async def run() -> tuple[list[bool], list[float]]:
        won = [await store.claim(key, ttl_s=3600, owner=owner) for key in KEYS]
        seen = [
            await store.incr("budget", "shared", "questions", ttl_s=3600) for _ in range(INCREMENTS)
        ]
        return won, seen

    start.wait(timeout=60)
    results.put((owner, *asyncio.run(run())))


def _race_in_two_processes(spec: dict[str, str]) -> dict[str, tuple[list[bool], list[float]]]:
    context = multiprocessing.get_context("spawn")  # no forked event loop or boto3 state
    start = context.Barrier(2)
    results = context.Queue()
    processes = [
        context.Process(target=_race, args=(spec, owner, start, results)) for owner in "ab"
    ]
    for process in processes:
        process.start()
    try:
        found = [results.get(timeout=120) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
    assert [p.exitcode for p in processes] == [0, 0]
    return {owner: (won, seen) for owner, won, seen in found}


def _assert_exactly_one_winner_and_no_lost_count(
    results: dict[str, tuple[list[bool], list[float]]],
) -> None:
    (won_a, seen_a), (won_b, seen_b) = results["a"], results["b"]
    assert [a + b for a, b in zip(won_a, won_b, strict=True)] == [1] * len(KEYS)
    # Every increment saw a value nobody else saw: none lost, none doubled.
    assert sorted(seen_a + seen_b) == [float(n) for n in range(1, 2 * INCREMENTS + 1)]


@pytest.mark.timeout(180)
def test_two_processes_on_one_sqlite_file_claim_each_key_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    results = _race_in_two_processes({"backend": "sqlite", "path": str(path)})
    _assert_exactly_one_winner_and_no_lost_count(results)


ROUNDS = 25
OPENERS = 4


def _open_new_files(folder: str, start: Any, results: Any) -> None:
    """One process: in each round, open the round's new file at the same instant as the
    others (a barrier per round)."""
    from bot.state import StateError
    from bot.state_sqlite import SqliteStateStore

    failures = []
    for round_ in range(ROUNDS):
        start.wait(timeout=60)
        try:
            SqliteStateStore(path=Path(folder) / f"state-{round_}.db").open().close()
        except StateError as exc:  # reported to the test, which names it
            failures.append(f"round {round_}: {exc}")
    results.put(failures)


@pytest.mark.timeout(180)
def test_processes_creating_one_new_sqlite_file_at_once_all_open_it(tmp_path: Path) -> None:
    """Two serves (or serve and a report) preparing a new file together meet a lock SQLite
    refuses at once instead of waiting for (both read, both want to write). Before the open
    retried within the busy timeout, 14 of 160 such opens failed with "database is locked"."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(OPENERS)
    results = context.Queue()
    processes = [
        context.Process(target=_open_new_files, args=(str(tmp_path), start, results))
        for _ in range(OPENERS)
    ]
    for process in processes:
        process.start()
    try:
        failures = [results.get(timeout=120) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
    assert failures == [[]] * OPENERS
    assert len(list(tmp_path.glob("state-*.db"))) == ROUNDS


@pytest.mark.timeout(180)
def test_two_processes_on_one_dynamodb_table_claim_each_key_exactly_once(
    moto_server: MotoServer,
) -> None:
    table = f"dualnova-state-{uuid.uuid4().hex[:12]}"
    moto_server.create_state_table(table)
    try:
        spec = {
            "backend": "dynamo",
            "url": moto_server.url,
            "region": moto_server.region,
            "table": table,
        }
        _assert_exactly_one_winner_and_no_lost_count(_race_in_two_processes(spec))
    finally:
        moto_server.delete_table(table)
