"""The fake Bedrock runtime, exercised through real boto3 / botocore / LlamaIndex clients."""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import boto3
import botocore.session
import pytest
import urllib3
from botocore.config import Config
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError, ConnectionClosedError, EventStreamError
from llama_index.core.llms import ChatMessage
from llama_index.embeddings.bedrock import BedrockEmbedding
from llama_index.llms.bedrock_converse import BedrockConverse

from fakes.bedrock import (
    CONTENT_BLOCK_TYPES,
    ERROR_KINDS,
    ERROR_STATUS,
    STREAM_EXCEPTION_EVENTS,
    FakeBedrock,
    RecordedRequest,
    Reply,
    encode_event_message,
)

NOVA_PRO = "apac.amazon.nova-pro-v1:0"
NOVA_MICRO = "apac.amazon.nova-micro-v1:0"
TITAN_V2 = "amazon.titan-embed-text-v2:0"
COHERE_V3 = "cohere.embed-multilingual-v3"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"text": text}]}


def make_client(url: str, **config: Any) -> Any:
    # One attempt: each test decides what reaches the fake, and failures must surface at once.
    # (botocore's retries={"max_attempts": n} means n *retries*; total_max_attempts counts all.)
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, **config),
        **CREDENTIALS,
    )


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
    return make_client(server.url)


@pytest.fixture(scope="module")
def unvalidated_client(server: FakeBedrock) -> Any:
    """Skips botocore's client-side checks so malformed unions reach the fake."""
    return make_client(server.url, parameter_validation=False)


def stream_events(client: Any, model: str, text: str = "Hi", **kwargs: Any) -> list[dict[str, Any]]:
    response = client.converse_stream(modelId=model, messages=[user(text)], **kwargs)
    return list(response["stream"])


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.hypot(*a) / math.hypot(*b)


# --- Converse / ConverseStream ---------------------------------------------------------------


def test_converse_returns_scripted_text_and_usage_with_cache_tokens(fake, client):
    fake.queue(
        NOVA_PRO,
        Reply(
            "Seoul is the capital [1].",
            input_tokens=40,
            output_tokens=7,
            cache_read_tokens=900,
            cache_write_tokens=100,
        ),
    )

    response = client.converse(
        modelId=NOVA_PRO,
        system=[{"text": "Answer from the passages."}, {"cachePoint": {"type": "default"}}],
        messages=[user("What is the capital of Korea?")],
        inferenceConfig={"maxTokens": 256, "temperature": 0.2},
    )

    assert response["output"]["message"] == {
        "role": "assistant",
        "content": [{"text": "Seoul is the capital [1]."}],
    }
    assert response["stopReason"] == "end_turn"
    assert response["usage"] == {
        "inputTokens": 40,
        "outputTokens": 7,
        "totalTokens": 1047,
        "cacheReadInputTokens": 900,
        "cacheWriteInputTokens": 100,
    }
    assert response["metrics"]["latencyMs"] >= 0
    (call,) = fake.calls("Converse")
    assert call.model_id == NOVA_PRO
    assert call.system_text == "Answer from the passages."
    assert "capital of Korea" in call.text
    assert call.body["inferenceConfig"] == {"maxTokens": 256, "temperature": 0.2}
    assert (call.status, call.error) == (200, None)


def test_unscripted_model_gets_a_default_answer_and_estimated_usage(fake, client):
    response = client.converse(modelId="us.amazon.nova-lite-v1:0", messages=[user("x" * 40)])

    text = response["output"]["message"]["content"][0]["text"]
    assert text == "Fake answer from us.amazon.nova-lite-v1:0 [1]."
    assert response["usage"]["inputTokens"] == 10  # ~4 characters per token
    assert response["usage"]["outputTokens"] == math.ceil(len(text) / 4)


def test_converse_stream_sends_deltas_then_stop_and_metadata_like_bedrock(fake, client):
    answer = "Nova Pro answers in several small pieces [2]."
    fake.queue(NOVA_PRO, Reply(answer, output_tokens=12, cache_read_tokens=300))

    events = stream_events(client, NOVA_PRO)

    kinds = [next(iter(event)) for event in events]
    deltas = [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]
    assert kinds[0] == "messageStart" and events[0]["messageStart"] == {"role": "assistant"}
    assert kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert len(deltas) > 3 and "".join(deltas) == answer
    assert events[-2]["messageStop"] == {"stopReason": "end_turn"}
    usage = events[-1]["metadata"]["usage"]
    assert usage["outputTokens"] == 12
    assert usage["cacheReadInputTokens"] == 300
    assert usage["totalTokens"] == usage["inputTokens"] + 12 + 300
    assert "latencyMs" in events[-1]["metadata"]["metrics"]


