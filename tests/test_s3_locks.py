"""One ingest at a time across tasks: S3 conditional writes or a DynamoDB conditional put."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fakes.aws import MotoServer
from fakes.s3_corpus import bucket_name
from kernel.errors import IngestError
from retrieval.locks import DynamoLock, LeaseBackend, Owner, S3ObjectLock, hold
from retrieval.s3 import S3Location

TTL_S = 1.0


@pytest.fixture(params=["s3", "dynamodb"])
def backends(
    request: pytest.FixtureRequest, moto_server: MotoServer
) -> Iterator[Callable[[str], LeaseBackend]]:
    """Leases of one kind by index name, all in one bucket or one table."""
    if request.param == "s3":
        bucket = bucket_name("lock")
        client = moto_server.client("s3")
        client.create_bucket(Bucket=bucket)
        yield lambda name: S3ObjectLock(client=client, location=S3Location(bucket, name))
    else:
        table = f"dualnova-state-{bucket_name('lock')}"
        moto_server.create_state_table(table)
        dynamodb = moto_server.client("dynamodb")
        yield lambda name: DynamoLock(client=dynamodb, table=table, name=f"s3://b/{name}")
        moto_server.delete_table(table)


@pytest.fixture
def backend(backends: Callable[[str], LeaseBackend]) -> LeaseBackend:
    return backends("index")


def test_the_second_ingest_is_told_who_holds_the_lock(backend: LeaseBackend) -> None:
    holding = r"another ingest is running \(pid \d+ on .+ since \d"
    with (
        hold(backend, ttl_s=30, what="s3://b/index"),
        pytest.raises(IngestError, match=holding),
        hold(backend, ttl_s=30, what="s3://b/index"),
    ):
        pass
    with hold(backend, ttl_s=30, what="s3://b/index"):  # released: free again
        pass


def test_a_crashed_holders_lease_expires_and_is_taken_over(backend: LeaseBackend) -> None:
    crashed = Owner("pid 1 on gone-host since 2026-01-01 00:00:00", "dead")
    assert backend.acquire(crashed, TTL_S) is None  # and never renewed nor released

    assert backend.acquire(Owner.this_process(), TTL_S) == crashed.description
    deadline = time.monotonic() + 10
    while True:
        try:
            with hold(backend, ttl_s=30, what="s3://b/index"):
                break
        except IngestError:
            assert time.monotonic() < deadline, "the dead lease never expired"
            time.sleep(0.25)


def test_a_held_lease_is_renewed_past_its_ttl(backends: Callable[[str], LeaseBackend]) -> None:
    held, control = backends("index"), backends("control")
    with hold(held, ttl_s=TTL_S, what="s3://b/index") as lease:
        # A lease taken just after ours and never renewed: once the backend lets it go, ours
        # would have gone too without its renewals (judged by the backend's own clock).
        assert control.acquire(Owner("pid 1 on gone-host since then", "dead"), TTL_S) is None
        deadline = time.monotonic() + 15
        while control.acquire(Owner.this_process(), TTL_S) is not None:
            assert time.monotonic() < deadline, "an unrenewed lease never expired"
            time.sleep(0.1)

        holder = held.acquire(Owner.this_process(), TTL_S)

        assert holder is not None and holder.startswith(f"pid {os.getpid()} on ")
        lease.confirm()


def test_an_ingest_that_lost_its_lease_refuses_to_publish(moto_server: MotoServer) -> None:
    bucket = bucket_name("lock")
    client: Any = moto_server.client("s3")
    client.create_bucket(Bucket=bucket)
    backend = S3ObjectLock(client=client, location=S3Location(bucket, "index"))

    with hold(backend, ttl_s=30, what=f"s3://{bucket}/index") as lease:
        # Another task decided the lease had expired and took it over.
        other = {"owner": "pid 9 on other since now", "token": "x", "ttl_s": 30}
        client.put_object(Bucket=bucket, Key="index/.ingest.lock", Body=json.dumps(other))
        with pytest.raises(IngestError, match="taken over; nothing was published"):
            lease.confirm()

    body = client.get_object(Bucket=bucket, Key="index/.ingest.lock")["Body"].read()
    assert json.loads(body)["owner"] == "pid 9 on other since now"  # ours was not deleted
