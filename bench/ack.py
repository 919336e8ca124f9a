"""`ack`: Socket Mode envelope sent -> ack received, with 200 events pushed at once.

A burst of 100 mentions: Slack pushes each as two envelopes (`message` and `app_mention`),
so 200 envelopes arrive together while the app also starts 100 answers. The fake stamps
each envelope as it writes it to the socket and each ack as it reads it. One burst warms
the process up (its numbers are reported apart, as "cold"), then several measured bursts;
every question must still be answered exactly once.

    python -m bench.ack [--rounds 3] [--burst 100] [--state memory|dynamodb]
"""

from __future__ import annotations

import argparse
import time

from bench.common import (
    CHANNEL,
    LatencyProfile,
    Result,
    ServeProcess,
    Stack,
    ask,
    finished,
    ms,
    run,
    script_models,
    stack,
    summary,
)
from bench.questions import workload

TARGET_P99_S = 0.020


def one_burst(s: Stack, size: int, offset: int) -> tuple[list[float], int, int, int]:
    """Latencies of every envelope's ack; unacked, unanswered and twice-answered counts."""
    questions = workload()
    s.reset()
    LatencyProfile().apply(s.bedrock)
    script_models(s.bedrock)
    asked = [
        ask(s.slack, f"U{i % 20:04d}", questions[(offset + i) % len(questions)].text)
        for i in range(size)
    ]
    # Cheap polling: the fake's inspection helpers take its lock, which would delay acks.
    s.slack.wait_for(lambda: len(s.slack.calls("chat.stopStream")) >= size, 90, interval=0.25)
    time.sleep(0.3)  # late duplicates would show up now
    acks = s.slack.acks
    latencies: list[float] = []
    unacked = 0
    for delivery in s.slack.deliveries():
        ack = acks.get(delivery.envelope_id)
        if ack is None or ack.latency_s is None:
            unacked += 1
        else:
            latencies.append(ack.latency_s)
    answers = [len(finished(s.slack, CHANNEL, ts)) for ts in asked]
    return latencies, unacked, answers.count(0), sum(1 for n in answers if n > 1)


def main() -> Result:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--burst", type=int, default=100, help="mentions per burst (x2 events)")
    parser.add_argument("--state", choices=("memory", "dynamodb"), default="memory")
    args = parser.parse_args()
    result = Result("ack")
    latencies: list[float] = []
    unacked = unanswered = duplicated = 0
    with stack(state=args.state) as s, ServeProcess(s) as app:
        cold, *counts = one_burst(s, args.burst, 0)
        for round_ in range(args.rounds):
            measured, *counts = one_burst(s, args.burst, 7 * (round_ + 1))
            latencies += measured
            unacked += counts[0]
            unanswered += counts[1]
            duplicated += counts[2]
        problems = app.problems()
    stats = summary(latencies)
    first = summary(cold)
    result.add("envelopes measured", f"{stats['n']} ({args.rounds} bursts of {2 * args.burst})")
    result.add("ack median", ms(stats["median"]))
    result.add("ack p95", ms(stats["p95"]))
    result.add("ack p99", ms(stats["p99"]), "<= 20 ms", stats["p99"] <= TARGET_P99_S)
    result.add("ack max", ms(stats["max"]), "< 3,000 ms (Slack)", stats["max"] < 3.0)
    result.add("cold first burst: median / p99", f"{ms(first['median'])} / {ms(first['p99'])}")
    result.add("unacked envelopes", str(unacked), "0", unacked == 0)
    result.add(
        "questions unanswered / answered twice",
        f"{unanswered} / {duplicated}",
        "0 / 0",
        unanswered == 0 and duplicated == 0,
    )
    result.add("errors logged by the app", str(len(problems)), "0", not problems)
    result.data = {"ack_s": stats, "cold_ack_s": first, "problems": problems[:20]}
    result.notes.append(
        f"state store: {args.state}; app startup {app.startup_s:.1f} s; the fakes share this "
        "process, so a busy fake adds to what is measured"
    )
    return result


if __name__ == "__main__":
    raise SystemExit(run(main))
