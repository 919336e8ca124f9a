"""Shared fixtures: the Bedrock fake, an isolated AWS environment, a sample index, moto, and
the Slack fake of the in-process app harnesses."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings, load_settings
from fakes.aws import MotoServer
from fakes.bedrock import FakeBedrock
from fakes.harness import build_sample_index, offline_aws_env
from fakes.s3_corpus import bucket_name
from fakes.slack import FakeSlack
from tests.faults.secrets import AWS_SECRET, leaks

_AWS_VARIABLES = [
    name for name in os.environ if name.startswith(("AWS_", "SLACK_", "DUALNOVA_"))
] + [
    "INDEX_URI",
    "DOCS_SOURCE",
    "CORPUS_LANGUAGES",
    "STATE_TABLE",
    "STATE_BACKEND",
    "STATE_PATH",
    "ADMIN_USER_IDS",
]


def isolate_environment(monkeypatch: pytest.MonkeyPatch, tmp: Path, bedrock: FakeBedrock) -> None:
    """No real AWS or Slack: dummy credentials, loopback endpoints, no shared config files."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in offline_aws_env(tmp, bedrock).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BEDROCK_MAX_ATTEMPTS", "3")


@pytest.fixture(scope="session")
def fake_bedrock_server() -> Iterator[FakeBedrock]:
    with FakeBedrock() as fake:
        yield fake


@pytest.fixture
def bedrock(fake_bedrock_server: FakeBedrock) -> Iterator[FakeBedrock]:
    fake_bedrock_server.reset()
    yield fake_bedrock_server
    fake_bedrock_server.reset()


@pytest.fixture(scope="session")
def sample_index(
    tmp_path_factory: pytest.TempPathFactory, fake_bedrock_server: FakeBedrock
) -> Path:
    """examples/docs ingested once, with embeddings from the fake, shared read-only by tests."""
    root = tmp_path_factory.mktemp("sample-index")
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_environment(monkeypatch, root, fake_bedrock_server)
        build_sample_index(root / "index")
    fake_bedrock_server.reset()
    return root / "index"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bedrock: FakeBedrock) -> Path:
    """An isolated environment in an empty working directory (no stray .env is read)."""
    isolate_environment(monkeypatch, tmp_path, bedrock)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def settings(aws_env: Path, sample_index: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("INDEX_URI", str(sample_index))
    return load_settings()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto in server mode on loopback, shared by the session (tables are uniquely named)."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def s3_settings(
    aws_env: Path, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Documents under `s3://BUCKET/docs` and the index under `s3://BUCKET/index`, in a fresh
    bucket on the moto server."""
    bucket = bucket_name()
    moto_server.client("s3").create_bucket(Bucket=bucket)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server.url)
    monkeypatch.setenv("INDEX_URI", f"s3://{bucket}/index")
    monkeypatch.setenv("DOCS_SOURCE", f"s3://{bucket}/docs")
    return load_settings()


@pytest.fixture
def state_table(moto_server: MotoServer) -> Iterator[str]:
    """A fresh state table with the CDK stack's schema on the moto server; yields its name."""
    name = f"dualnova-state-{uuid.uuid4().hex[:12]}"
    moto_server.create_state_table(name)
    yield name
    moto_server.delete_table(name)


# --- the in-process Slack app harnesses (tests/scenario, tests/faults) -----------------------
# Each harness's conftest provides `slack_server`, its own session-wide FakeSlack (so what one
# harness injects never reaches the other), and `slack_users`, user id -> locale.


@pytest.fixture
def slack(slack_server: FakeSlack, slack_users: Mapping[str, str]) -> Iterator[FakeSlack]:
    """The harness's Slack fake, emptied and given its users; emptied again afterwards."""
    slack_server.reset()
    for user, locale in slack_users.items():
        slack_server.add_user(user, locale=locale)
    yield slack_server
    slack_server.reset()


@pytest.fixture
def no_secrets_in_logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, aws_env: Path
) -> Iterator[None]:
    """No Slack token or AWS secret key in any log record, DEBUG included (the harnesses
    turn this on for every test)."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)  # after aws_env's dummy one
    caplog.set_level(logging.DEBUG)
    yield
    # caplog.records is only the current phase (teardown, here): check every phase's records.
    records = [r for phase in ("setup", "call", "teardown") for r in caplog.get_records(phase)]
    assert leaks(records, [AWS_SECRET]) == []


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    """slack_sdk's async client on the module's own `fake` Slack (modules with another kind of
    `client`, e.g. the Bedrock fake's, define their own)."""
    return AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
