"""`dualnova doctor`: check what a deploy needs, and print each failure with its fix.

S3 is probed the way the bot uses it — list the documents prefix, HEAD and GET one document,
write, read back and delete a probe object under the index prefix — and a denial is printed
with the IAM statement that would allow it (object actions on `arn:aws:s3:::BUCKET/PREFIX/*`,
listing on `arn:aws:s3:::BUCKET` with an `s3:prefix` condition).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.bedrock import runtime_client
from bot.config import Settings
from kernel.aws_errors import error_code
from kernel.errors import ConfigError, DualnovaError
from kernel.models import PUBLIC_COLLECTION
from retrieval.s3 import (
    Action,
    S3Location,
    fix_statement,
    is_denied,
    kms_denial,
    kms_fix_statement,
    parse_s3_uri,
    s3_error,
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _check(name: str, fix: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(name, True, probe())
    except DualnovaError as exc:
        return Check(name, False, str(exc), fix)
    except Exception as exc:
        code = error_code(exc)
        return Check(name, False, f"{exc.__class__.__name__}: {code or str(exc)[:200]}", fix)


def _model_probe(client: object, model_id: str) -> Callable[[], str]:
    def probe() -> str:
        started = time.perf_counter()
        client.converse(  # type: ignore[attr-defined]
            modelId=model_id,
            messages=[{"role": "user", "content": [{"text": "ping"}]}],
            inferenceConfig={"maxTokens": 1},
        )
        return f"one-token request answered in {(time.perf_counter() - started) * 1000:.0f} ms"

    return probe


def _embed_probe(client: object, settings: Settings) -> Callable[[], str]:
    def probe() -> str:
        body: dict[str, object]
        if "cohere.embed" in settings.embed_model_id:
            body = {"texts": ["ping"], "input_type": "search_query"}
        else:
            body = {"inputText": "ping", "dimensions": settings.embed_dimensions, "normalize": True}
        response = client.invoke_model(  # type: ignore[attr-defined]
            modelId=settings.embed_model_id, body=json.dumps(body)
        )
        reply = json.loads(response["body"].read())
        vector = reply["embedding"] if "embedding" in reply else reply["embeddings"][0]
        return f"{len(vector)}-dimension embedding"

    return probe


def _knowledge_base_probe(settings: Settings) -> Callable[[], str]:
    def probe() -> str:
        from bot.wiring import build_retriever

        def no_index() -> Any:
            raise DualnovaError("the local index is not used with RETRIEVER=bedrock-kb")

        retriever = build_retriever(settings, index=no_index, embedder=None, offline=False)
        found = asyncio.run(
            retriever.retrieve(["ping"], collections=frozenset({PUBLIC_COLLECTION}), top_k=1)
        )
        return f"Retrieve answered ({len(found)} passage(s) for 'ping')"

    return probe


def _state_probe(settings: Settings) -> Callable[[], str]:
    """Open the state store as `serve` does, then write, read back and delete one item."""

    def probe() -> str:
        from bot.state_factory import open_state_store

        store = open_state_store(settings)
        key = f"{socket.gethostname()}-{os.getpid()}"

        async def round_trip() -> bool:
            await store.put("doctor", key, {"at": time.time()}, ttl_s=300)
            found = await store.get("doctor", key)
            await store.delete("doctor", key)
            return found is not None

        if not asyncio.run(round_trip()):
            raise DualnovaError("wrote a probe item but could not read it back")
        where = {
            "sqlite": f"SQLite file {settings.state_path}",
            "dynamodb": f"DynamoDB table {settings.state_table}",
            "memory": "memory (STATE_BACKEND=memory: nothing survives a restart)",
        }[settings.state_kind]
        return f"{where}: write, read and delete ok"

    return probe


def _state_fix(settings: Settings) -> str:
    if settings.state_kind == "dynamodb":
        return (
            "deploy the stack's table or fix STATE_TABLE / AWS_REGION; the task role needs "
            "dynamodb:GetItem, PutItem, UpdateItem, DeleteItem and Query on it"
        )
    return (
        "make STATE_PATH a writable file on a volume that survives restarts (in the container, "
        "mount one at /home/dualnova/.dualnova); move a damaged file aside"
    )


def _bedrock_fix(model_id: str, settings: Settings) -> str:
    region = settings.bedrock_region_name
    return (
        f"enable {model_id} under Bedrock > Model access in {region}, and allow the task role "
        f"bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream on "
        f"arn:aws:bedrock:{region}:ACCOUNT:inference-profile/{model_id} (for profile ids) and "
        f"arn:aws:bedrock:*::foundation-model/{model_id.split('.', 1)[-1] if model_id.count('.') > 1 else model_id}"
    )


def prompt_cache_check(settings: Settings) -> Check:
    """The real size of each cached prompt prefix, against Nova's 1,000-token minimum."""
    from bot.answer import SYSTEM_PROMPT, TRANSLATE_PROMPT
    from bot.condense import system_prompt
    from bot.prompts import prefix_tokens
    from bot.tokens import CACHE_MIN_TOKENS
    from bot.wiring import build_base_glossary

    glossary = build_base_glossary(settings)
    prefixes = {
        "answer (Pro)": SYSTEM_PROMPT,
        "condense (Micro)": system_prompt(settings.corpus_languages),
        "translate (Micro)": TRANSLATE_PROMPT,
    }
    parts = []
    for name, instructions in prefixes.items():
        tokens = prefix_tokens(instructions, glossary)
        state = "cached" if tokens >= CACHE_MIN_TOKENS else "below the minimum, not cached"
        parts.append(f"{name} ~{tokens:,} tokens ({state})")
    return Check(
        "prompt cache",
        True,
        "; ".join(parts)
        + f" (Nova caches a prefix of at least {CACHE_MIN_TOKENS:,} tokens; instructions plus "
        f"the glossary file's {len(glossary.terms) if glossary else 0} terms)",
    )


