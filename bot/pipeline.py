"""One question, top to bottom: detect -> condense/translate -> retrieve -> answer.

`Pipeline.answer()` runs the first three stages into a frozen `Plan`, then hands back an
`AnswerStream` whose text arrives as the answer is written. It never raises for model
trouble: the stream then carries one sentence in the asker's language saying what
happened and what to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bot.answer import ProAnswerer, Translator
from bot.answer_language import AnswerLanguageGuard
from bot.answer_stream import (
    AfterAnswer,
    AnswerStream,
    Generate,
    NoObserver,
    PipelineObserver,
    Plan,
    StreamTools,
    failure_key,
    failure_message,
)
from bot.condense import MicroRouter, Routing
from bot.flow import asker
from bot.glossary import Glossary
from bot.language import LanguageDetector
from bot.localizer import Localizer
from bot.messages import MessageKey
from kernel.errors import IndexNotFound, ModelBusy, ModelError, ModelThrottled, RetrievalError
from kernel.models import ModelCall, Passage, Question, Route, Status
from kernel.retriever import Retriever

__all__ = [
    "AnswerStream",
    "Models",
    "NoObserver",
    "Pipeline",
    "PipelineLimits",
    "PipelineObserver",
    "failure_key",
    "failure_message",
]

log = logging.getLogger(__name__)

OFFLINE_QUOTE_CHARS = 600
OFFLINE_PASSAGES = 3


@dataclass(frozen=True)
class PipelineLimits:
    corpus_languages: tuple[str, ...]
    max_question_chars: int
    top_k: int


@dataclass(frozen=True)
class Models:
    """The Bedrock-backed stages; all None offline (BM25 and quoted passages)."""

    router: MicroRouter | None = None
    answerer: ProAnswerer | None = None
    drafter: ProAnswerer | None = None
    translator: Translator | None = None


@dataclass
class _Turn:
    """One question on its way through the stages: what is known so far."""

    question: Question
    text: str
    question_language: str
    language: str  # of the answer
    offline: bool
    clock: float  # perf_counter() when the last stage ended (or the question arrived)
    notices: list[str] = field(default_factory=list)
    said: list[ModelCall] = field(default_factory=list)  # Micro translating a fixed sentence
    timings: dict[str, float] = field(default_factory=dict)

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = (now - self.clock) * 1000
        self.clock = now

    def plan(
        self, route: Route, status: Status, text: str = "", passages: Sequence[Passage] = ()
    ) -> Plan:
        return Plan(
            question=self.question,
            language=self.language,
            route=route,
            status=status,
            text=_notice_prefix(self.notices) + text,
            passages=tuple(passages),
            notices=tuple(self.notices),
            offline=self.offline,
            timings=tuple(self.timings.items()),
        )


class Pipeline:
    """Stages wired together; every collaborator is passed in (see `bot.wiring`)."""

    def __init__(
        self,
        *,
        detector: LanguageDetector,
        retriever: Retriever,
        limits: PipelineLimits,
        models: Models | None = None,
        glossary: Callable[[], Glossary] = Glossary,
        observer: PipelineObserver | None = None,
        localizer: Localizer | None = None,
    ) -> None:
        self._detector = detector
        self._retriever = retriever
        self._limits = limits
        self._models = models or Models()
        self._glossary = glossary
        self.observer: PipelineObserver = observer or NoObserver()
        #: Fixed sentences in any language.
        self.localizer = localizer or Localizer(translator=self._models.translator)
        self._tools = StreamTools(
            localizer=self.localizer,
            guard=AnswerLanguageGuard(detector=detector),
            translator=self._models.translator,
            observer=self.observer,
            after=self._after_answer,
        )

    @property
    def offline(self) -> bool:
        return self._models.answerer is None

    @property
    def detector(self) -> LanguageDetector:
        return self._detector

    @property
    def translator(self) -> Translator | None:
        return self._models.translator

    async def answer(self, question: Question) -> AnswerStream:
        asker.set(question.user_id or "")  # the unit of fairness in the model queues
        turn = self._detect(question)
        if not turn.text:
            return await self._canned(
                turn, "empty_question", Route(standalone_question=""), "empty"
            )
        limit = self._limits.max_question_chars
        if len(turn.text) > limit:
            turn.text = turn.text[:limit]
            turn.notices.append(await self._say(turn, "truncated", limit=limit))
        refusal = await self.observer.admit(question, turn.language)
        if refusal is not None:
            return self._fixed(turn, refusal, Route(standalone_question=turn.text), "refused")
        route = await self._route(turn)
        if isinstance(route, AnswerStream):
            return route
        if route.intent in ("greeting", "thanks"):
            return await self._canned(turn, "greeting", route, "answered")
        found = await self._retrieve(turn, route)
        if isinstance(found, AnswerStream):
            return found
        route, passages = found
        if not passages:
            return await self._canned(turn, "not_found", route, "not_found")
        if self._models.answerer is None:
            shown = passages[:OFFLINE_PASSAGES]
            quoted = _offline_text(shown, await self._say(turn, "offline_label"))
            return AnswerStream.fixed(turn.plan(route, "offline", quoted, shown), self._tools)
        return self._write(turn, route, passages)

    def _detect(self, question: Question) -> _Turn:
        started = time.perf_counter()
        text = question.text.strip()
        question_language = (
            question.language or self._detector.detect(text, hint=question.language_hint).language
        )
        language = question.answer_language or question_language
        turn = _Turn(question, text, question_language, language, self.offline, started)
        turn.lap("detect")
        return turn

    async def _route(self, turn: _Turn) -> Route | AnswerStream:
        """Condense and translate (Micro) into a standalone question in the corpus language."""
        routing = Routing(turn.text, "question", False, None)
        router = self._models.router
        if router is not None and self._models.answerer is not None:
            try:
                routing = await router.route(
                    question=turn.text,
                    language=turn.question_language,
                    history=turn.question.history,
                )
            except ModelBusy as exc:
                key, values = failure_key(exc)
                busy = await self._say(turn, key, **values)
                return self._fixed(turn, busy, Route(standalone_question=turn.text), "failed")
        standalone = routing.standalone_question
        glossary = self._glossary()
        if glossary:
            corpus_language = self._limits.corpus_languages[0]
            standalone = glossary.to_corpus(
                standalone, original=turn.text, corpus_language=corpus_language
            )
        turn.lap("condense")
        return Route(
            standalone_question=standalone,
            intent=routing.intent,
            translated=routing.translated,
            calls=(routing.call,) if routing.call else (),
        )

    async def _retrieve(
        self, turn: _Turn, route: Route
    ) -> tuple[Route, Sequence[Passage]] | AnswerStream:
        calls: list[ModelCall] = []
        try:
            passages = await self._retriever.retrieve(
                [route.standalone_question, turn.text],
                collections=turn.question.visible_collections,
                top_k=self._limits.top_k,
                on_call=calls.append,
            )
        except IndexNotFound:
            return await self._canned(turn, "no_index", route, "failed")
        except RetrievalError as exc:
            log.error("retrieval failed", extra={"reason": str(exc)})
            return await self._canned(turn, "error", route, "failed")
        except ModelError as exc:  # the query embedding
            key: MessageKey = "busy" if isinstance(exc, ModelThrottled) else "model_error"
            return await self._canned(turn, key, route, "failed")
        turn.lap("retrieve")
        return route.model_copy(update={"calls": (*route.calls, *calls)}), passages

    def _write(self, turn: _Turn, route: Route, passages: Sequence[Passage]) -> AnswerStream:
        """Pro writes the answer (after a Micro draft in draft_then_pro)."""

        def writer(model: ProAnswerer) -> Generate:
            return lambda on_call: model.stream(
                question=turn.text,
                language=turn.language,
                passages=passages,
                history=turn.question.history,
                on_call=on_call,
            )

        answerer, drafter = self._models.answerer, self._models.drafter
        assert answerer is not None  # offline answers never get here
        wants_draft = turn.question.answer_mode == "draft_then_pro" and drafter is not None
        # Only a written answer keeps the detected language apart from the answer's.
        plan = replace(
            turn.plan(route, "answered", passages=passages),
            question_language=turn.question_language,
        )
        return AnswerStream(
            plan,
            generate=writer(answerer),
            draft=writer(drafter) if wants_draft and drafter is not None else None,
            tools=self._tools,
        )

    async def _say(self, turn: _Turn, key: MessageKey, **values: object) -> str:
        return await self.localizer.message(key, turn.language, on_call=turn.said.append, **values)

    async def _canned(
        self, turn: _Turn, key: MessageKey, route: Route, status: Status
    ) -> AnswerStream:
        """The catalogue's sentence `key`, in the asker's language, as the whole answer."""
        return self._fixed(turn, await self._say(turn, key), route, status)

    def _fixed(self, turn: _Turn, text: str, route: Route, status: Status) -> AnswerStream:
        route = route.model_copy(update={"calls": (*route.calls, *turn.said)})
        return AnswerStream.fixed(turn.plan(route, status, text), self._tools)

    async def _after_answer(self, plan: Plan, text: str, status: Status) -> AfterAnswer:
        """Glossary check and the companion translation, before the answer is accounted."""
        glossary = self._glossary()
        terms: list[str] = []
        if glossary:
            violations = glossary.violations(
                answer=text,
                language=plan.language,
                sources=[plan.question.text, *(p.text for p in plan.passages)],
            )
            involved = [t.term for t in glossary.involved(plan.question.text, text)]
            terms = list(dict.fromkeys([*involved, *(v.term for v in violations)]))
            for violation in violations:
                log.warning(
                    "glossary violation",
                    extra={
                        "question_id": plan.question.question_id,
                        "term": violation.term,
                        "kind": violation.kind,
                        "detail": violation.detail,
                        "language": plan.language,
                    },
                )
        target = plan.question.companion_language
        translator = self._models.translator
        if not target or target == plan.language or translator is None or status == "failed":
            return AfterAnswer(glossary_terms=tuple(terms))
        try:
            companion, call = await translator.translate(text, target=target, purpose="companion")
        except ModelError as exc:
            log.warning("companion translation failed", extra={"reason": str(exc)})
            return AfterAnswer(glossary_terms=tuple(terms))
        return AfterAnswer(glossary_terms=tuple(terms), companion=companion, calls=(call,))


def _offline_text(passages: Sequence[Passage], label: str) -> str:
    lines = [f"_{label}_", ""]
    for number, passage in enumerate(passages[:OFFLINE_PASSAGES], 1):
        quote = " ".join(passage.text.split())
        if len(quote) > OFFLINE_QUOTE_CHARS:
            quote = quote[:OFFLINE_QUOTE_CHARS].rsplit(" ", 1)[0] + " …"
        lines.append(f"[{number}] *{passage.title}*\n> {quote}\n")
    return "\n".join(lines).rstrip()


def _notice_prefix(notices: Sequence[str]) -> str:
    return "".join(f"_{n}_\n\n" for n in notices)
