"""A loopback fake of Slack: the Web API and the Socket Mode WebSocket.

The real slack_sdk / Bolt code runs against it unchanged: the app reads ``SLACK_API_URL``
(``fake.api_url``, trailing slash included), calls ``apps.connections.open`` with its xapp-
token and connects to the ``ws://.../link`` URL it returns, exactly as in production. The
fake enforces the argument checks and limits real Slack enforces, with Slack's error codes,
keeps channels, threads, edits, streams, ephemeral messages and reactions, and records every
call and every ack.

Usage::

    with FakeSlack() as fake:
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
        ...  # start the app with fake.env()
        ts = fake.post_user_message("C1", "U1", "<@UBOT> what is our leave policy?")
        fake.wait_for(lambda: fake.messages("C1", thread_ts=ts)[1:])

Wire surface::

    GET|POST /api/{method}       form, JSON or query-string arguments, Bearer token
    GET      /link?ticket=...    Socket Mode WebSocket (hello, envelopes, acks, ping/pong)
    POST     /response/{id}      response_url of pushed slash commands and interactions

Conversations: the bot is a member of the conversations Slack sends it events from (or that
a test ``join()``s); posting or reading elsewhere fails with ``not_in_channel`` (public
channels) or ``channel_not_found`` (private channels, DMs, group DMs), while a command's or
action's ``response_url`` needs no membership (30 minutes, 5 uses). ``add_mpim`` declares a
group DM; ``non_marketplace`` caps conversations.replies/history at 1/min and 15 messages.

Slack's limits are on by default (``fakes/slack_limits.py``): every method's rate tier
(HTTP 429 + ``Retry-After``), the scopes of the app manifest (``missing_scope``) and a
stream's five-minute lifetime. ``set_limit`` / ``unlimit`` change one method for a test;
``ratelimited()`` counts the 429s by method.

Not modelled: events for the bot's own posts, message_changed/deleted events and files.

The server runs in its own thread and event loop, so one fake serves sync tests, async
tests and an app running as a subprocess. Every public method is thread-safe. The blocking
helpers (``wait_for``, ``wait_for_ack``) refuse to run inside an event loop, where they
would starve an in-process app; use their ``*_async`` twins there.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import inspect
import itertools
import json
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import WSMsgType, web
from slack_sdk.models.blocks import blocks as _sdk_blocks

from fakes.loopback import LoopbackServer
from fakes.slack_limits import (
    MANIFEST_SCOPES,
    STREAM_LIFETIME_S,
    Limit,
    RateLimiter,
    needed_scope,
)

T = TypeVar("T")
Args = dict[str, Any]
Target = Literal["one", "all"] | int

# Limits real Slack enforces (documented per method and block type).
MAX_TEXT = 40_000
MAX_MARKDOWN_TEXT = 12_000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3_000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2_000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BLOCK_ID = 255

# Taken from slack_sdk's own Block classes so the fake accepts exactly what the SDK can build.
KNOWN_BLOCK_TYPES = frozenset(
    kind
    for _, cls in inspect.getmembers(_sdk_blocks, inspect.isclass)
    if issubclass(cls, _sdk_blocks.Block) and isinstance(kind := getattr(cls, "type", None), str)
)
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


# --------------------------------------------------------------------------- validation


def _text_problems(obj: Any, ptr: str, limit: int, kinds: frozenset[str]) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in kinds:
        return [f"[ERROR] must be a {' or '.join(sorted(kinds))} text object [json-pointer:{ptr}]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"[ERROR] must be more than 0 characters [json-pointer:{ptr}/text]"]
    if len(text) > limit:
        return [f"[ERROR] must be less than {limit + 1} characters [json-pointer:{ptr}/text]"]
    return []


def _elements_problems(block: dict[str, Any], ptr: str, limit: int) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [f"[ERROR] missing required field: elements [json-pointer:{ptr}]"]
    if len(elements) > limit:
        return [f"[ERROR] no more than {limit} items allowed [json-pointer:{ptr}/elements]"]
    return []


_ANY_TEXT = frozenset({"plain_text", "mrkdwn"})
_PLAIN_TEXT = frozenset({"plain_text"})


def _block_problems(block: Any, ptr: str) -> list[str]:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return [f"[ERROR] missing required field: type [json-pointer:{ptr}]"]
    kind = block["type"]
    if kind not in KNOWN_BLOCK_TYPES:
        return [f"[ERROR] unsupported type: {kind} [json-pointer:{ptr}/type]"]
    problems: list[str] = []
    block_id = block.get("block_id")
    if isinstance(block_id, str) and len(block_id) > MAX_BLOCK_ID:
        problems.append(f"[ERROR] must be less than 256 characters [json-pointer:{ptr}/block_id]")
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            problems.append(f"[ERROR] must provide either text or fields [json-pointer:{ptr}]")
        if text is not None:
            problems += _text_problems(text, f"{ptr}/text", MAX_SECTION_TEXT, _ANY_TEXT)
        if isinstance(fields, list) and len(fields) > MAX_SECTION_FIELDS:
            problems.append(f"[ERROR] no more than 10 items allowed [json-pointer:{ptr}/fields]")
        elif isinstance(fields, list):
            for j, item in enumerate(fields):
                problems += _text_problems(item, f"{ptr}/fields/{j}", MAX_FIELD_TEXT, _ANY_TEXT)
    elif kind == "header":
        problems += _text_problems(block.get("text"), f"{ptr}/text", MAX_HEADER_TEXT, _PLAIN_TEXT)
    elif kind == "context":
        problems += _elements_problems(block, ptr, MAX_CONTEXT_ELEMENTS)
    elif kind == "actions":
        problems += _elements_problems(block, ptr, MAX_ACTIONS_ELEMENTS)
    elif kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or not text:
            problems.append(f"[ERROR] must be more than 0 characters [json-pointer:{ptr}/text]")
        elif len(text) > MAX_MARKDOWN_TEXT:
            problems.append(f"[ERROR] must be less than 12001 characters [json-pointer:{ptr}/text]")
    return problems


def validate_blocks(blocks: Any, *, limit: int = MAX_MESSAGE_BLOCKS) -> list[dict[str, Any]]:
    """Check blocks the way Slack does; raise ``invalid_blocks`` (with pointers) on failure."""
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            raise SlackApiFault("invalid_blocks_format") from None
    if not isinstance(blocks, list):
        raise SlackApiFault("invalid_blocks_format")
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"[ERROR] no more than {limit} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        problems += _block_problems(block, f"/blocks/{i}")
    if problems:
        raise SlackApiFault("invalid_blocks", messages=problems)
    return blocks


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


def rich_text_blocks(text: str) -> list[dict[str, Any]]:
    """The rich_text block Slack attaches to a user's message, mentions as user elements."""
    elements: list[dict[str, Any]] = []
    pos = 0
    for match in _MENTION_RE.finditer(text):
        if match.start() > pos:
            elements.append({"type": "text", "text": text[pos : match.start()]})
        elements.append({"type": "user", "user_id": match.group(1)})
        pos = match.end()
    if pos < len(text):
        elements.append({"type": "text", "text": text[pos:]})
    section = {"type": "rich_text_section", "elements": elements}
    return [{"type": "rich_text", "block_id": uuid.uuid4().hex[:5], "elements": [section]}]


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


