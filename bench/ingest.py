"""Ingest throughput: 2,000 synthetic documents in S3 (moto), embeddings at 50 ms per call.

    .venv/bin/python -m bench.ingest [--documents 2000] [--embed-ms 50] [--concurrency 16]

Runs `dualnova ingest s3://.../docs` twice as a real process — the first run embeds every
document, the second finds nothing changed — and prints a table (also written to
bench/results/ingest.json): first-ingest documents per second, the unchanged re-ingest
time, embedding calls made (counted by the Bedrock fake, on the wire), and the ingest
process's peak RSS. Times are the ingest's own (the report's `seconds`, from the lock to
the publish), not Python's start-up. moto and the Bedrock fake run in their own processes,
so the ingest process's CPU and memory are its own.

Targets: first ingest >= 100 documents/s at EMBED_CONCURRENCY=16; unchanged re-ingest
>= 20x faster than the first, with zero embedding calls.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

BUCKET = "dualnova-bench-ingest"
EMBED_MODEL = "amazon.titan-embed-text-v2:0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def moto_process() -> Iterator[str]:
    """moto's threaded server in its own process (not the tests' serialised one)."""
    port = _free_port()
    code = (
        "from moto.server import ThreadedMotoServer; import time\n"
        f"ThreadedMotoServer(ip_address='127.0.0.1', port={port}, verbose=False).start()\n"
        "time.sleep(10**6)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/moto-api/")
        yield url
    finally:
        process.kill()
        process.wait()


class BedrockProcess:
    """The Bedrock fake in its own process; `calls()` asks it how many InvokeModel it got."""

    def __init__(self, embed_s: float) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.ingest", "--serve-bedrock", str(embed_s)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().strip()

    def _ask(self, command: str) -> str:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        return self._process.stdout.readline().strip()

    def calls(self) -> int:
        return int(self._ask("count"))

    def reset_calls(self) -> None:
        self._ask("reset")

    def close(self) -> None:
        self._process.kill()
        self._process.wait()


def serve_bedrock(embed_s: float) -> None:
    from fakes.bedrock import FakeBedrock

    with FakeBedrock() as fake:
        fake.latency("titan-embed", fixed_s=embed_s)
        print(fake.url, flush=True)
        for line in sys.stdin:
            if line.strip() == "count":
                print(len(fake.calls("InvokeModel")), flush=True)
            elif line.strip() == "reset":
                fake.reset()
                fake.latency("titan-embed", fixed_s=embed_s)
                print("ok", flush=True)


def seed(moto_url: str, documents: int) -> None:
    import boto3
    from botocore.config import Config

    from fakes.s3_corpus import put_documents

    client = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(max_pool_connections=16),
    )
    client.create_bucket(Bucket=BUCKET)
    put_documents(client, BUCKET, "docs", range(documents))


def run_child(argv: list[str]) -> None:
    """Inside the ingest process: run the CLI, then report its JSON and this process's peak RSS."""
    from bot.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(argv)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = json.loads(out.getvalue()) if code == 0 else {}
    print(json.dumps({"exit": code, "report": report, "peak_rss_mb": round(peak_kb / 1024, 1)}))


