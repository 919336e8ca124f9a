"""Block Kit as real Slack checks it: the block types the SDK can build and their limits."""

from __future__ import annotations

import inspect
import json
import uuid
from typing import Any

from slack_sdk.models.blocks import blocks as _sdk_blocks

from fakes.slack.records import _MENTION_RE, SlackApiFault

# Limits real Slack enforces (documented per method and block type).
MAX_TEXT = 40_000
MAX_MARKDOWN_TEXT = 12_000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3_000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2_000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BLOCK_ID = 255

# Taken from slack_sdk's own Block classes so the fake accepts exactly what the SDK can build.
KNOWN_BLOCK_TYPES = frozenset(
    kind
    for _, cls in inspect.getmembers(_sdk_blocks, inspect.isclass)
    if issubclass(cls, _sdk_blocks.Block) and isinstance(kind := getattr(cls, "type", None), str)
)


# --------------------------------------------------------------------------- validation


def _text_problems(obj: Any, ptr: str, limit: int, kinds: frozenset[str]) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in kinds:
        return [f"[ERROR] must be a {' or '.join(sorted(kinds))} text object [json-pointer:{ptr}]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"[ERROR] must be more than 0 characters [json-pointer:{ptr}/text]"]
    if len(text) > limit:
        return [f"[ERROR] must be less than {limit + 1} characters [json-pointer:{ptr}/text]"]
    return []


def _elements_problems(block: dict[str, Any], ptr: str, limit: int) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [f"[ERROR] missing required field: elements [json-pointer:{ptr}]"]
    if len(elements) > limit:
        return [f"[ERROR] no more than {limit} items allowed [json-pointer:{ptr}/elements]"]
    return []


_ANY_TEXT = frozenset({"plain_text", "mrkdwn"})
_PLAIN_TEXT = frozenset({"plain_text"})


def _block_problems(block: Any, ptr: str) -> list[str]:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return [f"[ERROR] missing required field: type [json-pointer:{ptr}]"]
    kind = block["type"]
    if kind not in KNOWN_BLOCK_TYPES:
        return [f"[ERROR] unsupported type: {kind} [json-pointer:{ptr}/type]"]
    problems: list[str] = []
    block_id = block.get("block_id")
    if isinstance(block_id, str) and len(block_id) > MAX_BLOCK_ID:
        problems.append(f"[ERROR] must be less than 256 characters [json-pointer:{ptr}/block_id]")
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            problems.append(f"[ERROR] must provide either text or fields [json-pointer:{ptr}]")
        if text is not None:
            problems += _text_problems(text, f"{ptr}/text", MAX_SECTION_TEXT, _ANY_TEXT)
        if isinstance(fields, list) and len(fields) > MAX_SECTION_FIELDS:
            problems.append(f"[ERROR] no more than 10 items allowed [json-pointer:{ptr}/fields]")
        elif isinstance(fields, list):
            for j, item in enumerate(fields):
                problems += _text_problems(item, f"{ptr}/fields/{j}", MAX_FIELD_TEXT, _ANY_TEXT)
    elif kind == "header":
        problems += _text_problems(block.get("text"), f"{ptr}/text", MAX_HEADER_TEXT, _PLAIN_TEXT)
    elif kind == "context":
        problems += _elements_problems(block, ptr, MAX_CONTEXT_ELEMENTS)
    elif kind == "actions":
        problems += _elements_problems(block, ptr, MAX_ACTIONS_ELEMENTS)
    elif kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or not text:
            problems.append(f"[ERROR] must be more than 0 characters [json-pointer:{ptr}/text]")
        elif len(text) > MAX_MARKDOWN_TEXT:
            problems.append(f"[ERROR] must be less than 12001 characters [json-pointer:{ptr}/text]")
    return problems


def validate_blocks(blocks: Any, *, limit: int = MAX_MESSAGE_BLOCKS) -> list[dict[str, Any]]:
    """Check blocks the way Slack does; raise ``invalid_blocks`` (with pointers) on failure."""
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            raise SlackApiFault("invalid_blocks_format") from None
    if not isinstance(blocks, list):
        raise SlackApiFault("invalid_blocks_format")
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"[ERROR] no more than {limit} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        problems += _block_problems(block, f"/blocks/{i}")
    if problems:
        raise SlackApiFault("invalid_blocks", messages=problems)
    return blocks


def rich_text_blocks(text: str) -> list[dict[str, Any]]:
    """The rich_text block Slack attaches to a user's message, mentions as user elements."""
    elements: list[dict[str, Any]] = []
    pos = 0
    for match in _MENTION_RE.finditer(text):
        if match.start() > pos:
            elements.append({"type": "text", "text": text[pos : match.start()]})
        elements.append({"type": "user", "user_id": match.group(1)})
        pos = match.end()
    if pos < len(text):
        elements.append({"type": "text", "text": text[pos:]})
    section = {"type": "rich_text_section", "elements": elements}
    return [{"type": "rich_text", "block_id": uuid.uuid4().hex[:5], "elements": [section]}]
