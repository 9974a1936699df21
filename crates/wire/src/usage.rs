//! Token usage: the vendors' shapes in, one normalised shape out.
//!
//! Where vendors put cached-prompt counts:
//! - OpenAI, Qwen, GLM, DeepSeek (too): `prompt_tokens_details.cached_tokens`;
//! - DeepSeek: `prompt_cache_hit_tokens` (+ `prompt_cache_miss_tokens`);
//! - Kimi: `cached_tokens` at the usage's top level (inside `choices[0].usage` when streaming);
//! - GLM (some versions): `input_tokens_details.cached_tokens`.

use serde::{Deserialize, Serialize};

use crate::JsonMap;

/// Usage as it appears on the wire: every vendor field we know, all optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens, including cached ones.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Completion tokens, including reasoning tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// `prompt_tokens + completion_tokens`.
    #[serde(default)]
    pub total_tokens: u64,
    /// `{cached_tokens}` (OpenAI, Qwen, GLM, DeepSeek).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<TokenDetails>,
    /// `{reasoning_tokens}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<TokenDetails>,
    /// DeepSeek: prompt tokens served from the context cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache_hit_tokens: Option<u64>,
    /// DeepSeek: prompt tokens not served from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_cache_miss_tokens: Option<u64>,
    /// Kimi: cached prompt tokens at the top level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// GLM variant of `prompt_tokens_details`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens_details: Option<TokenDetails>,
}

/// `prompt_tokens_details` / `completion_tokens_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TokenDetails {
    /// Cached prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Reasoning tokens (part of completion tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Other details (`audio_tokens`, …), passed through.
    #[serde(flatten)]
    pub extra: JsonMap,
}

// Read in one pass, not through `#[serde(flatten)]` (see `crate::open`).
crate::open::open_struct!(TokenDetails, TokenDetails::default(), {
    "cached_tokens" => cached_tokens,
    "reasoning_tokens" => reasoning_tokens,
});

/// The normalised usage every part of Switchyard works with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Prompt tokens, cached ones included.
    pub prompt: u64,
    /// Of which served from the vendor's cache.
    pub cached_prompt: u64,
    /// Completion tokens, reasoning included.
    pub completion: u64,
    /// Of which reasoning.
    pub reasoning: u64,
}

impl Usage {
    /// Normalise whatever the vendor sent.
    pub fn normalize(&self) -> TokenUsage {
        let detail =
            |d: &Option<TokenDetails>, f: fn(&TokenDetails) -> Option<u64>| d.as_ref().and_then(f);
        let cached = detail(&self.prompt_tokens_details, |d| d.cached_tokens)
            .or(self.prompt_cache_hit_tokens)
            .or(self.cached_tokens)
            .or(detail(&self.input_tokens_details, |d| d.cached_tokens))
            .unwrap_or(0);
        let prompt = if self.prompt_tokens == 0 {
            self.prompt_cache_hit_tokens
                .unwrap_or(0)
                .saturating_add(self.prompt_cache_miss_tokens.unwrap_or(0))
        } else {
            self.prompt_tokens
        };
        let completion = if self.completion_tokens == 0 {
            self.total_tokens.saturating_sub(prompt)
        } else {
            self.completion_tokens
        };
        TokenUsage {
            prompt,
            cached_prompt: cached.min(prompt),
            completion,
            reasoning: detail(&self.completion_tokens_details, |d| d.reasoning_tokens)
                .unwrap_or(0)
                .min(completion),
        }
    }
}

impl TokenUsage {
    /// Total tokens.
    pub fn total(&self) -> u64 {
        self.prompt.saturating_add(self.completion)
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.prompt == 0 && self.completion == 0
    }

    /// The OpenAI usage object the client sees.
    pub fn to_wire(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt,
            completion_tokens: self.completion,
            total_tokens: self.total(),
            prompt_tokens_details: Some(TokenDetails {
                cached_tokens: Some(self.cached_prompt),
                ..TokenDetails::default()
            }),
            completion_tokens_details: Some(TokenDetails {
                reasoning_tokens: Some(self.reasoning),
                ..TokenDetails::default()
            }),
            ..Usage::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn norm(v: serde_json::Value) -> TokenUsage {
        serde_json::from_value::<Usage>(v).unwrap().normalize()
    }

    #[test]
    fn deepseek_hit_miss_fields_give_cached_tokens() {
        let u = norm(json!({
            "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
            "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36,
            "completion_tokens_details": {"reasoning_tokens": 12}
        }));
        assert_eq!(
            u,
            TokenUsage {
                prompt: 100,
                cached_prompt: 64,
                completion: 20,
                reasoning: 12
            }
        );
    }

    #[test]
    fn kimi_top_level_cached_tokens_are_read() {
        let u = norm(
            json!({"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55, "cached_tokens": 32}),
        );
        assert_eq!(u.cached_prompt, 32);
    }

    #[test]
    fn openai_details_are_read() {
        let u = norm(json!({
            "prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 3}
        }));
        assert_eq!(
            u,
            TokenUsage {
                prompt: 10,
                cached_prompt: 4,
                completion: 7,
                reasoning: 3
            }
        );
    }

    #[test]
    fn missing_completion_is_derived_from_total() {
        let u = norm(json!({"prompt_tokens": 10, "total_tokens": 15}));
        assert_eq!(u.completion, 5);
    }

    #[test]
    fn absurd_upstream_counts_saturate_instead_of_overflowing() {
        // Found by fuzzing (fuzz/regressions/sse_stream/usage-*): an upstream's numbers
        // overflowed the sums, a panic in debug builds and a wrapped count in release.
        let u = norm(json!({"prompt_cache_hit_tokens": u64::MAX, "prompt_cache_miss_tokens": 1}));
        assert_eq!(u.prompt, u64::MAX);
        let u = norm(json!({"prompt_tokens": u64::MAX, "completion_tokens": u64::MAX}));
        assert_eq!(u.total(), u64::MAX);
        assert_eq!(u.to_wire().total_tokens, u64::MAX);
    }

    #[test]
    fn wire_shape_is_openai_with_details() {
        let u = TokenUsage {
            prompt: 9,
            cached_prompt: 1,
            completion: 3,
            reasoning: 2,
        };
        assert_eq!(
            serde_json::to_value(u.to_wire()).unwrap(),
            json!({
                "prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
                "prompt_tokens_details": {"cached_tokens": 1},
                "completion_tokens_details": {"reasoning_tokens": 2}
            })
        );
    }
}
