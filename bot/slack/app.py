"""The Bolt app: thin listeners that hand events to `Conversation` and `Commands`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import (
    AsyncApp,
    AsyncAssistant,
    AsyncBoltContext,
    AsyncSay,
    AsyncSetStatus,
    AsyncSetSuggestedPrompts,
)
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.ingest_run import IngestTools
from bot.messages import message, suggested_prompts
from bot.slack import home, multilingual, usage_command
from bot.slack.access import AccessPolicy
from bot.slack.commands import Commands
from bot.slack.conversation import Asked, AskedKind, Conversation
from bot.slack.dualnova_command import DualnovaCommand
from bot.slack.governor import GovernedApp
from bot.slack.inflight import InFlight
from bot.slack.settings_store import SettingsStore, load_channel_settings
from bot.slack.vocabulary import FEEDBACK_DOWN, FEEDBACK_UP, SHARE_ANSWER, is_dm
from bot.state import StateStore
from bot.wiring import Components

log = logging.getLogger(__name__)

#: Message subtypes that are someone asking something; edits, deletes, joins... are not.
QUESTION_SUBTYPES = {None, "file_share", "thread_broadcast"}


def _team(body: dict[str, Any], event: dict[str, Any]) -> str | None:
    return event.get("team") or body.get("team_id")


def _asked(body: dict[str, Any], event: dict[str, Any], kind: AskedKind) -> Asked:
    return Asked(
        channel=str(event.get("channel") or ""),
        ts=str(event.get("ts") or ""),
        thread_ts=event.get("thread_ts"),
        user=str(event.get("user") or ""),
        team=_team(body, event),
        text=str(event.get("text") or ""),
        kind=kind,
        event_id=body.get("event_id"),
    )


def build_app(
    *,
    components: Components,
    client: AsyncWebClient,
    state: StateStore,
    access: AccessPolicy,
    inflight: InFlight,
) -> AsyncApp:
    app = GovernedApp(
        client=client,
        raise_error_for_unhandled_request=False,
        logger=logging.getLogger("slack_bolt"),
    )
    settings = components.settings
    admins = set(settings.admin_user_ids)
    prefs = SettingsStore(state=state, defaults=load_channel_settings(settings.channel_settings))
    conversation = Conversation(
        settings=settings,
        pipeline=components.pipeline,
        state=state,
        access=access,
        inflight=inflight,
        prefs=prefs,
        glossary=components.glossary,
    )

    async def user_language(client: AsyncWebClient, user: str, text: str = "") -> str:
        """Their preference as a hint; else detected from `text` (the default without text)."""
        hint = await conversation.user_language(client, user)
        return components.detector.detect(text, hint=hint).language

    commands = Commands(
        settings=settings,
        pipeline=components.pipeline,
        ingest=IngestTools(
            settings, components.store, components.embedder, components.detector, components.index
        ),
        state=state,
        inflight=inflight,
        visible=lambda channel, user: access.visible(
            channel_id=channel, user_id=user, is_dm=is_dm(channel)
        ),
        user_language=user_language,
    )

    @app.middleware
    async def ignore_noise(
        body: dict[str, Any], context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> Any:
        """Bots (ourselves included), edits, deletes and joins never reach a listener — but are acked."""
        event = body.get("event") or {}
        if (
            body.get("type") == "event_callback"
            and event.get("type") == "message"
            and (
                event.get("bot_id")
                or event.get("subtype") not in QUESTION_SUBTYPES
                or (context.bot_user_id and event.get("user") == context.bot_user_id)
                or not event.get("user")
            )
        ):
            return BoltResponse(status=200, body="")
        await next()
        return None

    assistant = AsyncAssistant()

    @assistant.thread_started
    async def thread_started(
        payload: dict[str, Any],
        say: AsyncSay,
        set_suggested_prompts: AsyncSetSuggestedPrompts,
        context: AsyncBoltContext,
    ) -> None:
        user = (payload.get("assistant_thread") or {}).get("user_id") or context.user_id
        language = await conversation.user_language(client, user) or settings.default_language
        await say(message("greeting", language))
        prompts = [{"title": p, "message": p} for p in suggested_prompts(language)]
        await set_suggested_prompts(
            prompts=prompts, title=message("suggested_prompts_title", language)
        )

    @assistant.user_message
    async def assistant_message(
        body: dict[str, Any],
        payload: dict[str, Any],
        set_status: AsyncSetStatus,
        context: AsyncBoltContext,
    ) -> None:
        await conversation.answer(
            client=client,
            asked=_asked(body, payload, "assistant"),
            bot_user_id=context.bot_user_id,
            set_status=set_status,
        )

    app.use(assistant)

    @app.event("app_mention")
    async def on_mention(
        body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await conversation.answer(
            client=client, asked=_asked(body, event, "mention"), bot_user_id=context.bot_user_id
        )

    @app.event("message")
    async def on_message(
        body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        channel, thread_ts = str(event.get("channel") or ""), event.get("thread_ts")
        if event.get("channel_type") == "im":
            kind: AskedKind = "dm"
        elif context.bot_user_id and f"<@{context.bot_user_id}>" in str(event.get("text") or ""):
            kind = "mention"  # the app_mention twin may come first or second; (channel, ts) dedupes
        elif thread_ts and (
            event.get("parent_user_id") == context.bot_user_id
            or await conversation.is_bot_thread(channel, thread_ts)
        ):
            await conversation.follow_up(
                client=client,
                asked=_asked(body, event, "thread"),
                bot_user_id=context.bot_user_id,
            )
            return
        else:
            return  # a conversation the bot is not part of
        await conversation.answer(
            client=client, asked=_asked(body, event, kind), bot_user_id=context.bot_user_id
        )

    dualnova = DualnovaCommand(admins=admins, user_language=user_language)
    app.command("/dualnova")(dualnova)
    multilingual.register(
        app,
        dualnova,
        admins=admins,
        glossary=components.glossary,
        state=state,
        prefs=prefs,
        user_language=user_language,
    )
    multilingual.register_show_translation(
        app, index=components.index, translator=components.pipeline.translator
    )
    usage_command.register(app, dualnova, observer=components.observer, state=state)
    home.register(
        app, admins=admins, index=components.index, state=state, user_language=user_language
    )
    app.command("/ask")(commands.ask)
    app.command("/ingest")(commands.ingest)
    app.action(SHARE_ANSWER)(commands.share)
    app.action(FEEDBACK_UP)(commands.feedback)
    app.action(FEEDBACK_DOWN)(commands.feedback)
    return app
