"""Helpers shared by the tests and the benchmarks: the app's environment, as a process or
in-process; the sample index; the people and questions of the Slack harnesses; and what the
bot posted in a thread, read off the Slack fake.

Plain functions and constants only (the fixtures live in the conftests), so `bench/` uses
them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from slack_sdk.errors import SlackApiError

from bot.config import Settings, load_settings
from fakes.aws import REGION, MotoServer
from fakes.bedrock import FakeBedrock, Reply
from fakes.slack import FakeSlack, Message
from kernel.models import PUBLIC_COLLECTION

if TYPE_CHECKING:
    import pytest

    from retrieval.embedding import Embedder
    from retrieval.ingest import IngestReport
    from retrieval.store import IndexStore

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "examples" / "docs"

MENTION = "<@UBOT>"  # the fake's bot user
LEAVE_EN = "How many days of paid annual leave do employees get?"

# The workspace of the in-process app harnesses (tests/scenario, tests/faults); each gives
# its users their locales in its `slack_users` fixture.
ALICE = "U0ALICE"  # ko-KR in both
BOB = "U0BOB"  # es-ES in the scenarios, en-US in the fault tests
ADMIN = "U0ADMIN"  # en-US, an admin (scenarios only)


# --- the app's environment ------------------------------------------------------------------

#: The variables the app reads (and the machine's AWS profile): never inherited from the
#: developer's shell by an app under test.
_OURS = ("AWS_", "SLACK_", "DUALNOVA_", "STATE_", "INDEX_")


def clean_environ() -> dict[str, str]:
    """This process's environment without its AWS, Slack and dualnova settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}


