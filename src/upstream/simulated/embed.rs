//! Simulated embeddings: deterministic unit vectors (seeded by model and input text) of the
//! model's dimension (or the request's smaller `dimensions`), with usage counted by tiktoken.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::tokenizer::Encoding;

/// Why an embeddings body was rejected (becomes a 400 client error).
pub(super) type BadRequest = String;

/// The OpenAI embeddings answer for `body`.
pub(super) fn embed(model: &str, dims: usize, body: &Value) -> Result<Value, BadRequest> {
    let dims = match body.get("dimensions") {
        None | Some(Value::Null) => dims,
        Some(d) => match d.as_u64().and_then(|d| usize::try_from(d).ok()) {
            Some(d) if (1..=dims).contains(&d) => d,
            _ => return Err(format!("dimensions must be between 1 and {dims}")),
        },
    };
    let enc = Encoding::for_model(model);
    let inputs = inputs(body.get("input"), enc)?;
    let mut tokens = 0u64;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, (key, n))| {
            tokens += n;
            json!({"object": "embedding", "index": i, "embedding": unit_vector(model, key, dims)})
        })
        .collect();
    Ok(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    }))
}

/// Each input as (seed text, token count): strings, string arrays, token arrays.
fn inputs(input: Option<&Value>, enc: Encoding) -> Result<Vec<(String, u64)>, BadRequest> {
    let one = |v: &Value| -> Result<(String, u64), BadRequest> {
        match v {
            Value::String(s) => Ok((s.clone(), enc.count(s).0)),
            Value::Array(ids) if ids.iter().all(Value::is_u64) => {
                Ok((Value::Array(ids.clone()).to_string(), ids.len() as u64))
            }
            _ => Err("input must be a string, an array of strings or of token arrays".into()),
        }
    };
    match input {
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(Value::is_u64) => {
            Ok(vec![one(&Value::Array(items.clone()))?])
        }
        Some(Value::Array(items)) if !items.is_empty() => items.iter().map(one).collect(),
        Some(v @ Value::String(_)) => Ok(vec![one(v)?]),
        _ => Err("input must be a non-empty string or array".into()),
    }
}

fn unit_vector(model: &str, text: &str, dims: usize) -> Vec<f64> {
    let digest = Sha256::new()
        .chain_update(model.as_bytes())
        .chain_update([0u8])
        .chain_update(text.as_bytes())
        .finalize();
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&digest);
    let mut rng = StdRng::from_seed(seed);
    // Box–Muller normals give a direction uniform on the sphere.
    let mut v: Vec<f64> = (0..dims)
        .map(|_| {
            let u1: f64 = 1.0 - rng.random::<f64>();
            let u2: f64 = rng.random();
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        })
        .collect();
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_unit_deterministic_and_sized() {
        let body = json!({"model": "m", "input": ["hello world", "bye"]});
        let a = embed("text-embedding-3-small", 1536, &body).unwrap();
        let b = embed("text-embedding-3-small", 1536, &body).unwrap();
        assert_eq!(a, b);
        let v: Vec<f64> = serde_json::from_value(a["data"][0]["embedding"].clone()).unwrap();
        assert_eq!(v.len(), 1536);
        let norm: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-9);
        assert_ne!(a["data"][0]["embedding"], a["data"][1]["embedding"]);
        assert_eq!(a["usage"]["prompt_tokens"], 3);
    }

    #[test]
    fn dimensions_and_token_inputs() {
        let a = embed("m", 1536, &json!({"input": [1, 2, 3], "dimensions": 256})).unwrap();
        assert_eq!(a["data"][0]["embedding"].as_array().unwrap().len(), 256);
        assert_eq!(a["usage"]["total_tokens"], 3);
        assert!(embed("m", 1536, &json!({"input": "x", "dimensions": 4096})).is_err());
        assert!(embed("m", 1536, &json!({"input": 7})).is_err());
    }
}