def collect_checks(settings: Settings) -> list[Check]:
    from bot.wiring import build_store, has_aws_credentials

    checks = [
        Check(
            "configuration", True, f"loaded; corpus languages {','.join(settings.corpus_languages)}"
        )
    ]
    checks.append(
        _check(
            "prompt cache",
            "check that GLOSSARY_URI (or glossary.json beside the documents) is valid JSON",
            lambda: prompt_cache_check(settings).detail,
        )
    )
    if settings.docs_source.startswith("s3://") or not settings.index_is_local:
        checks += s3_checks(settings)
    store = build_store(settings)

    def published() -> str:
        version = store.current_version()
        if version is None:
            raise DualnovaError(f"no index has been published under {settings.index_uri}")
        return f"version {version} under {settings.index_uri}"

    checks.append(
        _check(
            "index",
            "run `dualnova ingest` (or /ingest in Slack) to publish a first version",
            published,
        )
    )
    checks.append(_check("state store", _state_fix(settings), _state_probe(settings)))
    if settings.offline:
        checks.append(Check("bedrock", True, "skipped: DUALNOVA_OFFLINE is set"))
        return checks
    if not has_aws_credentials(settings):
        checks.append(
            Check(
                "aws credentials",
                False,
                "no AWS credentials found",
                "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where a task/instance role exists",
            )
        )
        return checks
    checks.append(Check("aws credentials", True, "found"))
    client = runtime_client(settings)
    for model_id in (settings.micro_model_id, settings.pro_model_id):
        checks.append(
            _check(
                f"model {model_id}",
                _bedrock_fix(model_id, settings),
                _model_probe(client, model_id),
            )
        )
    checks.append(
        _check(
            f"embeddings {settings.embed_model_id}",
            _bedrock_fix(settings.embed_model_id, settings),
            _embed_probe(client, settings),
        )
    )
    if settings.retriever == "bedrock-kb":
        checks.append(
            _check(
                f"knowledge base {settings.knowledge_base_id}",
                f"allow bedrock:Retrieve on arn:aws:bedrock:{settings.bedrock_region_name}:ACCOUNT:"
                f"knowledge-base/{settings.knowledge_base_id}, and check KNOWLEDGE_BASE_ID",
                _knowledge_base_probe(settings),
            )
        )
    return checks


