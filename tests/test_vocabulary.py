"""The Slack vocabulary: button values survive the round trip through Slack and refuse
anything the bot did not put there; action ids match what the listeners are registered for."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.slack.vocabulary import (
    FEEDBACK_DOWN,
    FEEDBACK_TRANSLATION,
    FEEDBACK_UP,
    FEEDBACK_VOTES,
    SHOW_TRANSLATION,
    VALUE_LIMIT,
    BadButtonValue,
    FeedbackValue,
    TranslationValue,
    is_dm,
    show_translation_action,
    thread_key,
)

texts = st.text(min_size=0, max_size=60)


@given(question_id=texts, language=texts, route=texts)
def test_a_feedback_value_decodes_to_what_was_encoded(
    question_id: str, language: str, route: str
) -> None:
    value = FeedbackValue(question_id=question_id, language=language, route=route)
    assert FeedbackValue.decode(value.encode()) == value


@given(node_id=texts, language=texts, number=st.integers(min_value=1, max_value=10_000))
def test_a_translation_value_decodes_to_what_was_encoded(
    node_id: str, language: str, number: int
) -> None:
    value = TranslationValue(node_id=node_id, language=language, number=number)
    assert TranslationValue.decode(value.encode()) == value


def test_button_values_keep_the_short_keys_already_on_slacks_messages() -> None:
    # Buttons posted before a deploy are clicked after it: the wire format must not move.
    feedback = FeedbackValue(question_id="q1", language="ko", route="translated").encode()
    translation = TranslationValue(node_id="n-7", language="ja", number=3).encode()
    assert json.loads(feedback) == {"q": "q1", "l": "ko", "r": "translated"}
    assert json.loads(translation) == {"n": "n-7", "l": "ja", "k": 3}
    assert " " not in feedback + translation  # compact: the value limit is 2,000 characters


def test_a_value_posted_by_the_previous_release_still_decodes() -> None:
    legacy = json.dumps({"q": "q9", "l": "zh-Hant", "r": "direct"}, separators=(",", ":"))
    assert FeedbackValue.decode(legacy) == FeedbackValue(
        question_id="q9", language="zh-Hant", route="direct"
    )


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (None, "Invalid JSON"),
        ("", "Invalid JSON"),
        ("not json", "Invalid JSON"),
        ("[]", "value: Input should be an object"),
        ('{"q": "q1", "l": "ko"}', "r: Field required"),
        ('{"q": 7, "l": "ko", "r": "direct"}', "q: Input should be a valid string"),
    ],
)
def test_a_bad_feedback_value_raises_an_error_that_names_the_problem(
    raw: str | None, says: str
) -> None:
    with pytest.raises(BadButtonValue, match="FeedbackValue") as refused:
        FeedbackValue.decode(raw)
    assert says in str(refused.value)


def test_a_translation_number_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(BadButtonValue, match="k: Input should be a valid integer"):
        TranslationValue.decode('{"n": "n1", "l": "ja", "k": "three"}')


def test_a_bad_value_is_quoted_only_in_part() -> None:
    with pytest.raises(BadButtonValue) as refused:
        FeedbackValue.decode("x" * 5000)
    assert len(str(refused.value)) < 300


def test_a_value_longer_than_slack_allows_is_refused_before_it_is_posted() -> None:
    value = TranslationValue(node_id="n" * VALUE_LIMIT, language="en", number=1)
    with pytest.raises(BadButtonValue, match="Slack allows 2000"):
        value.encode()


def test_show_translation_action_ids_match_the_listener_pattern() -> None:
    assert SHOW_TRANSLATION.fullmatch(show_translation_action(1))
    assert SHOW_TRANSLATION.fullmatch(show_translation_action(12))
    assert not SHOW_TRANSLATION.fullmatch("show_translation_")
    assert not SHOW_TRANSLATION.fullmatch(FEEDBACK_TRANSLATION)


def test_every_feedback_button_counts_as_its_own_vote() -> None:
    assert FEEDBACK_VOTES == {
        FEEDBACK_UP: "up",
        FEEDBACK_DOWN: "down",
        FEEDBACK_TRANSLATION: "translation",
    }


@pytest.mark.parametrize(
    ("channel", "dm"), [("D024BE91L", True), ("C012AB3CD", False), ("G0123ABC", False)]
)
def test_only_d_channels_are_direct_messages(channel: str, dm: bool) -> None:
    assert is_dm(channel) is dm


def test_a_thread_key_tells_apart_the_same_ts_in_two_channels() -> None:
    assert thread_key("C1", "1700000000.000100") == "C1:1700000000.000100"
    assert thread_key("C1", "1.2") != thread_key("C2", "1.2")
