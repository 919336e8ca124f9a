"""chat.* (post, update, ephemeral, delete, permalink, streams) and reactions.*."""

from __future__ import annotations

import time
from typing import Any

from fakes.slack.blocks import validate_blocks
from fakes.slack.records import (
    Args,
    Edit,
    Ephemeral,
    Message,
    SlackApiFault,
    _missing,
    _opt_str,
    channel_type,
)


class ChatApi:
    """Mixed into `FakeSlack`, whose lock, state and helpers these methods use."""

    def _chat_post_message(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        text, blocks = self._content(args)
        thread_ts = self._thread_parent(channel, _opt_str(args, "thread_ts"))
        message = self._store(
            channel,
            text=text or "",
            user=self.bot_user_id,
            bot_id=self.bot_id,
            thread_ts=thread_ts,
            blocks=blocks,
            metadata=args.get("metadata"),
        )
        self._clear_status(channel, thread_ts)
        return {"channel": channel, "ts": message.ts, "message": self._wire(message)}

    def _updatable(self, args: Args) -> tuple[str, Message]:
        """The channel and the bot's own message that ``ts`` names (else Slack's error)."""
        channel = self._channel(args)
        message = self._find(channel, _opt_str(args, "ts"))
        self._own(message, "cant_update_message")
        return channel, message

    def _chat_update(self, args: Args) -> dict[str, Any]:
        channel, message = self._updatable(args)
        text, blocks = self._content(args)
        # Omitted fields keep their previous value; an empty blocks list removes blocks.
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = blocks or None
        if "metadata" in args:
            message.metadata = args["metadata"]
        message.edits.append(Edit(time.monotonic(), self._next_ts(), message.text, message.blocks))
        return {
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": self._wire(message),
        }

    def _chat_post_ephemeral(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        user = _opt_str(args, "user")
        if user is None:
            raise SlackApiFault("user_not_found")
        if not channel.startswith("D") and user not in self._people.get(channel, set()):
            raise SlackApiFault("user_not_in_channel")
        text, blocks = self._content(args)
        thread_ts = self._thread_parent(channel, _opt_str(args, "thread_ts"))
        ts = self._next_ts()
        self._ephemerals.append(
            Ephemeral(channel, user, ts, text or "", blocks, thread_ts, via="api")
        )
        return {"message_ts": ts}

    def _chat_delete(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find(channel, _opt_str(args, "ts"))
        self._own(message, "cant_delete_message")
        self._delete(message)
        return {"channel": channel, "ts": message.ts}

    def _delete(self, message: Message) -> None:
        self._channels[message.channel].remove(message)
        del self._by_ts[(message.channel, message.ts)]

    def _chat_get_permalink(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find(channel, _opt_str(args, "message_ts"))
        link = f"https://fake.slack.com/archives/{channel}/p{message.ts.replace('.', '')}"
        return {"channel": channel, "permalink": link}

    def _chat_start_stream(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        thread_ts = _opt_str(args, "thread_ts")
        if thread_ts is None:
            raise _missing("thread_ts")
        refused = self.refuse_streaming
        if refused is True or (isinstance(refused, set) and channel in refused):
            raise SlackApiFault("channel_type_not_supported")
        recipient_user = _opt_str(args, "recipient_user_id")
        recipient_team = _opt_str(args, "recipient_team_id")
        if channel_type(channel) != "im" and not (recipient_user and recipient_team):
            raise _missing("recipient_user_id" if not recipient_user else "recipient_team_id")
        parent = self._thread_parent(channel, thread_ts)
        text, others = self._stream_content(args)
        message = self._store(
            channel,
            text=text,
            user=self.bot_user_id,
            bot_id=self.bot_id,
            thread_ts=parent,
            streamed=True,
            streaming=True,
            stream_parts=[text] if text else [],
            stream_chunks=others,
            recipient_user_id=recipient_user,
            recipient_team_id=recipient_team,
        )
        self._clear_status(channel, parent)
        return {"channel": channel, "ts": message.ts}

    def _chat_append_stream(self, args: Args) -> dict[str, Any]:
        channel, message = self._updatable(args)
        self._streaming(message)
        self._extend_stream(message, args)
        return {"channel": channel, "ts": message.ts}

    def _chat_stop_stream(self, args: Args) -> dict[str, Any]:
        channel, message = self._updatable(args)
        self._streaming(message)
        blocks = args.get("blocks")
        if blocks is not None:
            blocks = validate_blocks(blocks)
        self._extend_stream(message, args)
        if blocks:
            message.blocks = blocks
        if args.get("metadata") is not None:
            message.metadata = args["metadata"]
        message.streaming = False
        return {"channel": channel, "ts": message.ts, "message": self._wire(message)}

    def _extend_stream(self, message: Message, args: Args) -> None:
        text, others = self._stream_content(args)
        if text:
            message.text += text
            message.stream_parts.append(text)
        message.stream_chunks.extend(others)
        message.last_activity = time.monotonic()

    def _reactions_add(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find(channel, _opt_str(args, "timestamp"))
        name = _opt_str(args, "name")
        if name is None:
            raise SlackApiFault("invalid_name")
        users = message.reactions.setdefault(name.strip(":"), set())
        if self.bot_user_id in users:
            raise SlackApiFault("already_reacted")
        users.add(self.bot_user_id)
        return {}

    def _reactions_remove(self, args: Args) -> dict[str, Any]:
        channel = self._channel(args)
        message = self._find(channel, _opt_str(args, "timestamp"))
        name = (_opt_str(args, "name") or "").strip(":")
        users = message.reactions.get(name, set())
        if self.bot_user_id not in users:
            raise SlackApiFault("no_reaction")
        users.discard(self.bot_user_id)
        return {}
