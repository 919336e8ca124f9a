"""The benchmark harness: the fakes, the sample index, `python -m bot serve` as a process.

Every benchmark runs the real app as a subprocess (`python -m bot serve`, exactly what the
container runs) against the loopback fakes in `fakes/` (Slack Web API + Socket Mode,
the Bedrock runtime with a latency profile, and moto for the DynamoDB state table when
asked), on this machine. The fakes run in this process; both fakes record arrival times on
the same monotonic clock, so latencies are measured on the wire, not inside the app.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DOCS = REPO / "examples" / "docs"
GLOSSARY = REPO / "examples" / "glossary.json"

if str(REPO) not in sys.path:  # `python bench/ack.py` as well as `python -m bench.ack`
    sys.path.insert(0, str(REPO))

from bench.questions import ANSWER_EN, english_for  # noqa: E402
from fakes.aws import MotoServer  # noqa: E402
from fakes.bedrock import FakeBedrock, RecordedRequest, Reply, estimate_tokens  # noqa: E402
from fakes.harness import (  # noqa: E402
    bot_replies,
    build_sample_index,
    has_feedback,
    offline_aws_env,
    serve_env,
)
from fakes.slack import FakeSlack, Message  # noqa: E402
from fakes.slack_limits import UNLIMITED_APP_LIMITS  # noqa: E402

BOT_TOKEN = "xoxb-bench-0000000000-secret"
APP_TOKEN = "xapp-1-bench-0000000000-secret"
CHANNEL = "C0BENCH"
MENTION = "<@UBOT>"
#: Nova's minimum prefix for a cache checkpoint (Bedrock prompt caching limits table).
NOVA_CACHE_MIN_TOKENS = 1000


# --- the latency profile of the Bedrock fake --------------------------------------------------


@dataclass(frozen=True)
class LatencyProfile:
    """How long the fake models take. Defaults are in line with Nova on-demand in one region."""

    micro_first_token_s: float = 0.30
    micro_tokens_per_s: float = 200.0
    pro_first_token_s: float = 0.60
    pro_tokens_per_s: float = 80.0
    embed_s: float = 0.05

    def apply(self, bedrock: FakeBedrock) -> None:
        bedrock.latency(
            "nova-micro",
            first_token_s=self.micro_first_token_s,
            tokens_per_s=self.micro_tokens_per_s,
        )
        bedrock.latency(
            "nova-pro", first_token_s=self.pro_first_token_s, tokens_per_s=self.pro_tokens_per_s
        )
        bedrock.latency("titan-embed", fixed_s=self.embed_s)


# --- scripted models, with Bedrock's prompt cache ---------------------------------------------


def _system_prefix(record: RecordedRequest) -> str | None:
    """The system text before the first cache point, or None when there is no cache point."""
    parts: list[str] = []
    for block in record.body.get("system") or []:
        if isinstance(block, dict) and "cachePoint" in block:
            return "\n".join(parts)
        if isinstance(block, dict) and "text" in block:
            parts.append(str(block["text"]))
    return None


class PromptCache:
    """Bedrock's prompt cache as Nova has it: a prefix ending at a cache point is read from
    the cache when the same model saw the byte-identical prefix before (and it is at least
    1,000 tokens: shorter checkpoints are not cached). The first sight writes it."""

    def __init__(self, min_tokens: int = NOVA_CACHE_MIN_TOKENS) -> None:
        self.min_tokens = min_tokens
        self._seen: set[tuple[str, str]] = set()
        self.prefixes: dict[str, set[str]] = {}  # model -> distinct prefix hashes seen
        self.prefix_tokens: dict[str, int] = {}  # model -> tokens of the latest prefix
        self._lock = threading.Lock()

    def reply(self, record: RecordedRequest, text: str) -> Reply:
        total = estimate_tokens(record.text)
        prefix = _system_prefix(record)
        model = "micro" if "nova-micro" in record.model_id else "pro"
        if prefix is None:
            return Reply(text=text, input_tokens=total)
        digest = hashlib.sha256(prefix.encode()).hexdigest()
        tokens = estimate_tokens(prefix)
        with self._lock:
            self.prefixes.setdefault(model, set()).add(digest)
            self.prefix_tokens[model] = tokens
            if tokens < self.min_tokens:
                return Reply(text=text, input_tokens=total)
            if (model, digest) in self._seen:
                return Reply(text=text, input_tokens=total - tokens, cache_read_tokens=tokens)
            self._seen.add((model, digest))
        return Reply(text=text, input_tokens=total - tokens, cache_write_tokens=tokens)


_LATEST = re.compile(r"Latest message \([^)]*\):\n(?P<question>.*)\Z", re.DOTALL)


def script_models(
    bedrock: FakeBedrock, *, cache: PromptCache | None = None, answer: str = ANSWER_EN
) -> PromptCache | None:
    """Micro condenses/translates workload questions to their English form; Pro answers.

    The fake models Bedrock's prompt cache itself (the 1,000-token minimum included) and
    reports it in each reply's usage; pass a `PromptCache` only to script it instead."""

    def reply(record: RecordedRequest, text: str) -> Reply:
        return cache.reply(record, text) if cache is not None else Reply(text=text)

    def micro(record: RecordedRequest) -> Reply:
        # The last text that carries the question (the assistant turn may be a "{" prefill).
        user = next((t for t in reversed(record.texts) if _LATEST.search(t)), "")
        match = _LATEST.search(user)
        question = match["question"].strip() if match else user
        english = english_for(question) or question
        return reply(record, json.dumps({"standalone_question": english, "intent": "question"}))

    def pro(record: RecordedRequest) -> Reply:
        return reply(record, answer)

    bedrock.responder("nova-micro", micro)
    bedrock.responder("nova-pro", pro)
    return cache