def test_cjk_answers_stream_in_several_pieces(fake, client):
    fake.queue(NOVA_MICRO, Reply("東京の天気は晴れです。明日も晴れるでしょう。"))

    deltas = [
        e["contentBlockDelta"]["delta"]["text"]
        for e in stream_events(client, NOVA_MICRO)
        if "contentBlockDelta" in e
    ]

    assert len(deltas) > 3
    assert "".join(deltas) == "東京の天気は晴れです。明日も晴れるでしょう。"


def test_percent_encoded_arn_model_id_is_decoded(fake, client):
    arn = "arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/apac.amazon.nova-pro-v1:0"
    fake.queue("nova-pro", Reply("via ARN"))

    response = client.converse(modelId=arn, messages=[user("hi")])

    assert response["output"]["message"]["content"][0]["text"] == "via ARN"
    assert fake.requests[-1].model_id == arn


def test_queue_is_fifo_and_exact_id_beats_substring(fake, client):
    fake.queue("nova", Reply("generic 1"), Reply("generic 2"))
    fake.queue(NOVA_MICRO, Reply("micro exact"))

    def ask(model: str) -> str:
        response = client.converse(modelId=model, messages=[user("q")])
        return response["output"]["message"]["content"][0]["text"]

    assert ask(NOVA_MICRO) == "micro exact"
    assert ask(NOVA_MICRO) == "generic 1"
    assert ask(NOVA_PRO) == "generic 2"
    assert ask(NOVA_PRO).startswith("Fake answer from")


def test_responder_builds_replies_from_the_recorded_request(fake, client):
    def translate(request: RecordedRequest) -> Reply:
        return Reply(f"EN: {request.body['messages'][-1]['content'][0]['text']}")

    fake.responder("nova-micro", translate)

    response = client.converse(modelId=NOVA_MICRO, messages=[user("안녕하세요")])

    assert response["output"]["message"]["content"][0]["text"] == "EN: 안녕하세요"


async def test_async_responder_is_awaited(fake, client):
    async def slow_echo(request: RecordedRequest) -> Reply:
        await asyncio.sleep(0.01)
        return Reply(request.text.upper())

    fake.responder(NOVA_PRO, slow_echo)

    response = await asyncio.to_thread(client.converse, modelId=NOVA_PRO, messages=[user("hi")])

    assert response["output"]["message"]["content"][0]["text"] == "HI"


def test_a_broken_responder_surfaces_as_internal_server_error(fake, client):
    fake.responder(NOVA_PRO, lambda request: 1 / 0)

    with pytest.raises(client.exceptions.InternalServerException, match="ZeroDivisionError"):
        client.converse(modelId=NOVA_PRO, messages=[user("q")])


def test_max_tokens_and_stop_sequences_truncate_the_answer(fake, client):
    fake.queue(
        NOVA_PRO,
        Reply("one two three four five six seven eight nine ten " * 4),
        Reply("Answer.\n\nSources: [1]"),
    )

    capped = client.converse(
        modelId=NOVA_PRO, messages=[user("q")], inferenceConfig={"maxTokens": 5}
    )
    stopped = client.converse(
        modelId=NOVA_PRO, messages=[user("q")], inferenceConfig={"stopSequences": ["\n\nSources"]}
    )

    assert capped["stopReason"] == "max_tokens"
    assert capped["usage"]["outputTokens"] <= 5
    assert stopped["stopReason"] == "stop_sequence"
    assert stopped["output"]["message"]["content"][0]["text"] == "Answer."


# --- validation ------------------------------------------------------------------------------


def tool_result(text: str) -> dict[str, Any]:
    return {"toolResult": {"toolUseId": "t1", "content": [{"text": text}]}}


