"""Token arithmetic without a tokenizer: estimates for budgets, cache points and maxTokens.

Bedrock counts tokens with each model's own tokenizer and reports them only afterwards; the
bot needs a number before the call (what to reserve from a budget, whether a prompt prefix
reaches the cache minimum, how long a translation may be). About four characters a token for
Latin script and one a character for Hangul, kana and CJK ideographs is close enough for Nova.
"""

from __future__ import annotations

import math

#: Nova caches a checkpoint only when the prompt before it is at least this many tokens;
#: below it the request succeeds and nothing is cached.
CACHE_MIN_TOKENS = 1_000


def _wide(ch: str) -> bool:
    code = ord(ch)
    return (
        0x1100 <= code <= 0x11FF
        or 0x3040 <= code <= 0x30FF
        or 0x3130 <= code <= 0x318F
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF66 <= code <= 0xFF9F
    )


def estimate_tokens(text: str) -> int:
    """Rough token count: one per CJK/Hangul character, one per four other characters."""
    wide = sum(1 for ch in text if _wide(ch))
    return wide + math.ceil((len(text) - wide) / 4)
