"""render.py, pinned directly: what model or document text becomes before it reaches Slack.

Every expected string is written out in full, so a changed escape, pattern or limit shows.
"""

from __future__ import annotations

import json

import pytest

from bot.messages import message
from bot.slack.render import (
    WORD_JOINER,
    SafeStream,
    context_blocks,
    feedback_block,
    neutralize,
    section_blocks,
    sources_block,
    split_text,
    to_mrkdwn,
    translation_block,
)
from kernel.models import Citation

WJ = WORD_JOINER


def stream(*deltas: str) -> list[str]:
    """What a SafeStream hands on for each delta, then for the flush."""
    safe = SafeStream()
    return [safe.feed(d) for d in deltas] + [safe.flush()]


# --- neutralize: broadcasts and mentions ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@here", f"@{WJ}here"),
        ("@channel now", f"@{WJ}channel now"),
        ("hi @everyone!", f"hi @{WJ}everyone!"),
        ("@HERE", f"@{WJ}HERE"),
        ("@Channel", f"@{WJ}Channel"),
        ("@EveryOne", f"@{WJ}EveryOne"),
        ("@channels and @heretic", "@channels and @heretic"),  # other words are left alone
    ],
)
def test_a_plain_broadcast_in_any_case_is_broken_by_a_word_joiner(text: str, expected: str) -> None:
    assert neutralize(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<!here>", f"@{WJ}here"),
        ("<!channel>", f"@{WJ}channel"),
        ("<!everyone|everyone>", f"@{WJ}everyone"),
        ("<!channel|team>", f"@{WJ}team"),  # the label is what Slack would have shown
        ("<!here^extra>", f"@{WJ}here"),  # the command's arguments are not shown
        ("<!subteam^S0DEVS|@devs>", f"@{WJ}devs"),
        ("<!subteam^S0DEVS>", f"@{WJ}group"),
        ("<@U0ALICE>", f"@{WJ}U0ALICE"),
        ("<@U0ALICE|alice>", f"@{WJ}alice"),
        ("<#C0HR>", "#C0HR"),
        ("<#C0HR|hr>", "#hr"),
    ],
)
def test_slack_mentions_become_inert_text(text: str, expected: str) -> None:
    assert neutralize(text) == expected


# --- neutralize: links --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<https://evil.example|docs>", "docs (https://evil.example)"),
        ("<HTTPS://evil.example|docs>", "docs (HTTPS://evil.example)"),
        ("<https://a.example>", "https://a.example"),
        ("<https://a.example|https://a.example>", "https://a.example"),
        ("<mailto:a@b.example|write us>", "write us (mailto:a@b.example)"),
        ("[docs](https://evil.example)", "docs (https://evil.example)"),
        ("[](https://a.example)", "https://a.example"),
        ("[https://a.example](https://a.example)", "https://a.example"),
        ("see [1] and [2]", "see [1] and [2]"),
    ],
)
def test_a_link_always_shows_its_target(text: str, expected: str) -> None:
    assert neutralize(text) == expected


def test_slack_syntax_is_read_from_one_to_500_characters() -> None:
    at_most = "https://a.example/" + "p" * 482  # 500 characters between < and >
    too_long = at_most + "p"

    assert neutralize(f"<{at_most}>") == at_most
    assert neutralize(f"<{too_long}>") == f"&lt;{too_long}&gt;"
    assert neutralize("<#>") == "#"


def test_markdown_links_are_read_up_to_300_label_and_1000_url_characters() -> None:
    url = "https://a.example/" + "p" * 982  # 1,000 characters

    assert neutralize(f"[{'x' * 300}](u)") == f"{'x' * 300} (u)"
    assert neutralize(f"[{'x' * 301}](u)") == f"[{'x' * 301}]{WJ}(u)"
    assert neutralize(f"[a]({url})") == f"a ({url})"
    assert neutralize(f"[a]({url}p)") == f"[a]{WJ}({url}p)"
    assert neutralize("[a](b)") == "a (b)"


