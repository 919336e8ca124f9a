"""The App Home tab: how to ask (in the reader's language), when the documents were last
ingested and, for admins, the collections, today's usage and the week's top questions the
documents could not answer."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.messages import message
from bot.reports import gaps, top_gaps
from bot.slack.render import neutralize
from bot.state import StateError, StateStore
from bot.usage_format import format_tokens, format_usd
from bot.usage_ledger import UsageLedger
from kernel.errors import DualnovaError
from retrieval.handle import IndexHandle

log = logging.getLogger(__name__)

UserLanguage = Callable[[AsyncWebClient, str, str], Awaitable[str]]
WEEK_S = 7 * 24 * 3600
TOP_GAPS = 10
GAP_CHARS = 150


def register(
    app: AsyncApp,
    *,
    admins: set[str],
    index: IndexHandle,
    state: StateStore,
    user_language: UserLanguage,
    clock: Callable[[], float] = time.time,
) -> None:

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return  # the Messages tab
        user = str(event.get("user") or "")
        language = await user_language(client, user, "")
        try:
            blocks = await home_blocks(
                index=index,
                state=state,
                language=language,
                is_admin=user in admins,
                now=clock(),
            )
        except StateError as exc:
            log.error("App Home: state store failed", extra={"reason": str(exc)})
            blocks = _intro(language)
        try:
            await client.views_publish(user_id=user, view={"type": "home", "blocks": blocks})
        except SlackApiError as exc:
            log.warning("App Home not published", extra={"error": exc.response.get("error")})


def _intro(language: str) -> list[dict[str, Any]]:
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "dualnova"}},
        _section(f"{message('greeting', language)}\n{message('home_intro', language)}"),
    ]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


async def home_blocks(
    *, index: IndexHandle, state: StateStore, language: str, is_admin: bool, now: float
) -> list[dict[str, Any]]:
    blocks = _intro(language)
    last = await state.get("ingest", "last")
    blocks.append({"type": "divider"})
    if not is_admin:
        if last:
            blocks.append(_context(f"📚 {neutralize(str(last.get('finished', '')))}"))
        return blocks

    lines = ["*Documents*"]
    if last:
        by = f" by <@{last['by']}>" if last.get("by") else ""
        lines.append(
            f"Last ingest: {neutralize(str(last.get('finished', '?')))}{by} — "
            f"{neutralize(str(last.get('summary', '')))}"
        )
        lines += [f"• {neutralize(str(line))}" for line in last.get("skipped_by_cause") or []]
    else:
        lines.append("No ingest recorded yet: run `/ingest`.")
    try:
        loaded = await asyncio.to_thread(index.current)
        names = ", ".join(f"`{neutralize(c)}`" for c in sorted(loaded.collections)) or "none"
        lines.append(f"Collections in version `{loaded.version}`: {names}")
    except DualnovaError:
        lines.append("No index is loaded: run `/ingest`.")
    blocks.append(_section("\n".join(lines)))

    today = await UsageLedger(state=state, clock=lambda: now).day()
    blocks.append(
        _section(
            f"*Today (UTC)*: {round(today.questions)} questions · "
            f"{format_tokens(today.tokens)} tokens · {format_usd(today.cost_usd)} "
            f"· not found {today.status('not_found')} — details: `/dualnova usage`"
        )
    )

    week = top_gaps(await gaps(state, since=now - WEEK_S), TOP_GAPS)
    gap_lines = [
        f"• *{g.count}×* `{g.language}` {neutralize(_clip(g.question))}" for g in week
    ] or ["Nothing went unanswered this week."]
    blocks.append({"type": "divider"})
    blocks.append(
        _section(
            "*This week's top unanswered questions*\n"
            + "\n".join(gap_lines)
            + "\n_Full list: `dualnova gaps --since 7d`_"
        )
    )
    return blocks


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= GAP_CHARS else text[: GAP_CHARS - 1] + "…"
