#!/usr/bin/env bash
# CI step: dashboards and alert rules.
#   1. promtool is installed (Debian package `prometheus` provides /usr/bin/promtool).
#   2. `promtool check rules` and `promtool test rules` on dashboards/alerts.yml.
#   3. Every dashboard JSON parses, has the `${datasource}` template variable, and every panel
#      query is valid PromQL (Grafana variables substituted, then checked by promtool).
#   4. Every metric referenced by dashboards/*.json and alerts.yml exists in the gateway's
#      /metrics: `cargo test --test dashboard_metrics` (registry check, plus the live-gateway
#      check once it is enabled; see that file's header).
# Run from the repository root. Fails loudly on the first problem.
set -euo pipefail

cd "$(dirname "$0")/../.."

fail() { echo "dashboards check FAILED: $*" >&2; exit 1; }

if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not found; installing the Debian package 'prometheus'" >&2
  command -v apt-get >/dev/null 2>&1 || fail "promtool missing and apt-get unavailable; install Prometheus' promtool"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y prometheus || fail "apt-get install prometheus failed"
  command -v promtool >/dev/null 2>&1 || fail "promtool still missing after installing 'prometheus'"
fi
command -v python3 >/dev/null 2>&1 || fail "python3 is needed to read the dashboard JSON"

echo "== promtool check rules"
promtool check rules dashboards/alerts.yml || fail "dashboards/alerts.yml does not pass promtool check rules"

echo "== promtool test rules"
promtool test rules dashboards/alerts_test.yml || fail "alert rule unit tests failed"

echo "== dashboard JSON and PromQL"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/dashboard_queries.yml" dashboards/*.json <<'PY' || fail "dashboard JSON is invalid"
import json, sys

out, files = sys.argv[1], sys.argv[2:]
subst = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1d", "$workflow": ".*"}
rules = []
for path in files:
    with open(path) as f:
        board = json.load(f)
    names = [v.get("name") for v in board.get("templating", {}).get("list", [])]
    ds = [v for v in board["templating"]["list"] if v.get("name") == "datasource"]
    if not ds or ds[0].get("type") != "datasource" or ds[0].get("query") != "prometheus":
        sys.exit(f"{path}: missing the Prometheus `datasource` template variable")
    for panel in board.get("panels", []):
        for t in panel.get("targets", []):
            if t.get("datasource", {}).get("uid") != "${datasource}":
                sys.exit(f"{path}: panel {panel.get('title')!r} does not use ${{datasource}}")
            expr = t["expr"]
            for k, v in subst.items():
                expr = expr.replace(k, v)
            if "$" in expr:
                sys.exit(f"{path}: panel {panel.get('title')!r} uses an unknown variable: {t['expr']}")
            rules.append({"record": f"dashboard:query:{len(rules)}", "expr": expr})
    print(f"{path}: {len(board['panels'])} panels, variables {names}")
with open(out, "w") as f:
    json.dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, f)
print(f"{len(rules)} queries")
PY
promtool check rules "$tmp/dashboard_queries.yml" || fail "a dashboard query is not valid PromQL"

echo "== metric names exist in /metrics"
cargo test --quiet --test dashboard_metrics -- --nocapture || fail "dashboards reference metrics the gateway does not export"

echo "dashboards check OK"
