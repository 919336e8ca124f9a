"""A loopback fake of the Bedrock runtime that speaks the real wire protocol.

Point boto3 at it (``endpoint_url=fake.url`` or ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``) and the
real botocore / LlamaIndex code runs: request serialisation, error parsing, retries and
event-stream decoding. Faked operations (paths and names from botocore's service model)::

    POST /model/{modelId}/converse          Converse
    POST /model/{modelId}/converse-stream   ConverseStream (application/vnd.amazon.eventstream)
    POST /model/{modelId}/invoke            InvokeModel (Titan text v1/v2 and Cohere v3 embeddings)

Usage::

    with FakeBedrock() as fake:
        fake.queue("nova-pro", Reply("Paris [1].", cache_read_tokens=900))
        fake.throttle("nova-micro", times=1)
        fake.set_quota("nova-pro", requests_per_minute=40, burst=10, tokens_per_minute=80_000)
        client = boto3.client("bedrock-runtime", endpoint_url=fake.url, ...)

Like Bedrock, and unlike a fake that answers everything, it enforces per-model quotas
(``set_quota``: requests and tokens a minute as token buckets, HTTP 429 ThrottlingException
beyond them; tokens are reserved at the start as input + maxTokens and settled on the real
count), caches a prompt prefix only when the text before a ``cachePoint`` is at least 1,000
tokens (Nova's minimum per checkpoint; shorter ones succeed and cache nothing), and stops
with ``stopReason: max_tokens`` when the output reaches ``maxTokens``. Its clock runs at
``time_scale`` times real time, so "a minute of quota" can pass in a second of a test.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import inspect
import json
import logging
import math
import random
import re
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from fakes.loopback import LoopbackServer

logger = logging.getLogger(__name__)

__all__ = ["FakeBedrock", "RecordedRequest", "Reply", "embed", "encode_event_message"]

# --- wire protocol ---------------------------------------------------------------------------

EVENTSTREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
_HEADER_TYPE_STRING = 7  # event-stream header value type tag for a UTF-8 string


def encode_event_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """Frame one AWS event-stream message (the inverse of botocore's ``EventStreamBuffer``)."""
    raw_headers = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        raw_headers += (
            struct.pack("!B", len(n)) + n + struct.pack("!BH", _HEADER_TYPE_STRING, len(v)) + v
        )
    total_length = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total_length, len(raw_headers))
    prelude += struct.pack("!I", binascii.crc32(prelude))
    message = prelude + raw_headers + payload
    return message + struct.pack("!I", binascii.crc32(message))


def _event(event_type: str, body: Mapping[str, Any]) -> bytes:
    # Bedrock pads every event with a "p" field so sizes do not leak tokens; botocore drops it.
    payload = json.dumps({**body, "p": "abcdefghij"}).encode()
    headers = {
        ":message-type": "event",
        ":event-type": event_type,
        ":content-type": "application/json",
    }
    return encode_event_message(headers, payload)


def _exception_event(exception_type: str, body: Mapping[str, Any]) -> bytes:
    headers = {
        ":message-type": "exception",
        ":exception-type": exception_type,
        ":content-type": "application/json",
    }
    return encode_event_message(headers, json.dumps(body).encode())


# Error shapes as named in botocore's bedrock-runtime service model, with their HTTP status.
ERROR_STATUS: dict[str, int] = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "ModelErrorException": 424,
    "ModelStreamErrorException": 424,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
# Exceptions that ConverseStreamOutput can carry as in-stream events (camelCase member names).
STREAM_EXCEPTION_EVENTS: dict[str, str] = {
    "InternalServerException": "internalServerException",
    "ModelStreamErrorException": "modelStreamErrorException",
    "ValidationException": "validationException",
    "ThrottlingException": "throttlingException",
    "ServiceUnavailableException": "serviceUnavailableException",
}
# Reply.error kinds -> (error shape, message close to what Bedrock says).
ERROR_KINDS: dict[str, tuple[str, str]] = {
    "throttling": ("ThrottlingException", "Too many requests, please wait before trying again."),
    "5xx": ("InternalServerException", "The system encountered an unexpected error."),
    "unavailable": ("ServiceUnavailableException", "Bedrock is unable to process your request."),
    "validation": ("ValidationException", "The model rejected the request (scripted)."),
    "access_denied": (
        "AccessDeniedException",
        "You don't have access to the model with the specified model ID.",
    ),
    "model_not_ready": ("ModelNotReadyException", "Model is not ready for inference. Retry later."),
    "model_timeout": ("ModelTimeoutException", "Model has timed out in processing the request."),
    "model_error": ("ModelErrorException", "The model encountered an error (scripted)."),
    "stream_error": ("ModelStreamErrorException", "The model stream failed (scripted)."),
    "cut": ("", "connection dropped"),
}
_FAIL_STATUS = {
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}

