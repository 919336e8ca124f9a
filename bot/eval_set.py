"""A golden set for `dualnova eval`: JSONL, one question a line, and how facts are matched.

    {"id": "leave-ko-1", "question": "연차는 며칠인가요?", "language": "ko",
     "history": [{"role": "user", "text": "..."}, {"role": "assistant", "text": "..."}],
     "expect_sources": ["leave-policy"], "expect_facts": ["20", "/carry.*5/"],
     "answerable": true, "tags": ["code-mixed"]}

A bad line is reported with its line number and field, and the other lines still run.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kernel.models import Turn


class EvalItem(BaseModel):
    """One golden question and what a good answer to it looks like."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    #: The language the answer must be written in (ISO 639-1).
    language: str = Field(min_length=2, max_length=7)  # "zh-Hant" names a script
    history: tuple[Turn, ...] = ()
    #: Substrings of a citation's source or title (case-insensitive).
    expect_sources: tuple[str, ...] = ()
    #: Substrings, or /regex/, that a correct answer contains.
    expect_facts: tuple[str, ...] = ()
    answerable: bool = True
    tags: tuple[str, ...] = ()

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        from bot.chinese import HANS, HANT, normalize_code
        from bot.language import SUPPORTED_CODES

        code = normalize_code(value) if value.lower().startswith("zh") else value.lower()
        if code not in SUPPORTED_CODES and code not in (HANT, HANS):
            raise ValueError(f"unknown ISO 639-1 code {value!r}")
        return code

    @field_validator("expect_facts")
    @classmethod
    def _regexes_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for fact in value:
            if _is_regex(fact):
                try:
                    re.compile(fact[1:-1])
                except re.error as exc:
                    raise ValueError(f"{fact} is not a valid regex ({exc})") from None
        return value

    @model_validator(mode="after")
    def _answerable_needs_expectations(self) -> EvalItem:
        if self.answerable and not self.expect_sources:
            raise ValueError("expect_sources: required when answerable is true")
        return self

    @property
    def follow_up(self) -> bool:
        return bool(self.history)


@dataclass(frozen=True)
class LineError:
    """A line of the golden set that could not be used."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass(frozen=True)
class GoldenSet:
    path: str
    items: tuple[EvalItem, ...]
    errors: tuple[LineError, ...]


def load_golden_set(path: str | Path) -> GoldenSet:
    """Every valid item of the file, and an error for each line that is not one."""
    items: list[EvalItem] = []
    errors: list[LineError] = []
    seen: set[str] = set()
    text = Path(path).read_text("utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(LineError(number, "(json)", f"{exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(raw, dict):
            errors.append(LineError(number, "(json)", "expected an object {...}"))
            continue
        try:
            item = EvalItem.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or _field_in(str(first["msg"]))
            message = str(first["msg"]).removeprefix("Value error, ")
            errors.append(LineError(number, where, message))
            continue
        if item.id in seen:
            errors.append(LineError(number, "id", f"duplicate id {item.id!r}"))
            continue
        seen.add(item.id)
        items.append(item)
    return GoldenSet(path=str(path), items=tuple(items), errors=tuple(errors))


def _field_in(message: str) -> str:
    """Model-level errors name their field first ("expect_sources: required ...")."""
    head = message.removeprefix("Value error, ").split(":", 1)[0]
    return head if head.isidentifier() else "(item)"


# --- facts -------------------------------------------------------------------------------


def _is_regex(fact: str) -> bool:
    return len(fact) > 2 and fact.startswith("/") and fact.endswith("/")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def fact_present(fact: str, text: str) -> bool:
    """True if `text` states `fact`: a /regex/ (case-insensitive search), else a substring
    (case- and width-insensitive). A fact that is a bare number matches only a whole number,
    so "20" is not found in "2025"."""
    if _is_regex(fact):
        return re.search(fact[1:-1], text, re.IGNORECASE) is not None
    folded, haystack = _fold(fact), _fold(text)
    if folded.isdigit():
        return re.search(rf"(?<![\d.,]){re.escape(folded)}(?![\d]|[.,]\d)", haystack) is not None
    return folded in haystack


def source_matches(expected: str, *, source: str, title: str) -> bool:
    """An expected source is a case-insensitive substring of a citation's source or title."""
    needle = expected.casefold()
    return needle in source.casefold() or needle in title.casefold()
