"""The optional judged score of `dualnova eval --judge`: Nova Micro grades an answer against
the expected facts with a fixed rubric.

The rubric and its wording never change between runs, so scores stay comparable; the score
is reported beside the string-matched fact score, never mixed into it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import LLM
from pydantic import BaseModel, Field, ValidationError

from bot.bedrock import usage_from
from kernel.aws_errors import as_model_error
from kernel.errors import ModelError

log = logging.getLogger(__name__)

RUBRIC = (
    "You grade answers of a company knowledge bot. You get the question, the facts a correct "
    "answer contains, and the bot's answer. Grade only correctness and completeness against the "
    "facts, whatever language the answer is written in:\n"
    "5 = every fact is stated correctly and nothing contradicts them\n"
    "4 = the main fact is correct, a minor one is missing\n"
    "3 = partly correct, an important fact is missing\n"
    "2 = mostly wrong or evasive, but on topic\n"
    "1 = wrong, contradicts the facts, or says it does not know\n"
    'Reply with JSON only: {"score": <1-5>, "reason": "<one short sentence>"}'
)
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class _Verdict(BaseModel):
    score: int = Field(ge=1, le=5)
    reason: str = ""


@dataclass(frozen=True)
class Judgement:
    """A 1-5 grade as 0..1 (`(score - 1) / 4`), its reason and the tokens it cost."""

    score: float | None
    reason: str
    input_tokens: int = 0
    output_tokens: int = 0


class MicroJudge:
    """Grades one answer with one Converse call; a failed call or malformed reply is no score."""

    def __init__(self, *, llm: LLM, model_id: str) -> None:
        self._llm = llm
        self._model_id = model_id

    async def grade(self, *, question: str, facts: Sequence[str], answer: str) -> Judgement:
        listed = "\n".join(f"- {fact.strip('/')}" for fact in facts) or "- (none given)"
        user = f"Question:\n{question}\n\nExpected facts:\n{listed}\n\nAnswer:\n{answer}"
        try:
            response = await self._llm.achat(
                [
                    ChatMessage(role=MessageRole.SYSTEM, content=RUBRIC),
                    ChatMessage(role=MessageRole.USER, content=user),
                ]
            )
        except Exception as exc:
            error = (
                exc if isinstance(exc, ModelError) else as_model_error(exc, model_id=self._model_id)
            )
            log.warning("judge call failed", extra={"reason": str(error)})
            return Judgement(None, f"judge failed: {error}")
        usage = usage_from(dict(response.raw) if response.raw is not None else {})
        tokens = {"input_tokens": usage["input_tokens"], "output_tokens": usage["output_tokens"]}
        match = _JSON_OBJECT.search(response.message.content or "")
        try:
            verdict = _Verdict.model_validate(json.loads(match.group() if match else ""))
        except (ValueError, ValidationError):
            return Judgement(None, "judge reply was not the expected JSON", **tokens)
        return Judgement((verdict.score - 1) / 4, verdict.reason, **tokens)
