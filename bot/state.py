"""Small shared state for the Slack app: event dedupe, thread membership, feedback, shared
answers, user preferences, budgets and usage counters.

Three implementations of the `StateStore` base: `SqliteStateStore` (bot/state_sqlite.py,
the default: one file that survives restarts), `MemoryStateStore` for one process that keeps
nothing (STATE_BACKEND=memory), and `DynamoStateStore` for several tasks sharing one table
(`bot.state_factory` builds the one the settings name).
All honour TTLs by an injected clock, so "five minutes later" is a clock step in tests, not
a sleep.

Table layout (pk S, sk S, TTL attribute ``expires_at`` N, epoch seconds; the CDK stack owns it)::

    point item      pk = "{kind}#{key}"  sk = "_"                        v = JSON, c:{field} = N
    counter member  pk = "{kind}#{key}"  sk = "m#{member}"               c:{field} = N
    claim           pk = "claim#{key}"   sk = "_"                        owner, at
    listable item   pk = "{kind}"        sk = "{at:017.6f}#{seq}{random}" v = JSON

DynamoDB deletes expired items lazily (up to days later), so every read filters on
``expires_at`` itself and a claim may take over an expired one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from botocore import xform_name
from botocore.exceptions import BotoCoreError, ClientError

from kernel.aws_errors import BAD_CREDENTIALS, CONDITION_FAILED, DENIED, THROTTLED, error_code
from kernel.errors import AccessDenied, DualnovaError

logger = logging.getLogger(__name__)

__all__ = [
    "DynamoStateStore",
    "MemoryStateStore",
    "StateAccessDenied",
    "StateError",
    "StateStore",
]

Clock = Callable[[], float]
Record = dict[str, Any]

_COUNTER_PREFIX = "c:"
_MEMBER_PREFIX = "m#"
_PRUNE_EVERY_S = 60.0


class CounterAt(NamedTuple):
    """Where `incr_many` counts: an item, or one member of the item's counter group."""

    kind: str
    key: str
    member: str | None = None


class StateError(DualnovaError):
    """The state table could not be used; the message names the table and what to fix."""


class StateAccessDenied(StateError, AccessDenied):
    """AWS refused a state-table action; the message names the permission and the table ARN."""


