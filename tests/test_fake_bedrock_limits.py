"""The Bedrock fake's limits: per-model quotas, the prompt-cache minimum, maxTokens, prefill.

Real botocore against the fake, as in test_fake_bedrock.py; the fake's clock is moved by
hand so a minute of quota passes in no time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from fakes.bedrock import CACHE_MIN_TOKENS, FakeBedrock, Reply, estimate_tokens

NOVA_PRO = "us.amazon.nova-pro-v1:0"
NOVA_MICRO = "us.amazon.nova-micro-v1:0"


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"text": text}]}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBedrock]:
    with FakeBedrock() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeBedrock) -> FakeBedrock:
    server.reset()
    return server


@pytest.fixture(scope="module")
def client(server: FakeBedrock) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=server.url,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def ask(client: Any, model: str = NOVA_PRO, text: str = "q", **kwargs: Any) -> dict[str, Any]:
    return dict(client.converse(modelId=model, messages=[user(text)], **kwargs))


def outcome(client: Any, model: str = NOVA_PRO, **kwargs: Any) -> str:
    try:
        ask(client, model, **kwargs)
    except client.exceptions.ThrottlingException as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        return "throttled"
    return "ok"


# --- quotas ----------------------------------------------------------------------------------


def test_requests_beyond_the_burst_are_throttled_until_the_bucket_refills(fake, client):
    fake.set_quota("nova-pro", requests_per_minute=60, burst=3)
    fake.set_time_scale(1e-6)  # the clock stands still unless advanced

    first = [outcome(client) for _ in range(4)]
    fake.clock.advance(1.0)  # 60 a minute: one request back per second
    after_a_second = [outcome(client) for _ in range(2)]

    assert first == ["ok", "ok", "ok", "throttled"]
    assert after_a_second == ["ok", "throttled"]


def test_a_quota_applies_to_its_model_only(fake, client):
    fake.set_quota("nova-pro", requests_per_minute=1, burst=1)
    fake.set_time_scale(1e-6)

    assert [outcome(client, NOVA_PRO) for _ in range(2)] == ["ok", "throttled"]
    assert [outcome(client, NOVA_MICRO) for _ in range(3)] == ["ok"] * 3


def test_streams_count_against_the_quota_and_throttle_before_any_event(fake, client):
    fake.set_quota("nova-pro", requests_per_minute=60, burst=1)
    fake.set_time_scale(1e-6)
    list(client.converse_stream(modelId=NOVA_PRO, messages=[user("q")])["stream"])

    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse_stream(modelId=NOVA_PRO, messages=[user("q")])


def test_tokens_are_reserved_as_input_plus_max_tokens_and_settled_to_the_real_count(fake, client):
    fake.set_quota("nova-pro", requests_per_minute=1000, burst=100, tokens_per_minute=3000)
    fake.set_time_scale(1e-6)
    fake.responder("nova-pro", lambda request: Reply("short"))

    # Each call reserves 1 + 1000 tokens and gives back all but ~3 when it ends: many fit.
    small = [outcome(client, inferenceConfig={"maxTokens": 1000}) for _ in range(5)]
    # A reservation larger than what is left is refused although the call would be small.
    big = outcome(client, inferenceConfig={"maxTokens": 2990})

    assert small == ["ok"] * 5
    assert big == "throttled"


def test_an_unset_max_tokens_reserves_the_models_maximum(fake, client):
    fake.set_quota("nova-pro", requests_per_minute=1000, burst=100, tokens_per_minute=4000)

    assert outcome(client) == "throttled"  # 5,000 reserved > 4,000 a minute
    assert outcome(client, inferenceConfig={"maxTokens": 500}) == "ok"


def test_an_exhausted_quota_throttles_for_its_duration_on_the_fakes_clock(fake, client):
    fake.set_quota("nova-pro", requests_per_minute=600, burst=10)
    fake.set_time_scale(1e-6)
    fake.exhaust_quota("nova-pro", 120)

    during = outcome(client)
    fake.clock.advance(119)
    still = outcome(client)
    fake.clock.advance(2)
    after = outcome(client)

    assert (during, still, after) == ("throttled", "throttled", "ok")


def test_the_time_scale_makes_a_minute_pass_in_a_second(fake, client):
    import time

    fake.set_quota("nova-pro", requests_per_minute=1, burst=1)
    fake.set_time_scale(60)

    before = [outcome(client) for _ in range(2)]
    time.sleep(1.1)  # a fake minute: the one request a minute is back

    assert before == ["ok", "throttled"]
    assert outcome(client) == "ok"


def test_reset_clears_quotas_and_the_time_scale(fake, client):
    fake.set_quota("nova-pro", requests_per_minute=1, burst=1)
    fake.set_time_scale(50)
    fake.reset()

    assert [outcome(client) for _ in range(3)] == ["ok"] * 3
    assert fake.clock.scale == 1.0


def test_set_quota_rejects_a_zero_rate():
    with pytest.raises(ValueError, match="at least 1"):
        FakeBedrock().set_quota("nova-pro", requests_per_minute=0, burst=1)


# --- prompt cache ----------------------------------------------------------------------------

CACHE_POINT = {"cachePoint": {"type": "default"}}


def system_of(tokens: int) -> list[dict[str, Any]]:
    return [{"text": "policy " * (tokens * 4 // 7 + 1)}, CACHE_POINT]


def test_a_prefix_under_1000_tokens_succeeds_and_caches_nothing(fake, client):
    system = system_of(CACHE_MIN_TOKENS - 100)
    usages = [ask(client, system=system)["usage"] for _ in range(2)]

    assert usages and all(
        u["cacheReadInputTokens"] == 0 and u["cacheWriteInputTokens"] == 0 for u in usages
    )
    assert usages[1]["inputTokens"] >= CACHE_MIN_TOKENS - 100  # billed in full


def test_a_prefix_of_1000_tokens_is_written_then_read(fake, client):
    system = system_of(CACHE_MIN_TOKENS + 50)
    prefix = estimate_tokens("system: " + system[0]["text"])

    first = ask(client, system=system, text="first question")["usage"]
    second = ask(client, system=system, text="second question")["usage"]

    assert (first["cacheWriteInputTokens"], first["cacheReadInputTokens"]) == (prefix, 0)
    assert (second["cacheWriteInputTokens"], second["cacheReadInputTokens"]) == (0, prefix)
    assert second["inputTokens"] < 20  # only the question is billed in full
    assert second["totalTokens"] == second["inputTokens"] + second["outputTokens"] + prefix


def test_the_cache_is_per_model_and_expires_five_minutes_after_its_last_use(fake, client):
    system = system_of(CACHE_MIN_TOKENS + 50)
    fake.set_time_scale(1e-6)
    ask(client, NOVA_PRO, system=system)

    other_model = ask(client, NOVA_MICRO, system=system)["usage"]
    fake.clock.advance(299)
    kept = ask(client, NOVA_PRO, system=system)["usage"]
    fake.clock.advance(301)
    expired = ask(client, NOVA_PRO, system=system)["usage"]

    assert other_model["cacheReadInputTokens"] == 0 and other_model["cacheWriteInputTokens"] > 0
    assert kept["cacheReadInputTokens"] > 0
    assert expired["cacheReadInputTokens"] == 0 and expired["cacheWriteInputTokens"] > 0


def test_a_cache_point_in_the_messages_counts_the_system_prompt_before_it(fake, client):
    system = [{"text": "policy " * 400}]  # ~700 tokens, no checkpoint of its own
    messages = [
        {"role": "user", "content": [{"text": "glossary " * 300}, CACHE_POINT, {"text": "q?"}]}
    ]

    client.converse(modelId=NOVA_PRO, system=system, messages=messages)
    again = client.converse(modelId=NOVA_PRO, system=system, messages=messages)["usage"]

    assert again["cacheReadInputTokens"] >= CACHE_MIN_TOKENS


def test_the_recorded_request_keeps_the_usage_it_reported(fake, client):
    response = ask(client, system=system_of(1200))

    assert fake.calls("Converse")[-1].usage == response["usage"]


# --- output limits and prefill ---------------------------------------------------------------


def test_a_stream_that_reaches_max_tokens_stops_with_max_tokens(fake, client):
    fake.queue("nova-pro", Reply("word " * 200))

    events = list(
        client.converse_stream(
            modelId=NOVA_PRO, messages=[user("q")], inferenceConfig={"maxTokens": 20}
        )["stream"]
    )

    text = "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e
    )
    stop = next(e["messageStop"]["stopReason"] for e in events if "messageStop" in e)
    usage = next(e["metadata"]["usage"] for e in events if "metadata" in e)
    assert stop == "max_tokens"
    assert usage["outputTokens"] <= 20 and estimate_tokens(text) <= 20


def test_an_answer_that_fits_ends_its_turn(fake, client):
    fake.queue("nova-pro", Reply("word " * 10))

    assert ask(client, inferenceConfig={"maxTokens": 200})["stopReason"] == "end_turn"


def test_a_prefilled_assistant_turn_is_continued_not_repeated(fake, client):
    fake.queue("nova-micro", Reply('{"standalone_question": "VPN?", "intent": "question"}'))

    response = client.converse(
        modelId=NOVA_MICRO,
        messages=[user("vpn?"), {"role": "assistant", "content": [{"text": "{"}]}],
    )

    text = response["output"]["message"]["content"][0]["text"]
    assert text == '"standalone_question": "VPN?", "intent": "question"}'


def test_an_answer_exactly_at_max_tokens_reports_max_tokens_and_usage_never_exceeds_it(
    fake, client
):
    fake.queue("nova-pro", Reply("abcd" * 10), Reply("short", output_tokens=900))

    exact = ask(client, inferenceConfig={"maxTokens": 10})
    scripted = ask(client, inferenceConfig={"maxTokens": 50})

    assert exact["stopReason"] == "max_tokens"
    assert exact["output"]["message"]["content"][0]["text"] == "abcd" * 10
    assert scripted["usage"]["outputTokens"] == 50
