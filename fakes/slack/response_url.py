"""The response_url of slash commands and interactions: 30 minutes, 5 uses."""

from __future__ import annotations

import copy
import time
import uuid
from typing import Any

from aiohttp import web

from fakes.slack.records import (
    Edit,
    Ephemeral,
    ResponsePost,
    SlackApiFault,
    _opt_str,
    _ResponseTarget,
    _truthy,
)


class ResponseUrls:
    """Mixed into `FakeSlack`, whose lock, state and helpers these methods use."""

    def _new_response_url(
        self, channel: str | None, user: str | None, message_ts: str | None, envelope_id: str
    ) -> str:
        rid = uuid.uuid4().hex
        with self._lock:
            self._response_targets[rid] = _ResponseTarget(channel, user, message_ts, envelope_id)
        return f"{self.base_url}response/{rid}"

    # ----------------------------------------------------------------- response_url (fake loop)

    async def _response_url(self, request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        with self._lock:
            target = self._response_targets.get(rid)
            error = "expired_url" if target is None else self._spend_response_url(rid, target)
            if error is not None:
                return web.json_response({"ok": False, "error": error}, status=404)
            self._response_posts.append(
                ResponsePost(rid, target.envelope_id, copy.deepcopy(body), time.monotonic())
            )
            try:
                self._apply_response(target, body)
            except SlackApiFault as fault:
                return web.json_response(fault.body(), status=fault.status)
        return web.json_response({"ok": True})

    def _apply_response(self, target: _ResponseTarget, body: dict[str, Any]) -> None:
        original = self._by_ts.get((target.channel or "", target.message_ts or ""))
        if _truthy(body.get("delete_original")):
            if original is not None:
                self._delete(original)
            return
        text, blocks = self._content(body)
        if _truthy(body.get("replace_original")) and original is not None:
            original.text = text or ""
            original.blocks = blocks
            original.edits.append(Edit(time.monotonic(), self._next_ts(), original.text, blocks))
        elif body.get("response_type") == "in_channel" and target.channel:
            thread_ts = self._thread_parent(target.channel, _opt_str(body, "thread_ts"))
            self._store(
                target.channel,
                text=text or "",
                user=self.bot_user_id,
                bot_id=self.bot_id,
                thread_ts=thread_ts,
                blocks=blocks,
            )
        elif target.channel:
            self._ephemerals.append(
                Ephemeral(
                    target.channel,
                    target.user,
                    self._next_ts(),
                    text or "",
                    blocks,
                    _opt_str(body, "thread_ts"),
                    via="response_url",
                )
            )

    def _spend_response_url(self, rid: str, target: _ResponseTarget) -> str | None:
        """None when the URL may post now (and counts the use); else Slack's error."""
        if time.monotonic() - target.created_at > self.response_url_ttl_s:
            return "expired_url"
        used = self._response_uses.get(rid, 0)
        if used >= self.response_url_uses:
            return "used_url"
        self._response_uses[rid] = used + 1
        return None
