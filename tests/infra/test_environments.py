"""infra/environments.json and the config it becomes; model ARNs from ids. No CDK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.config import DEFAULT_CONFIG_PATH, ConfigError, EnvironmentConfig, load_environments
from infra.permissions import model_resource_arns, split_inference_profile


def test_shipped_environments_load_and_name_their_secrets_per_environment() -> None:
    environments = load_environments(DEFAULT_CONFIG_PATH)

    assert set(environments) >= {"dev", "prod"}
    for name, config in environments.items():
        assert config.name == name
        assert config.stack_name == f"Dualnova-{name}"
        assert config.slack_bot_token_secret == f"dualnova/{name}/slack-bot-token"
        assert config.slack_app_token_secret == f"dualnova/{name}/slack-app-token"
        assert config.docs_prefix == "docs/"
        assert config.index_prefix == "index/"


def test_defaults_are_half_a_vcpu_one_gib_one_task_public_network() -> None:
    config = EnvironmentConfig(name="x")

    assert (config.cpu, config.memory_mib, config.desired_count) == (512, 1024, 1)
    assert config.network_mode == "public"
    assert config.existing_bucket_name is None


def test_unknown_key_is_named_so_typos_fail_synth(tmp_path: Path) -> None:
    path = tmp_path / "environments.json"
    path.write_text(json.dumps({"environments": {"dev": {"desierd_count": 2}}}))

    with pytest.raises(ConfigError, match=r"environment 'dev': unknown key\(s\) desierd_count"):
        load_environments(path)


def test_null_means_default(tmp_path: Path) -> None:
    path = tmp_path / "environments.json"
    path.write_text(json.dumps({"environments": {"dev": {"alarm_email": None, "region": None}}}))

    assert load_environments(path)["dev"].region is None


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"docs_prefix": "docs"}, "docs_prefix"),
        ({"docs_prefix": "/docs/"}, "docs_prefix"),
        ({"docs_prefix": "docs/*"}, "docs_prefix"),
        ({"index_prefix": "docs/index/"}, "index_prefix"),
        ({"pro_model_id": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0"},
         "pro_model_id"),
        ({"micro_model_id": "us.amazon.nova-*"}, "micro_model_id"),
        ({"max_count": 11}, "max_count"),
        ({"desired_count": 3, "max_count": 2}, "max_count"),
        ({"cpu": 512, "memory_mib": 512}, "memory_mib"),
        ({"network_mode": "nat"}, "network_mode"),
        ({"log_retention_days": 10}, "log_retention_days"),
        ({"account": "12345"}, "account"),
        ({"region": "Seoul"}, "region"),
        ({"existing_bucket_name": "Bad_Bucket"}, "existing_bucket_name"),
        ({"slack_bot_token_secret": "arn:aws:secretsmanager:us-east-1:1:secret:x"},
         "slack_bot_token_secret"),
        ({"admin_user_ids": ("alice",)}, "admin_user_ids"),
        ({"corpus_languages": ()}, "corpus_languages"),
        ({"desired_count": True}, "desired_count"),
        ({"availability_zones": ("us-east-1a",)}, "availability_zones"),
        ({"shutdown_grace_seconds": 106}, "shutdown_grace_seconds"),
        ({"shutdown_grace_seconds": -1}, "shutdown_grace_seconds"),
        ({"existing_bucket_name": "kb-docs", "bucket_kms_key_arn": "alias/docs"}, "bucket_kms_key_arn"),
        ({"bucket_kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/abc"},
         "bucket_kms_key_arn"),  # the stack's own bucket is SSE-S3
        ({"secrets_kms_key_arn": "arn:aws:kms:us-east-1:123456789012:alias/slack"},
         "secrets_kms_key_arn"),
        ({"region": "eu-west-1"}, "micro_model_id"),
        ({"region": "us-east-1", "bedrock_region": "ap-northeast-2"}, "micro_model_id"),
        ({"region": "ap-northeast-1", "micro_model_id": "jp.amazon.nova-micro-v1:0"},
         "pro_model_id"),
    ],
)  # fmt: skip
def test_invalid_settings_fail_with_the_key_named(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=rf"environment 'x': {key}="):
        EnvironmentConfig(name="x", **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("apac.amazon.nova-pro-v1:0", ("apac", "amazon.nova-pro-v1:0")),
        ("us.amazon.nova-micro-v1:0", ("us", "amazon.nova-micro-v1:0")),
        ("global.amazon.nova-2-lite-v1:0", ("global", "amazon.nova-2-lite-v1:0")),
        ("us-gov.amazon.nova-pro-v1:0", ("us-gov", "amazon.nova-pro-v1:0")),
        ("amazon.titan-embed-text-v2:0", (None, "amazon.titan-embed-text-v2:0")),
        ("cohere.embed-multilingual-v3", (None, "cohere.embed-multilingual-v3")),
    ],
)
def test_inference_profile_prefix_is_recognised(
    model_id: str, expected: tuple[str | None, str]
) -> None:
    assert split_inference_profile(model_id) == expected


def test_profile_id_grants_the_profile_and_its_model_in_any_region() -> None:
    assert model_resource_arns(
        "apac.amazon.nova-pro-v1:0", region="ap-northeast-2", account="123456789012"
    ) == (
        "arn:aws:bedrock:ap-northeast-2:123456789012:inference-profile/apac.amazon.nova-pro-v1:0",
        "arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0",
    )


def test_plain_model_id_grants_the_foundation_model_in_one_region() -> None:
    assert model_resource_arns(
        "amazon.titan-embed-text-v2:0", region="us-east-1", account="123456789012"
    ) == ("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0",)


def test_a_profile_from_another_geography_names_the_right_prefix_at_synth() -> None:
    with pytest.raises(ConfigError) as caught:
        EnvironmentConfig(name="x", region="eu-west-1", pro_model_id="eu.amazon.nova-pro-v1:0")

    assert str(caught.value) == (
        "environment 'x': micro_model_id='us.amazon.nova-micro-v1:0' is invalid; expected an id "
        "callable from eu-west-1: inference-profile prefix us. cannot be called from region "
        "eu-west-1; use eu.amazon.nova-micro-v1:0 (or the plain model id if the model runs in "
        "eu-west-1)"
    )


@pytest.mark.parametrize(
    ("region", "micro", "pro"),
    [
        ("ap-northeast-2", "apac.amazon.nova-micro-v1:0", "apac.amazon.nova-pro-v1:0"),
        ("ap-northeast-1", "jp.amazon.nova-micro-v1:0", "apac.amazon.nova-pro-v1:0"),
        ("eu-central-1", "eu.amazon.nova-micro-v1:0", "global.amazon.nova-2-lite-v1:0"),
        ("sa-east-1", "amazon.nova-micro-v1:0", "global.amazon.nova-2-lite-v1:0"),
    ],
)
def test_profiles_of_the_regions_geography_pass_synth(region: str, micro: str, pro: str) -> None:
    config = EnvironmentConfig(name="x", region=region, micro_model_id=micro, pro_model_id=pro)

    assert config.micro_model_id == micro


def test_an_environment_agnostic_stack_leaves_the_profile_check_to_start_up() -> None:
    # No region at synth: the container's start-up check (bot/config.py) catches it.
    assert EnvironmentConfig(name="x", micro_model_id="eu.amazon.nova-micro-v1:0").region is None