def ingest_once(env: dict[str, str]) -> dict[str, Any]:
    argv = ["ingest", f"s3://{BUCKET}/docs", "--json"]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bench.ingest", "--child", *argv],
        cwd=env["DUALNOVA_BENCH_CWD"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"ingest failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["exit"] != 0:
        raise SystemExit(f"ingest exited {result['exit']}:\n{done.stderr[-3000:]}")
    result["wall_s"] = round(time.monotonic() - started, 2)
    return result


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--embed-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    with moto_process() as moto_url, tempfile.TemporaryDirectory() as work:
        bedrock = BedrockProcess(args.embed_ms / 1000)
        try:
            print(f"seeding {args.documents} documents into moto S3 …", file=sys.stderr)
            seed(moto_url, args.documents)
            env = {
                key: value
                for key, value in os.environ.items()
                if not key.startswith(("AWS_", "DUALNOVA_", "SLACK_"))
            }
            env.update(
                {
                    "PYTHONPATH": str(REPO),
                    "DUALNOVA_BENCH_CWD": work,
                    "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "bench",
                    "AWS_REGION": "us-east-1",
                    "AWS_CONFIG_FILE": str(Path(work) / "none"),
                    "AWS_SHARED_CREDENTIALS_FILE": str(Path(work) / "none"),
                    "AWS_EC2_METADATA_DISABLED": "true",
                    "AWS_ENDPOINT_URL_S3": moto_url,
                    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock.url,
                    "INDEX_URI": f"s3://{BUCKET}/index",
                    "EMBED_MODEL_ID": EMBED_MODEL,
                    "EMBED_CONCURRENCY": str(args.concurrency),
                    "LOG_LEVEL": "WARNING",
                }
            )
            print("first ingest …", file=sys.stderr)
            first = ingest_once(env)
            first_calls = bedrock.calls()
            bedrock.reset_calls()
            print("unchanged re-ingest …", file=sys.stderr)
            second = ingest_once(env)
            second_calls = bedrock.calls()
        finally:
            bedrock.close()

    first_s = float(first["report"]["seconds"])
    second_s = float(second["report"]["seconds"])
    docs_per_s = args.documents / first_s
    speedup = first_s / second_s if second_s else float("inf")
    rows = [
        ("first ingest", f"{first_s:.2f} s", "", None),
        ("first ingest, whole process", f"{first['wall_s']:.2f} s", "", None),
        ("first ingest documents/s", f"{docs_per_s:.0f}", ">= 100", docs_per_s >= 100),
        ("first ingest chunks", str(first["report"]["chunks"]), "", None),
        ("first ingest embedding calls (wire)", str(first_calls), "", None),
        ("unchanged re-ingest", f"{second_s:.3f} s", "", None),
        ("unchanged re-ingest, whole process", f"{second['wall_s']:.2f} s", "", None),
        ("re-ingest speed-up", f"{speedup:.1f}x", ">= 20x", speedup >= 20),
        ("re-ingest embedding calls (wire)", str(second_calls), "0", second_calls == 0),
        (
            "re-ingest published",
            str(second["report"]["published"]).lower(),
            "false",
            not second["report"]["published"],
        ),
        ("peak RSS first ingest", f"{first['peak_rss_mb']:.0f} MB", "", None),
        ("peak RSS re-ingest", f"{second['peak_rss_mb']:.0f} MB", "", None),
    ]
    width = max(len(r[0]) for r in rows)
    print(
        f"\ningest benchmark — {args.documents} documents, embedding {args.embed_ms:.0f} ms/call, "
        f"EMBED_CONCURRENCY={args.concurrency}, {os.cpu_count()} CPUs"
    )
    print(f"{'metric':<{width}}  {'value':>12}  {'target':>8}")
    for name, value, target, ok in rows:
        mark = "" if ok is None else ("  ok" if ok else "  MISSED")
        print(f"{name:<{width}}  {value:>12}  {target:>8}{mark}")
    passed = all(ok for *_, ok in rows if ok is not None)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "ingest.json"
    payload = {
        "benchmark": "ingest",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "passed": passed,
        "parameters": {
            "documents": args.documents,
            "embed_ms": args.embed_ms,
            "embed_concurrency": args.concurrency,
            "embed_model": EMBED_MODEL,
        },
        "rows": [{"metric": n, "value": v, "target": t, "ok": ok} for n, v, t, ok in rows],
        "data": {
            "first": {**first, "embedding_calls_on_wire": first_calls},
            "unchanged": {**second, "embedding_calls_on_wire": second_calls},
        },
    }
    for run in (payload["data"]["first"], payload["data"]["unchanged"]):
        report = run["report"]
        for key in ("added", "unchanged", "updated", "deleted"):
            report[key] = len(report[key])  # counts, not 2,000 keys
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwritten to {path.relative_to(REPO)}")
    return 0 if passed else 1


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-bedrock":
        serve_bedrock(float(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--child":
        run_child(sys.argv[2:])
    else:
        sys.exit(main())
