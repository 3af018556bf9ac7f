#!/usr/bin/env bash
# Purser load harness: mock upstream, load generator, Purser (two configurations) and
# optionally LiteLLM, measured side by side. Documentation: benches/load/README.md.
#
#   bash benches/load/run.sh [--quick] [--peer litellm] [--reps N] [--duration S] [--no-build]
#
# All traffic goes to 127.0.0.1. Every process this script starts is stopped by PID on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/benches/load"
cd "$ROOT"

ORIG_ARGS="$*"
QUICK=0
PEER=""
REPS=3
DURATION=""
BUILD=1
CHAT_CONC="1 16 64"
STREAM_CONC="1 16"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --peer) PEER="${2:-}"; shift ;;
    --reps) REPS="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ -n "$PEER" && "$PEER" != "litellm" ]]; then
  echo "only --peer litellm is supported" >&2; exit 2
fi
if [[ -z "$DURATION" ]]; then
  if [[ $QUICK == 1 ]]; then DURATION=3; else DURATION=10; fi
fi
WARMUP=1
[[ $QUICK == 1 ]] && WARMUP=0.5
CHUNKS=20
CHUNK_DELAY_US=1000
CLK_TCK="$(getconf CLK_TCK)"
COMMAND="bash benches/load/run.sh${ORIG_ARGS:+ $ORIG_ARGS}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/purser-load.XXXXXX")"
RESULTS="$WORK/runs.jsonl"
PIDS=()
log() { echo "[load $(date -u +%H:%M:%S)] $*" >&2; }

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  log "work files (logs, configs): $WORK"
}
trap cleanup EXIT

# --- build ---------------------------------------------------------------------------------
if [[ $BUILD == 1 ]]; then
  log "building release binaries"
  cargo build --release --examples --bin purser >&2
fi
BIN="$ROOT/target/release"
for b in "$BIN/purser" "$BIN/examples/mock_upstream" "$BIN/examples/loadgen" "$BIN/examples/loadreport"; do
  [[ -x "$b" ]] || { echo "missing $b (run without --no-build)" >&2; exit 1; }
done

# Waits (bounded) until a file matches a pattern; prints the first match.
wait_for() { # file regex seconds
  local i
  for i in $(seq $(( $3 * 10 ))); do
    if grep -Eo "$2" "$1" 2>/dev/null | head -1; then return 0; fi
    sleep 0.1
  done
  return 1
}

# --- mock upstream -------------------------------------------------------------------------
"$BIN/examples/mock_upstream" --workers 1 --chunks "$CHUNKS" --chunk-delay-us "$CHUNK_DELAY_US" \
  >"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
MOCK_PORT="$(wait_for "$WORK/mock.out" '"port":[0-9]+' 10 | cut -d: -f2)" \
  || { echo "mock did not start" >&2; cat "$WORK/mock.err" >&2; exit 1; }
MOCK_BASE="http://127.0.0.1:$MOCK_PORT/v1"
log "mock upstream pid $MOCK_PID on port $MOCK_PORT"

# --- Purser ---------------------------------------------------------------------------------
# shellcheck source=benches/load/configs.sh
source "$HERE/configs.sh"

declare -A URL GW_PID HDR MODEL
LABELS=(direct)
URL[direct]="$MOCK_BASE/chat/completions"

start_purser() { # label config-file
  local label="$1" cfg="$2"
  NO_COLOR=1 PURSER_LOG=info "$BIN/purser" serve --config "$cfg" --listen 127.0.0.1:0 \
    >"$WORK/$label.out" 2>"$WORK/$label.err" &
  local pid=$!
  PIDS+=("$pid")
  local addr
  addr="$(wait_for "$WORK/$label.err" 'addr=127\.0\.0\.1:[0-9]+' 30 | cut -d= -f2)" || {
    echo "purser ($label) did not start:" >&2; tail -20 "$WORK/$label.err" >&2; return 1; }
  URL[$label]="http://$addr/v1/chat/completions"
  GW_PID[$label]=$pid
  LABELS+=("$label")
  log "purser $label pid $pid on $addr"
}

write_plain_config "$WORK/plain" "$MOCK_BASE"
start_purser purser-plain "$WORK/plain/purser.toml"
write_gov_config "$WORK/gov" "$MOCK_BASE"
MODEL[purser-gov]="${GOV_MODEL:-gpt-4o-mini}"
start_purser purser-gov "$WORK/gov/purser.toml" || log "governance config failed to start; continuing without it"

