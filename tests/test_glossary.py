"""The glossary: in the cached prefix, applied to queries, checked on answers."""

from __future__ import annotations

import json
import logging

import pytest

from bot.config import Settings, load_settings
from bot.glossary import Glossary, GlossaryTerm, load_base_glossary
from bot.wiring import build
from fakes.bedrock import FakeBedrock, Reply
from fakes.harness import REPO
from kernel.models import Question

GLOSSARY = REPO / "examples" / "glossary.json"


@pytest.fixture
def glossary_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("GLOSSARY_URI", str(GLOSSARY))
    return load_settings()


def micro(question: str) -> Reply:
    return Reply(text=json.dumps({"standalone_question": question, "intent": "question"}))


async def run(settings: Settings, text: str) -> object:
    stream = await build(settings).pipeline.answer(Question(text=text))
    async for _ in stream:
        pass
    return stream.result()


async def test_the_glossary_sits_before_a_cache_point_in_micro_and_pro_byte_identical(
    glossary_settings: Settings, bedrock: FakeBedrock
) -> None:
    bedrock.queue(
        "nova-micro",
        micro("How many days of annual leave do employees get?"),
        micro("How do I set up GlobalConnect?"),
    )
    bedrock.queue(
        "nova-pro",
        Reply(text="직원은 연 20일의 연차를 받습니다 [1]."),
        Reply(text="GlobalConnect 앱을 설치하고 로그인하세요 [1]."),
    )
    await run(glossary_settings, "직원 연차는 며칠인가요?")
    await run(glossary_settings, "GlobalConnect VPN은 어떻게 설정하나요?")

    expected = Glossary(
        load_base_glossary(glossary_uri=str(GLOSSARY), docs_source="").terms
    ).prompt_text()
    for model in ("nova-micro", "nova-pro"):
        first, second = bedrock.calls(model=model)
        assert first.body["system"] == second.body["system"], model
        system = first.body["system"]
        assert system[-1] == {"cachePoint": {"type": "default"}}
        assert expected in system[-2]["text"], model
        assert "연차" in system[-2]["text"] and "DO NOT TRANSLATE" in system[-2]["text"]


async def test_a_do_not_translate_term_reaches_retrieval_unchanged(
    glossary_settings: Settings, bedrock: FakeBedrock
) -> None:
    # Micro "helpfully" transliterates the product name; the glossary puts it back.
    bedrock.queue("nova-micro", micro("How do I connect to the Global Connect VPN?"))

    answer = await run(glossary_settings, "GlobalConnect 접속은 어떻게 하나요?")

    assert "GlobalConnect" in answer.route.standalone_question  # type: ignore[attr-defined]
    assert "vpn-setup.md" in bedrock.calls(model="nova-pro")[0].text


def test_preferred_forms_map_to_the_corpus_form_before_retrieval() -> None:
    glossary = load_base_glossary(glossary_uri=str(GLOSSARY), docs_source="")
    assert (
        glossary.to_corpus("연차 규정", original="연차 규정", corpus_language="en")
        == "annual leave 규정"
    )


async def test_a_violation_in_the_answer_is_detected_and_logged(
    glossary_settings: Settings, bedrock: FakeBedrock, caplog: pytest.LogCaptureFixture
) -> None:
    bedrock.queue("nova-micro", micro("How do I set up the VPN client?"))
    bedrock.queue(
        "nova-pro",
        Reply(
            text="글로벌커넥트 VPN 클라이언트(Global Connect)를 설치하세요. annual leave 와 경비精算 [1]."
        ),
    )
    caplog.set_level(logging.WARNING, logger="bot.pipeline")

    answer = await run(glossary_settings, "VPN 클라이언트는 어떻게 설치하나요?")

    found = {(r.term, r.kind) for r in caplog.records if r.getMessage() == "glossary violation"}  # type: ignore[attr-defined]
    assert ("GlobalConnect", "do_not_translate") in found
    assert "GlobalConnect" in answer.glossary_terms  # type: ignore[attr-defined]


def test_non_preferred_form_is_a_violation_and_the_preferred_one_is_not() -> None:
    glossary = Glossary(
        [
            GlossaryTerm(
                term="annual leave",
                forms={"en": "annual leave", "ko": "연차", "ja": "年次有給休暇"},
            )
        ]
    )
    bad = glossary.violations(answer="年次有給休暇는 20일입니다", language="ko", sources=[])
    good = glossary.violations(answer="연차는 20일입니다", language="ko", sources=[])
    assert [v.kind for v in bad] == ["non_preferred"] and good == []


def test_a_broken_glossary_file_is_a_clear_config_error(tmp_path: object) -> None:
    from pathlib import Path

    from kernel.errors import ConfigError

    path = Path(str(tmp_path)) / "glossary.json"
    path.write_text('{"terms": [{"forms": {}}]}', "utf-8")
    with pytest.raises(ConfigError, match="GLOSSARY_URI"):
        load_base_glossary(glossary_uri=str(path), docs_source="")
