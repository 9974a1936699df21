//! `POST /v1/embeddings`: the client's request, the body sent to a vendor for one batch,
//! the vendor's answer, and the answer the client gets (floats, or base64 of
//! little-endian `f32`s as OpenAI sends with `encoding_format: "base64"`, which the
//! official SDKs ask for by default).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::translate::TranslateError;
use crate::usage::Usage;

/// The most inputs one request may carry (OpenAI's limit).
pub const MAX_INPUTS: usize = 2048;

/// The client's request.
#[derive(Debug, Clone, Deserialize)]
pub struct EmbeddingsRequest {
    /// Model name as the client wrote it.
    pub model: String,
    /// One text, several, or token arrays (refused: the vendors here take text).
    pub input: EmbeddingInput,
    /// `float` (the default) or `base64`.
    #[serde(default)]
    pub encoding_format: Option<EncodingFormat>,
    /// Vector length, where the model offers several.
    #[serde(default)]
    pub dimensions: Option<u32>,
    /// End-user id.
    #[serde(default)]
    pub user: Option<String>,
}

/// `input`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One text.
    One(String),
    /// Several texts.
    Many(Vec<String>),
    /// Token ids (one array or several).
    Tokens(Value),
}

/// `encoding_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    /// A JSON array of numbers.
    Float,
    /// Base64 of the little-endian `f32`s.
    Base64,
}

impl EmbeddingsRequest {
    /// The texts to embed, checked: at least one, at most [`MAX_INPUTS`], none empty, no
    /// token arrays.
    pub fn texts(&self) -> Result<Vec<&str>, TranslateError> {
        let texts: Vec<&str> = match &self.input {
            EmbeddingInput::One(t) => vec![t.as_str()],
            EmbeddingInput::Many(v) => v.iter().map(String::as_str).collect(),
            EmbeddingInput::Tokens(_) => {
                return Err(TranslateError::invalid(
                    "input",
                    "input: token arrays are not supported by these upstreams; send the text",
                ));
            }
        };
        if texts.is_empty() {
            return Err(TranslateError::invalid(
                "input",
                "input: at least one text is required",
            ));
        }
        if texts.len() > MAX_INPUTS {
            return Err(TranslateError::invalid(
                "input",
                format!(
                    "input: at most {MAX_INPUTS} texts per request, got {}",
                    texts.len()
                ),
            ));
        }
        if let Some(i) = texts.iter().position(|t| t.trim().is_empty()) {
            return Err(TranslateError::invalid(
                format!("input[{i}]"),
                format!("input[{i}]: an empty text has no embedding"),
            ));
        }
        Ok(texts)
    }
}

/// The body sent to a vendor for one batch: always floats (not every vendor encodes
/// base64; the gateway does it for the client).
pub fn upstream_body(upstream_model: &str, texts: &[&str], dimensions: Option<u32>) -> Value {
    let mut body = json!({"model": upstream_model, "input": texts, "encoding_format": "float"});
    if let (Some(d), Some(obj)) = (dimensions, body.as_object_mut()) {
        obj.insert("dimensions".into(), json!(d));
    }
    body
}

/// A vendor's answer to one batch.
#[derive(Debug, Clone, Deserialize)]
pub struct UpstreamEmbeddings {
    /// One vector per input.
    pub data: Vec<UpstreamVector>,
    /// Token counts.
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// One vector of a vendor's answer.
#[derive(Debug, Clone, Deserialize)]
pub struct UpstreamVector {
    /// Which input it embeds.
    #[serde(default)]
    pub index: usize,
    /// The numbers.
    pub embedding: Vec<f32>,
}

impl UpstreamEmbeddings {
    /// The vectors in input order, checked against a batch of `n` inputs: one each, no
    /// index out of range or repeated (an upstream is only partly trusted).
    pub fn into_vectors(self, n: usize) -> Result<Vec<Vec<f32>>, String> {
        if self.data.len() != n {
            return Err(format!(
                "the upstream returned {} vectors for {n} inputs",
                self.data.len()
            ));
        }
        let mut out: Vec<Option<Vec<f32>>> = vec![None; n];
        for v in self.data {
            match out.get_mut(v.index) {
                Some(slot @ None) => *slot = Some(v.embedding),
                _ => return Err(format!("the upstream returned a bad index {}", v.index)),
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

/// One vector as the client gets it.
#[derive(Debug, Clone, Serialize)]
pub struct OutVector {
    /// `"embedding"`.
    pub object: &'static str,
    /// Which input.
    pub index: usize,
    /// Numbers, or base64.
    pub embedding: Value,
}

/// The client's answer.
pub fn client_body(
    model: &str,
    vectors: &[Vec<f32>],
    format: EncodingFormat,
    prompt_tokens: u64,
) -> Value {
    let data: Vec<OutVector> = vectors
        .iter()
        .enumerate()
        .map(|(index, v)| OutVector {
            object: "embedding",
            index,
            embedding: match format {
                EncodingFormat::Float => json!(v),
                EncodingFormat::Base64 => Value::String(base64_f32(v)),
            },
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    })
}

/// Standard base64 (with padding) of the little-endian bytes of `v`.
fn base64_f32(v: &[f32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3).saturating_mul(4));
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        let sextet = |shift: u32| {
            let i = usize::try_from(n.checked_shr(shift).unwrap_or(0) & 63).unwrap_or(0);
            char::from(ALPHABET.get(i).copied().unwrap_or(b'A'))
        };
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_the_little_endian_floats() {
        // 1.0f32 = 00 00 80 3f; 0.5 = 00 00 00 3f.
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
        assert_eq!(base64_f32(&[1.0, 0.5]), "AACAPwAAAD8=");
        assert_eq!(base64_f32(&[]), "");
    }

    #[test]
    fn inputs_are_checked() {
        let req = |v: Value| serde_json::from_value::<EmbeddingsRequest>(v).unwrap();
        assert_eq!(
            req(json!({"model": "m", "input": "hi"})).texts().unwrap(),
            ["hi"]
        );
        assert!(req(json!({"model": "m", "input": []})).texts().is_err());
        assert!(
            req(json!({"model": "m", "input": [1, 2, 3]}))
                .texts()
                .is_err()
        );
        let e = req(json!({"model": "m", "input": ["a", " "]}))
            .texts()
            .unwrap_err();
        assert_eq!(e.param(), "input[1]");
    }

    #[test]
    fn vendor_vectors_come_back_in_input_order_or_not_at_all() {
        let up = |v: Value| serde_json::from_value::<UpstreamEmbeddings>(v).unwrap();
        let ok = up(
            json!({"data": [{"index": 1, "embedding": [2.0]}, {"index": 0, "embedding": [1.0]}]}),
        );
        assert_eq!(ok.into_vectors(2).unwrap(), vec![vec![1.0], vec![2.0]]);
        let dup = up(
            json!({"data": [{"index": 0, "embedding": [2.0]}, {"index": 0, "embedding": [1.0]}]}),
        );
        assert!(dup.into_vectors(2).is_err());
        let far = up(json!({"data": [{"index": 4000000000u64, "embedding": [2.0]}]}));
        assert!(far.into_vectors(1).is_err());
        let short = up(json!({"data": []}));
        assert!(short.into_vectors(1).is_err());
    }
}
