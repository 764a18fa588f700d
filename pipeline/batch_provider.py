"""The provider's Files and Batches endpoints, through the openai client: upload a
request file, create its batch, look at it, download its results. Uploads and
batch creation look first for what an earlier, killed command already made (by
file name, and by the batch's metadata), so doing a step twice never submits twice."""

from __future__ import annotations

import os
from pathlib import Path

from openai import APIError, OpenAI
from openai.types import Batch

from polex.pipeline.batch_state import BatchError
from polex.pipeline.redact import register_secret, register_url
from polex.pipeline.runstore import atomic_write

# How far before a round's creation an earlier attempt's upload or batch may date
# (clock skew between this machine and the provider).
LOOKBACK_SECONDS = 3600


class Provider:
    def __init__(self, base_url: str | None, timeout: float, retries: int) -> None:
        api_key = os.environ.get("OPENAI_API_KEY") or "not-needed-for-local-servers"
        register_secret(api_key)
        register_url(base_url)
        self.client = OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=retries)

    def upload(self, path: Path, filename: str, since: int) -> str:
        """The id of ``path`` uploaded as ``filename`` (purpose batch), reusing an
        upload of the same name and size made since ``since``."""
        size = path.stat().st_size
        try:
            for existing in self.client.files.list(purpose="batch", order="desc"):
                if existing.created_at < since - LOOKBACK_SECONDS:
                    break
                if existing.filename == filename and existing.bytes == size:
                    return existing.id
            with path.open("rb") as handle:
                created = self.client.files.create(
                    file=(filename, handle, "application/jsonl"), purpose="batch"
                )
        except APIError as exc:
            raise _failed(f"uploading {path}", exc) from exc
        return created.id

    def create_batch(self, file_id: str, metadata: dict[str, str], since: int) -> Batch:
        """The batch of ``file_id``, reusing one with the same ``metadata`` created since ``since``."""
        try:
            for existing in self.client.batches.list():
                if existing.created_at < since - LOOKBACK_SECONDS:
                    break
                if existing.metadata and all(existing.metadata.get(k) == v for k, v in metadata.items()):
                    return existing
            return self.client.batches.create(
                input_file_id=file_id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata=metadata,
            )
        except APIError as exc:
            raise _failed(f"creating the batch of file {file_id}", exc) from exc

    def retrieve(self, batch_id: str) -> Batch:
        try:
            return self.client.batches.retrieve(batch_id)
        except APIError as exc:
            raise _failed(f"looking up batch {batch_id}", exc) from exc

    def download(self, file_id: str, target: Path) -> None:
        try:
            content = self.client.files.content(file_id).content
        except APIError as exc:
            raise _failed(f"downloading file {file_id}", exc) from exc
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BatchError(f"file {file_id} from the provider is not UTF-8 text: {exc}") from exc
        atomic_write(target, text)


def _failed(doing: str, exc: APIError) -> BatchError:
    return BatchError(
        f"{doing} failed at the provider ({type(exc).__name__}: {exc}); what was done before is "
        "saved: fix the cause and run the same command to go on"
    )
