"""The index on S3: atomic publish, cheap polling, loading with no local state, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.wiring import build_store
from fakes.aws import MotoServer
from fakes.bedrock import FakeBedrock
from fakes.harness import REPO, bot_command, bucket_of, ingest_with
from fakes.s3_corpus import code_word, key_of, put_documents
from kernel.errors import AccessDenied, IngestError
from retrieval.handle import IndexHandle
from retrieval.locks import S3ObjectLock
from retrieval.s3 import parse_s3_uri, s3_client
from retrieval.s3_store import S3IndexStore


def store_with(client: Any, settings: Settings) -> S3IndexStore:
    location = parse_s3_uri(settings.index_uri)
    return S3IndexStore(
        location, client=client, lock=S3ObjectLock(client=client, location=location)
    )


def test_polling_an_unchanged_index_is_one_conditional_get_answered_304(
    s3_settings: Settings, moto_server: MotoServer, bedrock: FakeBedrock
) -> None:
    put_documents(moto_server.client("s3"), bucket_of(s3_settings), "docs", range(3))
    ingest_with(s3_settings)
    client = s3_client(region="us-east-1", endpoint_url=moto_server.url)
    sent: list[tuple[str, int, str | None]] = []
    client.meta.events.register(
        "after-call.s3.*",
        lambda http_response, model, **_: sent.append(
            (model.name, http_response.status_code, None)
        ),
    )
    conditions: list[str | None] = []
    client.meta.events.register(
        "before-send.s3.*",
        lambda request, **_: conditions.append(request.headers.get("If-None-Match")),
    )
    handle = IndexHandle(store=store_with(client, s3_settings))
    handle.current()
    sent.clear()
    conditions.clear()

    assert handle.refresh() is False

    assert [(op, status) for op, status, _ in sent] == [("GetObject", 304)]
    assert conditions[0] is not None


def test_a_running_handle_sees_a_new_version_within_ten_seconds(
    s3_settings: Settings, moto_server: MotoServer, bedrock: FakeBedrock
) -> None:
    bucket = bucket_of(s3_settings)
    put_documents(moto_server.client("s3"), bucket, "docs", range(3))
    ingest_with(s3_settings)
    handle = IndexHandle(store=build_store(s3_settings))
    before = handle.current()
    stop = threading.Event()
    seen: list[float] = []

    def poll() -> None:  # what `serve` does every INDEX_POLL_SECONDS
        while not stop.wait(0.5):
            if handle.refresh():
                seen.append(time.monotonic())

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        put_documents(moto_server.client("s3"), bucket, "docs", [3])
        report = ingest_with(s3_settings)
        published = time.monotonic()
        deadline = published + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        poller.join()

    assert seen and seen[0] - published < 10
    assert handle.current().version == report.version != before.version
    assert before.version != handle.current().version and len(before.nodes) == 3  # kept as is


def _subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(extra)
    env["PYTHONPATH"] = str(REPO)
    return env


def test_an_index_on_s3_loads_in_a_fresh_process_with_no_local_state(
    s3_settings: Settings, moto_server: MotoServer, bedrock: FakeBedrock, tmp_path: Path
) -> None:
    bucket = bucket_of(s3_settings)
    put_documents(moto_server.client("s3"), bucket, "docs", range(6))
    ingest_with(s3_settings)
    empty = tmp_path / "fresh"
    (empty / "tmp").mkdir(parents=True)

    done = bot_command(
        "ask",
        f"What is the code word for item 4? {code_word(4)}",
        "--offline",
        "--json",
        cwd=empty,
        env=_subprocess_env({"TMPDIR": str(empty / "tmp"), "HOME": str(empty)}),
        timeout=90,
    )

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["citations"][0]["source"] == f"s3://{bucket}/{key_of('docs', 4)}"
    assert code_word(4) in answer["answer"]


def test_a_killed_ingest_leaves_the_previous_version_serving_and_the_next_run_publishes(
    s3_settings: Settings, moto_server: MotoServer, bedrock: FakeBedrock, tmp_path: Path
) -> None:
    bucket = bucket_of(s3_settings)
    raw = moto_server.client("s3")
    put_documents(raw, bucket, "docs", range(30))
    good = ingest_with(s3_settings)
    put_documents(raw, bucket, "docs", range(30), revision=1)  # every document changed
    bedrock.reset()
    bedrock.latency("titan-embed", fixed_s=0.4)
    ingesting = subprocess.Popen(
        [sys.executable, "-m", "bot", "ingest", s3_settings.docs_source, "--json"],
        cwd=tmp_path,
        env=_subprocess_env({"EMBED_CONCURRENCY": "2", "INGEST_LOCK_TTL_SECONDS": "2"}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while len(bedrock.calls("InvokeModel")) < 10 and time.monotonic() < deadline:
            assert ingesting.poll() is None, ingesting.stderr.read() if ingesting.stderr else ""
            time.sleep(0.05)
        assert len(bedrock.calls("InvokeModel")) >= 10
    finally:
        ingesting.send_signal(signal.SIGKILL)
        ingesting.wait(10)
    bedrock.reset()
    with pytest.raises(IngestError, match=r"another ingest is running \(pid \d+ on .+ since"):
        ingest_with(s3_settings)  # the dead holder's lease has not expired yet

    handle = IndexHandle(store=build_store(s3_settings))
    index = handle.current()
    assert index.version == good.version and handle.refresh() is False
    assert any(code_word(5) in n.get_content() for n in index.nodes)

    settings = load_settings(ingest_lock_ttl_seconds=2)
    deadline = time.monotonic() + 15
    while True:
        try:
            report = ingest_with(settings)
            break
        except IngestError:
            assert time.monotonic() < deadline, "the crashed holder's lease never expired"
            time.sleep(0.5)

    assert report.published and len(report.updated) == 30
    assert handle.refresh() is True and handle.current().version == report.version
    assert any(code_word(5, 1) in n.get_content() for n in handle.current().nodes)


def test_a_missing_pointer_is_decided_by_listing_even_when_get_answers_403(
    s3_settings: Settings, moto_server: MotoServer, bedrock: FakeBedrock
) -> None:
    bucket = bucket_of(s3_settings)
    listing_only = moto_server.credentials_allowing("s3:ListBucket", user="list-only")
    client = moto_server.client("s3", **listing_only)

    with moto_server.enforce_iam():
        assert store_with(client, s3_settings).current_version() is None

    put_documents(moto_server.client("s3"), bucket, "docs", range(2))
    ingest_with(s3_settings)
    with moto_server.enforce_iam(), pytest.raises(AccessDenied) as denied:
        store_with(client, s3_settings).current_version()
    assert f"arn:aws:s3:::{bucket}/index/*" in str(denied.value)
    assert "s3:GetObject" in str(denied.value)


def test_publishing_prunes_old_versions_but_keeps_the_newest(
    s3_settings: Settings, moto_server: MotoServer, bedrock: FakeBedrock
) -> None:
    bucket = bucket_of(s3_settings)
    raw = moto_server.client("s3")
    versions = []
    for revision in range(5):
        put_documents(raw, bucket, "docs", [1], revision=revision)
        versions.append(ingest_with(s3_settings, full=True).version)

    listing = raw.list_objects_v2(Bucket=bucket, Prefix="index/versions/", Delimiter="/")
    left = sorted(p["Prefix"].split("/")[-2] for p in listing.get("CommonPrefixes", []))
    assert left == versions[-4:]  # the current one and three before it
