//! Catalog entries: [`Model`], [`Provider`], [`Region`] and the overlay type [`ModelOverride`].

use serde::{Deserialize, Serialize};

use crate::capability::{Capabilities, Capability};
use crate::error::CatalogError;
use crate::price::Price;

/// The wire dialects a provider may speak; [`Provider::dialect`] must be one of these.
pub const DIALECTS: &[&str] = &[
    "openai",
    "deepseek",
    "dashscope",
    "moonshot",
    "zhipu",
    "ark",
    "siliconflow",
    "minimax",
    "openrouter",
];

/// Default display name, family, latency and throughput for models added by config overlay.
pub mod defaults {
    /// Family of an overlay model that names none.
    pub const FAMILY: &str = "other";
    /// Time to first token (ms) of an overlay model that names none.
    pub const TYPICAL_TTFT_MS: u32 = 1000;
    /// Decode speed (tokens/s) of an overlay model that names none.
    pub const TYPICAL_TOKENS_PER_SEC: u32 = 50;
}

/// One model as the gateway offers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Canonical id, lowercase and already normalised (`qwen3-32b`).
    pub id: String,
    /// Human-readable name (`Qwen3 32B`).
    pub display_name: String,
    /// Model family (`deepseek`, `qwen`, `kimi`, `glm`, …).
    pub family: String,
    /// Id of the [`Provider`] that serves it.
    pub provider: String,
    /// The name the vendor's API expects in the `model` field.
    pub upstream_id: String,
    /// Maximum tokens of prompt plus completion (for an embedding model: of one input).
    pub context_window: u32,
    /// Maximum completion tokens per request (never above `context_window`; 0 for an
    /// embedding model, which produces none).
    #[serde(default)]
    pub max_output: u32,
    /// What the model can do.
    pub capabilities: Capabilities,
    /// Other names that resolve to this model (compared after normalisation).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// List price.
    pub price: Price,
    /// Typical time to first token in milliseconds (used by the simulator).
    pub typical_ttft_ms: u32,
    /// Typical decode speed in tokens per second (used by the simulator; never 0; 1 for an
    /// embedding model, which decodes nothing).
    pub typical_tokens_per_sec: u32,
    /// For an embedding model (served by `/v1/embeddings`, never by chat): its vectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Embedding>,
    /// Other vendors that sell the same model (open weights resold by a cloud, an
    /// aggregator), each with its own id for it and its own list price.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offers: Vec<Offer>,
}

/// The same model sold by another vendor than its maker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    /// The vendor's provider id.
    pub provider: String,
    /// What the vendor's API calls the model.
    pub upstream_id: String,
    /// The vendor's list price for it.
    pub price: Price,
}

/// Where a model can be bought: its id and price at one vendor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sold<'a> {
    /// Provider id.
    pub provider: &'a str,
    /// The model's id there.
    pub upstream_id: &'a str,
    /// Its list price there.
    pub price: &'a Price,
}

impl Model {
    /// Every vendor that sells the model: its own provider first, then the offers.
    pub fn vendors(&self) -> impl Iterator<Item = Sold<'_>> {
        std::iter::once(Sold {
            provider: &self.provider,
            upstream_id: &self.upstream_id,
            price: &self.price,
        })
        .chain(self.offers.iter().map(|o| Sold {
            provider: &o.provider,
            upstream_id: &o.upstream_id,
            price: &o.price,
        }))
    }

    /// The model as `provider` sells it, if it does.
    pub fn sold_by(&self, provider: &str) -> Option<Sold<'_>> {
        self.vendors().find(|s| s.provider == provider)
    }

    /// Whether the model has capability `cap`.
    pub fn supports(&self, cap: Capability) -> bool {
        self.capabilities.contains(cap)
    }

    /// Whether it is an embedding model (see [`Model::embedding`]).
    pub fn is_embedding(&self) -> bool {
        self.embedding.is_some()
    }

    /// `"embedding"` or `"chat"`: what `/v1/models` calls its type.
    pub fn kind(&self) -> &'static str {
        if self.is_embedding() {
            "embedding"
        } else {
            "chat"
        }
    }
}

/// What an embedding model's vectors are, and how many inputs one call may carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Embedding {
    /// Length of a vector when the request names no `dimensions`.
    pub dimensions: u32,
    /// The lengths a request may ask for with `dimensions` (empty: only the default).
    #[serde(default)]
    pub dimension_choices: Vec<u32>,
    /// Inputs one upstream call may carry; a larger batch is split by the gateway.
    pub max_batch: u32,
}

impl Embedding {
    /// Whether a request may ask for vectors of `n` dimensions.
    pub fn allows(&self, n: u32) -> bool {
        n == self.dimensions || self.dimension_choices.contains(&n)
    }
}

/// One regional endpoint of a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Region name (`singapore`, `cn`, `global`, …), unique within the provider.
    pub name: String,
    /// URL prefix to which `/chat/completions` is appended; no trailing `/`.
    pub base_url: String,
    /// The vendor's Anthropic-compatible API here, to which `/v1/messages` is appended
    /// (DeepSeek's `…/anthropic`, DashScope's `…/apps/anthropic`, …); none if it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anthropic_url: Option<String>,
}

