"""Properties of rendering: whatever the model says, split at whatever points the stream cuts
it, what reaches Slack pings nobody, hides no link and fits Slack's limits."""

from __future__ import annotations

import itertools
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack.delivery import STREAM_MESSAGE_LIMIT
from bot.slack.render import SECTION_LIMIT, SafeStream, neutralize, section_blocks, split_text

# Loaded machines (CI, the shared dev box) must not turn slowness into failures.
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LIVE_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)


def any_case(word: str) -> st.SearchStrategy[str]:
    flags = st.lists(st.booleans(), min_size=len(word), max_size=len(word))
    return flags.map(
        lambda up: "".join(c.upper() if u else c for c, u in zip(word, up, strict=True))
    )


broadcast_word = st.sampled_from(["channel", "here", "everyone"]).flatmap(any_case)
short_text = st.text(alphabet="ab xY@#!|^&<>[]()\n가日", max_size=12)
label = st.one_of(
    short_text,
    broadcast_word.map(lambda w: "@" + w),
    st.integers(0, 1100).map(lambda n: "x" * n),
)
url = st.builds(
    lambda scheme, n: f"{scheme}://evil.example/{'p' * n}",
    st.sampled_from(["https", "HTTP", "mailto", "slack"]),
    st.integers(0, 1100),
)

hostile_piece = st.one_of(
    broadcast_word.map(lambda w: "@" + w),
    st.builds(lambda w, lab: f"<!{w}{lab}>", broadcast_word, st.sampled_from(["", "|x", "|@here"])),
    st.builds(lambda lab: f"<!subteam^S0DEVS|{lab}>", label),
    st.builds(lambda lab: f"<@U0ALICE{lab}>", st.sampled_from(["", "|alice", "|@channel"])),
    st.builds(lambda lab: f"<#C0HR{lab}>", st.sampled_from(["", "|hr", "|@everyone"])),
    st.builds(lambda u, lab: f"<{u}|{lab}>", url, label),
    st.builds(lambda lab, u: f"[{lab}]({u})", label, url),
    st.builds(lambda a, b, u: f"[{a} [{b}] {a}]({u})", short_text, short_text, url),
    short_text,
)
hostile_text = st.lists(hostile_piece, max_size=8).map("".join)


@st.composite
def deltas(draw: st.DrawFn, text: str) -> list[str]:
    """`text` cut at any points, as a model's stream might deliver it."""
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=12))))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def delivered(pieces: list[str]) -> str:
    safe = SafeStream()
    return "".join(safe.feed(p) for p in pieces) + safe.flush()


def assert_inert(out: str) -> None:
    assert "<" not in out and ">" not in out, "Slack parses <...> as a mention or a link"
    assert LIVE_BROADCAST.search(out) is None, "a live broadcast"
    assert "](" not in out, "a markdown link whose label can hide its target"


@PROPERTY
@given(st.data(), hostile_text)
def test_streamed_hostile_text_pings_nobody_and_hides_no_link(
    data: st.DataObject, text: str
) -> None:
    out = delivered(data.draw(deltas(text)))

    assert_inert(out)


@PROPERTY
@given(hostile_text)
def test_neutralized_text_is_inert(text: str) -> None:
    assert_inert(neutralize(text))


@PROPERTY
@given(st.data(), st.text(alphabet="abc xyz,.\n연차日本語", max_size=2000))
def test_plain_text_streams_through_unchanged(data: st.DataObject, text: str) -> None:
    assert delivered(data.draw(deltas(text))) == text


@PROPERTY
@given(
    st.text(alphabet=st.sampled_from("ab \n\n日&<"), max_size=9000),
    st.sampled_from([SECTION_LIMIT, STREAM_MESSAGE_LIMIT // 2, 40, 7]),
)
def test_every_piece_fits_its_limit_and_nothing_but_whitespace_is_lost(
    text: str, limit: int
) -> None:
    pieces = split_text(text, limit)

    assert [p for p in pieces if not p.strip() or len(p) > limit] == []
    assert re.sub(r"\s", "", "".join(pieces)) == re.sub(r"\s", "", text)


@PROPERTY
@given(st.data(), hostile_text)
def test_the_delivered_answer_splits_into_valid_sections(data: st.DataObject, text: str) -> None:
    blocks = section_blocks(delivered(data.draw(deltas(text * 3))))

    texts = [b["text"]["text"] for b in blocks]
    assert [t for t in texts if not t.strip() or len(t) > 3000] == []  # Slack's section limit
