"""The answer as it is written: a frozen `Plan` in, text out, an `Answer` at the end.

The pipeline decides everything before the first word (the `Plan`); `AnswerStream` then
runs the model's text through the answer-language guard, adds the post-answer results and
tells the observer. A canned answer (`AnswerStream.fixed`) is a plan with nothing to write.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.answer import Translator
from bot.answer_language import AnswerLanguageGuard
from bot.localizer import Localizer
from bot.messages import MessageKey, message, native_name
from kernel.errors import (
    ModelBusy,
    ModelError,
    ModelThrottled,
    OutputLimitReached,
    StreamInterrupted,
)
from kernel.models import Answer, Citation, ModelCall, Passage, Question, Route, Status

log = logging.getLogger(__name__)

Timings = dict[str, float]
#: Starts a model's text; every Bedrock call it makes is reported to the callback.
Generate = Callable[[Callable[[ModelCall], None]], AsyncIterator[str]]

_CITATION = re.compile(r"\[(\d{1,2})\]")


class PipelineObserver(Protocol):
    """Hooks around a question: budgets may refuse it; accounting sees every finished answer."""

    async def admit(self, question: Question, language: str) -> str | None:
        """None to go ahead, or the sentence (in `language`) to reply instead."""

    async def finished(self, question: Question, answer: Answer) -> None: ...


class NoObserver:
    async def admit(self, question: Question, language: str) -> str | None:
        return None

    async def finished(self, question: Question, answer: Answer) -> None:
        return None


@dataclass(frozen=True)
class Plan:
    """What the stages decided before a word of the answer is written."""

    question: Question
    language: str  # of the answer
    route: Route
    status: Status
    text: str = ""  # shown first: notices, then a canned answer
    passages: tuple[Passage, ...] = ()
    notices: tuple[str, ...] = ()
    offline: bool = False
    #: Detected from the question; empty when it is the answer's language.
    question_language: str = ""
    #: Milliseconds per stage so far (detect, condense, retrieve).
    timings: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class AfterAnswer:
    """What the post-answer step found: glossary terms involved, the companion translation."""

    glossary_terms: tuple[str, ...] = ()
    companion: str | None = None
    calls: tuple[ModelCall, ...] = ()


#: The post-answer step: given the plan, the final text and status.
AfterStep = Callable[[Plan, str, Status], Awaitable[AfterAnswer]]


@dataclass(frozen=True)
class StreamTools:
    """What every answer of one pipeline shares."""

    localizer: Localizer = field(default_factory=lambda: Localizer(translator=None))
    guard: AnswerLanguageGuard | None = None
    translator: Translator | None = None
    observer: PipelineObserver = field(default_factory=NoObserver)
    after: AfterStep | None = None


class AnswerStream:
    """The answer as it is written. Iterate for text; `result()` once iteration has ended."""

    def __init__(
        self,
        plan: Plan,
        *,
        generate: Generate | None = None,
        draft: Generate | None = None,
        tools: StreamTools | None = None,
    ) -> None:
        self.plan = plan
        self.question = plan.question
        self.language = plan.language
        self.question_language = plan.question_language or plan.language
        self.passages = list(plan.passages)
        self.notices = list(plan.notices)
        self.offline = plan.offline
        self.status: Status = plan.status
        self.timings: Timings = dict(plan.timings)
        self._tools = tools or StreamTools()
        #: "en>ko" when the guard found the answer in another language (and it was translated).
        self.language_mismatch: str | None = None
        #: The answer as the model wrote it, when the guard replaced it with a translation.
        self.original_text: str | None = None
        #: The streamed text differs from `text` (the guard's note, a replaced answer): the
        #: delivered message should be edited to `text`.
        self.rewritten = False
        self.draft_text: str | None = None
        self.after = AfterAnswer()
        self._calls = list(plan.route.calls)
        self._generator = generate(self.record_call) if generate is not None else None
        self._draft = draft(self.record_call) if draft is not None else None
        self._parts: list[str] = []
        self._done = False
        self._started = time.perf_counter()

    @classmethod
    def fixed(cls, plan: Plan, tools: StreamTools | None = None) -> AnswerStream:
        """A canned answer: the plan's text, no model writing."""
        return cls(plan, tools=tools)

    def record_call(self, call: ModelCall) -> None:
        self._calls.append(call)

    @property
    def has_draft(self) -> bool:
        return self._draft is not None

    async def draft(self) -> AsyncIterator[str]:
        """The quick Micro draft (draft_then_pro); read it before the answer itself."""
        if self._draft is None:
            return
        parts: list[str] = []
        try:
            async for delta in self._draft:
                parts.append(delta)
                yield delta
        except ModelError as exc:  # the draft is a bonus: Pro's answer still follows
            log.warning("draft failed", extra={"reason": str(exc)})
        self.draft_text = "".join(parts)

    async def __aiter__(self) -> AsyncIterator[str]:
        if self.plan.text:
            self._parts.append(self.plan.text)
            yield self.plan.text
        if self._generator is not None:
            async for delta in self._written(self._generator):
                yield delta
            self.timings["answer"] = (time.perf_counter() - self._started) * 1000
            if self._tools.after is not None:
                self.after = await self._tools.after(self.plan, self.text, self.status)
                self._calls.extend(self.after.calls)
        self._done = True
        await self._tools.observer.finished(self.question, self.result())

    async def _written(self, generator: AsyncIterator[str]) -> AsyncIterator[str]:
        """The model's text through the language guard: shown as it comes, or held back once
        the guard sees the wrong language (then translated at the end)."""
        guard = self._tools.guard
        written: list[str] = []  # the model's text, shown or held back
        shown = 0  # how much of it was shown
        holding = False
        early_checked = guard is None
        marker = ""
        try:
            async for delta in generator:
                if "first_token" not in self.timings:
                    self.timings["first_token"] = (time.perf_counter() - self._started) * 1000
                written.append(delta)
                if holding:
                    continue
                if not early_checked and guard is not None:
                    # Checked before this delta is shown (deltas arrive coalesced, so
                    # one may carry many sentences); the words before it are out already.
                    so_far = "".join(written)
                    if guard.ready(so_far):
                        early_checked = True
                        holding = guard.verdict(so_far, self.language).mismatch
                    if holding:
                        cut = max(guard.first_sentence_end(so_far), shown)
                        delta = so_far[shown:cut]
                        notice = "\n\n_" + await self._say("answer_translating") + "_"
                        self._parts += [delta, notice]
                        shown = cut
                        yield delta + notice
                        continue
                self._parts.append(delta)
                shown += len(delta)
                yield delta
        except StreamInterrupted as exc:
            self.status = "incomplete"
            key: MessageKey = "answer_cut" if isinstance(exc, OutputLimitReached) else "incomplete"
            marker = "\n\n" + await self._say(key)
        except ModelError as exc:
            self.status = "failed"
            key, values = failure_key(exc)
            failure = await self._say(key, **values)
            self._parts.append(failure)
            yield failure
        model_text = "".join(written)
        translation = await self._guarded(model_text)
        if translation is not None:
            self._parts.append("\n\n" + translation)
            yield "\n\n" + translation
            self.original_text = model_text
            self._parts = [self.plan.text, translation]
            self.rewritten = True
        elif holding:  # the end says it was right after all: show it, without the note
            yield model_text[shown:]
            self._parts = [self.plan.text, model_text]
            self.rewritten = True
        if marker:
            self._parts.append(marker)
            yield marker

    async def _say(self, key: MessageKey, **values: object) -> str:
        return await self._tools.localizer.message(
            key, self.language, on_call=self.record_call, name=native_name(self.language), **values
        )

    async def _guarded(self, model_text: str) -> str | None:
        """The translation when the finished answer is in the wrong language, else None."""
        guard, translator = self._tools.guard, self._tools.translator
        if guard is None or self.status == "failed" or not model_text.strip():
            return None
        verdict = guard.verdict(model_text, self.language)
        if not verdict.mismatch:
            return None
        self.language_mismatch = verdict.pair
        log.warning(
            "answer in the wrong language",
            extra={"question_id": self.question.question_id, "pair": verdict.pair},
        )
        if translator is None:
            return None
        try:
            translated, call = await translator.translate(
                model_text, target=self.language, purpose="answer_language"
            )
        except ModelError as exc:
            log.warning("answer translation failed", extra={"reason": str(exc)})
            return None
        self.record_call(call)
        if not translated.strip() or guard.verdict(translated, self.language).mismatch:
            # Micro echoed the text, or answered in yet another language: the model's own
            # words, in the wrong language, are still the grounded answer.
            log.warning(
                "answer translation not in the asker's language",
                extra={"question_id": self.question.question_id, "pair": verdict.pair},
            )
            return None
        return translated

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def citations(self) -> tuple[Citation, ...]:
        """Passages the answer cites (all given passages when it cites none explicitly)."""
        if not self.passages:
            return ()
        cited = {int(n) for n in _CITATION.findall(self.text)}
        numbers = [n for n in range(1, len(self.passages) + 1) if n in cited] or list(
            range(1, len(self.passages) + 1)
        )
        return tuple(
            Citation(
                number=n,
                title=self.passages[n - 1].title,
                source=self.passages[n - 1].source,
                score=self.passages[n - 1].score,
                language=self.passages[n - 1].language,
                node_id=self.passages[n - 1].node_id,
                location=self.passages[n - 1].location,
            )
            for n in numbers
        )

    def result(self) -> Answer:
        if not self._done:
            raise RuntimeError("result() before the stream was read to the end")
        return Answer(
            question=self.question.text,
            question_id=self.question.question_id,
            language=self.language,
            text=self.text,
            citations=self.citations
            if self.status in ("answered", "offline", "incomplete")
            else (),
            route=self.plan.route.model_copy(update={"calls": tuple(self._calls)}),
            status=self.status,
            offline=self.offline,
            notices=tuple(self.notices),
            timings=tuple(self.timings.items()),
            question_language=self.question_language,
            draft=self.draft_text,
            companion=self.after.companion,
            glossary_terms=self.after.glossary_terms,
            language_mismatch=self.language_mismatch,
        )


def failure_key(exc: ModelError) -> tuple[MessageKey, dict[str, object]]:
    """The catalogue key (and its values) of what the asker reads when a model call failed:
    busy with a time to come back, busy, or the model is unreachable."""
    if isinstance(exc, ModelBusy):
        return "busy_retry", {"minutes": max(1, math.ceil(exc.retry_after_s / 60))}
    return ("busy" if isinstance(exc, ModelThrottled) else "model_error"), {}


def failure_message(exc: ModelError, language: str) -> str:
    """`failure_key` in the written catalogue (where no localizer is at hand)."""
    key, values = failure_key(exc)
    return message(key, language, **values)
