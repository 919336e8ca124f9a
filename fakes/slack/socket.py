"""Socket Mode: pushing events, commands and interactions as envelopes, and their acks."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from fakes.slack.records import (
    _MENTION_RE,
    _SUBSCRIPTION_FOR,
    Ack,
    Delivery,
    Target,
    _Connection,
    _inside_event_loop,
)


class SocketMode:
    """Mixed into `FakeSlack`, whose lock, state and helpers these methods use."""

    # ----------------------------------------------------------------- pushing envelopes

    def post_user_message(
        self,
        channel: str,
        user: str,
        text: str,
        thread_ts: str | None = None,
        *,
        to: Target = "one",
        timeout: float | None = None,
    ) -> str:
        """Store a user's message and push its ``message`` / ``app_mention`` events.

        Returns the message ts. Events follow ``subscriptions``: ``message.<type>`` for the
        channel's type, and ``app_mention`` when the text mentions the bot outside a DM.
        """
        ts = self.add_message(channel, user, text, thread_ts)
        with self._lock:
            stored = self._by_ts[(channel, ts)]
            parent = self._by_ts.get((channel, stored.thread_ts)) if stored.thread_ts else None
            base: dict[str, Any] = {
                "user": user,
                "text": text,
                "ts": ts,
                "channel": channel,
                "event_ts": ts,
                "team": self.team_id,
                "client_msg_id": str(uuid.uuid4()),
                "blocks": copy.deepcopy(stored.blocks),
            }
            if stored.thread_ts:
                base["thread_ts"] = stored.thread_ts
                base["parent_user_id"] = parent.user if parent else None
            ctype = self.conversation_type(channel)
            events: list[dict[str, Any]] = []
            if _SUBSCRIPTION_FOR[ctype] in self.subscriptions:
                events.append({"type": "message", **base, "channel_type": ctype})
            mentioned = self.bot_user_id in _MENTION_RE.findall(text)
            if mentioned and ctype != "im" and "app_mention" in self.subscriptions:
                mention = {k: v for k, v in base.items() if k != "parent_user_id"}
                events.append({"type": "app_mention", **mention})
        for event in events:
            self.push_event(event, to=to, timeout=timeout)
        return ts

    def push_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        to: Target = "one",
        timeout: float | None = None,
    ) -> str:
        """Wrap ``event`` in an ``events_api`` envelope, push it; return the envelope id."""
        event = copy.deepcopy(event)
        if "ts" in event:
            event.setdefault("event_ts", event["ts"])
        self._join_for_event(event)
        envelope = {
            "envelope_id": str(uuid.uuid4()),
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
            "payload": {
                "token": self.verification_token,
                "team_id": self.team_id,
                "context_team_id": self.team_id,
                "context_enterprise_id": None,
                "api_app_id": self.app_id,
                "event": event,
                "type": "event_callback",
                "event_id": event_id or "Ev" + uuid.uuid4().hex[:10].upper(),
                "event_time": int(float(event.get("event_ts") or time.time())),
                "authorizations": [
                    {
                        "enterprise_id": None,
                        "team_id": self.team_id,
                        "user_id": self.bot_user_id,
                        "is_bot": True,
                        "is_enterprise_install": False,
                    }
                ],
                "is_ext_shared_channel": False,
                "event_context": "4-" + uuid.uuid4().hex,
            },
        }
        return self.push_raw(envelope, to=to, timeout=timeout)

    def push_slash_command(
        self,
        command: str,
        text: str,
        user_id: str,
        channel_id: str,
        *,
        to: Target = "one",
        timeout: float | None = None,
        **fields: str,
    ) -> str:
        """Push a ``slash_commands`` envelope; its response_url posts land in the fake."""
        envelope_id = str(uuid.uuid4())
        payload = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": "fake",
            "channel_id": channel_id,
            "channel_name": channel_id.lower(),
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self._new_response_url(channel_id, user_id, None, envelope_id),
            "trigger_id": self._trigger_id(),
            **fields,
        }
        envelope = {
            "envelope_id": envelope_id,
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": payload,
        }
        return self.push_raw(envelope, to=to, timeout=timeout)

    def push_interactive(
        self, payload: dict[str, Any], *, to: Target = "one", timeout: float | None = None
    ) -> str:
        """Push an ``interactive`` envelope; missing token/team/app/response_url are filled."""
        if "type" not in payload:
            raise ValueError("interactive payloads need a type (block_actions, ...)")
        payload = copy.deepcopy(payload)
        envelope_id = str(uuid.uuid4())
        channel = payload.get("channel") or {}
        user = payload.get("user") or {}
        message = payload.get("message") or {}
        container = payload.get("container") or {}
        message_ts = message.get("ts") or container.get("message_ts")
        if message_ts and "container" not in payload:
            payload["container"] = {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel.get("id"),
                "is_ephemeral": False,
            }
        payload.setdefault("token", self.verification_token)
        payload.setdefault("team", {"id": self.team_id, "domain": "fake"})
        payload.setdefault("api_app_id", self.app_id)
        payload.setdefault("is_enterprise_install", False)
        payload.setdefault("enterprise", None)
        payload.setdefault("trigger_id", self._trigger_id())
        if payload["type"] in {"block_actions", "message_action"} and channel:
            payload.setdefault(
                "response_url",
                self._new_response_url(channel.get("id"), user.get("id"), message_ts, envelope_id),
            )
        envelope = {
            "envelope_id": envelope_id,
            "type": "interactive",
            # Only these interactions may carry a response in the ack.
            "accepts_response_payload": payload["type"] in {"view_submission", "block_suggestion"},
            "payload": payload,
        }
        return self.push_raw(envelope, to=to, timeout=timeout)

    def push_block_action(
        self,
        action_id: str,
        *,
        user: str,
        channel: str,
        message_ts: str,
        value: str | None = None,
        block_id: str = "actions",
        action_type: str = "button",
        to: Target = "one",
    ) -> str:
        """A user clicking an element of a stored message (the full message is attached)."""
        with self._lock:
            stored = self._by_ts.get((channel, message_ts))
            message = self._wire(stored) if stored else {"type": "message", "ts": message_ts}
        action: dict[str, Any] = {
            "type": action_type,
            "action_id": action_id,
            "block_id": block_id,
            "action_ts": f"{time.time():.6f}",
        }
        if value is not None:
            action["value"] = value
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "channel": {"id": channel, "name": channel.lower()},
            "message": message,
            "actions": [action],
            "state": {"values": {}},
        }
        return self.push_interactive(payload, to=to)

    def push_raw(
        self, envelope: dict[str, Any], *, to: Target = "one", timeout: float | None = None
    ) -> str:
        """Send an envelope as-is to one connection (round-robin), ``"all"``, or a conn id.

        Waits up to ``timeout`` (default 5 s) for a connection; from inside an event loop the
        default is 0, because the app that should connect may be waiting for this very loop.
        """
        if timeout is None:
            timeout = 0.0 if _inside_event_loop() else 5.0
        with self._lock:
            envelope_id = str(envelope["envelope_id"])
            self._envelopes[envelope_id] = copy.deepcopy(envelope)
        return self._run(self._deliver(envelope, to, timeout), timeout=timeout + 10)

    def redeliver(
        self,
        envelope_id: str,
        retry_attempt: int = 1,
        retry_reason: str = "timeout",
        *,
        to: Target = "one",
        timeout: float | None = None,
    ) -> str:
        """Resend an envelope as Slack's retry: same payload and event_id, new envelope id."""
        with self._lock:
            original = self._envelopes.get(envelope_id)
            if original is None:
                raise KeyError(envelope_id)
            envelope = copy.deepcopy(original)
        envelope.update(
            envelope_id=str(uuid.uuid4()), retry_attempt=retry_attempt, retry_reason=retry_reason
        )
        return self.push_raw(envelope, to=to, timeout=timeout)

    def drop_socket(self, *, graceful: bool = False) -> None:
        """Close every client socket: abruptly (TCP abort) or with a WebSocket close frame."""
        self._run(self._drop(graceful=graceful), timeout=15)

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``{"type": "disconnect"}`` warning to every connection."""
        frame = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
        self._run(self._broadcast(json.dumps(frame)), timeout=10)

    @staticmethod
    def _trigger_id() -> str:
        return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"

    # ----------------------------------------------------------------- socket mode (fake loop)

    async def _link(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            if request.query.get("ticket") not in self._tickets:
                return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        ws = web.WebSocketResponse(autoping=True)  # autoping: answer the SDK's pings with pongs
        await ws.prepare(request)
        with self._lock:
            conn = _Connection(next(self._conn_ids), ws, request, time.monotonic())
            self._conns[conn.id] = conn
            self._sockets_accepted += 1
            live = sum(1 for c in self._conns.values() if not c.ws.closed)
        hello = {
            "type": "hello",
            "num_connections": live,
            "debug_info": {
                "host": "applink-fake",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        try:
            await ws.send_str(json.dumps(hello))
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self._on_client_frame(conn, frame.data)
        except ConnectionError:
            pass  # dropped mid-frame (drop_socket, or the client went away): the socket is done
        finally:
            with self._lock:
                self._conns.pop(conn.id, None)
        return ws

    def _on_client_frame(self, conn: _Connection, data: str) -> None:
        now = time.monotonic()
        try:
            frame = json.loads(data)
        except ValueError:
            frame = None
        with self._lock:
            if not isinstance(frame, dict) or "envelope_id" not in frame:
                self._socket_messages.append(frame if frame is not None else data)
                return
            envelope_id = str(frame["envelope_id"])
            sent_at = self._sent_at.get(envelope_id)
            ack = Ack(
                envelope_id,
                now,
                None if sent_at is None else now - sent_at,
                frame.get("payload"),
                conn.id,
            )
            self._ack_log.append(ack)
            self._acks.setdefault(envelope_id, ack)

    def _live(self) -> list[_Connection]:
        with self._lock:
            return [c for c in self._conns.values() if not c.ws.closed]

    async def _deliver(self, envelope: dict[str, Any], to: Target, wait_s: float) -> str:
        envelope_id = str(envelope["envelope_id"])
        deadline = time.monotonic() + wait_s
        while not self._live():
            if time.monotonic() >= deadline:
                raise ConnectionError("no Socket Mode connection to push to")
            await asyncio.sleep(0.01)
        live = self._live()
        if to == "all":
            targets = live
        elif isinstance(to, int):
            targets = [c for c in live if c.id == to]
        else:  # round-robin, falling over to the next socket if a send fails
            start = next(self._round_robin)
            targets = [live[(start + i) % len(live)] for i in range(len(live))]
        raw = json.dumps(envelope)
        sent = 0
        for conn in targets:
            try:
                await conn.ws.send_str(raw)
            except (ConnectionError, RuntimeError):
                continue
            now = time.monotonic()
            with self._lock:
                self._sent_at.setdefault(envelope_id, now)
                self._deliveries.append(
                    Delivery(envelope_id, str(envelope.get("type")), conn.id, now, envelope)
                )
            sent += 1
            if to == "one":
                break
        if not sent:
            raise ConnectionError("no Socket Mode connection accepted the envelope")
        if self.auto_redeliver and envelope.get("type") == "events_api":
            asyncio.get_running_loop().create_task(self._redeliver_unacked(envelope))
        return envelope_id

    async def _redeliver_unacked(self, envelope: dict[str, Any]) -> None:
        await asyncio.sleep(self.ack_timeout_s)
        attempt = int(envelope.get("retry_attempt") or 0) + 1
        with self._lock:
            if envelope["envelope_id"] in self._acks or attempt > 3:
                return
            retry = {
                **copy.deepcopy(envelope),
                "envelope_id": str(uuid.uuid4()),
                "retry_attempt": attempt,
                "retry_reason": "timeout",
            }
            self._envelopes[retry["envelope_id"]] = retry
        with contextlib.suppress(ConnectionError):
            await self._deliver(retry, "one", wait_s=self.ack_timeout_s)

    async def _drop(self, *, graceful: bool) -> None:
        for conn in self._live():
            if graceful:
                await conn.ws.close(code=1001, message=b"going away")
            elif conn.request.transport is not None:
                conn.request.transport.abort()
            else:
                await conn.ws.close()

    async def _broadcast(self, raw: str) -> None:
        for conn in self._live():
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.send_str(raw)
