#!/usr/bin/env bash
# Installs polex's wheel and OpenAI's `evals` (a top-level `evals` package) into one
# fresh virtual environment and shows that each keeps its own files: polex imports as
# `polex.*` only. `evals` is installed without its dependencies (some of its pins do
# not build on Python 3.11); what is checked is which files own the import names.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
python3 -m pip wheel -q --no-deps . -w "$work/dist"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$work"/dist/polex-*.whl
"$work/venv/bin/pip" install -q --no-deps evals
cd "$work"
"$work/venv/bin/python" - <<'PY'
import importlib.util
import polex.evals.harness
import polex.pipeline.cli

evals_origin = importlib.util.find_spec("evals").origin
print("evals       ->", evals_origin)
print("polex.evals ->", polex.evals.__file__)
assert "/site-packages/evals/" in evals_origin and "/polex/evals/" in polex.evals.__file__
assert open(evals_origin).read() != open(polex.evals.__file__).read()
PY
"$work/venv/bin/polex" run "$OLDPWD/seeds" --out "$work/run" --backend offline > /dev/null 2>&1
echo "polex run on the seeds beside evals: $(wc -l < "$work/run/QuantitativeTarget.jsonl") QuantitativeTarget records"
rm -rf "$work"
