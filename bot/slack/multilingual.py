"""Slack features for multilingual teams: language preference, channel settings, glossary,
"Show translation" on foreign-language sources, and "Translation was wrong" reports."""

from __future__ import annotations

import logging
import re
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.answer import Translator
from bot.chinese import HANS, HANT, is_chinese, normalize_code
from bot.glossary import GlossarySource, GlossaryTerm
from bot.language import SUPPORTED_CODES
from bot.messages import message, native_name
from bot.slack.dualnova_command import DualnovaCommand, Invocation
from bot.slack.render import neutralize, to_mrkdwn
from bot.slack.settings_store import SettingsStore
from bot.slack.vocabulary import (
    FEEDBACK_TRANSLATION,
    SHOW_TRANSLATION,
    BadButtonValue,
    ButtonValue,
    FeedbackValue,
    TranslationValue,
)
from bot.state import StateStore
from kernel.errors import ModelError
from retrieval.handle import IndexHandle

log = logging.getLogger(__name__)

V = TypeVar("V", bound=ButtonValue)

UserLanguage = Callable[[AsyncWebClient, str, str], Awaitable[str]]
SETTINGS_USAGE = (
    "settings [companion ko|off] [mode pro|draft_then_pro] [followups addressed|all|mentions]"
)
GLOSSARY_USAGE = (
    "Usage: `/glossary` lists terms. Admins: `/glossary add TERM [ko=연차 ja=…] [--dnt] "
    '["description"]` · `/glossary remove TERM`'
)


def register(
    app: AsyncApp,
    dualnova: DualnovaCommand,
    *,
    admins: set[str],
    glossary: GlossarySource,
    state: StateStore,
    prefs: SettingsStore,
    user_language: UserLanguage,
) -> None:
    preferences = Preferences(prefs=prefs)
    dualnova.register("language", preferences.language, usage="language <code>|auto")
    dualnova.register("settings", preferences.settings, usage=SETTINGS_USAGE, admin_only=True)
    app.command("/glossary")(
        GlossaryCommand(glossary=glossary, admins=frozenset(admins), user_language=user_language)
    )
    app.action(FEEDBACK_TRANSLATION)(TranslationWrong(state=state))


def register_show_translation(
    app: AsyncApp, *, index: IndexHandle, translator: Translator | None
) -> None:
    """ "Show translation" on a source in another language: Micro translates the passage."""
    app.action(SHOW_TRANSLATION)(ShowTranslation(index=index, translator=translator))


@dataclass(frozen=True)
class Preferences:
    """`/dualnova language` (anyone, for themselves) and `/dualnova settings` (admins)."""

    prefs: SettingsStore

    async def language(self, call: Invocation) -> str:
        code = normalize_code(call.args[0]) if call.args else ""  # zh-hant, zh-TW -> zh-Hant
        if code == "auto":
            await self.prefs.set_user_language(call.user_id, None)
            return message("language_auto", call.language)
        if code not in SUPPORTED_CODES and code not in (HANT, HANS):
            current = await self.prefs.user_language(call.user_id) or "auto"
            return f"Your answer language: `{current}`. Usage: `/dualnova language ja`, `/dualnova language zh-Hant` or `/dualnova language auto`."
        await self.prefs.set_user_language(call.user_id, code)
        return message("language_set", code, name=native_name(code))

    async def settings(self, call: Invocation) -> str:
        changes: dict[str, object] = {}
        words = iter(call.args)
        for word in words:
            value = next(words, "")
            if word == "companion":
                changes["companion_language"] = (
                    None if value in ("off", "none", "") else normalize_code(value)
                )
            elif word == "mode" and value in ("pro", "draft_then_pro"):
                changes["answer_mode"] = value
            elif word == "followups" and value in ("addressed", "all", "mentions"):
                changes["followups"] = value
            else:
                return f"Usage: `/dualnova {SETTINGS_USAGE}`"
        companion = changes.get("companion_language")
        if isinstance(companion, str) and companion not in (*SUPPORTED_CODES, HANT, HANS):
            return f"Unknown language code `{companion}`; use an ISO 639-1 code such as ko, ja, en."
        current = (
            await self.prefs.update_channel(call.channel_id, **changes)
            if changes
            else await self.prefs.channel(call.channel_id)
        )
        return (
            f"Settings for <#{call.channel_id}>: companion language "
            f"`{current.companion_language or 'off'}`, answer mode `{current.answer_mode}`, "
            f"thread replies answered: `{current.followups}`."
        )


