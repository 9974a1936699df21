//! `POST …/embeddings`, as DashScope (compatible mode) and Zhipu serve it: one vector per
//! input, the same text always giving the same vector (a unit vector drawn from a hash of
//! the text and the length), and each vendor's limits refused in its own words:
//!
//! - DashScope: at most `max_batch` (10) inputs, `dimensions` from the model's list,
//!   `encoding_format` `float` only; the answer carries an `id`;
//! - Zhipu: at most 64 inputs, `dimensions` from the model's list; usage also carries
//!   `completion_tokens: 0`.
//!
//! Vendors without an embeddings endpoint (DeepSeek, Kimi) answer 404, as they do.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_catalog::{Catalog, Model};
use switchyard_wire::{Dialect, tokens};

use crate::failure::Failure;

/// An embeddings request as the vendors read it.
#[derive(Debug, Deserialize)]
pub(crate) struct EmbedRequest {
    model: String,
    input: Input,
    #[serde(default)]
    dimensions: Option<u32>,
    #[serde(default)]
    encoding_format: Option<String>,
}

/// `input`: one text or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
}

impl Input {
    fn texts(&self) -> Vec<&str> {
        match self {
            Input::One(t) => vec![t.as_str()],
            Input::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// Whether `dialect`'s vendor has an embeddings endpoint.
pub(crate) fn serves(dialect: Dialect) -> bool {
    matches!(
        dialect,
        Dialect::DashScope | Dialect::Zhipu | Dialect::OpenAi
    )
}

/// Parse and check a request for provider `provider` (speaking `dialect`); the model.
pub(crate) fn accept<'c>(
    catalog: &'c Catalog,
    provider: &str,
    dialect: Dialect,
    body: &[u8],
) -> Result<(EmbedRequest, &'c Model), Failure> {
    let req: EmbedRequest =
        serde_json::from_slice(body).map_err(|e| Failure::InvalidJson(e.to_string()))?;
    let model = catalog
        .models()
        .iter()
        .find(|m| {
            m.provider == provider
                && m.is_embedding()
                && (m.upstream_id.eq_ignore_ascii_case(&req.model)
                    || m.id.eq_ignore_ascii_case(&req.model))
        })
        .ok_or_else(|| Failure::ModelNotFound(req.model.clone()))?;
    let spec = model
        .embedding
        .as_ref()
        .ok_or_else(|| Failure::ModelNotFound(req.model.clone()))?;
    let texts = req.input.texts();
    let max_batch = usize::try_from(spec.max_batch).unwrap_or(usize::MAX);
    if texts.is_empty() || texts.len() > max_batch {
        return Err(Failure::invalid(match dialect {
            Dialect::Zhipu => format!("输入数组最大不得超过{max_batch}条"),
            _ => format!("batch size is invalid, it should not be larger than {max_batch}."),
        }));
    }
    if let Some(i) = texts.iter().position(|t| t.trim().is_empty()) {
        return Err(Failure::invalid(format!("input[{i}] is empty")));
    }
    if let Some(i) = texts
        .iter()
        .position(|t| tokens::estimate(t) > u64::from(model.context_window))
    {
        return Err(Failure::invalid(format!(
            "input[{i}] is longer than {} tokens",
            model.context_window
        )));
    }
    if let Some(d) = req.dimensions
        && !spec.allows(d)
    {
        return Err(Failure::invalid(format!(
            "dimensions {d} is not supported by {}",
            model.upstream_id
        )));
    }
    if dialect == Dialect::DashScope && req.encoding_format.as_deref().is_some_and(|f| f != "float")
    {
        return Err(Failure::invalid("encoding_format only supports float"));
    }
    Ok((req, model))
}

/// The answer to an accepted request: its body and the tokens it counted.
pub(crate) fn answer(
    dialect: Dialect,
    req: &EmbedRequest,
    model: &Model,
    id: &str,
) -> (Value, u64) {
    let dims = req
        .dimensions
        .or(model.embedding.as_ref().map(|e| e.dimensions))
        .unwrap_or(1);
    let texts = req.input.texts();
    let prompt: u64 = texts.iter().map(|t| tokens::estimate(t)).sum();
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": vector(t, dims)}))
        .collect();
    let mut body = json!({
        "object": "list",
        "data": data,
        "model": model.upstream_id,
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    });
    match dialect {
        Dialect::DashScope => body["id"] = json!(id),
        Dialect::Zhipu => body["usage"]["completion_tokens"] = json!(0),
        _ => {}
    }
    (body, prompt)
}

/// A unit vector of `dims` numbers, the same for the same text and length.
fn vector(text: &str, dims: u32) -> Vec<f32> {
    // FNV-1a over the text and the length: a fixed seed, whatever the Rust version.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes().chain(dims.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut rng = SmallRng::seed_from_u64(h);
    let raw: Vec<f32> = (0..dims).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let norm = raw
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    raw.into_iter().map(|x| x / norm).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::builtin().unwrap()
    }

    #[test]
    fn the_same_text_gives_the_same_unit_vector() {
        let a = vector("hello", 64);
        assert_eq!(a, vector("hello", 64));
        assert_ne!(a, vector("hello!", 64));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }

    #[test]
    fn dashscope_answers_a_batch_with_ids_and_usage() {
        let cat = catalog();
        let body = br#"{"model": "text-embedding-v4", "input": ["a b c", "d"], "dimensions": 256}"#;
        let (req, model) = accept(&cat, "dashscope", Dialect::DashScope, body).unwrap();
        let (out, tokens) = answer(Dialect::DashScope, &req, model, "req-1");
        assert_eq!(out["data"].as_array().unwrap().len(), 2);
        assert_eq!(out["data"][1]["index"], 1);
        assert_eq!(out["data"][0]["embedding"].as_array().unwrap().len(), 256);
        assert_eq!(out["usage"]["prompt_tokens"], tokens);
        assert_eq!(out["id"], "req-1");
    }

    #[test]
    fn each_vendor_refuses_what_it_refuses() {
        let cat = catalog();
        let eleven =
            serde_json::to_vec(&json!({"model": "text-embedding-v4", "input": vec!["x"; 11]}))
                .unwrap();
        assert!(accept(&cat, "dashscope", Dialect::DashScope, &eleven).is_err());
        let b64 = br#"{"model": "text-embedding-v4", "input": "x", "encoding_format": "base64"}"#;
        assert!(accept(&cat, "dashscope", Dialect::DashScope, b64).is_err());
        let dims = br#"{"model": "embedding-3", "input": "x", "dimensions": 100}"#;
        assert!(accept(&cat, "zhipu", Dialect::Zhipu, dims).is_err());
        let chat = br#"{"model": "glm-4.6", "input": "x"}"#;
        assert!(matches!(
            accept(&cat, "zhipu", Dialect::Zhipu, chat),
            Err(Failure::ModelNotFound(_))
        ));
    }
}
