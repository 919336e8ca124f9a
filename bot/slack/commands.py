"""Slash commands and buttons: /ask (private, shareable), /ingest (admins), feedback, share."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.ingest_run import IngestTools, run_ingest
from bot.messages import message
from bot.pipeline import Pipeline
from bot.slack.inflight import InFlight
from bot.slack.render import (
    SafeStream,
    feedback_block,
    neutralize,
    section_blocks,
    sources_block,
    to_mrkdwn,
)
from bot.slack.vocabulary import (
    FEEDBACK_VOTES,
    SHARE_ANSWER,
    BadButtonValue,
    FeedbackValue,
)
from bot.state import StateStore
from kernel.errors import DualnovaError
from kernel.models import PUBLIC_COLLECTION, Question

log = logging.getLogger(__name__)

#: The language to answer `user` in: their preference, else detected from `text`.
UserLanguage = Callable[[AsyncWebClient, str, str], Awaitable[str]]
SHARE_TTL_S = 24 * 3600
PROGRESS_INTERVAL_S = 2.0


@dataclass
class IngestArgs:
    source: str
    collection: str = PUBLIC_COLLECTION
    full: bool = False


def parse_ingest(text: str, default_source: str) -> IngestArgs | str:
    """`[status] | [SOURCE] [--full] [--collection NAME]`; returns a usage message on error."""
    try:
        words = shlex.split(text)
    except ValueError:
        return "Usage: /ingest [SOURCE] [--full] [--collection NAME] | /ingest status"
    args = IngestArgs(source=default_source)
    rest = iter(words)
    for word in rest:
        if word == "--full":
            args.full = True
        elif word == "--collection":
            args.collection = next(rest, "") or PUBLIC_COLLECTION
        elif word.startswith("-"):
            return f"Unknown option {word}. Usage: /ingest [SOURCE] [--full] [--collection NAME]"
        else:
            args.source = word
    return args


class Commands:
    """Listener methods; Bolt injects arguments by parameter name (positional-or-keyword only)."""

    def __init__(
        self,
        *,
        settings: Settings,
        pipeline: Pipeline,
        ingest: IngestTools,
        state: StateStore,
        inflight: InFlight,
        visible: Callable[[str, str], frozenset[str]],
        user_language: UserLanguage,
    ) -> None:
        self._settings = settings
        self._pipeline = pipeline
        self._ingest_tools = ingest
        self._state = state
        self._inflight = inflight
        self._visible = visible
        self._user_language = user_language
        self._tasks: set[asyncio.Task[None]] = set()
        self._ingest_running = False

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        async def tracked() -> None:
            async with self._inflight.track():
                await coroutine

        task = asyncio.create_task(tracked())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- /ask -------------------------------------------------------------------------------

    async def ask(
        self,
        ack: AsyncAck,
        command: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        # Ack first: Slack allows 3 s, and users.info below may wait out a 429.
        await ack()
        text = str(command.get("text") or "").strip()
        user, channel = str(command["user_id"]), str(command["channel_id"])
        self._spawn(self._ask(text, user, channel, respond, client))

    async def _ask(
        self, text: str, user: str, channel: str, respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        language = self._settings.default_language
        try:
            language = await self._user_language(client, user, text)
            if not text:
                await respond(response_type="ephemeral", text=message("ask_usage", language))
                return
            await respond(response_type="ephemeral", text=message("working", language))
            question = Question(
                text=text,
                language_hint=language,
                collections=self._visible(channel, user),
                user_id=user,
                channel_id=channel,
            )
            stream = await self._pipeline.answer(question)
            safe = SafeStream()
            body = "".join([safe.feed(chunk) async for chunk in stream]) + safe.flush()
            answer = stream.result()
            mrkdwn = to_mrkdwn(body)
            sources = [b for b in [sources_block(answer.citations, answer.language)] if b]
            shared_blocks = section_blocks(mrkdwn) + sources
            share = {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": SHARE_ANSWER,
                        "value": answer.question_id,
                        "text": {
                            "type": "plain_text",
                            "text": message("share_button", answer.language),
                        },
                    }
                ],
            }
            route = "translated" if answer.route.translated else "direct"
            feedback = feedback_block(
                question_id=answer.question_id, language=answer.language, route=route
            )
            await self._state.put(
                "shared_answer",
                answer.question_id,
                {
                    "channel": channel,
                    "user": user,
                    "language": answer.language,
                    "text": mrkdwn,
                    "blocks": shared_blocks,
                },
                ttl_s=SHARE_TTL_S,
            )
            await respond(
                response_type="ephemeral",
                replace_original=True,
                text=mrkdwn,
                blocks=[*shared_blocks, share, feedback][:50],
            )
        except Exception:
            log.exception("/ask failed", extra={"channel": channel})
            await respond(
                response_type="ephemeral", replace_original=True, text=message("error", language)
            )

    async def share(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        question_id = str(body["actions"][0].get("value") or "")
        user = str(body["user"]["id"])
        saved = await self._state.get("shared_answer", question_id)
        if saved is None or saved.get("user") != user:
            language = await self._user_language(client, user, "")
            await respond(
                response_type="ephemeral",
                replace_original=False,
                text=message("share_expired", language),
            )
            return
        # The claim stops double clicks and redelivered actions. A failed share bumps the
        # attempt number, so the next click claims a fresh key and can try again.
        attempt = await self._state.get("share_attempt", question_id) or {}
        claim = f"share:{question_id}:{int(attempt.get('failed', 0))}"
        if not await self._state.claim(claim, ttl_s=SHARE_TTL_S):
            return
        try:
            # The action's response_url posts for the user without the bot being a member
            # (chat.postMessage would need membership: not_in_channel / channel_not_found).
            posted = await respond(
                response_type="in_channel",
                replace_original=False,
                text=saved["text"],
                blocks=saved["blocks"],
            )
            if getattr(posted, "status_code", 200) != 200:
                raise DualnovaError(f"response_url refused the share ({posted.status_code})")
        except Exception:
            log.warning("share failed", extra={"question_id": question_id}, exc_info=True)
            await self._state.incr("share_attempt", question_id, "failed", ttl_s=SHARE_TTL_S)
            await self._tell(respond, client, user, message("error", saved["language"]))
            return
        await respond(
            response_type="ephemeral",
            replace_original=True,
            text=message("shared", saved["language"]),
        )

    async def _tell(
        self, respond: AsyncRespond, client: AsyncWebClient, user: str, text: str
    ) -> None:
        """An ephemeral word to `user`; their DM with the bot when the response_url is spent."""
        with contextlib.suppress(Exception):
            sent = await respond(response_type="ephemeral", replace_original=False, text=text)
            if getattr(sent, "status_code", 200) == 200:
                return
        try:
            await client.chat_postMessage(channel=user, text=text)
        except SlackApiError as exc:
            log.warning("could not tell the user", extra={"error": exc.response.get("error")})

    # ---- feedback ---------------------------------------------------------------------------

    async def feedback(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        action = body["actions"][0]
        try:
            value = FeedbackValue.decode(action.get("value"))
        except BadButtonValue as exc:
            log.warning("feedback button value refused: %s", exc)
            text = message("error", self._settings.default_language)
            await respond(response_type="ephemeral", replace_original=False, text=text)
            return
        record = {
            "question_id": value.question_id,
            "language": value.language,
            "route": value.route,
            "vote": FEEDBACK_VOTES.get(str(action.get("action_id")), "down"),
            "user": body.get("user", {}).get("id"),
            "channel": (body.get("channel") or {}).get("id"),
        }
        await self._state.append("feedback", record)
        log.info("feedback recorded", extra={k: v for k, v in record.items() if k != "user"})
        await respond(
            response_type="ephemeral",
            replace_original=False,
            text=message("feedback_thanks", value.language or "en"),
        )

    # ---- /ingest ----------------------------------------------------------------------------

    async def ingest(
        self,
        ack: AsyncAck,
        command: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        user, channel = str(command["user_id"]), str(command["channel_id"])
        text = str(command.get("text") or "").strip()
        if user not in self._settings.admin_user_ids:
            await ack()  # users.info (the refusal's language) may wait out a 429
            language = await self._user_language(client, user, text)
            await respond(
                response_type="ephemeral",
                text=message("not_admin", language, command="/ingest"),
            )
            return
        if text == "status":
            await ack()  # a state read: answered after the ack
            await respond(response_type="ephemeral", text=await self._status())
            return
        args = parse_ingest(text, self._settings.docs_source)
        if isinstance(args, str):
            await ack(text=args)
            return
        if self._ingest_running:
            await ack(
                text="An ingest is already running in this task; `/ingest status` shows the last result."
            )
            return
        source = neutralize(args.source)
        await ack(
            text=f"Ingest of `{source}` started; progress follows in this channel, "
            "or in your DM with me if I am not a member here."
        )
        self._ingest_running = True
        self._spawn(self._ingest(args, channel, user, client))

    async def _status(self) -> str:
        last = await self._state.get("ingest", "last")
        version = self._ingest_tools.store.current_version()
        lines = [f"Serving index version `{version}`." if version else "No index published yet."]
        if self._ingest_running:
            lines.append("An ingest is running now.")
        if last:
            summary = neutralize(str(last.get("summary", "")))
            lines.append(f"Last ingest ({last.get('finished', '?')}): {summary}")
        return "\n".join(lines)

    async def _ingest(
        self, args: IngestArgs, channel: str, user: str, client: AsyncWebClient
    ) -> None:
        progress = _Progress(
            client=client,
            channel=channel,
            admin=user,
            title=f"Ingest of `{neutralize(args.source)}`",
        )
        loop = asyncio.get_running_loop()

        def report_progress(stage: str, done: int, total: int) -> None:  # runs in the ingest thread
            loop.call_soon_threadsafe(progress.set, stage, done, total)

        try:
            await progress.start()
            report = await asyncio.to_thread(
                run_ingest,
                self._ingest_tools,
                args.source,
                collection=args.collection,
                full=args.full,
                progress=report_progress,
            )
            lines = [f"✅ {neutralize(report.summary())}"]
            # Object keys and loader messages come from the documents: never markup.
            lines += [f"• {neutralize(line)}" for line in report.skip_lines()]
            summary = "\n".join(lines)
            await self._state.put(
                "ingest",
                "last",
                {
                    "summary": report.summary(),
                    "skipped_by_cause": report.skip_lines(),
                    "by": user,
                    "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                },
            )
        except DualnovaError as exc:
            summary = f"❌ Ingest failed: {neutralize(str(exc))}"
        except Exception:
            log.exception("ingest failed")
            summary = "❌ Ingest failed unexpectedly; the published index was left as it was. See the logs."
        finally:
            self._ingest_running = False
        await progress.finish(summary)


class _Progress:
    """One progress message, edited at most every couple of seconds.

    Everything goes through the Web API, never the command's response_url (which expires
    after 30 minutes or 5 uses, long before a big ingest ends): in the channel when the bot
    is a member there, else in the admin's DM with the bot.
    """

    def __init__(self, *, client: AsyncWebClient, channel: str, admin: str, title: str) -> None:
        self._client, self._channel, self._admin, self._title = client, channel, admin, title
        self._ts: str | None = None
        self._state: tuple[str, int, int] | None = None
        self._shown: tuple[str, int, int] | None = None
        self._ticker: asyncio.Task[None] | None = None

    def set(self, stage: str, done: int, total: int) -> None:
        self._state = (stage, done, total)

    def _text(self) -> str:
        if self._state is None:
            return f"⏳ {self._title}: listing documents…"
        stage, done, total = self._state
        what = "documents loaded" if stage == "load" else "chunks embedded"
        return f"⏳ {self._title}: {done}/{total} {what}…"

    async def start(self) -> None:
        for channel in (self._channel, self._admin):
            try:
                response = await self._client.chat_postMessage(channel=channel, text=self._text())
            except SlackApiError as exc:  # not in the channel: the admin's DM instead
                log.info("progress message not posted", extra={"error": exc.response.get("error")})
                continue
            self._channel, self._ts = str(response["channel"]), str(response["ts"])
            self._ticker = asyncio.create_task(self._tick())
            return

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL_S)
            if self._state != self._shown and self._ts:
                self._shown = self._state
                try:
                    await self._client.chat_update(
                        channel=self._channel, ts=self._ts, text=self._text()
                    )
                except SlackApiError as exc:
                    log.info("progress update failed", extra={"error": exc.response.get("error")})

    async def finish(self, summary: str) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        text = f"{self._title}\n{summary}"
        if self._ts:
            try:
                await self._client.chat_update(channel=self._channel, ts=self._ts, text=text)
                return
            except SlackApiError as exc:
                log.warning(
                    "ingest summary not edited in", extra={"error": exc.response.get("error")}
                )
        try:
            await self._client.chat_postMessage(channel=self._admin, text=text)
        except SlackApiError as exc:
            log.error("ingest summary not delivered", extra={"error": exc.response.get("error")})
