"""After delivery: an answer the guard found in the wrong language is replaced by its
translation (`bot.answer_language`), so the thread shows one answer, in the asker's language;
an answer held back on a wrong first sentence but right in the end loses the guard's note.

The streamed message already ends with the translation (the pipeline appends it), so if
the edit fails the asker still has it; the edit removes the wrong-language text above it.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.pipeline import AnswerStream
from bot.slack.delivery import MAX_BLOCKS, Delivered, Target
from bot.slack.render import neutralize, section_blocks, to_mrkdwn

log = logging.getLogger(__name__)


async def replace_wrong_language(
    *,
    client: AsyncWebClient,
    target: Target,
    delivered: Delivered,
    stream: AnswerStream,
    footer: list[dict[str, Any]],
) -> bool:
    """chat.update the answer to its final text (the translation, or the answer without the
    guard's note when the end found it right after all); True when the message was edited."""
    if not stream.rewritten or len(delivered.timestamps) != 1:
        return False  # nothing to edit, or a long answer already continued in new messages
    body = to_mrkdwn(neutralize(stream.text))
    blocks = section_blocks(body)[: MAX_BLOCKS - len(footer)] + footer
    try:
        await client.chat_update(
            channel=target.channel, ts=delivered.timestamps[0], text=body, blocks=blocks
        )
    except SlackApiError as exc:
        log.warning(
            "wrong-language answer not replaced; its translation follows it",
            extra={"error": exc.response.get("error"), "pair": stream.language_mismatch},
        )
        return False
    return True
