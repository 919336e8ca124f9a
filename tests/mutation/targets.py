"""What `make mutation` covers: one entry per module, with the tests that pin it and the
mutants that cannot be told apart from the original (each with the reason).

Adding a module is one entry in TARGETS. An equivalent mutant is named by the key the run
prints (`<scope>: <change>`); a key listed here that a run kills is reported as stale.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    module: str
    tests: tuple[str, ...]
    equivalent: dict[str, str] = field(default_factory=dict)


TARGETS = [
    Target(
        "bot.slack.render",
        ("tests/test_render.py", "tests/test_render_properties.py"),
        equivalent={
            "SafeStream.feed: `ready` -> True": "neutralize('') is '', the same as the else branch",
            "SafeStream.flush: `ready` -> True": "neutralize('') is '', the same as the else branch",
            "context_blocks: `mrkdwn` -> True": "split_text('', ...) is [], the same as the else",
        },
    ),
    Target(
        "bot.slack.access",
        ("tests/test_access.py",),
        equivalent={
            "AccessPolicy.visible: `channel_id is not None and channel_id in rule.channels`: "
            "drop operand 1": "`rule.channels` is a validated list[str]: None is never in it, "
            "so `None in rule.channels` is already False",
            "AccessPolicy.visible: `is_dm and user_id is not None and (user_id in rule.users)`: "
            "drop operand 2": "`rule.users` is a validated list[str]: None is never in it",
        },
    ),
    Target(
        "bot.slack.governor",
        ("tests/test_governor.py",),
        equivalent={},
    ),
    Target(
        "bot.slack_rates",
        ("tests/test_governor.py",),
        equivalent={},
    ),
]
