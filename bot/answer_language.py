"""The answer-language guard: is Nova Pro's answer in the language the asker was promised?

Models drift into the passages' language (English passages pull an English answer to a
Korean question), so the answer is checked locally, with no model call: early, once its
first sentence is in (without holding back the words already written), and again at the
end. The end decides; a mismatch there is translated by Nova Micro (with the glossary) and
counted by language pair. The early check only stops showing more wrong-language text
while the rest of the answer is collected for translation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.chinese import base_language, chinese_script, is_chinese, normalize_code
from bot.language import LanguageDetector, script_counts, strip_noise

#: Enough letters to judge: about the first sentence of an answer.
EARLY_LETTERS = 40
#: Below this many letters the text says too little ("OK [1].") to call a mismatch.
MIN_LETTERS = 12
#: The model must be this sure before a Latin-script answer is called another language.
MIN_CONFIDENCE = 0.9
#: A script must hold this share of the letters to speak for the text (quoted product names,
#: a Korean term in an English answer, do not).
DOMINANT_SHARE = 0.6

_CITATIONS = re.compile(r"\[\d{1,3}\]")
_SENTENCE_END = re.compile(r"[.!?。！？\n]")
_SCRIPT_CODES = {
    "HANGUL": "ko",
    "THAI": "th",
    "HEBREW": "he",
    "GREEK": "el",
    "ARMENIAN": "hy",
    "GEORGIAN": "ka",
    "BENGALI": "bn",
    "GUJARATI": "gu",
    "GURMUKHI": "pa",
    "TAMIL": "ta",
    "TELUGU": "te",
}
_KANA = ("HIRAGANA", "KATAKANA")
_WEIGHTS = {"HAN": 3, "HANGUL": 3, "HIRAGANA": 2, "KATAKANA": 2}


@dataclass(frozen=True)
class Verdict:
    """What the guard found: `found` is None when the text cannot tell."""

    expected: str
    found: str | None

    @property
    def mismatch(self) -> bool:
        return self.found is not None and not same_language(self.found, self.expected)

    @property
    def pair(self) -> str:
        """ "en>ko": written in English, promised in Korean (how mismatches are counted)."""
        return f"{self.found}>{self.expected}"


def same_language(found: str, expected: str) -> bool:
    if is_chinese(found) and is_chinese(expected):
        want, got = normalize_code(expected), normalize_code(found)
        return "zh" in (want, got) or want == got  # plain "zh" promises no script
    return base_language(found) == base_language(expected)


class AnswerLanguageGuard:
    """Judges answer text against the promised language, locally (microseconds to ~1 ms)."""

    def __init__(self, *, detector: LanguageDetector) -> None:
        self._detector = detector

    @staticmethod
    def ready(text: str) -> bool:
        """Whether the start of an answer is enough for the early check."""
        letters = sum(1 for c in text if c.isalpha())
        return letters >= EARLY_LETTERS or (
            letters >= MIN_LETTERS and _SENTENCE_END.search(text) is not None
        )

    @staticmethod
    def first_sentence_end(text: str) -> int:
        """Where the first sentence ends (all of `text` when none has ended yet)."""
        match = _SENTENCE_END.search(text)
        return match.end() if match else len(text)

    def verdict(self, text: str, expected: str) -> Verdict:
        return Verdict(expected, self.language_of(text, expected))

    def language_of(self, text: str, expected: str) -> str | None:
        cleaned = strip_noise(_CITATIONS.sub(" ", text))
        counts = script_counts(cleaned)
        letters = sum(counts.values())
        if letters < MIN_LETTERS:
            return None
        kana = sum(counts.get(s, 0) for s in _KANA)
        if kana >= 0.15 * letters:
            return "ja"
        # A Hangul syllable or a Han character says as much as a Latin word's few letters:
        # "GlobalConnect 앱을 설치하세요" is Korean with a product name, not English.
        weighted = {script: n * _WEIGHTS.get(script, 1) for script, n in counts.items()}
        script, top = max(weighted.items(), key=lambda item: item[1])
        if top < DOMINANT_SHARE * sum(weighted.values()):
            return None
        if script == "HAN":
            return chinese_script(cleaned) or "zh"
        if script in _SCRIPT_CODES:
            return _SCRIPT_CODES[script]
        if script != "LATIN":
            return None  # Cyrillic, Arabic, ...: the model below is not built for them
        if _is_latin_language(expected) and not self._detector.knows(expected):
            # The model cannot say "Turkish" when it was not configured: no verdict.
            return None
        best = self._detector.classify(cleaned)
        if best is None:
            return None
        code, confidence = best
        if confidence >= MIN_CONFIDENCE or not _is_latin_language(expected):
            return code
        return None


_NON_LATIN = frozenset({"ko", "ja", "zh", "th", "he", "el", "hy", "ka", "bn", "gu", "pa", "ta"})
_NON_LATIN_MORE = frozenset({"te", "ru", "uk", "bg", "ar", "fa", "hi", "mr", "ne", "ur"})


def _is_latin_language(code: str) -> bool:
    base = base_language(code)
    return base not in _NON_LATIN and base not in _NON_LATIN_MORE
