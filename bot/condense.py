"""Stage 2: condense a follow-up and translate it into the corpus language (Nova Micro).

One Converse call returns JSON (`standalone_question`, `intent`), validated with pydantic.
The assistant turn is prefilled with `{`, so Nova continues a JSON object instead of opening
with prose or a code fence. It is skipped — zero model calls — when the question is in a
corpus language and has no history to resolve. A malformed reply or a failed call degrades
to the original question; a question that waited too long for Micro is told so.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import LLM
from pydantic import BaseModel, Field, ValidationError

from bot.answer import response_tokens
from bot.bedrock import usage_from
from bot.flow import FlowControl
from bot.glossary import Glossary
from bot.messages import language_name
from bot.prompts import system_message
from bot.tokens import estimate_tokens
from kernel.aws_errors import as_model_error
from kernel.errors import ModelBusy, ModelError
from kernel.models import Intent, ModelCall, Turn

log = logging.getLogger(__name__)

_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
#: The start of the assistant's turn, sent with the request: the reply continues it.
PREFILL = "{"
#: Room for the JSON around the question, and its floor and ceiling.
CONDENSE_MIN_TOKENS = 300
CONDENSE_MAX_TOKENS = 2_000


class CondenseReply(BaseModel):
    """The JSON Micro must return."""

    standalone_question: str = Field(min_length=1, max_length=2000)
    intent: Intent = "question"


@dataclass(frozen=True)
class Routing:
    """What retrieval should search for, and what it cost."""

    standalone_question: str
    intent: Intent
    translated: bool
    call: ModelCall | None


def system_prompt(corpus_languages: Sequence[str]) -> str:
    """Stable across calls (so the cache point after it can hit): nothing per-question here."""
    corpus = ", ".join(f"{language_name(code)} ({code})" for code in corpus_languages)
    return (
        "You prepare questions for a search engine over a company's internal documents.\n"
        f"The documents are written in: {corpus}.\n"
        "Given the conversation so far and the latest message, write ONE standalone question that "
        "can be understood without the conversation (resolve pronouns and follow-ups such as "
        "'what about X?'), written in the first document language unless the message is already "
        "in one of the document languages. Keep product names, code, and proper nouns unchanged. "
        "Do not answer the question.\n"
        "Also classify the latest message's intent: question, greeting, thanks, or other.\n"
        'Reply with JSON only, no prose: {"standalone_question": "...", "intent": "question"}'
    )


def trim_history(history: Sequence[Turn], budget_tokens: int) -> list[Turn]:
    """The newest turns that fit the budget (about 4 characters a token), oldest first."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(history):
        cost = len(turn.text) // 4 + 4
        if used + cost > budget_tokens:
            break
        kept.append(turn)
        used += cost
    return list(reversed(kept))


def condense_max_tokens(question: str) -> int:
    """maxTokens for the JSON reply: the standalone question may be a translation, which can
    take up to three times the tokens of the original (English into Korean or Japanese)."""
    return max(CONDENSE_MIN_TOKENS, min(CONDENSE_MAX_TOKENS, 3 * estimate_tokens(question) + 64))


def parse_reply(text: str) -> CondenseReply | None:
    """The validated reply, from the model's continuation of the prefill (or, from a model
    that repeats the opening brace or wraps it in prose, the first JSON object in it)."""
    candidates = [PREFILL + text] if not text.lstrip().startswith("{") else []
    candidates.append(text)
    for candidate in candidates:
        try:
            return CondenseReply.model_validate(json.loads(candidate))
        except (ValueError, ValidationError):
            continue
    match = _JSON_OBJECT.search(text)
    if match is None:
        return None
    try:
        return CondenseReply.model_validate(json.loads(match.group()))
    except (ValueError, ValidationError):
        return None


class MicroRouter:
    """Condense + translate with one Micro call, or none when it cannot help."""

    def __init__(
        self,
        *,
        llm: LLM,
        model_id: str,
        corpus_languages: Sequence[str],
        history_budget: int,
        glossary: Callable[[], Glossary] = Glossary,
        flow: FlowControl | None = None,
    ) -> None:
        self._llm = llm
        self._gate = flow.gate(model_id) if flow is not None else None
        self._glossary = glossary
        self._model_id = model_id
        self._corpus_languages = list(corpus_languages)
        self._history_budget = history_budget
        self._system = system_prompt(self._corpus_languages)

    def needed(self, *, language: str, history: Sequence[Turn]) -> bool:
        return language not in self._corpus_languages or bool(history)

    def messages(
        self, *, question: str, language: str, history: Sequence[Turn]
    ) -> list[ChatMessage]:
        lines = [
            f"{turn.role}: {turn.text}" for turn in trim_history(history, self._history_budget)
        ]
        conversation = "\n".join(lines) if lines else "(none)"
        user = (
            f"Conversation so far:\n{conversation}\n\n"
            f"Latest message ({language_name(language)}):\n{question}"
        )
        return [
            system_message(self._system, self._glossary()),
            ChatMessage(role=MessageRole.USER, content=user),
            ChatMessage(role=MessageRole.ASSISTANT, content=PREFILL),
        ]

    async def route(self, *, question: str, language: str, history: Sequence[Turn]) -> Routing:
        if not self.needed(language=language, history=history):
            return Routing(question, "question", False, None)
        translated = language not in self._corpus_languages
        purpose: Literal["translate", "condense"] = "translate" if translated else "condense"
        started = time.perf_counter()
        messages = self.messages(question=question, language=language, history=history)
        max_tokens = condense_max_tokens(question)

        async def chat() -> Any:
            try:
                return await self._llm.achat(messages, max_tokens=max_tokens)
            except Exception as exc:
                raise as_model_error(exc, model_id=self._model_id) from exc

        try:
            if self._gate is None:
                response = await chat()
            else:
                reserve = sum(estimate_tokens(m.content or "") for m in messages) + max_tokens
                response = await self._gate.call(chat, tokens=reserve, used=response_tokens)
        except ModelBusy:
            raise  # the asker must hear that the bot is busy, not wait again for Pro
        except Exception as exc:
            error: ModelError = (
                exc if isinstance(exc, ModelError) else as_model_error(exc, model_id=self._model_id)
            )
            log.warning(
                "condense failed; searching with the original question",
                extra={"reason": str(error)},
            )
            return Routing(question, "question", False, None)
        call = ModelCall(
            model=self._model_id,
            purpose=purpose,
            latency_ms=(time.perf_counter() - started) * 1000,
            **usage_from(_raw(response.raw)),
        )
        reply = parse_reply(response.message.content or "")
        if reply is None:
            log.warning(
                "condense reply was not the expected JSON; using the original question",
                extra={"model": self._model_id, "reply_chars": len(response.message.content or "")},
            )
            return Routing(question, "question", False, call)
        return Routing(reply.standalone_question.strip(), reply.intent, translated, call)


def _raw(raw: Any) -> Any:
    return dict(raw) if raw is not None else {}
