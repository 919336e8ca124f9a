"""`dualnova doctor`: check what a deploy needs, and print each failure with its fix."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.bedrock import error_code, runtime_client
from bot.config import Settings
from bot.errors import DualnovaError


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
        import json

        response = client.invoke_model(  # type: ignore[attr-defined]
            modelId=settings.embed_model_id,
            body=json.dumps(
                {"inputText": "ping", "dimensions": settings.embed_dimensions, "normalize": True}
            ),
        )
        vector = json.loads(response["body"].read())["embedding"]
        return f"{len(vector)}-dimension embedding"

    return probe


def _bedrock_fix(model_id: str, settings: Settings) -> str:
    region = settings.bedrock_region_name
    return (
        f"enable {model_id} under Bedrock > Model access in {region}, and allow the task role "
        f"bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream on "
        f"arn:aws:bedrock:{region}:ACCOUNT:inference-profile/{model_id} (for profile ids) and "
        f"arn:aws:bedrock:*::foundation-model/{model_id.split('.', 1)[-1] if model_id.count('.') > 1 else model_id}"
    )


def collect_checks(settings: Settings) -> list[Check]:
    from bot.wiring import build_store, has_aws_credentials

    checks = [
        Check(
            "configuration", True, f"loaded; corpus languages {','.join(settings.corpus_languages)}"
        )
    ]
    store = build_store(settings)
    checks.append(
        _check(
            "index",
            "run `dualnova ingest` (or /ingest in Slack) to publish a first version",
            lambda: f"version {store.require_current()[0]} under {settings.index_uri}",
        )
    )
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