# --- LiteLLM peer ---------------------------------------------------------------------------
PEER_NOTE="none"
if [[ "$PEER" == "litellm" ]]; then
  # shellcheck source=benches/load/litellm.sh
  source "$HERE/litellm.sh"
  if start_litellm; then
    PEER_NOTE="LiteLLM $LITELLM_VERSION (litellm --config, 1 worker, master key, no DB, log level ERROR)"
  else
    PEER_NOTE="LiteLLM requested but not available: $LITELLM_ERROR"
    log "$PEER_NOTE; continuing without the peer"
  fi
fi

# --- matrix --------------------------------------------------------------------------------
LOAD_BEFORE="$(uptime)"
log "load before: $LOAD_BEFORE"
run_one() { # rep label mode conc
  local rep="$1" label="$2" mode="$3" conc="$4" args=() line
  [[ "$mode" == stream ]] && args+=(--stream)
  [[ -n "${GW_PID[$label]:-}" ]] && args+=(--watch "gateway=${GW_PID[$label]}")
  [[ -n "${HDR[$label]:-}" ]] && args+=(--header "${HDR[$label]}")
  [[ -n "${MODEL[$label]:-}" ]] && args+=(--model "${MODEL[$label]}")
  args+=(--watch "mock=$MOCK_PID" --watch "loadgen=self")
  line="$(timeout $(( ${DURATION%.*} + 60 )) "$BIN/examples/loadgen" --url "${URL[$label]}" \
    --label "$label" --concurrency "$conc" --duration "$DURATION" --warmup "$WARMUP" \
    --clk-tck "$CLK_TCK" --meta "{\"rep\":$rep}" "${args[@]}")" || {
    log "loadgen failed: rep $rep $label $mode c=$conc"; return 0; }
  echo "$line" >>"$RESULTS"
  log "rep $rep $label $mode c=$conc: $(jq -r '"\(.rps) req/s p50 \(.latency_us.p50)µs p99 \(.latency_us.p99)µs errors \(.errors)"' <<<"$line")"
}
for rep in $(seq "$REPS"); do
  for conc in $CHAT_CONC; do
    for label in "${LABELS[@]}"; do run_one "$rep" "$label" chat "$conc"; done
  done
  for conc in $STREAM_CONC; do
    for label in "${LABELS[@]}"; do run_one "$rep" "$label" stream "$conc"; done
  done
done
LOAD_AFTER="$(uptime)"

# --- what was active, then the report --------------------------------------------------------
ACTIVE_NOTE="$(describe_active "$WORK")"
MACHINE="$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
COMMIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml benches || echo ' (dirty)')"
jq -n --arg date "$(date -u '+%Y-%m-%d %H:%M')" --arg commit "$COMMIT" --arg command "$COMMAND" \
  --arg machine "$MACHINE" --arg lb "$LOAD_BEFORE" --arg la "$LOAD_AFTER" --arg peer "$PEER_NOTE" \
  --arg configs "$ACTIVE_NOTE" --argjson cache_bound_mb "${GOV_CACHE_BOUND_MB:-0}" \
  --arg setup "mock: 1 worker thread, ${CHUNKS} chunks/stream, ${CHUNK_DELAY_US} µs between chunks; loadgen: 1 worker thread, closed loop, keep-alive HTTP/1.1, unique prompts; ${DURATION} s measured + ${WARMUP} s warm-up per run, ${REPS} repetitions interleaved (every target at a concurrency before the next concurrency); Purser: release build, one serving thread per CPU (server.workers = 0, server.spin = 100us default), log level info" \
  '{date:$date, commit:$commit, command:$command, machine:$machine, load_before:$lb, load_after:$la,
    setup:$setup, configs:$configs, peer:$peer, target_label:"purser-gov", cache_bound_mb:$cache_bound_mb}' >"$WORK/meta.json"
mkdir -p "$HERE/results"
"$BIN/examples/loadreport" --runs "$RESULTS" --meta "$WORK/meta.json" \
  --md "$HERE/results/latest.md" --json "$HERE/results/latest.json"
log "report: benches/load/results/latest.md"
cat "$HERE/results/latest.md"
