"""One governor for every Slack Web API call: pace before Slack's limits, never retry into them.

Slack limits each method per app per workspace (tiers: 1 ≈ 1/min, 2 ≈ 20/min, 3 ≈ 50/min,
4 ≈ 100/min, short bursts tolerated; chat.postMessage ≈ 1/s per channel) and warns that apps
that keep calling after 429s may be disabled. `GovernedClient` is an `AsyncWebClient` whose
`api_call` takes a token from the method's budget first, so Bolt's `say` / `set_status`,
slack_sdk's `chat_stream()` and every module's own calls are paced without knowing it.

- Budgets are token buckets (`DEFAULT_BUDGETS`, changed by SLACK_METHOD_LIMITS); with
  SLACK_TASKS tasks each takes 1/N of every budget, since the limits are per workspace.
- A 429 pauses its method for `Retry-After` (for the whole workspace: every call of the
  method waits), and an answer's call is sent again after the pause.
- Waiting calls are served by priority: the answer's text and footer, then command replies,
  then stream appends and edits. A cosmetic call (👀, assistant status, a progress edit) is
  never queued: when its budget has no token right now it raises `Skipped`, a
  `SlackApiError` (error `skipped_by_governor`) that callers' `except SlackApiError` already
  handle as "that did not happen".
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncServerErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.slack_rates import Budget

log = logging.getLogger(__name__)


class Priority(IntEnum):
    """Lower goes first when calls wait for the same budget."""

    ANSWER = 0  # the answer's text and footer: always delivered
    COMMAND = 1  # replies to slash commands and actions, reads the answer needs
    STREAM = 2  # stream appends and edits: late is fine, they catch up
    COSMETIC = 3  # 👀, assistant status, progress: skipped when the budget is short


TIER_1 = Budget(1, 2)
TIER_2 = Budget(20, 5)
TIER_3 = Budget(50, 10)
TIER_4 = Budget(100, 20)

#: Slack's published limits, as the bot budgets them. Slack publishes no burst sizes: these
#: are small on purpose. assistant.threads.setStatus is "special" (unpublished): Tier 3 here.
#: conversations.replies/history: the cap of apps not approved for the Slack Marketplace
#: (1 a minute, since 2025); a Marketplace app can raise it with SLACK_METHOD_LIMITS.
DEFAULT_BUDGETS: Mapping[str, tuple[Budget, ...]] = {
    "apps.connections.open": (TIER_1,),
    "chat.postMessage": (Budget(60, 3, per_channel=True), Budget(300, 30)),
    "chat.postEphemeral": (TIER_4,),
    "chat.update": (TIER_3,),
    "chat.delete": (TIER_3,),
    "chat.getPermalink": (TIER_4,),
    "chat.startStream": (TIER_2,),
    "chat.appendStream": (TIER_4,),
    "chat.stopStream": (TIER_2,),
    "reactions.add": (TIER_3,),
    "reactions.remove": (TIER_2,),
    "conversations.replies": (Budget(1, 1),),
    "conversations.history": (Budget(1, 1),),
    "conversations.info": (TIER_3,),
    "users.info": (TIER_4,),
    "assistant.threads.setStatus": (TIER_3,),
    "assistant.threads.setSuggestedPrompts": (TIER_4,),
    "assistant.threads.setTitle": (TIER_4,),
    "views.publish": (TIER_4,),
    "auth.test": (TIER_4,),
}

_DEFAULT_PRIORITY: Mapping[str, Priority] = {
    "chat.postMessage": Priority.ANSWER,
    "chat.startStream": Priority.ANSWER,
    "chat.stopStream": Priority.ANSWER,
    "chat.appendStream": Priority.STREAM,
    "chat.update": Priority.STREAM,
    # Reads whose caller does without (thread memory rebuilds): skipped, never waited for.
    "conversations.replies": Priority.COSMETIC,
    "conversations.history": Priority.COSMETIC,
    "reactions.add": Priority.COSMETIC,
    "reactions.remove": Priority.COSMETIC,
    "assistant.threads.setStatus": Priority.COSMETIC,
    "assistant.threads.setSuggestedPrompts": Priority.COSMETIC,
    "assistant.threads.setTitle": Priority.COSMETIC,
}

#: Methods whose repetition changes nothing: only these are re-sent after a 500/503.
#: chat.postMessage, chat.postEphemeral and the stream methods are not (a retry would post
#: or append the text twice when the first attempt had landed).
IDEMPOTENT = frozenset(
    {
        "apps.connections.open",
        "auth.test",
        "chat.update",
        "chat.delete",
        "chat.getPermalink",
        "reactions.add",
        "reactions.remove",
        "conversations.replies",
        "conversations.history",
        "conversations.info",
        "users.info",
        "views.publish",
        "assistant.threads.setStatus",
        "assistant.threads.setSuggestedPrompts",
        "assistant.threads.setTitle",
    }
)

#: The governor refills at this share of each published rate: a call granted on time can
#: still reach Slack a little later than the one before it (network, event loop), and Slack
#: counts arrivals. 0.8 leaves a quarter of each interval (0.25 s per channel message).
RATE_MARGIN = 0.8

#: Not re-sent after a 429: the caller has a cheaper way (an answer is posted instead of
#: streamed), better than waiting out the pause.
CALLER_FALLS_BACK = frozenset(
    {"chat.startStream", "conversations.replies", "conversations.history"}
)

#: How many times an answer's call is re-sent after a 429 (each after the method's pause).
MAX_RATELIMITED_RETRIES = 3
SKIPPED = "skipped_by_governor"

_priority: ContextVar[Priority | None] = ContextVar("dualnova_slack_priority", default=None)
_prepaid: ContextVar[bool] = ContextVar("dualnova_slack_prepaid", default=False)


@contextlib.contextmanager
def priority(level: Priority) -> Iterator[None]:
    """Calls made inside the block (by this task) use `level` instead of their method's."""
    token = _priority.set(level)
    try:
        yield
    finally:
        _priority.reset(token)


