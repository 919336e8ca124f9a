"""Per-channel settings and per-user language preferences.

Channel defaults come from CHANNEL_SETTINGS (JSON, or a path to it); admins change them in
Slack (`/dualnova settings`), and those changes live in the state store so every task sees
them. A user's language preference ("answer me in Japanese") lives there too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from bot.state import StateStore
from kernel.errors import ConfigError

PREFERENCE_TTL_S = 365 * 24 * 3600


class ChannelSettings(BaseModel):
    companion_language: str | None = None
    answer_mode: Literal["pro", "draft_then_pro"] = "pro"
    #: Which thread replies without a mention get an answer (see bot/slack/addressing.py).
    followups: Literal["addressed", "all", "mentions"] = "addressed"


class ChannelSettingsFile(BaseModel):
    channels: dict[str, ChannelSettings] = {}


def load_channel_settings(source: str | None) -> dict[str, ChannelSettings]:
    if not source:
        return {}
    try:
        text = source if source.lstrip().startswith("{") else Path(source).read_text("utf-8")
        return ChannelSettingsFile.model_validate(json.loads(text)).channels
    except (OSError, ValueError, ValidationError) as exc:
        raise ConfigError(
            "CHANNEL_SETTINGS: expected JSON (or a path to it) like "
            '{"channels": {"C1": {"companion_language": "ko", "answer_mode": "draft_then_pro"}}} '
            f"({exc.__class__.__name__})"
        ) from None


class SettingsStore:
    def __init__(self, *, state: StateStore, defaults: dict[str, ChannelSettings]) -> None:
        self._state = state
        self._defaults = defaults

    async def channel(self, channel_id: str) -> ChannelSettings:
        base = self._defaults.get(channel_id, ChannelSettings())
        override = await self._state.get("channel_settings", channel_id)
        return base.model_copy(update=override) if override else base

    async def update_channel(self, channel_id: str, **changes: object) -> ChannelSettings:
        current = await self.channel(channel_id)
        updated = ChannelSettings.model_validate({**current.model_dump(), **changes})
        await self._state.put("channel_settings", channel_id, updated.model_dump())
        return updated

    async def user_language(self, user_id: str | None) -> str | None:
        if not user_id:
            return None
        record = await self._state.get("user_pref", user_id)
        language = record.get("language") if record else None
        return str(language) if language else None

    async def set_user_language(self, user_id: str, language: str | None) -> None:
        if language is None:
            await self._state.delete("user_pref", user_id)
        else:
            await self._state.put(
                "user_pref", user_id, {"language": language}, ttl_s=PREFERENCE_TTL_S
            )
