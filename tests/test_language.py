"""Language detection: scripts, lingua, and the hint/default fallbacks."""

from __future__ import annotations

import pytest

from bot.language import LanguageDetector

LANGUAGES = ["en", "ko", "ja", "zh", "es", "de", "fr", "vi", "pt", "it", "id", "th"]


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector(languages=LANGUAGES, default="en")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("How many vacation days do I get this year?", "en"),
        ("올해 연차는 며칠 남았나요?", "ko"),
        ("有給休暇は何日ありますか？", "ja"),
        ("年假有多少天？", "zh-Hans"),
        ("¿Cuántos días de vacaciones tengo este año?", "es"),
        ("Wie viele Urlaubstage habe ich dieses Jahr?", "de"),
        ("Tôi có bao nhiêu ngày nghỉ phép mỗi năm?", "vi"),
        ("Combien de jours de congé ai-je cette année ?", "fr"),
        ("Quantos dias de férias eu tenho por ano?", "pt"),
        ("ฉันมีวันลาพักร้อนกี่วัน", "th"),
    ],
)
def test_detects_full_sentences(detector: LanguageDetector, text: str, language: str) -> None:
    assert detector.detect(text).language == language


@pytest.mark.parametrize(
    "text",
    [
        "Slack에서 VPN 설정 어떻게 해?",
        "NovaDesk API 키는 어디서 발급받나요?",
        "<@U123> GlobalConnect VPN 접속이 안 돼요 https://vpn.example",
    ],
)
def test_code_mixed_korean_resolves_to_the_sentence_not_the_product_names(
    detector: LanguageDetector, text: str
) -> None:
    detection = detector.detect(text)
    assert detection.language == "ko"
    assert detection.method == "script"


@pytest.mark.parametrize(
    "text", ["ok?", "VPN", "https://docs.example.com/vpn", "👍", "<@U123>", "SSO MFA"]
)
def test_short_or_ambiguous_messages_use_the_hint_then_the_default(
    detector: LanguageDetector, text: str
) -> None:
    assert detector.detect(text, hint="ja").language == "ja"
    assert detector.detect(text, hint="ja").method == "hint"
    assert detector.detect(text).language == "en"
    assert detector.detect(text).method == "default"


def test_a_hint_outside_the_configured_languages_is_ignored(detector: LanguageDetector) -> None:
    assert detector.detect("ok", hint="xx").language == "en"


def test_han_only_text_is_japanese_when_chinese_is_not_configured() -> None:
    detector = LanguageDetector(languages=["en", "ja"], default="en")
    assert detector.detect("経費精算").language == "ja"


def test_lingua_is_built_only_for_the_languages_that_share_a_script(
    detector: LanguageDetector,
) -> None:
    # ko, ja, zh and th are decided by their script; their models would never be consulted.
    assert detector.model_languages == ["en", "es", "de", "fr", "vi", "pt", "it", "id"]


@pytest.mark.parametrize(
    ("languages", "model_languages"),
    [(["en", "ko"], ["en", "ko"]), (["ko", "ja"], ["ko", "ja"]), (["en"], ["en", "de"])],
)
def test_lingua_keeps_two_languages_when_at_most_one_needs_it(
    languages: list[str], model_languages: list[str]
) -> None:
    detector = LanguageDetector(languages=languages, default=languages[0])
    assert detector.model_languages == model_languages


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Merci beaucoup pour votre aide ツ", "fr"),
        ("Danke für die Hilfe ツ", "de"),
        ("The office in 東 building is closed today", "en"),
        ("ok 네 thanks for the quick answer", "en"),
    ],
)
def test_a_stray_character_of_another_script_does_not_change_the_language(
    detector: LanguageDetector, text: str, language: str
) -> None:
    detection = detector.detect(text)
    assert (detection.language, detection.method) == (language, "model")


def test_preload_warms_the_models_and_detection_still_works() -> None:
    detector = LanguageDetector(languages=["en", "de", "ko"], default="en")
    detector.preload()
    assert detector.detect("Wie viele Urlaubstage habe ich dieses Jahr?").language == "de"
