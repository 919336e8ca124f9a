"""boto3 clients from Settings: each service's region and endpoint, one pool size for all.

The clients themselves are built by `kernel.aws_clients` (pool, retries, timeouts);
this only picks the settings that apply to each service.
"""

from __future__ import annotations

from typing import Any, Literal

from bot.config import Settings
from kernel.aws_clients import aws_client

Service = Literal["s3", "dynamodb", "bedrock-runtime", "bedrock-agent-runtime"]


def settings_client(settings: Settings, service: Service) -> Any:
    """The client for `service` with AWS_MAX_POOL_CONNECTIONS connections. Does no I/O."""
    pool = settings.aws_max_pool_connections
    if service == "s3":
        from retrieval.s3 import s3_client

        return s3_client(
            region=settings.aws_region, endpoint_url=settings.aws_endpoint_url_s3, pool=pool
        )
    if service == "dynamodb":
        return aws_client(
            "dynamodb",
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url_dynamodb,
            pool=pool,
        )
    endpoint = (
        settings.aws_endpoint_url_bedrock_runtime
        if service == "bedrock-runtime"
        else settings.aws_endpoint_url_bedrock_agent_runtime
    )
    return aws_client(
        service,
        region=settings.bedrock_region_name,
        endpoint_url=endpoint,
        pool=pool,
        max_attempts=settings.bedrock_max_attempts,
        read_timeout=settings.bedrock_read_timeout,
    )
