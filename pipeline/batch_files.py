"""The files of the Batch API (OpenAI's format, which `vllm run-batch` reads and
writes too): request files, one request per line, sharded under the provider's
limits; and result files, one answer or error per line, keyed by ``custom_id``."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from polex.pipeline.batch_state import BatchError, Shard, ShardLimits
from polex.pipeline.redact import redact
from polex.pipeline.runstore import atomic_write
from polex.pipeline.transport import RETRY_STATUSES

CHAT_COMPLETIONS = "/v1/chat/completions"  # the endpoint a batch runs; the only one the pipeline uses


class BatchRequest(BaseModel):
    """One line of a request file. ``custom_id`` is the response cache's key of the
    request (``polex.pipeline.transport.request_key``), so an answer lands where the
    online path looks for it."""

    model_config = ConfigDict(extra="forbid")

    custom_id: str
    method: Literal["POST"] = "POST"
    url: str = CHAT_COMPLETIONS
    body: dict[str, Any]

    def line(self) -> str:
        """The request as one JSON line, its body's keys in the order the client sent
        them: a model writes an answer's keys in its JSON schema's property order, so
        sorting them would change the answers (mention ids m1, m10, m2, ...)."""
        return json.dumps(self.model_dump(), ensure_ascii=False) + "\n"


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


class RequestSpool:
    """The requests a pass could not answer, each once, on disk as they are captured:
    only their keys and places stay in memory, so a round of any size fits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.body_bytes = 0  # of every body, for the input-token estimate
        self._places: dict[str, tuple[int, int]] = {}
        self._handle: BinaryIO | None = None

    def __len__(self) -> int:
        return len(self._places)

    def add(self, request: BatchRequest) -> None:
        if request.custom_id in self._places:
            return  # the same request from another article with the same text
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("wb")
        data = request.line().encode("utf-8")
        self._places[request.custom_id] = (self._handle.tell(), len(data))
        self._handle.write(data)
        self.body_bytes += len(json.dumps(request.body))

    def lines(self) -> Iterator[tuple[str, bytes]]:
        """(custom_id, line) in key order: a pass repeated writes the same files."""
        self.close()
        if not self._places:
            return
        with self.path.open("rb") as handle:
            for key in sorted(self._places):
                offset, length = self._places[key]
                handle.seek(offset)
                yield key, handle.read(length)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


IDS_FILE = "request-ids.txt"


def write_shards(
    lines: Iterable[tuple[str, bytes]], directory: Path, run_dir: Path, limits: ShardLimits
) -> list[Shard]:
    """Write request lines, in order, as request files of at most ``limits`` each,
    and their ids to ``directory``/request-ids.txt. Each file appears whole or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    shards: list[Shard] = []
    writer: _ShardWriter | None = None
    ids: list[str] = []
    for custom_id, raw in lines:
        line = redact(raw.decode("utf-8")).encode("utf-8")  # every run file passes through redact
        if len(line) > limits.max_bytes:
            raise BatchError(
                f"request {custom_id[:12]} is {len(line)} bytes, more than the {limits.max_bytes} "
                "bytes a request file may hold; raise --max-bytes-per-file or lower --chunk-chars"
            )
        if (
            writer is None
            or writer.requests >= limits.max_requests
            or writer.bytes + len(line) > limits.max_bytes
        ):
            if writer is not None:
                shards.append(writer.finish())
            writer = _ShardWriter(directory / f"requests-{len(shards):03d}.jsonl", len(shards), run_dir)
        writer.write(line)
        ids.append(custom_id)
    if writer is not None:
        shards.append(writer.finish())
    atomic_write(directory / IDS_FILE, "".join(f"{key}\n" for key in ids))
    return shards


class _ShardWriter:
    def __init__(self, path: Path, index: int, run_dir: Path) -> None:
        self.path, self.index, self.run_dir = path, index, run_dir
        self.partial = path.with_name(f".{path.name}.tmp")
        self._handle = self.partial.open("wb")
        self._digest = hashlib.sha256()
        self.requests = 0
        self.bytes = 0

    def write(self, line: bytes) -> None:
        self._handle.write(line)
        self._digest.update(line)
        self.requests += 1
        self.bytes += len(line)

    def finish(self) -> Shard:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self.partial, self.path)
        return Shard(
            index=self.index,
            path=str(self.path.relative_to(self.run_dir)),
            requests=self.requests,
            bytes=self.bytes,
            sha256=self._digest.hexdigest(),
        )


def read_request_ids(directory: Path) -> list[str]:
    """The ids of a round's requests (from the file written beside its request files)."""
    path = directory / IDS_FILE
    try:
        return [line for line in path.read_text("utf-8").split("\n") if line]
    except OSError as exc:
        raise BatchError(f"cannot read {path}: {exc.strerror or exc}") from exc


def read_results(path: Path) -> Iterator[BatchResult]:
    """The lines of a result file, each checked, read as they come (a result file
    may hold 50,000 answers); a bad line is an error naming the file and the line."""
    try:
        with path.open("rb") as handle:  # lines end at b"\n" only, as JSONL says
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    yield BatchResult.model_validate_json(raw)
                except ValidationError as exc:
                    first = exc.errors()[0]
                    where = ".".join(str(p) for p in first["loc"]) or "line"
                    raise BatchError(
                        f"{path} line {number}: not a batch result line ({where}: {first['msg']})"
                    ) from exc
    except OSError as exc:
        raise BatchError(f"cannot read result file {path}: {exc.strerror or exc}") from exc
