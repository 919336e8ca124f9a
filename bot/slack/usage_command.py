"""`/dualnova usage` (admins): today's and this month's questions, tokens and cost — by
channel, by model and route, and the top languages — from the state store's day counters,
so every task reports the same numbers.

Also here: the middleware that counts 👍 / 👎 / "translation was wrong" clicks as metrics
(the observer that `serve` installs writes them; other observers ignore them).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.observer import FeedbackSink
from bot.slack.dualnova_command import DualnovaCommand, Invocation
from bot.slack.vocabulary import FEEDBACK_VOTES, BadButtonValue, FeedbackValue
from bot.state import StateStore
from bot.usage_format import format_tokens, format_usd
from bot.usage_ledger import UsageLedger, UsageSummary, utc_day

TOP = 8

#: One row of a top list: its name and its counters.
_Line = Callable[[str, Mapping[str, float]], str]


def register(
    app: AsyncApp,
    dualnova: DualnovaCommand,
    *,
    observer: object,
    state: StateStore,
    clock: Callable[[], float] = time.time,
) -> None:
    ledger = UsageLedger(state=state, clock=clock)

    async def usage(call: Invocation) -> dict[str, Any]:
        now = clock()
        today, month = await ledger.day(utc_day(now)), await ledger.month(now)
        return usage_message(today=today, month=month, now=now)

    dualnova.register("usage", usage, usage="usage", admin_only=True)
    app.middleware(feedback_metrics(lambda: observer))


def feedback_metrics(observer: Callable[[], object]) -> Callable[..., Awaitable[Any]]:
    """Bolt middleware: a feedback click becomes a `Feedback` metric, then the listener runs."""

    async def count_feedback(body: dict[str, Any], next: Callable[[], Awaitable[Any]]) -> Any:
        if body.get("type") == "block_actions":
            sink = observer()
            for action in body.get("actions") or []:
                vote = FEEDBACK_VOTES.get(str(action.get("action_id")))
                if vote and isinstance(sink, FeedbackSink):
                    try:
                        language: str | None = FeedbackValue.decode(action.get("value")).language
                    except BadButtonValue:
                        language = None  # still a vote; the listener says what went wrong
                    sink.feedback(vote=vote, language=language)
        return await next()

    return count_feedback


# --- the message -----------------------------------------------------------------------------


def usage_message(*, today: UsageSummary, month: UsageSummary, now: float) -> dict[str, Any]:
    """Blocks: totals side by side, then channels, models, routes and languages."""
    day, month_name = utc_day(now), time.strftime("%Y-%m", time.gmtime(now))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "dualnova usage"}},
        _fields(_totals(f"Today ({day} UTC)", today), _totals(f"This month ({month_name})", month)),
    ]
    for title, lines in (
        ("By channel", _channels),
        ("By model", _models),
        ("By route", _routes),
        ("Top languages", _languages),
    ):
        blocks.append({"type": "divider"})
        blocks.append(
            _fields(f"*{title} — today*\n{lines(today)}", f"*… this month*\n{lines(month)}")
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "Costs use the PRICES table (USD per 1K tokens); "
                    "query embeddings are not counted yet.",
                }
            ],
        }
    )
    text = (
        f"Usage today: {round(today.questions)} questions, {format_tokens(today.tokens)} tokens, "
        f"{format_usd(today.cost_usd)}; this month: {round(month.questions)} questions, "
        f"{format_tokens(month.tokens)} tokens, {format_usd(month.cost_usd)}."
    )
    return {"text": text, "blocks": blocks}


def _fields(*texts: str) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": text[:2000]} for text in texts],
    }


def _totals(title: str, summary: UsageSummary) -> str:
    model = summary.model_total
    return "\n".join(
        [
            f"*{title}*",
            f"Questions: *{round(summary.questions)}*",
            f"Answered {summary.status('answered')} · not found {summary.status('not_found')} · "
            f"failed {summary.status('failed')} · refused {summary.status('refused')}",
            f"Tokens: *{format_tokens(summary.tokens)}* ({format_tokens(model('input'))} in, "
            f"{format_tokens(model('output'))} out, {format_tokens(model('cache_read'))} cached)",
            f"Cost: *{format_usd(summary.cost_usd)}*",
        ]
    )


def _none(lines: list[str]) -> str:
    return "\n".join(lines) if lines else "_none yet_"


def _top(summary: UsageSummary, dimension: str, by: str, line: _Line) -> str:
    """The top rows of one dimension, `by` one counter, a line each."""
    return _none([line(name, counters) for name, counters in summary.top(dimension, by, TOP)])


def _channels(summary: UsageSummary) -> str:
    return _top(summary, "channel", "questions", _channel_line)


def _models(summary: UsageSummary) -> str:
    return _top(summary, "model", "cost", _model_line)


def _routes(summary: UsageSummary) -> str:
    return _top(summary, "route", "questions", _route_line)


def _channel_line(channel: str, m: Mapping[str, float]) -> str:
    return (
        f"<#{channel}> {round(m.get('questions', 0))} q · "
        f"{format_tokens(m.get('tokens', 0))} tok · {format_usd(m.get('cost', 0))}"
    )


def _model_line(model: str, m: Mapping[str, float]) -> str:
    tokens_in = m.get("input", 0) + m.get("cache_read", 0) + m.get("cache_write", 0)
    return (
        f"`{model}` {_plural(m.get('calls', 0), 'call')} · {format_tokens(tokens_in)} in / "
        f"{format_tokens(m.get('output', 0))} out · {format_usd(m.get('cost', 0))}"
    )


def _route_line(route: str, m: Mapping[str, float]) -> str:
    return f"`{route}` {round(m.get('questions', 0))} q · {format_usd(m.get('cost', 0))}"


def _languages(summary: UsageSummary) -> str:
    total = summary.questions or 1
    return _none(
        [
            f"`{language}` {round(m.get('questions', 0))} ({m.get('questions', 0) / total:.0%})"
            for language, m in summary.top("language", "questions", TOP)
        ]
        # The answer-language guard's finds: written in > promised, each then translated.
        + [
            f"wrong language `{pair}` {round(m.get('questions', 0))}"
            for pair, m in summary.top("mismatch", "questions", TOP)
        ]
    )


def _plural(count: float, noun: str) -> str:
    return f"{round(count)} {noun}{'' if round(count) == 1 else 's'}"
