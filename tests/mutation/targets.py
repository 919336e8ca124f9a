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
        equivalent={
            "Priority: 0 -> -1": "only the order of the levels is used (heap, comparisons)",
            "Priority: 3 -> 4": "only the order of the levels is used (heap, comparisons)",
            "<module>: 1 -> 0 #3": "a burst of 0 is a burst of 1: capacity is max(1, burst x share)",
            "<module>: 1 -> 0 #5": "a burst of 0 is a burst of 1: capacity is max(1, burst x share)",
            "<module>: `frozenset({'apps.connections.open', 'auth.test', 'chat.upda…` -> its "
            "argument": "a set and a frozenset answer `in` alike; nothing adds to it",
            "<module>: `frozenset({'chat.startStream', 'conversations.replies', 'co…` -> its "
            "argument": "a set and a frozenset answer `in` alike; nothing adds to it",
            "<module>: 'dualnova_slack_priority' -> ''": "a ContextVar's name only shows in repr",
            "<module>: 'dualnova_slack_prepaid' -> ''": "a ContextVar's name only shows in repr",
            "_Bucket: delete `tokens: float`": "the positional 0.0 then lands in `stamp` and the "
            "clock reading in `paused_until` (now: no pause); `tokens` is set to the capacity "
            "right after, and a stamp in the past only refills a bucket that is already full",
            "_Bucket: 0.0 -> -1.0": "a pause that ended at -1 or at 0 is over: clocks read >= 0",
            "_Bucket.refill: 0.0 -> -1.0": "now - stamp is never negative: the clock is monotonic",
            "_Bucket.delay: `self.tokens < 1.0` -> True": "with tokens >= 1 the added term "
            "(1 - tokens) / rate is <= 0, and max() keeps the pause",
            "_Bucket.delay: `self.tokens < 1.0`: < -> <=": "at exactly one token the added term "
            "is 0, and max() keeps the pause",
            "_Bucket.delay: 1.0 -> 2.0": "for 1 <= tokens < 2 the added term is <= 0, and max() "
            "keeps the pause",
            "Governor.__init__: 1 -> 0": "the default of `tasks`: max(1, 0) is 1 task as well",
            "Governor.__init__: `dict(budgets)` -> its argument": "the governor never writes to "
            "its budgets, so a copy and the caller's mapping read the same",
            "Governor._bucket_list: 0.0 -> 1.0": "the tokens are set to the capacity on the next "
            "line",
            "Governor._bucket_list: 0.0 -> -1.0": "the tokens are set to the capacity on the next "
            "line",
            "Governor.available: 0.0 -> -1.0": "delay(now) == 0 already means tokens >= 1, which "
            "a spare <= 0 asks no more than",
            "Governor._bucket_list: 0.0 -> -1.0 #2": "a pause that ended at -1 or at 0 is over: "
            "clocks read >= 0",
            "Governor.acquire: 0.0 -> -1.0": "a method never paused: -1 or 0 minus a clock that "
            "reads >= 0 is no wait either way",
            "Governor.acquire: `pause > 0`: > -> >=": "sleeping 0 s is no wait",
            "Governor._take: `int(level)` -> its argument": "Priority is an IntEnum: it orders in "
            "the heap as its int does",
            "_channel_of: `str(channel)` -> its argument": "slack_sdk passes channel ids as str, "
            "and str() of a str is the same string",
            "_retry_after: `str(key)` -> its argument": "HTTP header names arrive as str (aiohttp's "
            "istr is a str)",
            "GovernedClient.api_call: 1 -> 2": "every attempt returns or raises by attempt == "
            "MAX_RATELIMITED_RETRIES, so a fifth iteration is never reached",
            "GovernedClient.api_call: `AssertionError('unreachable')` -> its argument": "the line "
            "after the loop is unreachable (see the line above)",
            "GovernedClient.api_call: 'unreachable' -> ''": "the line after the loop is "
            "unreachable",
            "IdempotentServerErrorRetryHandler._can_retry_async: `request.url.split('?', 1)`: "
            "drop last argument": "only the part before the first '?' is used ([0])",
            "IdempotentServerErrorRetryHandler._can_retry_async: 1 -> 2": "rsplit's maxsplit: "
            "only the last path segment is used ([-1])",
            "IdempotentServerErrorRetryHandler._can_retry_async: "
            "`request.url.split('?', 1)[0].rstrip('/').rsplit('/', 1)`: drop last argument": "only "
            "the last path segment is used ([-1])",
            "IdempotentServerErrorRetryHandler._can_retry_async: 1 -> 2 #3": "split's maxsplit: "
            "only the part before the first '?' is used ([0])",
            "IdempotentServerErrorRetryHandler._can_retry_async: `super()._can_retry_async(state="
            "state, request=request, resp…`: drop error=": "slack_sdk's server-error handler reads "
            "only the response status, never `error`",
        },
    ),
    Target(
        "bot.slack_rates",
        ("tests/test_governor.py",),
        equivalent={
            "parse_method_limits: `method.strip()`: skip .strip() #2": "each entry is stripped "
            "first, so `method` is empty or starts with a non-space: never blank but not empty",
        },
    ),
]