impl Region {
    /// The full chat-completions URL of this region.
    pub fn chat_completions_url(&self) -> String {
        format!("{}/chat/completions", self.base_url)
    }
}

/// An upstream vendor (or any OpenAI-compatible endpoint added by config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Provider id, lowercase (`dashscope`).
    pub id: String,
    /// Human-readable name (`Alibaba Cloud Model Studio (DashScope)`).
    pub name: String,
    /// Wire dialect, one of [`DIALECTS`].
    pub dialect: String,
    /// Environment variable holding the API key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Regional endpoints; the first is the default.
    pub regions: Vec<Region>,
    /// Documentation URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
}

impl Provider {
    /// The default region (the first listed).
    pub fn default_region(&self) -> Option<&Region> {
        self.regions.first()
    }

    /// The region called `name` (ASCII case-insensitive).
    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name.trim()))
    }
}

/// A config overlay for one model: every field but `id` is optional.
///
/// If `id` names an existing model (exact canonical id), the given fields replace that
/// model's fields (`aliases` and `price` are replaced whole, not merged). Otherwise a new
/// model is added; it needs `provider`, `context_window`, `max_output`, `capabilities` and
/// `price`, while the rest default: `display_name` and `upstream_id` to `id`, `family` to
/// [`defaults::FAMILY`], `aliases` to none, and the latency profile to
/// [`defaults::TYPICAL_TTFT_MS`] / [`defaults::TYPICAL_TOKENS_PER_SEC`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOverride {
    /// Canonical id of the model to change or add.
    pub id: String,
    /// See [`Model::display_name`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// See [`Model::family`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// See [`Model::provider`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// See [`Model::upstream_id`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_id: Option<String>,
    /// See [`Model::context_window`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u32>,
    /// See [`Model::max_output`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output: Option<u32>,
    /// See [`Model::capabilities`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// See [`Model::aliases`]; replaces the whole list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aliases: Option<Vec<String>>,
    /// See [`Model::price`]; replaces the whole price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// See [`Model::typical_ttft_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typical_ttft_ms: Option<u32>,
    /// See [`Model::typical_tokens_per_sec`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typical_tokens_per_sec: Option<u32>,
    /// See [`Model::embedding`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Embedding>,
}

impl ModelOverride {
    /// Writes every field that is set onto `model` (the id is left alone).
    pub fn apply_to(self, model: &mut Model) {
        let ModelOverride {
            id: _,
            display_name,
            family,
            provider,
            upstream_id,
            context_window,
            max_output,
            capabilities,
            aliases,
            price,
            typical_ttft_ms,
            typical_tokens_per_sec,
            embedding,
        } = self;
        if let Some(v) = display_name {
            model.display_name = v;
        }
        if let Some(v) = family {
            model.family = v;
        }
        if let Some(v) = provider {
            model.provider = v;
        }
        if let Some(v) = upstream_id {
            model.upstream_id = v;
        }
        if let Some(v) = context_window {
            model.context_window = v;
        }
        if let Some(v) = max_output {
            model.max_output = v;
        }
        if let Some(v) = capabilities {
            model.capabilities = v;
        }
        if let Some(v) = aliases {
            model.aliases = v;
        }
        if let Some(v) = price {
            model.price = v;
        }
        if let Some(v) = typical_ttft_ms {
            model.typical_ttft_ms = v;
        }
        if let Some(v) = typical_tokens_per_sec {
            model.typical_tokens_per_sec = v;
        }
        if let Some(v) = embedding {
            model.embedding = Some(v);
        }
    }

    /// Builds a new model, failing with [`CatalogError::MissingField`] for the first
    /// required field that is absent. Defaults are described on [`ModelOverride`].
    pub fn into_new_model(self) -> Result<Model, CatalogError> {
        let missing = |field: &'static str| CatalogError::MissingField {
            model: self.id.clone(),
            field,
        };
        let provider = self.provider.clone().ok_or_else(|| missing("provider"))?;
        let context_window = self
            .context_window
            .ok_or_else(|| missing("context_window"))?;
        let max_output = match (&self.embedding, self.max_output) {
            (Some(_), out) => out.unwrap_or(0),
            (None, out) => out.ok_or_else(|| missing("max_output"))?,
        };
        let capabilities = self.capabilities.ok_or_else(|| missing("capabilities"))?;
        let price = self.price.clone().ok_or_else(|| missing("price"))?;
        Ok(Model {
            display_name: self.display_name.unwrap_or_else(|| self.id.clone()),
            family: self.family.unwrap_or_else(|| defaults::FAMILY.to_owned()),
            upstream_id: self.upstream_id.unwrap_or_else(|| self.id.clone()),
            aliases: self.aliases.unwrap_or_default(),
            typical_ttft_ms: self.typical_ttft_ms.unwrap_or(defaults::TYPICAL_TTFT_MS),
            typical_tokens_per_sec: self
                .typical_tokens_per_sec
                .unwrap_or(defaults::TYPICAL_TOKENS_PER_SEC),
            id: self.id,
            provider,
            context_window,
            max_output,
            capabilities,
            price,
            embedding: self.embedding,
            offers: Vec::new(),
        })
    }
}
