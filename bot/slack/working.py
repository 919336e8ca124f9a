"""The sign of work every asker sees at once, and their place in line while they wait.

Budgets decide the sign: 👀 costs a reactions.add (Tier 3, ~50/min) and later a
reactions.remove (Tier 2, ~20/min), so a burst of 100 questions a minute cannot all get one.
When either budget has no token right now, the sign is a placeholder message in the thread
("Looking through the documents…", one chat.postMessage, whose budget is per channel) that
the answer then replaces. In the assistant panel the sign is the thread's status.

While the question waits for a model (`bot.progress.on_wait`), the place in line is shown in
the asker's language: in the status, or in the placeholder (posted then if there was none),
at most every `POSITION_EVERY_S` and only when the budget has a token to spare. When a burst
has spent the Tier 3 edit budgets on finished answers, the first notice is an ephemeral
message to the asker in the thread (chat.postEphemeral, Tier 4) instead.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from slack_bolt.async_app import AsyncSetStatus
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.localizer import Localizer
from bot.messages import MessageKey, message, template
from bot.slack.governor import Governor, Priority, prepaid, priority

log = logging.getLogger(__name__)

WORKING_REACTION = "eyes"
POSITION_EVERY_S = 10.0
#: Share of a budget's burst that must be left for a second or later place-in-line notice.
LATER_NOTICE_SPARE = 0.5


def _error(exc: SlackApiError) -> Any:
    return exc.response.get("error")


@dataclass(frozen=True)
class WorkingTexts:
    """What the sign of work says, in the asker's language. Needed at once, so never a model
    call: written, else translated earlier (`LEARNED` after an answer), else English."""

    working: str
    queue_position: str  # a template: {position}, {seconds}

    LEARNED: ClassVar[tuple[MessageKey, ...]] = ("working", "queue_position")

    @classmethod
    def written(cls, language: str) -> WorkingTexts:
        return cls(template("working", language), template("queue_position", language))

    @classmethod
    async def known(cls, localizer: Localizer, language: str) -> WorkingTexts:
        return cls(
            await localizer.known("working", language),
            await localizer.known("queue_position", language),
        )

    def place(self, position: int, eta_s: float) -> str:
        values = {"position": position, "seconds": max(1, round(eta_s))}
        try:
            return self.queue_position.format(**values)
        except (KeyError, IndexError, ValueError):  # stray braces in a cached translation
            return message("queue_position", "en", **values)


@dataclass
class Working:
    """The sign shown for one question, and what clearing it takes."""

    client: AsyncWebClient
    channel: str
    ts: str
    thread_ts: str
    language: str
    set_status: AsyncSetStatus | None = None
    #: The asker, for a place-in-line note only they see when no edit budget is left.
    user: str | None = None
    texts: WorkingTexts | None = None
    reaction: bool = False
    placeholder_ts: str | None = None
    consumed: bool = False
    shown_place: bool = False
    last_position_at: float = field(default=-math.inf)

    @property
    def _says(self) -> WorkingTexts:
        return self.texts or WorkingTexts.written(self.language)

    @property
    def _governor(self) -> Governor | None:
        governor = getattr(self.client, "governor", None)
        return governor if isinstance(governor, Governor) else None

    async def show(self) -> None:
        """👀, the status, or a placeholder: whichever the budgets allow now."""
        try:
            if self.set_status is not None:
                await self.set_status(self._says.working)
                return
            governor = self._governor
            # The removal's token is taken now: every 👀 added can be taken away again.
            if governor is None or (
                governor.available("reactions.add", self.channel)
                and governor.try_take("reactions.remove", self.channel)
            ):
                self.reaction = True
                await self.client.reactions_add(
                    channel=self.channel, timestamp=self.ts, name=WORKING_REACTION
                )
                return
        except SlackApiError as exc:
            log.warning("could not show the working sign", extra={"error": _error(exc)})
            self.reaction = False
            if self.set_status is not None:
                return
        await self._post_placeholder(self._says.working, Priority.ANSWER)

    async def _post_placeholder(self, text: str, level: Priority) -> bool:
        try:
            with priority(level):
                response = await self.client.chat_postMessage(
                    channel=self.channel, thread_ts=self.thread_ts, text=text
                )
        except SlackApiError as exc:
            log.warning("could not post the placeholder", extra={"error": _error(exc)})
            return False
        self.placeholder_ts = str(response["ts"])
        return True

    def take_placeholder(self) -> str | None:
        """The placeholder, for the answer to replace (once)."""
        if self.consumed or self.placeholder_ts is None:
            return None
        self.consumed = True
        return self.placeholder_ts

    async def on_wait(self, position: int, eta_s: float) -> None:
        """`bot.progress` listener: show the place in line (cosmetic: skipped when short)."""
        now = time.monotonic()
        if self.consumed or now - self.last_position_at < POSITION_EVERY_S:
            return
        # The first notice takes any token; later ones only from a budget with room to
        # spare, so that every waiting asker sees their place at least once.
        governor = self._governor
        method = "assistant.threads.setStatus" if self.set_status else "chat.update"
        if (
            self.shown_place
            and governor is not None
            and not governor.available(method, spare=LATER_NOTICE_SPARE)
        ):
            return
        self.last_position_at = now
        text = self._says.place(position, eta_s)
        try:
            with priority(Priority.COSMETIC):
                shown = await self._show_place(governor, text)
        except SlackApiError as exc:
            log.info("could not show the place in line", extra={"error": _error(exc)})
            shown = False
        self.shown_place = self.shown_place or shown

    async def _show_place(self, governor: Governor | None, text: str) -> bool:
        """The status, else the placeholder (edited, or posted anew in its place), else — for
        the first notice only — a note only the asker sees: True if one went out."""
        if self.set_status is not None:
            await self.set_status(text)
            return True
        if self.placeholder_ts is None:
            if governor is None or governor.available("chat.postMessage", self.channel):
                return await self._post_placeholder(text, Priority.COSMETIC)
        elif governor is None or governor.available("chat.update"):
            await self.client.chat_update(channel=self.channel, ts=self.placeholder_ts, text=text)
            return True
        elif await self._repost_placeholder(governor, text):
            return True
        # In a burst, finished answers spend chat.update's and chat.delete's Tier 3 tokens;
        # an ephemeral note (Tier 4, gone when the asker reloads, nothing to clean up) still
        # tells the asker where they stand.
        if self.shown_place or self.user is None or governor is None:
            return False
        if not governor.available("chat.postEphemeral"):
            return False
        await self.client.chat_postEphemeral(
            channel=self.channel, user=self.user, thread_ts=self.thread_ts, text=text
        )
        return True

    async def _repost_placeholder(self, governor: Governor, text: str) -> bool:
        """The first notice when chat.update (Tier 3, spent on finished answers in a burst)
        has no token: post it as the new placeholder (chat.postMessage's budget is per
        channel) and delete the old one, with a chat.delete token taken first so that no
        stale placeholder is left behind. False if the budgets do not allow it now."""
        old = self.placeholder_ts
        if old is None or not governor.available("chat.postMessage", self.channel):
            return False
        # Half of chat.delete's burst stays for answers posted below their placeholders.
        if not governor.available("chat.delete", spare=LATER_NOTICE_SPARE):
            return False
        if not governor.try_take("chat.delete"):
            return False
        try:
            response = await self.client.chat_postMessage(
                channel=self.channel, thread_ts=self.thread_ts, text=text
            )
        except SlackApiError as exc:
            log.info("could not post the place in line", extra={"error": _error(exc)})
            new = None
        else:
            new = str(response["ts"])
        # The answer may have taken the old placeholder while the notice was being posted:
        # then the notice is the one to take away.
        doomed = new if self.consumed or new is None else old
        if new is not None and not self.consumed:
            self.placeholder_ts = new
        if doomed is not None:
            try:
                with prepaid():
                    await self.client.chat_delete(channel=self.channel, ts=doomed)
            except SlackApiError as exc:
                log.info("could not delete the old placeholder", extra={"error": _error(exc)})
        return new is not None

    async def _remove_reaction(self) -> None:
        with prepaid() if self._governor is not None else contextlib.nullcontext():
            await self.client.reactions_remove(
                channel=self.channel, timestamp=self.ts, name=WORKING_REACTION
            )

    async def replace_with(self, text: str) -> bool:
        """Turn an unused placeholder into `text` (a failure sentence); False if none."""
        ts = self.take_placeholder()
        if ts is None:
            return False
        try:
            with priority(Priority.ANSWER):
                await self.client.chat_update(channel=self.channel, ts=ts, text=text)
        except SlackApiError as exc:
            log.warning("could not update the placeholder", extra={"error": _error(exc)})
            return False
        return True

    async def clear(self) -> None:
        """Take the sign away: 👀 removed, the status cleared, an unused placeholder deleted."""
        placeholder = self.take_placeholder()
        steps: list[Callable[[], Awaitable[Any]]] = []
        status = self.set_status
        if status is not None:
            steps.append(lambda: status(""))
        if self.reaction:
            steps.append(self._remove_reaction)
        if placeholder is not None:
            steps.append(lambda: self.client.chat_delete(channel=self.channel, ts=placeholder))
        for step in steps:
            try:
                await step()
            except SlackApiError as exc:
                log.info("could not clear the working sign", extra={"error": _error(exc)})