def test_angle_text_that_is_not_slack_syntax_is_shown_escaped() -> None:
    assert neutralize("if a <b and c> d") == "if a &lt;b and c&gt; d"
    assert neutralize("<3 days") == "&lt;3 days"
    assert neutralize("1 < 2 > 0") == "1 &lt; 2 &gt; 0"


def test_ampersands_are_escaped_once_and_first() -> None:
    assert neutralize("R&D") == "R&amp;D"
    assert neutralize("&lt;!here&gt;") == "&amp;lt;!here&amp;gt;"  # stays text, not markup


def test_a_slack_link_longer_than_the_pattern_stays_escaped_text() -> None:
    hostile = "<https://evil.example/" + "a" * 600 + "|docs>"

    out = neutralize(hostile)

    assert out == "&lt;https://evil.example/" + "a" * 600 + "|docs&gt;"


def test_a_markdown_link_the_pattern_cannot_read_is_still_broken() -> None:
    nested = "[a [b] c](https://evil.example)"
    long_label = "[" + "x" * 400 + "](https://evil.example)"

    assert neutralize(nested) == f"[a [b] c]{WJ}(https://evil.example)"
    assert neutralize(long_label) == "[" + "x" * 400 + f"]{WJ}(https://evil.example)"


def test_bold_markdown_becomes_slack_bold() -> None:
    assert to_mrkdwn("**20 days** and **5**") == "*20 days* and *5*"
    assert to_mrkdwn("a * b ** c") == "a * b ** c"


# --- SafeStream -------------------------------------------------------------------------------


def test_a_broadcast_split_across_deltas_is_held_then_broken() -> None:
    assert stream("Hello @he", "re team") == ["Hello ", f"@{WJ}here team", ""]


def test_a_flush_that_ends_in_a_broadcast_is_neutralized() -> None:
    assert stream("thanks @here") == ["thanks ", f"@{WJ}here"]
    assert stream("ping @") == ["ping ", "@"]


def test_a_slack_mention_split_across_deltas_is_judged_whole() -> None:
    assert stream("ok <!he", "re> now") == ["ok ", f"@{WJ}here now", ""]
    assert stream("a <b> c <https://ev", "il.example|docs>") == [
        "a &lt;b&gt; c ",
        "docs (https://evil.example)",
        "",
    ]


def test_a_markdown_link_split_across_deltas_shows_its_target() -> None:
    assert stream("see [docs](https://ev", "il.example) ok") == [
        "see ",
        "docs (https://evil.example) ok",
        "",
    ]
    assert stream("see [docs]", "(https://evil.example)") == [
        "see ",
        "docs (https://evil.example)",
        "",
    ]


def test_a_sequence_at_the_very_start_is_held_too() -> None:
    assert stream("<!he", "re>") == ["", f"@{WJ}here", ""]
    assert stream("[do", "cs](https://evil.example)") == ["", "docs (https://evil.example)", ""]


def test_only_the_last_open_bracket_or_angle_decides_the_hold() -> None:
    assert stream("[1] and [docs](https://ev", "il.example)") == [
        "[1] and ",
        "docs (https://evil.example)",
        "",
    ]
    assert stream("a <https://evil.example|@he", "re>") == [
        "a ",
        f"@{WJ}here (https://evil.example)",
        "",
    ]


def test_closed_brackets_and_angles_are_not_held() -> None:
    assert stream("see [1] for more") == ["see [1] for more", ""]
    assert stream("see [1](x) for more") == ["see 1 (x) for more", ""]
    assert stream("a <https://a.example> b") == ["a https://a.example b", ""]


def test_an_unclosed_sequence_is_held_up_to_the_limit_then_released_escaped() -> None:
    safe = SafeStream()
    held = "<" + "a" * 599  # 600 characters: the most a hold keeps

    assert safe.feed("x " + held) == "x "
    assert safe.feed("a") == "&lt;" + "a" * 600
    assert safe.flush() == ""


