"""Every boto3 client comes from one factory, with AWS_MAX_POOL_CONNECTIONS connections."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.aws import settings_client
from bot.bedrock import runtime_client
from bot.config import Settings, load_settings
from bot.state import DynamoStateStore
from bot.state_factory import build_state_store
from bot.wiring import build_retriever, build_s3_client, build_store
from fakes.aws import MotoServer
from fakes.harness import REPO
from kernel.aws_clients import BOTOCORE_DEFAULT_POOL, aws_client

POOL = 77  # neither botocore's 10 nor any size the code used before


@pytest.fixture
def pooled(aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("AWS_MAX_POOL_CONNECTIONS", str(POOL))
    monkeypatch.setenv("STATE_TABLE", "dualnova-state")
    monkeypatch.setenv("INDEX_URI", "s3://dualnova-docs/index")
    monkeypatch.setenv("RETRIEVER", "bedrock-kb")
    monkeypatch.setenv("KNOWLEDGE_BASE_ID", "KB12345678")
    return load_settings()


def _pool(client: Any) -> int:
    return int(client.meta.config.max_pool_connections)


def test_the_pool_size_reaches_every_client_the_app_builds(pooled: Settings) -> None:
    state = build_state_store(pooled)
    assert isinstance(state, DynamoStateStore)
    store: Any = build_store(pooled)
    retriever: Any = build_retriever(pooled, index=lambda: None, embedder=None, offline=False)  # type: ignore[arg-type,return-value]

    clients = {
        "bedrock-runtime": runtime_client(pooled),
        "s3 (ingest, index, doctor)": build_s3_client(pooled),
        "s3 (the index store)": store._client,
        "dynamodb (state)": state.client,
        "dynamodb (ingest lock)": store._lock_backend._client,
        "bedrock-agent-runtime (knowledge base)": retriever._client,
    }
    assert {name: _pool(client) for name, client in clients.items()} == dict.fromkeys(clients, POOL)


@pytest.mark.parametrize(
    ("service", "attempts", "read_timeout"),
    [
        ("s3", 5, 60),
        ("dynamodb", 3, 5),
        ("bedrock-runtime", 4, 12.5),
        ("bedrock-agent-runtime", 4, 12.5),
    ],
)
def test_each_service_gets_its_retries_and_timeouts_with_the_shared_pool(
    pooled: Settings,
    monkeypatch: pytest.MonkeyPatch,
    service: Any,
    attempts: int,
    read_timeout: float,
) -> None:
    monkeypatch.setenv("BEDROCK_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("BEDROCK_READ_TIMEOUT", "12.5")
    config = settings_client(load_settings(), service).meta.config

    assert config.max_pool_connections == POOL
    assert config.retries == {"mode": "standard", "total_max_attempts": attempts}
    assert config.read_timeout == read_timeout


def test_a_bad_pool_size_fails_at_start_naming_the_variable(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kernel.errors import ConfigError

    monkeypatch.setenv("AWS_MAX_POOL_CONNECTIONS", "0")
    with pytest.raises(ConfigError, match=r"^AWS_MAX_POOL_CONNECTIONS: "):
        load_settings()


def _full_pool_warnings(
    client: Any, moto: MotoServer, table: str, caplog: pytest.LogCaptureFixture
) -> int:
    """Run 3 x botocore's pool size of GetItem calls at once; count discarded connections."""
    callers = 3 * BOTOCORE_DEFAULT_POOL
    start = threading.Barrier(callers)

    def one() -> None:
        start.wait()
        client.get_item(TableName=table, Key={"pk": {"S": "x"}, "sk": {"S": "y"}})

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        threads = [threading.Thread(target=one) for _ in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return sum("Connection pool is full" in r.getMessage() for r in caplog.records)


def test_concurrent_calls_reuse_connections_instead_of_discarding_them(
    moto_server: MotoServer, state_table: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The moto server answers one request at a time, so every caller holds a connection at once.
    def client(pool: int) -> Any:
        return aws_client("dynamodb", region="us-east-1", endpoint_url=moto_server.url, pool=pool)

    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        assert _full_pool_warnings(client(BOTOCORE_DEFAULT_POOL), moto_server, state_table, caplog)
        assert _full_pool_warnings(client(64), moto_server, state_table, caplog) == 0


def test_no_module_builds_a_boto3_client_outside_the_factory() -> None:
    builders = re.compile(r"boto3\.client\(|\.client\(\s*\"|\bConfig\(")
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for package in ("bot", "retrieval", "kernel")
        for path in sorted((REPO / package).rglob("*.py"))
        if path.name != "aws_clients.py"
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if builders.search(line)
    ]
    assert offenders == []
