"""IAM policy checks that return violations instead of raising.

The predecessor's first deploy was down for 13 minutes because its task role
allowed `s3:GetObject` on `arn:aws:s3:::bucket` (the bucket) instead of
`arn:aws:s3:::bucket/*` (its objects): IAM accepts such a statement and silently
grants nothing. These checks make that class of mistake a test failure.

Pure standard library, so the same functions work on a synthesized CloudFormation
template (tests), on a policy document fetched from IAM (`dualnova doctor`), or on
a hand-written JSON file.

- `check_policy_document(doc)`: generic rules for any policy (wildcards, object
  actions on bucket ARNs and the reverse, unscoped listing).
- `compare_grants(doc, expected)`: the exact set of (action, resource, condition)
  grants, reporting what is missing and what is extra.
- `allows(doc, action, resource, context)`: would this policy allow one request?
- `role_statements(template)` / `task_definition_roles(template)`: the Allow/Deny
  statements attached to each role of a template, with intrinsics rendered to
  readable strings (`arn:${AWS.Partition}:s3:::${DocsBucket}/docs/*`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Actions that AWS does not let you scope to a resource; `*` is their only form.
UNSCOPED_ACTIONS = frozenset(
    {
        "ecr:getauthorizationtoken",
        "xray:puttracesegments",
        "xray:puttelemetryrecords",
        "cloudwatch:putmetricdata",
    }
)

# S3 object actions that do not say "Object" in their name.
_S3_OTHER_OBJECT_ACTIONS = frozenset(
    {
        "s3:abortmultipartupload",
        "s3:listmultipartuploadparts",
        "s3:replicatedelete",
        "s3:replicatetags",
    }
)
# arn:PARTITION:s3:::BUCKET[/KEY]; partition may be a rendered token.
_S3_ARN = re.compile(r"^arn:[^:]+:s3:::(?P<bucket>[^/]+)(?P<key>/.*)?$")
_BEDROCK_FOUNDATION_ANY_REGION = re.compile(r"^arn:[^:]+:bedrock:\*::foundation-model/[^*?]+$")
_SECRET_WITH_SUFFIX = re.compile(r"^arn:[^:]+:secretsmanager:[^:]+:[^:]+:secret:[^*?]+-\?{6}$")
_LOG_STREAMS_OF_GROUP = re.compile(r"^arn:[^:]+:logs:[^:]+:[^:]+:log-group:[^*?:]+:\*$")

_PSEUDO = {
    "AWS::Partition": "${AWS.Partition}",
    "AWS::Region": "${AWS.Region}",
    "AWS::AccountId": "${AWS.AccountId}",
    "AWS::URLSuffix": "${AWS.URLSuffix}",
    "AWS::StackName": "${AWS.StackName}",
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule, in words an operator can act on."""

    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.message}"


