"""Typed data passed between the stages of the pipeline."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Purpose = Literal[
    "condense", "translate", "answer", "companion", "draft", "embed", "probe", "answer_language"
]
Status = Literal["answered", "not_found", "offline", "incomplete", "failed", "empty", "refused"]
#: What Micro classified the latest message as.
Intent = Literal["question", "greeting", "thanks", "other"]

#: The collection everything is ingested into unless told otherwise.
PUBLIC_COLLECTION = "public"
#: A file of this name in the documents' folder is the glossary (`bot.glossary`), which
#: ingest skips: it configures the prompts and is not a document.
GLOSSARY_FILE = "glossary.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Turn(_Frozen):
    """One earlier message of the conversation (thread history)."""

    role: Literal["user", "assistant"]
    text: str
    #: Who wrote it (Slack user id), so mixed-language threads answer each person in theirs.
    user: str | None = None


class Question(_Frozen):
    """A person's question, with what the pipeline needs to know about where it came from."""

    text: str
    question_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:16])
    history: tuple[Turn, ...] = ()
    language_hint: str | None = None
    #: The language the question is written in, when the caller has already detected it.
    language: str | None = None
    #: Collections this asker may see here; None means the public collection only.
    collections: frozenset[str] | None = None
    user_id: str | None = None
    channel_id: str | None = None
    thread_ts: str | None = None
    #: A remembered preference ("answer me in Japanese") wins over the detected language.
    answer_language: str | None = None
    #: "draft_then_pro": Micro streams a short grounded draft first, Pro's answer follows.
    answer_mode: Literal["pro", "draft_then_pro"] = "pro"
    #: The channel's staff language: the answer is also translated into it by Micro.
    companion_language: str | None = None

    @property
    def visible_collections(self) -> frozenset[str]:
        return self.collections if self.collections is not None else frozenset({PUBLIC_COLLECTION})


class Passage(_Frozen):
    """A retrieved chunk of a document."""

    node_id: str
    text: str
    title: str
    source: str
    language: str
    collection: str = PUBLIC_COLLECTION
    score: float = 0.0
    location: str = ""  # within the source: "slide 3", "sheet Rates, row 5"


class Citation(_Frozen):
    """A numbered source as shown to the user; `number` matches [n] in the answer."""

    number: int
    title: str
    source: str
    score: float
    language: str = "en"
    node_id: str = ""
    location: str = ""  # within the source: "slide 3", "sheet Rates, row 5"


class ModelCall(_Frozen):
    """One Bedrock call and its usage, as Bedrock reported it."""

    model: str
    purpose: Purpose
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    latency_ms: float = 0.0


class Route(_Frozen):
    """How a question was handled: the question used for retrieval and every model call."""

    standalone_question: str
    intent: Intent = "question"
    translated: bool = False
    calls: tuple[ModelCall, ...] = ()


class Answer(_Frozen):
    """The finished answer."""

    question: str
    question_id: str
    language: str
    text: str
    citations: tuple[Citation, ...]
    route: Route
    status: Status
    offline: bool = False
    notices: tuple[str, ...] = ()
    #: Milliseconds per stage: detect, condense, retrieve, first_token, answer.
    timings: tuple[tuple[str, float], ...] = ()
    question_language: str = ""
    draft: str | None = None
    companion: str | None = None
    glossary_terms: tuple[str, ...] = ()
    #: "en>ko" when the answer was written in English for a Korean asker (and translated).
    language_mismatch: str | None = None

    def to_json_dict(self) -> dict[str, object]:
        """The `--json` shape (docs/ARCHITECTURE.md, "Command line")."""
        return {
            "question": self.question,
            "question_id": self.question_id,
            "language": self.language,
            "answer": self.text,
            "status": self.status,
            "citations": [
                {
                    "number": c.number,
                    "title": c.title,
                    "source": c.source,
                    **({"location": c.location} if c.location else {}),
                    "score": round(c.score, 4),
                }
                for c in self.citations
            ],
            "route": {
                "standalone_question": self.route.standalone_question,
                "intent": self.route.intent,
                "translated": self.route.translated,
                "calls": [
                    {
                        "model": call.model,
                        "purpose": call.purpose,
                        "input_tokens": call.input_tokens,
                        "output_tokens": call.output_tokens,
                        "cache_read_tokens": call.cache_read_tokens,
                        "cache_write_tokens": call.cache_write_tokens,
                    }
                    for call in self.route.calls
                ],
            },
            "offline": self.offline,
            "notices": list(self.notices),
            "timings_ms": {stage: round(ms, 1) for stage, ms in self.timings},
            **({"language_mismatch": self.language_mismatch} if self.language_mismatch else {}),
        }