def test_a_long_unclosed_label_is_released_without_its_closing_bracket() -> None:
    safe = SafeStream()
    label = "[" + "x" * 610 + "]"

    first = safe.feed(label)
    second = safe.feed("(https://evil.example)")

    assert first == label[:-1]
    assert second == f"]{WJ}(https://evil.example)"
    assert safe.flush() == ""


def test_a_broadcast_split_right_after_a_released_hold_is_still_judged_whole() -> None:
    safe = SafeStream()
    unclosed = "<" + "x" * 600

    assert safe.feed(unclosed + " @he") == "&lt;" + "x" * 600 + " "
    assert safe.feed("re") == ""
    assert safe.flush() == f"@{WJ}here"


def test_a_long_trailing_word_after_at_is_released_at_the_limit() -> None:
    safe = SafeStream()
    word = "@" + "w" * 599

    assert safe.feed(word) == ""
    assert safe.feed("w") == word + "w"


def test_flush_empties_the_stream() -> None:
    safe = SafeStream()
    safe.feed("tail [x")
    assert safe.flush() == "[x"
    assert safe.flush() == ""
    assert safe.feed("next") == "next"


# --- split_text and blocks --------------------------------------------------------------------


def test_text_within_the_limit_is_one_piece() -> None:
    assert split_text("a" * 10, 10) == ["a" * 10]
    assert split_text("aaaaaa bbb", 10) == ["aaaaaa bbb"]
    assert split_text("", 10) == []
    assert split_text("   ", 10) == []


def test_a_split_prefers_a_paragraph_then_a_line_then_a_word() -> None:
    paragraph = "aaaaaaa bbb\n\ncccc dd\neee ff"
    assert split_text(paragraph, 20) == ["aaaaaaa bbb", "cccc dd\neee ff"]
    assert split_text("aaaaaaaa bbb\ncccc dd eee", 20) == ["aaaaaaaa bbb", "cccc dd eee"]
    assert split_text("aaaaaaaa bbbbbbb ccccc", 20) == ["aaaaaaaa bbbbbbb", "ccccc"]


def test_a_boundary_in_the_first_half_is_ignored_for_a_hard_cut() -> None:
    assert split_text("ab cdefghijklmnopqrstuvwxyz", 10) == [
        "ab cdefghi",
        "jklmnopqrs",
        "tuvwxyz",
    ]
    assert split_text("abcde fghijk", 10) == ["abcde", "fghijk"]  # at half the limit: taken
    assert split_text("abcd efghijk", 10) == ["abcd efghi", "jk"]  # just before: not


def test_text_without_spaces_is_cut_at_exactly_the_limit() -> None:
    cjk = "連休は最大五日まで繰り越せます" * 700  # 10,500 characters, no spaces

    pieces = split_text(cjk, 2900)

    assert [len(p) for p in pieces] == [2900, 2900, 2900, 1800]
    assert "".join(pieces) == cjk


def test_whitespace_runs_never_make_an_empty_piece() -> None:
    assert split_text("a" + " " * 30 + "b", 10) == ["a", "b"]
    assert split_text(" " * 30 + "b", 10) == ["b"]
    assert split_text("a\n\n" + " " * 30, 10) == ["a"]


def test_section_blocks_keep_every_piece_within_slacks_section_limit() -> None:
    text = ("word " * 1000).strip()  # 4,999 characters

    blocks = section_blocks(text)

    assert [b["type"] for b in blocks] == ["section", "section"]
    texts = [b["text"]["text"] for b in blocks]
    assert [b["text"]["type"] for b in blocks] == ["mrkdwn", "mrkdwn"]
    assert [len(t) for t in texts] == [2899, 2099]
    assert " ".join(texts) == text
    assert section_blocks("") == []


def test_a_section_of_exactly_the_limit_is_not_split() -> None:
    assert [b["text"]["text"] for b in section_blocks("x" * 2900)] == ["x" * 2900]
    assert len(section_blocks("x" * (2901))) == 2