CONTENT_BLOCK_TYPES = frozenset(
    {
        "text", "image", "document", "video", "audio", "toolUse", "toolResult", "guardContent",
        "cachePoint", "reasoningContent", "citationsContent", "searchResult", "toolAddition",
        "toolRemoval",
    }
)  # fmt: skip
SYSTEM_BLOCK_TYPES = frozenset({"text", "guardContent", "cachePoint"})
INFERENCE_CONFIG_KEYS = frozenset({"maxTokens", "temperature", "topP", "stopSequences"})
_INFERENCE_PROFILE_PREFIXES = frozenset({"us", "us-gov", "eu", "apac", "jp", "global", "ca", "au"})


class BedrockError(Exception):
    """An error the fake answers with; botocore raises it as a ``ClientError`` of that code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = ERROR_STATUS.get(code, 400)


def _invalid(message: str) -> BedrockError:
    return BedrockError("ValidationException", message)


# --- tokens and embeddings -------------------------------------------------------------------

# Hangul (jamo, compatibility jamo, syllables), kana, CJK ideographs, half-width katakana.
_CJK_RUN = re.compile(
    r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    r"\uf900-\ufaff\uff66-\uff9f]+"
)
_WORD = re.compile(r"\w+")
_STREAM_PIECE = re.compile(r"\S+\s*|\s+")


def estimate_tokens(text: str) -> int:
    """Rough token count: one per CJK/Hangul character, one per four other characters."""
    cjk = sum(len(run) for run in _CJK_RUN.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


def _features(text: str) -> list[str]:
    lowered = text.lower()
    features = [f"w:{word}" for word in _WORD.findall(lowered)]
    # Korean, Japanese and Chinese are not (reliably) space-separated: bigrams make "東京の天気"
    # and "東京の天気予報" overlap the way two English sentences sharing words do.
    for run in _CJK_RUN.findall(lowered):
        features += [f"b:{run[i : i + 2]}" for i in range(len(run) - 1)] or [f"b:{run}"]
    return features or [f"r:{text.strip()}"]


def embed(text: str, dims: int = 1024, *, normalize: bool = True) -> list[float]:
    """Deterministic hashed bag-of-features vector; similar texts get a high cosine."""
    vector = [0.0] * dims
    for feature in _features(text):
        # blake2b, not hash(): vectors must not change with PYTHONHASHSEED or across processes.
        h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        vector[h % dims] += 1.0 if h >> 63 else -1.0  # signed hashing: collisions cancel out
    if normalize:
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        vector = [x / norm for x in vector]
    return vector


# --- scripting and recording -----------------------------------------------------------------


@dataclass
class Reply:
    """One scripted model answer (or failure) for Converse / ConverseStream.

    ``error`` is one of ``ERROR_KINDS``: "throttling", "5xx", "unavailable", "validation",
    "access_denied", "model_not_ready", "model_timeout", "model_error", "stream_error"
    (an exception event mid-stream; ModelErrorException for Converse) or "cut" (the connection
    drops). On ConverseStream, "stream_error" and "cut" happen after ``error_after_chars``
    characters of text (default 0); other kinds fail before the stream unless
    ``error_after_chars`` is set and the stream can carry them as an event.
    """

    text: str | None = None  # None: "Fake answer from {model_id} [1]."
    input_tokens: int | None = None  # None: estimated from the request's text
    output_tokens: int | None = None  # None: estimated from ``text``
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    stop_reason: str = "end_turn"
    error: str | None = None
    error_after_chars: int | None = None

    def __post_init__(self) -> None:
        if self.error is not None and self.error not in ERROR_KINDS:
            raise ValueError(
                f"unknown Reply.error {self.error!r}; use one of {sorted(ERROR_KINDS)}"
            )


@dataclass
class RecordedRequest:
    """A request as it reached the fake, and how it was answered."""

    operation: str  # "Converse" | "ConverseStream" | "InvokeModel"
    model_id: str  # URL-decoded, e.g. "apac.amazon.nova-pro-v1:0" or an ARN
    body: dict[str, Any]
    headers: dict[str, str]
    started_at: float  # time.monotonic()
    finished_at: float | None = None
    status: int | None = None  # HTTP status; 200 for streams that failed mid-way
    error: str | None = None  # error shape / stream exception event name, or "cut"
    reply: Reply | None = None
    #: InvokeModel: the input token count the reply reported (Titan's inputTextTokenCount).
    reported_input_tokens: int | None = None
    #: Converse / ConverseStream: the usage block the reply reported (None if it never got there).
    usage: dict[str, int] | None = None

    @property
    def system_text(self) -> str:
        """Text of the ``system`` blocks, newline-joined."""
        return "\n".join(_block_texts(self.body.get("system")))

    @property
    def texts(self) -> list[str]:
        """Every text that reached the model: system, message text blocks, or embedding inputs."""
        if "inputText" in self.body:
            return [str(self.body["inputText"])]
        if isinstance(self.body.get("texts"), list):
            return [str(t) for t in self.body["texts"]]
        found = _block_texts(self.body.get("system"))
        for message in self.body.get("messages") or []:
            if isinstance(message, dict):
                found += _block_texts(message.get("content"))
        return found

    @property
    def text(self) -> str:
        """``texts`` joined by newlines, for ``"..." in call.text`` assertions."""
        return "\n".join(self.texts)


def _block_texts(blocks: Any) -> list[str]:
    # Tolerant on purpose: the body may be one the fake is about to reject as malformed.
    if not isinstance(blocks, list):
        return []
    return [str(b["text"]) for b in blocks if isinstance(b, dict) and "text" in b]


Responder = Callable[[RecordedRequest], Reply | Awaitable[Reply]]


@dataclass
class _Latency:
    first_token_s: float = 0.0
    tokens_per_s: float | None = None
    fixed_s: float = 0.0


@dataclass
class _Fault:
    model: str | None
    code: str
    message: str
    remaining: int | None
    probability: float | None
    rng: random.Random = field(default_factory=random.Random)

    def fires(self) -> bool:
        if self.probability is not None and self.rng.random() >= self.probability:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


#: Nova's documented minimum: a checkpoint whose prefix is shorter caches nothing.
CACHE_MIN_TOKENS = 1_000
#: How long Bedrock keeps a cached prefix after its last use (the default "5m" TTL).
CACHE_TTL_S = 300.0
#: What Bedrock reserves for the output when a request sets no maxTokens (Nova's maximum).
DEFAULT_MAX_TOKENS = 5_000


class FakeClock:
    """Monotonic seconds running ``scale`` times faster than real time, plus manual jumps."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._origin = time.monotonic()
        self._base = 0.0
        self._offset = 0.0
        self.scale = 1.0

    def now(self) -> float:
        with self._lock:
            return self._base + (time.monotonic() - self._origin) * self.scale + self._offset

    def set_scale(self, scale: float) -> None:
        with self._lock:
            real = time.monotonic()
            self._base += (real - self._origin) * self.scale
            self._origin = real
            self.scale = scale

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


