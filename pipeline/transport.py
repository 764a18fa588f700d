"""HTTP transports under the OpenAI client, composed as layers:

    client -> CachingTransport -> RetryTransport -> network (or in-process llama)

* CachingTransport answers a request it has seen from disk, keyed on the canonical
  request body (model, parameters, rendered prompt, schema, article text, and any
  reask turns), so a repeated run makes no requests. In replay mode a miss raises
  ReplayMiss instead of calling out: a recording committed to the repo replays
  through the full LLM path in CI.
* RetryTransport retries transport faults only (429, 5xx, resets, timeouts,
  truncated bodies) with exponential backoff and jitter, honouring Retry-After, up to
  a budget; validation reasks are instructor's business, one layer up.
* Rate limits (requests and tokens per minute) are taken before each network try.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)
from tenacity.wait import wait_base, wait_random_exponential

from polex.pipeline import defaults
from polex.pipeline.errors import PolexError
from polex.pipeline.files import atomic_write
from polex.pipeline.usage import ledger

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


class ReplayMiss(PolexError, RuntimeError):
    """A replayed run asked for a request the recording does not hold."""


class RetryableResponse(PolexError):
    def __init__(self, status: int, retry_after: float | None, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.retry_after = retry_after


class TruncatedBody(PolexError):
    """A 200 answer whose JSON body was cut off in transit."""


def request_key(request: httpx.Request, namespace: str) -> str:
    """A stable key of what determines the answer: the namespace (backend and
    model), the endpoint path and the body with keys sorted."""
    try:
        body: Any = json.loads(request.content or b"{}")
    except json.JSONDecodeError:
        body = request.content.decode("utf-8", "replace")
    canonical = json.dumps(
        {"ns": namespace, "path": request.url.path, "body": body}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseStore:
    """One JSON file per answered request, written atomically (fsynced, then renamed)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
            return loaded
        except (OSError, json.JSONDecodeError):
            return None  # a damaged entry is a miss, never a crash

    def put(self, key: str, entry: dict[str, Any]) -> None:
        atomic_write(self._path(key), json.dumps(entry, ensure_ascii=False))


class CachingTransport(httpx.AsyncBaseTransport):
    def __init__(
        self, inner: httpx.AsyncBaseTransport, store: ResponseStore, namespace: str, replay: bool = False
    ) -> None:
        self.inner = inner
        self.store = store
        self.namespace = namespace
        self.replay = replay

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = request_key(request, self.namespace)
        hit = self.store.get(key)
        if hit is not None:
            ledger().cache_hits += 1
            return httpx.Response(hit["status"], json=hit["body"], request=request)
        if self.replay:
            raise ReplayMiss(
                f"the recording in {self.store.directory} has no answer for request {key[:12]} "
                f"(namespace {self.namespace}); re-record it against a server"
            )
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        if response.status_code == 200:
            body = json.loads(content)
            self.store.put(key, {"status": 200, "body": body, "namespace": self.namespace})
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class _WaitRetryAfter(wait_base):
    """Retry-After when the server gave one (capped), else exponential with jitter."""

    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RetryableResponse) and exc.retry_after is not None:
            return min(exc.retry_after, self.cap)
        return float(self.fallback(retry_state))


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = defaults.RETRY_ATTEMPTS
    # Longer than several request timeouts: a budget no longer than one timeout would
    # stop after a first attempt that timed out, without retrying it.
    budget_seconds: float = 600.0
    initial_wait: float = 0.5
    max_wait: float = 20.0


@dataclass
class RateLimits:
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None

    def __post_init__(self) -> None:
        # One request per 60/rpm seconds, with no initial burst: any 60-second window
        # then sees at most rpm (+1) requests, which is what a provider's limit means.
        rpm = self.requests_per_minute
        self._rpm = AsyncLimiter(1, 60 / rpm) if rpm else None
        self._tpm = AsyncLimiter(self.tokens_per_minute, 60) if self.tokens_per_minute else None

    async def acquire(self, request: httpx.Request) -> None:
        if self._rpm is not None:
            await self._rpm.acquire()
        if self._tpm is not None:
            # Estimate before the answer exists: a token per 4 bytes of request,
            # plus the completion budget asked for.
            try:
                body = json.loads(request.content or b"{}")
            except json.JSONDecodeError:
                body = {}
            estimate = len(request.content) / 4 + float(body.get("max_tokens") or 0)
            await self._tpm.acquire(min(estimate, self._tpm.max_rate))


class RetryTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        policy: RetryPolicy | None = None,
        limits: RateLimits | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy()
        self.limits = limits or RateLimits()
        self.sleep = sleep or asyncio.sleep

    async def _attempt(self, request: httpx.Request) -> httpx.Response:
        await self.limits.acquire(request)
        ledger().requests += 1
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        if response.status_code in RETRY_STATUSES:
            raise RetryableResponse(
                response.status_code,
                retry_after_seconds(response.headers),
                content[:200].decode("utf-8", "replace"),
            )
        if response.status_code == 200 and "json" in response.headers.get("content-type", "json"):
            try:
                body = json.loads(content)
            except json.JSONDecodeError as exc:
                raise TruncatedBody(f"unreadable JSON body ({len(content)} bytes): {exc}") from exc
            ledger().count_tokens(body)
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        policy = self.policy
        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.budget_seconds),
            wait=_WaitRetryAfter(
                wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait),
                cap=policy.max_wait * 3,
            ),
            retry=retry_if_exception_type((httpx.TransportError, RetryableResponse, TruncatedBody)),
            sleep=self.sleep,
            reraise=True,
            before_sleep=lambda _state: setattr(
                ledger(), "transport_retries", ledger().transport_retries + 1
            ),
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(request)
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def aclose(self) -> None:
        await self.inner.aclose()


class InProcessLlamaTransport(httpx.AsyncBaseTransport):
    """Serves /chat/completions from a llama_cpp.Llama in this process, so the
    in-process backend goes through the very same client, cache and checks as a
    server. One call at a time: a Llama object is not thread-safe."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self._lock = asyncio.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/chat/completions"):
            return httpx.Response(404, json={"error": {"message": f"no route {request.url.path}"}})
        body = json.loads(request.content)
        allowed = {"messages", "temperature", "top_p", "max_tokens", "seed", "stop", "response_format"}
        kwargs = {k: v for k, v in body.items() if k in allowed}
        if isinstance(body.get("grammar"), str):  # llama.cpp's GBNF, as its servers accept it
            from llama_cpp.llama_grammar import LlamaGrammar

            kwargs["grammar"] = LlamaGrammar.from_string(body["grammar"], verbose=False)
        async with self._lock:
            result = await asyncio.to_thread(self.llama.create_chat_completion, **kwargs)
        return httpx.Response(200, json=result, request=request)
