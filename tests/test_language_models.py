"""py3langid against lingua on held-out chat messages: the default is the more accurate one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.language import LANGUAGES, Row, accuracy_by_language, load_heldout, overall
from bot.config import load_settings
from bot.language import PY3LANGID_MISSING, SUPPORTED_CODES, LanguageDetector
from kernel.errors import ConfigError


@pytest.fixture(scope="module")
def report_half() -> list[Row]:
    tune, report = load_heldout()
    assert len(tune) + len(report) >= 300
    return report


def test_the_default_model_is_more_accurate_than_lingua_on_the_held_out_half(
    report_half: list[Row],
) -> None:
    default = LanguageDetector(languages=LANGUAGES, default="en")
    lingua = LanguageDetector(languages=LANGUAGES, default="en", model="lingua")

    ours = accuracy_by_language(default, report_half)
    theirs = accuracy_by_language(lingua, report_half)

    assert overall(ours) >= overall(theirs)
    assert overall(ours) >= 0.97, ours
    # Not better on average by giving up a language: no language falls behind lingua's.
    assert [lang for lang in ours if ours[lang][0] < theirs[lang][0]] == []


def test_py3langid_answers_only_among_the_configured_languages() -> None:
    detector = LanguageDetector(languages=["en", "de"], default="en")

    # Dutch and Swedish are not configured: the closest configured language, never nl/sv.
    for text in ("Hoeveel vakantiedagen heb ik nog?", "Hur många semesterdagar har jag kvar?"):
        assert detector.detect(text).language in {"en", "de"}


def test_the_languages_py3langid_lacks_are_exactly_named() -> None:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    labels = set(LanguageIdentifier.from_model_file(MODEL_FILE).labels)

    assert SUPPORTED_CODES - labels == PY3LANGID_MISSING


def test_a_language_py3langid_lacks_fails_at_start_unless_lingua_is_chosen(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DETECT_LANGUAGES", "en,nb,de")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith(
        "LANGUAGE_MODEL: py3langid cannot detect nb; set LANGUAGE_MODEL=lingua"
    )

    monkeypatch.setenv("LANGUAGE_MODEL", "lingua")
    assert load_settings().language_model == "lingua"


def test_the_detector_report_meets_its_floor_on_the_held_out_half(
    report_half: list[Row],
) -> None:
    """The README's numbers: per language on the report half, with a floor (#18)."""
    tune, _ = load_heldout()
    rows = tune + report_half
    assert sum(len(row.text.split()) <= 4 for row in rows) >= len(rows) / 3
    assert {row.language for row in rows} >= {*LANGUAGES, "zh-Hant", "zh-Hans"} - {"zh"}
    detector = LanguageDetector(languages=LANGUAGES, default="en")

    scores = accuracy_by_language(detector, report_half)

    report = ", ".join(f"{lang} {r}/{t}" for lang, (r, t) in sorted(scores.items()))
    assert overall(scores) >= 0.99, report
    assert scores and all(r / t >= 0.9 for r, t in scores.values()), report
