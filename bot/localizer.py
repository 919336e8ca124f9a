"""The bot's fixed sentences in any language: written ones first, else Nova Micro's, cached.

`bot/messages.py` holds sentences written for the common languages. For any other language
(Turkish, Polish, Arabic, ...) the English sentence is translated once by Nova Micro, kept
in the state store (shared by every task) and reused. Without a model (offline, or Micro
failing) the asker gets the English sentence with a note naming their language, never
silence.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable

from bot.answer import Translator
from bot.chinese import base_language
from bot.messages import MessageKey, has_message, language_name, message, template
from bot.state import MemoryStateStore, StateError, StateStore
from kernel.errors import ModelError
from kernel.models import ModelCall

log = logging.getLogger(__name__)

KIND = "message_translation"
#: Long enough to matter, short enough that a reworded English sentence is picked up.
TTL_S = 30 * 24 * 3600
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def cache_key(key: MessageKey, language: str) -> str:
    """Per sentence, language and English wording: editing the English retranslates it."""
    digest = hashlib.sha256(template(key).encode()).hexdigest()[:8]
    return f"{language}:{key}:{digest}"


class Localizer:
    """`message()` for every language: the catalogue, the cache, then one Micro call."""

    def __init__(self, *, translator: Translator | None, state: StateStore | None = None) -> None:
        self._translator = translator
        self._state: StateStore = state or MemoryStateStore()

    async def message(
        self,
        key: MessageKey,
        language: str,
        *,
        on_call: Callable[[ModelCall], None] | None = None,
        **values: object,
    ) -> str:
        if base_language(language) == "en" or has_message(key, language):
            return message(key, language, **values)
        translated = await self._translated(key, language, on_call)
        if translated is None:
            note = message("untranslated", "en", name=language_name(language))
            return f"{message(key, 'en', **values)} _({note})_"
        try:
            return translated.format(**values)
        except (KeyError, IndexError, ValueError):  # stray braces in a cached translation
            return message(key, "en", **values)

    async def _translated(
        self, key: MessageKey, language: str, on_call: Callable[[ModelCall], None] | None
    ) -> str | None:
        store_key = cache_key(key, language)
        try:
            cached = await self._state.get(KIND, store_key)
        except StateError as exc:
            log.warning("message cache unreadable", extra={"reason": str(exc)})
            cached = None
        if cached and isinstance(cached.get("text"), str):
            return str(cached["text"])
        if self._translator is None:
            return None
        english = template(key)
        try:
            text, call = await self._translator.translate(
                english, target=language, purpose="translate"
            )
        except ModelError as exc:
            log.warning(
                "fixed sentence not translated",
                extra={"key": key, "language": language, "reason": str(exc)},
            )
            return None
        if on_call is not None:
            on_call(call)
        # A translation that lost or renamed a {placeholder} would fail or mislead later.
        if not text or set(_PLACEHOLDER.findall(text)) != set(_PLACEHOLDER.findall(english)):
            log.warning(
                "fixed sentence translation rejected", extra={"key": key, "language": language}
            )
            return None
        try:
            await self._state.put(KIND, store_key, {"text": text}, ttl_s=TTL_S)
        except StateError as exc:  # still usable now; the next asker pays one more call
            log.warning("message cache not written", extra={"reason": str(exc)})
        return text
