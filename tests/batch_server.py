"""A loopback server for the Batch API route: the subset of OpenAI's endpoints the
client uses (upload, list and download files; create, list and retrieve batches),
answering each request line with the deterministic loopback LLM
(tests/loopback_llm.py) or a test's own answer function.

Nothing depends on time: a batch ends at the ``polls``-th retrieve, and the test
says beforehand how it ends (completed, expired after some requests, failed)."""

from __future__ import annotations

import email.parser
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.loopback_llm import answer_for
from tests.servers import LoopbackHTTPServer, QuietHandler

Answer = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Ending:
    """How the next batch created ends."""

    status: str = "completed"  # completed, expired or failed
    answered: int | None = None  # expired: how many of its requests were answered first
    errors: list[dict[str, Any]] = field(default_factory=list)  # failed: the provider's reasons


class BatchServer(LoopbackHTTPServer):
    def __init__(self, answer: Answer = answer_for, polls: int = 1) -> None:
        self.answer = answer
        self.polls = polls  # retrieves before a batch ends
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.endings: list[Ending] = []  # consumed in order by the batches created; default completed
        self.ending_of: dict[str, Ending] = {}
        self.retrieves: dict[str, int] = {}
        self.answered_lines: list[dict[str, Any]] = []  # every request line the "model" answered
        self.downloads = 0
        self._lock = threading.Lock()
        self._clock = int(time.time())  # created_at stamps, as a provider's clock gives them
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.route(self, b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with server._lock:
                    server.route(self, body)

        super().__init__(Handler)

    # ---- helpers for tests --------------------------------------------------------

    def uploaded_lines(self) -> list[dict[str, Any]]:
        return [
            json.loads(line)
            for file_id, content in self.contents.items()
            if self.files[file_id]["purpose"] == "batch"
            for line in content.decode().splitlines()
        ]

    # ---- routing ------------------------------------------------------------------

    def route(self, handler: QuietHandler, body: bytes) -> None:
        url = urlsplit(handler.path)
        path = url.path.removeprefix("/v1")
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = [p for p in path.split("/") if p]
        status, payload = 404, {"error": {"message": f"no route {handler.command} {path}"}}
        if parts == ["files"] and handler.command == "POST":
            status, payload = 200, self._upload(handler.headers.get("content-type", ""), body)
        elif parts == ["files"]:
            files = [f for f in self.files.values() if f["purpose"] == query.get("purpose", f["purpose"])]
            status, payload = 200, _page(sorted(files, key=lambda f: -f["created_at"]))
        elif len(parts) == 3 and parts[0] == "files" and parts[2] == "content" and parts[1] in self.contents:
            self.downloads += 1
            _send(handler, 200, self.contents[parts[1]], "application/octet-stream")
            return
        elif parts == ["batches"] and handler.command == "POST":
            status, payload = 200, self._create(json.loads(body))
        elif parts == ["batches"]:
            status, payload = 200, _page(sorted(self.batches.values(), key=lambda b: -b["created_at"]))
        elif len(parts) == 2 and parts[0] == "batches" and parts[1] in self.batches:
            status, payload = 200, self._retrieve(parts[1])
        _send(handler, status, json.dumps(payload).encode(), "application/json")

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def _store_file(self, name: str, content: bytes, purpose: str) -> dict[str, Any]:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": self._tick(),
            "filename": name,
            "purpose": purpose,
            "status": "processed",
        }
        self.contents[file_id] = content
        return self.files[file_id]

    def _upload(self, content_type: str, body: bytes) -> dict[str, Any]:
        message = email.parser.BytesParser().parsebytes(
            f"content-type: {content_type}\r\n\r\n".encode() + body
        )
        fields: dict[str, Any] = {}
        for part in message.get_payload():  # type: ignore[union-attr]
            name = part.get_param("name", header="content-disposition")
            fields[name] = (part.get_filename(), part.get_payload(decode=True))
        filename, content = fields["file"]
        return self._store_file(filename, content, fields["purpose"][1].decode())

    def _create(self, request: dict[str, Any]) -> dict[str, Any]:
        batch_id = f"batch-{len(self.batches) + 1}"
        lines = self.contents[request["input_file_id"]].decode().splitlines()
        self.batches[batch_id] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": request["endpoint"],
            "completion_window": request["completion_window"],
            "input_file_id": request["input_file_id"],
            "metadata": request.get("metadata"),
            "created_at": self._tick(),
            "status": "validating",
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "output_file_id": None,
            "error_file_id": None,
            "errors": None,
        }
        self.ending_of[batch_id] = self.endings.pop(0) if self.endings else Ending()
        return self.batches[batch_id]

    def _retrieve(self, batch_id: str) -> dict[str, Any]:
        batch = self.batches[batch_id]
        if batch["status"] not in ("validating", "in_progress"):
            return batch
        self.retrieves[batch_id] = self.retrieves.get(batch_id, 0) + 1
        if self.retrieves[batch_id] < self.polls:
            batch["status"] = "in_progress"
            return batch
        self._end(batch, self.ending_of[batch_id])
        return batch

    def _end(self, batch: dict[str, Any], ending: Ending) -> None:
        if ending.status == "failed":
            batch["status"] = "failed"
            batch["errors"] = {"object": "list", "data": ending.errors}
            return
        lines = [json.loads(line) for line in self.contents[batch["input_file_id"]].decode().splitlines()]
        answered = len(lines) if ending.answered is None else ending.answered
        outputs, errors = [], []
        for number, line in enumerate(lines):
            if number < answered:
                self.answered_lines.append(line)
                response = {
                    "status_code": 200,
                    "request_id": f"req-{number}",
                    "body": self.answer(line["body"]),
                }
                outputs.append(
                    {
                        "id": f"{batch['id']}-{number}",
                        "custom_id": line["custom_id"],
                        "response": response,
                        "error": None,
                    }
                )
            else:
                error = {
                    "code": "batch_expired",
                    "message": "This request could not be executed before the completion window expired.",
                }
                errors.append(
                    {
                        "id": f"{batch['id']}-{number}",
                        "custom_id": line["custom_id"],
                        "response": None,
                        "error": error,
                    }
                )
        batch["status"] = ending.status
        batch["request_counts"] = {"total": len(lines), "completed": len(outputs), "failed": len(errors)}
        if outputs:
            batch["output_file_id"] = self._jsonl_file(f"{batch['id']}_output.jsonl", outputs)
        if errors:
            batch["error_file_id"] = self._jsonl_file(f"{batch['id']}_error.jsonl", errors)

    def _jsonl_file(self, name: str, rows: list[dict[str, Any]]) -> str:
        content = "".join(json.dumps(r) + "\n" for r in rows).encode()
        return str(self._store_file(name, content, "batch_output")["id"])


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": items,
        "has_more": False,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
    }


def _send(handler: QuietHandler, status: int, payload: bytes, content_type: str) -> None:
    handler.send_response(status)
    handler.send_header("content-type", content_type)
    handler.send_header("content-length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
