"""`/dualnova SUBCOMMAND ...`: one slash command, subcommands registered by their features.

Each feature module registers its subcommands (`language`, `settings`, `usage`, ...) with
`DualnovaCommand.register`; this module only routes, checks admin rights, acks at once and
sends the subcommand's reply with `respond()`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.messages import message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Invocation:
    """One `/dualnova` call, parsed: the subcommand's arguments and who/where."""

    args: list[str]
    user_id: str
    channel_id: str
    language: str
    is_admin: bool
    client: AsyncWebClient
    respond: AsyncRespond


#: A handler returns the ephemeral reply (text, or a dict of chat arguments such as blocks).
Handler = Callable[[Invocation], Awaitable["str | dict[str, Any]"]]


@dataclass(frozen=True)
class Subcommand:
    name: str
    handler: Handler
    admin_only: bool
    usage: str


class DualnovaCommand:
    def __init__(
        self,
        *,
        admins: set[str],
        user_language: Callable[[AsyncWebClient, str, str], Awaitable[str]],
    ) -> None:
        self._admins = admins
        self._user_language = user_language
        self._subcommands: dict[str, Subcommand] = {}

    def register(
        self, name: str, handler: Handler, *, usage: str, admin_only: bool = False
    ) -> None:
        self._subcommands[name] = Subcommand(name, handler, admin_only, usage)

    def help_text(self, *, is_admin: bool) -> str:
        lines = [
            f"• `/dualnova {s.usage}`"
            for s in self._subcommands.values()
            if is_admin or not s.admin_only
        ]
        return "Usage:\n" + "\n".join(lines) if lines else "No subcommands are available."

    async def __call__(
        self,
        ack: AsyncAck,
        command: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        words = str(command.get("text") or "").split()
        user, channel = str(command["user_id"]), str(command["channel_id"])
        is_admin = user in self._admins
        subcommand = self._subcommands.get(words[0].lower()) if words else None
        if subcommand is None:
            await ack(text=self.help_text(is_admin=is_admin))
            return
        # Ack within Slack's 3 s first: users.info may wait out a 429, and subcommands read
        # and write the state store (`usage` makes dozens of reads).
        await ack()
        language = await self._user_language(client, user, " ".join(words[1:]))
        if subcommand.admin_only and not is_admin:
            refusal = message("not_admin", language, command=f"/dualnova {subcommand.name}")
            await respond(response_type="ephemeral", text=refusal)
            return
        invocation = Invocation(words[1:], user, channel, language, is_admin, client, respond)
        try:
            reply = await subcommand.handler(invocation)
        except Exception:
            log.exception("/dualnova failed", extra={"subcommand": subcommand.name})
            reply = message("error", language)
        await respond(
            response_type="ephemeral", **({"text": reply} if isinstance(reply, str) else reply)
        )
