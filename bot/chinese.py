"""Chinese has two scripts: tell Traditional (zh-Hant) from Simplified (zh-Hans).

Everywhere past detection the language of a Chinese question is `zh-Hant` or `zh-Hans`
(Pro's instruction, Micro's translation target, the fixed sentences, glossary forms);
configuration keeps plain `zh` for "Chinese, either script". The text decides first:
about 3,500 characters exist only in Traditional and 2,600 only in Simplified
(`bot/zh_script_chars.py`, from OpenCC's tables; OpenCC itself would add ~31 MB). Text
without such a character ("好的", "谢谢" is Simplified, "你好" is both) takes the Slack
locale (zh-TW, zh-HK, zh-MO -> Traditional; zh-CN, zh-SG -> Simplified), then Simplified.
"""

from __future__ import annotations

from bot.zh_script_chars import HANS_ONLY, HANT_ONLY

HANT = "zh-Hant"
HANS = "zh-Hans"
_HANT_REGIONS = frozenset({"tw", "hk", "mo", "hant"})
_HANS_REGIONS = frozenset({"cn", "sg", "my", "hans"})


def is_chinese(code: str | None) -> bool:
    return bool(code) and base_language(code or "") == "zh"


def base_language(code: str) -> str:
    """The ISO 639-1 part: "zh-Hant" -> "zh", "pt-BR" -> "pt"."""
    return code.replace("_", "-").split("-", 1)[0].lower()


def normalize_code(code: str) -> str:
    """A user- or Slack-given code in the form the bot uses: "zh-hant", "zh_TW" -> "zh-Hant"."""
    parts = code.strip().replace("_", "-").lower().split("-")
    if parts[0] != "zh":
        return parts[0]
    regions = set(parts[1:])
    if regions & _HANT_REGIONS:
        return HANT
    if regions & _HANS_REGIONS:
        return HANS
    return "zh"


def locale_language(locale: str | None) -> str | None:
    """A Slack locale as a language hint: "ko-KR" -> "ko", "zh-TW" -> "zh-Hant"."""
    return normalize_code(locale) if locale else None


def chinese_script(text: str) -> str | None:
    """HANT or HANS when the text has more characters of one script than of the other."""
    hant = hans = 0
    for char in text:
        if char in HANT_ONLY:
            hant += 1
        elif char in HANS_ONLY:
            hans += 1
    if hant > hans:
        return HANT
    if hans > hant:
        return HANS
    return None


def catalogue_code(language: str) -> str:
    """The key of a language in the written catalogues: Simplified is the plain "zh" there."""
    code = normalize_code(language) if is_chinese(language) else language
    return "zh" if code in ("zh", HANS) else code
