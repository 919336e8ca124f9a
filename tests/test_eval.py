"""`dualnova eval`: the golden-set format, the metrics, and the command against the fakes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_settings
from bot.eval_judge import RUBRIC
from bot.eval_run import evaluate
from bot.eval_set import fact_present, load_golden_set
from bot.messages import message
from fakes.bedrock import FakeBedrock, RecordedRequest, Reply
from fakes.harness import REPO
from kernel.errors import IndexNotFound

GOOD = [
    {
        "id": "leave-en",
        "question": "How many vacation days do employees get?",
        "language": "en",
        "expect_sources": ["leave-policy"],
        "expect_facts": ["20", "/carr(y|ied).{0,40}5/"],
    },
    {
        "id": "leave-ko",
        "question": "연차는 며칠이에요?",
        "language": "ko",
        "expect_sources": ["leave-policy"],
        "expect_facts": ["20"],
    },
    {
        "id": "contractors-follow-up",
        "question": "What about contractors?",
        "language": "en",
        "history": [
            {"role": "user", "text": "How many vacation days do employees get?"},
            {"role": "assistant", "text": "20 days of paid annual leave [1]."},
        ],
        "expect_sources": ["leave-policy"],
        "expect_facts": ["5"],
    },
    {
        "id": "jupiter",
        "question": "What is the population of Jupiter's moon Europa?",
        "language": "en",
        "answerable": False,
    },
]


def write_set(
    path: Path, items: list[dict[str, object]], extra_lines: tuple[str, ...] = ()
) -> Path:
    lines = [json.dumps(item, ensure_ascii=False) for item in items]
    path.write_text("\n".join([*lines, *extra_lines]) + "\n", "utf-8")
    return path


@pytest.fixture
def offline_index(aws_env: Path, monkeypatch: pytest.MonkeyPatch, sample_index: Path) -> Path:
    """The sample handbook's index and glossary; offline runs search it with BM25 only."""
    monkeypatch.setenv("INDEX_URI", str(sample_index))
    monkeypatch.setenv("GLOSSARY_URI", str(REPO / "examples" / "glossary.json"))
    return sample_index


# --- the golden set -------------------------------------------------------------------------


def test_bad_lines_are_reported_by_line_and_field_and_the_rest_still_load(tmp_path: Path) -> None:
    path = write_set(
        tmp_path / "set.jsonl",
        GOOD[:1],
        (
            "{not json",
            json.dumps({"id": "no-language", "question": "VPN?", "expect_sources": ["vpn"]}),
            json.dumps(
                {
                    "id": "bad-regex",
                    "question": "q",
                    "language": "en",
                    "expect_sources": ["x"],
                    "expect_facts": ["/(/"],
                }
            ),
            json.dumps({"id": "no-sources", "question": "q", "language": "en"}),
            json.dumps({"id": "klingon", "question": "q", "language": "xx", "answerable": False}),
            json.dumps(GOOD[0]),
            "",
            json.dumps(GOOD[3]),
        ),
    )

    golden = load_golden_set(path)

    assert [item.id for item in golden.items] == ["leave-en", "jupiter"]
    assert [(e.line, e.field) for e in golden.errors] == [
        (2, "(json)"),
        (3, "language"),
        (4, "expect_facts"),
        (5, "expect_sources"),
        (6, "language"),
        (7, "id"),
    ]
    assert "duplicate id 'leave-en'" in str(golden.errors[-1])


def test_the_sample_golden_set_is_valid_and_as_broad_as_promised() -> None:
    golden = load_golden_set(REPO / "examples" / "eval" / "handbook.jsonl")

    assert golden.errors == ()
    items = golden.items
    assert len(items) >= 80
    assert len({i.language for i in items}) >= 8
    assert sum(not i.answerable for i in items) >= 15
    assert sum(i.follow_up for i in items) >= 15
    assert sum("code-mixed" in i.tags for i in items) >= 10


@pytest.mark.parametrize(
    ("fact", "text", "present"),
    [
        ("20", "Employees get 20 days.", True),
        ("20", "직원은 연 20일의 연차를 받습니다", True),
        ("20", "The 2025 calendar", False),
        ("20", "1,200,000원", False),
        ("vpn.hanbit.example", "Server: VPN.hanbit.example", True),
        ("/carr(y|ied).{0,20}5/", "You can carry over up to 5 days", True),
        ("/4월 17일|April 17/", "창립기념일은 4월 17일입니다", True),
        ("Lena Hoffmann", "Sato Yuki", False),
    ],
)
def test_a_fact_is_a_substring_a_whole_number_or_a_regex(
    fact: str, text: str, present: bool
) -> None:
    assert fact_present(fact, text) is present


