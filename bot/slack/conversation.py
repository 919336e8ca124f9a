"""Answering a question asked in Slack: mention, DM, thread follow-up or assistant thread.

Listeners are thin; this is where an event becomes a `Question`, goes through the pipeline
and is delivered. It is never silent: a sign of work first (👀 or the assistant status),
then the answer or one sentence in the asker's language, and the sign is always cleared.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from slack_bolt.async_app import AsyncSetStatus
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import chinese
from bot.config import Settings
from bot.glossary import GlossarySource
from bot.messages import message, native_name
from bot.pipeline import AnswerStream, Pipeline
from bot.preferences import parse_language_request
from bot.progress import on_wait
from bot.slack import thread_memory
from bot.slack.access import AccessPolicy
from bot.slack.addressing import addressed_to_bot
from bot.slack.delivery import Target, deliver
from bot.slack.inflight import InFlight
from bot.slack.language_fix import replace_wrong_language
from bot.slack.render import (
    context_blocks,
    feedback_block,
    neutralize,
    sources_block,
    to_mrkdwn,
    translation_block,
)
from bot.slack.settings_store import SettingsStore
from bot.slack.vocabulary import is_dm, thread_key
from bot.slack.working import Working, WorkingTexts
from bot.state import MemoryStateStore, StateError, StateStore
from kernel.models import Answer, Question, Turn

log = logging.getLogger(__name__)

DEDUPE_TTL_S = 2 * 3600  # Slack redelivers for minutes; keep keys well past that
THREAD_TTL_S = 30 * 24 * 3600
ANSWER_RECORD_TTL_S = 7 * 24 * 3600


def locale_language(locale: str | None) -> str | None:
    return chinese.locale_language(locale)  # zh-TW -> zh-Hant: the script matters


strip_mentions = thread_memory.strip_mentions


#: How a question reached the bot.
AskedKind = Literal["mention", "dm", "thread", "assistant"]


@dataclass
class Asked:
    """A question as Slack delivered it."""

    channel: str
    ts: str
    thread_ts: str | None
    user: str
    team: str | None
    text: str
    kind: AskedKind
    event_id: str | None = None


def answer_record(answer: Answer) -> dict[str, Any]:
    """What a "translation was wrong" report needs about the answer it is about."""
    return {
        "question": answer.question,
        "answer": answer.text[:4000],
        "question_language": answer.question_language,
        "answer_language": answer.language,
        "source_languages": sorted({c.language for c in answer.citations}),
        "glossary_terms": list(answer.glossary_terms),
        "translated": answer.route.translated,
    }


def involves_translation(answer: Answer) -> bool:
    languages = {answer.question_language, *(c.language for c in answer.citations)}
    return answer.route.translated or any(lang and lang != answer.language for lang in languages)


def answer_footer(stream: AnswerStream) -> list[dict[str, Any]]:
    """Blocks under an answer: companion translation, sources, translations, feedback."""
    answer = stream.result()
    blocks: list[dict[str, Any]] = []
    if answer.companion:
        target = stream.question.companion_language or ""
        label = message("companion_label", answer.language, name=native_name(target))
        blocks += context_blocks(f"🌐 {label}", neutralize(to_mrkdwn(answer.companion)))
    sources = sources_block(answer.citations, answer.language)
    if sources:
        blocks.append(sources)
    translations = translation_block(answer.citations, answer.language)
    if translations:
        blocks.append(translations)
    if answer.status in ("answered", "incomplete", "offline", "not_found"):
        route = "translated" if answer.route.translated else "direct"
        blocks.append(
            feedback_block(
                question_id=answer.question_id,
                language=answer.language,
                route=route,
                translation=involves_translation(answer),
            )
        )
    return blocks


class Conversation:
    def __init__(
        self,
        *,
        settings: Settings,
        pipeline: Pipeline,
        state: StateStore,
        access: AccessPolicy,
        inflight: InFlight,
        prefs: SettingsStore,
        glossary: GlossarySource,
    ) -> None:
        self._prefs = prefs
        self._glossary = glossary
        self._settings = settings
        self._pipeline = pipeline
        self._detector = pipeline.detector
        self._state = state
        self._memory = thread_memory.ThreadMemory(
            state=state, budget_tokens=settings.history_token_budget
        )
        self._access = access
        self._inflight = inflight
        self._locales: dict[str, tuple[float, str | None]] = {}
        self._local_claims = MemoryStateStore()  # dedupe while the state store fails

    async def is_bot_thread(self, channel: str, thread_ts: str) -> bool:
        return await self._state.get("thread", thread_key(channel, thread_ts)) is not None

    async def follow_up(
        self, *, client: AsyncWebClient, asked: Asked, bot_user_id: str | None
    ) -> None:
        """A reply without a mention in a thread the bot answered: always remembered, answered
        only when addressed to the bot (the channel's `followups` setting says how to tell)."""
        thread_ts = asked.thread_ts or asked.ts
        thread = await self._state.get("thread", thread_key(asked.channel, thread_ts)) or {}
        mode = (await self._prefs.channel(asked.channel)).followups
        if addressed_to_bot(
            asked.text,
            user=asked.user,
            asker=thread.get("asker"),
            bot_user_id=bot_user_id,
            mode=mode,
        ):
            await self.answer(client=client, asked=asked, bot_user_id=bot_user_id)
            return
        log.info("thread reply not addressed to the bot", extra={"channel": asked.channel})
        if await self._memory.turns(asked.channel, thread_ts) is not None:
            turn = Turn(role="user", text=strip_mentions(asked.text), user=asked.user)
            if turn.text:
                await self._memory.record(asked.channel, thread_ts, turn, ts=asked.ts)

    async def user_language(self, client: AsyncWebClient, user: str | None) -> str | None:
        """The user's Slack locale as a language code (cached for an hour)."""
        if not user:
            return None
        cached = self._locales.get(user)
        if cached and time.monotonic() - cached[0] < 3600:
            return cached[1]
        language = None
        try:
            response = await client.users_info(user=user, include_locale=True)
            language = locale_language(str((response.get("user") or {}).get("locale") or ""))
        except SlackApiError as exc:
            log.warning("users.info failed", extra={"error": exc.response.get("error")})
        self._locales[user] = (time.monotonic(), language)
        return language

    async def answer(
        self,
        *,
        client: AsyncWebClient,
        asked: Asked,
        bot_user_id: str | None,
        set_status: AsyncSetStatus | None = None,
    ) -> None:
        # Tracked from the start: with DynamoDB the claims take a round trip, and an event
        # acked just before SIGTERM must still count as in flight.
        async with self._inflight.track():
            # Redeliveries carry the same event_id; a mention also arrives as a `message`
            # event with another id but the same (channel, ts). Either key seen -> handled.
            if not await self._first_delivery(asked):
                return
            await self._answer(
                client=client, asked=asked, bot_user_id=bot_user_id, set_status=set_status
            )

    async def _first_delivery(self, asked: Asked) -> bool:
        """True for the first delivery of this message (both of its keys claimed here)."""
        keys = [f"event:{asked.event_id}"] if asked.event_id else []
        keys.append(f"msg:{asked.channel}:{asked.ts}")
        for key in keys:
            try:
                first = await self._state.claim(key, ttl_s=DEDUPE_TTL_S)
            except StateError as exc:
                # The store cannot record it (a full disk, DynamoDB unreachable): dedupe in
                # this process's memory rather than answer twice, or not at all.
                log.error("dedupe kept in memory: state store failed", extra={"reason": str(exc)})
                first = await self._local_claims.claim(key, ttl_s=DEDUPE_TTL_S)
            if not first:
                return False
        return True

    async def _answer(
        self,
        *,
        client: AsyncWebClient,
        asked: Asked,
        bot_user_id: str | None,
        set_status: AsyncSetStatus | None,
    ) -> None:
        thread_ts = asked.thread_ts or asked.ts
        text = strip_mentions(asked.text)
        detected = self._detector.detect(text)
        language = detected.language
        localizer = self._pipeline.localizer
        working = Working(
            client,
            asked.channel,
            asked.ts,
            thread_ts,
            language,
            set_status,
            user=asked.user,
            texts=await WorkingTexts.known(localizer, language),
        )
        await working.show()
        waiting = on_wait.set(working.on_wait)
        stream: AnswerStream | None = None
        try:
            if await self._maybe_set_language(client, asked, text, thread_ts):
                return
            history = (
                await self._memory.history(
                    client,
                    channel=asked.channel,
                    thread_ts=thread_ts,
                    before_ts=asked.ts,
                    bot_user_id=bot_user_id,
                )
                if asked.thread_ts
                else ()
            )
            if text:
                await self._memory.record(
                    asked.channel,
                    thread_ts,
                    Turn(role="user", text=text, user=asked.user),
                    ts=asked.ts,
                )
            # A bot thread from now on, not once the answer is out: a reply that lands while
            # the answer streams is a follow-up too.
            await self._mark_thread(asked, thread_ts)
            hint = self._asker_language(history, asked.user) or await self.user_language(
                client, asked.user
            )
            if detected.method != "model":  # too short to tell, or which Chinese script
                detected = self._detector.detect(text, hint=hint)
            language = detected.language
            preferred = await self._prefs.user_language(asked.user)
            channel = await self._prefs.channel(asked.channel)
            await self._glossary.refresh()
            question = Question(
                text=text,
                history=history,
                language_hint=hint,
                language=language,
                collections=self._access.visible(
                    channel_id=asked.channel,
                    user_id=asked.user,
                    is_dm=is_dm(asked.channel),
                ),
                user_id=asked.user,
                channel_id=asked.channel,
                thread_ts=thread_ts,
                answer_language=preferred,
                answer_mode=channel.answer_mode,
                companion_language=channel.companion_language,
            )
            stream = await self._pipeline.answer(question)
            target = Target(asked.channel, thread_ts, asked.user, asked.team)
            if stream.has_draft:
                label = message("draft_label", stream.language)
                await deliver(
                    client=client,
                    target=target,
                    chunks=stream.draft(),
                    footer=lambda: context_blocks(label, ""),
                    placeholder=working.take_placeholder,
                )
            delivered = await deliver(
                client=client,
                target=target,
                chunks=aiter(stream),
                footer=partial(answer_footer, stream),
                placeholder=working.take_placeholder,
            )
            try:
                await self._remember(asked, thread_ts, stream)
            except StateError as exc:  # the answer is out; only follow-up memory is lost
                log.error("answer not remembered: state store failed", extra={"reason": str(exc)})
            if stream.rewritten:  # after _remember: a follow-up may already be on its way
                await replace_wrong_language(
                    client=client,
                    target=target,
                    delivered=delivered,
                    stream=stream,
                    footer=answer_footer(stream),
                )
            # The answer is out: the sign of work learns the asker's language for next time.
            try:
                await localizer.learn(WorkingTexts.LEARNED, stream.language)
            except Exception:  # cosmetic: never turn a delivered answer into a failure
                log.warning("sign-of-work sentences not learned", exc_info=True)
        except Exception:
            log.exception("answering failed", extra={"channel": asked.channel, "kind": asked.kind})
            failed_in = stream.language if stream else language
            sorry = await self._sorry(failed_in)
            if not await working.replace_with(sorry):
                await self._say_failure(client, asked.channel, thread_ts, sorry)
        finally:
            on_wait.reset(waiting)
            await working.clear()

    async def _maybe_set_language(
        self, client: AsyncWebClient, asked: Asked, text: str, thread_ts: str
    ) -> bool:
        """ "answer me in Japanese": remember it, confirm in that language, and stop there."""
        request = parse_language_request(text, known=self._detector.languages)
        if request is None:
            return False
        if request == "auto":
            await self._prefs.set_user_language(asked.user, None)
            reply = message("language_auto", self._detector.detect(text).language)
        else:
            await self._prefs.set_user_language(asked.user, request)
            reply = message("language_set", request, name=native_name(request))
        await self._mark_thread(asked, thread_ts)  # before the reply, as for an answer
        await client.chat_postMessage(channel=asked.channel, thread_ts=thread_ts, text=reply)
        return True

    async def _mark_thread(self, asked: Asked, thread_ts: str) -> None:
        await self._memory.mark_thread(
            asked.channel, thread_ts, by=asked.kind, user=asked.user, ttl_s=THREAD_TTL_S
        )

    async def _remember(self, asked: Asked, thread_ts: str, stream: AnswerStream) -> None:
        """The answer as the thread's newest turn, and the answer record (for "translation was
        wrong" reports)."""
        answer = stream.result()
        if answer.text:
            await self._memory.record(
                asked.channel, thread_ts, Turn(role="assistant", text=answer.text)
            )
        if answer.status in ("answered", "incomplete"):
            await self._state.put(
                "answer_record",
                answer.question_id,
                answer_record(answer),
                ttl_s=ANSWER_RECORD_TTL_S,
            )

    def _asker_language(self, history: tuple[Turn, ...], user: str) -> str | None:
        """The language this person last wrote in here (others in the thread may differ)."""
        for turn in reversed(history):
            if turn.role == "user" and turn.user in (user, None):
                detection = self._detector.detect(turn.text)
                if detection.method in ("script", "model"):
                    return detection.language
        return None

    async def _sorry(self, language: str) -> str:
        """The failure sentence in any language (the localizer translates and caches a
        language the catalogue lacks); the catalogue's if even that fails."""
        try:
            return await self._pipeline.localizer.message("error", language)
        except Exception:
            return message("error", language)

    async def _say_failure(
        self, client: AsyncWebClient, channel: str, thread_ts: str, text: str
    ) -> None:
        try:
            await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
        except SlackApiError as exc:
            log.error(
                "could not post the failure message", extra={"error": exc.response.get("error")}
            )
