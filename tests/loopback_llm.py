"""A deterministic OpenAI-compatible server on loopback for reliability tests: it
answers each /chat/completions request with the records the offline rules find in
the article of the request. Fast, and the same request always gets the same
answer, so a run with injected faults can be compared with a fault-free run."""

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
    user = next(m["content"] for m in body["messages"] if m["role"] == "user" and "<article>" in m["content"])
    text = _ARTICLE.search(user).group(1)  # type: ignore[union-attr]
    specs = discover()
    schema_name = next((name for name in specs if f"every {name} record" in user), "QuantitativeTarget")
    spec = specs[schema_name]
    assert spec.offline is not None
    found = spec.offline(ArticleContext(Article("x", text)))
    records = [(r[0] if isinstance(r, tuple) else r).model_dump(mode="json") for r in found]
    content = json.dumps({"records": records})
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
