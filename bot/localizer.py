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
        self._learning: set[str] = set()

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

    async def known(self, key: MessageKey, language: str) -> str:
        """The template of `key` in `language` without a model call — written, else a cached
        translation, else English — for sentences needed at once (the sign of work)."""
        if base_language(language) == "en" or has_message(key, language):
            return template(key, language)
        cached = await self._cached(cache_key(key, language))
        return cached if cached is not None else template(key)

    async def learn(self, keys: tuple[MessageKey, ...], language: str) -> None:
        """Translate and cache the sentences of `keys` not yet known in `language` (one Micro
        call each, once per language a month), so `known` has them next time."""
        for key in keys:
            if base_language(language) == "en" or has_message(key, language):
                continue
            store_key = cache_key(key, language)
            if store_key in self._learning or await self._cached(store_key) is not None:
                continue
            self._learning.add(store_key)  # one call, however many ask at once
            try:
                await self._translated(key, language, None)
            finally:
                self._learning.discard(store_key)

    async def _cached(self, store_key: str) -> str | None:
        try:
            cached = await self._state.get(KIND, store_key)
        except StateError as exc:
            log.warning("message cache unreadable", extra={"reason": str(exc)})
            return None
        if cached and isinstance(cached.get("text"), str):
            return str(cached["text"])
        return None

    async def _translated(
        self, key: MessageKey, language: str, on_call: Callable[[ModelCall], None] | None
    ) -> str | None:
        store_key = cache_key(key, language)
        cached = await self._cached(store_key)
        if cached is not None:
            return cached
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