def member_of(fake: FakeSlack, *channels: str) -> None:
    """Make the bot a member of `channels`, for tests that post there without an event.

    Channel membership is modelled by its own part of the fake (``join``); where that part
    is absent every conversation is open, and this does nothing."""
    join = getattr(fake, "join", None)
    for channel in channels:
        if join is not None:
            join(channel)


# --------------------------------------------------------------------------- the fake


class FakeSlack(LoopbackServer):
    """Slack Web API + Socket Mode on ``127.0.0.1:<ephemeral>``, in its own thread and loop.

    Configuration attributes may be changed at any time:

    - ``users``: ``{user_id: users.info record}``; ``locale`` is only returned when the
      caller passes ``include_locale=true``. Users who post via ``post_user_message`` are
      added with defaults.
    - ``subscriptions``: bot events the app subscribes to (``app_mention``,
      ``message.channels``, ``message.groups``, ``message.im``). With both ``app_mention``
      and ``message.*``, a mention arrives twice, as real Slack sends it.
    - ``refuse_streaming``: True, or a set of channel ids, for which chat.startStream
      answers ``channel_type_not_supported``.
    - ``strict_threads``: a ``thread_ts`` that names no stored message -> ``thread_not_found``.
    - ``stream_timeout_s``: idle streams expire (then ``message_not_in_streaming_state``).
    - ``stream_lifetime_s``: streams end this long after chat.startStream, however often
      they are appended to (Slack: about 5 minutes).
    - ``limits_on``: False switches every rate limit off (``set_limit`` for one method).
    - ``auto_redeliver``: resend unacked events_api envelopes after ``ack_timeout_s``, with
      ``retry_attempt`` + 1 and ``retry_reason="timeout"``, up to 3 times, as Slack does.
    """

    def __init__(
        self,
        *,
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        team_id: str = "T1",
        app_id: str = "A1",
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-test",
        scopes: str = MANIFEST_SCOPES,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.team_id = team_id
        self.app_id = app_id
        self.bot_token = bot_token
        self.app_token = app_token
        self.scopes = scopes
        self.verification_token = "fake-verification-token"

        self.users: dict[str, dict[str, Any]] = {}

        self._lock = threading.RLock()
        self._ts_counter = itertools.count(1)
        self._conn_ids = itertools.count(1)
        self._round_robin = itertools.count()
        # Survive reset(): sockets stay up, and the SDK may reconnect with an old URL.
        self._conns: dict[int, _Connection] = {}
        self._tickets: set[str] = set()
        self._handlers: dict[str, Callable[[Args], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.startStream": self._chat_start_stream,
            "chat.appendStream": self._chat_append_stream,
            "chat.stopStream": self._chat_stop_stream,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "assistant.threads.setStatus": self._assistant_set_status,
            "assistant.threads.setSuggestedPrompts": self._assistant_set_prompts,
            "assistant.threads.setTitle": self._assistant_set_title,
            "views.publish": self._views_publish,
        }
        self._reset_state()
        self._guard_conversations()

    def _reset_state(self) -> None:
        with self._lock:
            # The behaviour knobs go back to their defaults too: a test that refuses
            # streaming must not make every later test on a shared fake refuse it as well.
            self.subscriptions: set[str] = set(DEFAULT_SUBSCRIPTIONS)
            self.refuse_streaming: bool | set[str] = False
            self.strict_threads = True
            self.stream_timeout_s: float | None = None
            self.stream_lifetime_s: float = STREAM_LIFETIME_S
            self.limits_on = True
            self._limiter = RateLimiter(time.monotonic)
            self.auto_redeliver = False
            self.ack_timeout_s = 3.0
            self.users.clear()
            self.users[self.bot_user_id] = {
                "id": self.bot_user_id,
                "team_id": self.team_id,
                "name": "dualnova",
                "real_name": "dualnova",
                "is_bot": True,
                "deleted": False,
                "profile": {"real_name": "dualnova", "bot_id": self.bot_id},
            }
            self._channels: dict[str, list[Message]] = {}
            self._by_ts: dict[tuple[str, str], Message] = {}
            self._ephemerals: list[Ephemeral] = []
            self._assistant: dict[tuple[str, str], AssistantThread] = {}
            self._home_views: dict[str, dict[str, Any]] = {}
            self._reset_conversations()
            self._calls: list[Call] = []
            self._faults: dict[str, deque[_Fault]] = {}
            self._windows: dict[str, _Window] = {}
            self._latency: dict[str, float] = {}
            self._connections_opened = 0
            self._sockets_accepted = 0
            self._envelopes: dict[str, dict[str, Any]] = {}
            self._sent_at: dict[str, float] = {}
            self._deliveries: list[Delivery] = []
            self._acks: dict[str, Ack] = {}
            self._ack_log: list[Ack] = []
            self._socket_messages: list[Any] = []
            self._response_targets: dict[str, _ResponseTarget] = {}
            self._response_posts: list[ResponsePost] = []

    # ----------------------------------------------------------------- lifecycle

    thread_name = "fake-slack"

    @property
    def base_url(self) -> str:
        return f"{self.url}/"

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT/api/`` — keep the slash: AsyncWebClient joins with urljoin."""
        return f"{self.base_url}api/"

    def env(self) -> dict[str, str]:
        """Environment for an app process (``dualnova serve``) pointed at this fake."""
        return {
            "SLACK_API_URL": self.api_url,
            "SLACK_BOT_TOKEN": self.bot_token,
            "SLACK_APP_TOKEN": self.app_token,
        }

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link", self._link)
        app.router.add_get("/link/", self._link)
        app.router.add_post("/response/{rid}", self._response_url)

    async def _shutdown(self) -> None:
        """Drop the sockets first: an open WebSocket would hold the server's cleanup."""
        await self._drop(graceful=False)
        await super()._shutdown()

    def reset(self) -> None:
        """Forget messages, calls, acks, injected faults and changed settings such as
        ``refuse_streaming`` (connections stay up)."""
        self._reset_state()

    # ----------------------------------------------------------------- fault injection

    def ratelimit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP 429 and ``Retry-After``."""
        with self._lock:
            fault = _Fault("ratelimited", 429, retry_after, times)
            self._faults.setdefault(method, deque()).append(fault)

    def fail(
        self, method: str, error: str = "internal_error", times: int = 1, status: int = 200
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``{"ok": false, "error": error}``."""
        with self._lock:
            self._faults.setdefault(method, deque()).append(_Fault(error, status, None, times))

    def set_rate_limit(
        self, method: str, calls: int, per_s: float = 60.0, *, per_channel: bool = False
    ) -> None:
        """Enforce a sliding-window limit (e.g. chat.update 50/min) with real 429 replies."""
        with self._lock:
            self._windows[method] = _Window(calls, per_s, per_channel)

    def set_limit(
        self, method: str, per_minute: float, burst: int, *, per_channel: bool = False
    ) -> None:
        """Replace `method`'s rate limits (Slack's tier by default) with one token bucket."""
        with self._lock:
            self._limiter.set(method, (Limit(per_minute, burst, per_channel),))

    def unlimit(self, *methods: str) -> None:
        """No rate limit for `methods` (a test that is about something else)."""
        with self._lock:
            for method in methods:
                self._limiter.set(method, ())

    def ratelimited(self) -> dict[str, int]:
        """How many calls of each method were answered HTTP 429."""
        with self._lock:
            counts: dict[str, int] = {}
            for call in self._calls:
                if call.status == 429:
                    counts[call.method] = counts.get(call.method, 0) + 1
            return counts

    def latency(self, method: str, seconds: float) -> None:
        """Delay every reply of ``method`` (0 removes the delay)."""
        with self._lock:
            self._latency[method] = seconds

    # ----------------------------------------------------------------- inspection

    def messages(self, channel: str, thread_ts: str | None = None) -> list[Message]:
        """Final state, oldest first: the whole channel, or a thread (parent first)."""
        with self._lock:
            stored = self._channels.get(channel, [])
            if thread_ts is not None:
                stored = [m for m in stored if thread_ts in (m.ts, m.thread_ts)]
            return copy.deepcopy(stored)

    def message(self, channel: str, ts: str) -> Message:
        """One message by ``ts`` (KeyError if unknown)."""
        with self._lock:
            return copy.deepcopy(self._by_ts[(channel, ts)])

    def ephemerals(self, channel: str, user: str | None = None) -> list[Ephemeral]:
        with self._lock:
            return [
                e
                for e in self._ephemerals
                if e.channel == channel and (user is None or e.user == user)
            ]

    def reactions(self, channel: str, ts: str) -> set[str]:
        """Reaction names currently on a message."""
        with self._lock:
            message = self._by_ts.get((channel, ts))
            return {name for name, users in (message.reactions if message else {}).items() if users}

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def assistant_thread(self, channel: str, thread_ts: str) -> AssistantThread:
        with self._lock:
            return copy.deepcopy(self._assistant.get((channel, thread_ts), AssistantThread()))

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self._home_views.get(user_id))

    def response_posts(self, envelope_id: str | None = None) -> list[ResponsePost]:
        with self._lock:
            return [
                p
                for p in self._response_posts
                if envelope_id is None or p.envelope_id == envelope_id
            ]

    @property
    def acks(self) -> dict[str, Ack]:
        """First ack per envelope id (``ack_log`` keeps duplicates)."""
        with self._lock:
            return dict(self._acks)

    @property
    def ack_log(self) -> list[Ack]:
        with self._lock:
            return list(self._ack_log)

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def socket_messages(self) -> list[Any]:
        """Client frames that were not acks (should stay empty)."""
        with self._lock:
            return list(self._socket_messages)

    @property
    def connected(self) -> int:
        """Number of live Socket Mode connections (truthy when at least one)."""
        with self._lock:
            return sum(1 for c in self._conns.values() if not c.ws.closed)

    @property
    def connections_opened(self) -> int:
        """Successful apps.connections.open calls (each reconnect makes one)."""
        with self._lock:
            return self._connections_opened

    @property
    def sockets_accepted(self) -> int:
        with self._lock:
            return self._sockets_accepted

    # ----------------------------------------------------------------- waiting

    def wait_for(
        self, predicate: Callable[[], T | None], timeout: float = 5.0, *, interval: float = 0.01
    ) -> T:
        """Poll ``predicate`` until it returns something truthy; return that value."""
        _refuse_inside_event_loop("wait_for")
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(interval)

    async def wait_for_async(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 5.0,
        *,
        interval: float = 0.01,
    ) -> T:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            await asyncio.sleep(interval)

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> Ack:
        _refuse_inside_event_loop("wait_for_ack")
        return self.wait_for(lambda: self.acks.get(envelope_id), timeout)

    async def wait_for_ack_async(
        self,
        envelope_id: str,
        timeout: float = 5.0,
    ) -> Ack:
        return await self.wait_for_async(lambda: self.acks.get(envelope_id), timeout)

    def wait_connected(self, count: int = 1, timeout: float = 5.0) -> int:
        _refuse_inside_event_loop("wait_connected")
        return self.wait_for(lambda: self.connected if self.connected >= count else 0, timeout)

    async def wait_connected_async(
        self,
        count: int = 1,
        timeout: float = 5.0,
    ) -> int:
        return await self.wait_for_async(
            lambda: self.connected if self.connected >= count else 0, timeout
        )

    # ----------------------------------------------------------------- users and seeding

    def add_user(
        self, user_id: str, *, locale: str = "en-US", name: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Add (or update) a users.info record."""
        with self._lock:
            record = self.users.get(user_id) or self._default_user(user_id)
            record.update(locale=locale, **fields)
            if name is not None:
                record["name"] = name
            self.users[user_id] = record
            return record

    def _default_user(self, user_id: str) -> dict[str, Any]:
        return {
            "id": user_id,
            "team_id": self.team_id,
            "name": user_id.lower(),
            "real_name": f"User {user_id}",
            "tz": "Etc/UTC",
            "tz_label": "Coordinated Universal Time",
            "tz_offset": 0,
            "is_bot": False,
            "deleted": False,
            "locale": "en-US",
            "profile": {"real_name": f"User {user_id}", "display_name": user_id.lower()},
        }

    def add_message(
        self,
        channel: str,
        user: str,
        text: str,
        thread_ts: str | None = None,
        *,
        bot: bool = False,
        blocks: list[dict[str, Any]] | None = None,
    ) -> str:
        """Store a message without pushing any event (history for the app to read)."""
        if not _CHANNEL_RE.match(channel):
            raise ValueError(f"not a channel id: {channel!r}")
        with self._lock:
            parent = self._thread_parent(channel, thread_ts) if thread_ts else None
            if not bot and user not in self.users:
                self.users[user] = self._default_user(user)
            # History seeded for the app to read is history of a conversation it is in.
            self.join(channel)
            message = self._store(
                channel,
                text=text,
                user=user,
                bot_id=self.bot_id if bot else None,
                thread_ts=parent,
                blocks=blocks if blocks is not None else (None if bot else rich_text_blocks(text)),
            )
            return message.ts

    # ----------------------------------------------------------------- pushing envelopes

    def post_user_message(
        self,
        channel: str,
        user: str,
        text: str,
        thread_ts: str | None = None,
        *,
        to: Target = "one",
        timeout: float | None = None,
    ) -> str:
        """Store a user's message and push its ``message`` / ``app_mention`` events.

        Returns the message ts. Events follow ``subscriptions``: ``message.<type>`` for the
        channel's type, and ``app_mention`` when the text mentions the bot outside a DM.
        """
        ts = self.add_message(channel, user, text, thread_ts)
        with self._lock:
            stored = self._by_ts[(channel, ts)]
            parent = self._by_ts.get((channel, stored.thread_ts)) if stored.thread_ts else None
            base: dict[str, Any] = {
                "user": user,
                "text": text,
                "ts": ts,
                "channel": channel,
                "event_ts": ts,
                "team": self.team_id,
                "client_msg_id": str(uuid.uuid4()),
                "blocks": copy.deepcopy(stored.blocks),
            }
            if stored.thread_ts:
                base["thread_ts"] = stored.thread_ts
                base["parent_user_id"] = parent.user if parent else None
            ctype = self.conversation_type(channel)
            events: list[dict[str, Any]] = []
            if _SUBSCRIPTION_FOR[ctype] in self.subscriptions:
                events.append({"type": "message", **base, "channel_type": ctype})
            mentioned = self.bot_user_id in _MENTION_RE.findall(text)
            if mentioned and ctype != "im" and "app_mention" in self.subscriptions:
                mention = {k: v for k, v in base.items() if k != "parent_user_id"}
                events.append({"type": "app_mention", **mention})
        for event in events:
            self.push_event(event, to=to, timeout=timeout)
        return ts

    def push_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        to: Target = "one",
        timeout: float | None = None,
    ) -> str:
        """Wrap ``event`` in an ``events_api`` envelope, push it; return the envelope id."""
        event = copy.deepcopy(event)
        if "ts" in event:
            event.setdefault("event_ts", event["ts"])
        self._join_for_event(event)
        envelope = {
            "envelope_id": str(uuid.uuid4()),
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
            "payload": {
                "token": self.verification_token,
                "team_id": self.team_id,
                "context_team_id": self.team_id,
                "context_enterprise_id": None,
                "api_app_id": self.app_id,
                "event": event,
                "type": "event_callback",
                "event_id": event_id or "Ev" + uuid.uuid4().hex[:10].upper(),
                "event_time": int(float(event.get("event_ts") or time.time())),
                "authorizations": [
                    {
                        "enterprise_id": None,
                        "team_id": self.team_id,
                        "user_id": self.bot_user_id,
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
                "is_ext_shared_channel": False,
                "event_context": "4-" + uuid.uuid4().hex,
            },
        }
        return self.push_raw(envelope, to=to, timeout=timeout)

    def push_slash_command(
        self,
        command: str,
        text: str,
        user_id: str,
        channel_id: str,
        *,
        to: Target = "one",
        timeout: float | None = None,
        **fields: str,
    ) -> str:
        """Push a ``slash_commands`` envelope; its response_url posts land in the fake."""
        envelope_id = str(uuid.uuid4())
        payload = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": "fake",
            "channel_id": channel_id,
            "channel_name": channel_id.lower(),
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self._new_response_url(channel_id, user_id, None, envelope_id),
            "trigger_id": self._trigger_id(),
            **fields,
        }
        envelope = {
            "envelope_id": envelope_id,
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": payload,
        }
        return self.push_raw(envelope, to=to, timeout=timeout)

    def push_interactive(
        self, payload: dict[str, Any], *, to: Target = "one", timeout: float | None = None
    ) -> str:
        """Push an ``interactive`` envelope; missing token/team/app/response_url are filled."""
        if "type" not in payload:
            raise ValueError("interactive payloads need a type (block_actions, ...)")
        payload = copy.deepcopy(payload)
        envelope_id = str(uuid.uuid4())
        channel = payload.get("channel") or {}
        user = payload.get("user") or {}
        message = payload.get("message") or {}
        container = payload.get("container") or {}
        message_ts = message.get("ts") or container.get("message_ts")
        if message_ts and "container" not in payload:
            payload["container"] = {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel.get("id"),
                "is_ephemeral": False,
            }
        payload.setdefault("token", self.verification_token)
        payload.setdefault("team", {"id": self.team_id, "domain": "fake"})
        payload.setdefault("api_app_id", self.app_id)
        payload.setdefault("is_enterprise_install", False)
        payload.setdefault("enterprise", None)
        payload.setdefault("trigger_id", self._trigger_id())
        if payload["type"] in {"block_actions", "message_action"} and channel:
            payload.setdefault(
                "response_url",
                self._new_response_url(channel.get("id"), user.get("id"), message_ts, envelope_id),
            )
        envelope = {
            "envelope_id": envelope_id,
            "type": "interactive",
            # Only these interactions may carry a response in the ack.
            "accepts_response_payload": payload["type"] in {"view_submission", "block_suggestion"},
            "payload": payload,
        }
        return self.push_raw(envelope, to=to, timeout=timeout)

    def push_block_action(
        self,
        action_id: str,
        *,
        user: str,
        channel: str,
        message_ts: str,
        value: str | None = None,
        block_id: str = "actions",
        action_type: str = "button",
        to: Target = "one",
    ) -> str:
        """A user clicking an element of a stored message (the full message is attached)."""
        with self._lock:
            stored = self._by_ts.get((channel, message_ts))
            message = self._wire(stored) if stored else {"type": "message", "ts": message_ts}
        action: dict[str, Any] = {
            "type": action_type,
            "action_id": action_id,
            "block_id": block_id,
            "action_ts": f"{time.time():.6f}",
        }
        if value is not None:
            action["value"] = value
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "channel": {"id": channel, "name": channel.lower()},
            "message": message,
            "actions": [action],
            "state": {"values": {}},
        }
        return self.push_interactive(payload, to=to)

    def push_raw(
        self, envelope: dict[str, Any], *, to: Target = "one", timeout: float | None = None
    ) -> str:
        """Send an envelope as-is to one connection (round-robin), ``"all"``, or a conn id.

        Waits up to ``timeout`` (default 5 s) for a connection; from inside an event loop the
        default is 0, because the app that should connect may be waiting for this very loop.
        """
        if timeout is None:
            timeout = 0.0 if _inside_event_loop() else 5.0
        with self._lock:
            envelope_id = str(envelope["envelope_id"])
            self._envelopes[envelope_id] = copy.deepcopy(envelope)
        return self._run(self._deliver(envelope, to, timeout), timeout=timeout + 10)

    def redeliver(
        self,
        envelope_id: str,
        retry_attempt: int = 1,
        retry_reason: str = "timeout",
        *,
        to: Target = "one",
        timeout: float | None = None,
    ) -> str:
        """Resend an envelope as Slack's retry: same payload and event_id, new envelope id."""
        with self._lock:
            original = self._envelopes.get(envelope_id)
            if original is None:
                raise KeyError(envelope_id)
            envelope = copy.deepcopy(original)
        envelope.update(
            envelope_id=str(uuid.uuid4()), retry_attempt=retry_attempt, retry_reason=retry_reason
        )
        return self.push_raw(envelope, to=to, timeout=timeout)

    def drop_socket(self, *, graceful: bool = False) -> None:
        """Close every client socket: abruptly (TCP abort) or with a WebSocket close frame."""
        self._run(self._drop(graceful=graceful), timeout=15)

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``{"type": "disconnect"}`` warning to every connection."""
        frame = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
        self._run(self._broadcast(json.dumps(frame)), timeout=10)

    def _new_response_url(
        self, channel: str | None, user: str | None, message_ts: str | None, envelope_id: str
    ) -> str:
        rid = uuid.uuid4().hex
        with self._lock:
            self._response_targets[rid] = _ResponseTarget(channel, user, message_ts, envelope_id)
        return f"{self.base_url}response/{rid}"

    @staticmethod
    def _trigger_id() -> str:
        return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"

    # ----------------------------------------------------------------- socket mode (fake loop)

    async def _link(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            if request.query.get("ticket") not in self._tickets:
                return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        ws = web.WebSocketResponse(autoping=True)  # autoping: answer the SDK's pings with pongs
        await ws.prepare(request)
        with self._lock:
            conn = _Connection(next(self._conn_ids), ws, request, time.monotonic())
            self._conns[conn.id] = conn
            self._sockets_accepted += 1
            live = sum(1 for c in self._conns.values() if not c.ws.closed)
        hello = {
            "type": "hello",
            "num_connections": live,
            "debug_info": {
                "host": "applink-fake",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        try:
            await ws.send_str(json.dumps(hello))
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self._on_client_frame(conn, frame.data)
        except ConnectionError:
            pass  # dropped mid-frame (drop_socket, or the client went away): the socket is done
        finally:
            with self._lock:
                self._conns.pop(conn.id, None)
        return ws

    def _on_client_frame(self, conn: _Connection, data: str) -> None:
        now = time.monotonic()
        try:
            frame = json.loads(data)
        except ValueError:
            frame = None
        with self._lock:
            if not isinstance(frame, dict) or "envelope_id" not in frame:
                self._socket_messages.append(frame if frame is not None else data)
                return
            envelope_id = str(frame["envelope_id"])
            sent_at = self._sent_at.get(envelope_id)
            ack = Ack(
                envelope_id,
                now,
                None if sent_at is None else now - sent_at,
                frame.get("payload"),
                conn.id,
            )
            self._ack_log.append(ack)
            self._acks.setdefault(envelope_id, ack)

    def _live(self) -> list[_Connection]:
        with self._lock:
            return [c for c in self._conns.values() if not c.ws.closed]

    async def _deliver(self, envelope: dict[str, Any], to: Target, wait_s: float) -> str:
        envelope_id = str(envelope["envelope_id"])
        deadline = time.monotonic() + wait_s
        while not self._live():
            if time.monotonic() >= deadline:
                raise ConnectionError("no Socket Mode connection to push to")
            await asyncio.sleep(0.01)
        live = self._live()
        if to == "all":
            targets = live
        elif isinstance(to, int):
            targets = [c for c in live if c.id == to]
        else:  # round-robin, falling over to the next socket if a send fails
            start = next(self._round_robin)
            targets = [live[(start + i) % len(live)] for i in range(len(live))]
        raw = json.dumps(envelope)
        sent = 0
        for conn in targets:
            try:
                await conn.ws.send_str(raw)
            except (ConnectionError, RuntimeError):
                continue
            now = time.monotonic()
            with self._lock:
                self._sent_at.setdefault(envelope_id, now)
                self._deliveries.append(
                    Delivery(envelope_id, str(envelope.get("type")), conn.id, now, envelope)
                )
            sent += 1
            if to == "one":
                break
        if not sent:
            raise ConnectionError("no Socket Mode connection accepted the envelope")
        if self.auto_redeliver and envelope.get("type") == "events_api":
            asyncio.get_running_loop().create_task(self._redeliver_unacked(envelope))
        return envelope_id

    async def _redeliver_unacked(self, envelope: dict[str, Any]) -> None:
        await asyncio.sleep(self.ack_timeout_s)
        attempt = int(envelope.get("retry_attempt") or 0) + 1
        with self._lock:
            if envelope["envelope_id"] in self._acks or attempt > 3:
                return
            retry = {
                **copy.deepcopy(envelope),
                "envelope_id": str(uuid.uuid4()),
                "retry_attempt": attempt,
                "retry_reason": "timeout",
            }
            self._envelopes[retry["envelope_id"]] = retry
        with contextlib.suppress(ConnectionError):
            await self._deliver(retry, "one", wait_s=self.ack_timeout_s)

    async def _drop(self, *, graceful: bool) -> None:
        for conn in self._live():
            if graceful:
                await conn.ws.close(code=1001, message=b"going away")
            elif conn.request.transport is not None:
                conn.request.transport.abort()
            else:
                await conn.ws.close()

    async def _broadcast(self, raw: str) -> None:
        for conn in self._live():
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.send_str(raw)

    # ----------------------------------------------------------------- web api (fake loop)

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            args = await self._read_args(request)
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_json"})
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else None
        token = token or args.pop("token", None)
        args.pop("token", None)
        delay = self._latency.get(method, 0.0)
        if delay:
            await asyncio.sleep(delay)
        with self._lock:
            status, headers, body = self._dispatch(method, args, token)
            self._calls.append(
                Call(
                    method=method,
                    args=copy.deepcopy(args),
                    at=time.monotonic(),
                    status=status,
                    response=copy.deepcopy(body),
                    http_method=request.method,
                    content_type=request.content_type if request.body_exists else "",
                    token=token,
                )
            )
        return web.json_response(body, status=status, headers=headers)

    @staticmethod
    async def _read_args(request: web.Request) -> Args:
        args: Args = dict(request.query)
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    args.update(body)
            else:
                form = await request.post()
                args.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in _JSON_ARGS & args.keys():
            value = args[key]
            if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(value)
        return args

    def _dispatch(
        self, method: str, args: Args, token: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        headers = {"x-oauth-scopes": self.scopes}
        try:
            handler = self._handlers.get(method)
            if handler is None:
                raise SlackApiFault("unknown_method")
            self._authorize(method, token)
            self._check_scope(method, args)
            self._apply_faults(method, args)
            self._apply_tier(method, args)
            return 200, headers, {"ok": True, **handler(args)}
        except SlackApiFault as fault:
            return fault.status, {**headers, **fault.headers}, fault.body()

    def _authorize(self, method: str, token: str | None) -> None:
        if not token:
            raise SlackApiFault("not_authed")
        wanted, other = (
            (self.app_token, self.bot_token)
            if method in APP_TOKEN_METHODS
            else (self.bot_token, self.app_token)
        )
        if token == other:
            raise SlackApiFault("not_allowed_token_type")
        if token != wanted:
            raise SlackApiFault("invalid_auth")

    def _apply_faults(self, method: str, args: Args) -> None:
        queue = self._faults.get(method)
        if queue:
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            raise SlackApiFault(fault.error, status=fault.status, headers=headers)
        window = self._windows.get(method)
        if window is None:
            return
        key = _opt_str(args, "channel") if window.per_channel else None
        hits = window.hits.setdefault(key, deque())
        now = time.monotonic()
        while hits and now - hits[0] >= window.per_s:
            hits.popleft()
        if len(hits) >= window.calls:
            retry_after = max(1, math.ceil(window.per_s - (now - hits[0])))
            raise SlackApiFault(
                "ratelimited", status=429, headers={"Retry-After": str(retry_after)}
            )
        hits.append(now)

    def _check_scope(self, method: str, args: Args) -> None:
        granted = {s.strip() for s in self.scopes.split(",") if s.strip()}
        needed = needed_scope(method, _opt_str(args, "channel"), granted)
        if needed is not None:
            raise SlackApiFault("missing_scope", extra={"needed": needed, "provided": self.scopes})

    def _apply_tier(self, method: str, args: Args) -> None:
        if not self.limits_on:
            return
        retry_after = self._limiter.take(method, _opt_str(args, "channel"))
        if retry_after is not None:
            raise SlackApiFault(
                "ratelimited", status=429, headers={"Retry-After": str(retry_after)}
            )

    # ----------------------------------------------------------------- state helpers (locked)

    def _next_ts(self) -> str:
        micros = 1_700_000_000_000_000 + 100 * next(self._ts_counter) + self._ts_offset_us
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _store(self, channel: str, **fields: Any) -> Message:
        message = Message(channel=channel, ts=self._next_ts(), **fields)
        self._channels.setdefault(channel, []).append(message)
        self._by_ts[(channel, message.ts)] = message
        return message

    def _channel(self, args: Args, key: str = "channel") -> str:
        channel = _opt_str(args, key)
        if channel is None or not _CHANNEL_RE.match(channel):
            raise SlackApiFault("channel_not_found")
        return channel

    def _find(self, channel: str, ts: str | None) -> Message:
        message = self._by_ts.get((channel, ts or ""))
        if message is None:
            raise SlackApiFault("message_not_found")
        return message

    def _thread_parent(self, channel: str, thread_ts: str | None) -> str | None:
        """The parent ts a reply lands under (a reply's ts resolves to its parent)."""
        if thread_ts is None:
            return None
        message = self._by_ts.get((channel, thread_ts))
        if message is None:
            if self.strict_threads:
                raise SlackApiFault("thread_not_found")
            return thread_ts
        return message.thread_ts or message.ts

    def _own(self, message: Message, error: str) -> None:
        if message.bot_id != self.bot_id:
            raise SlackApiFault(error)

    def _content(self, args: Args, *, required: bool = True) -> tuple[str | None, Any]:
        """Validate text / markdown_text / blocks; return (text, blocks) as given."""
        text, blocks = _opt_str(args, "text"), args.get("blocks")
        markdown = _opt_str(args, "markdown_text")
        if markdown is not None:
            if text is not None or blocks is not None:
                raise SlackApiFault(
                    "invalid_arguments",
                    messages=["[ERROR] markdown_text cannot be used with text or blocks"],
                )
            if len(markdown) > MAX_MARKDOWN_TEXT:
                raise SlackApiFault("msg_too_long")
            text = markdown
        if blocks is not None:
            blocks = validate_blocks(blocks)
        if required and not (text or blocks or args.get("attachments")):
            raise SlackApiFault("no_text")
        if text is not None and len(text) > MAX_TEXT:
            raise SlackApiFault("msg_too_long")
        return text, blocks

    def _stream_content(self, args: Args) -> tuple[str, list[dict[str, Any]]]:
        """Markdown text of a stream call (markdown_text + markdown chunks) and other chunks."""
        parts: list[str] = []
        others: list[dict[str, Any]] = []
        markdown = _opt_str(args, "markdown_text")
        if markdown is not None:
            if len(markdown) > MAX_MARKDOWN_TEXT:
                raise SlackApiFault("msg_too_long")
            parts.append(markdown)
        chunks = args.get("chunks")
        if chunks is not None and not isinstance(chunks, list):
            raise SlackApiFault("invalid_chunks")
        for i, chunk in enumerate(chunks or []):
            kind = chunk.get("type") if isinstance(chunk, dict) else None
            if kind not in STREAM_CHUNK_TYPES:
                raise SlackApiFault(
                    "invalid_chunks", messages=[f"[ERROR] unsupported type: {kind} [/chunks/{i}]"]
                )
            if kind == "markdown_text":
                text = chunk.get("text")
                if not isinstance(text, str):
                    raise SlackApiFault("invalid_chunks")
                if len(text) > MAX_MARKDOWN_TEXT:
                    raise SlackApiFault("msg_too_long")
                parts.append(text)
            else:
                if kind == "blocks":
                    validate_blocks(chunk.get("blocks"))
                others.append(chunk)
        return "".join(parts), others

    def _streaming(self, message: Message) -> None:
        timeout = self.stream_timeout_s
        now = time.monotonic()
        idle = now - message.last_activity
        if message.streaming and timeout is not None and idle > timeout:
            message.streaming = False
        if message.streaming and now - message.created_at > self.stream_lifetime_s:
            message.streaming = False
        if not message.streaming:
            raise SlackApiFault("message_not_in_streaming_state")

    def _replies(self, channel: str, parent_ts: str) -> list[Message]:
        return [m for m in self._channels.get(channel, []) if m.thread_ts == parent_ts]

    def _clear_status(self, channel: str, thread_ts: str | None) -> None:
        # Slack clears an assistant thread's status when the app replies in it.
        thread = self._assistant.get((channel, thread_ts or ""))
        if thread is not None:
            thread.status = ""

    def _wire(self, message: Message) -> dict[str, Any]:
        """A message as Slack returns it from history/replies."""
        out: dict[str, Any] = {
            "type": "message",
            "ts": message.ts,
            "text": message.text,
            "team": self.team_id,
        }
        if message.user:
            out["user"] = message.user
        if message.bot_id:
            out.update(bot_id=message.bot_id, app_id=self.app_id)
        if message.blocks is not None:
            out["blocks"] = copy.deepcopy(message.blocks)
        if message.thread_ts:
            parent = self._by_ts.get((message.channel, message.thread_ts))
            out["thread_ts"] = message.thread_ts
            out["parent_user_id"] = parent.user if parent else None
        else:
            replies = self._replies(message.channel, message.ts)
            if replies:
                users = list(dict.fromkeys(r.user for r in replies if r.user))
                out.update(
                    thread_ts=message.ts,
                    reply_count=len(replies),
                    reply_users=users,
                    reply_users_count=len(users),
                    latest_reply=replies[-1].ts,
                )
        if message.edits:
            out["edited"] = {"user": message.user, "ts": message.edits[-1].ts}
        if message.metadata:
            out["metadata"] = copy.deepcopy(message.metadata)
        reactions = [
            {"name": name, "users": sorted(users), "count": len(users)}
            for name, users in message.reactions.items()
            if users
        ]
        if reactions:
            out["reactions"] = reactions
        return out

    def _page(self, messages: list[Message], args: Args, default_limit: int) -> dict[str, Any]:
        """Cursor pagination shared by conversations.history and conversations.replies."""
        after = _decode_cursor(_opt_str(args, "cursor"))
        if after is not None:
            index = next((i for i, m in enumerate(messages) if m.ts == after), len(messages))
            messages = messages[index:]
        limit = int(args.get("limit") or default_limit)
        page, rest = messages[:limit], messages[limit:]
        body: dict[str, Any] = {
            "messages": [self._wire(m) for m in page],
            "has_more": bool(rest),
        }
        body["response_metadata"] = {"next_cursor": _encode_cursor(rest[0].ts) if rest else ""}
        return body

    # ----------------------------------------------------------------- methods (locked)

    def _auth_test(self, args: Args) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_id.lower()}.slack.com/",
            "team": "Fake Team",
            "user": "dualnova",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, args: Args) -> dict[str, Any]:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        self._connections_opened += 1
        return {"url": f"ws://{self.host}:{self._port}/link?ticket={ticket}&app_id={self.app_id}"}

    def _chat_post_message(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        text, blocks = self._content(args)
        thread_ts = self._thread_parent(channel, _opt_str(args, "thread_ts"))
        message = self._store(
            channel,
            text=text or "",
            user=self.bot_user_id,
            bot_id=self.bot_id,
            thread_ts=thread_ts,
            blocks=blocks,
            metadata=args.get("metadata"),
        )
        self._clear_status(channel, thread_ts)
        return {"channel": channel, "ts": message.ts, "message": self._wire(message)}

    def _updatable(self, args: Args) -> tuple[str, Message]:
        """The channel and the bot's own message that ``ts`` names (else Slack's error)."""
        channel = self._channel(args)
        message = self._find(channel, _opt_str(args, "ts"))
        self._own(message, "cant_update_message")
        return channel, message

    def _chat_update(self, args: Args) -> dict[str, Any]:
        channel, message = self._updatable(args)
        text, blocks = self._content(args)
        # Omitted fields keep their previous value; an empty blocks list removes blocks.
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = blocks or None
        if "metadata" in args:
            message.metadata = args["metadata"]
        message.edits.append(Edit(time.monotonic(), self._next_ts(), message.text, message.blocks))
        return {
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": self._wire(message),
        }

    def _chat_post_ephemeral(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        user = _opt_str(args, "user")
        if user is None:
            raise SlackApiFault("user_not_found")
        text, blocks = self._content(args)
        thread_ts = self._thread_parent(channel, _opt_str(args, "thread_ts"))
        ts = self._next_ts()
        self._ephemerals.append(
            Ephemeral(channel, user, ts, text or "", blocks, thread_ts, via="api")
        )
        return {"message_ts": ts}

    def _chat_delete(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find(channel, _opt_str(args, "ts"))
        self._own(message, "cant_delete_message")
        self._delete(message)
        return {"channel": channel, "ts": message.ts}

    def _delete(self, message: Message) -> None:
        self._channels[message.channel].remove(message)
        del self._by_ts[(message.channel, message.ts)]

    def _chat_get_permalink(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find(channel, _opt_str(args, "message_ts"))
        link = f"https://fake.slack.com/archives/{channel}/p{message.ts.replace('.', '')}"
        return {"channel": channel, "permalink": link}

    def _chat_start_stream(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        thread_ts = _opt_str(args, "thread_ts")
        if thread_ts is None:
            raise _missing("thread_ts")
        refused = self.refuse_streaming
        if refused is True or (isinstance(refused, set) and channel in refused):
            raise SlackApiFault("channel_type_not_supported")
        recipient_user = _opt_str(args, "recipient_user_id")
        recipient_team = _opt_str(args, "recipient_team_id")
        if channel_type(channel) != "im" and not (recipient_user and recipient_team):
            raise _missing("recipient_user_id" if not recipient_user else "recipient_team_id")
        parent = self._thread_parent(channel, thread_ts)
        text, others = self._stream_content(args)
        message = self._store(
            channel,
            text=text,
            user=self.bot_user_id,
            bot_id=self.bot_id,
            thread_ts=parent,
            streamed=True,
            streaming=True,
            stream_parts=[text] if text else [],
            stream_chunks=others,
            recipient_user_id=recipient_user,
            recipient_team_id=recipient_team,
        )
        self._clear_status(channel, parent)
        return {"channel": channel, "ts": message.ts}

    def _chat_append_stream(self, args: Args) -> dict[str, Any]:
        channel, message = self._updatable(args)
        self._streaming(message)
        self._extend_stream(message, args)
        return {"channel": channel, "ts": message.ts}

    def _chat_stop_stream(self, args: Args) -> dict[str, Any]:
        channel, message = self._updatable(args)
        self._streaming(message)
        blocks = args.get("blocks")
        if blocks is not None:
            blocks = validate_blocks(blocks)
        self._extend_stream(message, args)
        if blocks:
            message.blocks = blocks
        if args.get("metadata") is not None:
            message.metadata = args["metadata"]
        message.streaming = False
        return {"channel": channel, "ts": message.ts, "message": self._wire(message)}

    def _extend_stream(self, message: Message, args: Args) -> None:
        text, others = self._stream_content(args)
        if text:
            message.text += text
            message.stream_parts.append(text)
        message.stream_chunks.extend(others)
        message.last_activity = time.monotonic()

    def _reactions_add(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find(channel, _opt_str(args, "timestamp"))
        name = _opt_str(args, "name")
        if name is None:
            raise SlackApiFault("invalid_name")
        users = message.reactions.setdefault(name.strip(":"), set())
        if self.bot_user_id in users:
            raise SlackApiFault("already_reacted")
        users.add(self.bot_user_id)
        return {}

    def _reactions_remove(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find(channel, _opt_str(args, "timestamp"))
        name = (_opt_str(args, "name") or "").strip(":")
        users = message.reactions.get(name, set())
        if self.bot_user_id not in users:
            raise SlackApiFault("no_reaction")
        users.discard(self.bot_user_id)
        return {}

    def _conversations_replies(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        ts = _opt_str(args, "ts")
        if ts is None:
            raise _missing("ts")
        anchor = self._by_ts.get((channel, ts))
        if anchor is None:
            raise SlackApiFault("thread_not_found")
        parent_ts = anchor.thread_ts or anchor.ts
        # The parent always comes first, then the replies in the oldest/latest window, oldest
        # first: reading the newest turns takes a window (`oldest`), not a bigger limit.
        parent = self._by_ts.get((channel, parent_ts))
        window = self._in_window(self._replies(channel, parent_ts), args)
        thread = ([parent] if parent is not None else []) + window
        return self._page(thread, args, default_limit=1000)

    def _conversations_history(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        top_level = [m for m in reversed(self._channels.get(channel, [])) if not m.thread_ts]
        return self._page(top_level, args, default_limit=100)

    def _conversations_info(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        ctype = self.conversation_type(channel)
        return {
            "channel": {
                "id": channel,
                "name": channel.lower(),
                "is_channel": ctype == "channel",
                "is_group": ctype == "group",
                "is_im": ctype == "im",
                "is_mpim": ctype == "mpim",
                "is_private": ctype != "channel",
                "is_member": channel in self._members,
            }
        }

    def _users_info(self, args: Args) -> dict[str, Any]:
        user_id = _opt_str(args, "user")
        record = self.users.get(user_id or "")
        if record is None:
            raise SlackApiFault("user_not_found")
        user = {"id": user_id, **copy.deepcopy(record)}
        if not _truthy(args.get("include_locale")):
            user.pop("locale", None)
        return {"user": user}

    def _assistant_thread(self, args: Args) -> AssistantThread:
        channel = self._channel(args, "channel_id")
        thread_ts = _opt_str(args, "thread_ts")
        if thread_ts is None:
            raise _missing("thread_ts")
        return self._assistant.setdefault((channel, thread_ts), AssistantThread())

    def _assistant_set_status(self, args: Args) -> dict[str, Any]:
        if "status" not in args:
            raise _missing("status")
        thread = self._assistant_thread(args)
        thread.status = str(args["status"])
        thread.status_history.append(thread.status)
        thread.loading_messages = args.get("loading_messages")
        return {}

    def _assistant_set_prompts(self, args: Args) -> dict[str, Any]:
        prompts = args.get("prompts")
        if not isinstance(prompts, list):
            raise _missing("prompts")
        thread = self._assistant_thread(args)
        thread.prompts = prompts
        thread.prompts_title = _opt_str(args, "title")
        return {}

    def _assistant_set_title(self, args: Args) -> dict[str, Any]:
        title = _opt_str(args, "title")
        if title is None:
            raise _missing("title")
        self._assistant_thread(args).title = title
        return {}

    def _views_publish(self, args: Args) -> dict[str, Any]:
        user_id = _opt_str(args, "user_id")
        if user_id is None:
            raise SlackApiFault("user_not_found")
        view = args.get("view")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise SlackApiFault("invalid_arguments", messages=["[ERROR] view.type must be home"])
        validate_blocks(view.get("blocks", []), limit=MAX_VIEW_BLOCKS)
        published = {"id": "V" + uuid.uuid4().hex[:10].upper(), "team_id": self.team_id, **view}
        self._home_views[user_id] = published
        return {"view": copy.deepcopy(published)}

    # ----------------------------------------------------------------- response_url (fake loop)

    async def _response_url(self, request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        with self._lock:
            target = self._response_targets.get(rid)
            error = "expired_url" if target is None else self._spend_response_url(rid, target)
            if error is not None:
                return web.json_response({"ok": False, "error": error}, status=404)
            self._response_posts.append(
                ResponsePost(rid, target.envelope_id, copy.deepcopy(body), time.monotonic())
            )
            try:
                self._apply_response(target, body)
            except SlackApiFault as fault:
                return web.json_response(fault.body(), status=fault.status)
        return web.json_response({"ok": True})

    def _apply_response(self, target: _ResponseTarget, body: dict[str, Any]) -> None:
        original = self._by_ts.get((target.channel or "", target.message_ts or ""))
        if _truthy(body.get("delete_original")):
            if original is not None:
                self._delete(original)
            return
        text, blocks = self._content(body)
        if _truthy(body.get("replace_original")) and original is not None:
            original.text = text or ""
            original.blocks = blocks
            original.edits.append(Edit(time.monotonic(), self._next_ts(), original.text, blocks))
        elif body.get("response_type") == "in_channel" and target.channel:
            thread_ts = self._thread_parent(target.channel, _opt_str(body, "thread_ts"))
            self._store(
                target.channel,
                text=text or "",
                user=self.bot_user_id,
                bot_id=self.bot_id,
                thread_ts=thread_ts,
                blocks=blocks,
            )
        elif target.channel:
            self._ephemerals.append(
                Ephemeral(
                    target.channel,
                    target.user,
                    self._next_ts(),
                    text or "",
                    blocks,
                    _opt_str(body, "thread_ts"),
                    via="response_url",
                )
            )

    # ----------------------------------------------------------------- conversations: membership,
    # group DMs, history reads, response_url lifetime (locked unless noted)

    def _reset_conversations(self) -> None:
        """Knobs and state of this section; part of ``reset()``.

        - ``_members``: conversations the bot is in. Joined by the events Slack sends it there
          (``post_user_message``, ``push_event``), by seeded history (``add_message``), or
          by ``join()``; a slash command or button from elsewhere does not make it a member.
        - ``non_marketplace``: conversations.replies/history at 1 call a minute, ``limit``
          capped at 15, as Slack does for apps not approved for the Marketplace.
        - ``response_url_ttl_s`` / ``response_url_uses``: 30 minutes, 5 posts.
        """
        self._members: set[str] = set()
        self._mpims: set[str] = set()
        self.non_marketplace = False
        self.response_url_ttl_s: float = RESPONSE_URL_TTL_S
        self.response_url_uses = RESPONSE_URL_USES
        self._response_uses: dict[str, int] = {}
        self._history_reads: dict[str, deque[float]] = {}
        self._ts_offset_us = 0

    def join(self, channel: str) -> None:
        """Make the bot a member of ``channel`` (an invite, or the bot joining)."""
        with self._lock:
            self._members.add(channel)

    def leave(self, channel: str) -> None:
        with self._lock:
            self._members.discard(channel)

    def is_member(self, channel: str) -> bool:
        with self._lock:
            return channel in self._members

    def add_mpim(self, channel: str) -> None:
        """Declare ``channel`` (a G... id, as Slack gives group DMs) a group DM."""
        if not channel.startswith("G"):
            raise ValueError(f"group DM ids start with G: {channel!r}")
        with self._lock:
            self._mpims.add(channel)

    def conversation_type(self, channel: str) -> str:
        """Slack's ``channel_type``: "channel", "group", "mpim" or "im"."""
        with self._lock:
            return "mpim" if channel in self._mpims else channel_type(channel)

    def dm_channel(self, user: str) -> str:
        """The id of the bot's DM with ``user`` (where ``channel=<user id>`` posts land)."""
        return "D" + user[1:]

    def advance_ts(self, seconds: float) -> None:
        """Make later message timestamps ``seconds`` newer (a thread that went quiet, resumed)."""
        with self._lock:
            self._ts_offset_us += int(seconds * 1_000_000)

    def _join_for_event(self, event: dict[str, Any]) -> None:
        thread = event.get("assistant_thread") or {}
        channel = event.get("channel") or thread.get("channel_id")
        if isinstance(channel, str) and _CHANNEL_RE.match(channel):
            self.join(channel)

    def _guard_conversations(self) -> None:
        """Wrap the handlers that need membership or fall under the non-Marketplace cap."""
        for method in _POSTING | _READING:
            self._handlers[method] = self._guarded(method, self._handlers[method])

    def _guarded(
        self, method: str, handler: Callable[[Args], dict[str, Any]]
    ) -> Callable[[Args], dict[str, Any]]:
        def guarded(args: Args) -> dict[str, Any]:
            channel = _opt_str(args, "channel") or ""
            if method == "chat.postMessage" and re.match(r"^[UW][A-Z0-9]+$", channel):
                # A bot posting to a user id writes in its DM with that person (App Home).
                args = {**args, "channel": self.dm_channel(channel)}
                self._members.add(args["channel"])
            elif _CHANNEL_RE.match(channel) and channel not in self._members:
                self._refuse_non_member(method, channel)
            if method in _READING and self.non_marketplace:
                self._pace_history_read(method)
                limit = int(args.get("limit") or NON_MARKETPLACE_LIMIT)
                args = {**args, "limit": min(limit, NON_MARKETPLACE_LIMIT)}
            return handler(args)

        return guarded

    def _refuse_non_member(self, method: str, channel: str) -> None:
        public = self.conversation_type(channel) == "channel"
        scopes = {s.strip() for s in self.scopes.split(",")}
        if public and method == "chat.postMessage" and "chat:write.public" in scopes:
            return
        # Slack does not reveal private conversations to non-members: they "do not exist".
        raise SlackApiFault("not_in_channel" if public else "channel_not_found")

    def _pace_history_read(self, method: str) -> None:
        hits = self._history_reads.setdefault(method, deque())
        now = time.monotonic()
        while hits and now - hits[0] >= NON_MARKETPLACE_PER_S:
            hits.popleft()
        if hits:
            retry_after = max(1, math.ceil(NON_MARKETPLACE_PER_S - (now - hits[0])))
            raise SlackApiFault(
                "ratelimited", status=429, headers={"Retry-After": str(retry_after)}
            )
        hits.append(now)

    @staticmethod
    def _in_window(messages: list[Message], args: Args) -> list[Message]:
        oldest, latest = _opt_str(args, "oldest"), _opt_str(args, "latest")
        inclusive = _truthy(args.get("inclusive"))

        def inside(ts: str) -> bool:
            value = float(ts)
            if oldest is not None and (
                value < float(oldest) or (value == float(oldest) and not inclusive)
            ):
                return False
            return latest is None or value < float(latest) or (value == float(latest) and inclusive)

        return [m for m in messages if inside(m.ts)]

    def _spend_response_url(self, rid: str, target: _ResponseTarget) -> str | None:
        """None when the URL may post now (and counts the use); else Slack's error."""
        if time.monotonic() - target.created_at > self.response_url_ttl_s:
            return "expired_url"
        used = self._response_uses.get(rid, 0)
        if used >= self.response_url_uses:
            return "used_url"
        self._response_uses[rid] = used + 1
        return None
