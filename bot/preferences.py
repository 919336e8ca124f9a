"""Recognising "answer me in Japanese" (and "answer in auto" to reset) in a message.

A small, explicit grammar rather than a model call: it is cheap, predictable and works
offline. Names are accepted in English and in the language itself.
"""

from __future__ import annotations

import re

from bot.chinese import HANS, HANT
from bot.messages import language_name

#: Native names (lowercase) for the languages the bot speaks; English names come from lingua.
NATIVE_NAMES: dict[str, tuple[str, ...]] = {
    "en": (
        "english",
        "영어",
        "英語",
        "英文",
        "inglés",
        "englisch",
        "anglais",
        "tiếng anh",
        "inglês",
    ),
    "ko": (
        "korean",
        "한국어",
        "한국말",
        "韓国語",
        "韩语",
        "coreano",
        "koreanisch",
        "coréen",
        "tiếng hàn",
    ),
    "ja": (
        "japanese",
        "日本語",
        "일본어",
        "日语",
        "japonés",
        "japanisch",
        "japonais",
        "tiếng nhật",
        "japonês",
    ),
    HANT: ("traditional chinese", "繁體中文", "繁体中文", "正體中文", "繁體", "繁体字", "번체"),
    HANS: ("simplified chinese", "简体中文", "簡體中文", "简体", "간체"),
    "zh": (
        "chinese",
        "中文",
        "汉语",
        "中国語",
        "중국어",
        "chino",
        "chinesisch",
        "chinois",
        "tiếng trung",
    ),
    "es": (
        "spanish",
        "español",
        "스페인어",
        "スペイン語",
        "西班牙语",
        "spanisch",
        "espagnol",
        "espanhol",
    ),
    "de": ("german", "deutsch", "독일어", "ドイツ語", "德语", "alemán", "allemand", "alemão"),
    "fr": (
        "french",
        "français",
        "프랑스어",
        "フランス語",
        "法语",
        "francés",
        "französisch",
        "francês",
    ),
    "vi": ("vietnamese", "tiếng việt", "베트남어", "ベトナム語", "越南语", "vietnamita"),
    "pt": (
        "portuguese",
        "português",
        "포르투갈어",
        "ポルトガル語",
        "葡萄牙语",
        "portugués",
        "portugiesisch",
    ),
    "it": ("italian", "italiano", "이탈리아어", "イタリア語", "意大利语", "italienisch", "italien"),
    "id": ("indonesian", "bahasa indonesia", "인도네시아어", "インドネシア語", "印尼语"),
    "th": ("thai", "ภาษาไทย", "태국어", "タイ語", "泰语", "tailandés"),
}
AUTO_WORDS = (
    "auto",
    "automatic",
    "automatically",
    "자동",
    "自動",
    "自动",
    "automático",
    "automatisch",
)

_LATIN = re.compile(
    r"^\s*(?:please\s+)?(?:always\s+)?(?:answer|reply|respond|talk|write|speak)(?:\s+to)?(?:\s+me)?\s+in\s+"
    r"(?P<name>[\w\s]+?)(?:\s+(?:please|from now on|only))?[\s.!]*$"
    r"|^\s*(?:responde(?:me)?|contesta(?:me)?|antworte(?:\s+mir)?|réponds(?:-moi)?|trả lời)\s+(?:en|auf|bằng)\s+"
    r"(?P<name2>[\w\s]+?)[\s.!]*$",
    re.IGNORECASE,
)
_CJK = re.compile(
    r"^\s*(?P<name>\S+?)(?:로|으로|で|用)\s*(?:답|대답|답변|答え|回答|返答|回复|回答我)"
)


def _code_for(name: str, known: list[str]) -> str | None:
    name = name.strip().casefold()
    if name in AUTO_WORDS:
        return "auto"
    # Configured "zh" means either script; each has its own name.
    candidates: list[str] = [*known, *((HANT, HANS) if "zh" in known else ())]
    for code in candidates:
        names = {language_name(code).casefold(), code, *NATIVE_NAMES.get(code, ())}
        if name in names:
            return code
    return None


def parse_language_request(text: str, *, known: list[str]) -> str | None:
    """ "ja" for "answer me in Japanese" / "日本語で答えて", "auto" for a reset, else None."""
    stripped = re.sub(r"<@[A-Z0-9]+>", "", text).strip()
    if len(stripped) > 80:
        return None  # a real question that happens to contain the words
    match = _LATIN.match(stripped)
    if match:
        return _code_for(match.group("name") or match.group("name2") or "", known)
    match = _CJK.match(stripped)
    if match:
        return _code_for(match.group("name"), known)
    return None
