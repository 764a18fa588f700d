"""A fault-injecting HTTP proxy on loopback, between the pipeline and a server.

At a configurable rate it answers a request itself with a fault instead of
forwarding it: 429 with Retry-After, 500/502/503, a connection reset, a read
timeout (it holds the request past the client's timeout), a truncated body, or a
well-formed answer whose JSON does not fit the schema. It records what reached the
upstream, how many requests were in flight at once, and when each arrived."""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from typing import Any

import httpx

from tests.servers import LoopbackHTTPServer, QuietHandler

FAULTS = ("429", "500", "502", "503", "reset", "timeout", "truncated", "invalid_json")


class FaultProxy(LoopbackHTTPServer):
    def __init__(
        self,
        upstream: str,
        rate: float = 0.0,
        faults: tuple[str, ...] = FAULTS,
        seed: int = 0,
        timeout_hold: float = 3.0,
        retry_after: str = "0.05",
        first_n: int = 0,
        always_fail_marker: str | None = None,
        delay: float = 0.0,
        hold_after: int | None = None,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.rate = rate
        self.faults = faults
        self.timeout_hold = timeout_hold
        self.first_n = first_n  # inject on the first n requests whatever the rate
        self.always_fail_marker = always_fail_marker  # requests containing it always get a fault
        self.delay = delay  # seconds added to every forwarded request
        # after this many forwarded requests, later ones wait until `release` is set:
        # a run that cannot finish before the test says so (no race with the clock)
        self.hold_after = hold_after
        self.release = threading.Event()
        self.retry_after = retry_after
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self.forwarded: list[dict[str, Any]] = []
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        proxy = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with proxy._lock:
                    proxy.arrivals.append(time.monotonic())
                    proxy.in_flight += 1
                    proxy.max_in_flight = max(proxy.max_in_flight, proxy.in_flight)
                    draw = proxy._rng.random()
                    forced = len(proxy.arrivals) <= proxy.first_n or (
                        proxy.always_fail_marker is not None and proxy.always_fail_marker.encode() in body
                    )
                    fault = proxy._rng.choice(proxy.faults) if forced or draw < proxy.rate else None
                    if fault:
                        proxy.injected[fault] += 1
                try:
                    if fault:
                        self._fault(fault, body)
                    else:
                        self._forward(body)
                finally:
                    with proxy._lock:
                        proxy.in_flight -= 1

            def _send(
                self, status: int, payload: bytes, headers: dict[str, str] | None = None, cut: bool = False
            ) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload[: len(payload) // 2] if cut else payload)
                if cut:
                    self.wfile.flush()
                    self.close_connection = True

            def _forward(self, body: bytes) -> httpx.Response:
                with proxy._lock:
                    proxy.forwarded.append(json.loads(body))
                    held = proxy.hold_after is not None and len(proxy.forwarded) > proxy.hold_after
                if held:
                    proxy.release.wait(timeout=300)
                if proxy.delay:
                    time.sleep(proxy.delay)
                response = httpx.post(
                    f"{proxy.upstream}{self.path.removeprefix('/v1')}",
                    content=body,
                    headers={"content-type": "application/json"},
                    timeout=600,
                )
                self._send(response.status_code, response.content)
                return response

            def _fault(self, fault: str, body: bytes) -> None:
                if fault == "429":
                    self._send(
                        429, b'{"error": {"message": "rate limited"}}', {"Retry-After": proxy.retry_after}
                    )
                elif fault in ("500", "502", "503"):
                    self._send(int(fault), b'{"error": {"message": "injected server error"}}')
                elif fault == "reset":
                    # SO_LINGER 0 then close: the client sees a connection reset
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                elif fault == "timeout":
                    time.sleep(proxy.timeout_hold)
                    self.close_connection = True
                elif fault == "truncated":
                    upstream = httpx.post(
                        f"{proxy.upstream}{self.path.removeprefix('/v1')}",
                        content=body,
                        headers={"content-type": "application/json"},
                        timeout=600,
                    )
                    self._send(200, upstream.content, cut=True)
                elif fault == "invalid_json":
                    answer = {
                        "id": "x",
                        "object": "chat.completion",
                        "created": 0,
                        "model": "x",
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {
                                    "role": "assistant",
                                    "content": '{"records": [{"value": "lots"}]}',
                                },
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                    }
                    self._send(200, json.dumps(answer).encode())

        super().__init__(Handler)
