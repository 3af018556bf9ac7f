# LiteLLM proxy as a peer; sourced by benches/load/run.sh (uses ROOT, HERE, WORK, MOCK_BASE,
# PIDS, URL, GW_PID, HDR, LABELS, wait_for, log). Installs `litellm[proxy]` from PyPI into
# benches/load/.venv (gitignored) on first use. Sets LITELLM_VERSION, or LITELLM_ERROR and
# returns 1 when the peer cannot run.

start_litellm() {
  local venv="$HERE/.venv"
  if [[ ! -x "$venv/bin/litellm" ]]; then
    log "installing litellm[proxy] into benches/load/.venv (first use)"
    if ! python3 -m venv "$venv" >"$WORK/venv.log" 2>&1; then
      LITELLM_ERROR="python3 -m venv failed (see $WORK/venv.log)"; return 1
    fi
    if ! timeout 1200 "$venv/bin/pip" install --disable-pip-version-check -q 'litellm[proxy]' \
      >>"$WORK/venv.log" 2>&1; then
      LITELLM_ERROR="pip install 'litellm[proxy]' failed: $(tail -3 "$WORK/venv.log" | tr '\n' ' ')"
      return 1
    fi
  fi
  LITELLM_VERSION="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null || echo '?')"
  mkdir -p "$WORK/litellm"
  cat >"$WORK/litellm/config.yaml" <<EOF
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: $MOCK_BASE
      api_key: mock-key
litellm_settings:
  telemetry: false
  drop_params: true
EOF
  local port
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  # Local cost map: no fetch from GitHub at start. Logs at ERROR, as a production proxy would run.
  # Recent versions refuse to start without a master key; clients then send it as a bearer token.
  local key="sk-purser-load-test-$RANDOM$RANDOM"
  LITELLM_MASTER_KEY="$key" LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_LOG=ERROR LITELLM_TELEMETRY=False \
    "$venv/bin/litellm" --config "$WORK/litellm/config.yaml" --host 127.0.0.1 --port "$port" \
    --num_workers 1 >"$WORK/litellm.out" 2>"$WORK/litellm.err" &
  local pid=$!
  PIDS+=("$pid")
  local i
  for i in $(seq 120); do
    if curl -fsS "http://127.0.0.1:$port/health/liveliness" >/dev/null 2>&1; then
      URL[litellm]="http://127.0.0.1:$port/v1/chat/completions"
      GW_PID[litellm]=$pid
      HDR[litellm]="Authorization: Bearer $key"
      LABELS+=(litellm)
      log "litellm $LITELLM_VERSION pid $pid on 127.0.0.1:$port"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  LITELLM_ERROR="litellm did not become healthy: $(tail -3 "$WORK/litellm.err" | tr '\n' ' ')"
  return 1
}