def test_the_companion_translation_is_split_into_quiet_blocks_up_to_eight() -> None:
    long = "が" * (2900 * 3)

    blocks = context_blocks("🌐 English", long)

    assert blocks[0] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "*🌐 English*"}],
    }
    texts = [b["elements"][0]["text"] for b in blocks[1:]]
    assert [b["elements"][0]["type"] for b in blocks[1:]] == ["mrkdwn"] * 3
    assert [b["type"] for b in blocks[1:]] == ["context"] * 3
    assert texts == ["が" * 2900] * 3
    assert len(context_blocks("x", "y" * (2900 * 10))) == 1 + 8
    assert context_blocks("Draft", "") == [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "*Draft*"}]}
    ]


# --- the footer ---------------------------------------------------------------------------------


def cite(number: int, **fields: object) -> Citation:
    values: dict[str, object] = {
        "number": number,
        "title": f"Doc {number}",
        "source": f"docs/{number}.md",
        "score": 1.0,
    }
    values.update(fields)
    return Citation.model_validate(values)


def test_hostile_source_titles_and_paths_are_neutralized() -> None:
    hostile = cite(1, title="<!channel> read [this](https://evil.example)", source="@here/<x>.md")

    block = sources_block([hostile], "en")

    assert block == {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": f"*{message('sources', 'en')}*\n"
                f"*[1]* @{WJ}channel read this (https://evil.example) — `@{WJ}here/&lt;x&gt;.md`",
            }
        ],
    }


def test_sources_are_capped_in_number_and_length() -> None:
    many = [cite(n) for n in range(1, 8)]
    long = [cite(1, title="t" * 4000)]

    text = sources_block(many, "ko")["elements"][0]["text"]  # type: ignore[index]
    long_text = sources_block(long, "en")["elements"][0]["text"]  # type: ignore[index]

    assert text.startswith(f"*{message('sources', 'ko')}*\n")
    assert text.count("\n") == 5
    assert "*[5]* Doc 5" in text and "[6]" not in text
    assert len(long_text) == 2900
    assert sources_block([], "en") is None


def test_feedback_buttons_carry_a_compact_value_and_the_translation_button_when_asked() -> None:
    plain = feedback_block(question_id="q1", language="en", route="direct")
    translated = feedback_block(
        question_id="q1", language="ko", route="translated", translation=True
    )

    assert plain["type"] == "actions" and plain["block_id"] == "feedback:q1"
    assert [e["action_id"] for e in plain["elements"]] == ["feedback_up", "feedback_down"]
    assert plain["elements"][0]["value"] == '{"q":"q1","l":"en","r":"direct"}'
    assert [e["type"] for e in plain["elements"]] == ["button", "button"]
    assert [e["text"] for e in plain["elements"]] == [
        {"type": "plain_text", "text": "👍", "emoji": True},
        {"type": "plain_text", "text": "👎", "emoji": True},
    ]
    assert [e["action_id"] for e in translated["elements"]][-1] == "feedback_translation"
    assert translated["elements"][-1]["text"]["text"] == message("translation_wrong", "ko")


def test_translation_buttons_only_for_cited_passages_in_another_language() -> None:
    citations = [
        cite(1, language="en", node_id="n1"),
        cite(2, language="ko", node_id="n2"),
        cite(3, language="ja", node_id=""),  # nothing to translate from
        cite(4, language="", node_id="n4"),
        *[cite(n, language="en", node_id=f"n{n}") for n in range(5, 8)],
    ]

    block = translation_block(citations, "ko")

    assert block is not None and block["block_id"] == "translations"
    assert block["type"] == "actions"
    assert [e["type"] for e in block["elements"]] == ["button", "button"]
    assert [e["action_id"] for e in block["elements"]] == [
        "show_translation_1",
        "show_translation_5",
    ]
    assert json.loads(block["elements"][0]["value"]) == {"n": "n1", "l": "ko", "k": 1}
    assert block["elements"][0]["value"] == '{"n":"n1","l":"ko","k":1}'
    assert block["elements"][0]["text"] == {
        "type": "plain_text",
        "text": message("show_translation", "ko", number=1),
    }
    assert translation_block([cite(1, language="ko", node_id="n1")], "ko") is None
