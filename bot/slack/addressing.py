"""Is a thread reply without a mention meant for the bot?

People talk to each other in the threads the bot answered ("<@U2> can you check?"). A reply
is answered without a mention only when it is addressed to the bot: it mentions no one else,
and it comes from the person who asked, or reads as a question. A channel setting
(`/dualnova settings followups ...`) picks the rule: `addressed` (default), `all` (every
reply, as before) or `mentions` (only replies that mention the bot).
"""

from __future__ import annotations

import re
from typing import Literal

FollowUps = Literal["addressed", "all", "mentions"]

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
#: @here, @channel, @everyone and user groups: talking to people, not to the bot.
_BROADCAST = re.compile(r"<!(?:here|channel|everyone|subteam\^[A-Z0-9]+)(?:\|[^>]*)?>")
#: A question mark in any script (Latin, full-width CJK, Arabic, Greek question mark).
_QUESTION_MARK = re.compile("[?？؟\u037e]")
#: Question endings of languages that often leave out the mark (Korean, Japanese).
_QUESTION_ENDING = re.compile(r"(?:까|나요|가요|죠|니|か|の)\s*[.。!！]?\s*$")
#: Opening words of a question, for the languages whose questions may lack the mark.
_QUESTION_START = re.compile(
    r"^\s*(?:what|how|why|when|where|who|which|can|could|is|are|does|do|should|will|would|"
    r"qué|que|cómo|como|por qué|cuándo|dónde|quién|cuál|"
    r"quoi|comment|pourquoi|quand|où|qui|quel|quelle|est-ce que|"
    r"was|wie|warum|wann|wo|wer|welche|welcher|welches)\b",
    re.IGNORECASE,
)


def reads_as_question(text: str) -> bool:
    body = _MENTION.sub(" ", text).strip()
    return bool(
        _QUESTION_MARK.search(body) or _QUESTION_ENDING.search(body) or _QUESTION_START.match(body)
    )


def addressed_to_bot(
    text: str,
    *,
    user: str,
    asker: str | None,
    bot_user_id: str | None,
    mode: FollowUps = "addressed",
) -> bool:
    """Whether to answer `user`'s reply `text` (which does not mention the bot)."""
    if mode == "all":
        return True
    if mode == "mentions":
        return False
    others = {m for m in _MENTION.findall(text) if m != bot_user_id}
    if others or _BROADCAST.search(text):
        return False
    return user == asker or reads_as_question(text)
