"""views.publish (the App Home)."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from fakes.slack.blocks import MAX_VIEW_BLOCKS, validate_blocks
from fakes.slack.records import Args, SlackApiFault, _opt_str


class ViewsApi:
    """Mixed into `FakeSlack`, whose lock, state and helpers these methods use."""

    def _views_publish(self, args: Args) -> dict[str, Any]:
        user_id = _opt_str(args, "user_id")
        if user_id is None:
            raise SlackApiFault("user_not_found")
        view = args.get("view")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise SlackApiFault("invalid_arguments", messages=["[ERROR] view.type must be home"])
        validate_blocks(view.get("blocks", []), limit=MAX_VIEW_BLOCKS)
        published = {"id": "V" + uuid.uuid4().hex[:10].upper(), "team_id": self.team_id, **view}
        self._home_views[user_id] = published
        return {"view": copy.deepcopy(published)}
