"""moto in server mode on loopback: real boto3 clients talk HTTP to it, as the app does to AWS.

The in-process ``mock_aws`` decorator patches botocore and would hide endpoint, retry and
serialisation bugs; a ``ThreadedMotoServer`` on ``127.0.0.1:<ephemeral>`` does not. An app
started as a subprocess reaches it through ``env()`` (boto3's service-specific endpoint
variables).

Usage::

    with MotoServer() as moto:
        moto.create_state_table("dualnova-state")
        client = moto.client("dynamodb")
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from fakes.loopback import LoopbackService

__all__ = ["REGION", "MotoServer"]

REGION = "us-east-1"
_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class _SerialMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer that handles one request at a time and keeps no access log.

    moto's backends are plain Python objects without locks: a conditional PutItem parses,
    checks and writes in separate steps, and UpdateItem ADD reads, adds and writes, so two
    request threads can interleave and both "win" a claim or lose an increment. Real
    DynamoDB makes each single-item write atomic; serialising requests gives moto the same
    guarantee, so the concurrency tests pin our code and not moto's luck.
    """

    #: KMS keys the callers may not use (`MotoServer.deny_kms`); read by the request thread.
    kms_denied: frozenset[str] = frozenset()

    def _server_entry(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        class QuietHandler(MotoRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                pass  # one line per request on stderr otherwise

        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serial_app(environ: Any, start_response: Any) -> Any:
            with lock:
                # Drain the body inside the lock: a WSGI body may be a lazy iterable.
                if not self.kms_denied:
                    return list(app(environ, start_response))
                answer: list[Any] = []
                body = list(app(environ, lambda *args: answer.extend(args) or (lambda _: None)))
                denial = _kms_denial(environ, answer[1], self.kms_denied)
                if denial is not None:
                    start_response("403 Forbidden", [("Content-Type", "application/xml")])
                    return [denial]
                start_response(*answer)
                return body

        # Still one thread per connection, so an idle keep-alive client blocks nobody.
        self._server = make_server(
            self._ip_address, self._port, serial_app, threaded=True, request_handler=QuietHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def _kms_denial(
    environ: Any, headers: list[tuple[str, str]], denied: frozenset[str]
) -> bytes | None:
    """What S3 answers a GetObject on an SSE-KMS object whose key the caller may not use.

    moto stores the object's key but checks no KMS permission. Real S3 serves HEAD (metadata
    only) and refuses GET with a 403 AccessDenied whose message names kms:Decrypt and the key.
    """
    if environ.get("REQUEST_METHOD") != "GET":
        return None
    found = {name.lower(): value for name, value in headers}
    key = found.get("x-amz-server-side-encryption-aws-kms-key-id")
    if found.get("x-amz-server-side-encryption") != "aws:kms" or key not in denied:
        return None
    message = (
        "User: arn:aws:sts::123456789012:assumed-role/dualnova-task/test is not authorized to "
        f"perform: kms:Decrypt on resource: {key} because no identity-based policy allows the "
        "kms:Decrypt action"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        f"<Message>{message}</Message><RequestId>KMSDENIED</RequestId></Error>"
    ).encode()


class MotoServer(LoopbackService):
    """moto on ``127.0.0.1:<ephemeral>``, served from a daemon thread (moto's own)."""

    def __init__(self, *, region: str = REGION) -> None:
        self.region = region
        self._server: ThreadedMotoServer | None = None

    # lifecycle -----------------------------------------------------------------------------

    def start(self) -> MotoServer:
        """Bind an ephemeral port and serve; returns self."""
        if self._server is not None:
            raise RuntimeError("MotoServer is already started")
        server = _SerialMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server, self._url = server, f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        """Shut the server down and join its thread."""
        if self._server is None:
            return
        self._server.stop()
        self._server, self._url = None, None

    def reset(self) -> None:
        """Forget every resource in every service (moto's ``/moto-api/reset``)."""
        self._post("/moto-api/reset", b"")

    def env(self) -> dict[str, str]:
        """Environment for an app subprocess: endpoint overrides plus dummy credentials."""
        return {
            "AWS_ENDPOINT_URL_DYNAMODB": self.url,
            "AWS_ENDPOINT_URL_S3": self.url,
            "AWS_ACCESS_KEY_ID": _CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": _CREDENTIALS["aws_secret_access_key"],
            "AWS_REGION": self.region,
        }

    # resources -----------------------------------------------------------------------------

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for ``service`` pointed at this server, with dummy credentials."""
        options: dict[str, Any] = {
            "region_name": self.region,
            "endpoint_url": self.url,
            **_CREDENTIALS,
        }
        return boto3.client(service, **{**options, **kwargs})  # type: ignore[call-overload]

    def create_state_table(self, name: str) -> None:
        """The state table as the CDK stack declares it: pk/sk strings, on-demand, TTL on
        ``expires_at``."""
        dynamodb = self.client("dynamodb")
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
        )
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )

    def delete_table(self, name: str) -> None:
        """Drop a table; a missing one is not an error."""
        dynamodb = self.client("dynamodb")
        with contextlib.suppress(dynamodb.exceptions.ResourceNotFoundException):
            dynamodb.delete_table(TableName=name)

    # IAM -----------------------------------------------------------------------------------

    def credentials_allowing(self, *actions: str, user: str = "dualnova-test") -> dict[str, str]:
        """Access keys of a new IAM user whose only permissions are ``actions`` (on ``*``), as
        boto3 client keyword arguments. moto checks them only inside ``enforce_iam()``."""
        iam = self.client("iam")
        iam.create_user(UserName=user)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
        }
        iam.put_user_policy(UserName=user, PolicyName="only", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        return {
            "aws_access_key_id": key["AccessKeyId"],
            "aws_secret_access_key": key["SecretAccessKey"],
        }

    @contextlib.contextmanager
    def deny_kms(self, *key_arns: str) -> Iterator[None]:
        """While inside, reading an object encrypted with one of these KMS keys is refused the
        way S3 refuses a caller without kms:Decrypt on the key (s3:GetObject is not enough)."""
        assert self._server is not None, "start the server first"
        server: Any = self._server
        server.kms_denied = frozenset(key_arns)
        try:
            yield
        finally:
            server.kms_denied = frozenset()

    @contextlib.contextmanager
    def enforce_iam(self) -> Iterator[None]:
        """Authenticate and authorise every request against moto's IAM while inside.

        This switch is global to the moto process (``/moto-api/reset-auth``), and the dummy
        ``testing`` keys are refused while it is on: keep the block short.
        """
        self._post("/moto-api/reset-auth", b"0")
        try:
            yield
        finally:
            self._post("/moto-api/reset-auth", b"inf")

    def _post(self, path: str, body: bytes) -> None:
        # text/plain: with urllib's default form content type moto reads an empty body.
        request = urllib.request.Request(
            self.url + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
