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


def tokenize(text: str) -> list[str]:
    """Tokens for BM25: lowercased words, CJK/Hangul runs as bigrams, no stopwords."""
    normalized = unicodedata.normalize("NFKC", text).lower()
    tokens: list[str] = []
    for word in _WORD.findall(normalized):
        pos = 0
        for match in _CJK.finditer(word):
            tokens.extend(_latin_part(word[pos : match.start()]))
            tokens.extend(_bigrams(match.group()))
            pos = match.end()
        tokens.extend(_latin_part(word[pos:]))
    return tokens


def _latin_part(part: str) -> list[str]:
    if len(part) < 2 or part in _STOPWORDS or (part.isdigit() and len(part) > 6):
        return [part] if part.isdigit() and 0 < len(part) <= 6 else []
    return [_fold_plural(part)]