@dataclass(frozen=True)
class GlossaryCommand:
    """`/glossary`: anyone lists the terms; admins add and remove them."""

    glossary: GlossarySource
    admins: frozenset[str]
    user_language: UserLanguage

    async def __call__(
        self,
        ack: AsyncAck,
        command: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        user = str(command["user_id"])
        try:
            words = shlex.split(str(command.get("text") or ""))
        except ValueError:
            words = []
        if not words or words[0] == "list":
            await ack(text=_glossary_listing(self.glossary))  # in memory: nothing to wait for
            return
        # Everything else waits on Slack (users.info) or the state store: ack first.
        await ack()
        if user not in self.admins:
            lang = await self.user_language(client, user, "")
            reply = message("not_admin", lang, command=f"/glossary {words[0]}")
        elif words[0] == "remove" and len(words) >= 2:
            name = " ".join(words[1:])
            await self.glossary.remove(name)
            reply = f"Removed `{neutralize(name)}` from the glossary (in effect now)."
        elif words[0] == "add" and len(words) >= 2 and (term := _parse_term(words[1:])):
            await self.glossary.add(term)
            reply = f"Added `{neutralize(term.term)}` to the glossary (in effect now)."
        else:
            reply = GLOSSARY_USAGE
        await respond(response_type="ephemeral", text=reply)


@dataclass(frozen=True)
class ShowTranslation:
    """ "Show translation": the cited passage, translated by Micro, for the clicker only."""

    index: IndexHandle
    translator: Translator | None

    async def __call__(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        value = await _clicked(TranslationValue, body, respond)
        if value is None:
            return
        target = value.language or "en"
        node = self.index.current().node(value.node_id)
        if node is None or self.translator is None:
            await _whisper(respond, message("error", target))
            return
        try:
            translated, _call = await self.translator.translate(
                node.get_content(), target=target, purpose="translate"
            )
        except ModelError:
            await _whisper(respond, message("model_error", target))
            return
        title = neutralize(str(node.metadata.get("title", "")))
        heading = message("translation_of", target, number=value.number, title=title)
        await _whisper(respond, f"*{heading}*\n{neutralize(to_mrkdwn(translated))}"[:3900])


@dataclass(frozen=True)
class TranslationWrong:
    """ "Translation was wrong": a feedback record with the glossary terms the answer used."""

    state: StateStore

    async def __call__(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        value = await _clicked(FeedbackValue, body, respond)
        if value is None:
            return
        record = await self.state.get("answer_record", value.question_id) or {}
        await self.state.append(
            "feedback",
            {
                "question_id": value.question_id,
                "vote": "translation",
                "language": value.language,
                "route": value.route,
                "user": (body.get("user") or {}).get("id"),
                "channel": (body.get("channel") or {}).get("id"),
                **record,
            },
        )
        log.info(
            "translation reported wrong",
            extra={"question_id": value.question_id, "terms": record.get("glossary_terms")},
        )
        await _whisper(respond, message("feedback_thanks", value.language or "en"))


async def _clicked(kind: type[V], body: dict[str, Any], respond: AsyncRespond) -> V | None:
    """The clicked button's value; None, and a word to the clicker, when it is not ours."""
    try:
        return kind.decode(body["actions"][0].get("value"))
    except BadButtonValue as exc:
        log.warning("button value refused: %s", exc)
        await _whisper(respond, message("error", "en"))
        return None


async def _whisper(respond: AsyncRespond, text: str) -> None:
    """An ephemeral reply that leaves the message with the button as it was."""
    await respond(response_type="ephemeral", replace_original=False, text=text)


def _glossary_listing(glossary: GlossarySource) -> str:
    terms = glossary.current().terms
    if not terms:
        return "The glossary is empty. Admins: `/glossary add TERM ko=… ja=…`."
    lines = []
    for t in terms[:60]:
        forms = (
            "DO NOT TRANSLATE"
            if t.do_not_translate
            else " · ".join(f"{k}: {v}" for k, v in sorted(t.forms.items()))
        )
        lines.append(f"• *{neutralize(t.term)}* — {neutralize(forms)}")
    more = f"\n…and {len(terms) - 60} more" if len(terms) > 60 else ""
    return "*Glossary*\n" + "\n".join(lines) + more


def _parse_term(words: list[str]) -> GlossaryTerm | None:
    name_parts: list[str] = []
    forms: dict[str, str] = {}
    dnt, description = False, ""
    for word in words:
        if word == "--dnt":
            dnt = True
        elif re.fullmatch(r"[a-z]{2}(?:-[A-Za-z]{4})?=.+", word):
            code, form = word.split("=", 1)
            forms[normalize_code(code) if is_chinese(code) else code] = form
        elif forms or dnt:
            description = f"{description} {word}".strip()
        else:
            name_parts.append(word)
    if not name_parts:
        return None
    term = " ".join(name_parts)
    return GlossaryTerm(term=term, forms=forms, do_not_translate=dnt, description=description)
