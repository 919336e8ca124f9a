"""What the Slack fake holds and records, and the small vocabulary its parts share."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web

T = TypeVar("T")
Args = dict[str, Any]
Target = Literal["one", "all"] | int

STREAM_CHUNK_TYPES = frozenset({"markdown_text", "plan_update", "task_update", "blocks"})
DEFAULT_SUBSCRIPTIONS = frozenset(
    {"app_mention", "message.channels", "message.groups", "message.im"}
)
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
# Form-encoded clients send structured arguments as JSON strings; decode them like Slack does.
_JSON_ARGS = frozenset(
    {"blocks", "attachments", "chunks", "metadata", "prompts", "view", "loading_messages"}
)
_CHANNEL_RE = re.compile(r"^[CDG][A-Z0-9]+$")
_MENTION_RE = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL_TYPES = {"C": "channel", "G": "group", "D": "im"}
_SUBSCRIPTION_FOR = {
    "channel": "message.channels",
    "group": "message.groups",
    "im": "message.im",
    "mpim": "message.mpim",
}
# Since 2025, apps not approved for the Marketplace read history at 1 call a minute, 15 messages.
NON_MARKETPLACE_READS = frozenset({"conversations.replies", "conversations.history"})
NON_MARKETPLACE_LIMIT = 15
NON_MARKETPLACE_PER_S = 60.0
# Methods that need the bot in the conversation; chat:write.public lifts it for posting only.
_POSTING = frozenset({"chat.postMessage", "chat.postEphemeral", "chat.startStream"})
_READING = NON_MARKETPLACE_READS
RESPONSE_URL_TTL_S = 30 * 60
RESPONSE_URL_USES = 5


# --------------------------------------------------------------------------- records


@dataclass
class Edit:
    """One applied chat.update (or response_url replace): the content after it."""

    at: float
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None


@dataclass
class Message:
    """A message as the fake holds it. ``thread_ts`` is None for top-level messages."""

    channel: str
    ts: str
    text: str
    user: str | None = None
    bot_id: str | None = None
    thread_ts: str | None = None
    blocks: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    streamed: bool = False
    streaming: bool = False
    stream_parts: list[str] = field(default_factory=list)
    stream_chunks: list[dict[str, Any]] = field(default_factory=list)
    recipient_user_id: str | None = None
    recipient_team_id: str | None = None
    edits: list[Edit] = field(default_factory=list)
    reactions: dict[str, set[str]] = field(default_factory=dict)
    created_at: float = field(default_factory=time.monotonic)
    last_activity: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Ephemeral:
    """A message only ``user`` sees (chat.postEphemeral or an ephemeral response_url post)."""

    channel: str
    user: str | None
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None
    via: Literal["api", "response_url"]


@dataclass(frozen=True)
class Call:
    """One Web API request: merged arguments (query + body), reply and when it arrived."""

    method: str
    args: dict[str, Any]
    at: float
    status: int
    response: dict[str, Any]
    http_method: str
    content_type: str
    token: str | None

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        error = self.response.get("error")
        return None if error is None else str(error)


@dataclass(frozen=True)
class Ack:
    """An envelope acknowledgement received over the socket."""

    envelope_id: str
    received_at: float
    latency_s: float | None
    payload: dict[str, Any] | None
    connection_id: int


@dataclass(frozen=True)
class Delivery:
    """One envelope written to one socket."""

    envelope_id: str
    type: str
    connection_id: int
    sent_at: float
    envelope: dict[str, Any]

    @property
    def event(self) -> dict[str, Any]:
        return self.envelope.get("payload", {}).get("event") or {}


@dataclass(frozen=True)
class ResponsePost:
    """A POST to a response_url the fake handed out."""

    response_id: str
    envelope_id: str | None
    body: dict[str, Any]
    at: float


@dataclass
class AssistantThread:
    """What assistant.threads.* set on one thread."""

    status: str = ""
    status_history: list[str] = field(default_factory=list)
    loading_messages: list[str] | None = None
    prompts: list[dict[str, Any]] = field(default_factory=list)
    prompts_title: str | None = None
    title: str | None = None


class SlackApiFault(Exception):
    """A Slack error reply: ``{"ok": false, "error": ...}`` plus an HTTP status."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        messages: list[str] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.messages = messages or []
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


@dataclass
class _Fault:
    error: str
    status: int
    retry_after: int | None
    remaining: int


@dataclass
class _Window:
    calls: int
    per_s: float
    per_channel: bool
    hits: dict[str | None, deque[float]] = field(default_factory=dict)


@dataclass
class _Connection:
    id: int
    ws: web.WebSocketResponse
    request: web.Request
    opened_at: float


@dataclass(frozen=True)
class _ResponseTarget:
    channel: str | None
    user: str | None
    message_ts: str | None
    envelope_id: str
    created_at: float = field(default_factory=time.monotonic)


def _missing(name: str) -> SlackApiFault:
    return SlackApiFault("invalid_arguments", messages=[f"[ERROR] missing required field: {name}"])


def _truthy(value: Any) -> bool:
    # The SDK turns booleans in query strings into "1"/"0".
    return value is True or value == 1 or str(value).lower() in {"1", "true"}


def _opt_str(args: Args, key: str) -> str | None:
    value = args.get(key)
    if value is None or value == "":
        return None
    return str(value)


def channel_type(channel: str) -> str:
    """Slack's ``channel_type`` for an id: "im" (D...), "channel" (C...) or "group" (G...)."""
    return _CHANNEL_TYPES.get(channel[:1], "channel")


def _encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        decoded = base64.b64decode(cursor).decode()
    except ValueError:
        raise SlackApiFault("invalid_cursor") from None
    if not decoded.startswith("next_ts:"):
        raise SlackApiFault("invalid_cursor")
    return decoded.removeprefix("next_ts:")


def _refuse_inside_event_loop(name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"FakeSlack.{name}() blocks, which would starve an app running in this event loop; "
        f"use `await fake.{name}_async(...)`"
    )


def _inside_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
