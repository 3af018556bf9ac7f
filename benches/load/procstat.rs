//! CPU time and memory of a process, read from `/proc/<pid>/stat` and `/proc/<pid>/status`.
//! Used by the load generator to account for the gateway (and the mock) during the measured window.

use serde_json::{Value, json};

/// One sample of a process's counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Peak resident set size so far (VmHWM), KiB.
    pub vm_hwm_kb: u64,
    /// Current resident set size (VmRSS), KiB.
    pub vm_rss_kb: u64,
    /// Number of threads.
    pub threads: u64,
}

/// A process watched during a run, with a label for the report.
#[derive(Debug, Clone)]
pub struct Watched {
    /// Label (`gateway`, `mock`, `self`).
    pub name: String,
    /// Process id (`self` reads `/proc/self`).
    pub pid: String,
}

/// Parses `name=pid`.
pub fn parse_watch(s: &str) -> Result<Watched, String> {
    let (name, pid) = s
        .split_once('=')
        .ok_or_else(|| format!("expected name=pid, got {s:?}"))?;
    if pid != "self" && pid.parse::<u32>().is_err() {
        return Err(format!("bad pid in {s:?}"));
    }
    Ok(Watched {
        name: name.to_owned(),
        pid: pid.to_owned(),
    })
}

/// Reads the counters of `pid`; `None` when the process is gone or `/proc` is unreadable.
pub fn sample(pid: &str) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields after it start at the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14, stime field 15, num_threads field 20.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let threads: u64 = fields.get(17)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(ProcSample {
        cpu_ticks: utime + stime,
        vm_hwm_kb: status_kb(&status, "VmHWM:"),
        vm_rss_kb: status_kb(&status, "VmRSS:"),
        threads,
    })
}

fn status_kb(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// JSON summary of a process between two samples: CPU milliseconds, CPU per request (µs),
/// CPU utilisation (cores), peak and current RSS (MiB).
pub fn summarize(
    before: ProcSample,
    after: ProcSample,
    clk_tck: u64,
    requests: u64,
    elapsed_s: f64,
) -> Value {
    let ticks = after.cpu_ticks.saturating_sub(before.cpu_ticks);
    let cpu_ms = ticks as f64 * 1000.0 / clk_tck.max(1) as f64;
    let per_req_us = if requests > 0 {
        cpu_ms * 1000.0 / requests as f64
    } else {
        0.0
    };
    let cores = if elapsed_s > 0.0 {
        cpu_ms / 1000.0 / elapsed_s
    } else {
        0.0
    };
    json!({
        "cpu_ms": round2(cpu_ms),
        "cpu_us_per_req": round2(per_req_us),
        "cpu_cores": round2(cores),
        "peak_rss_mb": round2(after.vm_hwm_kb as f64 / 1024.0),
        "rss_mb": round2(after.vm_rss_kb as f64 / 1024.0),
        "threads": after.threads,
    })
}

/// Rounds to two decimals for readable JSON.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