# --- the stack: fakes, environment, sample index ----------------------------------------------


#: The benchmarks that measure the app's own speed (ack, overhead, concurrency, memory, cost)
#: run without Slack's rate limits: the fake's are off and the app's budgets raised to match,
#: so pacing does not hide what they measure. `burst` runs with Slack's tiers on.
UNLIMITED_SLACK = UNLIMITED_APP_LIMITS


@dataclass
class Stack:
    slack: FakeSlack
    bedrock: FakeBedrock
    moto: MotoServer | None
    workdir: Path
    index: Path
    state_table: str | None = None
    slack_limits: bool = False

    def app_env(self, **extra: str) -> dict[str, str]:
        """The environment of `python -m bot serve`: loopback endpoints, dummy credentials."""
        env = {
            "DOCS_SOURCE": str(DOCS),
            "GLOSSARY_URI": str(GLOSSARY),
            # The Bedrock fake has no quota unless a bench sets one (FakeBedrock.set_quota; such
            # a bench passes matching budgets): this high, bot/flow.py paces nothing here.
            "BEDROCK_PRO_REQUESTS_PER_MINUTE": "100000",
            "BEDROCK_PRO_TOKENS_PER_MINUTE": "1000000000",
            "BEDROCK_MICRO_REQUESTS_PER_MINUTE": "100000",
            "BEDROCK_MICRO_TOKENS_PER_MINUTE": "1000000000",
            "NO_PROXY": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
        }
        if self.state_table:
            env["STATE_TABLE"] = self.state_table
        else:
            # `--state memory` means memory (the default is now a SQLite file, and serve runs
            # in the repository: no state.db left there by a benchmark).
            env["STATE_BACKEND"] = "memory"
        if not self.slack_limits:
            env["SLACK_METHOD_LIMITS"] = UNLIMITED_SLACK
        return serve_env(
            self.slack,
            self.bedrock,
            index=self.index,
            workdir=self.workdir,
            moto=self.moto,
            **{**env, **extra},
        )

    def reset(self) -> None:
        """Forget recorded calls between phases (sockets stay up)."""
        self.slack.reset()
        self.slack.limits_on = self.slack_limits
        self.bedrock.reset()


def _isolate_this_process(workdir: Path, bedrock: FakeBedrock) -> None:
    """The bench process itself builds the index through boto3: keep it on loopback."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "SLACK_", "DUALNOVA_")):
            del os.environ[name]
    os.environ.update(offline_aws_env(workdir, bedrock))


@contextlib.contextmanager
def stack(*, state: str = "memory", slack_limits: bool = False) -> Iterator[Stack]:
    """Start the fakes (and moto for `state="dynamodb"`), build the sample index.

    `slack_limits`: the Slack fake enforces Slack's rate tiers (off: see UNLIMITED_SLACK)."""
    workdir = Path(tempfile.mkdtemp(prefix="dualnova-bench-"))
    try:
        with contextlib.ExitStack() as stack_:
            slack = stack_.enter_context(
                FakeSlack(
                    bot_user_id="UBOT", team_id="T1", bot_token=BOT_TOKEN, app_token=APP_TOKEN
                )
            )
            bedrock = stack_.enter_context(FakeBedrock())
            _isolate_this_process(workdir, bedrock)
            index = build_sample_index(workdir / "index")
            bedrock.reset()
            moto = table = None
            if state == "dynamodb":
                moto = stack_.enter_context(MotoServer())
                table = f"dualnova-bench-{uuid.uuid4().hex[:8]}"
                moto.create_state_table(table)
            slack.limits_on = slack_limits
            yield Stack(slack, bedrock, moto, workdir, index, table, slack_limits)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- the app as a process ---------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM / Threads of a process, from /proc (kB for sizes)."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "Threads"):
                values[key] = int(rest.split()[0])
    return values


