"""Every default of a run, declared once. The command line's options and the
library's settings (LLMSettings, RetryPolicy, RunPlan) read them from here, so
`polex run` and code that builds a run itself behave the same."""

from __future__ import annotations

import os
from pathlib import Path

# The OpenAI-compatible backend's model when neither --model nor OPENAI_MODEL names
# one (the llamacpp backend names its model after the GGUF file instead).
MODEL = "gpt-4o-mini"
# Structured-output mode of each built-in LLM backend when --mode is not given;
# llamacpp's own dialect is the only one llama-cpp-python in process constrains.
MODE = "json_schema"
LLAMACPP_MODE = "json_object_schema"
# How the LLM backends extract: mentions (label the quantity engine's numbers) or free
# (find and copy records); README "Strategies" gives the figures behind the choice.
STRATEGY = "mentions"

TEMPERATURE = 0.0
SEED = 0
MAX_TOKENS = 2048  # completion budget per request
MAX_REASKS = 2  # validation reasks per request
REQUEST_TIMEOUT = 120.0  # seconds per request
RETRY_ATTEMPTS = 6  # transport tries per request (429/5xx/timeouts)
CHUNK_CHARS = 6000  # longest piece of an article sent in one request
CHUNK_OVERLAP = 400

CONCURRENCY = 8  # articles processed at once
WORKERS = 1  # processes extracting articles (offline, llamacpp); 1: this process
# Processes fitting `polex train`'s models (the folds of its C grid): the machine's
# cores; 1: all in this process. The models are the same for any number.
TRAIN_JOBS = os.cpu_count() or 1
# Generous: the offline backend takes well under a second per article; an LLM article
# that takes longer than this is stuck, not slow.
ARTICLE_TIMEOUT = 1800.0

# The response cache (also a recording): POLEX_CACHE_DIR, else under ~/.cache.
CACHE_DIR = Path(os.environ.get("POLEX_CACHE_DIR", Path.home() / ".cache" / "polex" / "responses"))

# The Batch API route: the provider's limits per request file, and seconds per call
# to its Files and Batches endpoints (an upload of 200 MB takes a while).
BATCH_MAX_REQUESTS_PER_FILE = 50_000
BATCH_MAX_BYTES_PER_FILE = 200_000_000
BATCH_CALL_TIMEOUT = 600.0
