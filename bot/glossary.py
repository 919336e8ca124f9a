"""The glossary: preferred forms of terms per language, and terms never to translate.

It feeds three places: the cached prompt prefix of Nova Micro (translation) and Nova Pro
(answer), the query before retrieval (terms mapped to their corpus form), and a check of
each answer that logs violations. Admins add or remove terms at run time (`/glossary`);
changes live in the state store so every task picks them up without a restart.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from bot.chinese import is_chinese
from bot.state import StateStore
from kernel.errors import ConfigError
from kernel.models import GLOSSARY_FILE

log = logging.getLogger(__name__)


class GlossaryTerm(BaseModel):
    term: str = Field(min_length=1, max_length=200)
    forms: dict[str, str] = Field(default_factory=dict)
    do_not_translate: bool = False
    description: str = ""

    def form(self, language: str) -> str:
        return self.term if self.do_not_translate else self.preferred(language) or self.term

    def preferred(self, language: str) -> str | None:
        """The form for `language`; Simplified Chinese may be written as plain "zh", and
        Traditional falls back to it only when it has no form of its own."""
        if language in self.forms:
            return self.forms[language]
        return self.forms.get("zh") if is_chinese(language) else None


class GlossaryFile(BaseModel):
    terms: list[GlossaryTerm] = Field(default_factory=list)


@dataclass(frozen=True)
class Violation:
    term: str
    kind: Literal["do_not_translate", "non_preferred"]
    detail: str


#: Non-ASCII letters that re.IGNORECASE matches to an ASCII letter (İ~i, ı~I, ſ~s, K~k),
#: mapped so that the substring pre-check below never rejects what the regex would match.
_ASCII_LOOKALIKES = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


@functools.lru_cache(maxsize=4096)
def _word_pattern(phrase: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", re.IGNORECASE)


class _Haystack:
    """A text searched for many glossary phrases: lower-cased once, so most phrases are
    ruled out by a plain substring test before the word-boundary regex runs."""

    __slots__ = ("folded", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.folded = text.translate(_ASCII_LOOKALIKES).lower()

    def __contains__(self, phrase: str) -> bool:
        if not phrase:
            return False
        if phrase.isascii():
            return (
                phrase.lower() in self.folded
                and _word_pattern(phrase).search(self.text) is not None
            )
        return phrase in self.text  # CJK and other scripts have no word boundaries to rely on


def _contains(text: str, phrase: str) -> bool:
    return phrase in _Haystack(text)


class Glossary:
    """An immutable set of terms (sorted by term, so its prompt text is byte-stable)."""

    def __init__(self, terms: Iterable[GlossaryTerm] = ()) -> None:
        unique = {t.term.casefold(): t for t in terms}
        self.terms: tuple[GlossaryTerm, ...] = tuple(
            sorted(unique.values(), key=lambda t: t.term.casefold())
        )

    def __bool__(self) -> bool:
        return bool(self.terms)

    def prompt_text(self) -> str:
        """The glossary as it goes into system prompts, before a cache point."""
        if not self.terms:
            return ""
        lines = ["Glossary. Use these forms; never translate terms marked DO NOT TRANSLATE:"]
        for t in self.terms:
            if t.do_not_translate:
                line = f"- {t.term}: DO NOT TRANSLATE (write exactly '{t.term}' in every language)"
            else:
                forms = ", ".join(f"{lang}: {form}" for lang, form in sorted(t.forms.items()))
                line = f"- {t.term}: {forms}"
            lines.append(line + (f". {t.description}" if t.description else ""))
        return "\n".join(lines)

    def involved(self, *texts: str) -> list[GlossaryTerm]:
        """Terms that appear (in any of their forms) in any of `texts`."""
        joined = _Haystack("\n".join(texts))
        return [t for t in self.terms if any(f in joined for f in {t.term, *t.forms.values()})]

    def to_corpus(self, query: str, *, original: str, corpus_language: str) -> str:
        """Map terms in a search query to their corpus form; keep do-not-translate terms.

        A do-not-translate term of the original question that the translation lost is
        appended, so it still reaches retrieval exactly as the user wrote it.
        """
        mapped = query
        for t in self.terms:
            target = t.form(corpus_language)
            for form in {
                f for lang, f in t.forms.items() if lang != corpus_language and f != target
            }:
                if not _contains(mapped, form):
                    continue
                # Latin-script forms (Jahresurlaub, vacaciones anuales) as whole words only.
                mapped = (
                    _word_pattern(form).sub(target.replace("\\", "\\\\"), mapped)
                    if form.isascii()
                    else mapped.replace(form, target)
                )
        missing = [
            t.term
            for t in self.terms
            if t.do_not_translate and _contains(original, t.term) and not _contains(mapped, t.term)
        ]
        return " ".join([mapped, *missing]) if missing else mapped

    def violations(self, *, answer: str, language: str, sources: Sequence[str]) -> list[Violation]:
        """Glossary rules an answer broke: a do-not-translate term lost, or a non-preferred form."""
        found: list[Violation] = []
        context = _Haystack("\n".join(sources))
        said = _Haystack(answer)
        for t in self.terms:
            if t.do_not_translate:
                if t.term in context and t.term not in said and self._mentions_concept(answer, t):
                    found.append(
                        Violation(
                            t.term, "do_not_translate", f"'{t.term}' was translated or respelled"
                        )
                    )
                continue
            preferred = t.preferred(language)
            if not preferred or preferred in said:
                continue
            for lang, other in t.forms.items():
                if (
                    lang != language
                    and other != preferred
                    and not other.isascii()
                    and other in said
                ):
                    found.append(
                        Violation(
                            t.term, "non_preferred", f"used '{other}' instead of '{preferred}'"
                        )
                    )
                    break
        return found

    @staticmethod
    def _mentions_concept(answer: str, term: GlossaryTerm) -> bool:
        # Without the original term, the only evidence of a translation is a lookalike:
        # a description keyword or the term's pieces (e.g. "Nova Desk", "노바데스크").
        squashed = re.sub(r"[\s_-]", "", answer).casefold()
        return term.term.casefold().replace(" ", "") in squashed or any(
            len(piece) > 3 and piece.casefold() in answer.casefold()
            for piece in re.findall(r"[A-Z][a-z]+", term.term)
        )

    def with_term(self, term: GlossaryTerm) -> Glossary:
        return Glossary(
            [*[t for t in self.terms if t.term.casefold() != term.term.casefold()], term]
        )

    def without(self, name: str) -> Glossary:
        return Glossary([t for t in self.terms if t.term.casefold() != name.casefold()])


def parse_glossary(text: str, *, origin: str) -> Glossary:
    try:
        return Glossary(GlossaryFile.model_validate(json.loads(text)).terms)
    except (ValueError, ValidationError) as exc:
        raise ConfigError(
            f"GLOSSARY_URI: {origin} is not a glossary file ({exc.__class__.__name__}); "
            'expected {"terms": [{"term": ..., "forms": {"en": ...}}]}'
        ) from None


def glossary_candidates(*, glossary_uri: str | None, docs_source: str) -> list[str]:
    """Where the glossary may be: GLOSSARY_URI, else glossary.json beside or above the documents."""
    if glossary_uri:
        return [glossary_uri]
    base = docs_source.rstrip("/")
    if base.startswith("s3://"):
        return [f"{base}/{GLOSSARY_FILE}"]
    return [str(Path(base) / GLOSSARY_FILE), str(Path(base).parent / GLOSSARY_FILE)]


def load_base_glossary(
    *,
    glossary_uri: str | None,
    docs_source: str,
    read_s3: Callable[[str], str | None] | None = None,
) -> Glossary:
    for candidate in glossary_candidates(glossary_uri=glossary_uri, docs_source=docs_source):
        if candidate.startswith("s3://"):
            text = read_s3(candidate) if read_s3 is not None else None
            if text is None:
                continue
            return parse_glossary(text, origin=candidate)
        path = Path(candidate)
        if path.is_file():
            return parse_glossary(path.read_text("utf-8"), origin=candidate)
        if glossary_uri:
            raise ConfigError(f"GLOSSARY_URI: {candidate} does not exist")
    return Glossary()


class GlossarySource:
    """The current glossary: the file's terms plus admin changes kept in the state store.

    `current()` is cheap and synchronous (prompt building calls it per question); `refresh()`
    re-reads the admin changes, at most every `ttl_s` seconds unless forced.
    """

    def __init__(
        self, *, base: Glossary, state: StateStore | None = None, ttl_s: float = 30.0
    ) -> None:
        self._base = base
        self._state = state
        self._ttl_s = ttl_s
        self._current = base
        self._loaded_at = 0.0

    def current(self) -> Glossary:
        return self._current

    async def refresh(self, *, force: bool = False) -> Glossary:
        if self._state is None or (not force and time.monotonic() - self._loaded_at < self._ttl_s):
            return self._current
        changes = await self._state.get("glossary", "changes") or {}
        glossary = self._base
        for name in changes.get("removed", []):
            glossary = glossary.without(name)
        for raw in changes.get("added", []):
            glossary = glossary.with_term(GlossaryTerm.model_validate(raw))
        self._current, self._loaded_at = glossary, time.monotonic()
        return glossary

    async def add(self, term: GlossaryTerm) -> None:
        await self._change(added=term)

    async def remove(self, name: str) -> None:
        await self._change(removed=name)

    async def _change(
        self, *, added: GlossaryTerm | None = None, removed: str | None = None
    ) -> None:
        if self._state is None:
            self._current = (
                self._current.with_term(added) if added else self._current.without(removed or "")
            )
            return
        changes = await self._state.get("glossary", "changes") or {"added": [], "removed": []}
        key = (added.term if added else removed or "").casefold()
        changes["added"] = [t for t in changes.get("added", []) if t["term"].casefold() != key]
        changes["removed"] = [n for n in changes.get("removed", []) if n.casefold() != key]
        if added is not None:
            changes["added"].append(added.model_dump())
        else:
            changes["removed"].append(removed)
        await self._state.put("glossary", "changes", changes)
        await self.refresh(force=True)
