"""Fault harness: the app exactly as `dualnova serve` runs it (`bot.slack.serve.start`),
in-process, against the Slack and Bedrock fakes; assertions are on what reached the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.slack.serve import Running
from fakes.harness import ALICE, BOB, slack_app_settings
from fakes.slack import FakeSlack
from tests.faults.apps import APP_TOKEN, BOT_TOKEN, start_app


@pytest.fixture(autouse=True)
def _every_fault_test_keeps_secrets_out_of_logs(no_secrets_in_logs: None) -> None:
    """Every fault test: no Slack token or AWS secret key in any log record."""


@pytest.fixture(scope="session")
def slack_server() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN, app_token=APP_TOKEN) as fake:
        yield fake


@pytest.fixture
def slack_users() -> dict[str, str]:
    return {ALICE: "ko-KR", BOB: "en-US"}


@pytest.fixture
def app_settings(
    settings: Settings, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, aws_env: Path
) -> Settings:
    # The product's Socket Mode ping (10 s): aiohttp closes a socket whose pong is later
    # than half the interval, and a shorter one drops sockets on a loaded machine, which is
    # not what these tests are about (tests/faults/test_socket_drop.py sets its own).
    return slack_app_settings(monkeypatch, slack, aws_env)


@pytest.fixture
async def app(app_settings: Settings, slack: FakeSlack) -> AsyncIterator[Running]:
    running = await start_app(app_settings, slack)
    yield running
    await running.stop(10)
