"""Language detection: which language did a person write in?

Order of evidence, cheapest first:
1. Scripts with their own alphabet (Hangul, kana, Thai, ...) decide by Unicode range, so a
   code-mixed "Slack에서 VPN 설정 어떻게 해?" is Korean whatever product names it carries.
2. A statistical model (LANGUAGE_MODEL: py3langid by default, or lingua), on the text with
   URLs, Slack markup, code and all-caps acronyms removed. It is restricted to the
   configured languages that share a script with another one (the Latin ones, Cyrillic,
   Arabic, Devanagari, ...): step 1 decides the others. On held-out short chat messages
   py3langid was right more often than lingua (99.3 % against 94.6 %) in 63 MB instead of
   150 MB (bench/language.py, tests/data/language_heldout.tsv).
   Chinese comes out as zh-Hant or zh-Hans (`bot.chinese`): the characters, else the hint.
3. Too short or ambiguous ("ok?", "VPN", a bare link): the caller's hint (the thread's
   previous language, then the Slack locale), then the configured default.
"""

from __future__ import annotations

import ctypes
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

from bot.chinese import HANS, HANT, chinese_script, is_chinese, normalize_code

#: The statistical model of step 2 (LANGUAGE_MODEL): both ship their model in the wheel.
ModelName = Literal["lingua", "py3langid"]

SUPPORTED_CODES = frozenset(lang.iso_code_639_1.name.lower() for lang in Language.all())

_NOISE = re.compile(
    r"```.*?```|`[^`]*`"  # code
    r"|<[@#!][^>]*>"  # Slack user/channel/special mentions
    r"|<https?://[^>]*>|https?://\S+"  # links
    r"|:[a-z0-9_+\-]+:"  # emoji shortcodes
    r"|\b[A-Z0-9]{2,}s?\b"  # acronyms and product codes: VPN, MFA, SSO, API
    r"|[\w.+-]+@[\w-]+\.[\w.]+",  # e-mail addresses
    re.DOTALL,
)
_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")

#: Scripts that identify a language on their own (first match wins, checked in this order).
_SCRIPT_LANGUAGES: tuple[tuple[str, str], ...] = (
    ("HANGUL", "ko"),
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("THAI", "th"),
    ("HEBREW", "he"),
    ("GREEK", "el"),
    ("ARMENIAN", "hy"),
    ("GEORGIAN", "ka"),
    ("BENGALI", "bn"),
    ("GUJARATI", "gu"),
    ("GURMUKHI", "pa"),
    ("TAMIL", "ta"),
    ("TELUGU", "te"),
)
#: Languages `_by_script` decides on its own: the scripts above, and Han (zh, else ja).
_SCRIPT_DECIDED = frozenset({code for _, code in _SCRIPT_LANGUAGES} | {"zh", "ja"})


@dataclass(frozen=True)
class Detection:
    """The language a text is in, and how we know."""

    language: str
    method: str  # "script" | "model" | "hint" | "default"
    confidence: float


def script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for char in text:
        if not char.isalpha():
            continue
        name = unicodedata.name(char, "")
        if name.startswith("CJK UNIFIED") or name.startswith("CJK COMPATIBILITY"):
            script = "HAN"
        elif name.startswith("LATIN"):
            script = "LATIN"
        else:
            script = name.split(" ", 1)[0]
        counts[script] = counts.get(script, 0) + 1
    return counts


def strip_noise(text: str) -> str:
    """Remove what says nothing about the writer's language: links, mentions, code, acronyms."""
    return _NOISE.sub(" ", text)


