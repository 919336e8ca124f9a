"""Which collections may answer where.

`public` answers everywhere. A private collection answers only in the channels mapped to
it, and in the DMs of the users allowed to see it. The map comes from ACCESS_CONFIG: a path
to a JSON file or inline JSON:

    {"collections": {"hr": {"channels": ["C0HR"], "users": ["U0ALICE"]}}}
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ValidationError

from kernel.errors import ConfigError
from kernel.models import PUBLIC_COLLECTION


class CollectionAccess(BaseModel):
    channels: list[str] = []
    users: list[str] = []


class AccessConfig(BaseModel):
    collections: dict[str, CollectionAccess] = {}


class AccessPolicy:
    def __init__(self, config: AccessConfig) -> None:
        self._config = config

    @classmethod
    def load(cls, source: str | None) -> AccessPolicy:
        if not source:
            return cls(AccessConfig())
        try:
            text = source if source.lstrip().startswith("{") else Path(source).read_text("utf-8")
            return cls(AccessConfig.model_validate(json.loads(text)))
        except (OSError, ValueError, ValidationError) as exc:
            raise ConfigError(
                f"ACCESS_CONFIG: expected JSON (or a path to it) like "
                f'{{"collections": {{"hr": {{"channels": ["C1"], "users": ["U1"]}}}}}} ({exc.__class__.__name__})'
            ) from None

    def visible(
        self, *, channel_id: str | None, user_id: str | None, is_dm: bool
    ) -> frozenset[str]:
        allowed = {PUBLIC_COLLECTION}
        for name, rule in self._config.collections.items():
            in_channel = channel_id is not None and channel_id in rule.channels
            in_own_dm = is_dm and user_id is not None and user_id in rule.users
            if in_channel or in_own_dm:
                allowed.add(name)
        return frozenset(allowed)