# (request, part of the error message, whether botocore's own checks would stop it first)
MALFORMED_CONVERSE = [
    pytest.param({"messages": []}, "empty", False, id="no-messages"),
    pytest.param(
        {"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]},
        "start with a user",
        False,
        id="assistant-first",
    ),
    pytest.param({"messages": [user("a"), user("b")]}, "alternate", False, id="same-role-twice"),
    pytest.param(
        {"messages": [{"role": "user", "content": []}]}, "is empty", False, id="no-blocks"
    ),
    pytest.param({"messages": [user(" ")]}, "is blank", False, id="blank-text"),
    pytest.param(
        {"messages": [user("a")], "system": [{"text": "s"}, {"cachePoint": {"type": "1h"}}]},
        "cachePoint",
        False,
        id="bad-cache-point",
    ),
    pytest.param(
        {"messages": [user("a")], "inferenceConfig": {"temperature": 1.5}},
        "temperature",
        False,
        id="temperature-out-of-range",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": [{"text": "a", "image": {}}]}]},
        "exactly one",
        True,
        id="two-kinds-in-a-block",
    ),
    pytest.param(
        {"messages": [user("a")], "system": [{"text": "s", "cachePoint": {"type": "default"}}]},
        "exactly one",
        True,
        id="two-kinds-in-system",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": [tool_result("42")]}]},
        "toolConfig",
        False,
        id="tool-result-without-tool-config",
    ),
]


@pytest.mark.parametrize(("kwargs", "message_part", "botocore_checks_it"), MALFORMED_CONVERSE)
def test_malformed_converse_requests_get_validation_exception(
    fake, client, unvalidated_client, kwargs, message_part, botocore_checks_it
):
    caller = unvalidated_client if botocore_checks_it else client
    for operation in (caller.converse, caller.converse_stream):
        with pytest.raises(ClientError) as caught:
            operation(modelId=NOVA_PRO, **kwargs)
        error = caught.value.response
        assert error["Error"]["Code"] == "ValidationException"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert message_part in error["Error"]["Message"]
    assert {(r.status, r.error) for r in fake.requests} == {(400, "ValidationException")}


def test_unknown_inference_config_key_is_rejected_on_the_wire(fake):
    # botocore cannot even serialise an unknown member, so post the JSON by hand.
    body = {"messages": [user("a")], "inferenceConfig": {"topK": 5}}
    request = urllib.request.Request(
        f"{fake.url}/model/{quote(NOVA_PRO, safe='')}/converse",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)

    assert caught.value.code == 400
    assert caught.value.headers["x-amzn-ErrorType"].startswith("ValidationException:")
    assert "inferenceConfig" in json.loads(caught.value.read())["message"]
    assert fake.requests[-1].model_id == NOVA_PRO


def test_known_models_rejects_unknown_ids_but_accepts_profiles_and_arns(fake, client):
    fake.known_models = {"amazon.nova-pro-v1:0"}

    client.converse(modelId=NOVA_PRO, messages=[user("q")])
    client.converse(
        modelId="arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
        messages=[user("q")],
    )
    with pytest.raises(client.exceptions.ValidationException, match="model identifier is invalid"):
        client.converse(modelId="apac.amazon.nova-pro-v9:0", messages=[user("q")])


# --- faults ----------------------------------------------------------------------------------


def test_throttle_answers_429_then_recovers_without_eating_the_script(fake, client):
    fake.queue("nova-pro", Reply("after the storm"))
    fake.throttle("nova-pro", times=1)

    with pytest.raises(client.exceptions.ThrottlingException) as caught:
        client.converse(modelId=NOVA_PRO, messages=[user("q")])
    response = client.converse(modelId=NOVA_PRO, messages=[user("q")])

    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert response["output"]["message"]["content"][0]["text"] == "after the storm"
    assert [r.error for r in fake.calls(model="nova-pro")] == ["ThrottlingException", None]


def test_throttle_applies_to_streams_and_other_models_are_unaffected(fake, client):
    fake.throttle("nova-micro")

    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse_stream(modelId=NOVA_MICRO, messages=[user("q")])
    client.converse(modelId=NOVA_PRO, messages=[user("q")])


def test_probabilistic_throttling_is_reproducible_with_a_seed(fake, client):
    def pattern() -> list[bool]:
        fake.reset()
        fake.throttle(probability=0.5, seed=7)
        outcomes = []
        for _ in range(12):
            try:
                client.invoke_model(modelId=TITAN_V2, body=b'{"inputText": "x"}')
                outcomes.append(True)
            except client.exceptions.ThrottlingException:
                outcomes.append(False)
        return outcomes

    first = pattern()
    assert first == pattern()
    assert True in first and False in first


@pytest.mark.parametrize(
    ("status", "exception"),
    [(500, "InternalServerException"), (503, "ServiceUnavailableException")],
)
def test_fail_answers_server_errors_for_the_given_number_of_calls(fake, client, status, exception):
    fake.fail(status=status, times=2)

    for _ in range(2):
        with pytest.raises(ClientError) as caught:
            client.converse(modelId=NOVA_PRO, messages=[user("q")])
        assert caught.value.response["Error"]["Code"] == exception
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    client.converse(modelId=NOVA_PRO, messages=[user("q")])


def test_botocore_retries_reach_the_fake_and_succeed(fake):
    fake.fail("nova-pro", status=500, times=1)
    retrying = boto3.client(
        "bedrock-runtime",
        endpoint_url=fake.url,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 2, "mode": "standard"}),
        **CREDENTIALS,
    )

    retrying.converse(modelId=NOVA_PRO, messages=[user("q")])

    assert [r.status for r in fake.calls("Converse")] == [500, 200]


