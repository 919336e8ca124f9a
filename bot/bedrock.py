"""Bedrock at the client boundary: one configured boto3 client, error translation, usage.

Retries live here (botocore's standard mode: exponential backoff with jitter on
throttling and 5xx) and LlamaIndex's own tenacity loop is turned off (`max_retries=1`),
so a throttled call fails within seconds with a typed error instead of hanging a reply.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EventStreamError
from llama_index.embeddings.bedrock import BedrockEmbedding
from llama_index.llms.bedrock_converse import BedrockConverse

from bot.config import Settings
from bot.errors import ModelAccessDenied, ModelError, ModelThrottled

_THROTTLED = {
    "ThrottlingException",
    "TooManyRequestsException",
    "ServiceQuotaExceededException",
    "throttlingException",
    "serviceUnavailableException",
    "ServiceUnavailableException",
}
_DENIED = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "ExpiredTokenException",
    "accessDeniedException",
}


def runtime_client(settings: Settings, *, pool: int = 64) -> Any:
    """The bedrock-runtime client every model call shares (thread safe)."""
    config = Config(
        region_name=settings.bedrock_region_name,
        # total_max_attempts counts the first try; the legacy "max_attempts" key counts retries only.
        retries={"mode": "standard", "total_max_attempts": settings.bedrock_max_attempts},
        connect_timeout=5,
        read_timeout=settings.bedrock_read_timeout,
        max_pool_connections=pool,
        user_agent_extra="dualnova",
    )
    return boto3.client(
        "bedrock-runtime",
        region_name=settings.bedrock_region_name,
        endpoint_url=settings.aws_endpoint_url_bedrock_runtime,
        config=config,
    )


def converse_llm(
    *, model_id: str, client: Any, max_tokens: int, temperature: float = 0.2
) -> BedrockConverse:
    """A LlamaIndex Converse LLM on the shared client; its own retry loop is off (see module doc)."""
    return BedrockConverse(
        model=model_id,
        client=client,
        max_tokens=max_tokens,
        temperature=temperature,
        max_retries=1,
    )


def embedding_model(settings: Settings, *, client: Any) -> BedrockEmbedding:
    return BedrockEmbedding(
        model_name=settings.embed_model_id,
        client=client,
        additional_kwargs={"dimensions": settings.embed_dimensions},
        max_retries=1,
    )


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError | EventStreamError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return exc.__class__.__name__


def as_model_error(exc: BaseException, *, model_id: str) -> ModelError:
    """Translate a botocore failure into the project's error tree (message safe to log)."""
    code = error_code(exc)
    if code in _THROTTLED:
        return ModelThrottled(f"{model_id}: throttled after retries ({code})")
    if code in _DENIED:
        return ModelAccessDenied(
            f"{model_id}: access denied ({code}); enable the model in Bedrock model access and allow "
            "bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream on it"
        )
    if isinstance(exc, ClientError | EventStreamError | BotoCoreError):
        return ModelError(f"{model_id}: {code or 'call failed'}")
    return ModelError(f"{model_id}: {exc.__class__.__name__}")


def usage_from(raw: Any) -> dict[str, int]:
    """Token counts from a Converse reply or a ConverseStream `metadata` event."""
    usage: dict[str, Any] = {}
    if isinstance(raw, dict):
        usage = raw.get("usage") or (raw.get("metadata") or {}).get("usage") or {}
    return {
        "input_tokens": int(usage.get("inputTokens", 0)),
        "output_tokens": int(usage.get("outputTokens", 0)),
        "cache_read_tokens": int(usage.get("cacheReadInputTokens", 0)),
        "cache_write_tokens": int(usage.get("cacheWriteInputTokens", 0)),
    }
