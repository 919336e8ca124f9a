"""`overhead`: time to the first streamed words in Slack, minus the model time on the way.

For each of the 50 workload questions (5 languages; asked one at a time): from the moment
the fake writes the event to the socket to the moment the first words reach Slack
(chat.startStream), minus the time a model was working on the critical path — the Micro
translation, the query embedding and Pro's time to first token, counted once where they
overlap. What is left is the app's own cost: Slack round trips, detection, state, retrieval,
prompt building, and waiting for the event loop.

    python -m bench.overhead [--rounds 1]
"""

from __future__ import annotations

import argparse

from bench.common import (
    CHANNEL,
    LatencyProfile,
    Result,
    ServeProcess,
    Stack,
    ask,
    finished,
    first_text_at,
    ms,
    run,
    script_models,
    sent_at,
    stack,
    summary,
)
from bench.questions import workload

TARGET_P95_S = 0.050
PROFILE = LatencyProfile()


def _union(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def measure(s: Stack, text: str) -> dict[str, float]:
    """One question, alone: its timeline from the wire."""
    s.reset()
    PROFILE.apply(s.bedrock)
    script_models(s.bedrock)
    ts = ask(s.slack, "U0BENCH", text)
    s.slack.wait_for(lambda: finished(s.slack, CHANNEL, ts), 30, interval=0.02)
    sent = sent_at(s.slack, ts)
    first = first_text_at(s.slack, CHANNEL, ts)
    assert first is not None, "no streamed text"
    busy: list[tuple[float, float]] = []
    calls = {"micro": 0.0, "embed": 0.0, "pro_first_token": 0.0}
    for request in s.bedrock.requests:
        if request.started_at > first:
            continue
        if request.operation == "ConverseStream":
            stop = request.started_at + PROFILE.pro_first_token_s
            calls["pro_first_token"] += stop - request.started_at
        else:
            stop = request.finished_at or first
            calls["embed" if request.operation == "InvokeModel" else "micro"] += (
                stop - request.started_at
            )
        busy.append((max(request.started_at, sent), min(stop, first)))
    first_model = min((start for start, _ in busy), default=first)
    model = _union(busy)
    return {
        "to_first_text": first - sent,
        "model": model,
        "overhead": first - sent - model,
        "before_first_model_call": first_model - sent,
        **calls,
    }


def main() -> Result:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="times through the 50 questions")
    parser.add_argument("--state", choices=("memory", "dynamodb"), default="memory")
    args = parser.parse_args()
    questions = workload()
    samples: list[dict[str, float]] = []
    by_language: dict[str, list[float]] = {}
    first_by_language: dict[str, list[float]] = {}
    with stack(state=args.state) as s, ServeProcess(s) as app:
        for question in questions[:5]:  # warm-up: connections, caches
            measure(s, question.text)
        for _ in range(args.rounds):
            for question in questions:
                sample = measure(s, question.text)
                samples.append(sample)
                by_language.setdefault(question.language, []).append(sample["overhead"])
                first_by_language.setdefault(question.language, []).append(sample["to_first_text"])
        problems = app.problems()
    overhead = summary([x["overhead"] for x in samples])
    result = Result("overhead")
    result.add("questions", str(overhead["n"]))
    result.add(
        "to first text, median", ms(summary([x["to_first_text"] for x in samples])["median"])
    )
    result.add(
        "model time on the path, median", ms(summary([x["model"] for x in samples])["median"])
    )
    result.add("overhead median", ms(overhead["median"]))
    result.add("overhead p95", ms(overhead["p95"]), "<= 50 ms", overhead["p95"] <= TARGET_P95_S)
    result.add("overhead p99", ms(overhead["p99"]))
    result.add(
        "event -> first model call, median",
        ms(summary([x["before_first_model_call"] for x in samples])["median"]),
    )
    for language, values in by_language.items():
        first = summary(first_by_language[language])["median"]
        result.add(
            f"{language}: overhead / to first text, median",
            f"{ms(summary(values)['median'])} / {ms(first)}",
        )
    result.add("errors logged by the app", str(len(problems)), "0", not problems)
    result.data = {
        "overhead_s": overhead,
        "samples": samples,
        "profile": PROFILE.__dict__,
        "problems": problems[:20],
    }
    result.notes.append(
        f"latency profile: Micro {PROFILE.micro_first_token_s}s + {PROFILE.micro_tokens_per_s:.0f} tok/s, "
        f"embedding {PROFILE.embed_s}s, Pro first token {PROFILE.pro_first_token_s}s; "
        "CORPUS_LANGUAGES=en, so ko/ja/es/de questions are translated by Micro first"
    )
    return result


if __name__ == "__main__":
    raise SystemExit(run(main))
