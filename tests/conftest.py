"""Shared fixtures: the Bedrock fake, an isolated AWS environment, a sample index, moto, and
the Slack fake of the in-process app harnesses."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from tests.fakes.aws import MotoServer
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.slack import FakeSlack
from tests.faults.secrets import AWS_SECRET, leaks

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "examples" / "docs"

_AWS_VARIABLES = [
    name for name in os.environ if name.startswith(("AWS_", "SLACK_", "DUALNOVA_"))
] + [
    "INDEX_URI",
    "DOCS_SOURCE",
    "CORPUS_LANGUAGES",
    "STATE_TABLE",
    "ADMIN_USER_IDS",
]


def isolate_environment(monkeypatch: pytest.MonkeyPatch, tmp: Path, bedrock_url: str) -> None:
    """No real AWS or Slack: dummy credentials, loopback endpoints, no shared config files."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock_url)
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
    from bot.wiring import build_detector, build_embedder, build_store, runtime_client
    from retrieval.ingest import ingest
    from retrieval.sources import open_source

    root = tmp_path_factory.mktemp("sample-index")
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_environment(monkeypatch, root, fake_bedrock_server.url)
        monkeypatch.setenv("INDEX_URI", str(root / "index"))
        settings = load_settings(_env_file=None)
        detector = build_detector(settings)
        ingest(
            source=open_source(str(DOCS)),
            store=build_store(settings),
            embedder=build_embedder(settings, runtime_client(settings)),
            detect_language=lambda text: detector.detect(text).language,
        )
    fake_bedrock_server.reset()
    return root / "index"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bedrock: FakeBedrock) -> Path:
    """An isolated environment in an empty working directory (no stray .env is read)."""
    isolate_environment(monkeypatch, tmp_path, bedrock.url)
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
    assert leaks(caplog.records, [AWS_SECRET]) == []
