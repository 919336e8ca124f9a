"""One question, top to bottom: detect -> condense/translate -> retrieve -> answer.

`Pipeline.answer()` runs the first three stages, then hands back an `AnswerStream` whose
text arrives as the answer is written. It never raises for model trouble: the stream then
carries one sentence in the asker's language saying what happened and what to do.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.answer import ProAnswerer, Translator
from bot.answer_language import AnswerLanguageGuard
from bot.condense import MicroRouter, Routing
from bot.flow import asker
from bot.glossary import Glossary
from bot.language import LanguageDetector
from bot.localizer import Localizer
from bot.messages import message, native_name
from kernel.errors import (
    IndexNotFound,
    ModelBusy,
    ModelError,
    ModelThrottled,
    OutputLimitReached,
    RetrievalError,
    StreamInterrupted,
)
from kernel.models import Answer, Citation, ModelCall, Passage, Question, Route, Status

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
        question_language: str = "",
        draft: Callable[[Callable[[ModelCall], None]], AsyncIterator[str]] | None = None,
        complete: Callable[[AnswerStream], Awaitable[None]] | None = None,
        guard: AnswerLanguageGuard | None = None,
        translator: Translator | None = None,
        localizer: Localizer | None = None,
    ) -> None:
        self.question = question
        self._guard = guard
        self._translator = translator
        self._localizer = localizer or Localizer(translator=None)
        #: "en>ko" when the guard found the answer in another language (and it was translated).
        self.language_mismatch: str | None = None
        #: The answer as the model wrote it, when the guard replaced it with a translation.
        self.original_text: str | None = None
        #: The streamed text differs from `text` (the guard's note, a replaced answer): the
        #: delivered message should be edited to `text`.
        self.rewritten = False
        self.question_language = question_language or language
        self.draft_text: str | None = None
        self.companion: str | None = None
        self.glossary_terms: list[str] = []
        self._complete = complete
        self.language = language
        self.passages = list(passages)
        self.status: Status = status
        self.offline = offline
        self.notices = list(notices)
        self._route = route
        self._calls = list(route.calls)
        self._fixed_text = text
        self._generator = generate(self.record_call) if generate is not None else None
        self._draft = draft(self.record_call) if draft is not None else None
        self._parts: list[str] = []
        self._done = False
        self.timings: Timings = dict(timings or {})
        self._observer = observer or NoObserver()
        self._started = time.perf_counter()

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
        if self._fixed_text:
            self._parts.append(self._fixed_text)
            yield self._fixed_text
        if self._generator is not None:
            written: list[str] = []  # the model's text, shown or held back
            shown = 0  # how much of it was shown
            holding = False
            early_checked = self._guard is None
            marker = ""
            try:
                async for delta in self._generator:
                    if "first_token" not in self.timings:
                        self.timings["first_token"] = (time.perf_counter() - self._started) * 1000
                    written.append(delta)
                    if holding:
                        continue
                    if not early_checked and self._guard is not None:
                        # Checked before this delta is shown (deltas arrive coalesced, so
                        # one may carry many sentences); the words before it are out already.
                        so_far = "".join(written)
                        if self._guard.ready(so_far):
                            early_checked = True
                            holding = self._guard.verdict(so_far, self.language).mismatch
                        if holding:
                            cut = max(self._guard.first_sentence_end(so_far), shown)
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
                key = "answer_cut" if isinstance(exc, OutputLimitReached) else "incomplete"
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
                self._parts = [self._fixed_text, translation]
                self.rewritten = True
            elif holding:  # the end says it was right after all: show it, without the note
                yield model_text[shown:]
                self._parts = [self._fixed_text, model_text]
                self.rewritten = True
            if marker:
                self._parts.append(marker)
                yield marker
            self.timings["answer"] = (time.perf_counter() - self._started) * 1000
        self._done = True
        if self._complete is not None:
            await self._complete(self)
        await self._observer.finished(self.result())

    async def _say(self, key: str, **values: object) -> str:
        return await self._localizer.message(
            key, self.language, on_call=self.record_call, name=native_name(self.language), **values
        )

    async def _guarded(self, model_text: str) -> str | None:
        """The translation when the finished answer is in the wrong language, else None."""
        if self._guard is None or self.status == "failed" or not model_text.strip():
            return None
        verdict = self._guard.verdict(model_text, self.language)
        if not verdict.mismatch:
            return None
        self.language_mismatch = verdict.pair
        log.warning(
            "answer in the wrong language",
            extra={"question_id": self.question.question_id, "pair": verdict.pair},
        )
        if self._translator is None:
            return None
        try:
            translated, call = await self._translator.translate(
                model_text, target=self.language, purpose="answer_language"
            )
        except ModelError as exc:
            log.warning("answer translation failed", extra={"reason": str(exc)})
            return None
        self.record_call(call)
        return translated or None

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
            route=self._route.model_copy(update={"calls": tuple(self._calls)}),
            status=self.status,
            offline=self.offline,
            notices=tuple(self.notices),
            timings=tuple(self.timings.items()),
            question_language=self.question_language,
            draft=self.draft_text,
            companion=self.companion,
            glossary_terms=tuple(self.glossary_terms),
            language_mismatch=self.language_mismatch,
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
        glossary: Callable[[], Glossary] = Glossary,
        drafter: ProAnswerer | None = None,
        translator: Translator | None = None,
        guard: AnswerLanguageGuard | None = None,
        localizer: Localizer | None = None,
    ) -> None:
        from kernel.retriever import Retriever

        self._detector = detector
        self._router = router
        self._retriever: Retriever = retriever  # type: ignore[assignment]
        self._answerer = answerer
        self._limits = limits
        self.observer: PipelineObserver = observer or NoObserver()
        self._glossary = glossary
        self._drafter = drafter
        self.translator = translator
        self.guard = guard or AnswerLanguageGuard(detector=detector)
        #: Fixed sentences in any language (attach the state store to share its cache).
        self.localizer = localizer or Localizer(translator=translator)

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

        said: list[ModelCall] = []  # Micro translating a fixed sentence, if it had to

        async def say(key: str, **values: object) -> str:
            return await self.localizer.message(key, language, on_call=said.append, **values)

        def fixed(
            text: str, route: Route, status: Status, notices: Sequence[str] = ()
        ) -> AnswerStream:
            return self._stream(
                question,
                _notice_prefix(notices) + text,
                language,
                route.model_copy(update={"calls": (*route.calls, *said)}),
                status,
                timings=timings,
                notices=notices,
            )

        asker.set(question.user_id or "")  # the unit of fairness in the model queues
        text = question.text.strip()
        question_language = (
            question.language or self._detector.detect(text, hint=question.language_hint).language
        )
        language = question.answer_language or question_language
        lap("detect")
        if not text:
            return fixed(await say("empty_question"), Route(standalone_question=text), "empty")
        notices = []
        if len(text) > self._limits.max_question_chars:
            text = text[: self._limits.max_question_chars]
            notices.append(await say("truncated", limit=self._limits.max_question_chars))
        refusal = await self.observer.admit(question, language)
        if refusal is not None:
            return fixed(refusal, Route(standalone_question=text), "refused", notices)

        routing = Routing(text, "question", False, None)
        if self._router is not None and self._answerer is not None:
            try:
                routing = await self._router.route(
                    question=text, language=question_language, history=question.history
                )
            except ModelBusy as exc:
                route = Route(standalone_question=text)
                return fixed(failure_message(exc, language), route, "failed", notices)
        glossary = self._glossary()
        if glossary:
            routing = Routing(
                glossary.to_corpus(
                    routing.standalone_question,
                    original=text,
                    corpus_language=self._limits.corpus_languages[0],
                ),
                routing.intent,
                routing.translated,
                routing.call,
            )
        lap("condense")
        route = Route(
            standalone_question=routing.standalone_question,
            intent=routing.intent,
            translated=routing.translated,
            calls=(routing.call,) if routing.call else (),
        )
        if routing.intent in ("greeting", "thanks"):
            return fixed(await say("greeting"), route, "answered", notices)

        retrieval_calls: list[ModelCall] = []
        try:
            passages = await self._retriever.retrieve(
                [routing.standalone_question, text],
                collections=question.visible_collections,
                top_k=self._limits.top_k,
                on_call=retrieval_calls.append,
            )
        except IndexNotFound:
            return fixed(await say("no_index"), route, "failed", notices)
        except RetrievalError as exc:
            log.error("retrieval failed", extra={"reason": str(exc)})
            return fixed(await say("error"), route, "failed", notices)
        except ModelError as exc:  # the query embedding
            key = "busy" if isinstance(exc, ModelThrottled) else "model_error"
            return fixed(await say(key), route, "failed", notices)
        lap("retrieve")
        route = route.model_copy(update={"calls": (*route.calls, *retrieval_calls)})

        if not passages:
            return fixed(await say("not_found"), route, "not_found", notices)
        if self._answerer is None:
            return self._stream(
                question,
                _notice_prefix(notices) + _offline_text(passages, await say("offline_label")),
                language,
                route,
                "offline",
                timings=timings,
                notices=notices,
                passages=passages[:OFFLINE_PASSAGES],
            )

        answerer, drafter = self._answerer, self._drafter
        wants_draft = question.answer_mode == "draft_then_pro" and drafter is not None
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
            draft=(
                lambda on_call: drafter.stream(  # type: ignore[union-attr]
                    question=text,
                    language=language,
                    passages=passages,
                    history=question.history,
                    on_call=on_call,
                )
            )
            if wants_draft
            else None,
            complete=self._after_answer,
            question_language=question_language,
            guard=self.guard,
        )

    async def _after_answer(self, stream: AnswerStream) -> None:
        """Glossary check and the companion translation, before the answer is accounted."""
        glossary = self._glossary()
        answer_text = stream.text
        if glossary:
            violations = glossary.violations(
                answer=answer_text,
                language=stream.language,
                sources=[stream.question.text, *(p.text for p in stream.passages)],
            )
            involved = [t.term for t in glossary.involved(stream.question.text, answer_text)]
            stream.glossary_terms = list(dict.fromkeys([*involved, *(v.term for v in violations)]))
            for violation in violations:
                log.warning(
                    "glossary violation",
                    extra={
                        "question_id": stream.question.question_id,
                        "term": violation.term,
                        "kind": violation.kind,
                        "detail": violation.detail,
                        "language": stream.language,
                    },
                )
        target = stream.question.companion_language
        if target and target != stream.language and self.translator and stream.status != "failed":
            try:
                stream.companion, call = await self.translator.translate(
                    answer_text, target=target, purpose="companion"
                )
                stream.record_call(call)
            except ModelError as exc:
                log.warning("companion translation failed", extra={"reason": str(exc)})

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
        draft: Callable[[Callable[[ModelCall], None]], AsyncIterator[str]] | None = None,
        complete: Callable[[AnswerStream], Awaitable[None]] | None = None,
        question_language: str = "",
        guard: AnswerLanguageGuard | None = None,
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
            draft=draft,
            complete=complete,
            question_language=question_language,
            guard=guard,
            translator=self.translator,
            localizer=self.localizer,
        )


def _offline_text(passages: Sequence[Passage], label: str) -> str:
    lines = [f"_{label}_", ""]
    for number, passage in enumerate(passages[:OFFLINE_PASSAGES], 1):
        quote = " ".join(passage.text.split())
        if len(quote) > OFFLINE_QUOTE_CHARS:
            quote = quote[:OFFLINE_QUOTE_CHARS].rsplit(" ", 1)[0] + " …"
        lines.append(f"[{number}] *{passage.title}*\n> {quote}\n")
    return "\n".join(lines).rstrip()


def failure_key(exc: ModelError) -> tuple[str, dict[str, object]]:
    """The catalogue key (and its values) of what the asker reads when a model call failed:
    busy with a time to come back, busy, or the model is unreachable."""
    if isinstance(exc, ModelBusy):
        return "busy_retry", {"minutes": max(1, math.ceil(exc.retry_after_s / 60))}
    return ("busy" if isinstance(exc, ModelThrottled) else "model_error"), {}


def failure_message(exc: ModelError, language: str) -> str:
    """`failure_key` in the written catalogue (where no localizer is at hand)."""
    key, values = failure_key(exc)
    return message(key, language, **values)


def _notice_prefix(notices: Sequence[str]) -> str:
    return "".join(f"_{n}_\n\n" for n in notices)
