//! Canonical JSON writer for cache keys: object keys sorted at every depth, no whitespace,
//! integral floats written as integers, strings escaped one fixed way.

use serde_json::{Map, Value};

pub(super) fn write_sorted_entries(b: &mut Vec<u8>, entries: &[(&String, &Value)]) {
    b.push(b'{');
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            b.push(b',');
        }
        write_json_str(b, k);
        b.push(b':');
        write_canonical(b, v);
    }
    b.push(b'}');
}

/// Canonical JSON: sorted keys at every depth, no whitespace, canonical numbers.
pub(super) fn write_canonical(b: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => b.extend_from_slice(b"null"),
        Value::Bool(true) => b.extend_from_slice(b"true"),
        Value::Bool(false) => b.extend_from_slice(b"false"),
        Value::Number(n) => write_number(b, n),
        Value::String(s) => write_json_str(b, s),
        Value::Array(items) => {
            b.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    b.push(b',');
                }
                write_canonical(b, item);
            }
            b.push(b']');
        }
        Value::Object(map) => write_map(b, map),
    }
}

/// Integers as integers; floats with no fraction (`1.0`) as integers too, so `0` and
/// `0.0` hash alike; other floats in Rust's shortest round-trip form.
pub(super) fn write_number(b: &mut Vec<u8>, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        b.extend_from_slice(i.to_string().as_bytes());
    } else if let Some(u) = n.as_u64() {
        b.extend_from_slice(u.to_string().as_bytes());
    } else if let Some(f) = n.as_f64() {
        write_f64(b, f);
    }
}

pub(super) fn write_f64(b: &mut Vec<u8>, f: f64) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer below is exact.
    if f.is_finite() && f.fract() == 0.0 && f.abs() < EXACT {
        // In range and integral, so the cast is exact.
        b.extend_from_slice((f as i64).to_string().as_bytes());
    } else {
        b.extend_from_slice(f.to_string().as_bytes());
    }
}

pub(super) fn write_json_str(b: &mut Vec<u8>, s: &str) {
    b.push(b'"');
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &c) in bytes.iter().enumerate() {
        // Only `"`, `\` and control bytes need escaping; UTF-8 continuation bytes are >= 0x80.
        if c == b'"' || c == b'\\' || c < 0x20 {
            b.extend_from_slice(bytes.get(run..i).unwrap_or(&[]));
            match c {
                b'"' => b.extend_from_slice(b"\\\""),
                b'\\' => b.extend_from_slice(b"\\\\"),
                _ => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    b.extend_from_slice(b"\\u00");
                    b.push(HEX[usize::from(c >> 4)]);
                    b.push(HEX[usize::from(c & 0xf)]);
                }
            }
            run = i + 1;
        }
    }
    b.extend_from_slice(bytes.get(run..).unwrap_or(&[]));
    b.push(b'"');
}

pub(super) fn write_opt_str(b: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_json_str(b, s),
        None => b.extend_from_slice(b"null"),
    }
}

pub(super) fn write_opt_value(b: &mut Vec<u8>, v: Option<&Value>) {
    match v {
        Some(v) => write_canonical(b, v),
        None => b.extend_from_slice(b"null"),
    }
}

pub(super) fn write_opt_values(b: &mut Vec<u8>, vs: Option<&[Value]>) {
    match vs {
        Some(vs) => {
            b.push(b'[');
            for (i, v) in vs.iter().enumerate() {
                if i > 0 {
                    b.push(b',');
                }
                write_canonical(b, v);
            }
            b.push(b']');
        }
        None => b.extend_from_slice(b"null"),
    }
}

pub(super) fn write_opt_bool(b: &mut Vec<u8>, v: Option<bool>) {
    b.extend_from_slice(match v {
        Some(true) => b"true",
        Some(false) => b"false",
        None => b"null",
    });
}

pub(super) fn write_opt_f64(b: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(f) => write_f64(b, f),
        None => b.extend_from_slice(b"null"),
    }
}

pub(super) fn write_opt_u64(b: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(u) => b.extend_from_slice(u.to_string().as_bytes()),
        None => b.extend_from_slice(b"null"),
    }
}

pub(super) fn write_opt_i64(b: &mut Vec<u8>, v: Option<i64>) {
    match v {
        Some(i) => b.extend_from_slice(i.to_string().as_bytes()),
        None => b.extend_from_slice(b"null"),
    }
}

pub(super) fn write_map(b: &mut Vec<u8>, map: &Map<String, Value>) {
    let mut keys: Vec<(&String, &Value)> = map.iter().collect();
    keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
    write_sorted_entries(b, &keys);
}
