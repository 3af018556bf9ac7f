#!/usr/bin/env python3
"""Checks the built-in /dashboard page of a running Purser gateway with headless Chromium.

Usage: dashboard_page.py BASE_URL [CHROMIUM]

1. Fetches GET /v1/reports/cost?group_by=workflow|model&month=<current UTC month> (the page's
   default query).
2. Loads BASE_URL/dashboard in headless Chromium (--dump-dom after a virtual-time budget, with
   console logging on stderr), fails on any console message (errors, uncaught exceptions,
   failed loads), on a visible error banner, or when the page never finished loading.
3. Compares every chart figure (data-chart/data-key/data-value attributes) with the API:
   spend per workflow and per model, cost per completed task, savings split, cache hit ratio
   and the summary tiles.
Standard library only. Exit code 0 when everything matches.
"""
import datetime
import html.parser
import json
import subprocess
import sys
import urllib.request


class Figures(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.figures = {}
        self.loaded = False
        self.error_visible = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body" and a.get("data-loaded") == "true":
            self.loaded = True
        if a.get("id") == "error" and "display: block" in (a.get("style") or ""):
            self.error_visible = True
        if "data-chart" in a and "data-key" in a:
            self.figures.setdefault(a["data-chart"], {})[a["data-key"]] = a.get("data-value")


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def pct(r):
    return "n/a" if r is None else f"{r * 100:.1f}%"


def expected(base):
    month = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m")
    wf = get_json(f"{base}/v1/reports/cost?group_by=workflow&month={month}")
    model = get_json(f"{base}/v1/reports/cost?group_by=model&month={month}")
    t = wf["total"]
    return {
        "spend-workflow": {r["key"]: r["spend_usd"] for r in wf["rows"]},
        "spend-model": {r["key"]: r["spend_usd"] for r in model["rows"]},
        "cost-per-task": {r["key"]: r["cost_per_completed_task_usd"] or "n/a" for r in wf["rows"]},
        "savings": {
            "routing": t["savings"]["routing_usd"],
            "cache": t["savings"]["cache_usd"],
            "compression": t["savings"]["compression_usd"],
        },
        "cache-hit": {r["key"]: pct(r["cache_hit_ratio"]) for r in wf["rows"]},
        "tiles": {
            "spend": t["spend_usd"],
            "requests": str(t["requests"]),
            "completed_tasks": str(t["completed_tasks"]),
            "cost_per_completed_task": t["cost_per_completed_task_usd"] or "n/a",
            "savings_total": t["savings"]["total_usd"],
            "cache_hit_ratio": pct(t["cache_hit_ratio"]),
        },
    }, wf


def same_pct(a, b):
    # JS toFixed rounds ties up, Python rounds the exact binary value: allow one last-digit step.
    if a == b:
        return True
    try:
        return abs(float(a.rstrip("%")) - float(b.rstrip("%"))) <= 0.1 + 1e-9
    except (AttributeError, ValueError):
        return False


def main():
    base = sys.argv[1].rstrip("/")
    chromium = sys.argv[2] if len(sys.argv) > 2 else "chromium"
    want, wf_report = expected(base)
    if not wf_report["rows"]:
        sys.exit("the report is empty: generate traffic before running this check")
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=8000", "--dump-dom", f"{base}/dashboard"],
        capture_output=True, text=True, timeout=120,
    )
    if proc.returncode != 0:
        sys.exit(f"chromium failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    console = [l for l in proc.stderr.splitlines() if "CONSOLE" in l]
    problems = [f"console: {l}" for l in console]
    page = Figures()
    page.feed(proc.stdout)
    if not page.loaded:
        problems.append("page never finished loading (body[data-loaded] missing)")
    if page.error_visible:
        problems.append("the page shows its error banner")
    for chart, values in want.items():
        got = page.figures.get(chart, {})
        if set(got) != set(values):
            problems.append(f"{chart}: keys {sorted(got)} != API {sorted(values)}")
        for key, value in values.items():
            shown = got.get(key)
            ok = same_pct(shown, value) if "%" in str(value) else shown == value
            if key in got and not ok:
                problems.append(f"{chart}/{key}: page shows {shown!r}, API says {value!r}")
    if problems:
        print("dashboard page check FAILED:", *problems, sep="\n  ", file=sys.stderr)
        sys.exit(1)
    n = sum(len(v) for v in want.values())
    print(f"dashboard page OK: {n} figures match the report API, no console messages")


if __name__ == "__main__":
    main()
