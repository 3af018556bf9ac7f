#!/usr/bin/env bash
# CI step: the built-in /dashboard page, in headless Chromium, against a live gateway.
#   PURSER_URL set   -> check that gateway (it must already have traffic in the current month).
#   PURSER_URL unset -> build and start `purser serve` on a free loopback port with a temp data
#                       dir and the built-in config (simulated provider), send traffic for two
#                       workflows, check, stop the gateway.
# Needs: chromium (Debian: apt-get install -y chromium; installed here when missing), python3.
# Depends on the integrator wiring GET /dashboard (include_str! of dashboards/page/index.html)
# and GET /v1/reports/cost (report::http::cost_report_json + ReportQuery::parse_query).
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "dashboard page check FAILED: $*" >&2; exit 1; }

CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if [ -z "$CHROMIUM" ]; then
  echo "chromium not found; installing the Debian package 'chromium'" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium || fail "apt-get install chromium failed"
  CHROMIUM="$(command -v chromium)" || fail "chromium still missing"
fi
command -v python3 >/dev/null 2>&1 || fail "python3 missing"
command -v curl >/dev/null 2>&1 || fail "curl missing"

pid=""
tmp="$(mktemp -d)"
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

if [ -z "${PURSER_URL:-}" ]; then
  cargo build --quiet --bin purser || fail "cargo build failed"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  PURSER_URL="http://127.0.0.1:$port"
  target/debug/purser serve --listen "127.0.0.1:$port" --data-dir "$tmp/data" >"$tmp/gateway.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    curl -fsS "$PURSER_URL/healthz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/gateway.log" >&2; fail "gateway exited"; }
    sleep 0.1
  done
  curl -fsS "$PURSER_URL/healthz" >/dev/null || fail "gateway did not become healthy"
  for wf in support etl; do
    for i in 1 2 3; do
      curl -fsS "$PURSER_URL/v1/chat/completions" -H 'content-type: application/json' \
        -H "x-purser-workflow: $wf" -H "x-purser-task-id: $wf-task-$i" \
        -d "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"question $i for $wf\"}]}" \
        >/dev/null || fail "traffic request failed"
    done
  done
  # The report reads the ledger file: give the writer's group commit a moment to flush.
  curl -fsS "$PURSER_URL/v1/reports/cost" >/dev/null || fail "GET /v1/reports/cost failed (is it wired?)"
  for _ in $(seq 1 50); do
    n="$(curl -fsS "$PURSER_URL/v1/reports/cost" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["requests"])')"
    [ "$n" -ge 6 ] && break
    sleep 0.1
  done
  [ "$n" -ge 6 ] || fail "the report shows $n requests after sending 6"
fi

curl -fsS "$PURSER_URL/dashboard" -o "$tmp/page.html" || fail "GET /dashboard failed (is it wired?)"
grep -q "Purser cost dashboard" "$tmp/page.html" || fail "/dashboard does not serve dashboards/page/index.html"
python3 .ci/checks/dashboard_page.py "$PURSER_URL" "$CHROMIUM"
