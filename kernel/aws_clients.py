"""The one place boto3 clients are built: connection pool, retries and timeouts.

botocore keeps 10 connections per client unless told otherwise; `serve` runs up to 256
blocking calls at once (bot/slack/serve.py), so a client with the default pool makes the
eleventh concurrent call wait for a connection, then open and drop one of its own
("Connection pool is full" in the logs). Every client takes its pool size from the caller
(one setting, AWS_MAX_POOL_CONNECTIONS) and its retries and timeouts from the table below.

Part of the kernel: `bot` and `retrieval` both build their clients here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

#: botocore's own default, which every client here overrides.
BOTOCORE_DEFAULT_POOL = 10


@dataclass(frozen=True, kw_only=True, slots=True)
class ClientLimits:
    """Retries (total attempts, first try included) and timeouts in seconds for one service."""

    max_attempts: int
    connect_timeout: float
    read_timeout: float


#: Why each number: S3 reads whole documents and index files (slow reads are normal);
#: DynamoDB dedupe must decide within Slack's patience; Bedrock is overridden from settings
#: (a throttled answer must fail in seconds, not minutes).
SERVICE_LIMITS: dict[str, ClientLimits] = {
    "s3": ClientLimits(max_attempts=5, connect_timeout=5, read_timeout=60),
    "dynamodb": ClientLimits(max_attempts=3, connect_timeout=3, read_timeout=5),
    "bedrock-runtime": ClientLimits(max_attempts=3, connect_timeout=5, read_timeout=30),
    "bedrock-agent-runtime": ClientLimits(max_attempts=3, connect_timeout=5, read_timeout=30),
}


def client_config(
    service: str,
    *,
    region: str | None,
    pool: int,
    max_attempts: int | None = None,
    read_timeout: float | None = None,
) -> Config:
    """The botocore Config every client of `service` gets."""
    limits = SERVICE_LIMITS[service]
    return Config(
        region_name=region,
        # total_max_attempts counts the first try; the legacy "max_attempts" key counts retries.
        retries={"mode": "standard", "total_max_attempts": max_attempts or limits.max_attempts},
        connect_timeout=limits.connect_timeout,
        read_timeout=read_timeout or limits.read_timeout,
        max_pool_connections=pool,
        user_agent_extra="dualnova",
    )


def aws_client(
    service: str,
    *,
    region: str | None,
    endpoint_url: str | None,
    pool: int,
    max_attempts: int | None = None,
    read_timeout: float | None = None,
    session: boto3.Session | None = None,
) -> Any:
    """A thread-safe client for `service` (s3, dynamodb, bedrock-runtime, bedrock-agent-runtime).

    Does no I/O. `endpoint_url=None` leaves boto3 to its usual lookup (including the
    AWS_ENDPOINT_URL_<SERVICE> variables).
    """
    if pool < 1:
        raise ValueError(f"pool must be at least 1 connection, got {pool}")
    config = client_config(
        service, region=region, pool=pool, max_attempts=max_attempts, read_timeout=read_timeout
    )
    maker: Any = session if session is not None else boto3
    return maker.client(service, region_name=region, endpoint_url=endpoint_url, config=config)
