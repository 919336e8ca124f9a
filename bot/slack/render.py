"""Safe rendering: model output and document text can never ping anyone or hide a link.

Slack parses `<!channel>`, `<@U123>`, `<#C1>` and `<url|label>` in message text, and
markdown renders `[label](url)`. Everything text-shaped we post goes through `neutralize`:
special sequences become visible, inert text, and `& < >` are escaped, so whatever the model
or a document says is shown, never executed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.messages import message
from bot.slack.vocabulary import (
    FEEDBACK_DOWN,
    FEEDBACK_TRANSLATION,
    FEEDBACK_UP,
    FeedbackValue,
    TranslationValue,
    show_translation_action,
)
from kernel.models import Citation

WORD_JOINER = "\u2060"  # invisible; breaks "@channel" so Slack cannot parse it

_ANGLE = re.compile(r"<([^<>\n]{1,500})>")
_MD_LINK = re.compile(r"\[([^\[\]\n]{0,300})\]\((\S{1,1000}?)\)")
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_BOLD = re.compile(r"\*\*(.+?)\*\*")

SECTION_LIMIT = 2900  # Slack: 3,000 characters per section text
MAX_SOURCES = 5


def _angle(match: re.Match[str]) -> str:
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith(("!subteam^",)):
        return "@" + WORD_JOINER + (label.lstrip("@") or "group")
    if target.startswith("!"):
        return "@" + WORD_JOINER + (label or target[1:].split("^")[0])
    if target.startswith("@"):
        return "@" + WORD_JOINER + (label or target[1:])
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if not re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
        return match.group(0)  # not Slack syntax: shown as typed (escaped below)
    if label and label != target:
        return f"{label} ({target})"
    return target


def _md_link(match: re.Match[str]) -> str:
    label, url = match.group(1), match.group(2)
    return url if not label or label == url else f"{label} ({url})"


def neutralize(text: str) -> str:
    """Inert, escaped text: no mentions, no broadcasts, no links whose label hides the URL."""
    text = _ANGLE.sub(_angle, text)
    text = _MD_LINK.sub(_md_link, text)
    text = _BROADCAST.sub(lambda m: "@" + WORD_JOINER + m.group(1), text)
    # A link the pattern cannot read (nested brackets, a label past its bound) stays live in
    # markdown unless "](" is broken.
    text = text.replace("](", "]" + WORD_JOINER + "(")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """Standard markdown (what streaming renders) to Slack mrkdwn (postMessage/update)."""
    return _BOLD.sub(r"*\1*", markdown)


class SafeStream:
    """Neutralizes streamed text, holding back a tail that might be half of a special sequence.

    A `<` without its `>`, a `[label](` without `)`, or a trailing `@chan` could be completed by
    the next delta; they wait (bounded) so the sequence is judged whole.
    """

    HOLD_LIMIT = 600

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, delta: str) -> str:
        self._pending += delta
        cut = self._safe_cut(self._pending)
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return neutralize(ready) if ready else ""

    def flush(self) -> str:
        ready, self._pending = self._pending, ""
        return neutralize(ready) if ready else ""

    def _safe_cut(self, text: str) -> int:
        cut = len(text)
        open_angle = text.rfind("<")
        if open_angle != -1 and ">" not in text[open_angle:]:
            cut = min(cut, open_angle)
        open_bracket = text.rfind("[")
        if open_bracket != -1 and not re.search(r"\]\([^)]*\)|\][^(]", text[open_bracket:]):
            cut = min(cut, open_bracket)
        if len(text) - cut > self.HOLD_LIMIT:
            cut = len(text)  # released as it is: neutralize() escapes what it cannot read
        # Whatever goes out must not end in something the next delta could complete outside
        # any one neutralize(): "@he" + "re", or "]" + "(https://...)".
        tail = re.search(r"@\w*\Z|\]\Z", text[:cut])
        if tail and cut - tail.start() <= self.HOLD_LIMIT:
            cut = tail.start()
        return cut


def split_text(text: str, limit: int) -> list[str]:
    """Split at paragraph, line or word boundaries into pieces of at most `limit` characters."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        # The coarsest boundary in the second half; text without one (CJK, a URL) is cut hard.
        cut = next(
            (at for sep in ("\n\n", "\n", " ") if (at := window.rfind(sep)) >= limit // 2),
            limit,
        )
        piece = rest[:cut].rstrip()
        if piece:  # Slack rejects an empty section
            pieces.append(piece)
        rest = rest[cut:].lstrip()
    if rest.strip():
        pieces.append(rest)
    return pieces


def sources_block(citations: Sequence[Citation], language: str) -> dict[str, Any] | None:
    if not citations:
        return None
    lines = [
        f"*[{c.number}]* {neutralize(c.title)} — `{neutralize(c.source)}`"
        + (f" ({neutralize(c.location)})" if c.location else "")
        for c in citations[:MAX_SOURCES]
    ]
    text = f"*{message('sources', language)}*\n" + "\n".join(lines)
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_LIMIT]}]}


def feedback_block(
    *, question_id: str, language: str, route: str, translation: bool = False
) -> dict[str, Any]:
    """👍 / 👎, plus "Translation was wrong" when a translation was involved."""
    value = FeedbackValue(question_id=question_id, language=language, route=route).encode()
    buttons = [(FEEDBACK_UP, "👍"), (FEEDBACK_DOWN, "👎")]
    if translation:
        buttons.append((FEEDBACK_TRANSLATION, message("translation_wrong", language)))
    return {
        "type": "actions",
        "block_id": f"feedback:{question_id}",
        "elements": [
            {
                "type": "button",
                "action_id": action,
                "text": {"type": "plain_text", "text": label, "emoji": True},
                "value": value,
            }
            for action, label in buttons
        ],
    }


def translation_block(citations: Sequence[Citation], language: str) -> dict[str, Any] | None:
    """ "Show translation" for each cited passage written in another language than the answer."""
    foreign = [
        c for c in citations[:MAX_SOURCES] if c.node_id and c.language and c.language != language
    ]
    if not foreign:
        return None
    return {
        "type": "actions",
        "block_id": "translations",
        "elements": [
            {
                "type": "button",
                "action_id": show_translation_action(c.number),
                "text": {
                    "type": "plain_text",
                    "text": message("show_translation", language, number=c.number),
                },
                "value": TranslationValue(
                    node_id=c.node_id, language=language, number=c.number
                ).encode(),
            }
            for c in foreign
        ],
    }


def context_blocks(label: str, mrkdwn: str) -> list[dict[str, Any]]:
    """A quiet, clearly separate block (the companion translation, the draft label)."""
    pieces = split_text(mrkdwn, SECTION_LIMIT) if mrkdwn else []
    blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text": f"*{label}*"}]}]
    blocks += [{"type": "context", "elements": [{"type": "mrkdwn", "text": p}]} for p in pieces[:8]]
    return blocks


def section_blocks(mrkdwn: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": piece}}
        for piece in split_text(mrkdwn, SECTION_LIMIT)
    ]
