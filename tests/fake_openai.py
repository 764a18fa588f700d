"""A scripted OpenAI-compatible server for tests: an httpx transport that answers
/chat/completions from a list of canned answers and records every request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

Answer = dict[str, Any] | Callable[[dict[str, Any]], httpx.Response]


def completion(
    records: list[dict[str, Any]] | None = None,
    *,
    content: str | None = None,
    tool: bool = False,
    finish: str = "stop",
    prompt_tokens: int = 100,
    completion_tokens: int = 20,
    fence: bool = False,
) -> dict[str, Any]:
    text = content if content is not None else json.dumps({"records": records or []})
    if fence:
        text = f"```json\n{text}\n```"
    message: dict[str, Any] = {"role": "assistant", "content": None if tool else text}
    if tool:
        message["tool_calls"] = [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "QuantitativeTargetRecords", "arguments": text},
            }
        ]
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class FakeServer:
    def __init__(self, answers: list[Answer] | Callable[[dict[str, Any]], Answer]) -> None:
        self.answers = answers
        self.requests: list[dict[str, Any]] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        if callable(self.answers):
            answer = self.answers(body)
        else:
            if not self.answers:
                return httpx.Response(500, json={"error": "no scripted answer left"})
            answer = self.answers.pop(0)
        if callable(answer):
            return answer(body)
        return httpx.Response(200, json=answer)
