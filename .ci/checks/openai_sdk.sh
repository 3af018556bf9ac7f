#!/usr/bin/env bash
# CI step: the official OpenAI Python SDK against the real gateway binary (simulated provider,
# no keys), as a new user would use it. Installs the SDK from PyPI into a throwaway venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "openai SDK check FAILED: $*" >&2; exit 1; }
tmp="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
python3 -m venv "$tmp/venv" || fail "python3 venv unavailable"
"$tmp/venv/bin/pip" install -q openai || fail "pip install openai failed"
cargo build --quiet --bin purser || fail "cargo build failed"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
target/debug/purser serve --listen "127.0.0.1:$port" --data-dir "$tmp/data" >"$tmp/gateway.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/gateway.log" >&2; fail "gateway exited"; }
  sleep 0.1
done
PURSER_BASE="http://127.0.0.1:$port" "$tmp/venv/bin/python" tests/sdk/openai_sdk_check.py || fail "SDK checks failed"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
target/debug/purser ledger verify "$tmp/data/ledger.jsonl" || fail "ledger chain broken"
echo "openai SDK check OK"