# --- offline, through the command line ------------------------------------------------------


def test_offline_eval_prints_a_table_per_language(
    offline_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_set(tmp_path / "set.jsonl", GOOD)

    assert main(["eval", str(path), "--offline"]) == 0

    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| metric"))
    assert [c.strip() for c in header.strip("|").split("|")][:4] == ["metric", "all", "en", "ko"]
    assert re.search(r"\| hit@5 \| 100\.0% \| 100\.0% \| 100\.0% \|", out), out
    assert "| unanswerable → not found | 100.0% |" in out
    assert "offline (BM25 + glossary, no models)" in out


def test_eval_json_has_summary_by_language_and_items_with_every_metric(
    offline_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_set(tmp_path / "set.jsonl", GOOD)

    assert main(["eval", str(path), "--offline", "--json"]) == 0

    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"summary", "by_language", "items"}
    assert set(data["by_language"]) == {"en", "ko"}
    summary = data["summary"]
    for key in (
        "hit_at_k",
        "mrr",
        "citation_precision",
        "citation_recall",
        "language",
        "facts",
        "abstention",
        "glossary_violations_per_answer",
        "latency_ms",
        "cost_usd_per_question",
    ):
        assert key in summary
    assert summary["cost_usd_per_question"] == 0  # offline: no model call is paid
    assert set(summary["latency_ms"]["retrieve"]) == {"p50", "p95"}
    items = {item["id"]: item for item in data["items"]}
    assert items["leave-en"]["rank"] == 1 and items["leave-en"]["facts_missing"] == []
    jupiter = items["jupiter"]
    assert jupiter["status"] == "not_found" and jupiter["abstention_ok"] is True
    assert jupiter["answer"] == message("not_found", "en")
    assert data["by_slice"]["follow-up"]["items"] == 1


def test_unknown_setting_is_refused_with_its_name(
    offline_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_set(tmp_path / "set.jsonl", GOOD[:1])

    assert main(["eval", str(path), "--offline", "--set", "CHUNKINESS=3"]) == 2
    assert "CHUNKINESS is not a setting" in capsys.readouterr().err


def test_compare_runs_both_configurations_and_shows_the_difference(
    offline_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_set(tmp_path / "set.jsonl", GOOD)

    code = main(
        ["eval", str(path), "--offline", "--top-k", "1", "--compare", "RETRIEVAL_TOP_K=5", "--json"]
    )

    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["k"] == 1 and data["compare"]["k"] == 5
    assert data["compare"]["settings"] == {"RETRIEVAL_TOP_K": "5"}
    assert "hit_at_k" in data["differences"]
    assert main(["eval", str(path), "--offline", "--compare", "RELATIVE_CUTOFF=0.9"]) == 0
    out = capsys.readouterr().out
    assert "| metric | A | B | B − A |" in out and "RELATIVE_CUTOFF=0.9" in out


def test_html_report_is_self_contained_and_escapes_what_it_quotes(
    offline_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = {
        "id": "xss",
        "question": "<script>alert(1)</script> VPN server?",
        "language": "en",
        "expect_sources": ["no-such-document"],
    }
    path = write_set(tmp_path / "set.jsonl", [*GOOD, hostile])

    assert main(["eval", str(path), "--offline", "--output", str(tmp_path / "out")]) == 0

    html = (tmp_path / "out" / "eval-report.html").read_text("utf-8")
    assert html.startswith("<!doctype html>") and "<svg" in html
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "Failed items (1 of 5)" in html and "expected source not in the top 5" in html
    assert json.loads((tmp_path / "out" / "eval.json").read_text("utf-8"))["summary"]["items"] == 5


def test_a_bad_line_makes_the_exit_code_1_after_the_good_lines_ran(
    offline_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_set(tmp_path / "set.jsonl", GOOD[:1], ('{"id": "x"}',))

    assert main(["eval", str(path), "--offline"]) == 1
    captured = capsys.readouterr()
    assert "line 2: question: Field required" in captured.err
    assert "| items | 1 |" in captured.out


# --- online, against the Bedrock fake ------------------------------------------------------


NOVADESK = {
    "id": "api-limit",
    "question": "What is the NovaDesk API rate limit?",
    "language": "en",
    "expect_sources": ["novadesk-faq"],
    "expect_facts": ["600"],
}


def _last_user_text(request: RecordedRequest) -> str:
    # The condense call ends with an assistant turn (the `{` prefill): read the user's turn.
    user = [m for m in request.body["messages"] if m["role"] == "user"][-1]
    blocks = user["content"]
    return "\n".join(b["text"] for b in blocks if "text" in b)


def _online_responses(bedrock: FakeBedrock) -> None:
    """Micro routes (Korean translated to English) and judges; Pro answers by topic."""

    def micro(request: RecordedRequest) -> Reply:
        if RUBRIC[:40] in request.system_text:
            return Reply(text='{"score": 4, "reason": "the main fact is right"}')
        if "Target language: Korean" in _last_user_text(request):  # the answer-language guard
            return Reply(text="직원은 연 20일의 유급 연차를 받습니다 [1].")
        question = _last_user_text(request).rsplit("\n", 1)[-1]
        if "연차" in question:
            question = "How many days of paid annual leave do employees get?"
        return Reply(text=json.dumps({"standalone_question": question, "intent": "question"}))

    def pro(request: RecordedRequest) -> Reply:
        if "API" in _last_user_text(request):  # "NovaDesk" respelled: a glossary violation
            return Reply(text="The Nova Desk API allows 600 requests per minute [1].")
        return Reply(text="Employees get 20 days of paid annual leave [1].")

    bedrock.responder("nova-micro", micro)
    bedrock.responder("nova-pro", pro)


async def test_online_eval_scores_pro_answers_prices_them_and_judges_apart(
    aws_env: Path,
    sample_index: Path,
    bedrock: FakeBedrock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INDEX_URI", str(sample_index))
    monkeypatch.setenv("GLOSSARY_URI", str(REPO / "examples" / "glossary.json"))
    _online_responses(bedrock)
    golden = load_golden_set(write_set(tmp_path / "set.jsonl", [*GOOD[:2], GOOD[3], NOVADESK]))

    run = await evaluate(load_settings(), golden, offline=False, judge=True)

    by_id = {r.item.id: r for r in run.results}
    english = by_id["leave-en"]
    assert english.status == "answered" and english.pro_called and english.rank == 1
    assert english.facts_found == ["20"] and english.fact_score == 0.5
    assert english.judge_score == 0.75  # (4 - 1) / 4, never folded into fact_score
    assert english.cost_usd > 0 and {"first_token", "answer"} <= set(english.timings)
    assert english.cited and english.citation_precision == 1.0
    korean = by_id["leave-ko"]  # translated by Micro, so the English page is found
    # Pro answered in English; the answer-language guard had Micro translate it into Korean.
    assert korean.rank == 1 and korean.answer_language == "ko" and korean.language_ok
    jupiter = by_id["jupiter"]
    assert jupiter.abstained and not jupiter.pro_called and jupiter.abstention_ok
    assert jupiter.judge_score is None  # nothing to grade
    assert by_id["api-limit"].glossary_violations == [
        "NovaDesk (do_not_translate): 'NovaDesk' was translated or respelled"
    ]
    # On the wire: three answers streamed by Pro, three judged by Micro with the fixed rubric.
    assert len(bedrock.calls("ConverseStream", "nova-pro")) == 3
    judged = [c for c in bedrock.calls("Converse", "nova-micro") if RUBRIC in c.system_text]
    assert len(judged) == 3 and all(c.body["inferenceConfig"]["temperature"] == 0 for c in judged)
    summary = run.summary
    assert summary["judged"] == 0.75 and summary["facts"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert summary["abstained_unanswerable"] == 1.0 and summary["false_not_found"] == 0.0
    assert summary["glossary_violations_per_answer"] == pytest.approx(1 / 3)
    assert summary["cost_usd_per_question"] > 0
    assert summary["latency_ms"]["first_token"]["p95"] is not None


@pytest.mark.aws
def test_online_eval_on_real_bedrock_meets_the_offline_floors() -> None:
    """The whole golden set against real Bedrock (102 questions: Micro, Pro and the judge).
    Opt in where credentials, model access and an ingested sample index exist:
    DUALNOVA_AWS_TESTS=1 .venv/bin/pytest -m aws tests/test_eval.py"""
    import asyncio
    import os

    from bot.wiring import has_aws_credentials
    from tests.test_eval_gate import FLOORS

    if not os.environ.get("DUALNOVA_AWS_TESTS"):
        pytest.skip("set DUALNOVA_AWS_TESTS=1 to call real Bedrock")
    settings = load_settings()
    if not has_aws_credentials(settings):
        pytest.skip("no AWS credentials")
    golden = load_golden_set(REPO / "examples" / "eval" / "handbook.jsonl")
    try:
        run = asyncio.run(evaluate(settings, golden, offline=False, judge=True))
    except IndexNotFound:
        pytest.skip("no index: run `dualnova ingest examples/docs` first")
    summary = run.summary
    assert FLOORS and all(summary[name] >= floor for name, floor in FLOORS.items()), summary
    assert summary["language"] >= 0.9, summary