@pytest.mark.parametrize(
    ("kind", "exception", "status"),
    [
        ("access_denied", "AccessDeniedException", 403),
        ("model_not_ready", "ModelNotReadyException", 429),
        ("5xx", "InternalServerException", 500),
        ("model_timeout", "ModelTimeoutException", 408),
        ("stream_error", "ModelErrorException", 424),
    ],
)
def test_scripted_errors_surface_as_named_client_errors(fake, client, kind, exception, status):
    fake.queue(NOVA_PRO, Reply(error=kind))

    with pytest.raises(ClientError) as caught:
        client.converse(modelId=NOVA_PRO, messages=[user("q")])

    assert caught.value.response["Error"]["Code"] == exception
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_mid_stream_exception_event_raises_event_stream_error_after_partial_text(fake, client):
    fake.queue(
        NOVA_PRO,
        Reply(
            "The first part arrives, the rest does not.", error="stream_error", error_after_chars=14
        ),
    )
    received = ""

    response = client.converse_stream(modelId=NOVA_PRO, messages=[user("q")])
    with pytest.raises(EventStreamError) as caught:
        for event in response["stream"]:
            received += event.get("contentBlockDelta", {}).get("delta", {}).get("text", "")

    assert received == "The first part"
    # botocore names the error after the union member (camelCase), not the exception shape.
    assert caught.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert fake.requests[-1].error == "modelStreamErrorException"


def test_throttling_can_arrive_as_a_stream_event(fake, client):
    fake.queue(NOVA_PRO, Reply("partial answer", error="throttling", error_after_chars=7))

    with pytest.raises(EventStreamError) as caught:
        stream_events(client, NOVA_PRO)

    assert caught.value.response["Error"]["Code"] == "throttlingException"


def test_cut_stream_raises_a_urllib3_protocol_error_not_a_botocore_one(fake, client):
    fake.queue(NOVA_PRO, Reply("Half of this answer is lost", error="cut", error_after_chars=8))
    received = ""

    response = client.converse_stream(modelId=NOVA_PRO, messages=[user("q")])
    with pytest.raises(urllib3.exceptions.ProtocolError):
        for event in response["stream"]:
            received += event.get("contentBlockDelta", {}).get("delta", {}).get("text", "")

    assert received == "Half of "
    assert fake.requests[-1].error == "cut"


def test_cut_converse_raises_connection_closed(fake, client):
    fake.queue(NOVA_PRO, Reply(error="cut"))

    with pytest.raises(ConnectionClosedError):
        client.converse(modelId=NOVA_PRO, messages=[user("q")])


# --- latency ---------------------------------------------------------------------------------


def test_first_token_latency_is_honoured_per_model(fake, client):
    fake.latency("nova-micro", first_token_s=0.4)

    started = time.monotonic()
    response = client.converse_stream(modelId=NOVA_MICRO, messages=[user("q")])
    first_delta_at = next(
        time.monotonic() for event in response["stream"] if "contentBlockDelta" in event
    )
    fast_started = time.monotonic()
    client.converse(modelId=NOVA_PRO, messages=[user("q")])

    assert 0.35 <= first_delta_at - started < 1.5
    assert time.monotonic() - fast_started < 0.3