def offline_aws_env(workdir: Path, bedrock: FakeBedrock) -> dict[str, str]:
    """AWS for a process that must reach nothing real: Bedrock on the fake with dummy keys,
    no shared config or credentials file (`workdir/none` does not exist), no instance
    metadata."""
    return {
        **bedrock.env(),
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(workdir / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def serve_env(
    slack: FakeSlack,
    bedrock: FakeBedrock,
    *,
    index: Path,
    workdir: Path,
    moto: MotoServer | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment of `python -m bot serve` against the fakes (and moto, for DynamoDB
    and S3): loopback endpoints, dummy credentials, the index at `index`, its health file in
    `workdir`, JSON logs at INFO; then `extra`."""
    env = clean_environ()
    env.update(slack.env())
    env.update(offline_aws_env(workdir, bedrock))
    if moto is not None:
        env.update(moto.env())
    env.update(
        INDEX_URI=str(index),
        HEALTH_FILE=str(workdir / "health.json"),
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        HTTP_PROXY="",
        HTTPS_PROXY="",
    )
    env.update(extra)
    return env


def bot_command(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` run to the end, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextlib.contextmanager
def serving(
    slack: FakeSlack, env: Mapping[str, str], cwd: Path, *, connect_timeout: float
) -> Iterator[subprocess.Popen[str]]:
    """`python -m bot serve` as a process, once it has connected to `slack`. Its stderr is a
    pipe (read it with `communicate`); on the way out it is killed if still running."""
    before = slack.connected
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        slack.wait_connected(before + 1, timeout=connect_timeout)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


def slack_app_settings(
    monkeypatch: pytest.MonkeyPatch, slack: FakeSlack, workdir: Path, **env: str
) -> Settings:
    """Settings of an in-process app pointed at `slack`, its health file in `workdir`, plus
    `env`."""
    for name, value in {
        **slack.env(),
        "HEALTH_FILE": str(workdir / "health.json"),
        **env,
    }.items():
        monkeypatch.setenv(name, value)
    return load_settings()


# --- ingesting ------------------------------------------------------------------------------


def ingest_with(
    settings: Settings,
    *,
    source: str | None = None,
    store: IndexStore | None = None,
    s3: Any = None,
    embedder: Embedder | Literal["bedrock"] | None = "bedrock",
    collection: str = PUBLIC_COLLECTION,
    full: bool = False,
) -> IngestReport:
    """Ingest as `dualnova ingest` does: the configured language detector, source and index
    store, and the Bedrock embedder, unless given (`embedder=None` ingests offline)."""
    from bot.bedrock import runtime_client
    from bot.wiring import build_detector, build_embedder, build_store
    from retrieval.ingest import IngestOptions, ingest
    from retrieval.sources import open_source

    detector = build_detector(settings)
    if embedder == "bedrock":
        embedder = build_embedder(settings, runtime_client(settings))
    return ingest(
        source=open_source(source or settings.docs_source, s3=s3),
        store=store or build_store(settings),
        embedder=embedder,
        detect_language=lambda text: detector.detect(text).language,
        options=IngestOptions(collection, full),
    )


def bucket_of(settings: Settings) -> str:
    """The bucket of the settings' S3 document source."""
    return settings.docs_source.removeprefix("s3://").split("/")[0]


def build_sample_index(index: Path) -> Path:
    """examples/docs ingested into `index`, embedded by the Bedrock the environment names
    (the fake's: see `offline_aws_env`)."""
    ingest_with(load_settings(_env_file=None, index_uri=str(index)), source=str(DOCS))
    return index


# --- the Slack harnesses ----------------------------------------------------------------------


def micro(question: str) -> Reply:
    """Nova Micro's routing reply: `question` as the standalone question to answer."""
    return Reply(text=json.dumps({"standalone_question": question, "intent": "question"}))


# --- what the bot posted -------------------------------------------------------------------


def bot_replies(slack: FakeSlack, channel: str, thread_ts: str) -> list[Message]:
    return [m for m in slack.messages(channel, thread_ts) if m.bot_id and m.ts != thread_ts]


def _placeholder_texts() -> tuple[set[str], tuple[str, ...]]:
    from bot.messages import available_languages, message

    working = {message("working", lang) for lang in available_languages("working")}
    waiting = tuple(
        message("queue_position", lang, position=0, seconds=0).split("0")[0]
        for lang in available_languages("queue_position")
    )
    return working, waiting


_WORKING, _WAITING = _placeholder_texts()


def is_placeholder(msg: Message) -> bool:
    """Not an answer yet: the sign of work (or place in line) the bot posts when 👀 has no
    budget, or a posted answer still being written (it ends with the writing cursor). The
    answer replaces both, so a test waiting for it does not stop at them."""
    from bot.slack.delivery import WRITING_CURSOR

    return (
        msg.text in _WORKING or msg.text.startswith(_WAITING) or msg.text.endswith(WRITING_CURSOR)
    )


def block_types(msg: Message) -> list[str]:
    return [b["type"] for b in msg.blocks or []]


def has_feedback(msg: Message) -> bool:
    """A finished answer's last message carries the feedback buttons (an `actions` block)."""
    return any(b.get("type") == "actions" for b in msg.blocks or [])


def all_text(msg: Message) -> str:
    parts = [msg.text or ""]
    for block in msg.blocks or []:
        if block.get("type") == "section":
            parts.append(block["text"]["text"])
        for element in block.get("elements") or []:
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "\n".join(parts)


async def wait_replies(
    slack: FakeSlack, channel: str, thread_ts: str, count: int = 1, timeout: float = 15
) -> list[Message]:
    """The bot's finished (no longer streaming) messages in the thread, once there are `count`."""
    return await _wait_finished(slack, channel, thread_ts, count, timeout, lambda _: True)


async def wait_answer(
    slack: FakeSlack, channel: str, thread_ts: str, count: int = 1, timeout: float = 15
) -> list[Message]:
    """The bot's finished messages in the thread, once `count` answers are complete (each
    answer's last message carries the feedback buttons)."""
    return await _wait_finished(slack, channel, thread_ts, count, timeout, has_feedback)


async def _wait_finished(
    slack: FakeSlack,
    channel: str,
    thread_ts: str,
    count: int,
    timeout: float,
    counts: Callable[[Message], bool],
) -> list[Message]:
    def done() -> list[Message] | None:
        replies = [m for m in bot_replies(slack, channel, thread_ts) if not m.streaming]
        if any(is_placeholder(m) for m in replies):
            return None
        return replies if sum(1 for m in replies if counts(m)) >= count else None

    return await slack.wait_for_async(done, timeout)


async def command_reply(
    slack: FakeSlack, envelope_id: str, timeout: float = 10.0
) -> dict[str, Any]:
    """What a slash command answered its user: the ack's text when it carried one, else its
    first response_url post (commands that wait on Slack or the state store ack first)."""
    ack = await slack.wait_for_ack_async(envelope_id, timeout)
    if ack.payload:
        return ack.payload
    posts = await slack.wait_for_async(lambda: slack.response_posts(envelope_id), timeout)
    return posts[0].body


async def eventually(read: Callable[[], Awaitable[T]], timeout: float = 5.0) -> T:
    """Poll an async read until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := await read()):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("nothing recorded")
        await asyncio.sleep(0.02)
    return value


async def slack_error(call: Awaitable[object]) -> SlackApiError:
    """The SlackApiError a Web API call raises (the test fails if it does not raise)."""
    import pytest

    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value