class LanguageDetector:
    """Detect the language of a message among the configured languages."""

    def __init__(
        self,
        *,
        languages: list[str],
        default: str,
        model: ModelName = "py3langid",
        min_confidence: float | None = None,
        min_letters: int = 8,
    ) -> None:
        self._languages = list(dict.fromkeys([*languages, default]))
        self._default = default
        self._model = model
        self._min_confidence = MIN_CONFIDENCE[model] if min_confidence is None else min_confidence
        self._min_letters = min_letters

    @property
    def languages(self) -> list[str]:
        return list(self._languages)

    @property
    def model_languages(self) -> list[str]:
        """The languages lingua is built for: those that need it to be told apart."""
        shared = [code for code in self._languages if code not in _SCRIPT_DECIDED]
        if len(shared) >= 2:
            return shared
        # Nothing to tell apart: lingua (which needs two languages) then only checks that the
        # text is in the one language's script. The script-decided languages cost nothing
        # there: lingua loads a model only for text written in that language's script.
        codes = list(self._languages)
        if len(codes) == 1:
            codes.append("en" if codes[0] != "en" else "de")
        return codes

    @cached_property
    def _classify(self) -> Any:
        """text -> (ISO 639-1 code, confidence) of the most likely model language."""
        if self._model == "py3langid":
            return _langid_classifier(self.model_languages)
        codes = [IsoCode639_1.from_str(code) for code in self.model_languages]
        lingua = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()

        def classify(text: str) -> tuple[str, float] | None:
            values = lingua.compute_language_confidence_values(text)
            if not values:
                return None
            return values[0].language.iso_code_639_1.name.lower(), float(values[0].value)

        return classify

    def preload(self) -> None:
        """Load lingua's models now (a few hundred ms) instead of on the first question."""
        _map_large_blocks()
        self.detect("This sentence warms up the language models.")
        _release_freed_heap()

    def detect(self, text: str, *, hint: str | None = None) -> Detection:
        if hint and is_chinese(hint):
            hint = normalize_code(hint)  # "zh-TW" from a locale or --language
        cleaned = strip_noise(text)
        counts = script_counts(cleaned)
        letters = sum(counts.values())
        by_script = self._by_script(counts)
        if by_script == "zh":
            return self._chinese(cleaned, hint)
        if by_script is not None:
            return Detection(by_script, "script", 1.0)
        words = _LETTER_WORD.findall(cleaned)
        if letters >= self._min_letters and len(words) >= 2:
            best = self._classify(cleaned)
            if best is not None and best[1] >= self._min_confidence:
                code, confidence = best
                if code in self._languages:
                    return Detection(code, "model", confidence)
        if hint and self.knows(hint):
            return Detection(hint, "hint", 0.0)
        return Detection(self._default, "default", 0.0)

    def classify(self, text: str) -> tuple[str, float] | None:
        """The model's most likely configured language for `text`, and its confidence."""
        best: tuple[str, float] | None = self._classify(text)
        return best

    def knows(self, code: str) -> bool:
        """Whether `code` is a configured language (either Chinese script when "zh" is)."""
        return code in self._languages or (is_chinese(code) and "zh" in self._languages)

    def _chinese(self, text: str, hint: str | None) -> Detection:
        """Chinese, in the script its characters show, else the hint's (the Slack locale)."""
        script = chinese_script(text)
        if script is not None:
            return Detection(script, "script", 1.0)
        if hint and is_chinese(hint):
            hinted = normalize_code(hint)
            if hinted in (HANT, HANS):
                return Detection(hinted, "script", 0.9)
        return Detection(HANS, "script", 0.5)

    def _by_script(self, counts: dict[str, int]) -> str | None:
        # Two characters of a distinctive script are a sentence in it, not a stray symbol.
        for script, code in _SCRIPT_LANGUAGES:
            if counts.get(script, 0) >= 2 and code in self._languages:
                return code
        if counts.get("HAN", 0) >= 2:
            if "zh" in self._languages:
                return "zh"
            if "ja" in self._languages:
                return "ja"
        return None


#: Below this confidence the model's answer gives way to the hint, then the default. Tuned
#: per model on the tuning half of tests/data/language_heldout.tsv (bench/language.py).
MIN_CONFIDENCE: dict[ModelName, float] = {"lingua": 0.3, "py3langid": 0.2}
#: Languages lingua knows and py3langid's model does not (tests check it against the model).
PY3LANGID_MISSING = frozenset({"mi", "nb", "tn", "ts"})


def _langid_classifier(languages: list[str]) -> Any:
    """py3langid restricted to `languages`, keeping only the restricted tables."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(languages)
    # set_languages keeps the full 97-language tables for a later reset, ~27 MB resident;
    # this detector is never widened again.
    identifier._full_model = (identifier.nb_ptc, identifier.nb_pc, identifier.nb_classes)

    def classify(text: str) -> tuple[str, float]:
        code, confidence = identifier.classify(text)
        return str(code), float(confidence)

    return classify


#: glibc's mallopt parameter for the size from which a block gets its own mapping.
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 128 * 1024


def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (mallopt, malloc_trim); None on musl or macOS."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def _map_large_blocks() -> None:
    """Give every block of 128 KiB or more its own mapping, returned to the OS when freed.

    glibc starts there but raises the threshold each time such a block is freed, so the
    large buffers lingua allocates and frees while loading its models end up in the heap
    between live model data, where they stay resident: 0-35 MB from run to run, on top
    of the ~150 MB of models. A fixed threshold (glibc's own starting value) keeps that
    at zero for the process's life; mapping a rare large block costs microseconds.
    """
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


def _release_freed_heap() -> None:
    """Give the OS back the heap pages lingua's loading freed below the mapping threshold
    (~5 MB after the Latin-script models; glibc would keep them)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
