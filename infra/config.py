"""Per-environment deployment settings, read from `infra/environments.json`.

Every value is checked here, before any construct is built, so that a typo fails
`cdk synth` with one line naming the environment, the key and what is expected —
not a CloudFormation rollback twenty minutes later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, cast

from bot.inference_profiles import profile_region_mismatch

NetworkMode = Literal["public", "private", "private-endpoints"]
NETWORK_MODES: tuple[NetworkMode, ...] = ("public", "private", "private-endpoints")

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "environments.json"

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# Fargate task sizes (cpu units -> allowed memory MiB). Only the small sizes a
# Socket Mode bot could want; bigger ones are a sign of a leak, not a need.
FARGATE_SIZES: Mapping[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: (1024, 2048, 3072, 4096),
    1024: (2048, 3072, 4096, 5120, 6144, 7168, 8192),
    2048: tuple(range(4096, 16385, 1024)),
}

# Slack lets one app hold at most 10 Socket Mode connections; each task holds one.
MAX_TASKS = 10

# Fargate sends SIGKILL `stopTimeout` seconds after SIGTERM, and allows at most 120 s.
# The app drains answers for SHUTDOWN_GRACE_SECONDS, then still writes its last message
# updates, the health file and log lines: the margin keeps SIGKILL off those.
FARGATE_MAX_STOP_TIMEOUT_S = 120
SHUTDOWN_MARGIN_S = 15

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9](:[a-z0-9]+)*$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.'()-][A-Za-z0-9!_.'()/-]*/$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"
)
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")


class ConfigError(ValueError):
    """A deployment setting is missing or invalid; the message names it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EnvironmentConfig:
    """What differs between deployments (dev, prod, ...) of the same bot.

    `account`/`region` may be left out: the stack is then environment-agnostic and
    deploys wherever the CLI's credentials point.
    """

    name: str
    account: str | None = None
    region: str | None = None
    bedrock_region: str | None = None  # None: the stack's own region
    micro_model_id: str = "us.amazon.nova-micro-v1:0"
    pro_model_id: str = "us.amazon.nova-pro-v1:0"
    embed_model_id: str = "amazon.titan-embed-text-v2:0"
    existing_bucket_name: str | None = None  # None: the stack creates the bucket
    # The existing bucket's customer-managed KMS key (SSE-KMS): the task role may use it via S3.
    bucket_kms_key_arn: str | None = None
    knowledge_base_id: str | None = None  # set: RETRIEVER=bedrock-kb against this knowledge base
    docs_prefix: str = "docs/"
    index_prefix: str = "index/"
    corpus_languages: tuple[str, ...] = ("en",)
    admin_user_ids: tuple[str, ...] = ()
    # Secrets Manager names (or full ARNs) of secrets created before the first deploy.
    slack_bot_token_secret: str = ""
    slack_app_token_secret: str = ""
    # The customer-managed KMS key of those secrets, if any: ECS may use it to read them.
    secrets_kms_key_arn: str | None = None
    desired_count: int = 1
    max_count: int = 2
    cpu: int = 512
    memory_mib: int = 1024
    scale_out_cpu_percent: int = 60
    # SHUTDOWN_GRACE_SECONDS: how long a stopping task lets answers in flight finish.
    shutdown_grace_seconds: int = 30
    network_mode: NetworkMode = "public"
    nat_gateways: int = 1
    availability_zones: tuple[str, ...] = ()
    log_retention_days: int = 30
    error_alarm_threshold: int = 5  # ERROR log lines per 5 minutes
    alarm_email: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Secrets default to a per-environment name so two environments never share
        # a token by accident.
        if not self.slack_bot_token_secret:
            object.__setattr__(
                self, "slack_bot_token_secret", f"dualnova/{self.name}/slack-bot-token"
            )
        if not self.slack_app_token_secret:
            object.__setattr__(
                self, "slack_app_token_secret", f"dualnova/{self.name}/slack-app-token"
            )
        _validate(self)

    @property
    def stack_name(self) -> str:
        return f"Dualnova-{self.name}"

    @property
    def stop_timeout_seconds(self) -> int:
        """The container's stopTimeout: the app's drain plus a margin for its last writes."""
        return self.shutdown_grace_seconds + SHUTDOWN_MARGIN_S

    @property
    def uses_private_subnets(self) -> bool:
        return self.network_mode != "public"

    @classmethod
    def from_mapping(cls, name: str, raw: Mapping[str, Any]) -> EnvironmentConfig:
        """Build from one entry of environments.json; unknown keys are errors (typos)."""
        known = {f.name for f in fields(cls)} - {"name"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(
                f"environment {name!r}: unknown key(s) {', '.join(unknown)}; "
                f"expected some of: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {"name": name}
        for key, value in raw.items():
            if value is None:
                continue  # explicit null means "use the default"
            if key in {"corpus_languages", "admin_user_ids", "availability_zones"}:
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(f"environment {name!r}: {key} must be a list of strings")
                values[key] = tuple(value)
            elif key == "tags":
                if not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value.items()
                ):
                    raise ConfigError(f"environment {name!r}: tags must map strings to strings")
                values[key] = dict(value)
            else:
                values[key] = value
        return cls(**values)


def load_environments(path: Path = DEFAULT_CONFIG_PATH) -> dict[str, EnvironmentConfig]:
    """Read every environment from a JSON file shaped `{"environments": {name: {...}}}`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"environments file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    environments = document.get("environments") if isinstance(document, dict) else None
    if not isinstance(environments, dict) or not environments:
        raise ConfigError(f'{path}: expected {{"environments": {{"<name>": {{...}}}}}}')
    result: dict[str, EnvironmentConfig] = {}
    for name, raw in environments.items():
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: environment {name!r} must be an object")
        result[name] = EnvironmentConfig.from_mapping(name, cast(dict[str, Any], raw))
    return result


def _validate(config: EnvironmentConfig) -> None:
    def fail(key: str, expected: str) -> None:
        value = getattr(config, key)
        raise ConfigError(
            f"environment {config.name!r}: {key}={value!r} is invalid; expected {expected}"
        )

    if not _ENV_NAME.match(config.name):
        fail("name", "lowercase letters, digits and '-', at most 20 characters")
    if config.account is not None and not _ACCOUNT.match(str(config.account)):
        fail("account", "a 12-digit AWS account id (as a string) or null")
    for key in ("region", "bedrock_region"):
        value = getattr(config, key)
        if value is not None and not _REGION.match(str(value)):
            fail(key, "an AWS region such as us-east-1, or null")
    for key in ("micro_model_id", "pro_model_id", "embed_model_id"):
        value = getattr(config, key)
        if not isinstance(value, str) or not _MODEL_ID.match(value):
            fail(
                key,
                "a Bedrock model id or system inference-profile id such as "
                "apac.amazon.nova-pro-v1:0 (ARNs are not accepted: the task role is "
                "derived from the id)",
            )
    bedrock_region = config.bedrock_region or config.region
    if bedrock_region is not None:  # an environment-agnostic stack is checked at start-up
        for key in ("micro_model_id", "pro_model_id", "embed_model_id"):
            problem = profile_region_mismatch(getattr(config, key), bedrock_region)
            if problem:
                fail(key, f"an id callable from {bedrock_region}: {problem}")
    if config.existing_bucket_name is not None and not _BUCKET.match(
        str(config.existing_bucket_name)
    ):
        fail("existing_bucket_name", "an S3 bucket name, or null to create one")
    for key in ("bucket_kms_key_arn", "secrets_kms_key_arn"):
        value = getattr(config, key)
        if value is not None and not _KMS_KEY_ARN.match(str(value)):
            fail(key, "a KMS key ARN such as arn:aws:kms:REGION:ACCOUNT:key/KEY-ID (not an alias)")
    if config.bucket_kms_key_arn is not None and config.existing_bucket_name is None:
        fail(
            "bucket_kms_key_arn",
            "null unless existing_bucket_name is set (the stack's bucket is SSE-S3)",
        )
    for key in ("docs_prefix", "index_prefix"):
        value = getattr(config, key)
        if not isinstance(value, str) or not _PREFIX.match(value) or "//" in value:
            fail(key, "a key prefix like 'docs/': no leading '/', ends with '/', no wildcards")
    if config.docs_prefix.startswith(config.index_prefix) or config.index_prefix.startswith(
        config.docs_prefix
    ):
        # Nested prefixes would let ingest read its own index as documents, and the
        # task's write grant on the index would cover documents.
        fail("index_prefix", f"a prefix that does not overlap docs_prefix={config.docs_prefix!r}")
    if not config.corpus_languages or not all(
        _LANGUAGE.match(lang) for lang in config.corpus_languages
    ):
        fail("corpus_languages", "a non-empty list of ISO 639-1 codes such as ['en', 'ko']")
    if not all(_SLACK_USER.match(user) for user in config.admin_user_ids):
        fail("admin_user_ids", "a list of Slack user ids such as 'U012ABCDEF'")
    for key in ("slack_bot_token_secret", "slack_app_token_secret"):
        value = getattr(config, key)
        if not isinstance(value, str) or not (
            _SECRET_ARN.match(value) or (_SECRET_NAME.match(value) and not value.startswith("arn:"))
        ):
            fail(key, "a Secrets Manager secret name or full secret ARN")
    for key in (
        "desired_count",
        "max_count",
        "cpu",
        "memory_mib",
        "nat_gateways",
        "log_retention_days",
        "error_alarm_threshold",
        "scale_out_cpu_percent",
        "shutdown_grace_seconds",
    ):
        value = getattr(config, key)
        if not isinstance(value, int) or isinstance(value, bool):
            fail(key, "an integer")
    if not 0 <= config.desired_count <= MAX_TASKS:
        fail("desired_count", f"0..{MAX_TASKS} (Slack allows {MAX_TASKS} Socket Mode connections)")
    if not max(1, config.desired_count) <= config.max_count <= MAX_TASKS:
        fail("max_count", f"between max(1, desired_count) and {MAX_TASKS}")
    if config.memory_mib not in FARGATE_SIZES.get(config.cpu, ()):
        sizes = "; ".join(f"cpu {c}: memory {list(m)}" for c, m in FARGATE_SIZES.items())
        fail("memory_mib", f"a Fargate size ({sizes})")
    if not 10 <= config.scale_out_cpu_percent <= 90:
        fail("scale_out_cpu_percent", "10..90")
    if not 0 <= config.shutdown_grace_seconds <= FARGATE_MAX_STOP_TIMEOUT_S - SHUTDOWN_MARGIN_S:
        fail(
            "shutdown_grace_seconds",
            f"0..{FARGATE_MAX_STOP_TIMEOUT_S - SHUTDOWN_MARGIN_S} (Fargate's stopTimeout is at "
            f"most {FARGATE_MAX_STOP_TIMEOUT_S} s, and {SHUTDOWN_MARGIN_S} s of it is the margin)",
        )
    if config.network_mode not in NETWORK_MODES:
        fail("network_mode", " or ".join(NETWORK_MODES))
    if not 1 <= config.nat_gateways <= 2:
        fail("nat_gateways", "1 or 2 (used only by the private network modes)")
    if config.availability_zones:
        if len(config.availability_zones) < 2:
            fail("availability_zones", "at least two zones, or an empty list")
        if config.region and not all(
            az.startswith(config.region) for az in config.availability_zones
        ):
            fail("availability_zones", f"zones of region {config.region}")
    if config.log_retention_days not in LOG_RETENTION_DAYS:
        fail("log_retention_days", f"one of {list(LOG_RETENTION_DAYS)}")
    if config.error_alarm_threshold < 1:
        fail("error_alarm_threshold", "a positive number of ERROR lines per 5 minutes")
    if config.alarm_email is not None and not _EMAIL.match(str(config.alarm_email)):
        fail("alarm_email", "an e-mail address, or null")
