"""Scenario harness: the real Bolt app, in-process, against the Slack and Bedrock fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from fakes.harness import ADMIN, ALICE, BOB, slack_app_settings
from fakes.slack import FakeSlack
from tests.scenario.bots import APP_TOKEN, BOT_TOKEN, RunningBot, start_bot


@pytest.fixture(autouse=True)
def _every_scenario_keeps_secrets_out_of_logs(no_secrets_in_logs: None) -> None:
    """Every scenario: no Slack token or AWS secret key in any log record."""


@pytest.fixture(scope="session")
def slack_server() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN, app_token=APP_TOKEN) as fake:
        yield fake


@pytest.fixture
def slack_users() -> dict[str, str]:
    return {ALICE: "ko-KR", BOB: "es-ES", ADMIN: "en-US"}


@pytest.fixture
def slack_settings(
    settings: Settings, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, aws_env: Path
) -> Settings:
    return slack_app_settings(monkeypatch, slack, aws_env, ADMIN_USER_IDS=ADMIN)


@pytest.fixture
async def bot(slack_settings: Settings, slack: FakeSlack) -> AsyncIterator[RunningBot]:
    running = await start_bot(slack_settings, slack)
    yield running
    await running.stop()