def test_tokens_per_second_paces_stream_and_converse(fake, client):
    fake.queue(NOVA_PRO, Reply("word " * 20, output_tokens=20), Reply("word " * 20))
    fake.latency(tokens_per_s=50)  # 20 pieces of ~2 tokens: ~0.4-0.8 s

    started = time.monotonic()
    client.converse(modelId=NOVA_PRO, messages=[user("q")])  # 20 tokens / 50 per s = 0.4 s
    converse_s = time.monotonic() - started
    started = time.monotonic()
    stream_events(client, NOVA_PRO)
    stream_s = time.monotonic() - started

    assert 0.35 <= converse_s < 1.2
    assert 0.3 <= stream_s < 1.5


async def test_slow_requests_are_served_concurrently(fake, client):
    fake.latency(fixed_s=0.4)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=6) as pool:
        loop = asyncio.get_running_loop()
        calls = [
            loop.run_in_executor(
                pool, lambda: client.converse(modelId=NOVA_PRO, messages=[user("q")])
            )
            for _ in range(6)
        ]
        await asyncio.gather(*calls)

    assert time.monotonic() - started < 1.2  # serially it would take 2.4 s
    assert len(fake.calls("Converse")) == 6


# --- embeddings ------------------------------------------------------------------------------


def invoke_json(client: Any, model: str, body: str) -> dict[str, Any]:
    response = client.invoke_model(
        modelId=model, body=body, contentType="application/json", accept="application/json"
    )
    return json.loads(response["body"].read())


def test_titan_v2_returns_the_deterministic_vector_in_the_requested_size(fake, client):
    body = invoke_json(client, TITAN_V2, '{"inputText": "Vacation policy", "dimensions": 256}')

    assert body["embedding"] == fake.embed("Vacation policy", 256)
    assert len(body["embedding"]) == 256
    assert math.isclose(math.hypot(*body["embedding"]), 1.0)
    assert body["inputTextTokenCount"] == 4
    assert fake.calls("InvokeModel")[0].text == "Vacation policy"


@pytest.mark.parametrize(
    "body",
    ['{"inputText": ""}', '{"inputText": "x", "dimensions": 300}', '{"inputText": "x", "k": 1}'],
)
def test_titan_rejects_malformed_bodies(fake, client, body):
    with pytest.raises(client.exceptions.ValidationException, match="Malformed input request"):
        client.invoke_model(modelId=TITAN_V2, body=body)


def test_cohere_v3_embeds_a_batch(fake, client):
    body = invoke_json(
        client, COHERE_V3, '{"texts": ["휴가 정책", "経費精算"], "input_type": "search_document"}'
    )

    assert body["embeddings"] == [fake.embed("휴가 정책"), fake.embed("経費精算")]
    assert body["texts"] == ["휴가 정책", "経費精算"]
    assert body["response_type"] == "embeddings_floats"
    assert body["id"]


@pytest.mark.parametrize(
    ("text", "similar", "unrelated"),
    [
        ("How many vacation days do I get?", "vacation days per year", "Rotate the AWS keys"),
        ("휴가 일수는 며칠인가요?", "연간 휴가 일수", "AWS 키를 교체하세요"),
        ("有給休暇は何日ありますか", "有給休暇の日数", "鍵を交換してください"),
    ],
)
def test_embeddings_are_similar_for_related_texts_in_each_script(fake, text, similar, unrelated):
    query = fake.embed(text)

    assert cosine(query, fake.embed(similar)) > 0.3
    assert cosine(query, fake.embed(similar)) > cosine(query, fake.embed(unrelated)) + 0.2
    assert fake.embed(text) == query  # deterministic


# --- protocol details ------------------------------------------------------------------------


def test_event_messages_round_trip_through_botocore_decoder():
    frame = encode_event_message({":event-type": "messageStop"}, b'{"stopReason":"end_turn"}')
    buffer = EventStreamBuffer()
    buffer.add_data(frame + frame)

    messages = list(buffer)

    assert len(messages) == 2
    assert messages[0].headers == {":event-type": "messageStop"}
    assert messages[0].payload == b'{"stopReason":"end_turn"}'


