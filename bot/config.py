"""Settings: the only reader of the environment and `.env`.

Every variable is declared here, with its default; docs/ARCHITECTURE.md lists where each
is read.
`load_settings()` turns pydantic's validation errors into one `ConfigError` line that names
the variable and what is expected, so a bad deploy fails at start with a readable reason.
One exception: `bot.health` reads HEALTH_FILE itself, because the container health check
must not import pydantic (tests/test_health.py keeps both readings equal).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.health import DEFAULT_HEALTH_FILE
from kernel.errors import ConfigError

CommaList = Annotated[list[str], NoDecode]

#: Languages lingua is built for when DETECT_LANGUAGES is not set: the corpus languages
#: plus the ones support teams most often see. Fewer languages = less memory.
DEFAULT_DETECT_LANGUAGES = "en,ko,ja,zh,es,de,fr,vi,pt,it,id,th"

#: Each Slack token's prefix and what its error says is expected.
_TOKEN_SHAPES = {
    "slack_bot_token": ("xoxb-", "a bot token starting with xoxb-"),
    "slack_app_token": ("xapp-", "an app-level token starting with xapp- (connections:write)"),
}


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Configuration contract (see `.env.example` for a commented copy)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    # Slack (required by `serve` only)
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    # Slack's rate limits are per workspace: each of SLACK_TASKS tasks budgets 1/N of them
    # (bot/slack/governor.py); SLACK_METHOD_LIMITS overrides a method's tier.
    slack_tasks: int = Field(default=1, ge=1, le=1000)
    slack_method_limits: str | None = None
    slack_stream_max_seconds: float = Field(default=240.0, ge=1, le=290)

    # AWS / Bedrock
    aws_region: str = "us-east-1"
    bedrock_region: str | None = None
    # validate_default: the default us. profiles must also match AWS_REGION/BEDROCK_REGION.
    micro_model_id: str = Field(default="us.amazon.nova-micro-v1:0", validate_default=True)
    pro_model_id: str = Field(default="us.amazon.nova-pro-v1:0", validate_default=True)
    embed_model_id: str = Field(default="amazon.titan-embed-text-v2:0", validate_default=True)
    embed_dimensions: Literal[256, 512, 1024] = 512
    answer_max_tokens: int = Field(default=1500, ge=64, le=10_000)
    bedrock_max_attempts: int = Field(default=3, ge=1, le=10)
    bedrock_read_timeout: float = Field(default=30.0, gt=0)
    # Connections each boto3 client may keep open; `serve` runs up to 256 blocking calls.
    aws_max_pool_connections: int = Field(default=256, ge=1, le=1024)
    # Flow control (bot/flow.py): this process's budget a minute per model, and how long a
    # question may wait for its turn before the asker is told to come back later.
    bedrock_pro_requests_per_minute: int = Field(default=100, ge=1, le=100_000)
    bedrock_pro_tokens_per_minute: int = Field(default=400_000, ge=1_000)
    bedrock_micro_requests_per_minute: int = Field(default=200, ge=1, le=100_000)
    bedrock_micro_tokens_per_minute: int = Field(default=400_000, ge=1_000)
    queue_max_wait_seconds: float = Field(default=90.0, gt=0, le=900)
    aws_endpoint_url_s3: str | None = None
    aws_endpoint_url_bedrock_runtime: str | None = None
    aws_endpoint_url_dynamodb: str | None = None
    aws_endpoint_url_bedrock_agent_runtime: str | None = None

    # Knowledge
    docs_source: str = "examples/docs"
    index_uri: str = ".dualnova/index"
    corpus_languages: CommaList = Field(default_factory=lambda: ["en"])
    detect_languages: CommaList = Field(
        default_factory=lambda: _split_commas(DEFAULT_DETECT_LANGUAGES)  # type: ignore[arg-type,return-value]
    )
    default_language: str = "en"
    # Step 2 of language detection; validate_default: py3langid lacks a few lingua languages.
    language_model: Literal["py3langid", "lingua"] = Field(
        default="py3langid", validate_default=True
    )
    retrieval_top_k: int = Field(default=5, ge=1, le=20)
    min_vector_score: float = Field(default=0.35, ge=-1, le=1)
    min_bm25_score: float = Field(default=0.5, ge=0)
    relative_cutoff: float = Field(default=0.5, ge=0, le=1)
    max_passage_chars: int = Field(default=1000, ge=0, le=50_000)
    max_question_chars: int = Field(default=4000, ge=100)
    history_token_budget: int = Field(default=1500, ge=0)
    embed_concurrency: int = Field(default=16, ge=1, le=256)
    ingest_read_concurrency: int = Field(default=8, ge=1, le=64)
    ingest_parse_processes: int = Field(default=1, ge=0, le=32)
    max_document_mb: float = Field(default=20.0, gt=0)
    ingest_lock_ttl_seconds: float = Field(default=60.0, ge=1)
    retriever: Literal["hybrid", "bedrock-kb"] = "hybrid"
    knowledge_base_id: str | None = Field(default=None, validate_default=True)
    knowledge_base_min_score: float = Field(default=0.4, ge=0, le=1)
    knowledge_base_filter: bool = True

    # Multilingual teams
    glossary_uri: str | None = None
    channel_settings: str | None = None

    # Operation
    admin_user_ids: CommaList = Field(default_factory=list)
    access_config: str | None = None
    health_file: Path = DEFAULT_HEALTH_FILE  # `dualnova health` reads it without Settings
    index_poll_seconds: float = Field(default=10.0, gt=0)
    socket_ping_seconds: float = Field(default=10.0, gt=0)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    state_table: str | None = None
    state_backend: Literal["sqlite", "memory", "dynamodb"] | None = Field(
        default=None, validate_default=True
    )
    state_path: Path = Path(".dualnova/state.db")
    offline: bool = Field(default=False, validation_alias="DUALNOVA_OFFLINE")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    # Accounting (bot/pricing.py, bot/usage.py, bot/usage_ledger.py, bot/budget.py, bot/metrics.py)
    prices: str | None = None
    budget_user_daily_questions: int | None = Field(default=None, ge=1)
    budget_channel_daily_questions: int | None = Field(default=None, ge=1)
    budget_user_daily_usd: float | None = Field(default=None, gt=0)
    budget_channel_daily_usd: float | None = Field(default=None, gt=0)
    metrics_namespace: str = Field(default="Dualnova", min_length=1, max_length=255)

    _split = field_validator(
        "corpus_languages", "detect_languages", "admin_user_ids", mode="before"
    )(_split_commas)

    @field_validator("slack_api_url")
    @classmethod
    def _api_url_has_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL such as https://slack.com/api/")
        # AsyncWebClient joins method names with urljoin: without the slash, /api is lost.
        return value if value.endswith("/") else value + "/"

    @field_validator("slack_bot_token", "slack_app_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        prefix, expected = _TOKEN_SHAPES[str(info.field_name)]
        if value is not None and not value.get_secret_value().startswith(prefix):
            raise ValueError(f"expected {expected}")
        return value

    @field_validator("corpus_languages", "detect_languages")
    @classmethod
    def _iso_codes(cls, value: list[str]) -> list[str]:
        from bot.language import SUPPORTED_CODES

        codes = [code.lower() for code in value]
        unknown = [code for code in codes if code not in SUPPORTED_CODES]
        if unknown:
            raise ValueError(f"unknown ISO 639-1 code(s) {', '.join(unknown)}; e.g. en,ko,ja")
        if not codes:
            raise ValueError("expected at least one ISO 639-1 code, e.g. en")
        return codes

    @field_validator("micro_model_id", "pro_model_id", "embed_model_id")
    @classmethod
    def _profile_matches_region(cls, value: str, info: ValidationInfo) -> str:
        from bot.inference_profiles import profile_region_mismatch

        region = info.data.get("bedrock_region") or info.data.get("aws_region")
        problem = profile_region_mismatch(value, region) if region else None
        if problem:
            raise ValueError(f"{problem} (the region comes from BEDROCK_REGION, else AWS_REGION)")
        return value

    @field_validator("language_model")
    @classmethod
    def _model_knows_the_languages(cls, value: str, info: ValidationInfo) -> str:
        from bot.language import PY3LANGID_MISSING

        configured = {
            *info.data.get("detect_languages", []),
            *info.data.get("corpus_languages", []),
            info.data.get("default_language", "en"),
        }
        missing = sorted(configured & PY3LANGID_MISSING) if value == "py3langid" else []
        if missing:
            raise ValueError(
                f"py3langid cannot detect {', '.join(missing)}; set LANGUAGE_MODEL=lingua"
            )
        return value

    @field_validator("index_uri", "docs_source")
    @classmethod
    def _s3_uri_shape(cls, value: str) -> str:
        if value.startswith("s3://"):
            from retrieval.s3 import parse_s3_uri

            parse_s3_uri(value, error=ValueError)
        return value

    @field_validator("knowledge_base_id")
    @classmethod
    def _knowledge_base_needed(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("retriever") == "bedrock-kb":
            raise ValueError("required when RETRIEVER=bedrock-kb (the Knowledge Base id)")
        return value

    @field_validator("state_backend")
    @classmethod
    def _state_backend_matches_table(cls, value: str | None, info: ValidationInfo) -> str | None:
        table = info.data.get("state_table")
        if value == "dynamodb" and table is None:
            raise ValueError("dynamodb needs STATE_TABLE (the table name)")
        if value in ("sqlite", "memory") and table is not None:
            raise ValueError(f"{value} conflicts with STATE_TABLE={table}; unset one of them")
        return value

    @field_validator("slack_method_limits")
    @classmethod
    def _method_limits(cls, value: str | None) -> str | None:
        from bot.slack_rates import parse_method_limits

        parse_method_limits(value)
        return value

    @field_validator("prices")
    @classmethod
    def _price_table(cls, value: str | None) -> str | None:
        from bot.pricing import parse_prices

        parse_prices(value)
        return value

    @property
    def bedrock_region_name(self) -> str:
        return self.bedrock_region or self.aws_region

    @property
    def all_detect_languages(self) -> list[str]:
        """Detection must know every corpus language and the default, whatever was configured."""
        extra = [self.default_language, *self.corpus_languages]
        return list(dict.fromkeys([*self.detect_languages, *extra]))

    def require_slack(self) -> tuple[str, str]:
        """The two tokens `serve` needs, or a ConfigError naming the missing one."""
        if self.slack_bot_token is None:
            raise ConfigError("SLACK_BOT_TOKEN: required by `serve`; expected an xoxb- bot token")
        if self.slack_app_token is None:
            raise ConfigError("SLACK_APP_TOKEN: required by `serve`; expected an xapp- app token")
        return self.slack_bot_token.get_secret_value(), self.slack_app_token.get_secret_value()

    @property
    def state_kind(self) -> Literal["sqlite", "memory", "dynamodb"]:
        """STATE_BACKEND, else DynamoDB when STATE_TABLE is set, else the SQLite file."""
        if self.state_backend is not None:
            return self.state_backend
        return "dynamodb" if self.state_table is not None else "sqlite"

    @property
    def index_is_local(self) -> bool:
        return not self.index_uri.startswith("s3://")

    @property
    def local_index_path(self) -> Path:
        return Path(self.index_uri)


def _variable_name(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else "?"
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    return str(alias) if isinstance(alias, str) else field.upper()


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment (and `.env`); raise one readable ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        given = first.get("input")
        shown = (
            ""
            if isinstance(given, dict | SecretStr) or "token" in str(first["loc"])
            else (f" (got {given!r})" if given is not None else "")
        )
        raise ConfigError(f"{_variable_name(first['loc'])}: {message}{shown}") from None