@dataclass
class _Bucket:
    """A token bucket: ``capacity`` at most, refilled at ``rate`` a second."""

    rate: float
    capacity: float
    level: float
    at: float

    def refill(self, now: float) -> float:
        self.level = min(self.capacity, self.level + max(0.0, now - self.at) * self.rate)
        self.at = now
        return self.level


@dataclass
class _Quota:
    requests: _Bucket
    tokens: _Bucket | None
    exhausted_until: float = float("-inf")


def _best_key(keys: Iterable[str], model_id: str) -> str | None:
    """Exact id first, else the longest key contained in the id ("nova-pro" -> "apac.amazon...")."""
    candidates = [k for k in keys if k == model_id or k in model_id]
    if model_id in candidates:
        return model_id
    return max(candidates, key=len, default=None)


def base_model_id(model_id: str) -> str:
    """Strip an ARN and inference-profile prefix: ".../apac.amazon.nova-pro-v1:0" -> "amazon..."."""
    tail = model_id.rsplit("/", 1)[-1]
    prefix, _, rest = tail.partition(".")
    return rest if prefix in _INFERENCE_PROFILE_PREFIXES and rest else tail


# --- request validation ----------------------------------------------------------------------


def _validate_block(block: Any, where: str, allowed: frozenset[str]) -> str:
    if not isinstance(block, dict) or len(block) != 1 or next(iter(block)) not in allowed:
        keys = sorted(block) if isinstance(block, dict) else type(block).__name__
        raise _invalid(
            f"The content block at {where} must set exactly one of {', '.join(sorted(allowed))}"
            f" (got {keys})."
        )
    kind: str = next(iter(block))
    value = block[kind]
    if kind == "text" and (not isinstance(value, str) or not value.strip()):
        raise _invalid(
            f"The text field in the ContentBlock object at {where} is blank. "
            "Add text to the text field, and try again."
        )
    if kind == "cachePoint" and (
        not isinstance(value, dict)
        or value.get("type") != "default"
        or not set(value) <= {"type", "ttl"}
        or value.get("ttl", "5m") not in ("5m", "1h")
    ):
        raise _invalid(f"The cachePoint at {where} must be {{'type': 'default'}}; got {value!r}.")
    return kind


