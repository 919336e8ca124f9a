"""assistant.threads.* (status, suggested prompts, title)."""

from __future__ import annotations

from typing import Any

from fakes.slack.records import Args, AssistantThread, _missing, _opt_str


class AssistantApi:
    """Mixed into `FakeSlack`, whose lock, state and helpers these methods use."""

    def _assistant_thread(self, args: Args) -> AssistantThread:
        channel = self._channel(args, "channel_id")
        thread_ts = _opt_str(args, "thread_ts")
        if thread_ts is None:
            raise _missing("thread_ts")
        return self._assistant.setdefault((channel, thread_ts), AssistantThread())

    def _assistant_set_status(self, args: Args) -> dict[str, Any]:
        if "status" not in args:
            raise _missing("status")
        thread = self._assistant_thread(args)
        thread.status = str(args["status"])
        thread.status_history.append(thread.status)
        thread.loading_messages = args.get("loading_messages")
        return {}

    def _assistant_set_prompts(self, args: Args) -> dict[str, Any]:
        prompts = args.get("prompts")
        if not isinstance(prompts, list):
            raise _missing("prompts")
        thread = self._assistant_thread(args)
        thread.prompts = prompts
        thread.prompts_title = _opt_str(args, "title")
        return {}

    def _assistant_set_title(self, args: Args) -> dict[str, Any]:
        title = _opt_str(args, "title")
        if title is None:
            raise _missing("title")
        self._assistant_thread(args).title = title
        return {}
