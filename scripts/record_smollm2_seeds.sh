#!/usr/bin/env bash
# Records the `openai` backend on the five seeds against llama-cpp-python's server with
# SmolLM2-135M-Instruct on loopback. The answers land in evals/recordings/smollm2-seeds/
# (committed); CI replays them through the full LLM path with zero requests
# (tests/test_replay.py). Re-record after changing a prompt, a schema, the few-shot
# gold, a check message or the offline models (`polex train`: the mention-first prompt
# shows their guesses): a replay that meets an unrecorded request fails loudly.
# What is recorded: the mention-first strategy in json_object_schema mode (grammar)
# for QuantitativeTarget (the schema whose numbers the seeds are richest in);
# SmolLM2 loops on PolicyMeasure's free answers until max_tokens, which left four of
# five seeds unreplayable in the previous recording.
# Needs the `local` extra. One server thread: on a shared, loaded machine llama.cpp's
# threads wait on each other and two are many times slower than one.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDING=evals/recordings/smollm2-seeds
PORT=${PORT:-8799}
GGUF=$(python -c "from polex.pipeline.backends.llamacpp import shipped_gguf; print(shipped_gguf())")
python -m llama_cpp.server --model "$GGUF" --host 127.0.0.1 --port "$PORT" --n_ctx 8192 --n_threads 1 \
  --verbose False > /tmp/polex-record-server.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/v1/models" > /dev/null && break; sleep 1; done
rm -rf "$RECORDING" runs/smollm2-record
polex run seeds --out runs/smollm2-record --backend openai --base-url "http://127.0.0.1:$PORT/v1" \
  --model smollm2 --mode json_object_schema --strategy mentions --schema QuantitativeTarget \
  --max-tokens 512 --max-reasks 1 --timeout 1800 \
  --concurrency 1 --cache-dir "$RECORDING" || true
cp runs/smollm2-record/manifest.json "$RECORDING/recorded-run-manifest.json"
polex eval runs/smollm2-record --gold evals/gold --articles seeds || true
cp runs/smollm2-record/eval.json "$RECORDING/eval-baseline.json"