def validate_converse(body: Mapping[str, Any]) -> None:
    """Raise ``BedrockError`` for a Converse/ConverseStream body the real service rejects."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("The messages field is missing or empty. Add at least one user message.")
    uses_tools = False
    previous_role = None
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise _invalid(f"messages.{i}.role must be 'user' or 'assistant'; got {role!r}.")
        if i == 0 and role != "user":
            raise _invalid(
                "A conversation must start with a user message. "
                "Try again with a conversation that starts with a user message."
            )
        if role == previous_role:
            raise _invalid(
                "A conversation must alternate between user and assistant roles. Make sure the "
                "conversation alternates between user and assistant roles and try again."
            )
        previous_role = role
        content = message.get("content")
        if not isinstance(content, list) or not content:
            raise _invalid(
                f"The content field in the Message object at messages.{i} is empty. "
                "Add a ContentBlock object to the content field and try again."
            )
        for j, block in enumerate(content):
            kind = _validate_block(block, f"messages.{i}.content.{j}", CONTENT_BLOCK_TYPES)
            uses_tools = uses_tools or kind in ("toolUse", "toolResult")
    if uses_tools and "toolConfig" not in body:
        raise _invalid(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        )

    system = body.get("system")
    if system is not None:
        if not isinstance(system, list):
            raise _invalid("system must be a list of SystemContentBlock objects.")
        for j, block in enumerate(system):
            _validate_block(block, f"system.{j}", SYSTEM_BLOCK_TYPES)

    config = body.get("inferenceConfig") or {}
    if not isinstance(config, dict) or not set(config) <= INFERENCE_CONFIG_KEYS:
        raise _invalid(
            f"inferenceConfig accepts only {sorted(INFERENCE_CONFIG_KEYS)}; got {config!r}."
        )
    max_tokens = config.get("maxTokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise _invalid(f"inferenceConfig.maxTokens must be a positive integer; got {max_tokens!r}.")
    for key in ("temperature", "topP"):
        value = config.get(key)
        if value is not None and (not isinstance(value, int | float) or not 0 <= value <= 1):
            raise _invalid(f"inferenceConfig.{key} must be between 0 and 1; got {value!r}.")
    stops = config.get("stopSequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops)
    ):
        raise _invalid(f"inferenceConfig.stopSequences must be non-empty strings; got {stops!r}.")

    tool_config = body.get("toolConfig")
    if tool_config is not None and not (isinstance(tool_config, dict) and tool_config.get("tools")):
        raise _invalid("toolConfig.tools must contain at least one tool.")


# --- embeddings over InvokeModel -------------------------------------------------------------

_TITAN_V2_KEYS = frozenset({"inputText", "dimensions", "normalize", "embeddingTypes"})
_COHERE_INPUT_TYPES = frozenset({"search_document", "search_query", "classification", "clustering"})


def _titan_embedding(model_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    v2 = "titan-embed-text-v2" in model_id
    allowed = _TITAN_V2_KEYS if v2 else frozenset({"inputText"})
    for key in body:
        if key not in allowed:
            raise _invalid(
                f"Malformed input request: extraneous key [{key}] is not permitted, "
                "please reformat your input and try again."
            )
    text = body.get("inputText")
    if not isinstance(text, str) or not text:
        raise _invalid("Malformed input request: #/inputText: expected minLength: 1, actual: 0")
    if len(text) > 50_000:
        raise _invalid("Too many input tokens. Max input tokens: 8192")
    dims = body.get("dimensions", 1024) if v2 else 1536
    if dims not in (256, 512, 1024):
        raise _invalid(f"Malformed input request: #/dimensions: {dims} is not a valid enum value")
    normalize = bool(body.get("normalize", True))
    return {
        "embedding": embed(text, dims, normalize=normalize),
        "inputTextTokenCount": max(1, estimate_tokens(text)),
    }


def _cohere_embedding(body: Mapping[str, Any]) -> dict[str, Any]:
    texts = body.get("texts")
    if not isinstance(texts, list) or not 1 <= len(texts) <= 96:
        raise _invalid("Malformed input request: #/texts: expected 1 to 96 strings")
    if not all(isinstance(t, str) and t for t in texts):
        raise _invalid("Malformed input request: #/texts: every text must be a non-empty string")
    if body.get("input_type") not in _COHERE_INPUT_TYPES:
        raise _invalid(
            f"Malformed input request: #/input_type: {body.get('input_type')!r} is not a valid "
            "enum value"
        )
    vectors = [embed(t, 1024) for t in texts]
    digest = hashlib.blake2b("\x00".join(texts).encode(), digest_size=16).digest()
    typed = body.get("embedding_types") is not None
    return {
        "embeddings": {"float": vectors} if typed else vectors,
        "id": str(uuid.UUID(bytes=digest)),
        "texts": texts,
        "response_type": "embeddings_by_type" if typed else "embeddings_floats",
    }


# --- the server ------------------------------------------------------------------------------

_PATH = re.compile(r"^/model/(?P<model>[^/]+)/(?P<action>converse|converse-stream|invoke)$")
_OPERATIONS = {"converse": "Converse", "converse-stream": "ConverseStream", "invoke": "InvokeModel"}


class FakeBedrock(LoopbackServer):
    """Bedrock runtime on ``127.0.0.1:<ephemeral>``, served from its own thread and event loop.

    Scripting and inspection methods are thread-safe and may be called while requests run.
    """

    thread_name = "fake-bedrock"

    def __init__(self) -> None:
        super().__init__()
        self.known_models: set[str] | None = None  # None: every model id is served
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._queues: dict[str, deque[Reply]] = {}
        self._responders: dict[str, Responder] = {}
        self._latencies: dict[str | None, _Latency] = {}
        self._faults: list[_Fault] = []
        self._quotas: dict[str, _Quota] = {}
        self._cache: dict[tuple[str, str], float] = {}  # (base model, prefix digest) -> expiry
        self.clock = FakeClock()

    # lifecycle -----------------------------------------------------------------------------

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._dispatch)

    def env(self) -> dict[str, str]:
        """Environment for an app subprocess: endpoint override plus dummy credentials."""
        return {
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }

    # scripting -----------------------------------------------------------------------------

    def queue(self, model_id: str, *replies: Reply) -> None:
        """Append replies (FIFO) for calls whose model id equals or contains ``model_id``."""
        with self._lock:
            self._queues.setdefault(model_id, deque()).extend(replies)

    def responder(self, model_id: str, fn: Responder) -> None:
        """Answer matching calls with ``fn(request)`` once that model's queue is empty."""
        with self._lock:
            self._responders[model_id] = fn

    def latency(
        self,
        model_id: str | None = None,
        *,
        first_token_s: float = 0.0,
        tokens_per_s: float | None = None,
        fixed_s: float = 0.0,
    ) -> None:
        """Delay answers: ``fixed_s`` on every call, then (Converse ops) time to first token
        and pacing of ``tokens_per_s``. ``model_id=None`` sets the default profile."""
        with self._lock:
            self._latencies[model_id] = _Latency(first_token_s, tokens_per_s, fixed_s)

    def throttle(
        self,
        model_id: str | None = None,
        *,
        times: int | None = None,
        probability: float | None = None,
        seed: int = 0,
    ) -> None:
        """Answer ThrottlingException (429) to the next ``times`` matching calls, or to each with
        ``probability`` (seeded); with neither, to every matching call until ``reset()``."""
        message = ERROR_KINDS["throttling"][1]
        fault = _Fault(
            model_id, "ThrottlingException", message, times, probability, random.Random(seed)
        )
        with self._lock:
            self._faults.append(fault)

    def fail(self, model_id: str | None = None, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` matching calls with an HTTP error: 500 InternalServer,
        503 ServiceUnavailable (also 408 ModelTimeout, 424 ModelError, 429 Throttling)."""
        if status not in _FAIL_STATUS:
            raise ValueError(f"status must be one of {sorted(_FAIL_STATUS)}")
        code = _FAIL_STATUS[status]
        message = next(m for c, m in ERROR_KINDS.values() if c == code)
        with self._lock:
            self._faults.append(_Fault(model_id, code, message, times, None))

    def set_quota(
        self,
        model: str,
        *,
        requests_per_minute: int,
        burst: int,
        tokens_per_minute: int | None = None,
    ) -> None:
        """Enforce an account quota on calls whose model id contains ``model``, as Bedrock does:
        ``burst`` requests at once, refilled at ``requests_per_minute``; tokens (input plus
        ``maxTokens``, reserved at the start, settled to the real count at the end) against
        ``tokens_per_minute``. Beyond either: ThrottlingException (429). Buckets start full."""
        if requests_per_minute < 1 or burst < 1:
            raise ValueError("requests_per_minute and burst must be at least 1")
        now = self.clock.now()
        tokens = None
        if tokens_per_minute is not None:
            tokens = _Bucket(tokens_per_minute / 60, tokens_per_minute, tokens_per_minute, now)
        with self._lock:
            self._quotas[model] = _Quota(
                requests=_Bucket(requests_per_minute / 60, burst, burst, now), tokens=tokens
            )

    def exhaust_quota(self, model: str, seconds: float) -> None:
        """Another workload uses all of ``model``'s quota for ``seconds`` of the fake's clock:
        every matching call is throttled until then (a quota is set up if there is none)."""
        with self._lock:
            quota = self._quotas.get(model)
        if quota is None:
            self.set_quota(model, requests_per_minute=1_000_000, burst=1_000_000)
        with self._lock:
            self._quotas[model].exhausted_until = self.clock.now() + seconds

    def set_time_scale(self, scale: float) -> None:
        """Run the fake's clock (quotas, cache expiry) ``scale`` times faster than real time."""
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.clock.set_scale(scale)

    def reset(self, *, keep_cache: bool = False) -> None:
        """Forget scripts, responders, latency, faults, quotas, known_models, recorded requests,
        the clock's scale and (unless ``keep_cache``) the prompt cache."""
        with self._lock:
            self._requests.clear()
            self._queues.clear()
            self._responders.clear()
            self._latencies.clear()
            self._faults.clear()
            self._quotas.clear()
            if not keep_cache:
                self._cache.clear()
            self.known_models = None
        self.clock.set_scale(1.0)

    # inspection ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    def calls(
        self, operation: str | None = None, model: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests filtered by operation name and model id (exact or substring)."""
        return [
            r
            for r in self.requests
            if (operation is None or r.operation == operation)
            and (model is None or model in r.model_id)
        ]

    @staticmethod
    def embed(text: str, dims: int = 1024, *, normalize: bool = True) -> list[float]:
        """The vector the fake returns for ``text`` (Titan v2 and Cohere)."""
        return embed(text, dims, normalize=normalize)

    # request handling ----------------------------------------------------------------------

    def _latency_for(self, model_id: str) -> _Latency:
        with self._lock:
            key = _best_key((k for k in self._latencies if k is not None), model_id)
            return self._latencies.get(key, self._latencies.get(None, _Latency()))

    def _check_model(self, model_id: str) -> None:
        known = self.known_models
        if known is not None and model_id not in known and base_model_id(model_id) not in known:
            raise _invalid("The provided model identifier is invalid.")

    def _admit(self, record: RecordedRequest) -> tuple[str, int] | None:
        """Take one request and the reserved tokens from the model's quota, or throttle."""
        with self._lock:
            key = _best_key(self._quotas, record.model_id)
            if key is None:
                return None
            quota = self._quotas[key]
            now = self.clock.now()
            reserve = estimate_tokens(record.text)
            if record.operation != "InvokeModel":
                config = record.body.get("inferenceConfig") or {}
                reserve += int(config.get("maxTokens") or DEFAULT_MAX_TOKENS)
            over = now < quota.exhausted_until or quota.requests.refill(now) < 1
            if quota.tokens is not None and quota.tokens.refill(now) < reserve:
                over = True
            if over:
                raise BedrockError("ThrottlingException", ERROR_KINDS["throttling"][1])
            quota.requests.level -= 1
            if quota.tokens is not None:
                quota.tokens.level -= reserve
        return key, reserve

    def _settle(self, admitted: tuple[str, int] | None, used: int) -> None:
        """Give back what the reservation held beyond the tokens the call really used."""
        if admitted is None:
            return
        key, reserve = admitted
        with self._lock:
            quota = self._quotas.get(key)
            if quota is not None and quota.tokens is not None:
                bucket = quota.tokens
                bucket.level = min(bucket.capacity, bucket.level + max(0, reserve - used))

    def _cache_tokens(self, record: RecordedRequest) -> tuple[int, int]:
        """(read, write): the longest cached checkpoint prefix, and what this call adds."""
        model = base_model_id(record.model_id)
        eligible = [
            (tokens, hashlib.sha256(prefix.encode()).hexdigest())
            for prefix in cache_prefixes(record.body)
            if (tokens := estimate_tokens(prefix)) >= CACHE_MIN_TOKENS
        ]
        if not eligible:
            return 0, 0
        now = self.clock.now()
        with self._lock:
            read = max(
                (t for t, d in eligible if self._cache.get((model, d), float("-inf")) > now),
                default=0,
            )
            for _, digest in eligible:
                self._cache[(model, digest)] = now + CACHE_TTL_S
        longest = max(t for t, _ in eligible)
        return read, longest - read

    def _usage(self, record: RecordedRequest, reply: Reply, text: str) -> dict[str, int]:
        total = estimate_tokens(record.text)
        if reply.cache_read_tokens or reply.cache_write_tokens:  # scripted by the test
            read, write = reply.cache_read_tokens, reply.cache_write_tokens
        else:
            read, write = self._cache_tokens(record)
        inputs = reply.input_tokens if reply.input_tokens is not None else total - read - write
        outputs = reply.output_tokens if reply.output_tokens is not None else estimate_tokens(text)
        max_tokens = (record.body.get("inferenceConfig") or {}).get("maxTokens")
        if isinstance(max_tokens, int):
            outputs = min(outputs, max_tokens)  # a scripted count cannot exceed the cap either
        usage = {
            "inputTokens": inputs,
            "outputTokens": outputs,
            # As Bedrock reports it: inputTokens excludes cached tokens, totalTokens includes them.
            "totalTokens": inputs + outputs + read + write,
            "cacheReadInputTokens": read,
            "cacheWriteInputTokens": write,
        }
        record.usage = usage
        return usage

    def _check_faults(self, model_id: str) -> None:
        with self._lock:
            matching = (f for f in self._faults if f.model is None or f.model in model_id)
            fired = next((f for f in matching if f.fires()), None)
            self._faults = [f for f in self._faults if f.remaining != 0]
        if fired is not None:
            raise BedrockError(fired.code, fired.message)

    async def _next_reply(self, record: RecordedRequest) -> Reply:
        with self._lock:
            key = _best_key((k for k, q in self._queues.items() if q), record.model_id)
            if key is not None:
                return self._queues[key].popleft()
            responder = self._responders.get(_best_key(self._responders, record.model_id) or "")
        if responder is None:
            return Reply()
        reply = responder(record)
        return await reply if inspect.isawaitable(reply) else reply

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        match = _PATH.match(request.raw_path.split("?", 1)[0])
        if match is None or request.method != "POST":
            return _error_response(BedrockError("UnknownOperationException", request.raw_path), 404)
        operation = _OPERATIONS[match["action"]]
        model_id = unquote(match["model"])  # botocore percent-encodes ':' and '/' in the label
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        record = RecordedRequest(
            operation=operation,
            model_id=model_id,
            body=body if isinstance(body, dict) else {},
            headers=dict(request.headers),
            started_at=time.monotonic(),
        )
        with self._lock:
            self._requests.append(record)
        admitted: tuple[str, int] | None = None
        try:
            latency = self._latency_for(model_id)
            await asyncio.sleep(latency.fixed_s)
            if not isinstance(body, dict):
                raise _invalid("Malformed input request, please reformat your input and try again.")
            self._check_model(model_id)
            if operation != "InvokeModel":
                validate_converse(body)
            admitted = self._admit(record)
            if operation == "InvokeModel":
                result = self._invoke_model(model_id, body)
                record.status = 200
                record.reported_input_tokens = result.get("inputTextTokenCount")
                return web.json_response(result, headers=_request_id())
            self._check_faults(model_id)
            record.reply = reply = await self._next_reply(record)
            if operation == "Converse":
                return await self._converse(request, record, reply, latency)
            return await self._converse_stream(request, record, reply, latency)
        except BedrockError as error:
            record.status, record.error = error.status, error.code
            return _error_response(error)
        except Exception as exc:  # a responder bug must reach the test, not hang it
            logger.exception("fake bedrock failed on %s %s", operation, model_id)
            internal = BedrockError("InternalServerException", f"fake bedrock: {exc!r}")
            record.status, record.error = internal.status, internal.code
            return _error_response(internal)
        finally:
            record.finished_at = time.monotonic()
            if admitted is not None:
                usage = record.usage or {}
                used = estimate_tokens(record.text) if record.usage is None else 0
                used += usage.get("inputTokens", 0) + usage.get("outputTokens", 0)
                self._settle(admitted, used + usage.get("cacheWriteInputTokens", 0))

    def _invoke_model(self, model_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check_faults(model_id)
        if "cohere.embed" in model_id:
            return _cohere_embedding(body)
        if "titan-embed" in model_id:
            return _titan_embedding(model_id, body)
        raise _invalid(
            f"fake bedrock: InvokeModel is only faked for embedding models, not {model_id}"
        )

    async def _converse(
        self, request: web.Request, record: RecordedRequest, reply: Reply, latency: _Latency
    ) -> web.StreamResponse:
        if reply.error == "cut":
            _drop_connection(record, request)
            return web.Response()  # never written: the transport is already closed
        if reply.error is not None:
            code = ERROR_KINDS[reply.error][0]
            # ModelStreamErrorException is not a Converse error; the non-stream cousin is.
            if code == "ModelStreamErrorException":
                code = "ModelErrorException"
            raise BedrockError(code, ERROR_KINDS[reply.error][1])
        text, stop_reason = _answer(record, reply)
        usage = self._usage(record, reply, text)
        await asyncio.sleep(latency.first_token_s + _pace(usage["outputTokens"], latency))
        record.status = 200
        return web.json_response(
            {
                "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": stop_reason,
                "usage": usage,
                "metrics": {"latencyMs": _elapsed_ms(record)},
            },
            headers=_request_id(),
        )

    async def _converse_stream(
        self, request: web.Request, record: RecordedRequest, reply: Reply, latency: _Latency
    ) -> web.StreamResponse:
        code = ERROR_KINDS[reply.error][0] if reply.error else None
        # Kinds the stream can carry as an exception event fail mid-stream when asked to.
        as_event = code in STREAM_EXCEPTION_EVENTS and (
            reply.error == "stream_error" or reply.error_after_chars is not None
        )
        mid_stream = reply.error == "cut" or as_event
        if code and not mid_stream:
            raise BedrockError(code, ERROR_KINDS[reply.error or ""][1])
        text, stop_reason = _answer(record, reply)
        if mid_stream:
            text = text[: reply.error_after_chars or 0]

        response = web.StreamResponse(
            headers={"Content-Type": EVENTSTREAM_CONTENT_TYPE, **_request_id()}
        )
        await response.prepare(request)
        record.status = 200
        try:
            await asyncio.sleep(latency.first_token_s)
            await response.write(_event("messageStart", {"role": "assistant"}))
            for i, piece in enumerate(_stream_pieces(text)):
                if i:
                    await asyncio.sleep(_pace(estimate_tokens(piece), latency))
                delta = {"contentBlockIndex": 0, "delta": {"text": piece}}
                await response.write(_event("contentBlockDelta", delta))
            if reply.error == "cut":
                _drop_connection(record, request)
                return response
            if mid_stream and code:
                event_name = STREAM_EXCEPTION_EVENTS[code]
                body: dict[str, Any] = {"message": ERROR_KINDS[reply.error or ""][1]}
                if event_name == "modelStreamErrorException":
                    body |= {
                        "originalStatusCode": 500,
                        "originalMessage": "model failed mid-stream",
                    }
                record.error = event_name
                await response.write(_exception_event(event_name, body))
                await response.write_eof()
                return response
            usage = self._usage(record, reply, text)
            await response.write(_event("contentBlockStop", {"contentBlockIndex": 0}))
            await response.write(_event("messageStop", {"stopReason": stop_reason}))
            metadata = {"usage": usage, "metrics": {"latencyMs": _elapsed_ms(record)}}
            await response.write(_event("metadata", metadata))
            await response.write_eof()
        except ConnectionError:  # the client went away mid-stream
            record.error = record.error or "client_disconnected"
        return response


def _request_id() -> dict[str, str]:
    return {"x-amzn-RequestId": str(uuid.uuid4())}


def _error_response(error: BedrockError, status: int | None = None) -> web.Response:
    # botocore reads the code from x-amzn-ErrorType and drops the ":<namespace>" suffix.
    headers = {
        "x-amzn-ErrorType": f"{error.code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        **_request_id(),
    }
    return web.json_response(
        {"message": error.message}, status=status or error.status, headers=headers
    )


def _drop_connection(record: RecordedRequest, request: web.Request) -> None:
    record.error = "cut"
    if request.transport is not None:
        # close(), not abort(): flush what was written so the client sees a truncated body.
        request.transport.close()


def _answer(record: RecordedRequest, reply: Reply) -> tuple[str, str]:
    """Apply the request's stopSequences and maxTokens to the scripted text."""
    text = reply.text if reply.text is not None else f"Fake answer from {record.model_id} [1]."
    # A conversation that ends with an assistant turn is a prefill: the model continues it and
    # does not repeat it, so a scripted full reply loses the prefilled start.
    messages = record.body.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    if last.get("role") == "assistant":
        prefill = "".join(_block_texts(last.get("content")))
        if prefill and text.startswith(prefill):
            text = text[len(prefill) :]
    stop_reason = reply.stop_reason
    config = record.body.get("inferenceConfig") or {}
    for stop in config.get("stopSequences") or []:
        if stop in text:
            text, stop_reason = text[: text.index(stop)], "stop_sequence"
    max_tokens = config.get("maxTokens")
    # Reaching maxTokens stops the model there: it cannot know it was about to end anyway.
    if max_tokens is not None and estimate_tokens(text) >= max_tokens:
        while estimate_tokens(text) > max_tokens:
            text = text[: -max(1, len(text) // 20)]
        stop_reason = "max_tokens"
    return text, stop_reason


def cache_prefixes(body: Mapping[str, Any]) -> list[str]:
    """The prompt before each ``cachePoint`` (system blocks first, then the messages)."""
    seen: list[str] = []
    prefixes: list[str] = []
    blocks: list[tuple[str, Any]] = [("system", b) for b in body.get("system") or []]
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            role = str(message.get("role"))
            blocks += [(role, b) for b in message.get("content") or []]
    for role, block in blocks:
        if not isinstance(block, dict):
            continue
        if "cachePoint" in block:
            prefixes.append("\n".join(seen))
        elif "text" in block:
            seen.append(f"{role}: {block['text']}")
    return prefixes


def _stream_pieces(text: str) -> list[str]:
    """Split like a model streams: word by word, and CJK runs in slices of a few characters."""
    pieces: list[str] = []
    for word in _STREAM_PIECE.findall(text):
        size = 4 if _CJK_RUN.search(word) else 16
        pieces += [word[i : i + size] for i in range(0, len(word), size)]
    return pieces


def _pace(tokens: int, latency: _Latency) -> float:
    return tokens / latency.tokens_per_s if latency.tokens_per_s else 0.0


def _elapsed_ms(record: RecordedRequest) -> int:
    return int((time.monotonic() - record.started_at) * 1000)
