"""What was said in a thread, kept from the events the bot receives.

Slack sends the bot every message of the threads it is in, so the turns a follow-up refers
to are already known: they live in the state store (bounded by the history token budget,
newest kept), together with the bot's own answers. `conversations.replies` is read only to
rebuild a thread the store does not know (a restart with the in-memory store, or an expired
record). Apps not approved for the Marketplace may call it once a minute for 15 messages,
so the rebuild asks for the newest window of the thread, at most once a minute per task,
and goes without history rather than wait.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import zlib
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.condense import trim_history
from bot.slack.vocabulary import thread_key
from bot.state import StateError, StateStore
from kernel.models import Turn

log = logging.getLogger(__name__)

KIND = "thread_memory"
#: A thread quiet for a week is rebuilt from Slack if it comes back.
MEMORY_TTL_S = 7 * 24 * 3600
#: Slack's cap for apps not approved for the Marketplace (15 messages, 1 call a minute).
REBUILD_LIMIT = 15
REBUILD_INTERVAL_S = 60.0
#: How far back a rebuild reads: `conversations.replies` returns the parent and then the
#: oldest replies first, so the newest turns are reached by a time window ending at the new
#: message. A thread busier than 15 messages in that window still rebuilds from the window's
#: oldest; two hours is what a follow-up after a deploy usually refers to.
REBUILD_WINDOW_S = 2 * 3600
_MAX_TURN_CHARS = 4000
_LOCK_STRIPES = 64
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")

Clock = Callable[[], float]


def strip_mentions(text: str) -> str:
    return _MENTION.sub(" ", text or "").strip()


class ThreadMemory:
    def __init__(
        self,
        *,
        state: StateStore,
        budget_tokens: int,
        clock: Clock = time.monotonic,
        rebuild_interval_s: float = REBUILD_INTERVAL_S,
    ) -> None:
        self._state = state
        self._budget = budget_tokens
        self._clock = clock
        self._interval = rebuild_interval_s
        self._last_rebuild: float | None = None
        # Striped locks: one thread's turns are written one at a time within this task.
        self._locks = [asyncio.Lock() for _ in range(_LOCK_STRIPES)]

    async def mark_thread(
        self, channel: str, thread_ts: str, *, by: str, user: str, ttl_s: int
    ) -> None:
        """Record that the bot answers in this thread, and who asked there first ("the
        asker" when deciding whether a follow-up is addressed to the bot)."""
        key = thread_key(channel, thread_ts)
        try:
            known = await self._state.get("thread", key)
            asker = (known or {}).get("asker") or user
            await self._state.put("thread", key, {"by": by, "asker": asker}, ttl_s=ttl_s)
        except StateError as exc:  # only follow-ups without a mention are lost
            log.error("thread not remembered: state store failed", extra={"reason": str(exc)})

    async def turns(self, channel: str, thread_ts: str) -> tuple[Turn, ...] | None:
        """The remembered turns, oldest first; None when the store does not know the thread
        (or cannot be read: memory is context, never a reason not to answer)."""
        try:
            record = await self._state.get(KIND, thread_key(channel, thread_ts))
        except StateError as exc:
            log.error("thread memory not read: state store failed", extra={"reason": str(exc)})
            return None
        if record is None:
            return None
        return tuple(Turn.model_validate(_turn(t)) for t in record.get("turns") or [])

    async def record(
        self, channel: str, thread_ts: str, turn: Turn, *, ts: str | None = None
    ) -> None:
        """Add a turn (a redelivered message with a known `ts` is added once)."""
        await self.extend(channel, thread_ts, [(turn, ts)])

    async def extend(
        self, channel: str, thread_ts: str, turns: list[tuple[Turn, str | None]]
    ) -> None:
        key = thread_key(channel, thread_ts)
        async with self._locks[zlib.crc32(key.encode()) % _LOCK_STRIPES]:
            try:
                await self._extend(key, turns)
            except StateError as exc:  # a full disk, DynamoDB unreachable: answer anyway
                log.error(
                    "thread memory not written: state store failed", extra={"reason": str(exc)}
                )

    async def _extend(self, key: str, turns: list[tuple[Turn, str | None]]) -> None:
        # Read-modify-write. Serialised within a task; across tasks, two messages of one
        # thread in the same instant may lose a turn of context, which costs less than a
        # conditional write (or a write per turn to list back) on every message.
        record = await self._state.get(KIND, key) or {}
        stored: list[dict[str, Any]] = list(record.get("turns") or [])
        seen = {t.get("ts") for t in stored if t.get("ts")}
        for turn, ts in turns:
            if ts is not None and ts in seen:
                continue
            # Fits the budget on its own (trim_history counts ~4 characters a token, plus 4).
            text = turn.text[: min(_MAX_TURN_CHARS, max(self._budget - 4, 1) * 4)]
            stored.append({"role": turn.role, "text": text, "user": turn.user, "ts": ts})
            if ts is not None:
                seen.add(ts)
        kept = trim_history([Turn.model_validate(_turn(t)) for t in stored], self._budget)
        await self._state.put(
            KIND,
            key,
            {"turns": stored[len(stored) - len(kept) :]},
            ttl_s=MEMORY_TTL_S,
        )

    async def history(
        self,
        client: AsyncWebClient,
        *,
        channel: str,
        thread_ts: str,
        before_ts: str,
        bot_user_id: str | None,
    ) -> tuple[Turn, ...]:
        """The thread's turns before `before_ts`: remembered, or rebuilt from Slack once."""
        known = await self.turns(channel, thread_ts)
        if known is not None:
            return known
        replies = await self._replies(client, channel, thread_ts, before_ts)
        rebuilt = _turns_before(replies, before_ts, bot_user_id)
        # Remember even an empty rebuild: the next message adds to it instead of asking again.
        await self.extend(channel, thread_ts, rebuilt)
        return tuple(turn for turn, _ in rebuilt)

    async def _replies(
        self, client: AsyncWebClient, channel: str, thread_ts: str, before_ts: str
    ) -> list[dict[str, Any]]:
        """The thread's newest window before `before_ts` from Slack; none when this minute's
        conversations.replies call is spent or Slack refuses."""
        now = self._clock()
        if self._last_rebuild is not None and now - self._last_rebuild < self._interval:
            log.info("thread history not rebuilt: conversations.replies budget used this minute")
            return []
        self._last_rebuild = now
        try:
            response = await client.conversations_replies(
                channel=channel,
                ts=thread_ts,
                oldest=f"{max(float(before_ts) - REBUILD_WINDOW_S, 0):.6f}",
                latest=before_ts,
                inclusive=False,
                limit=REBUILD_LIMIT,
            )
        except SlackApiError as exc:
            log.warning("conversations.replies failed", extra={"error": exc.response.get("error")})
            return []
        return list(response.get("messages") or [])


def _turns_before(
    messages: list[dict[str, Any]], before_ts: str, bot_user_id: str | None
) -> list[tuple[Turn, str | None]]:
    turns: list[tuple[Turn, str | None]] = []
    for item in messages:
        ts = str(item.get("ts") or "")
        if not ts or float(ts) >= float(before_ts):
            continue
        turn = message_turn(item, bot_user_id)
        if turn is not None:
            turns.append((turn, ts))
    return turns


def message_turn(item: dict[str, Any], bot_user_id: str | None) -> Turn | None:
    """A Slack message as a turn (None when it has no text)."""
    from_bot = bool(item.get("bot_id")) or (
        bot_user_id is not None and item.get("user") == bot_user_id
    )
    body = strip_mentions(str(item.get("text") or ""))
    if not body:
        return None
    return Turn(
        role="assistant" if from_bot else "user",
        text=body[:_MAX_TURN_CHARS],
        user=None if from_bot else item.get("user"),
    )


def _turn(stored: dict[str, Any]) -> dict[str, Any]:
    return {k: stored.get(k) for k in ("role", "text", "user")}
