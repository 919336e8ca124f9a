"""Traditional and Simplified Chinese: from the characters, the Slack locale, and carried on."""

from __future__ import annotations

import pytest

from bot.answer import user_message
from bot.chinese import chinese_script, locale_language, normalize_code
from bot.glossary import GlossaryTerm
from bot.language import LanguageDetector
from bot.messages import language_name, message, native_name, suggested_prompts
from bot.preferences import parse_language_request

LANGUAGES = ["en", "ko", "ja", "zh", "es"]


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector(languages=LANGUAGES, default="en")


def test_characters_of_one_script_decide_it() -> None:
    assert chinese_script("員工停車位每月收費多少？") == "zh-Hant"
    assert chinese_script("员工停车位每月收费多少？") == "zh-Hans"
    assert chinese_script("你好") is None  # the same in both


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("zh-TW", "zh-Hant"),
        ("zh-HK", "zh-Hant"),
        ("zh-CN", "zh-Hans"),
        ("ko-KR", "ko"),
        ("en_US", "en"),
    ],
)
def test_the_slack_locale_becomes_a_language_with_its_script(locale: str, language: str) -> None:
    assert locale_language(locale) == language


def test_detection_answers_a_script_never_plain_zh(detector: LanguageDetector) -> None:
    assert detector.detect("員工停車位每月收費多少？").language == "zh-Hant"
    assert detector.detect("员工停车位每月收费多少？").language == "zh-Hans"
    # No telling character: the locale decides, then Simplified.
    assert detector.detect("你好", hint="zh-Hant").language == "zh-Hant"
    assert detector.detect("你好").language == "zh-Hans"
    assert detector.detect("ok?", hint="zh-TW").language == "zh-Hant"  # a locale as the hint
    # The text wins over the locale.
    assert detector.detect("员工停车位每月收费多少？", hint="zh-Hant").language == "zh-Hans"


def test_fixed_sentences_come_in_the_askers_script() -> None:
    assert message("no_index", "zh-Hant") == "尚未匯入任何文件。管理員可以執行 /ingest 匯入。"
    assert message("no_index", "zh-Hans") == message("no_index", "zh")
    assert chinese_script(message("not_found", "zh-Hant")) == "zh-Hant"
    assert chinese_script(message("not_found", "zh-Hans")) == "zh-Hans"
    assert suggested_prompts("zh-Hant") == ("如何設定 VPN？", "我有多少天年假？", "如何報銷費用？")
    assert native_name("zh-Hant") == "繁體中文"


def test_pro_is_asked_for_the_script_by_name() -> None:
    prompt = user_message(question="年假？", language="zh-Hant", passages=[], history=[])

    assert "Answer language: Traditional Chinese (zh-Hant)" in prompt
    assert language_name("zh-Hans") == "Simplified Chinese"


def test_a_glossary_form_per_script_with_simplified_as_plain_zh() -> None:
    term = GlossaryTerm(term="annual leave", forms={"zh": "年假", "zh-Hant": "特休"})
    only_zh = GlossaryTerm(term="expense claim", forms={"zh": "报销"})

    assert term.form("zh-Hant") == "特休" and term.form("zh-Hans") == "年假"
    assert only_zh.form("zh-Hant") == "报销"  # no Traditional form given: the one there is


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("answer me in Traditional Chinese", "zh-Hant"),
        ("繁體中文で答えて", "zh-Hant"),
        ("answer in chinese", "zh"),
    ],
)
def test_asking_for_a_script_by_name(text: str, code: str) -> None:
    assert parse_language_request(text, known=LANGUAGES) == code


def test_codes_in_any_case_or_as_regions_are_normalized() -> None:
    assert normalize_code("zh-hant") == "zh-Hant"
    assert normalize_code("ZH_tw") == "zh-Hant"
    assert normalize_code("zh-Hans") == "zh-Hans"
    assert normalize_code("zh") == "zh"


def test_a_golden_item_may_ask_for_a_script_and_plain_zh_accepts_either() -> None:
    from bot.answer_language import same_language
    from bot.eval_set import EvalItem

    item = EvalItem(id="q", question="年假有幾天？", language="zh-hant", answerable=False)

    assert item.language == "zh-Hant"
    assert same_language("zh-Hans", "zh") and same_language("zh-Hant", "zh")
    assert not same_language("zh-Hans", "zh-Hant")
