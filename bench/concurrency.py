"""`concurrency`: 200 questions at once, the Pro fake taking about 2 s per answer.

First the wall time of one question alone (median of a few), then 200 questions in five
languages from 20 people posted in one burst: every question must get exactly one answer
(no failure sentence, nothing lost), and the burst's wall time — first question posted to
last answer finished — should stay within 1.3x the single question's.

    python -m bench.concurrency [--questions 200] [--state memory|dynamodb]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from bench.common import (
    CHANNEL,
    LatencyProfile,
    Result,
    ServeProcess,
    Stack,
    ask,
    finished,
    run,
    script_models,
    sent_at,
    stack,
    summary,
)
from bench.questions import workload

TARGET_RATIO = 1.3
#: Pro streams the ~110-token answer in about 2 s: 0.5 s to the first token, then ~75 tok/s.
PROFILE = LatencyProfile(pro_first_token_s=0.5, pro_tokens_per_s=75.0)


@dataclass
class Burst:
    wall_s: float
    answered: int
    lost: int
    duplicated: int
    failed: int
    latencies_s: list[float]


def burst(s: Stack, count: int, *, timeout: float = 120, on_tick: object = None) -> Burst:
    """Post `count` questions at once; wait for every answer (or the timeout)."""
    questions = workload()
    s.reset()
    PROFILE.apply(s.bedrock)
    script_models(s.bedrock)
    started = time.monotonic()
    asked = [
        ask(s.slack, f"U{i % 20:04d}", questions[i % len(questions)].text) for i in range(count)
    ]
    deadline = started + timeout
    while time.monotonic() < deadline:
        if callable(on_tick):
            on_tick()
        if len(s.slack.calls("chat.stopStream")) + len(s.slack.calls("chat.postMessage")) >= count:
            break
        time.sleep(0.05)
    time.sleep(0.3)  # anything late or duplicated would arrive now
    answers = {ts: finished(s.slack, CHANNEL, ts) for ts in asked}
    done = [msgs[0] for msgs in answers.values() if msgs]
    last = max((m.last_activity for m in done), default=time.monotonic())
    failed = sum(1 for m in done if "feedback_up" not in str(m.blocks) or not m.streamed)
    return Burst(
        wall_s=last - started,
        answered=len(done),
        lost=sum(1 for msgs in answers.values() if not msgs),
        duplicated=sum(1 for msgs in answers.values() if len(msgs) > 1),
        failed=failed,
        latencies_s=[
            msgs[0].last_activity - sent_at(s.slack, ts) for ts, msgs in answers.items() if msgs
        ],
    )


def single(s: Stack, repeats: int = 3) -> float:
    walls = [burst(s, 1).wall_s for _ in range(repeats)]
    return sorted(walls)[len(walls) // 2]


def main() -> Result:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--state", choices=("memory", "dynamodb"), default="memory")
    parser.add_argument(
        "--sweep", default="50,100", help="smaller bursts also measured (capacity), '' for none"
    )
    args = parser.parse_args()
    sweep = [int(n) for n in args.sweep.split(",") if n]
    result = Result("concurrency")
    with stack(state=args.state) as s, ServeProcess(s) as app:
        burst(s, 5)  # warm-up: connections, threads, lazily loaded models
        alone = single(s)
        smaller = {n: burst(s, n) for n in sweep}
        many = burst(s, args.questions)
        status = app.status()
        problems = app.problems()
    ratio = many.wall_s / alone
    result.add("one question alone (wall)", f"{alone:.2f} s")
    result.add(f"{args.questions} at once (wall)", f"{many.wall_s:.2f} s")
    result.add("ratio", f"{ratio:.2f}x", f"<= {TARGET_RATIO}x", ratio <= TARGET_RATIO)
    result.add(
        "answered", f"{many.answered}/{args.questions}", "all", many.answered == args.questions
    )
    result.add("lost / answered twice", f"{many.lost} / {many.duplicated}", "0 / 0")
    result.rows[-1].ok = many.lost == 0 and many.duplicated == 0
    result.add("failure replies (busy / error)", str(many.failed), "0", many.failed == 0)
    for n, run_ in smaller.items():
        result.add(
            f"{n} at once (wall, ratio, answered)",
            f"{run_.wall_s:.2f} s, {run_.wall_s / alone:.2f}x, {run_.answered}/{n}",
        )
    stats = summary(many.latencies_s)
    result.add(
        "per-question latency median / p95", f"{stats['median']:.2f} s / {stats['p95']:.2f} s"
    )
    result.add("errors logged by the app", str(len(problems)), "0", not problems)
    result.data = {
        "single_s": alone,
        "burst": many.__dict__,
        "sweep": {n: {"wall_s": b.wall_s, "answered": b.answered} for n, b in smaller.items()},
        "threads_after": status.get("Threads"),
        "state": args.state,
        "problems": problems[:20],
    }
    result.notes.append(f"state store: {args.state}; Pro ~2 s per answer (0.5 s first token)")
    return result


if __name__ == "__main__":
    raise SystemExit(run(main))
