"""The bottom of the online transport stack in a Batch API run. In place of the
network it answers a request from the batch results collected so far, or, when the
results hold no answer yet, records the request for the next batch round and fails
it with ``Deferred``: the article fails for now and is redone by the next pass.

Because the requests are produced by the normal online pipeline (the same client,
prompts, instructor reasks, chunk splits), a batch sends the very bodies an online
run would (the same JSON), and the request ids are the response cache's keys."""

from __future__ import annotations

import json

import httpx

from polex.pipeline.batch_files import CHAT_COMPLETIONS, BatchRequest, RequestSpool
from polex.pipeline.transport import ReplayMiss, ResponseStore, request_key


class Deferred(ReplayMiss):
    """A request that waits for a batch round. A kind of replay miss, so that the
    backend fails the article loudly instead of keeping an earlier answer."""


class BatchTransport(httpx.AsyncBaseTransport):
    def __init__(self, answers: ResponseStore, namespace: str, spool: RequestSpool) -> None:
        self.answers = answers
        self.namespace = namespace
        self.spool = spool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = request_key(request, self.namespace)
        answer = self.answers.get(key)
        if answer is not None:
            return httpx.Response(answer["status"], json=answer["body"], request=request)
        if not request.url.path.endswith("/chat/completions"):
            raise ValueError(f"the Batch API route sends chat completions only, not {request.url.path}")
        self.spool.add(BatchRequest(custom_id=key, url=CHAT_COMPLETIONS, body=json.loads(request.content)))
        raise Deferred(f"request {key[:12]} awaits a batch round")
