"""The files of the Batch API (OpenAI's format, which `vllm run-batch` reads and
writes too): request files, one request per line, sharded under the provider's
limits; and result files, one answer or error per line, keyed by ``custom_id``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.batch_state import BatchError, Shard, ShardLimits
from pipeline.runstore import atomic_write
from pipeline.transport import RETRY_STATUSES

CHAT_COMPLETIONS = "/v1/chat/completions"  # the endpoint a batch runs; the only one the pipeline uses


class BatchRequest(BaseModel):
    """One line of a request file. ``custom_id`` is the response cache's key of the
    request (``pipeline.transport.request_key``), so an answer lands where the
    online path looks for it."""

    model_config = ConfigDict(extra="forbid")

    custom_id: str
    method: Literal["POST"] = "POST"
    url: str = CHAT_COMPLETIONS
    body: dict[str, Any]

    def line(self) -> str:
        return json.dumps(self.model_dump(), ensure_ascii=False, sort_keys=True) + "\n"


class ResponsePart(BaseModel):
    status_code: int
    request_id: str | None = None
    body: Any = None


class ErrorPart(BaseModel):
    code: str | None = None
    message: str | None = None


class BatchResult(BaseModel):
    """One line of a result file (the provider's output or error file, or vLLM's output)."""

    id: str | None = None
    custom_id: str
    response: ResponsePart | None = None
    error: ErrorPart | None = None

    def answer(self) -> dict[str, Any] | None:
        """What the online path would have received, as a response-cache entry; None
        when the request must be sent again (expired, cancelled, a retryable error)."""
        response = self.response
        if self.error is not None or response is None or not isinstance(response.body, dict):
            return None
        code = response.status_code
        if code == 200 or (code >= 400 and code not in RETRY_STATUSES):
            # a refusal such as HTTP 400 fails the request as it would have online
            return {"status": code, "body": response.body}
        return None

    def reason(self) -> str:
        """Why this line holds no answer."""
        if self.error is not None:
            return self.error.code or self.error.message or "error"
        if self.response is None:
            return "no response"
        return f"HTTP {self.response.status_code}"


def write_shards(
    requests: list[BatchRequest], directory: Path, run_dir: Path, limits: ShardLimits
) -> list[Shard]:
    """Write ``requests`` as request files of at most ``limits`` each, in order."""
    groups: list[list[str]] = []
    size = 0
    for request in requests:
        line = request.line()
        length = len(line.encode("utf-8"))
        if length > limits.max_bytes:
            raise BatchError(
                f"request {request.custom_id[:12]} is {length} bytes, more than the {limits.max_bytes} "
                "bytes a request file may hold; raise --max-bytes-per-file or lower --chunk-chars"
            )
        if not groups or len(groups[-1]) >= limits.max_requests or size + length > limits.max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(line)
        size += length
    shards = []
    for index, lines in enumerate(groups):
        path = directory / f"requests-{index:03d}.jsonl"
        atomic_write(path, "".join(lines))
        content = path.read_bytes()
        shards.append(
            Shard(
                index=index,
                path=str(path.relative_to(run_dir)),
                requests=len(lines),
                bytes=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
            )
        )
    return shards


def read_request_ids(path: Path) -> Iterator[str]:
    for number, line in enumerate(path.read_text("utf-8").split("\n"), start=1):
        if line.strip():
            try:
                yield str(json.loads(line)["custom_id"])
            except (ValueError, KeyError, TypeError) as exc:
                raise BatchError(f"{path} line {number}: not a batch request line ({exc})") from exc


def read_results(path: Path) -> Iterator[BatchResult]:
    """The lines of a result file, each checked; a bad line is an error naming it."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchError(f"cannot read result file {path}: {exc}") from exc
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield BatchResult.model_validate_json(line)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "line"
            raise BatchError(
                f"{path} line {number}: not a batch result line ({where}: {first['msg']})"
            ) from exc
