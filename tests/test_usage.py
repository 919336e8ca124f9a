"""Usage accounting: prices, the one log line per question, EMF metrics and day counters."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.metrics import EmfMetrics, stdout_writer
from bot.observer import build_observer
from bot.pricing import PriceTable, parse_prices
from bot.state import DynamoStateStore, MemoryStateStore
from bot.usage import usage_of
from bot.usage_format import format_usd
from bot.usage_ledger import UsageLedger
from bot.wiring import build
from fakes.aws import MotoServer
from fakes.bedrock import FakeBedrock, Reply
from kernel.errors import ConfigError
from kernel.models import Answer, ModelCall, Question, Route

LEAVE_KO = "직원은 유급 연차를 며칠 받나요?"
LEAVE_EN = "How many days of paid annual leave do employees get?"
DAY = 1_777_000_000.0  # 2026-04-24 03:06:40 UTC
EMF_UNITS = {"Count", "Milliseconds", "None", "Seconds", "Bytes", "Percent"}


def check_emf(line: str) -> dict[str, Any]:
    """A line CloudWatch accepts as EMF: the _aws envelope, dimension keys present as string
    members, every metric a numeric member with a known unit. Returns the document."""
    document = json.loads(line)
    envelope = document["_aws"]
    assert isinstance(envelope["Timestamp"], int) and envelope["Timestamp"] > 1e12
    directives = envelope["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert isinstance(directive["Namespace"], str) and directive["Namespace"]
        assert isinstance(directive["Dimensions"], list) and directive["Dimensions"]
        for dimension_set in directive["Dimensions"]:
            assert len(dimension_set) <= 30
            for key in dimension_set:
                assert isinstance(document[key], str) and document[key]
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert metric["Unit"] in EMF_UNITS
            value = document[metric["Name"]]
            assert isinstance(value, int | float) and not isinstance(value, bool)
    return document


# --- prices ------------------------------------------------------------------------------------


def test_a_call_is_priced_per_1k_tokens_with_cache_reads_at_their_discount() -> None:
    prices = PriceTable()
    call = ModelCall(
        model="us.amazon.nova-pro-v1:0",
        purpose="answer",
        input_tokens=2000,
        output_tokens=500,
        cache_read_tokens=4000,
        cache_write_tokens=1000,
    )
    # Nova Pro list price: $0.0008 in / $0.0032 out per 1K; cache reads 75% off.
    expected = 2 * 0.0008 + 4 * 0.0008 * 0.25 + 1 * 0.0008 + 0.5 * 0.0032
    assert prices.cost(call) == pytest.approx(expected)
    apac = call.model_copy(update={"model": "apac.amazon.nova-pro-v1:0"})
    arn = call.model_copy(
        update={
            "model": "arn:aws:bedrock:ap-northeast-2:123456789012:"
            "inference-profile/apac.amazon.nova-pro-v1:0"
        }
    )
    assert prices.cost(apac) == prices.cost(arn) == pytest.approx(expected)


def test_prices_setting_overrides_a_model_and_adds_new_ones() -> None:
    prices = PriceTable.from_json(
        '{"amazon.nova-pro-v1:0": {"input": 0.001, "output": 0.004},'
        ' "acme.model-v1": {"input": 0.5, "output": 1, "cache_read_discount": 0.5}}'
    )
    pro = ModelCall(model="us.amazon.nova-pro-v1:0", purpose="answer", input_tokens=1000)
    acme = ModelCall(
        model="acme.model-v1", purpose="answer", input_tokens=0, cache_read_tokens=1000
    )
    micro = ModelCall(model="us.amazon.nova-micro-v1:0", purpose="condense", output_tokens=1000)
    assert prices.cost(pro) == pytest.approx(0.001)
    assert prices.cost(acme) == pytest.approx(0.25)
    assert prices.cost(micro) == pytest.approx(0.00014)  # defaults still apply


def test_an_unpriced_model_counts_zero_and_is_flagged(caplog: pytest.LogCaptureFixture) -> None:
    answer = _answer(ModelCall(model="mystery.model", purpose="answer", input_tokens=10))
    with caplog.at_level(logging.WARNING, logger="bot.pricing"):
        usage = usage_of(answer, PriceTable(), user_id="U1", channel_id="C1")
        usage_of(answer, PriceTable(), user_id="U1", channel_id="C1")
    assert usage.cost_usd == 0 and usage.models[0].priced is False
    assert sum("no price for model" in r.message for r in caplog.records) == 2  # once per table


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("{not json", "expected JSON"),
        ("[1]", "expected a JSON object"),
        ('{"m": {"input": -1}}', "m: input"),
        ('{"m": {"output": 1}}', "m: input: Field required"),
        ('{"m": {"input": 1, "typo": 2}}', "m: typo"),
    ],
)
def test_a_bad_prices_setting_fails_at_start_naming_prices(
    value: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_prices(value)
    monkeypatch.setenv("PRICES", value)
    with pytest.raises(ConfigError, match=r"^PRICES: "):
        load_settings(_env_file=None)


def test_dollars_are_readable_at_any_scale() -> None:
    assert [format_usd(x) for x in (0, 0.00042, 0.0123, 0.5, 12.345, 1234.5)] == [
        "$0",
        "$0.00042",
        "$0.012",
        "$0.50",
        "$12.35",
        "$1,234.50",
    ]


# --- one question, end to end ----------------------------------------------------------------


async def test_a_question_logs_one_line_with_the_tokens_bedrock_reported_and_their_cost(
    settings: Settings, bedrock: FakeBedrock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings.model_copy(
        update={
            "prices": '{"amazon.nova-pro-v1:0": '
            '{"input": 0.001, "output": 0.004, "cache_read_discount": 0.9}}',
            "metrics_namespace": "Dualnova/test",
        }
    )
    micro = Reply(
        text=json.dumps({"standalone_question": LEAVE_EN, "intent": "question"}),
        input_tokens=120,
        output_tokens=30,
    )
    pro = Reply(
        text="직원은 연간 20일의 유급 연차를 받습니다 [1].",
        input_tokens=900,
        output_tokens=60,
        cache_read_tokens=700,
        cache_write_tokens=50,
    )
    bedrock.queue("nova-micro", micro)
    bedrock.queue("nova-pro", pro)
    emf: list[str] = []
    pipeline = build(
        settings, observer=build_observer(settings, MemoryStateStore(), write=emf.append)
    ).pipeline

    with caplog.at_level(logging.INFO):
        stream = await pipeline.answer(Question(text=LEAVE_KO, user_id="U1", channel_id="C1"))
        async for _ in stream:
            pass

    lines = [r for r in caplog.records if r.getMessage() == "question usage"]
    assert len(lines) == 1
    line = vars(lines[0])
    # What the fake reported, call by call (Reply fields are what it puts in `usage`).
    assert len(bedrock.requests) == 3  # Micro, the query embedding, Pro
    (embedding,) = [r for r in bedrock.requests if r.operation == "InvokeModel"]
    embedded = embedding.reported_input_tokens
    assert embedded
    assert line["input_tokens"] == 120 + embedded + 900
    assert line["output_tokens"] == 30 + 60
    assert line["cache_read_tokens"] == 700
    assert line["cache_write_tokens"] == 50
    micro_cost = 120 / 1000 * 0.000035 + 30 / 1000 * 0.00014  # default Nova Micro price
    embed_cost = embedded / 1000 * 0.00002  # default Titan Text Embeddings V2 price
    pro_cost = 900 / 1000 * 0.001 + 700 / 1000 * 0.001 * 0.1 + 50 / 1000 * 0.001 + 60 / 1000 * 0.004
    assert line["cost_usd"] == pytest.approx(micro_cost + embed_cost + pro_cost, abs=1e-9)
    assert line["question_id"] == stream.question.question_id
    assert (line["user"], line["channel"], line["language"]) == ("U1", "C1", "ko")
    assert (line["status"], line["route"], line["translated"]) == (
        "answered",
        "translate+answer",
        True,
    )
    assert set(line["latency_ms"]) >= {"detect", "condense", "retrieve", "first_token", "answer"}
    by_model = {m["model"]: m for m in line["models"]}
    assert by_model[settings.pro_model_id]["cost_usd"] == pytest.approx(pro_cost, abs=1e-8)
    assert by_model[settings.micro_model_id]["purposes"] == ["translate"]
    # Never the message text at INFO.
    for record in caplog.records:
        if record.levelno <= logging.INFO:
            rendered = record.getMessage() + json.dumps(vars(record), default=str)
            assert "연차" not in rendered and "annual leave" not in rendered

    # The EMF lines carry the same numbers.
    documents = [check_emf(text) for text in emf]
    question, *models = documents
    directive = question["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Dualnova/test" and directive["Dimensions"] == [[]]
    assert (question["Questions"], question["Answered"], question["NotFound"]) == (1, 1, 0)
    assert question["InputTokens"] == 1020 + embedded and question["OutputTokens"] == 90
    assert question["CostUSD"] == pytest.approx(micro_cost + embed_cost + pro_cost, abs=1e-9)
    assert question["LatencyAnswer"] == pytest.approx(line["latency_ms"]["answer"], abs=0.1)
    per_model = {d["Model"]: d for d in models}
    assert models and all(
        d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Model"]] for d in models
    )
    assert per_model[settings.pro_model_id]["CacheReadTokens"] == 700
    assert per_model[settings.pro_model_id]["CostUSD"] == pytest.approx(pro_cost, abs=1e-8)
    assert per_model[settings.micro_model_id]["InputTokens"] == 120
    assert per_model[settings.embed_model_id]["InputTokens"] == embedded


def test_feedback_is_an_emf_count_by_vote() -> None:
    out: list[str] = []
    metrics = EmfMetrics(namespace="Dualnova", write=out.append, clock=lambda: DAY)
    metrics.feedback(vote="down", language="ko")
    (document,) = [check_emf(line) for line in out]
    assert document["_aws"]["Timestamp"] == int(DAY * 1000)
    assert document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Vote"]]
    assert (document["Vote"], document["Feedback"]) == ("down", 1)


def test_the_stdout_writer_writes_whole_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr("sys.stdout", buffer)
    write = stdout_writer()
    write('{"a":1}')
    write('{"b":2}')
    assert buffer.getvalue() == '{"a":1}\n{"b":2}\n'


# --- day counters ----------------------------------------------------------------------------


def _answer(*calls: ModelCall, status: str = "answered", language: str = "en") -> Answer:
    return Answer(
        question="q",
        question_id="q1",
        language=language,
        text="a",
        citations=(),
        route=Route(standalone_question="q", calls=calls),
        status=status,  # type: ignore[arg-type]
    )


async def test_day_counters_add_up_by_channel_model_route_and_language() -> None:
    clock = [DAY]
    state = MemoryStateStore(clock=lambda: clock[0])
    ledger = UsageLedger(state=state, clock=lambda: clock[0])
    prices = PriceTable()
    pro = ModelCall(
        model="us.amazon.nova-pro-v1:0", purpose="answer", input_tokens=1000, output_tokens=100
    )
    micro = ModelCall(
        model="us.amazon.nova-micro-v1:0", purpose="translate", input_tokens=200, output_tokens=20
    )
    await ledger.record(
        usage_of(_answer(micro, pro, language="ko"), prices, user_id="U1", channel_id="C1")
    )
    await ledger.record(usage_of(_answer(pro), prices, user_id="U2", channel_id="C2"))
    await ledger.record(
        usage_of(_answer(status="not_found"), prices, user_id="U2", channel_id="C2")
    )
    clock[0] += 86400  # tomorrow
    await ledger.record(usage_of(_answer(pro), prices, user_id="U1", channel_id="C1"))

    yesterday = await ledger.day("2026-04-24")
    today = await ledger.day()
    month = await ledger.month()

    pro_cost, micro_cost = prices.cost(pro) or 0, prices.cost(micro) or 0
    assert yesterday.questions == 3 and today.questions == 1 and month.questions == 4
    assert yesterday.status("answered") == 2 and yesterday.status("not_found") == 1
    assert yesterday.tokens == (220 + 1100) + 1100
    assert yesterday.cost_usd == pytest.approx(2 * pro_cost + micro_cost)
    channels = month.group("channel")
    assert channels["C1"]["questions"] == 2 and channels["C2"]["questions"] == 2
    assert channels["C1"]["cost"] == pytest.approx(2 * pro_cost + micro_cost)
    assert month.group("model")["us.amazon.nova-pro-v1:0"]["calls"] == 3
    assert month.group("route")["translate+answer"]["questions"] == 1
    assert month.group("route")["none"]["questions"] == 1
    assert [lang for lang, _ in month.top("language", "questions", 5)] == ["en", "ko"]


# --- usage counters on DynamoDB --------------------------------------------------------------

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


async def test_a_question_costs_at_most_three_dynamodb_writes_and_no_hot_channel_item(
    settings: Settings, bedrock: FakeBedrock, moto_server: MotoServer, state_table: str
) -> None:
    client = moto_server.client("dynamodb")
    writes: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in WRITES:
            writes.append((model.name, params))

    client.meta.events.register("before-parameter-build.dynamodb", record)
    state = DynamoStateStore(table_name=state_table, client=client)
    pipeline = build(
        settings, observer=build_observer(settings, state, write=lambda _: None)
    ).pipeline

    async def ask(text: str, channel: str) -> list[tuple[str, dict[str, Any]]]:
        before = len(writes)
        stream = await pipeline.answer(Question(text=text, user_id="U1", channel_id=channel))
        async for _ in stream:
            pass
        return writes[before:]

    answered = await ask(LEAVE_EN, "C0SUPPORT")
    not_found = await ask("What is the population of Jupiter's moon Europa?", "C0OTHER")

    assert [name for name, _ in answered] == ["UpdateItem", "UpdateItem"]  # day + channel
    assert sorted(name for name, _ in not_found) == ["PutItem", "UpdateItem", "UpdateItem"]
    day_update = answered[0][1]
    assert day_update["UpdateExpression"].startswith("ADD ")
    assert day_update["UpdateExpression"].count(":a") >= 10  # every counter in one request
    raw = moto_server.client("dynamodb")
    items = raw.scan(TableName=state_table)["Items"]
    (day_item,) = [i for i in items if i["pk"]["S"].startswith("usage_day#")]
    assert not [name for name in day_item if "channel" in name]  # no per-channel growth here
    channels = {i["sk"]["S"]: i for i in items if i["pk"]["S"].startswith("usage_channel_day#")}
    assert set(channels) == {"m#C0SUPPORT", "m#C0OTHER"}
    assert channels["m#C0SUPPORT"]["c:questions"] == {"N": "1"}

    summary = await UsageLedger(state=state).day()
    assert summary.questions == 2
    assert summary.group("channel")["C0OTHER"]["questions"] == 1
    assert summary.status("not_found") == 1
