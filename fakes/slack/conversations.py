"""conversations.* and users.info; membership, group DMs and history reads."""

from __future__ import annotations

import copy
import math
import re
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from fakes.slack.records import (
    _CHANNEL_RE,
    _POSTING,
    _READING,
    NON_MARKETPLACE_LIMIT,
    NON_MARKETPLACE_PER_S,
    RESPONSE_URL_TTL_S,
    RESPONSE_URL_USES,
    Args,
    Message,
    SlackApiFault,
    _missing,
    _opt_str,
    _truthy,
    channel_type,
)


class ConversationsApi:
    """Mixed into `FakeSlack`, whose lock, state and helpers these methods use."""

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

    # ----------------------------------------------------------------- conversations: membership,
    # group DMs, history reads, response_url lifetime (locked unless noted)

    def _reset_conversations(self) -> None:
        """Knobs and state of this section; part of ``reset()``.

        - ``_members``: conversations the bot is in. Joined by the events Slack sends it there
          (``post_user_message``, ``push_event``), by seeded history (``add_message``), or
          by ``join()``; a slash command or button from elsewhere does not make it a member.
        - ``_people``: the people in each conversation, as far as the fake knows: everyone
          who wrote there (``add_message``, ``post_user_message``) or was ``add_person``-ed.
          chat.postEphemeral to anyone else is refused (``user_not_in_channel``), as on Slack.
        - ``non_marketplace``: conversations.replies/history at 1 call a minute, ``limit``
          capped at 15, as Slack does for apps not approved for the Marketplace.
        - ``response_url_ttl_s`` / ``response_url_uses``: 30 minutes, 5 posts.
        """
        self._members: set[str] = set()
        self._people: dict[str, set[str]] = {}
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

    def add_person(self, channel: str, user: str) -> None:
        """Make ``user`` (a person, not the bot) a member of ``channel``."""
        with self._lock:
            self._people.setdefault(channel, set()).add(user)

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
