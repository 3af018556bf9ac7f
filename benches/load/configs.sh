# Gateway configurations of the load harness; sourced by benches/load/run.sh.
# Each writer takes (dir, mock base URL) and writes dir/purser.toml plus any routes it needs.
# Files are generated into the run's temporary folder, so absolute paths are fine here.

# (a) Plain pass-through: one model on the mock, ledger on (written, fsync off), cache and
# compression off, no budget envelope.
write_plain_config() { # dir mock_base
  local dir="$1" base="$2"
  mkdir -p "$dir/routes" "$dir/data"
  cat >"$dir/purser.toml" <<EOF
routes_dir = "$dir/routes"
pricing_dir = "$ROOT/pricing"

[server]
listen = "127.0.0.1:0"

[data]
dir = "$dir/data"

[ledger]
fsync = "off"

[cache]
mode = "off"

[compress]
mode = "off"

[[providers]]
kind = "openai_compatible"
name = "mock"
base_url = "$base"
timeout = "30s"

[[models]]
name = "gpt-4o-mini"
provider = "mock"
price = "openai/gpt-4o-mini"
EOF
}

# (b) Governance on: the router (`purser/auto`, the shipped trained classifier, two tiers both on
# the mock), ledger with group fsync, budget reservation against a daily envelope (in-memory
# state), cache lookup and store (in-memory, bounded), compression check (prompts are below its
# threshold, so it passes them through). Requests name `purser/auto` (GOV_MODEL).
write_gov_config() { # dir mock_base
  local dir="$1" base="$2"
  GOV_PIECES="ledger(fsync=group), budget reservation+settlement (default envelope, daily \$100000, memory state), cache lookup+store (memory, 32MiB; temperature 0, unique prompts: every lookup misses), compression check (retrieval mode, prompts below 2000-token threshold); router purser/auto (trained classifier $(basename "$(ls "$ROOT"/routes/models/router-v*.json* | tail -1)"), 2 tiers)"
  GOV_MODEL="purser/auto"
  # The cache's byte bound (32 MiB) in MB: the RSS target allows it on top of 64 MB.
  GOV_CACHE_BOUND_MB=33.554432
  mkdir -p "$dir/routes" "$dir/data"
  cat >"$dir/purser.toml" <<EOF
routes_dir = "$dir/routes"
pricing_dir = "$ROOT/pricing"

[server]
listen = "127.0.0.1:0"

[data]
dir = "$dir/data"

[ledger]
fsync = "group"
fsync_interval = "5ms"

[budget]
allow_anonymous = true

[budget.default_envelope]
daily = "100000"

[state]
mode = "memory"

[cache]
mode = "memory"
max_bytes = "32MiB"

[[providers]]
kind = "openai_compatible"
name = "mock"
base_url = "$base"
timeout = "30s"

[[models]]
name = "gpt-4o-mini"
provider = "mock"
price = "openai/gpt-4o-mini"

[[models]]
name = "gpt-4o"
provider = "mock"
price = "openai/gpt-4o"
EOF
  local model
  model="$(ls "$ROOT"/routes/models/router-v*.json* | tail -1)"
  cat >"$dir/routes/auto.toml" <<EOF
[[route]]
name = "purser/auto"
tiers = [["gpt-4o-mini"], ["gpt-4o"]]
classifier = "$model"
thresholds = [0.65]
mode = "route"
EOF
}

# One line describing each configuration and what it recorded (ledger lines written).
describe_active() { # work_dir
  local w="$1" plain gov
  plain="$(cat "$w"/plain/data/*.jsonl 2>/dev/null | wc -l)"
  gov="$(cat "$w"/gov/data/*.jsonl 2>/dev/null | wc -l)"
  echo "purser-plain: one openai_compatible provider (the mock), ledger on with fsync off — ${plain} ledger records; purser-gov: ${GOV_PIECES:-?} — ${gov} ledger records"
}