def test_error_and_event_names_match_botocores_service_model():
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    stream_members = model.shape_for("ConverseStreamOutput").members
    converse_errors = {e.name for e in model.operation_model("Converse").error_shapes}
    stream_errors = {e.name for e in model.operation_model("ConverseStream").error_shapes}

    for name, status in ERROR_STATUS.items():
        assert model.shape_for(name).metadata["error"]["httpStatusCode"] == status
    for shape, member in STREAM_EXCEPTION_EVENTS.items():
        assert stream_members[member].name == shape
    http_errors = {code for code, _ in ERROR_KINDS.values() if code} - {"ModelStreamErrorException"}
    assert http_errors <= converse_errors & stream_errors
    assert set(model.shape_for("ContentBlock").members) == CONTENT_BLOCK_TYPES


def test_endpoint_environment_variable_reaches_the_fake(fake, monkeypatch):
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    env_client = boto3.client("bedrock-runtime", region_name="us-east-1")

    env_client.converse(modelId=NOVA_PRO, messages=[user("via env")])

    assert fake.requests[-1].text == "via env"


def test_reset_forgets_scripts_faults_and_records(fake, client):
    fake.queue(NOVA_PRO, Reply("scripted"))
    fake.throttle()
    fake.latency(fixed_s=5)
    fake.known_models = set()

    fake.reset()
    response = client.converse(modelId=NOVA_PRO, messages=[user("q")])

    assert response["output"]["message"]["content"][0]["text"].startswith("Fake answer")
    assert len(fake.requests) == 1


# --- LlamaIndex ------------------------------------------------------------------------------


@pytest.fixture
def nova_pro(fake):
    # BedrockConverse has no context_size parameter; "apac." + a known Nova id resolves itself.
    return BedrockConverse(
        model=NOVA_PRO,
        region_name="us-east-1",
        endpoint_url=fake.url,
        max_retries=1,  # tenacity attempts around botocore's own retries; must be > 0
        botocore_config=Config(retries={"total_max_attempts": 1}, read_timeout=10),
        system_prompt_caching=True,
        **CREDENTIALS,
    )


CHAT = [
    ChatMessage(role="system", content="Cite passages."),
    ChatMessage(role="user", content="What changed?"),
]


def test_llamaindex_chat_sends_system_cache_point_and_reads_usage(fake, nova_pro):
    fake.queue("nova-pro", Reply("Sync answer [1].", cache_write_tokens=800))

    response = nova_pro.chat(CHAT)

    assert response.message.content == "Sync answer [1]."
    assert response.additional_kwargs["cache_creation_input_tokens"] == 800
    (call,) = fake.calls("Converse", model=NOVA_PRO)
    assert call.body["system"] == [{"text": "Cite passages."}, {"cachePoint": {"type": "default"}}]


async def test_llamaindex_astream_chat_yields_deltas_and_usage_last(fake, nova_pro):
    fake.queue("nova-pro", Reply("Streamed answer in pieces [2].", cache_read_tokens=1200))

    chunks = [chunk async for chunk in await nova_pro.astream_chat(CHAT)]

    assert "".join(c.delta or "" for c in chunks) == "Streamed answer in pieces [2]."
    assert chunks[-1].message.content == "Streamed answer in pieces [2]."
    # Usage arrives only on the final chunk (from the metadata event), cache reads included.
    assert chunks[-1].additional_kwargs["cache_read_input_tokens"] == 1200
    assert "cache_read_input_tokens" not in chunks[0].additional_kwargs
    assert [c.operation for c in fake.requests] == ["ConverseStream"]


def test_llamaindex_bedrock_embedding_matches_fake_embed(fake, monkeypatch):
    # BedrockEmbedding takes no endpoint_url: reach the fake via the env var (or client=).
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", fake.url)
    embedder = BedrockEmbedding(
        model_name=TITAN_V2,
        region_name="us-east-1",
        max_retries=1,
        additional_kwargs={"dimensions": 512},
        **CREDENTIALS,
    )

    vector = embedder.get_query_embedding("출장비 정산 방법")

    assert vector == fake.embed("출장비 정산 방법", 512)
    assert fake.requests[-1].body == {"inputText": "출장비 정산 방법", "dimensions": 512}
