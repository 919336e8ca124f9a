"""Multilingual tokenization for BM25.

bm25s's default (and so LlamaIndex's BM25Retriever) splits on `\\b\\w\\w+\\b` and stems
English: a Korean or Japanese sentence becomes one unsearchable token. Here words in
scripts written without spaces (Han, kana) and agglutinative Hangul words are indexed as
character bigrams, so "연차는" and "연차" share "연차"; Latin words get light plural folding.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)
_CJK = re.compile(
    r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+"
)

_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "there",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "about",
        "any",
        "have",
        "has",
        "get",
        "got",
        "please",
    ]
)


def _fold_plural(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


#: Korean particles and verb endings, longest first. Stripped from the end of a Hangul word
#: before it is cut into bigrams: otherwise "데이터는" and "리전에" index grammar ("터는",
#: "전에") that matches every Korean page, and outweighs the words that carry the question.
_KO_ENDINGS = (
    "입니다 습니다 합니다 됩니다 인가요 이에요 이예요 예요 에요 나요 까요 해요 어요 아요 세요 되나요 "
    "하나요 는데 에서 에게 한테 으로 로는 이나 부터 까지 마다 처럼 은 는 이 가 을 를 에 의 도 로 와 과 요"
)
_KO_SUFFIXES = tuple(sorted(_KO_ENDINGS.split(), key=len, reverse=True))
#: Hangul words that only ask ("how", "what", "is it possible") and match any Korean page.
_KO_QUESTION_WORDS = (
    "어떻게 뭐예요 뭔가요 무엇인가요 무엇 어디 어디예요 언제 언제예요 얼마 얼마나 몇 며칠 "
    "있나요 있어요 되나요 돼요 해야 하나요 하면 나면 수 할 주나요 것 거 안에 전에"
)
_KO_STOPWORDS = frozenset(_KO_QUESTION_WORDS.split())
_KO_SUFFIX_SET = frozenset(_KO_SUFFIXES)
_HIRAGANA = re.compile(r"^[\u3040-\u309f]+$")
_HANGUL = re.compile(r"^[\uac00-\ud7af]+$")


def _korean_stem(word: str) -> str:
    """The word without its particle or ending; "" for a word that is only grammar. A
    one-syllable particle is stripped only from a longer stem: "휴가" is vacation, not "휴"+가."""
    if word in _KO_STOPWORDS or word in _KO_SUFFIX_SET:
        return ""
    for suffix in _KO_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= (2 if len(suffix) == 1 else 1):
            stem = word[: -len(suffix)]
            return "" if stem in _KO_STOPWORDS else stem
    return word


def _cjk_tokens(run: str) -> list[str]:
    """Bigrams of a CJK/Hangul run, without its grammar: a Korean word's particle or ending,
    and Japanese bigrams written only in hiragana (particles, okurigana: "ます", "され")."""
    if _HANGUL.match(run):
        run = _korean_stem(run)
        return _bigrams(run) if run else []
    return [b for b in _bigrams(run) if len(run) == 1 or not _HIRAGANA.match(b)]


def tokenize(text: str) -> list[str]:
    """Tokens for BM25: lowercased words, CJK/Hangul runs as bigrams, no stopwords."""
    normalized = unicodedata.normalize("NFKC", text).lower()
    tokens: list[str] = []
    for word in _WORD.findall(normalized):
        pos = 0
        for match in _CJK.finditer(word):
            tokens.extend(_latin_part(word[pos : match.start()]))
            tokens.extend(_cjk_tokens(match.group()))
            pos = match.end()
        tokens.extend(_latin_part(word[pos:]))
    return tokens


def _latin_part(part: str) -> list[str]:
    if len(part) < 2 or part in _STOPWORDS or (part.isdigit() and len(part) > 6):
        return [part] if part.isdigit() and 0 < len(part) <= 6 else []
    return [_fold_plural(part)]
