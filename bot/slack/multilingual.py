"""Slack features for multilingual teams: language preference, channel settings, glossary,
"Show translation" on foreign-language sources, and "Translation was wrong" reports."""

from __future__ import annotations

import json
import logging
import re
import shlex
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.answer import Translator
from bot.chinese import HANS, HANT, is_chinese, normalize_code
from bot.glossary import GlossarySource, GlossaryTerm
from bot.language import SUPPORTED_CODES
from bot.messages import message, native_name
from bot.slack.dualnova_command import DualnovaCommand, Invocation
from bot.slack.render import neutralize, to_mrkdwn
from bot.slack.settings_store import SettingsStore
from bot.state import StateStore
from kernel.errors import ModelError
from retrieval.handle import IndexHandle

log = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[Any]]
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

    async def language(call: Invocation) -> str:
        code = normalize_code(call.args[0]) if call.args else ""  # zh-hant, zh-TW -> zh-Hant
        if code == "auto":
            await prefs.set_user_language(call.user_id, None)
            return message("language_auto", call.language)
        if code not in SUPPORTED_CODES and code not in (HANT, HANS):
            current = await prefs.user_language(call.user_id) or "auto"
            return f"Your answer language: `{current}`. Usage: `/dualnova language ja`, `/dualnova language zh-Hant` or `/dualnova language auto`."
        await prefs.set_user_language(call.user_id, code)
        return message("language_set", code, name=native_name(code))

    async def settings(call: Invocation) -> str:
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
            await prefs.update_channel(call.channel_id, **changes)
            if changes
            else await prefs.channel(call.channel_id)
        )
        return (
            f"Settings for <#{call.channel_id}>: companion language "
            f"`{current.companion_language or 'off'}`, answer mode `{current.answer_mode}`, "
            f"thread replies answered: `{current.followups}`."
        )

    dualnova.register("language", language, usage="language <code>|auto")
    dualnova.register(
        "settings",
        settings,
        usage=SETTINGS_USAGE,
        admin_only=True,
    )

    @app.command("/glossary")
    async def glossary_command(
        ack: Ack,
        command: dict[str, Any],
        client: AsyncWebClient,
        respond: Callable[..., Awaitable[Any]],
    ) -> None:
        user = str(command["user_id"])
        try:
            words = shlex.split(str(command.get("text") or ""))
        except ValueError:
            words = []
        if not words or words[0] == "list":
            await ack(text=_glossary_listing(glossary))  # in memory: nothing to wait for
            return
        # Everything else waits on Slack (users.info) or the state store: ack first.
        await ack()
        if user not in admins:
            lang = await user_language(client, user, "")
            reply = message("not_admin", lang, command=f"/glossary {words[0]}")
        elif words[0] == "remove" and len(words) >= 2:
            name = " ".join(words[1:])
            await glossary.remove(name)
            reply = f"Removed `{neutralize(name)}` from the glossary (in effect now)."
        elif words[0] == "add" and len(words) >= 2 and (term := _parse_term(words[1:])):
            await glossary.add(term)
            reply = f"Added `{neutralize(term.term)}` to the glossary (in effect now)."
        else:
            reply = GLOSSARY_USAGE
        await respond(response_type="ephemeral", text=reply)

    @app.action("feedback_translation")
    async def translation_wrong(
        ack: Ack, body: dict[str, Any], respond: Callable[..., Awaitable[Any]]
    ) -> None:
        await ack()
        value = json.loads(body["actions"][0].get("value") or "{}")
        question_id = str(value.get("q") or "")
        record = await state.get("answer_record", question_id) or {}
        await state.append(
            "feedback",
            {
                "question_id": question_id,
                "vote": "translation",
                "language": value.get("l"),
                "route": value.get("r"),
                "user": (body.get("user") or {}).get("id"),
                "channel": (body.get("channel") or {}).get("id"),
                **record,
            },
        )
        log.info(
            "translation reported wrong",
            extra={"question_id": question_id, "terms": record.get("glossary_terms")},
        )
        await respond(
            response_type="ephemeral",
            replace_original=False,
            text=message("feedback_thanks", str(value.get("l") or "en")),
        )


def register_show_translation(
    app: AsyncApp, *, index: IndexHandle, translator: Translator | None
) -> None:
    """ "Show translation" on a source in another language: Micro translates the passage."""

    @app.action(re.compile(r"^show_translation_\d+$"))
    async def show_translation(
        ack: Ack, body: dict[str, Any], respond: Callable[..., Awaitable[Any]]
    ) -> None:
        await ack()
        value = json.loads(body["actions"][0].get("value") or "{}")
        target, number = str(value.get("l") or "en"), value.get("k")
        node = index.current().node(str(value.get("n") or ""))
        if node is None or translator is None:
            await respond(
                response_type="ephemeral", replace_original=False, text=message("error", target)
            )
            return
        try:
            translated, _call = await translator.translate(
                node.get_content(), target=target, purpose="translate"
            )
        except ModelError:
            await respond(
                response_type="ephemeral",
                replace_original=False,
                text=message("model_error", target),
            )
            return
        title = neutralize(str(node.metadata.get("title", "")))
        heading = message("translation_of", target, number=number, title=title)
        await respond(
            response_type="ephemeral",
            replace_original=False,
            text=f"*{heading}*\n{neutralize(to_mrkdwn(translated))}"[:3900],
        )


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
