"""Settings: one line naming the variable, tokens never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_settings
from kernel.errors import ConfigError


@pytest.fixture(autouse=True)
def _isolated(aws_env: Path) -> None:
    """Every test starts from the isolated environment of conftest."""


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("RETRIEVAL_TOP_K", "lots", "RETRIEVAL_TOP_K"),
        ("CORPUS_LANGUAGES", "en,klingon", "CORPUS_LANGUAGES: unknown ISO 639-1 code(s) klingon"),
        ("EMBED_DIMENSIONS", "300", "EMBED_DIMENSIONS"),
        ("SLACK_API_URL", "slack.com/api", "SLACK_API_URL: expected an http(s) URL"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT"),
        ("DUALNOVA_OFFLINE", "maybe", "DUALNOVA_OFFLINE"),
    ],
)
def test_bad_value_fails_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith(expected)
    assert "\n" not in str(info.value)


def test_a_malformed_token_is_named_but_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-very-secret-user-token")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith("SLACK_BOT_TOKEN: expected a bot token starting with xoxb-")
    assert "very-secret" not in str(info.value)


def test_serve_requires_both_slack_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        load_settings().require_slack()


def test_lists_are_comma_separated_and_empty_values_mean_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORPUS_LANGUAGES", "en, ko")
    monkeypatch.setenv("ADMIN_USER_IDS", "U1,U2")
    monkeypatch.setenv("BEDROCK_REGION", "")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api")
    settings = load_settings()
    assert settings.corpus_languages == ["en", "ko"]
    assert settings.admin_user_ids == ["U1", "U2"]
    assert settings.bedrock_region_name == "us-east-1"
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"


def test_the_cli_prints_the_config_error_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAX_QUESTION_CHARS", "-1")
    assert main(["ask", "hello"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dualnova: configuration error: MAX_QUESTION_CHARS")


def test_env_example_lists_every_setting() -> None:
    from bot.config import Settings
    from fakes.harness import REPO

    example = (REPO / ".env.example").read_text("utf-8")
    variables = [
        field.validation_alias if isinstance(field.validation_alias, str) else name.upper()
        for name, field in Settings.model_fields.items()
    ]

    assert "SLACK_BOT_TOKEN" in variables  # really the settings' variables
    assert [v for v in variables if f"\n{v}=" not in example] == []


def test_a_us_profile_in_a_non_us_region_fails_at_start_naming_the_right_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The defaults are us. profiles: every Converse call from Seoul would be a ValidationException.
    monkeypatch.setenv("AWS_REGION", "ap-northeast-2")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith(
        "MICRO_MODEL_ID: inference-profile prefix us. cannot be called from region ap-northeast-2; "
        "use apac.amazon.nova-micro-v1:0"
    )
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"BEDROCK_REGION": "eu-west-1", "MICRO_MODEL_ID": "eu.amazon.nova-micro-v1:0"},
         "PRO_MODEL_ID: inference-profile prefix us. cannot be called from region eu-west-1; use eu."),
        ({"AWS_REGION": "us-west-2", "PRO_MODEL_ID": "apac.amazon.nova-pro-v1:0"},
         "PRO_MODEL_ID: inference-profile prefix apac. cannot be called from region us-west-2; use us."),
        ({"AWS_REGION": "ap-northeast-1", "MICRO_MODEL_ID": "jp.amazon.nova-micro-v1:0",
          "PRO_MODEL_ID": "au.amazon.nova-pro-v1:0"},
         "PRO_MODEL_ID: inference-profile prefix au. cannot be called from region ap-northeast-1; use jp."),
    ],
)  # fmt: skip
def test_the_profile_is_checked_against_the_bedrock_region(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith(named)


@pytest.mark.parametrize(
    "variables",
    [
        {"AWS_REGION": "ap-northeast-2", "MICRO_MODEL_ID": "apac.amazon.nova-micro-v1:0",
         "PRO_MODEL_ID": "global.amazon.nova-2-lite-v1:0"},
        {"AWS_REGION": "eu-west-1", "BEDROCK_REGION": "us-east-1"},
        {"AWS_REGION": "ap-northeast-1", "MICRO_MODEL_ID": "jp.amazon.nova-micro-v1:0",
         "PRO_MODEL_ID": "apac.amazon.nova-pro-v1:0"},
        {"AWS_REGION": "sa-east-1", "MICRO_MODEL_ID": "amazon.nova-micro-v1:0",
         "PRO_MODEL_ID": "amazon.nova-pro-v1:0"},
    ],
)  # fmt: skip
def test_profiles_callable_from_the_region_start(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert load_settings().micro_model_id == variables.get(
        "MICRO_MODEL_ID", "us.amazon.nova-micro-v1:0"
    )