@contextlib.contextmanager
def prepaid() -> Iterator[None]:
    """A call inside the block spends a token taken earlier with `Governor.try_take` (e.g. the
    👀 removal, paid for when the 👀 was added so that every 👀 added can be removed)."""
    token = _prepaid.set(True)
    try:
        yield
    finally:
        _prepaid.reset(token)


class Skipped(SlackApiError):
    """A cosmetic call that the governor did not send: its budget had no token right now."""

    def __init__(self, message: str, response: AsyncSlackResponse) -> None:
        super().__init__(message, response)  # type: ignore[no-untyped-call]


@dataclass
class _Bucket:
    budget: Budget
    share: float
    tokens: float
    stamp: float
    paused_until: float = 0.0
    waiters: list[tuple[int, int, asyncio.Future[None]]] = field(default_factory=list)
    pump: asyncio.Task[None] | None = None

    @property
    def rate(self) -> float:
        return self.budget.per_minute * self.share * RATE_MARGIN / 60.0

    @property
    def capacity(self) -> float:
        return max(1.0, self.budget.burst * self.share)

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now

    def delay(self, now: float) -> float:
        """Seconds until a token may be taken (0: now)."""
        self.refill(now)
        wait = max(0.0, self.paused_until - now)
        if self.tokens < 1.0:
            wait = max(wait, (1.0 - self.tokens) / self.rate)
        return wait


class Governor:
    """Per-method token buckets, learned pauses and a priority queue per bucket.

    Made for one event loop (asyncio futures); another loop needs its own governor.
    """

    def __init__(
        self,
        budgets: Mapping[str, tuple[Budget, ...]] = DEFAULT_BUDGETS,
        *,
        tasks: int = 1,
        stream_max_s: float = 240.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._budgets = dict(budgets)
        self._share = 1.0 / max(1, tasks)
        # Injected together: a test's virtual clock must also be the one the pump waits on.
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str, int, str | None], _Bucket] = {}
        self._seq = itertools.count()
        #: Seconds a stream may run before delivery continues in a new message (Slack ends
        #: streams about 5 minutes after chat.startStream).
        self.stream_max_s = stream_max_s
        self.skipped: dict[str, int] = {}
        self.learned: dict[str, int] = {}
        #: Until when each rate-limited method is paused: also the methods with no budget,
        #: which have no bucket to hold the pause.
        self._paused_until: dict[str, float] = {}
        #: Streams open now, in this task (delivery stretches its append cadence with it).
        self.open_streams = 0

    def per_minute(self, method: str) -> float | None:
        """This task's sustained calls a minute for `method` (None: not budgeted)."""
        budgets = self._budgets.get(method)
        if not budgets:
            return None
        return min(b.per_minute for b in budgets if not b.per_channel) * self._share * RATE_MARGIN

    def _bucket_list(self, method: str, channel: str | None) -> list[_Bucket]:
        buckets = []
        for i, budget in enumerate(self._budgets.get(method, ())):
            key = (method, i, channel if budget.per_channel else None)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = _Bucket(budget, self._share, 0.0, self._clock())
                bucket.tokens = bucket.capacity
                # Made during a learned pause (a channel not called before the 429): held too.
                bucket.paused_until = self._paused_until.get(method, 0.0)
                self._buckets[key] = bucket
            buckets.append(bucket)
        return buckets

    def available(self, method: str, channel: str | None = None, *, spare: float = 0.0) -> bool:
        """Would a call of `method` go out right now, with no wait — leaving `spare` of its
        burst (a share, 0..1) for others?"""
        now = self._clock()
        return self._paused_until.get(method, now) <= now and all(
            not b.waiters and b.delay(now) == 0 and b.tokens >= 1.0 + spare * b.capacity
            for b in self._bucket_list(method, channel)
        )

    def try_take(self, method: str, channel: str | None = None) -> bool:
        """Take a token of `method` now if there is one (for a call made later, `prepaid`)."""
        if not self.available(method, channel):
            return False
        for bucket in self._bucket_list(method, channel):
            bucket.tokens -= 1.0
        return True

    async def acquire(self, method: str, *, channel: str | None, level: Priority) -> bool:
        """Wait for `method`'s turn; False (and nothing taken) for a cosmetic call that
        would have to wait."""
        buckets = self._bucket_list(method, channel)
        if level is Priority.COSMETIC:
            if not self.try_take(method, channel):
                self.skipped[method] = self.skipped.get(method, 0) + 1
                return False
            return True
        if not buckets:
            # No budget to queue in: a learned pause is simply waited out.
            pause = self._paused_until.get(method, 0.0) - self._clock()
            if pause > 0:
                await self._sleep(pause)
        for bucket in buckets:
            await self._take(bucket, level)
        return True

    async def _take(self, bucket: _Bucket, level: Priority) -> None:
        if not bucket.waiters and bucket.delay(self._clock()) == 0:
            bucket.tokens -= 1.0
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(bucket.waiters, (int(level), next(self._seq), future))
        if bucket.pump is None or bucket.pump.done():
            bucket.pump = asyncio.create_task(self._pump(bucket))
        await future

    async def _pump(self, bucket: _Bucket) -> None:
        """Hand tokens to the waiters of one bucket, best priority first, as they refill."""
        while bucket.waiters:
            wait = bucket.delay(self._clock())
            if wait > 0:
                await self._sleep(wait)
                continue
            _, _, future = heapq.heappop(bucket.waiters)
            if future.done():  # its caller was cancelled
                continue
            bucket.tokens -= 1.0
            future.set_result(None)

    def learn(self, method: str, retry_after_s: float) -> None:
        """Slack answered 429: nothing of `method` goes out for `retry_after_s`, anywhere."""
        self.learned[method] = self.learned.get(method, 0) + 1
        until = self._clock() + max(1.0, retry_after_s)
        self._paused_until[method] = max(self._paused_until.get(method, until), until)
        for (name, _, _), bucket in self._buckets.items():
            if name == method:
                bucket.paused_until = max(bucket.paused_until, until)
                bucket.tokens = min(bucket.tokens, 0.0)


