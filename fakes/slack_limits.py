"""Slack's limits, as the Slack fake enforces them: per-method rate tiers, scopes, and how
long a stream lives.

One table (`RATE_LIMITS`) says what Slack publishes for each method the fake serves; a test
that needs more (or less) overrides one method with `FakeSlack.set_limit`. Limits are per
method, per app, per workspace, as on Slack; `chat.postMessage` also has a per-channel limit
(about one a second). Short bursts are tolerated: each limit is a token bucket that starts
full with `burst` tokens and refills at `per_minute`. A call over a limit gets HTTP 429,
`Retry-After` (whole seconds until a token is back) and `{"ok": false, "error": "ratelimited"}`,
and takes no token.

Tiers (https://docs.slack.dev/apis/web-api/rate-limits): 1 ≈ 1/min, 2 ≈ 20/min, 3 ≈ 50/min,
4 ≈ 100/min. Slack does not publish burst sizes; the ones here are small on purpose (a fake
more generous than Slack would hide bugs). `assistant.threads.setStatus` is documented as
"special" (unpublished): modelled as Tier 3.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.slack.governor import DEFAULT_BUDGETS
from bot.slack.manifest import BOT_SCOPES


@dataclass(frozen=True)
class Limit:
    """`per_minute` sustained, `burst` at once; per channel or for the whole workspace."""

    per_minute: float
    burst: int
    per_channel: bool = False


TIER_1 = Limit(1, 2)
TIER_2 = Limit(20, 5)
TIER_3 = Limit(50, 10)
TIER_4 = Limit(100, 20)
#: chat.postMessage: about one message a second per channel, and a workspace ceiling Slack
#: describes as "several hundred a minute".
POST_PER_CHANNEL = Limit(60, 3, per_channel=True)
POST_WORKSPACE = Limit(300, 30)

RATE_LIMITS: Mapping[str, tuple[Limit, ...]] = {
    "apps.connections.open": (TIER_1,),
    "auth.test": (TIER_4,),  # "special" in Slack's docs; generous in practice
    "chat.postMessage": (POST_PER_CHANNEL, POST_WORKSPACE),
    "chat.postEphemeral": (TIER_4,),
    "chat.update": (TIER_3,),
    "chat.delete": (TIER_3,),
    "chat.getPermalink": (TIER_4,),
    "chat.startStream": (TIER_2,),
    "chat.appendStream": (TIER_4,),
    "chat.stopStream": (TIER_2,),
    "reactions.add": (TIER_3,),
    "reactions.remove": (TIER_2,),
    "conversations.replies": (TIER_3,),
    "conversations.history": (TIER_3,),
    "conversations.info": (TIER_3,),
    "users.info": (TIER_4,),
    "assistant.threads.setStatus": (TIER_3,),
    "assistant.threads.setSuggestedPrompts": (TIER_4,),
    "assistant.threads.setTitle": (TIER_4,),
    "views.publish": (TIER_4,),
}

#: The scope each method needs (any one of a tuple); conversation reads need the history
#: scope of the conversation's type. Methods not listed need none (auth.test, views.publish).
_HISTORY = {"C": "channels:history", "G": "groups:history", "D": "im:history"}
SCOPES: Mapping[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.startStream": ("chat:write",),
    "chat.appendStream": ("chat:write",),
    "chat.stopStream": ("chat:write",),
    "reactions.add": ("reactions:write",),
    "reactions.remove": ("reactions:write",),
    "users.info": ("users:read",),
    "assistant.threads.setStatus": ("assistant:write", "chat:write"),
    "assistant.threads.setSuggestedPrompts": ("assistant:write",),
    "assistant.threads.setTitle": ("assistant:write",),
}
_CONVERSATION_READS = frozenset({"conversations.replies", "conversations.history"})

#: The bot scopes of the app manifest: what an installed dualnova holds.
MANIFEST_SCOPES = ",".join(BOT_SCOPES)

#: Slack ends a stream about five minutes after chat.startStream, however often it is
#: appended to (`FakeSlack.stream_lifetime_s` shortens it for a test).
STREAM_LIFETIME_S = 300.0


def needed_scope(method: str, channel: str | None, granted: set[str]) -> str | None:
    """The scope `method` needs that `granted` lacks (None when the call is allowed)."""
    if method in _CONVERSATION_READS:
        wanted: tuple[str, ...] = (_HISTORY.get((channel or "C")[:1], "channels:history"),)
    else:
        wanted = SCOPES.get(method, ())
    if not wanted or granted.intersection(wanted):
        return None
    return wanted[0]


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """Token buckets for `limits`, keyed by method (and channel for per-channel limits)."""

    clock: Callable[[], float]
    limits: dict[str, tuple[Limit, ...]] = field(default_factory=lambda: dict(RATE_LIMITS))
    _buckets: dict[tuple[str, int, str | None], _Bucket] = field(default_factory=dict)

    def set(self, method: str, limits: tuple[Limit, ...]) -> None:
        self.limits[method] = limits
        for key in [k for k in self._buckets if k[0] == method]:
            del self._buckets[key]

    def take(self, method: str, channel: str | None) -> int | None:
        """Take one token from each of `method`'s buckets; or, when one is empty, take none
        and return the whole seconds until it refills (the Retry-After)."""
        now = self.clock()
        buckets: list[_Bucket] = []
        wait = 0.0
        for i, limit in enumerate(self.limits.get(method, ())):
            key = (method, i, channel if limit.per_channel else None)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(limit.burst), now)
            rate = limit.per_minute / 60.0
            bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            if bucket.tokens < 1.0:
                wait = max(wait, (1.0 - bucket.tokens) / rate)
            buckets.append(bucket)
        if wait > 0:
            return max(1, math.ceil(wait))
        for bucket in buckets:
            bucket.tokens -= 1.0
        return None


#: The app's SLACK_METHOD_LIMITS for a Slack fake with its limits off (`limits_on = False`):
#: every method the governor budgets, raised so far that pacing never shows in what a
#: benchmark or a non-pacing test measures.
UNLIMITED_APP_LIMITS = ",".join(f"{method}=100000/min:10000" for method in DEFAULT_BUDGETS)