def _s3_check(
    name: str, location: S3Location, action: Action, probe: Callable[[], str], region: str
) -> Check:
    try:
        return Check(name, True, probe())
    except (ClientError, BotoCoreError) as exc:
        error = s3_error(exc, action=action, location=location, region=region)
        key_arn = kms_denial(exc)
        if key_arn is not None:
            return Check(
                name,
                False,
                f"access denied ({error_code(exc)}) by KMS key {key_arn or '(not named)'} "
                f"on {location.uri}",
                f"add to the task role's policy: "
                f"{json.dumps(kms_fix_statement(action, key_arn, region))}",
            )
        if is_denied(exc):
            code = error_code(exc)
            return Check(
                name,
                False,
                f"access denied ({code}) on {location.uri}",
                f"add to the task role's policy: {json.dumps(fix_statement(action, location))}",
            )
        return Check(name, False, str(error))
    except DualnovaError as exc:
        return Check(name, False, str(exc))


def s3_checks(settings: Settings) -> list[Check]:
    """List, HEAD and GET under DOCS_SOURCE; write, read back and delete under INDEX_URI."""
    from bot.wiring import build_s3_client

    client: Any = build_s3_client(settings)
    region = settings.aws_region
    checks: list[Check] = []
    if settings.docs_source.startswith("s3://"):
        docs = parse_s3_uri(settings.docs_source, error=ConfigError)
        sample: list[str] = []

        def list_docs() -> str:
            page = client.list_objects_v2(Bucket=docs.bucket, Prefix=docs.folder, MaxKeys=100)
            keys = [o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/")]
            sample.extend(keys[:1])
            more = "+" if page.get("IsTruncated") else ""
            return f"{len(keys)}{more} objects under {docs.uri}"

        checks.append(_s3_check("documents: list", docs, "list", list_docs, region))
        if sample:

            def read_one() -> str:
                head = client.head_object(Bucket=docs.bucket, Key=sample[0])
                body = client.get_object(Bucket=docs.bucket, Key=sample[0])["Body"].read()
                return f"HEAD and GET {sample[0]} ({head['ContentLength']:,} bytes, {len(body):,} read)"

            checks.append(_s3_check("documents: read", docs, "read", read_one, region))
        elif checks[-1].ok:
            checks.append(
                Check("documents: read", False, f"{docs.uri} holds no objects", "upload documents")
            )
    if not settings.index_is_local:
        index = parse_s3_uri(settings.index_uri, error=ConfigError)
        key = index.key(f".doctor-probe-{socket.gethostname()}-{os.getpid()}")
        payload = f"dualnova doctor {time.time()}".encode()

        def write() -> str:
            client.put_object(Bucket=index.bucket, Key=key, Body=payload)
            return f"wrote {index.uri_of(key)}"

        def read_back() -> str:
            body = client.get_object(Bucket=index.bucket, Key=key)["Body"].read()
            if body != payload:
                raise DualnovaError(
                    f"read back {len(body)} bytes that differ from what was written"
                )
            return "read it back"

        def delete() -> str:
            client.delete_object(Bucket=index.bucket, Key=key)
            return "deleted it"

        steps: list[tuple[str, Action, Callable[[], str]]] = [
            ("index: write", "write", write),
            ("index: read", "read", read_back),
            ("index: delete", "delete", delete),
        ]
        for name, action, probe in steps:
            check = _s3_check(name, index, action, probe, region)
            checks.append(check)
            if not check.ok and action == "write":
                break  # nothing to read or delete
    return checks


def run_doctor(settings: Settings) -> int:
    checks = collect_checks(settings)
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        print(f"{mark} {check.name}: {check.detail}")
        if not check.ok and check.fix:
            print(f"     fix: {check.fix}")
    failed = sum(not c.ok for c in checks)
    print(
        f"\nchecks: {len(checks) - failed} ok, {failed} failing"
        if failed
        else f"\nall {len(checks)} checks ok"
    )
    return 1 if failed else 0
