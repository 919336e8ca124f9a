"""access.py, pinned directly: which collections may answer in which channel or DM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.access import AccessPolicy
from kernel.errors import ConfigError
from kernel.models import PUBLIC_COLLECTION

CONFIG = {
    "collections": {
        "hr": {"channels": ["C0HR"], "users": ["U0ALICE"]},
        "finance": {"channels": ["C0FIN", "C0EXEC"], "users": ["U0ALICE", "U0BOB"]},
        "eng": {"channels": ["C0ENG"], "users": []},
    }
}
POLICY = AccessPolicy.load(json.dumps(CONFIG))


def visible(channel: str | None, user: str | None, *, is_dm: bool = False) -> set[str]:
    return set(POLICY.visible(channel_id=channel, user_id=user, is_dm=is_dm))


def test_public_answers_everywhere_and_nothing_else_without_a_config() -> None:
    for source in (None, "", "{}", '{"collections": {}}'):
        policy = AccessPolicy.load(source)
        assert policy.visible(channel_id="C1", user_id="U1", is_dm=True) == {PUBLIC_COLLECTION}
        assert policy.visible(channel_id=None, user_id=None, is_dm=False) == {PUBLIC_COLLECTION}


def test_a_mapped_channel_sees_its_collections_whoever_asks() -> None:
    assert visible("C0HR", "U0CAROL") == {"public", "hr"}
    assert visible("C0EXEC", None) == {"public", "finance"}
    assert visible("C0ENG", "U0ALICE") == {"public", "eng"}


def test_an_unmapped_channel_sees_only_public_even_for_a_listed_user() -> None:
    assert visible("C0RANDOM", "U0ALICE") == {"public"}
    assert visible("C0RANDOM", "U0BOB") == {"public"}


def test_a_listed_users_own_dm_sees_their_collections() -> None:
    assert visible("D0ALICE", "U0ALICE", is_dm=True) == {"public", "hr", "finance"}
    assert visible("D0BOB", "U0BOB", is_dm=True) == {"public", "finance"}


def test_an_unlisted_users_dm_sees_only_public() -> None:
    assert visible("D0CAROL", "U0CAROL", is_dm=True) == {"public"}
    assert visible("D0X", None, is_dm=True) == {"public"}


def test_no_channel_means_only_the_users_dm_rights_apply() -> None:
    assert visible(None, "U0BOB", is_dm=True) == {"public", "finance"}
    assert visible(None, "U0BOB", is_dm=False) == {"public"}


def test_a_config_file_path_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "access.json"
    path.write_text(json.dumps(CONFIG), encoding="utf-8")

    policy = AccessPolicy.load(str(path))

    assert policy.visible(channel_id="C0FIN", user_id=None, is_dm=False) == {"public", "finance"}


def test_inline_json_may_start_with_whitespace() -> None:
    policy = AccessPolicy.load('  \n {"collections": {"hr": {"channels": ["C0HR"]}}}')

    assert policy.visible(channel_id="C0HR", user_id=None, is_dm=False) == {"public", "hr"}


@pytest.mark.parametrize(
    ("write", "reason"),
    [
        (None, "FileNotFoundError"),
        ("{not json", "JSONDecodeError"),
        ('{"collections": {"hr": {"channels": "C0HR"}}}', "ValidationError"),
        ('{"collections": ["hr"]}', "ValidationError"),
        (b"\xff\xfe{}", "UnicodeDecodeError"),
    ],
    ids=["missing-file", "bad-json", "channels-not-a-list", "collections-not-a-map", "not-utf8"],
)
def test_a_bad_config_file_is_one_clear_config_error(
    tmp_path: Path, write: str | bytes | None, reason: str
) -> None:
    path = tmp_path / "access.json"
    if isinstance(write, bytes):
        path.write_bytes(write)
    elif write is not None:
        path.write_text(write, encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        AccessPolicy.load(str(path))

    text = str(raised.value)
    assert text.startswith("ACCESS_CONFIG: expected JSON (or a path to it) like {")
    assert text.endswith(f"({reason})") and "\n" not in text
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_a_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^ACCESS_CONFIG: .*\(IsADirectoryError\)$"):
        AccessPolicy.load(str(tmp_path))


@pytest.mark.parametrize(
    "inline",
    ['{"collections": {"hr": {"users": "U0ALICE"}}}', '{"collections": 1', "{}}"],
)
def test_bad_inline_json_is_a_config_error(inline: str) -> None:
    with pytest.raises(ConfigError, match=r"^ACCESS_CONFIG: expected JSON"):
        AccessPolicy.load(inline)


# --- the property: whatever the configuration ---------------------------------------------------

CHANNELS = ["C0HR", "C0FIN", "C0ENG", "D0ALICE", "D0BOB"]
USERS = ["U0ALICE", "U0BOB", "U0CAROL"]
rules = st.fixed_dictionaries(
    {
        "channels": st.lists(st.sampled_from(CHANNELS), unique=True),
        "users": st.lists(st.sampled_from(USERS), unique=True),
    }
)
configs = st.dictionaries(st.sampled_from(["hr", "finance", "eng", "legal"]), rules, max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    configs,
    st.one_of(st.none(), st.sampled_from([*CHANNELS, "C0OTHER", "D0CAROL"])),
    st.one_of(st.none(), st.sampled_from(USERS)),
    st.booleans(),
)
def test_a_private_collection_answers_only_in_its_channels_and_its_users_own_dms(
    collections: dict[str, dict[str, list[str]]],
    channel: str | None,
    user: str | None,
    is_dm: bool,
) -> None:
    policy = AccessPolicy.load(json.dumps({"collections": collections}))

    seen = policy.visible(channel_id=channel, user_id=user, is_dm=is_dm)

    expected = {
        name
        for name, rule in collections.items()
        if channel in rule["channels"] or (is_dm and user in rule["users"])
    }
    assert seen == {PUBLIC_COLLECTION} | expected
    assert isinstance(seen, frozenset)  # shared by every stage of the question: immutable