class ServeProcess:
    """`python -m bot serve` with its logs in files (a pipe nobody reads would block it)."""

    def __init__(self, stack_: Stack, **env: str) -> None:
        self._stack = stack_
        self._env = stack_.app_env(**env)
        self.stdout_path = stack_.workdir / f"serve-{uuid.uuid4().hex[:6]}.out"
        self.stderr_path = self.stdout_path.with_suffix(".err")
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 90) -> ServeProcess:
        slack = self._stack.slack
        before = slack.connected
        started = time.monotonic()
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve"],
                cwd=REPO,
                env=self._env,
                stdout=out,
                stderr=err,
            )
        try:
            slack.wait_for(
                lambda: slack.connected > before or self.process.poll() is not None,  # type: ignore[union-attr]
                timeout,
                interval=0.02,
            )
        except TimeoutError:
            self.kill()
            raise RuntimeError("serve did not connect:\n" + self.stderr_tail()) from None
        if self.process.poll() is not None:
            raise RuntimeError("serve exited at start:\n" + self.stderr_tail())
        self.startup_s = time.monotonic() - started
        return self

    def status(self) -> dict[str, int]:
        return proc_status(self.pid)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, wait for the drain; the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stderr_tail(self, chars: int = 3000) -> str:
        return self.stderr_path.read_text("utf-8", errors="replace")[-chars:]

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.stderr_path.read_text("utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
        return records

    def problems(self) -> list[str]:
        """ERROR/CRITICAL log lines and tracebacks the app wrote (should be none)."""
        found = [
            f"{r.get('level')}: {r.get('message')}"
            for r in self.log_records()
            if r.get("level") in ("ERROR", "CRITICAL")
        ]
        text = self.stderr_path.read_text("utf-8", errors="replace")
        if "Traceback" in text and not found:
            found.append("a traceback in stderr")
        return found

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- asking and watching the wire -------------------------------------------------------------


def ask(slack: FakeSlack, user: str, text: str, channel: str = CHANNEL) -> str:
    """A mention in `channel` (pushed as Slack does: `message` + `app_mention`); its ts."""
    return slack.post_user_message(channel, user, f"{MENTION} {text}")


def first_text_at(slack: FakeSlack, channel: str, ts: str) -> float | None:
    """When the first words of the answer reached Slack (startStream, or the fallback post)."""
    for call in slack.calls():
        if not call.ok or call.args.get("channel") != channel:
            continue
        if call.method in ("chat.startStream", "chat.postMessage") and (
            call.args.get("thread_ts") == ts
        ):
            return call.at
    return None


def finished(slack: FakeSlack, channel: str, ts: str) -> list[Message]:
    """The bot's finished answers in the thread (a finished answer carries the feedback row)."""
    return [m for m in bot_replies(slack, channel, ts) if not m.streaming and has_feedback(m)]


def sent_at(slack: FakeSlack, ts: str) -> float:
    """When the first envelope for the message `ts` was written to the socket."""
    return min(d.sent_at for d in slack.deliveries() if d.event.get("ts") == ts)


# --- statistics, tables and results -----------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) — no interpolation, so p99 of 200 is a sample."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "min": min(values) if values else math.nan,
        "median": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gb = None
    with contextlib.suppress(OSError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        memory_gb = round(kb / 1024 / 1024, 1)
    load = None
    with contextlib.suppress(OSError):
        load = Path("/proc/loadavg").read_text().split()[:3]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_1_5_15": load,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


@dataclass
class Row:
    """One line of a benchmark table: what, the measured value, the target, pass/fail."""

    metric: str
    value: str
    target: str = ""
    ok: bool | None = None


@dataclass
class Result:
    name: str
    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(row.ok is not False for row in self.rows)

    def add(self, metric: str, value: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append(Row(metric, value, target, ok))

    def print(self) -> None:
        print(format_table(self.name, self.rows))
        for note in self.notes:
            print(f"  note: {note}")

    def save(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}.json"
        payload = {
            "benchmark": self.name,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "passed": self.passed,
            "rows": [asdict(r) for r in self.rows],
            "notes": self.notes,
            "data": self.data,
        }
        path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
        return path


def format_table(title: str, rows: Iterable[Row]) -> str:
    rows = list(rows)
    header = ("metric", "measured", "target", "")
    lines = [
        (r.metric, r.value, r.target, "" if r.ok is None else ("ok" if r.ok else "MISSED"))
        for r in rows
    ]
    widths = [max(len(str(x[i])) for x in [header, *lines]) for i in range(4)]
    out = [f"== {title} =="]
    for line in [header, *lines]:
        out.append("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
    return "\n".join(out)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def run(main: Callable[[], Result]) -> int:
    """Run a benchmark, print its table, write bench/results/<name>.json; exit 1 on a miss."""
    result = main()
    result.print()
    path = result.save()
    print(f"  results: {path.relative_to(REPO)}")
    return 0 if result.passed else 1