@dataclass(frozen=True, slots=True, order=True)
class Grant:
    """One allowed (action, resource) pair, with its condition as canonical JSON."""

    action: str
    resource: str
    condition: str = ""

    def __str__(self) -> str:
        suffix = f" when {self.condition}" if self.condition else ""
        return f"{self.action} on {self.resource}{suffix}"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def statements_of(
    document: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The statements of a policy document (or a list of statements), normalised."""
    raw = document if isinstance(document, Sequence) else _as_list(document.get("Statement"))
    result = []
    for statement in raw:
        normalised = dict(statement)
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if key in normalised:
                normalised[key] = [str(v) for v in _as_list(normalised[key])]
        result.append(normalised)
    return result


def _where(base: str, statement: Mapping[str, Any], index: int) -> str:
    return f"{base} statement {statement.get('Sid') or index}"


def is_s3_bucket_action(action: str) -> bool:
    """Acts on the bucket (`arn:aws:s3:::bucket`): ListBucket, GetBucketPolicy, ..."""
    service, _, name = action.partition(":")
    return service.lower() == "s3" and ("bucket" in name.lower() or name.endswith("Configuration"))


def is_s3_object_action(action: str) -> bool:
    """Acts on objects (`arn:aws:s3:::bucket/key`): GetObject, PutObject, ..."""
    service, _, name = action.partition(":")
    return (
        service.lower() == "s3"
        and not is_s3_bucket_action(action)
        and ("object" in name.lower() or action.lower() in _S3_OTHER_OBJECT_ACTIONS)
    )


def _resource_wildcard_ok(resource: str) -> bool:
    """Where a `*`/`?` in a resource is a scoped pattern rather than a blanket grant."""
    s3 = _S3_ARN.match(resource)
    if s3:
        # Wildcards only in the key part, after a non-empty bucket name.
        return not re.search(r"[*?]", s3["bucket"]) and bool(s3["key"])
    return bool(
        _BEDROCK_FOUNDATION_ANY_REGION.match(resource)
        or _SECRET_WITH_SUFFIX.match(resource)
        or _LOG_STREAMS_OF_GROUP.match(resource)
    )


def check_policy_document(
    document: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    where: str = "policy",
    require_s3_key_prefix: bool = True,
) -> list[Violation]:
    """Generic least-privilege rules for one policy; [] when it passes.

    With `require_s3_key_prefix`, object grants must name a key prefix
    (`bucket/docs/*`, not `bucket/*`) and `s3:ListBucket` must carry an
    `s3:prefix` condition.
    """
    violations: list[Violation] = []
    for index, statement in enumerate(statements_of(document)):
        if statement.get("Effect") != "Allow":
            continue
        at = _where(where, statement, index)

        def add(rule: str, message: str, at: str = at) -> None:
            violations.append(Violation(rule, at, message))

        for key in ("NotAction", "NotResource", "NotPrincipal"):
            if key in statement:
                add(
                    "not-element",
                    f"Allow with {key} grants everything not listed; list what is allowed",
                )
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        for action in actions:
            if "*" in action or "?" in action:
                add("wildcard-action", f"action {action!r} is a wildcard; name each action")
        for resource in resources:
            if resource == "*":
                unscoped = [a for a in actions if a.lower() not in UNSCOPED_ACTIONS]
                if unscoped:
                    add(
                        "wildcard-resource",
                        f"{', '.join(unscoped)} allowed on every resource ('*'); name the ARNs",
                    )
            elif ("*" in resource or "?" in resource) and not _resource_wildcard_ok(resource):
                add(
                    "wildcard-resource",
                    f"resource {resource!r} is a wildcard beyond an object path",
                )

        s3_resources = [(r, _S3_ARN.match(r)) for r in resources]
        for action in actions:
            if is_s3_object_action(action):
                for resource, match in s3_resources:
                    if match and not match["key"]:
                        add(
                            "s3-object-action-on-bucket-arn",
                            f"{action} on the bucket ARN {resource!r} grants nothing: object "
                            f"actions need object ARNs such as '{resource}/PREFIX*'",
                        )
                    elif match and require_s3_key_prefix and match["key"] in {"/*", "/"}:
                        add(
                            "s3-object-action-on-whole-bucket",
                            f"{action} on every object of {resource!r}; scope it to a key prefix",
                        )
            elif is_s3_bucket_action(action):
                for resource, match in s3_resources:
                    if match and match["key"]:
                        add(
                            "s3-bucket-action-on-object-arn",
                            f"{action} on the object ARN {resource!r} grants nothing: bucket "
                            f"actions need the bucket ARN 'arn:aws:s3:::{match['bucket']}'",
                        )
                if (
                    require_s3_key_prefix
                    and action.lower() == "s3:listbucket"
                    and any(m and not m["key"] for _, m in s3_resources)
                    and not _has_condition_key(statement, "s3:prefix")
                ):
                    add(
                        "s3-list-without-prefix",
                        "s3:ListBucket without an s3:prefix condition lists the whole bucket",
                    )
    return violations


def _has_condition_key(statement: Mapping[str, Any], key: str) -> bool:
    condition = statement.get("Condition") or {}
    return any(
        key.lower() in (k.lower() for k in keys)
        for keys in condition.values()
        if isinstance(keys, Mapping)
    )


def grants_of(document: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> set[Grant]:
    """Every (action, resource, condition) triple the Allow statements name."""
    grants: set[Grant] = set()
    for statement in statements_of(document):
        if statement.get("Effect") != "Allow":
            continue
        condition = (
            json.dumps(_canonical(statement.get("Condition")), sort_keys=True)
            if statement.get("Condition")
            else ""
        )
        for action in statement.get("Action", []):
            for resource in statement.get("Resource", []):
                grants.add(Grant(action, resource, condition))
    return grants


def _canonical(value: Any) -> Any:
    """Condition values compared as sets: ["a", "b"] == ["b", "a"]; "a" == ["a"]."""
    if isinstance(value, Mapping):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return sorted(str(v) for v in value)
    return [str(value)]


def compare_grants(
    document: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    expected: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    where: str = "policy",
) -> list[Violation]:
    """Exactly the expected grants: anything missing or extra is a violation."""
    actual, wanted = grants_of(document), grants_of(expected)
    violations = [
        Violation("missing-grant", where, f"does not allow {grant}")
        for grant in sorted(wanted - actual)
    ]
    violations += [
        Violation("unexpected-grant", where, f"also allows {grant}")
        for grant in sorted(actual - wanted)
    ]
    return violations


def _iam_pattern(pattern: str) -> re.Pattern[str]:
    """IAM's glob: `*` any run of characters (including ':' and '/'), `?` one character."""
    return re.compile("^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$", re.S)


def _condition_holds(condition: Mapping[str, Any] | None, context: Mapping[str, str]) -> bool:
    """A small subset of IAM conditions (String{Equals,Like}); unknown operators fail closed."""
    for operator, clauses in (condition or {}).items():
        if not isinstance(clauses, Mapping):
            return False
        for key, values in clauses.items():
            actual = context.get(key)
            if actual is None:
                return False
            options = [str(v) for v in _as_list(values)]
            if operator == "StringEquals":
                ok = actual in options
            elif operator == "StringLike":
                ok = any(_iam_pattern(option).match(actual) for option in options)
            else:
                return False
            if not ok:
                return False
    return True


def _matches(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]
) -> bool:
    if "NotAction" in statement or "NotResource" in statement:
        return False  # not modelled: treat as not matching (fails closed for Allow)
    action_ok = any(
        _iam_pattern(pattern.lower()).match(action.lower())
        for pattern in statement.get("Action", [])
    )
    resource_ok = any(
        _iam_pattern(pattern).match(resource) for pattern in statement.get("Resource", [])
    )
    return action_ok and resource_ok and _condition_holds(statement.get("Condition"), context)


