//! Schema-driven value generation: a JSON value that satisfies a JSON schema (the subset tools
//! and structured outputs use: object/required/properties, string with enum/format/length,
//! integer/number with bounds and multipleOf, boolean, null, array with items and size bounds,
//! const, anyOf/oneOf (first branch), allOf (merged), `$ref` into `$defs`/`definitions`).
//! `pattern` is not honoured.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

/// Deepest nesting generated; deeper (recursive) schemas get a minimal value.
const MAX_DEPTH: u32 = 12;

struct Generator<'a> {
    root: &'a Value,
    rng: &'a mut StdRng,
    words: &'a [String],
}

/// A value satisfying `schema`; strings borrow from `words` (prompt keywords) when unconstrained.
pub(super) fn generate(schema: &Value, rng: &mut StdRng, words: &[String]) -> Value {
    let mut g = Generator {
        root: schema,
        rng,
        words,
    };
    g.value(schema, 0)
}

// ---- Generator
impl Generator<'_> {
    fn value(&mut self, schema: &Value, depth: u32) -> Value {
        let Some(obj) = schema.as_object() else {
            // `true` accepts anything; `false` accepts nothing (null is as good as any).
            return if schema == &Value::Bool(true) {
                json!("x")
            } else {
                Value::Null
            };
        };
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            let target = r.strip_prefix('#').and_then(|p| self.root.pointer(p));
            return match target {
                Some(t) if depth < MAX_DEPTH => self.value(t, depth + 1),
                _ => Value::Null,
            };
        }
        if let Some(c) = obj.get("const") {
            return c.clone();
        }
        if let Some(Value::Array(options)) = obj.get("enum")
            && !options.is_empty()
        {
            return options[self.rng.random_range(0..options.len())].clone();
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(first) = obj.get(key).and_then(|v| v.get(0)) {
                return self.value(first, depth + 1);
            }
        }
        if let Some(Value::Array(parts)) = obj.get("allOf") {
            let merged = merge_all_of(obj, parts);
            return self.value(&merged, depth + 1);
        }
        match type_of(obj) {
            "object" if depth < MAX_DEPTH => self.object(obj, depth),
            "object" => json!({}),
            "array" if depth < MAX_DEPTH => self.array(obj, depth),
            "array" => json!([]),
            "integer" => self.integer(obj),
            "number" => self.number(obj),
            "boolean" => Value::Bool(self.rng.random_bool(0.5)),
            "null" => Value::Null,
            _ => self.string(obj),
        }
    }

    fn object(&mut self, obj: &Map<String, Value>, depth: u32) -> Value {
        let required: Vec<&str> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Map::new();
        if let Some(Value::Object(props)) = obj.get("properties") {
            for (name, sub) in props {
                if required.contains(&name.as_str()) || self.rng.random_bool(0.5) {
                    out.insert(name.clone(), self.value(sub, depth + 1));
                }
            }
        }
        // Required names without a property schema still need a value.
        for name in required {
            if !out.contains_key(name) {
                out.insert(name.to_owned(), json!("x"));
            }
        }
        Value::Object(out)
    }

    fn array(&mut self, obj: &Map<String, Value>, depth: u32) -> Value {
        let min = uint(obj, "minItems").unwrap_or(1);
        let max = uint(obj, "maxItems")
            .unwrap_or(min.max(3))
            .max(min)
            .min(min + 3);
        let len = self.rng.random_range(min..=max);
        let unique = obj.get("uniqueItems") == Some(&Value::Bool(true));
        let items = obj.get("items").cloned().unwrap_or(Value::Bool(true));
        let mut out: Vec<Value> = Vec::new();
        let mut tries = 0;
        while (out.len() as u64) < len && tries < len * 10 {
            tries += 1;
            let v = self.value(&items, depth + 1);
            if !(unique && out.contains(&v)) {
                out.push(v);
            }
        }
        Value::Array(out)
    }

    fn integer(&mut self, obj: &Map<String, Value>) -> Value {
        let lo = num(obj, "minimum")
            .map(f64::ceil)
            .or_else(|| num(obj, "exclusiveMinimum").map(|x| x.floor() + 1.0));
        let hi = num(obj, "maximum")
            .map(f64::floor)
            .or_else(|| num(obj, "exclusiveMaximum").map(|x| x.ceil() - 1.0));
        let (lo, hi) = bounds(lo, hi, 100.0);
        let (lo, hi) = (lo as i64, (hi as i64).max(lo as i64));
        match num(obj, "multipleOf").map(|m| m as i64).filter(|m| *m > 0) {
            Some(m) => {
                let (a, b) = (
                    lo.div_euclid(m) + i64::from(lo.rem_euclid(m) != 0),
                    hi.div_euclid(m),
                );
                json!(self.rng.random_range(a..=b.max(a)) * m)
            }
            None => json!(self.rng.random_range(lo..=hi)),
        }
    }

    fn number(&mut self, obj: &Map<String, Value>) -> Value {
        let lo = num(obj, "minimum").or_else(|| num(obj, "exclusiveMinimum"));
        let hi = num(obj, "maximum").or_else(|| num(obj, "exclusiveMaximum"));
        let (lo, hi) = bounds(lo, hi, 100.0);
        if let Some(m) = num(obj, "multipleOf").filter(|m| *m > 0.0) {
            let (a, b) = ((lo / m).ceil() as i64, (hi / m).floor() as i64);
            return json!(self.rng.random_range(a..=b.max(a)) as f64 * m);
        }
        // Stay strictly inside so exclusive bounds hold; two decimals read naturally.
        let x = lo + (hi - lo) * self.rng.random_range(0.05..0.95);
        let rounded = (x * 100.0).round() / 100.0;
        json!(if rounded > lo && rounded < hi {
            rounded
        } else {
            x
        })
    }

    fn string(&mut self, obj: &Map<String, Value>) -> Value {
        let min = uint(obj, "minLength").unwrap_or(0) as usize;
        let max = uint(obj, "maxLength").map(|m| m as usize);
        let mut s = match obj.get("format").and_then(Value::as_str) {
            Some("date-time") => "2024-05-17T10:20:30Z".to_owned(),
            Some("date") => "2024-05-17".to_owned(),
            Some("time") => "10:20:30Z".to_owned(),
            Some("email") => "user@example.com".to_owned(),
            Some("uri" | "url" | "uri-reference" | "iri") => "https://example.com/item".to_owned(),
            Some("uuid") => uuid::Builder::from_random_bytes(self.rng.random())
                .into_uuid()
                .to_string(),
            Some("ipv4") => "192.0.2.1".to_owned(),
            Some("ipv6") => "2001:db8::1".to_owned(),
            Some("hostname") => "example.com".to_owned(),
            _ => self.words_text(),
        };
        while s.chars().count() < min {
            s.push_str(if s.is_empty() { "a" } else { " a" });
        }
        if let Some(max) = max {
            s = s.chars().take(max).collect();
        }
        Value::String(s)
    }

    fn words_text(&mut self) -> String {
        if self.words.is_empty() {
            return "example".to_owned();
        }
        let n = self.rng.random_range(1..=3.min(self.words.len()));
        let start = self.rng.random_range(0..self.words.len());
        (0..n)
            .map(|i| self.words[(start + i) % self.words.len()].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn type_of(obj: &Map<String, Value>) -> &str {
    match obj.get("type") {
        Some(Value::String(t)) => t,
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if obj.contains_key("properties") => "object",
        _ if obj.contains_key("items") => "array",
        _ => "string",
    }
}

fn merge_all_of(obj: &Map<String, Value>, parts: &[Value]) -> Value {
    let mut merged = obj.clone();
    merged.remove("allOf");
    let mut props = Map::new();
    let mut required = Vec::new();
    for part in std::iter::once(&Value::Object(obj.clone())).chain(parts) {
        let Some(p) = part.as_object() else { continue };
        for (k, v) in p {
            match k.as_str() {
                "properties" => props.extend(v.as_object().cloned().unwrap_or_default()),
                "required" => required.extend(v.as_array().cloned().unwrap_or_default()),
                "allOf" => {}
                _ => {
                    merged.insert(k.clone(), v.clone());
                }
            }
        }
    }
    if !props.is_empty() {
        merged.insert("properties".into(), Value::Object(props));
    }
    if !required.is_empty() {
        merged.insert("required".into(), Value::Array(required));
    }
    Value::Object(merged)
}

fn num(obj: &Map<String, Value>, key: &str) -> Option<f64> {
    obj.get(key).and_then(Value::as_f64)
}

fn uint(obj: &Map<String, Value>, key: &str) -> Option<u64> {
    obj.get(key).and_then(Value::as_u64)
}

/// Fills in missing bounds around the given one with a span of `span`.
fn bounds(lo: Option<f64>, hi: Option<f64>, span: f64) -> (f64, f64) {
    match (lo, hi) {
        (Some(l), Some(h)) => (l, h.max(l)),
        (Some(l), None) => (l, l + span),
        (None, Some(h)) => (h - span, h),
        (None, None) => (0.0, span),
    }
}

#[cfg(test)]
mod tests;
