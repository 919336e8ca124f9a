"""A loopback fake of Bedrock Knowledge Bases `Retrieve` (bedrock-agent-runtime).

Point boto3 at it (``AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME`` or ``endpoint_url=``) and the
real botocore code path runs: REST-JSON serialisation of the request, error parsing by
``x-amzn-ErrorType``. The operation, from botocore's service model (2023-07-26)::

    POST /knowledgebases/{knowledgeBaseId}/retrieve   Retrieve

Documents are added per knowledge base with their metadata attributes; a query returns the
documents sharing the most words with it, scored 0..1, after applying the request's
``vectorSearchConfiguration.filter`` (``equals``, ``in``, ``andAll``, ``orAll`` are honoured).

Usage::

    with FakeKnowledgeBase() as kb:
        kb.add("KB1", "Annual leave is 20 days.", uri="s3://docs/leave.md",
               metadata={"collection": "public", "title": "Leave policy"})
        kb.fail("AccessDeniedException", times=1)
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fakes.loopback import LoopbackServer

__all__ = ["FakeKnowledgeBase", "KbDocument"]

_PATH = re.compile(r"^/knowledgebases/(?P<kb>[^/]+)/retrieve$")
_WORD = re.compile(r"\w+")
_STATUS = {
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ThrottlingException": 429,
    "ValidationException": 400,
    "InternalServerException": 500,
}


@dataclass
class KbDocument:
    text: str
    uri: str
    metadata: dict[str, Any] = field(default_factory=dict)
    chunk_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class FakeKnowledgeBase(LoopbackServer):
    """bedrock-agent-runtime Retrieve on ``127.0.0.1:<ephemeral>``, in its own thread."""

    thread_name = "fake-kb"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict[str, Any]] = []
        self._documents: dict[str, list[KbDocument]] = {}
        self._faults: list[str] = []
        self._lock = threading.Lock()

    # lifecycle -----------------------------------------------------------------------------

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._dispatch)

    # scripting -----------------------------------------------------------------------------

    def add(
        self, kb_id: str, text: str, *, uri: str, metadata: dict[str, Any] | None = None
    ) -> KbDocument:
        document = KbDocument(text=text, uri=uri, metadata=dict(metadata or {}))
        with self._lock:
            self._documents.setdefault(kb_id, []).append(document)
        return document

    def fail(self, code: str, *, times: int = 1) -> None:
        """Answer the next ``times`` requests with this error code."""
        with self._lock:
            self._faults += [code] * times

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._documents.clear()
            self._faults.clear()

    # request handling ----------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.Response:
        match = _PATH.match(request.path)
        if match is None or request.method != "POST":
            return _error("UnknownOperationException", request.path, 404)
        body = await request.json()
        kb_id = match["kb"]
        with self._lock:
            self.requests.append({"knowledgeBaseId": kb_id, **body})
            fault = self._faults.pop(0) if self._faults else None
            documents = list(self._documents.get(kb_id, []))
        if fault is not None:
            return _error(fault, f"fake: {fault}", _STATUS.get(fault, 400))
        if kb_id not in self._documents:
            return _error("ResourceNotFoundException", f"Knowledge base {kb_id} not found", 404)
        query = body.get("retrievalQuery", {}).get("text", "")
        search = body.get("retrievalConfiguration", {}).get("vectorSearchConfiguration", {})
        limit = int(search.get("numberOfResults", 5))
        flt = search.get("filter")
        scored = [(_score(query, d.text), d) for d in documents if flt is None or _matches(flt, d)]
        scored = sorted((s for s in scored if s[0] > 0), key=lambda s: s[0], reverse=True)
        results = [
            {
                "content": {"text": d.text, "type": "TEXT"},
                "location": {"type": "S3", "s3Location": {"uri": d.uri}},
                "metadata": {
                    **d.metadata,
                    "x-amz-bedrock-kb-source-uri": d.uri,
                    "x-amz-bedrock-kb-chunk-id": d.chunk_id,
                },
                "score": round(score, 4),
            }
            for score, d in scored[:limit]
        ]
        return web.json_response({"retrievalResults": results})


def _error(code: str, message: str, status: int) -> web.Response:
    return web.json_response(
        {"message": message}, status=status, headers={"x-amzn-ErrorType": f"{code}:http://fake/"}
    )


def _score(query: str, text: str) -> float:
    asked = {w.lower() for w in _WORD.findall(query)}
    have = {w.lower() for w in _WORD.findall(text)}
    return len(asked & have) / len(asked) if asked else 0.0


def _matches(flt: dict[str, Any], document: KbDocument) -> bool:
    (operator, operand), *_ = flt.items()
    if operator == "andAll":
        return all(_matches(f, document) for f in operand)
    if operator == "orAll":
        return any(_matches(f, document) for f in operand)
    value = document.metadata.get(operand["key"])
    if operator == "equals":
        return bool(value == operand["value"])
    if operator == "in":
        return value in operand["value"]
    raise ValueError(f"fake knowledge base: filter {operator!r} is not faked")
