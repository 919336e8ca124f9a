"""The command line, run in-process: the offline demo, --json, ingest and doctor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings
from bot.messages import message
from fakes.aws import MotoServer
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import DOCS, REPO, bot_command, clean_environ

EXPECTED_KEYS = {"question", "language", "answer", "citations", "route", "offline"}


def embedded_tokens(bedrock: FakeBedrock) -> int | None:
    """The input tokens the fake reported for the (one) query embedding."""
    (embedding,) = [r for r in bedrock.requests if r.operation == "InvokeModel"]
    return embedding.reported_input_tokens


def ask_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    code = main(["ask", "--json", *args])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)  # type: ignore[no-any-return]


@pytest.fixture
def offline_index(aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INDEX_URI", str(aws_env / "index"))
    assert main(["ingest", str(DOCS), "--offline"]) == 0
    return aws_env / "index"


def test_demo_runs_offline_on_a_machine_without_aws_credentials(tmp_path: Path) -> None:
    """The README's demo, as a subprocess with no AWS variables at all."""
    env = clean_environ()
    env.update(
        INDEX_URI=str(tmp_path / "index"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    ingest = bot_command("ingest", str(DOCS), cwd=tmp_path, env=env, timeout=120)
    assert ingest.returncode == 0, ingest.stderr
    assert "added" in ingest.stdout and "published" in ingest.stdout
    ask = bot_command(
        "ask",
        "How many days of paid annual leave do employees get?",
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert ask.returncode == 0, ask.stderr
    assert message("offline_label", "en") in ask.stdout
    assert "20 days of paid annual leave" in ask.stdout
    assert "leave-policy.md" in ask.stdout


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("How many days of paid annual leave do employees get?", "en"),
        ("직원은 유급 연차를 며칠 받나요?", "ko"),
        ("従業員の年次有給休暇は何日ですか？", "ja"),
        ("员工每年有多少天带薪年假？", "zh-Hans"),
        ("員工每年有多少天帶薪年假？", "zh-Hant"),
        ("¿Cuántos días de vacaciones pagadas reciben los empleados?", "es"),
        ("Wie viele Tage bezahlten Jahresurlaub bekommen Mitarbeiter?", "de"),
        ("Nhân viên được bao nhiêu ngày nghỉ phép có lương mỗi năm?", "vi"),
        ("Combien de jours de congés payés les employés ont-ils ?", "fr"),
        ("Quantos dias de férias remuneradas os funcionários recebem?", "pt"),
    ],
)
def test_ask_json_reports_the_language(
    offline_index: Path, capsys: pytest.CaptureFixture[str], question: str, language: str
) -> None:
    data = ask_json(capsys, "--offline", question)

    assert set(data) >= EXPECTED_KEYS
    assert data["language"] == language
    assert data["offline"] is True
    assert data["route"] == {
        "standalone_question": question,
        "intent": "question",
        "translated": False,
        "calls": [],
    }


def test_offline_answer_quotes_and_cites_without_claiming_translation(
    offline_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ask_json(capsys, "--offline", "Do contractors get paid leave?")

    assert data["answer"].startswith(f"_{message('offline_label', 'en')}_")  # type: ignore[union-attr]
    assert "not eligible for paid leave" in data["answer"]  # type: ignore[operator]
    citations = data["citations"]
    assert isinstance(citations, list) and citations[0]["source"].endswith("leave-policy.md")
    assert set(citations[0]) >= {"title", "source", "score"}


def test_ask_json_online_lists_every_model_call_with_usage(
    settings: object, bedrock: FakeBedrock, capsys: pytest.CaptureFixture[str]
) -> None:
    bedrock.queue(
        "nova-micro",
        Reply(
            text='{"standalone_question": "How do I set up the VPN?", "intent": "question"}',
            input_tokens=210,
            output_tokens=17,
        ),
    )
    bedrock.queue(
        "nova-pro",
        Reply(
            text="GlobalConnect 앱을 설치하세요 [1].",
            input_tokens=900,
            output_tokens=8,
            cache_read_tokens=400,
        ),
    )

    data = ask_json(capsys, "VPN은 어떻게 설정하나요?")

    route = data["route"]
    assert isinstance(route, dict)
    assert (
        route["translated"] is True and route["standalone_question"] == "How do I set up the VPN?"
    )
    assert [
        (c["purpose"], c["input_tokens"], c["output_tokens"], c["cache_read_tokens"])
        for c in route["calls"]
    ] == [
        ("translate", 210, 17, 0),
        ("embed", embedded_tokens(bedrock), 0, 0),
        ("answer", 900, 8, 400),
    ]
    assert data["offline"] is False and data["language"] == "ko"


def test_ask_exits_2_on_an_empty_question(
    offline_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "--offline", "   "]) == 2
    assert message("empty_question", "en") in capsys.readouterr().out


def test_ask_before_any_ingest_says_how_to_fix_it(
    aws_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "--offline", "How do I set up the VPN?"]) == 1
    assert "/ingest" in capsys.readouterr().out


