"""One question, top to bottom: detect -> condense/translate -> retrieve -> answer.

`Pipeline.answer()` runs the first three stages, then hands back an `AnswerStream` whose
text arrives as the answer is written. It never raises for model trouble: the stream then
carries one sentence in the asker's language saying what happened and what to do.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.answer import ProAnswerer
from bot.condense import MicroRouter, Routing
from bot.errors import IndexNotFound, ModelError, ModelThrottled, RetrievalError, StreamInterrupted
from bot.language import LanguageDetector
from bot.messages import message
from bot.models import Answer, Citation, ModelCall, Passage, Question, Route, Status

Timings = dict[str, float]


class PipelineObserver(Protocol):
    """Hooks around a question: budgets may refuse it; accounting sees every finished answer."""

    async def admit(self, question: Question, language: str) -> str | None:
        """None to go ahead, or the sentence (in `language`) to reply instead."""

    async def finished(self, answer: Answer) -> None: ...


class NoObserver:
    async def admit(self, question: Question, language: str) -> str | None:
        return None

    async def finished(self, answer: Answer) -> None:
        return None


log = logging.getLogger(__name__)

_CITATION = re.compile(r"\[(\d{1,2})\]")
OFFLINE_QUOTE_CHARS = 600
OFFLINE_PASSAGES = 3


@dataclass(frozen=True)
class PipelineLimits:
    corpus_languages: tuple[str, ...]
    max_question_chars: int
    top_k: int


class AnswerStream:
    """The answer as it is written. Iterate for text; `result()` once iteration has ended."""

    def __init__(
        self,
        *,
        question: Question,
        text: str,
        language: str,
        route: Route,
        passages: Sequence[Passage] = (),
        status: Status,
        offline: bool = False,
        notices: Sequence[str] = (),
        generate: Callable[[Callable[[ModelCall], None]], AsyncIterator[str]] | None = None,
        timings: Timings | None = None,
        observer: PipelineObserver | None = None,
    ) -> None:
        self.question = question
        self.language = language
        self.passages = list(passages)
        self.status: Status = status
        self.offline = offline
        self.notices = list(notices)
        self._route = route
        self._calls = list(route.calls)
        self._fixed_text = text
        self._generator = generate(self.record_call) if generate is not None else None
        self._parts: list[str] = []
        self._done = False
        self.timings: Timings = dict(timings or {})
        self._observer = observer or NoObserver()
        self._started = time.perf_counter()

    def record_call(self, call: ModelCall) -> None:
        self._calls.append(call)

    async def __aiter__(self) -> AsyncIterator[str]:
        if self._fixed_text:
            self._parts.append(self._fixed_text)
            yield self._fixed_text
        if self._generator is not None:
            try:
                async for delta in self._generator:
                    if "first_token" not in self.timings:
                        self.timings["first_token"] = (time.perf_counter() - self._started) * 1000
                    self._parts.append(delta)
                    yield delta
            except StreamInterrupted:
                self.status = "incomplete"
                marker = "\n\n" + message("incomplete", self.language)
                self._parts.append(marker)
                yield marker
            except ModelError as exc:
                self.status = "failed"
                failure = message(
                    "busy" if isinstance(exc, ModelThrottled) else "model_error", self.language
                )
                self._parts.append(failure)
                yield failure
            self.timings["answer"] = (time.perf_counter() - self._started) * 1000
        self._done = True
        await self._observer.finished(self.result())

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
            route=self._route.model_copy(update={"calls": tuple(self._calls)}),
            status=self.status,
            offline=self.offline,
            notices=tuple(self.notices),
            timings=tuple(self.timings.items()),
        )


class Pipeline:
    """Stages wired together; every collaborator is passed in (see `bot.wiring`)."""

    def __init__(
        self,
        *,
        detector: LanguageDetector,
        router: MicroRouter | None,
        retriever: object,
        answerer: ProAnswerer | None,
        limits: PipelineLimits,
        observer: PipelineObserver | None = None,
    ) -> None:
        from retrieval.retriever import Retriever

        self._detector = detector
        self._router = router
        self._retriever: Retriever = retriever  # type: ignore[assignment]
        self._answerer = answerer
        self._limits = limits
        self.observer: PipelineObserver = observer or NoObserver()

    @property
    def offline(self) -> bool:
        return self._answerer is None

    async def answer(self, question: Question) -> AnswerStream:
        timings: Timings = {}
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = (now - clock) * 1000
            clock = now

        def fixed(
            text: str, route: Route, status: Status, notices: Sequence[str] = ()
        ) -> AnswerStream:
            return self._stream(
                question,
                _notice_prefix(notices) + text,
                language,
                route,
                status,
                timings=timings,
                notices=notices,
            )

        text = question.text.strip()
        language = self._detector.detect(text, hint=question.language_hint).language
        lap("detect")
        if not text:
            return fixed(
                message("empty_question", language), Route(standalone_question=text), "empty"
            )
        notices = []
        if len(text) > self._limits.max_question_chars:
            text = text[: self._limits.max_question_chars]
            notices.append(message("truncated", language, limit=self._limits.max_question_chars))
        refusal = await self.observer.admit(question, language)
        if refusal is not None:
            return fixed(refusal, Route(standalone_question=text), "refused", notices)

        routing = Routing(text, "question", False, None)
        if self._router is not None and self._answerer is not None:
            routing = await self._router.route(
                question=text, language=language, history=question.history
            )
        lap("condense")
        route = Route(
            standalone_question=routing.standalone_question,
            intent=routing.intent,
            translated=routing.translated,
            calls=(routing.call,) if routing.call else (),
        )
        if routing.intent in ("greeting", "thanks"):
            return fixed(message("greeting", language), route, "answered", notices)

        try:
            passages = await self._retriever.retrieve(
                [routing.standalone_question, text],
                collections=question.visible_collections,
                top_k=self._limits.top_k,
            )
        except IndexNotFound:
            return fixed(message("no_index", language), route, "failed", notices)
        except RetrievalError as exc:
            log.error("retrieval failed", extra={"reason": str(exc)})
            return fixed(message("error", language), route, "failed", notices)
        except ModelError as exc:  # the query embedding
            key = "busy" if isinstance(exc, ModelThrottled) else "model_error"
            return fixed(message(key, language), route, "failed", notices)
        lap("retrieve")

        if not passages:
            return fixed(message("not_found", language), route, "not_found", notices)
        if self._answerer is None:
            return self._stream(
                question,
                _notice_prefix(notices) + _offline_text(passages, language),
                language,
                route,
                "offline",
                timings=timings,
                notices=notices,
                passages=passages[:OFFLINE_PASSAGES],
            )

        answerer = self._answerer
        return self._stream(
            question,
            _notice_prefix(notices),
            language,
            route,
            "answered",
            timings=timings,
            notices=notices,
            passages=passages,
            generate=lambda on_call: answerer.stream(
                question=text,
                language=language,
                passages=passages,
                history=question.history,
                on_call=on_call,
            ),
        )

    def _stream(
        self,
        question: Question,
        text: str,
        language: str,
        route: Route,
        status: Status,
        *,
        timings: Timings,
        notices: Sequence[str],
        passages: Sequence[Passage] = (),
        generate: Callable[[Callable[[ModelCall], None]], AsyncIterator[str]] | None = None,
    ) -> AnswerStream:
        return AnswerStream(
            question=question,
            text=text,
            language=language,
            route=route,
            passages=passages,
            status=status,
            offline=self.offline,
            notices=notices,
            generate=generate,
            timings=timings,
            observer=self.observer,
        )


def _offline_text(passages: Sequence[Passage], language: str) -> str:
    lines = [f"_{message('offline_label', language)}_", ""]
    for number, passage in enumerate(passages[:OFFLINE_PASSAGES], 1):
        quote = " ".join(passage.text.split())
        if len(quote) > OFFLINE_QUOTE_CHARS:
            quote = quote[:OFFLINE_QUOTE_CHARS].rsplit(" ", 1)[0] + " …"
        lines.append(f"[{number}] *{passage.title}*\n> {quote}\n")
    return "\n".join(lines).rstrip()


def _notice_prefix(notices: Sequence[str]) -> str:
    return "".join(f"_{n}_\n\n" for n in notices)
