"""The words the bot and Slack share: action ids, what a button carries, DM channels, thread keys.

Buttons round-trip through Slack as strings, so every value that goes out in a block is
encoded here and decoded here; a value that does not parse raises `BadButtonValue` (a
forged or stale payload) instead of turning into a dict of `None`s three calls later.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Vote = Literal["up", "down", "translation"]

SHARE_ANSWER = "share_answer"
FEEDBACK_UP = "feedback_up"
FEEDBACK_DOWN = "feedback_down"
FEEDBACK_TRANSLATION = "feedback_translation"
#: Slack wants action ids unique within a block, so each "Show translation" carries its number.
SHOW_TRANSLATION = re.compile(r"^show_translation_\d+$")

#: What each feedback button counts as in the metrics and the feedback records.
FEEDBACK_VOTES: dict[str, Vote] = {
    FEEDBACK_UP: "up",
    FEEDBACK_DOWN: "down",
    FEEDBACK_TRANSLATION: "translation",
}

# A button's value may hold up to 2,000 characters.
VALUE_LIMIT = 2000


def show_translation_action(number: int) -> str:
    return f"show_translation_{number}"


def is_dm(channel_id: str) -> bool:
    """Direct-message channel ids start with D (channels C, private channels and MPIMs G)."""
    return channel_id.startswith("D")


def thread_key(channel_id: str, thread_ts: str) -> str:
    """The state-store key of one Slack thread: a ts is unique only within its channel."""
    return f"{channel_id}:{thread_ts}"


class BadButtonValue(ValueError):
    """A button value that is not what this bot put there."""


class ButtonValue(BaseModel):
    """A button's value: short JSON keys on the wire (the 2,000-character limit), names here."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    def encode(self) -> str:
        encoded = self.model_dump_json(by_alias=True)
        if len(encoded) > VALUE_LIMIT:
            raise BadButtonValue(
                f"{type(self).__name__} is {len(encoded)} characters; Slack allows {VALUE_LIMIT}"
            )
        return encoded

    @classmethod
    def decode(cls, raw: object) -> Self:
        try:
            return cls.model_validate_json(str(raw) if raw is not None else "")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()
            )
            shown = str(raw)[:80]
            raise BadButtonValue(
                f"not a {cls.__name__} button value ({problems}): {shown!r}"
            ) from None


class FeedbackValue(ButtonValue):
    """👍 / 👎 / "Translation was wrong": which answer, in which language, by which route."""

    question_id: str = Field(validation_alias="q", serialization_alias="q")
    language: str = Field(validation_alias="l", serialization_alias="l")
    route: str = Field(validation_alias="r", serialization_alias="r")


class TranslationValue(ButtonValue):
    """ "Show translation": the cited passage's node, the reader's language, the citation number."""

    node_id: str = Field(validation_alias="n", serialization_alias="n")
    language: str = Field(validation_alias="l", serialization_alias="l")
    number: int = Field(validation_alias="k", serialization_alias="k")
