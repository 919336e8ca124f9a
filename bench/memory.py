"""`memory`: resident memory of `python -m bot serve` — idle, and at peak under load.

Idle: the process connected, the sample index loaded and the language models warm (serve
loads both before it connects). Peak: the kernel's high-water mark (VmHWM) after the
`concurrency` burst of 200 questions at once, with VmRSS also sampled every 50 ms.

    python -m bench.memory [--questions 200]
"""

from __future__ import annotations

import argparse
import time

from bench.common import Result, ServeProcess, run, stack
from bench.concurrency import burst

IDLE_TARGET_MB = 250
PEAK_TARGET_MB = 400


def rss_parts(pid: int) -> dict[str, int]:
    """RssAnon (heap: objects, lingua's models, malloc arenas) and RssFile (mapped libraries
    and files) of a process, kB."""
    parts: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("RssAnon", "RssFile"):
                parts[key] = int(rest.split()[0])
    return parts


def main() -> Result:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--state", choices=("memory", "dynamodb"), default="memory")
    parser.add_argument(
        "--app-env", action="append", default=[], metavar="NAME=VALUE", help="extra app env"
    )
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.app_env)
    samples: list[int] = []
    with stack(state=args.state) as s, ServeProcess(s, **extra) as app:
        time.sleep(2.0)
        idle = app.status()
        idle_parts = rss_parts(app.pid)
        many = burst(s, args.questions, on_tick=lambda: samples.append(app.status()["VmRSS"]))
        peak = app.status()
        after = peak["VmRSS"]
    idle_mb = idle["VmRSS"] / 1024
    peak_mb = max(peak["VmHWM"], *samples) / 1024
    result = Result("memory")
    result.add(
        "idle RSS (sample index loaded)",
        f"{idle_mb:.0f} MB",
        f"<= {IDLE_TARGET_MB} MB",
        idle_mb <= IDLE_TARGET_MB,
    )
    result.add(
        "  of which anonymous / mapped files",
        f"{idle_parts.get('RssAnon', 0) / 1024:.0f} / {idle_parts.get('RssFile', 0) / 1024:.0f} MB",
    )
    result.add(
        f"peak RSS, {args.questions} questions at once",
        f"{peak_mb:.0f} MB",
        f"<= {PEAK_TARGET_MB} MB",
        peak_mb <= PEAK_TARGET_MB,
    )
    result.add("RSS after the burst", f"{after / 1024:.0f} MB")
    result.add("threads at peak", str(peak.get("Threads")))
    result.add(
        "answered", f"{many.answered}/{args.questions}", "all", many.answered == args.questions
    )
    result.data = {
        "idle": idle,
        "idle_parts": idle_parts,
        "peak": peak,
        "rss_samples_kb": samples,
        "state": args.state,
        "app_env": extra,
    }
    result.notes.append("the task has 1 GiB; VmHWM is the kernel's high-water mark for the process")
    if extra:
        result.notes.append(f"extra app environment: {extra}")
    return result


if __name__ == "__main__":
    raise SystemExit(run(main))