def allows(
    document: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> bool:
    """Would this identity policy alone allow `action` on `resource`?

    `context` supplies condition keys, e.g. `{"s3:prefix": "docs/"}` for a listing.
    """
    statements = statements_of(document)
    ctx = context or {}
    if any(s.get("Effect") == "Deny" and _matches(s, action, resource, ctx) for s in statements):
        return False
    return any(
        s.get("Effect") == "Allow" and _matches(s, action, resource, ctx) for s in statements
    )


def missing_permissions(
    document: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    required: Iterable[tuple[str, str] | tuple[str, str, Mapping[str, str]]],
    *,
    where: str = "policy",
) -> list[Violation]:
    """Each required request (action, resource[, context]) the policy would refuse."""
    violations = []
    for request in required:
        action, resource = request[0], request[1]
        context = request[2] if len(request) > 2 else None
        if not allows(document, action, resource, context):
            suffix = f" with {dict(context)}" if context else ""
            violations.append(
                Violation(
                    "missing-permission", where, f"{action} on {resource}{suffix} is not allowed"
                )
            )
    return violations


# --- CloudFormation templates ------------------------------------------------------------


def render(value: Any, resource_types: Mapping[str, str]) -> Any:
    """Render CloudFormation intrinsics in `value` to readable strings.

    Bucket and table ARNs become ARN-shaped (`arn:${AWS.Partition}:s3:::${LogicalId}`)
    so that the S3 rules above can tell a bucket ARN from an object ARN even when
    the bucket's name is generated at deploy time.
    """
    if isinstance(value, list):
        return [render(v, resource_types) for v in value]
    if not isinstance(value, Mapping):
        return value
    if len(value) != 1:
        return {k: render(v, resource_types) for k, v in value.items()}
    ((key, arg),) = value.items()
    if key == "Ref":
        return _PSEUDO.get(arg, "${" + str(arg) + "}")
    if key == "Fn::GetAtt":
        logical_id, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
        kind = resource_types.get(logical_id)
        if attribute == "Arn" and kind == "AWS::S3::Bucket":
            return "arn:${AWS.Partition}:s3:::${" + logical_id + "}"
        if attribute == "Arn" and kind == "AWS::DynamoDB::Table":
            return (
                "arn:${AWS.Partition}:dynamodb:${AWS.Region}:${AWS.AccountId}:table/${"
                + logical_id
                + "}"
            )
        return "${" + f"{logical_id}.{attribute}" + "}"
    if key == "Fn::Join":
        separator, parts = arg
        return str(separator).join(str(render(p, resource_types)) for p in parts)
    if key == "Fn::Sub":
        text = arg[0] if isinstance(arg, list) else arg
        for pseudo, rendered in _PSEUDO.items():
            text = text.replace("${" + pseudo + "}", rendered)
        return text
    if key.startswith("Fn::") or key == "Condition":
        return "${" + key.removeprefix("Fn::") + "}"
    return {key: render(arg, resource_types)}


def role_statements(template: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Statements attached to each AWS::IAM::Role of a template, by role logical id.

    Managed policies are reported as a pseudo-statement with `ManagedPolicyArn`, so
    that callers notice grants this module cannot see into.
    """
    resources: Mapping[str, Any] = template.get("Resources", {})
    types = {logical_id: r.get("Type", "") for logical_id, r in resources.items()}
    result: dict[str, list[dict[str, Any]]] = {
        logical_id: [] for logical_id, kind in types.items() if kind == "AWS::IAM::Role"
    }
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                result[logical_id] += statements_of(render(policy["PolicyDocument"], types))
            for arn in props.get("ManagedPolicyArns", []):
                result[logical_id].append({"ManagedPolicyArn": render(arn, types)})
        elif resource.get("Type") in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            statements = statements_of(render(props["PolicyDocument"], types))
            for role in props.get("Roles", []):
                role_id = role.get("Ref") if isinstance(role, Mapping) else None
                if role_id in result:
                    result[role_id] += statements
    return result


def task_definition_roles(template: Mapping[str, Any]) -> list[tuple[str | None, str | None]]:
    """(task role, execution role) logical ids of each ECS task definition."""

    def role_id(value: Any) -> str | None:
        if isinstance(value, Mapping) and "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        return None

    return [
        (
            role_id(r["Properties"].get("TaskRoleArn")),
            role_id(r["Properties"].get("ExecutionRoleArn")),
        )
        for r in template.get("Resources", {}).values()
        if r.get("Type") == "AWS::ECS::TaskDefinition"
    ]


def check_template(
    template: Mapping[str, Any], *, require_s3_key_prefix: bool = True
) -> list[Violation]:
    """Every generic rule on every role of a template, plus managed policies as violations."""
    violations: list[Violation] = []
    for role_id, statements in role_statements(template).items():
        managed = [s["ManagedPolicyArn"] for s in statements if "ManagedPolicyArn" in s]
        violations += [
            Violation(
                "managed-policy", f"role {role_id}", f"attaches {arn}; its grants are not checked"
            )
            for arn in managed
        ]
        violations += check_policy_document(
            [s for s in statements if "ManagedPolicyArn" not in s],
            where=f"role {role_id}",
            require_s3_key_prefix=require_s3_key_prefix,
        )
    return violations
