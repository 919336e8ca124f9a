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

One front door, parts by API family: ``FakeSlack`` (here) holds the state, the lock, the
HTTP dispatch, fault injection and inspection, and mixes in ``chat`` (chat.*, reactions.*),
``conversations`` (conversations.*, users.info, membership), ``assistant``, ``views``,
``socket`` (pushing envelopes, acks) and ``response_url``; ``records`` holds what the fake
stores and records, ``blocks`` the Block Kit checks.

The server runs in its own thread and event loop, so one fake serves sync tests, async
tests and an app running as a subprocess. Every public method is thread-safe. The blocking
helpers (``wait_for``, ``wait_for_ack``) refuse to run inside an event loop, where they
would starve an in-process app; use their ``*_async`` twins there.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from fakes.loopback import LoopbackServer
from fakes.slack.assistant import AssistantApi
from fakes.slack.blocks import MAX_MARKDOWN_TEXT, MAX_TEXT, rich_text_blocks, validate_blocks
from fakes.slack.chat import ChatApi
from fakes.slack.conversations import ConversationsApi
from fakes.slack.records import (
    _CHANNEL_RE,
    _JSON_ARGS,
    APP_TOKEN_METHODS,
    DEFAULT_SUBSCRIPTIONS,
    STREAM_CHUNK_TYPES,
    Ack,
    Args,
    AssistantThread,
    Call,
    Delivery,
    Edit,
    Ephemeral,
    Message,
    ResponsePost,
    SlackApiFault,
    T,
    _Connection,
    _decode_cursor,
    _encode_cursor,
    _Fault,
    _opt_str,
    _refuse_inside_event_loop,
    _ResponseTarget,
    _Window,
    channel_type,
)
from fakes.slack.response_url import ResponseUrls
from fakes.slack.socket import SocketMode
from fakes.slack.views import ViewsApi
from fakes.slack_limits import MANIFEST_SCOPES, STREAM_LIFETIME_S, Limit, RateLimiter, needed_scope

__all__ = [
    "Ack",
    "AssistantThread",
    "Call",
    "Delivery",
    "Edit",
    "Ephemeral",
    "FakeSlack",
    "Message",
    "ResponsePost",
    "SlackApiFault",
    "channel_type",
    "member_of",
    "rich_text_blocks",
    "validate_blocks",
]


def member_of(fake: FakeSlack, *channels: str) -> None:
    """Make the bot a member of `channels`, for tests that post there without an event.

    Channel membership is modelled by its own part of the fake (``join``); where that part
    is absent every conversation is open, and this does nothing."""
    join = getattr(fake, "join", None)
    for channel in channels:
        if join is not None:
            join(channel)


# --------------------------------------------------------------------------- the fake


class FakeSlack(
    SocketMode, ChatApi, ConversationsApi, AssistantApi, ViewsApi, ResponseUrls, LoopbackServer
):
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
            if not bot:
                self._people.setdefault(channel, set()).add(user)
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