def test_ingest_json_report_lists_skipped_files(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = aws_env / "docs"
    folder.mkdir()
    (folder / "ok.md").write_text("# OK\n\nThe cafeteria opens at 8.", "utf-8")
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4 broken")
    monkeypatch.setenv("INDEX_URI", str(aws_env / "index"))

    assert main(["ingest", str(folder), "--offline", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == [f"{folder.as_posix()}/ok.md"]
    assert [s["key"].rsplit("/", 1)[1] for s in report["skipped"]] == ["scan.pdf"]
    assert report["published"] is True


def test_doctor_passes_against_reachable_models(
    settings: object, bedrock: FakeBedrock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and out.rstrip().endswith("checks ok")
    assert "ok   state store: SQLite file .dualnova/state.db: write, read and delete ok" in out
    assert "ok   prompt cache: answer (Pro) ~" in out
    assert {c.model_id for c in bedrock.calls("Converse")} == {
        "us.amazon.nova-micro-v1:0",
        "us.amazon.nova-pro-v1:0",
    }
    probes = bedrock.calls("Converse")
    assert probes and all(c.body["inferenceConfig"] == {"maxTokens": 1} for c in probes)


def test_doctor_prints_the_fix_for_a_denied_model(
    settings: object, bedrock: FakeBedrock, capsys: pytest.CaptureFixture[str]
) -> None:
    bedrock.queue("nova-pro", Reply(error="access_denied"))

    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL model us.amazon.nova-pro-v1:0: AccessDeniedException" in out
    assert "fix: enable us.amazon.nova-pro-v1:0 under Bedrock > Model access" in out
    assert "arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0" in out


def test_doctor_names_a_damaged_state_file_and_how_to_fix_it(
    settings: object, bedrock: FakeBedrock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / ".dualnova").mkdir(exist_ok=True)
    (tmp_path / ".dualnova" / "state.db").write_bytes(b"not sqlite" * 500)

    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL state store: STATE_PATH .dualnova/state.db is not a usable SQLite database" in out
    assert "fix: make STATE_PATH a writable file on a volume" in out


def test_doctor_checks_the_dynamodb_state_table_and_names_a_missing_one(
    settings: object,
    bedrock: FakeBedrock,
    moto_server: MotoServer,
    state_table: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server.url)
    monkeypatch.setenv("STATE_TABLE", state_table)
    assert main(["doctor"]) == 0
    assert f"ok   state store: DynamoDB table {state_table}: write, read and delete ok" in (
        capsys.readouterr().out
    )
    monkeypatch.setenv("STATE_TABLE", "dualnova-nowhere")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL state store: STATE_TABLE dualnova-nowhere does not exist in us-east-1" in out
    assert "fix: deploy the stack's table or fix STATE_TABLE / AWS_REGION" in out


def test_python_dash_m_bot_is_the_same_cli() -> None:
    result = bot_command("--help", cwd=REPO)
    assert result.returncode == 0 and "ingest" in result.stdout


def test_doctor_reports_each_prompt_prefix_against_the_cache_minimum(settings: Settings) -> None:
    from bot.doctor import prompt_cache_check

    bare = prompt_cache_check(settings).detail
    glossary = REPO / "examples" / "glossary.json"
    with_glossary = prompt_cache_check(
        settings.model_copy(update={"glossary_uri": str(glossary)})
    ).detail

    assert "answer (Pro) ~" in bare and "below the minimum, not cached" in bare
    assert (
        "cached" in with_glossary.split(";")[0] and "not cached" not in with_glossary.split(";")[0]
    )
    assert "20 terms" in with_glossary
