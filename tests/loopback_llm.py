"""A deterministic OpenAI-compatible server on loopback for reliability tests: it
answers each /chat/completions request of the free strategy with the records the
offline rules find in the article of the request, and each request of the
mention-first strategy (closed choices, mentions.v4 and later) with the first answer
allowed for every number (the offline default's most probable reading). Fast, and
the same request always gets the same answer, so a run with injected faults can be
compared with a fault-free run."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from polex.pipeline.records import Article, ArticleContext
from polex.pipeline.registry import discover
from tests.servers import LoopbackHTTPServer, QuietHandler

_ARTICLE = re.compile(r"<article>\n(.*)\n</article>", re.DOTALL)


def answer_for(body: dict[str, Any]) -> dict[str, Any]:
    labels = closed_labels(body)
    content = json.dumps({"records": offline_records(body)} if labels is None else {"labels": labels})
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "x"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": len(json.dumps(body)) // 4,
            "completion_tokens": len(content) // 4,
            "total_tokens": len(json.dumps(body)) // 4 + len(content) // 4,
        },
    }


def closed_labels(body: dict[str, Any]) -> dict[str, str] | None:
    """A mention-first answer: the first allowed answer of every listed number, read
    off the response format's schema (json_schema mode); None for a request that
    asks for records."""
    response_format = body.get("response_format") or {}
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    labels = (schema.get("properties") or {}).get("labels")
    if labels is None:
        return None
    if "$ref" in labels:
        labels = schema["$defs"][labels["$ref"].rsplit("/", 1)[-1]]
    return {
        key: (allowed.get("enum") or [allowed["const"]])[0] for key, allowed in labels["properties"].items()
    }


def offline_records(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The records the offline rules find in the request's article."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user" and "<article>" in m["content"])
    text = _ARTICLE.search(user).group(1)  # type: ignore[union-attr]
    specs = discover()
    schema_name = next((name for name in specs if f"every {name} record" in user), "QuantitativeTarget")
    spec = specs[schema_name]
    assert spec.offline is not None
    found = spec.offline(ArticleContext(Article("x", text)))
    return [(r[0] if isinstance(r, tuple) else r).model_dump(mode="json") for r in found]


class LoopbackLLM(LoopbackHTTPServer):
    def __init__(self) -> None:
        self.requests = 0
        self._lock = threading.Lock()
        server = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length))
                with server._lock:
                    server.requests += 1
                self.send_json(answer_for(body))

        super().__init__(Handler)