class StateStore(ABC):
    """Key/value, claim, append-only list and counter operations with TTLs. The base of the
    three stores: each implements the abstract operations, and counters once (`_add`)."""

    @abstractmethod
    async def claim(self, key: str, *, ttl_s: int, owner: str = "") -> bool:
        """Atomically claim `key` for ttl_s seconds; True for the first claimer only (until it
        expires). Used for event dedupe: keys like 'event:Ev123' and
        'msg:C1:1700000000.000100', kept >= 1 hour."""
        ...

    @abstractmethod
    async def put(
        self, kind: str, key: str, value: dict[str, Any], *, ttl_s: int | None = None
    ) -> None:
        """Store `value` (JSON-serialisable) under (kind, key), replacing what was there."""
        ...

    @abstractmethod
    async def get(self, kind: str, key: str) -> dict[str, Any] | None:
        """The stored value (plus any `incr` counters), or None when absent or expired."""
        ...

    @abstractmethod
    async def delete(self, kind: str, key: str) -> None:
        """Remove (kind, key); absent is fine."""
        ...

    @abstractmethod
    async def append(self, kind: str, value: dict[str, Any], *, ttl_s: int | None = None) -> None:
        """Add a record to a listable kind (feedback, gaps): key generated (time-sortable +
        random)."""
        ...

    @abstractmethod
    async def list(
        self, kind: str, *, since: float | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Records of a listable kind, oldest first, optionally only those appended at/after
        `since` (epoch seconds). Each record includes '_at' (epoch float) and '_id'."""
        ...

    async def incr(
        self, kind: str, key: str, field: str, amount: float = 1, *, ttl_s: int | None = None
    ) -> float:
        """Atomic counter (for budgets later); returns the new value. `ttl_s` (re)sets the
        item's expiry; an expired counter starts again from zero."""
        return (await self.incr_many(kind, key, {field: amount}, ttl_s=ttl_s))[field]

    async def incr_many(
        self,
        kind: str,
        key: str,
        amounts: Mapping[str, float],
        *,
        member: str | None = None,
        ttl_s: int | None = None,
    ) -> dict[str, float]:
        """Several counters of one item in one atomic write (one DynamoDB UpdateItem); returns
        their new values. With `member`, the counters of one member of the (kind, key) group,
        an item of its own (read back with `members`), so a group can grow without growing
        one hot item. TTL as in `incr`."""
        return await self._add(CounterAt(kind, key, member), amounts, ttl_s)

    @abstractmethod
    async def members(self, kind: str, key: str) -> dict[str, dict[str, float]]:
        """The live members of a counter group (`incr_many(..., member=...)`) and their
        counters, by member."""
        ...

    @abstractmethod
    async def _add(
        self, at: CounterAt, amounts: Mapping[str, float], ttl_s: int | None
    ) -> dict[str, float]:
        """`incr_many`, implemented by each store."""
        ...


# --- shared helpers ------------------------------------------------------------------------


def _expiry(now: float, ttl_s: int | None) -> int | None:
    # Whole seconds, rounded up: DynamoDB TTL wants epoch seconds, and a dedupe key kept a
    # fraction of a second too long is harmless while one dropped early is a double reply.
    return None if ttl_s is None else math.ceil(now + ttl_s)


def _alive(expires_at: float | None, now: float) -> bool:
    return expires_at is None or expires_at >= now


def _as_json(value: dict[str, Any]) -> str:
    if not isinstance(value, dict):
        raise TypeError(f"state values are dicts, got {type(value).__name__}")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _sort_key_prefix(at: float) -> str:
    # Fixed width, so string order is time order (ten integer digits: good until 2286).
    return f"{max(at, 0.0):017.6f}"


class _ListKeys:
    """Time-sortable list keys: ``{at}#{seq}{random}``. The per-store sequence keeps records
    appended at the same clock reading in append order; the random part keeps two processes'
    keys apart."""

    def __init__(self) -> None:
        self._seq = itertools.count()

    def next(self, at: float) -> str:
        return f"{_sort_key_prefix(at)}#{next(self._seq) % 16**8:08x}{secrets.token_hex(6)}"


def _at_of(sort_key: str) -> float:
    return float(sort_key.partition("#")[0])


# --- in memory -----------------------------------------------------------------------------


@dataclass
class _Entry:
    value: dict[str, Any]
    expires_at: int | None
    counters: dict[str, float] = field(default_factory=dict)


class MemoryStateStore(StateStore):
    """One process's state, in dicts behind an asyncio lock. Values are copied through JSON
    on the way in and out, as DynamoDB would, so callers never share mutable state with it."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._lock = asyncio.Lock()
        self._claims: dict[str, tuple[int, str]] = {}
        self._items: dict[tuple[str, str], _Entry] = {}
        self._lists: dict[str, dict[str, _Entry]] = {}
        self._members: dict[tuple[str, str], dict[str, _Entry]] = {}
        self._keys = _ListKeys()
        self._pruned_at = clock()

    async def claim(self, key: str, *, ttl_s: int, owner: str = "") -> bool:
        async with self._lock:
            now = self._now()
            held = self._claims.get(key)
            if held is not None and _alive(held[0], now):
                return False
            self._claims[key] = (math.ceil(now + ttl_s), owner)
            return True

    async def put(
        self, kind: str, key: str, value: dict[str, Any], *, ttl_s: int | None = None
    ) -> None:
        stored = json.loads(_as_json(value))
        async with self._lock:
            self._items[(kind, key)] = _Entry(stored, _expiry(self._now(), ttl_s))

    async def get(self, kind: str, key: str) -> dict[str, Any] | None:
        async with self._lock:
            entry = self._items.get((kind, key))
            if entry is None or not _alive(entry.expires_at, self._now()):
                return None
            return {**json.loads(_as_json(entry.value)), **entry.counters}

    async def delete(self, kind: str, key: str) -> None:
        async with self._lock:
            self._items.pop((kind, key), None)

    async def append(self, kind: str, value: dict[str, Any], *, ttl_s: int | None = None) -> None:
        stored = json.loads(_as_json(value))
        async with self._lock:
            now = self._now()
            sort_key = self._keys.next(now)
            self._lists.setdefault(kind, {})[sort_key] = _Entry(stored, _expiry(now, ttl_s))

    async def list(
        self, kind: str, *, since: float | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        floor = _sort_key_prefix(since) if since is not None else ""
        async with self._lock:
            now = self._now()
            records = self._lists.get(kind, {})
            out: list[Record] = []
            for sort_key in sorted(records):
                if len(out) >= limit:
                    break
                entry = records[sort_key]
                if sort_key >= floor and _alive(entry.expires_at, now):
                    out.append({**json.loads(_as_json(entry.value)), **_list_meta(sort_key)})
            return out

    async def _add(
        self, at: CounterAt, amounts: Mapping[str, float], ttl_s: int | None
    ) -> dict[str, float]:
        group = (at.kind, at.key)
        async with self._lock:
            now = self._now()
            entry = (
                _live_entry(self._items, group, now)
                if at.member is None
                else _live_entry(self._members.setdefault(group, {}), at.member, now)
            )
            for name, amount in amounts.items():
                entry.counters[name] = float(entry.counters.get(name, 0.0) + amount)
            if ttl_s is not None:
                entry.expires_at = _expiry(now, ttl_s)
            return {name: entry.counters[name] for name in amounts}

    async def members(self, kind: str, key: str) -> dict[str, dict[str, float]]:
        async with self._lock:
            now = self._now()
            group = self._members.get((kind, key), {})
            return {
                member: dict(entry.counters)
                for member, entry in sorted(group.items())
                if _alive(entry.expires_at, now)
            }

    def _now(self) -> float:
        """The clock reading; drops expired entries once a minute (caller holds the lock)."""
        now = self._clock()
        if now - self._pruned_at >= _PRUNE_EVERY_S:
            self._pruned_at = now
            self._claims = {k: v for k, v in self._claims.items() if _alive(v[0], now)}
            self._items = _live_entries(self._items, now)
            _prune_groups(self._lists, now)
            _prune_groups(self._members, now)
        return now


K = TypeVar("K")
G = TypeVar("G")


def _live_entry(entries: dict[K, _Entry], where: K, now: float) -> _Entry:
    """The entry at `where`, or a new empty one in place of an absent or expired one."""
    entry = entries.get(where)
    if entry is None or not _alive(entry.expires_at, now):
        entry = entries[where] = _Entry({}, None)
    return entry


def _live_entries(entries: dict[K, _Entry], now: float) -> dict[K, _Entry]:
    return {where: e for where, e in entries.items() if _alive(e.expires_at, now)}


def _prune_groups(groups: dict[G, dict[K, _Entry]], now: float) -> None:
    """Drop each group's expired entries, and the groups left empty."""
    for name, entries in list(groups.items()):
        kept = _live_entries(entries, now)
        if kept:
            groups[name] = kept
        else:
            del groups[name]


def _list_meta(sort_key: str) -> Record:
    return {"_at": _at_of(sort_key), "_id": sort_key}


# --- DynamoDB ------------------------------------------------------------------------------


class _ConditionFailed(Exception):
    """ConditionalCheckFailedException: an expected outcome, handled by the caller."""


_ACCOUNT_IN_ARN = re.compile(r"arn:aws[\w-]*:(?:iam|sts|dynamodb):[\w-]*:(\d{12}):")


class DynamoStateStore(StateStore):
    """State in one DynamoDB table shared by every task of the app (see the module doc for the
    item layout). The boto3 client is sync and thread safe: calls run in worker threads."""

    def __init__(self, *, table_name: str, client: Any, clock: Clock = time.time) -> None:
        self.table_name = table_name
        self.client = client
        self._clock = clock
        self._keys = _ListKeys()

    async def claim(self, key: str, *, ttl_s: int, owner: str = "") -> bool:
        now = self._clock()
        item = {
            "pk": {"S": f"claim#{key}"},
            "sk": {"S": "_"},
            "expires_at": {"N": str(math.ceil(now + ttl_s))},
            "at": {"N": _number(now)},
            "owner": {"S": owner},
        }
        return await self._put_unless_live(
            item, "attribute_not_exists(pk) OR expires_at < :now", now
        )

    async def put(
        self, kind: str, key: str, value: dict[str, Any], *, ttl_s: int | None = None
    ) -> None:
        item = {"pk": {"S": f"{kind}#{key}"}, "sk": {"S": "_"}, "v": {"S": _as_json(value)}}
        expires_at = _expiry(self._clock(), ttl_s)
        if expires_at is not None:
            item["expires_at"] = {"N": str(expires_at)}
        await self._call("PutItem", Item=item)

    async def get(self, kind: str, key: str) -> dict[str, Any] | None:
        reply = await self._call("GetItem", Key=_point_key(kind, key), ConsistentRead=True)
        item = reply.get("Item")
        if item is None or not _alive(_expires_at(item), self._clock()):
            return None
        value: Record = json.loads(item["v"]["S"]) if "v" in item else {}
        for name, attribute in item.items():
            if name.startswith(_COUNTER_PREFIX) and "N" in attribute:
                value[name.removeprefix(_COUNTER_PREFIX)] = float(Decimal(attribute["N"]))
        return value

    async def delete(self, kind: str, key: str) -> None:
        await self._call("DeleteItem", Key=_point_key(kind, key))

    async def append(self, kind: str, value: dict[str, Any], *, ttl_s: int | None = None) -> None:
        now = self._clock()
        item = {"pk": {"S": kind}, "sk": {"S": self._keys.next(now)}, "v": {"S": _as_json(value)}}
        expires_at = _expiry(now, ttl_s)
        if expires_at is not None:
            item["expires_at"] = {"N": str(expires_at)}
        await self._call("PutItem", Item=item)

    async def list(
        self, kind: str, *, since: float | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        condition, values = "pk = :pk", {":pk": {"S": kind}}
        if since is not None:
            condition += " AND sk >= :since"
            values[":since"] = {"S": _sort_key_prefix(since)}
        values[":now"] = {"N": _number(self._clock())}
        query: Record = {
            "KeyConditionExpression": condition,
            "FilterExpression": "attribute_not_exists(expires_at) OR expires_at >= :now",
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
            "Limit": limit,
        }
        out: list[Record] = []
        while len(out) < limit:
            reply = await self._call("Query", **query)
            for item in reply.get("Items", []):
                sort_key = item["sk"]["S"]
                out.append({**json.loads(item["v"]["S"]), **_list_meta(sort_key)})
            if "LastEvaluatedKey" not in reply:
                break
            query["ExclusiveStartKey"] = reply["LastEvaluatedKey"]
        return out[:limit]

    async def _add(
        self, at: CounterAt, amounts: Mapping[str, float], ttl_s: int | None
    ) -> dict[str, float]:
        if not amounts:
            return {}
        kind, key = at.kind, at.key
        item_key = _point_key(kind, key) if at.member is None else _member_key(kind, key, at.member)
        names = {f"#f{i}": _COUNTER_PREFIX + name for i, name in enumerate(amounts)}
        # A counter past its expiry (not yet swept by TTL) must restart at zero, not carry on:
        # ADD only to a live item; otherwise replace the expired one, and if another task
        # replaced it first, ADD to theirs. One UpdateItem with one ADD clause per counter:
        # billed once, on one item.
        for _ in range(5):
            now = self._clock()
            expires_at = _expiry(now, ttl_s)
            values: Record = {":now": {"N": _number(now)}}
            clauses = []
            for i, amount in enumerate(amounts.values()):
                values[f":a{i}"] = {"N": _number(amount)}
                clauses.append(f"#f{i} :a{i}")
            update = "ADD " + ", ".join(clauses)
            if expires_at is not None:
                update += " SET expires_at = :exp"
                values[":exp"] = {"N": str(expires_at)}
            try:
                reply = await self._call(
                    "UpdateItem",
                    Key=item_key,
                    UpdateExpression=update,
                    ConditionExpression="attribute_not_exists(expires_at) OR expires_at >= :now",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="UPDATED_NEW",
                )
                attributes = reply["Attributes"]
                return {
                    name: float(Decimal(attributes[_COUNTER_PREFIX + name]["N"]))
                    for name in amounts
                }
            except _ConditionFailed:
                pass
            fresh = {**item_key}
            for name, amount in amounts.items():
                fresh[_COUNTER_PREFIX + name] = {"N": _number(amount)}
            if expires_at is not None:
                fresh["expires_at"] = {"N": str(expires_at)}
            if await self._put_unless_live(fresh, "expires_at < :now", now):
                return {name: float(amount) for name, amount in amounts.items()}
        raise StateError(f"state table {self.table_name}: counter {kind}/{key} kept changing")

    async def members(self, kind: str, key: str) -> dict[str, dict[str, float]]:
        query: Record = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :member)",
            "FilterExpression": "attribute_not_exists(expires_at) OR expires_at >= :now",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"{kind}#{key}"},
                ":member": {"S": _MEMBER_PREFIX},
                ":now": {"N": _number(self._clock())},
            },
            "ConsistentRead": True,
        }
        out: dict[str, dict[str, float]] = {}
        while True:
            reply = await self._call("Query", **query)
            for item in reply.get("Items", []):
                member = item["sk"]["S"].removeprefix(_MEMBER_PREFIX)
                out[member] = {
                    name.removeprefix(_COUNTER_PREFIX): float(Decimal(attribute["N"]))
                    for name, attribute in item.items()
                    if name.startswith(_COUNTER_PREFIX) and "N" in attribute
                }
            if "LastEvaluatedKey" not in reply:
                return out
            query["ExclusiveStartKey"] = reply["LastEvaluatedKey"]

    async def _put_unless_live(self, item: Record, condition: str, now: float) -> bool:
        """PutItem if `condition` (on the stored item's expiry, against :now) holds; False when
        a live item is in the way."""
        try:
            await self._call(
                "PutItem",
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeValues={":now": {"N": _number(now)}},
            )
        except _ConditionFailed:
            return False
        return True

    # boto3 boundary ----------------------------------------------------------------------

    async def _call(self, operation: str, **kwargs: Any) -> Any:
        method = getattr(self.client, xform_name(operation))
        try:
            return await asyncio.to_thread(method, TableName=self.table_name, **kwargs)
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                raise _ConditionFailed from None
            raise self._translate(exc, operation) from exc
        except BotoCoreError as exc:
            raise StateError(
                f"state table {self.table_name}: {operation} could not reach DynamoDB "
                f"({exc.__class__.__name__})"
            ) from exc

    def _translate(self, exc: ClientError, operation: str) -> StateError:
        code = error_code(exc)
        region = self.client.meta.region_name
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in BAD_CREDENTIALS:
            return StateAccessDenied(
                f"state table {self.table_name}: AWS rejected the credentials ({code}); "
                "check the task role or AWS_* credentials"
            )
        if code in DENIED or status == 403:
            return StateAccessDenied(
                f"state table {self.table_name}: access denied; allow dynamodb:{operation} on "
                f"{self._table_arn(region, str(exc))}"
            )
        if code == "ResourceNotFoundException":
            return StateError(
                f"STATE_TABLE {self.table_name} does not exist in {region}; deploy the stack "
                "or fix STATE_TABLE / AWS_REGION"
            )
        if code in THROTTLED:
            return StateError(f"state table {self.table_name}: {operation} throttled ({code})")
        return StateError(f"state table {self.table_name}: {operation} failed ({code or status})")

    def _table_arn(self, region: str, message: str) -> str:
        partition = (
            "aws-cn"
            if region.startswith("cn-")
            else "aws-us-gov"
            if region.startswith("us-gov-")
            else "aws"
        )
        # The denial names the caller (and, on AWS, the resource): both carry the account id.
        found = _ACCOUNT_IN_ARN.search(message)
        account = found.group(1) if found else "ACCOUNT"
        return f"arn:{partition}:dynamodb:{region}:{account}:table/{self.table_name}"


def _number(value: float) -> str:
    # repr keeps every digit of a float; DynamoDB numbers take up to 38 significant digits.
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _point_key(kind: str, key: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"{kind}#{key}"}, "sk": {"S": "_"}}


def _member_key(kind: str, key: str, member: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"{kind}#{key}"}, "sk": {"S": _MEMBER_PREFIX + member}}


def _expires_at(item: Record) -> float | None:
    attribute = item.get("expires_at")
    return float(Decimal(attribute["N"])) if attribute and "N" in attribute else None