def _method_priority(method: str) -> Priority:
    level = _priority.get()
    return level if level is not None else _DEFAULT_PRIORITY.get(method, Priority.COMMAND)


def _channel_of(*sources: Any) -> str | None:
    for source in sources:
        if isinstance(source, Mapping):
            channel = source.get("channel") or source.get("channel_id")
            if channel:
                return str(channel)
    return None


def _retry_after(response: AsyncSlackResponse) -> float:
    headers = response.headers or {}
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            try:
                return float(value)
            except (TypeError, ValueError):
                break
    return 1.0


class GovernedClient(AsyncWebClient):
    """An `AsyncWebClient` whose every call goes through `governor` first."""

    def __init__(self, *args: Any, governor: Governor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.governor = governor

    async def api_call(  # type: ignore[override]
        self, api_method: str, *, http_verb: str = "POST", **kwargs: Any
    ) -> AsyncSlackResponse:
        level = _method_priority(api_method)
        channel = _channel_of(kwargs.get("json"), kwargs.get("data"), kwargs.get("params"))
        paid = _prepaid.get()
        for attempt in range(MAX_RATELIMITED_RETRIES + 1):
            if paid:
                paid = False
            elif not await self.governor.acquire(api_method, channel=channel, level=level):
                raise Skipped(
                    f"{api_method} skipped: its Slack budget is spent for now",
                    self._skipped_response(api_method),
                )
            try:
                return await super().api_call(api_method, http_verb=http_verb, **kwargs)
            except SlackApiError as exc:
                if exc.response.status_code != 429:
                    raise
                pause = _retry_after(exc.response)
                self.governor.learn(api_method, pause)
                log.warning(
                    "Slack rate-limited a call; pausing the method",
                    extra={"method": api_method, "retry_after_s": pause, "attempt": attempt},
                )
                if (
                    level is Priority.COSMETIC
                    or api_method in CALLER_FALLS_BACK
                    or attempt == MAX_RATELIMITED_RETRIES
                ):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _skipped_response(self, api_method: str) -> AsyncSlackResponse:
        return AsyncSlackResponse(
            client=self,
            http_verb="POST",
            api_url=f"{self.base_url}{api_method}",
            req_args={},
            data={"ok": False, "error": SKIPPED},
            headers={},
            status_code=429,
        )


class IdempotentServerErrorRetryHandler(AsyncServerErrorRetryHandler):
    """Re-send a call after HTTP 500/503 only when sending it twice changes nothing."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        method = request.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if method not in IDEMPOTENT:
            return False
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


class GovernedApp(AsyncApp):
    """Bolt builds a fresh `AsyncWebClient` for every request (bolt >= 1.15), which `say`,
    `set_status` and the listeners' `client` would use, bypassing the governor. The token
    is static here, so every request gets the app's governed client instead."""

    def _init_context(self, req: AsyncBoltRequest) -> None:
        super()._init_context(req)
        if isinstance(self._async_client, GovernedClient):
            req.context["client"] = self._async_client
