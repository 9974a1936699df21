//! The [`Catalog`]: loading, validation, the name index, lookups and config overlays.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::error::CatalogError;
use crate::model::{DIALECTS, Model, ModelOverride, Provider};
use crate::name::normalize_name;

/// The embedded data file (`crates/catalog/data/catalog.toml`).
pub const BUILTIN_TOML: &str = include_str!("../data/catalog.toml");

/// Longest normalised name (in bytes) for which [`Catalog::suggest`] computes edit distances;
/// longer inputs get no suggestions, which bounds the work a hostile client can cause.
pub const MAX_SUGGEST_QUERY_LEN: usize = 64;

/// Minimum similarity (normalised Damerau–Levenshtein, 0–1) for a name to be suggested.
const MIN_SUGGEST_SCORE: f64 = 0.7;

/// Suggestions carried by [`CatalogError::UnknownModel`] from [`Catalog::resolve`].
const RESOLVE_SUGGESTIONS: usize = 3;

/// Longest caller-supplied name echoed back in [`CatalogError::UnknownModel`], in chars.
const MAX_ECHOED_NAME_CHARS: usize = 128;

/// The model catalog: providers, models and a name index over them.
///
/// Every name lookup goes through [`normalize_name`]. The index maps, in this priority order,
/// each model's canonical id, its aliases, and its upstream id to the model. Ids and aliases
/// must be unique across the catalog (a clash is an error). Upstream ids are best-effort: if a
/// model's normalised upstream id is already taken — by another model's id or alias, or by an
/// earlier model (in catalog order) with the same upstream id, as can happen when two providers
/// serve the same weights — that upstream-id key is skipped for the later model, and the
/// model stays reachable through its canonical id.
#[derive(Debug, Clone)]
pub struct Catalog {
    providers: Vec<Provider>,
    models: Vec<Model>,
    /// Exact canonical id → position in `models`.
    by_id: HashMap<String, usize>,
    /// Normalised id / alias / upstream id → position in `models`.
    index: HashMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    providers: Vec<Provider>,
    #[serde(default)]
    models: Vec<Model>,
}

impl Catalog {
    /// Parses and validates the catalog compiled into this crate.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        Catalog::from_toml_str(BUILTIN_TOML)
    }

    /// Parses and validates a catalog in the data-file format (`[[providers]]` and
    /// `[[models]]` tables; see `data/catalog.toml`).
    pub fn from_toml_str(s: &str) -> Result<Catalog, CatalogError> {
        let file: CatalogFile = toml::from_str(s).map_err(|e| CatalogError::Parse {
            message: e.to_string(),
        })?;
        Catalog::from_parts(file.providers, file.models)
    }

    /// Validates providers and models and builds the catalog.
    pub fn from_parts(
        providers: Vec<Provider>,
        models: Vec<Model>,
    ) -> Result<Catalog, CatalogError> {
        let mut seen = HashSet::new();
        for p in &providers {
            validate_provider(p)?;
            if !seen.insert(p.id.as_str()) {
                return Err(invalid(
                    format!("provider '{}'", p.id),
                    "duplicate provider id",
                ));
            }
        }
        let (by_id, index) = build_index(&providers, &models)?;
        Ok(Catalog {
            providers,
            models,
            by_id,
            index,
        })
    }

    /// All models, in catalog order.
    pub fn models(&self) -> &[Model] {
        &self.models
    }

    /// All providers, in catalog order.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// The provider with this exact id.
    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// The model with this exact canonical id (no normalisation, no aliases).
    pub fn get(&self, canonical_id: &str) -> Option<&Model> {
        self.by_id
            .get(canonical_id)
            .and_then(|&i| self.models.get(i))
    }

    /// Looks a name up like [`resolve`](Self::resolve) but without building an error.
    ///
    /// One hash lookup; allocates only if the name is not already normalised.
    pub fn find(&self, name: &str) -> Option<&Model> {
        let key = normalize_name(name);
        self.index
            .get(key.as_ref())
            .and_then(|&i| self.models.get(i))
    }

    /// Resolves any accepted spelling (canonical id, alias, upstream id, with or without a
    /// vendor prefix, any case, `_` or space for `-`) to its model.
    ///
    /// On failure returns [`CatalogError::UnknownModel`] with up to three suggestions.
    pub fn resolve(&self, name: &str) -> Result<&Model, CatalogError> {
        self.find(name).ok_or_else(|| self.unknown_model(name))
    }

    /// [`Catalog::resolve`], for a chat model: an embedding model is [`CatalogError::WrongKind`].
    pub fn resolve_chat(&self, name: &str) -> Result<&Model, CatalogError> {
        let m = self.resolve(name)?;
        if m.is_embedding() {
            return Err(CatalogError::WrongKind {
                model: m.id.clone(),
                is: "an embedding",
                use_instead: "send it to POST /v1/embeddings",
            });
        }
        Ok(m)
    }

    /// [`Catalog::resolve`], for an embedding model: a chat model is [`CatalogError::WrongKind`].
    pub fn resolve_embedding(&self, name: &str) -> Result<&Model, CatalogError> {
        let m = self.resolve(name)?;
        if !m.is_embedding() {
            return Err(CatalogError::WrongKind {
                model: m.id.clone(),
                is: "a chat",
                use_instead: "embedding models are listed by GET /v1/models with type \"embedding\"",
            });
        }
        Ok(m)
    }

    /// The `limit` canonical ids or aliases (or upstream ids) closest to `name`, best first,
    /// for "did you mean". At most one name per model; names that share a prefix of three or
    /// more characters with `name` count as close. Empty if nothing is close, or if the
    /// normalised name is longer than [`MAX_SUGGEST_QUERY_LEN`].
    pub fn suggest(&self, name: &str, limit: usize) -> Vec<&str> {
        let query = normalize_name(name);
        let query = query.as_ref();
        if limit == 0 || query.is_empty() || query.len() > MAX_SUGGEST_QUERY_LEN {
            return Vec::new();
        }
        // (score, kind: 0 = id, 1 = alias, 2 = upstream, name)
        let mut picks: Vec<(f64, u8, &str)> = Vec::new();
        for (i, m) in self.models.iter().enumerate() {
            let upstream_indexed = self.index.get(normalize_name(&m.upstream_id).as_ref())
                == Some(&i)
                && normalize_name(&m.upstream_id) != m.id;
            let candidates = std::iter::once((0u8, m.id.as_str()))
                .chain(m.aliases.iter().map(|a| (1u8, a.as_str())))
                .chain(upstream_indexed.then_some((2u8, m.upstream_id.as_str())));
            let mut best: Option<(f64, u8, &str)> = None;
            for (kind, cand) in candidates {
                let norm = normalize_name(cand);
                let mut score = strsim::normalized_damerau_levenshtein(query, &norm);
                if query.len() >= 3 && norm.starts_with(query) {
                    score = score.max(MIN_SUGGEST_SCORE);
                }
                if score >= MIN_SUGGEST_SCORE && best.is_none_or(|(s, _, _)| score > s) {
                    best = Some((score, kind, cand));
                }
            }
            picks.extend(best);
        }
        picks.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then(a.1.cmp(&b.1))
                .then_with(|| a.2.cmp(b.2))
        });
        picks.into_iter().take(limit).map(|p| p.2).collect()
    }

    /// Config overlay: adds a provider, or replaces the one with the same id.
    pub fn upsert_provider(&mut self, p: Provider) -> Result<(), CatalogError> {
        validate_provider(&p)?;
        match self.providers.iter_mut().find(|x| x.id == p.id) {
            Some(existing) => *existing = p,
            None => self.providers.push(p),
        }
        Ok(())
    }

    /// Config overlay: overrides fields of the model whose canonical id is `m.id`, or adds a
    /// new model (see [`ModelOverride`] for required fields and defaults).
    ///
    /// The result is validated as a whole and the alias index rebuilt; on any error the
    /// catalog is left unchanged. Alias clashes are [`CatalogError::AliasCollision`] errors
    /// naming both models.
    pub fn upsert_model(&mut self, m: ModelOverride) -> Result<(), CatalogError> {
        let mut models = self.models.clone();
        match self.by_id.get(&m.id).copied() {
            Some(i) => {
                if let Some(existing) = models.get_mut(i) {
                    m.apply_to(existing);
                }
            }
            None => models.push(m.into_new_model()?),
        }
        let (by_id, index) = build_index(&self.providers, &models)?;
        self.models = models;
        self.by_id = by_id;
        self.index = index;
        Ok(())
    }

    /// The whole catalog as JSON: `{"providers":[...],"models":[...]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    fn unknown_model(&self, name: &str) -> CatalogError {
        let mut shown: String = name.chars().take(MAX_ECHOED_NAME_CHARS).collect();
        if shown.len() < name.len() {
            shown.push('…');
        }
        CatalogError::UnknownModel {
            name: shown,
            suggestions: self
                .suggest(name, RESOLVE_SUGGESTIONS)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// Serialises as `{"providers":[...],"models":[...]}`.
impl Serialize for Catalog {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Catalog", 2)?;
        s.serialize_field("providers", &self.providers)?;
        s.serialize_field("models", &self.models)?;
        s.end()
    }
}

fn invalid(entry: String, reason: impl Into<String>) -> CatalogError {
    CatalogError::Invalid {
        entry,
        reason: reason.into(),
    }
}

/// A lowercase, already-normalised, non-empty identifier without a `/`.
fn check_canonical_id(entry: &str, id: &str) -> Result<(), CatalogError> {
    if id.is_empty() {
        return Err(invalid(entry.to_owned(), "id is empty"));
    }
    let norm = normalize_name(id);
    if id.contains('/') || norm != id {
        return Err(invalid(
            entry.to_owned(),
            format!(
                "id must be lowercase with '-' for separators and no vendor prefix (e.g. '{norm}')"
            ),
        ));
    }
    Ok(())
}

fn check_text(entry: &str, field: &str, value: &str) -> Result<(), CatalogError> {
    if value.trim().is_empty() {
        return Err(invalid(entry.to_owned(), format!("{field} is empty")));
    }
    if value.trim() != value {
        return Err(invalid(
            entry.to_owned(),
            format!("{field} '{value}' has surrounding whitespace"),
        ));
    }
    Ok(())
}

fn validate_provider(p: &Provider) -> Result<(), CatalogError> {
    let entry = format!("provider '{}'", p.id);
    check_canonical_id(&entry, &p.id)?;
    check_text(&entry, "name", &p.name)?;
    if !DIALECTS.contains(&p.dialect.as_str()) {
        return Err(invalid(
            entry,
            format!(
                "dialect '{}' is not one of: {}",
                p.dialect,
                DIALECTS.join(", ")
            ),
        ));
    }
    if let Some(env) = &p.api_key_env
        && (env.is_empty() || env.chars().any(char::is_whitespace))
    {
        return Err(invalid(
            entry,
            format!("api_key_env '{env}' is not a variable name"),
        ));
    }
    if p.regions.is_empty() {
        return Err(invalid(entry, "no regions"));
    }
    let mut names = HashSet::new();
    for r in &p.regions {
        check_text(&entry, "region name", &r.name)?;
        if !names.insert(r.name.to_ascii_lowercase()) {
            return Err(invalid(entry, format!("duplicate region '{}'", r.name)));
        }
        let url = r.base_url.as_str();
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || url.chars().any(char::is_whitespace) || url.ends_with("://") {
            return Err(invalid(
                entry,
                format!(
                    "region '{}': base_url '{url}' is not an http(s) URL",
                    r.name
                ),
            ));
        }
        if url.ends_with('/') {
            return Err(invalid(
                entry,
                format!(
                    "region '{}': base_url '{url}' must not end with '/' ('/chat/completions' is appended)",
                    r.name
                ),
            ));
        }
    }
    Ok(())
}

fn validate_model(m: &Model, providers: &[Provider]) -> Result<(), CatalogError> {
    let entry = format!("model '{}'", m.id);
    check_canonical_id(&entry, &m.id)?;
    check_text(&entry, "display_name", &m.display_name)?;
    check_text(&entry, "family", &m.family)?;
    check_text(&entry, "upstream_id", &m.upstream_id)?;
    if !providers.iter().any(|p| p.id == m.provider) {
        return Err(CatalogError::UnknownProvider {
            model: m.id.clone(),
            provider: m.provider.clone(),
            known: providers.iter().map(|p| p.id.clone()).collect(),
        });
    }
    if m.capabilities.is_empty() {
        return Err(invalid(entry, "capabilities are empty"));
    }
    if m.context_window == 0 {
        return Err(invalid(entry, "context_window is 0"));
    }
    match &m.embedding {
        None if m.max_output == 0 => return Err(invalid(entry, "max_output is 0")),
        Some(_) if m.max_output != 0 => {
            return Err(invalid(
                entry,
                "an embedding model produces no output tokens: leave max_output out",
            ));
        }
        Some(e) if e.dimensions == 0 || e.max_batch == 0 || e.dimension_choices.contains(&0) => {
            return Err(invalid(
                entry,
                "embedding.dimensions, dimension_choices and max_batch must be at least 1",
            ));
        }
        _ => {}
    }
    if m.max_output > m.context_window {
        return Err(invalid(
            entry,
            format!(
                "max_output ({}) exceeds context_window ({})",
                m.max_output, m.context_window
            ),
        ));
    }
    if m.typical_tokens_per_sec == 0 {
        return Err(invalid(entry, "typical_tokens_per_sec is 0"));
    }
    if let Some(problem) = m.price.problem() {
        return Err(invalid(entry, problem));
    }
    validate_offers(m, providers)?;
    for a in &m.aliases {
        if normalize_name(a).is_empty() {
            return Err(invalid(
                entry,
                format!("alias '{a}' is empty after normalisation"),
            ));
        }
    }
    Ok(())
}

/// A model's offers name known providers other than its own, each once, with an id and
/// a valid price.
fn validate_offers(m: &Model, providers: &[Provider]) -> Result<(), CatalogError> {
    let entry = format!("model '{}'", m.id);
    let mut seen = HashSet::new();
    for o in &m.offers {
        if !providers.iter().any(|p| p.id == o.provider) {
            return Err(CatalogError::UnknownProvider {
                model: m.id.clone(),
                provider: o.provider.clone(),
                known: providers.iter().map(|p| p.id.clone()).collect(),
            });
        }
        if o.provider == m.provider || !seen.insert(o.provider.as_str()) {
            return Err(invalid(
                entry,
                format!(
                    "offers name provider '{}' twice (its own provider counts)",
                    o.provider
                ),
            ));
        }
        check_text(&entry, "offers.upstream_id", &o.upstream_id)?;
        if let Some(problem) = o.price.problem() {
            return Err(invalid(
                entry,
                format!("offer of '{}': {problem}", o.provider),
            ));
        }
    }
    Ok(())
}

type Index = (HashMap<String, usize>, HashMap<String, usize>);

/// Validates every model against `providers` and builds (`by_id`, `index`).
fn build_index(providers: &[Provider], models: &[Model]) -> Result<Index, CatalogError> {
    let mut by_id: HashMap<String, usize> = HashMap::with_capacity(models.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(models.len() * 4);
    for (i, m) in models.iter().enumerate() {
        validate_model(m, providers)?;
        if by_id.insert(m.id.clone(), i).is_some() {
            return Err(invalid(format!("model '{}'", m.id), "duplicate model id"));
        }
        // Canonical ids are validated to be normalised already.
        index.insert(m.id.clone(), i);
    }
    for (i, m) in models.iter().enumerate() {
        for alias in &m.aliases {
            let key = normalize_name(alias).into_owned();
            match index.get(&key) {
                // An alias that repeats the model's own id or another of its aliases is harmless.
                Some(&j) if j == i => {}
                Some(&j) => {
                    return Err(CatalogError::AliasCollision {
                        name: key,
                        first: models.get(j).map(|o| o.id.clone()).unwrap_or_default(),
                        second: m.id.clone(),
                    });
                }
                None => {
                    index.insert(key, i);
                }
            }
        }
    }
    for (i, m) in models.iter().enumerate() {
        // Lowest priority: skipped if an id, alias or earlier upstream id holds the key.
        index
            .entry(normalize_name(&m.upstream_id).into_owned())
            .or_insert(i);
    }
    for (i, m) in models.iter().enumerate() {
        // Lower still: the ids other vendors sell the model under.
        for o in &m.offers {
            index
                .entry(normalize_name(&o.upstream_id).into_owned())
                .or_insert(i);
        }
    }
    Ok((by_id, index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::Capability;
    use crate::price::Price;
    use crate::price::is_iso_date;

    /// Canonical ids other crates depend on.
    const REQUIRED_IDS: &[&str] = &[
        "deepseek-v4-flash",
        "deepseek-v3.2",
        "deepseek-v4-pro",
        "deepseek-r1",
        "deepseek-coder",
        "qwen3-8b",
        "qwen3-32b",
        "qwen3-coder-30b",
        "qwen3-vl-32b",
        "qwen3-omni-30b",
        "qwen3.5-397b",
        "kimi-k2.5",
        "kimi-k2.6",
        "kimi-k3",
        "kimi-k2.7-code",
        "glm-4.5-flash",
        "glm-4.5-air",
        "glm-4.5",
        "glm-4.6",
        "glm-4.6v",
        "glm-4.7",
        "glm-5",
        "glm-5.1",
        "glm-5.2",
        "glm-5.3",
    ];

    fn builtin() -> Catalog {
        match Catalog::builtin() {
            Ok(c) => c,
            Err(e) => panic!("builtin catalog must load: {e}"),
        }
    }

    fn caps(m: &Model) -> Vec<Capability> {
        m.capabilities.iter().collect()
    }

    #[test]
    fn builtin_catalog_parses_and_validates() {
        let cat = builtin();
        assert!(cat.models().len() >= REQUIRED_IDS.len());
        assert_eq!(cat.providers().len(), 8);
        for m in cat.models() {
            assert!(m.supports(Capability::Text), "{} lacks text", m.id);
            assert!(!m.price.source.is_empty(), "{} has no price source", m.id);
            assert!(is_iso_date(&m.price.as_of), "{} has no price date", m.id);
            let (ttft, speed) = if m.is_embedding() {
                (50..=1000, 1..=1)
            } else {
                (500..=3000, 10..=150)
            };
            assert!(
                ttft.contains(&m.typical_ttft_ms),
                "{} ttft {}",
                m.id,
                m.typical_ttft_ms
            );
            assert!(
                speed.contains(&m.typical_tokens_per_sec),
                "{} tok/s {}",
                m.id,
                m.typical_tokens_per_sec
            );
            assert!(
                ["deepseek", "qwen", "kimi", "glm", "minimax", "doubao"]
                    .contains(&m.family.as_str()),
                "{} family {}",
                m.id,
                m.family
            );
            // Every model is reachable through its upstream id in the built-in catalog.
            assert_eq!(cat.resolve(&m.upstream_id).unwrap().id, m.id);
        }
        let with_tools = cat
            .models()
            .iter()
            .filter(|m| m.supports(Capability::Tools))
            .count();
        assert!(
            with_tools * 4 >= cat.models().iter().filter(|m| !m.is_embedding()).count() * 3,
            "most chat models have tools"
        );
    }

    #[test]
    fn builtin_providers_match_the_published_endpoints() {
        let cat = builtin();
        let url = |p: &str, r: &str| {
            cat.provider(p)
                .and_then(|p| p.region(r))
                .map(|r| r.base_url.clone())
                .unwrap()
        };
        assert_eq!(url("deepseek", "global"), "https://api.deepseek.com");
        assert_eq!(
            url("dashscope", "singapore"),
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"
        );
        assert_eq!(
            url("dashscope", "beijing"),
            "https://dashscope.aliyuncs.com/compatible-mode/v1"
        );
        assert_eq!(
            url("dashscope", "virginia"),
            "https://dashscope-us.aliyuncs.com/compatible-mode/v1"
        );
        assert_eq!(
            url("dashscope", "hongkong"),
            "https://cn-hongkong.dashscope.aliyuncs.com/compatible-mode/v1"
        );
        assert_eq!(url("moonshot", "global"), "https://api.moonshot.ai/v1");
        assert_eq!(url("moonshot", "cn"), "https://api.moonshot.cn/v1");
        assert_eq!(url("zhipu", "global"), "https://api.z.ai/api/paas/v4");
        assert_eq!(url("zhipu", "cn"), "https://open.bigmodel.cn/api/paas/v4");
        // The Anthropic-compatible APIs (providers.md), in every built-in region.
        let anthropic = |p: &str, r: &str| {
            cat.provider(p)
                .and_then(|p| p.region(r))
                .and_then(|r| r.anthropic_url.clone())
                .unwrap()
        };
        assert_eq!(
            anthropic("deepseek", "global"),
            "https://api.deepseek.com/anthropic"
        );
        assert_eq!(
            anthropic("dashscope", "singapore"),
            "https://dashscope-intl.aliyuncs.com/apps/anthropic"
        );
        assert_eq!(
            anthropic("moonshot", "global"),
            "https://api.moonshot.ai/anthropic"
        );
        assert_eq!(
            anthropic("zhipu", "global"),
            "https://api.z.ai/api/anthropic"
        );
        // The makers' every region; of the resellers, MiniMax's and OpenRouter's.
        let without: Vec<&str> = cat
            .providers()
            .iter()
            .filter(|p| p.regions.iter().any(|r| r.anthropic_url.is_none()))
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(without, ["ark", "siliconflow"]);
        assert_eq!(
            url("ark", "cn-beijing"),
            "https://ark.cn-beijing.volces.com/api/v3"
        );
        assert_eq!(
            url("siliconflow", "global"),
            "https://api.siliconflow.com/v1"
        );
        assert_eq!(url("minimax", "cn"), "https://api.minimaxi.com/v1");
        assert_eq!(url("openrouter", "global"), "https://openrouter.ai/api/v1");
        let envs: Vec<_> = ["deepseek", "dashscope", "moonshot", "zhipu"]
            .iter()
            .map(|p| cat.provider(p).unwrap().api_key_env.clone().unwrap())
            .collect();
        assert_eq!(
            envs,
            [
                "DEEPSEEK_API_KEY",
                "DASHSCOPE_API_KEY",
                "MOONSHOT_API_KEY",
                "ZHIPUAI_API_KEY"
            ]
        );
        for p in cat.providers() {
            assert_eq!(p.dialect, p.id, "built-in dialect equals provider id");
        }
        assert_eq!(
            cat.provider("deepseek")
                .and_then(Provider::default_region)
                .unwrap()
                .chat_completions_url(),
            "https://api.deepseek.com/chat/completions"
        );
    }

    #[test]
    fn every_required_model_is_present() {
        let cat = builtin();
        for id in REQUIRED_IDS {
            let m = cat.get(id).unwrap_or_else(|| panic!("missing {id}"));
            assert_eq!(m.id, *id);
        }
    }

    #[test]
    fn required_capabilities_hold() {
        let cat = builtin();
        let m = |id: &str| cat.get(id).unwrap();
        let flash = m("deepseek-v4-flash");
        assert!(flash.supports(Capability::Tools));
        assert!(!flash.supports(Capability::Reasoning));
        assert!(!flash.supports(Capability::Vision));
        assert!(m("deepseek-r1").supports(Capability::Reasoning));
        assert!(m("deepseek-coder").supports(Capability::Code));
        assert!(m("qwen3-coder-30b").supports(Capability::Code));
        assert!(m("qwen3-vl-32b").supports(Capability::Vision));
        let omni = m("qwen3-omni-30b");
        assert!(omni.supports(Capability::Audio) && omni.supports(Capability::Vision));
        let k25 = m("kimi-k2.5");
        for c in [Capability::Vision, Capability::Tools, Capability::Reasoning] {
            assert!(k25.supports(c), "kimi-k2.5 lacks {c}: {:?}", caps(k25));
        }
        assert!(m("glm-4.6v").supports(Capability::Vision));
    }

    #[test]
    fn upstream_ids_follow_the_vendors() {
        let cat = builtin();
        let up = |id: &str| cat.get(id).unwrap().upstream_id.as_str();
        assert_eq!(up("deepseek-r1"), "deepseek-reasoner");
        assert_eq!(up("deepseek-v3.2"), "deepseek-chat");
        assert_eq!(up("qwen3-coder-30b"), "qwen3-coder-30b-a3b-instruct");
        assert_eq!(up("qwen3-vl-32b"), "qwen3-vl-32b-instruct");
        assert_eq!(up("qwen3-omni-30b"), "qwen3-omni-30b-a3b-instruct");
        assert_eq!(up("qwen3.5-397b"), "qwen3.5-397b-a17b");
        assert_eq!(up("kimi-k2.5"), "kimi-k2.5");
        assert_eq!(up("glm-4.5-flash"), "glm-4.5-flash");
    }

    #[test]
    fn qwen3_32b_resolves_from_all_spellings() {
        let cat = builtin();
        for name in [
            "qwen3-32b",
            "Qwen3-32B",
            "qwen/qwen3-32b",
            "Qwen/Qwen3-32B",
            "QWEN3_32B",
            " qwen3 32b ",
        ] {
            assert_eq!(cat.resolve(name).unwrap().id, "qwen3-32b", "{name}");
        }
    }

    #[test]
    fn upstream_ids_aliases_and_hf_names_resolve() {
        let cat = builtin();
        for (name, id) in [
            ("deepseek-reasoner", "deepseek-r1"),
            ("deepseek-chat", "deepseek-v3.2"),
            ("deepseek-ai/DeepSeek-R1", "deepseek-r1"),
            ("deepseek-ai/DeepSeek-V3.2", "deepseek-v3.2"),
            ("Qwen/Qwen3-Coder-30B-A3B-Instruct", "qwen3-coder-30b"),
            ("Qwen/Qwen3-VL-32B-Instruct", "qwen3-vl-32b"),
            ("Qwen/Qwen3.5-397B-A17B", "qwen3.5-397b"),
            ("moonshotai/Kimi-K2.5", "kimi-k2.5"),
            ("kimi-k2-5", "kimi-k2.5"),
            ("Kimi K2.6", "kimi-k2.6"),
            ("zai-org/GLM-4.5-Air", "glm-4.5-air"),
            ("THUDM/GLM-4.6", "glm-4.6"),
            ("glm-5-1", "glm-5.1"),
        ] {
            assert_eq!(cat.resolve(name).unwrap().id, id, "{name}");
        }
        assert!(cat.find("gpt-4o").is_none());
        assert!(
            cat.get("Qwen3-32B").is_none(),
            "get takes canonical ids only"
        );
    }

    #[test]
    fn unknown_model_suggests_closest_names() {
        let cat = builtin();
        let err = cat.resolve("qwen3-23b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "model 'qwen3-23b' does not exist; did you mean 'qwen3-32b', 'qwen3-8b'?"
        );
        match err {
            CatalogError::UnknownModel { name, suggestions } => {
                assert_eq!(name, "qwen3-23b");
                assert_eq!(suggestions, ["qwen3-32b", "qwen3-8b"]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(cat.suggest("deepseek-v4-flsh", 1), ["deepseek-v4-flash"]);
        assert_eq!(cat.suggest("glm-4.6", 2).first(), Some(&"glm-4.6"));
        assert!(
            cat.suggest("kimi", 10)
                .iter()
                .all(|s| s.starts_with("kimi"))
        );
        assert!(!cat.suggest("kimi", 10).is_empty());
        assert!(cat.suggest("qwen3-32b", 0).is_empty());
    }

    #[test]
    fn unknown_model_without_close_names_omits_did_you_mean() {
        let cat = builtin();
        let err = cat.resolve("llama-3-70b-instruct").unwrap_err();
        assert_eq!(
            err.to_string(),
            "model 'llama-3-70b-instruct' does not exist"
        );
        // Huge names are neither compared nor echoed in full.
        let long = "x".repeat(10_000);
        match cat.resolve(&long).unwrap_err() {
            CatalogError::UnknownModel { name, suggestions } => {
                assert!(suggestions.is_empty());
                assert!(name.chars().count() <= MAX_ECHOED_NAME_CHARS + 1);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn override_changes_price_of_existing_model() {
        let mut cat = builtin();
        let before = cat.get("glm-4.6").unwrap().clone();
        let o: ModelOverride = toml::from_str(
            r#"
            id = "glm-4.6"
            price = { input = 0.5, cached_input = 0.1, output = 2.0, as_of = "2026-10-01", source = "contract" }
            "#,
        )
        .unwrap();
        cat.upsert_model(o).unwrap();
        let after = cat.get("glm-4.6").unwrap();
        assert_eq!(after.price.input, 0.5);
        assert_eq!(after.price.output, 2.0);
        assert_eq!(after.price.source, "contract");
        assert_eq!(after.context_window, before.context_window);
        assert_eq!(after.aliases, before.aliases);
        assert_eq!(cat.resolve("GLM-4.6").unwrap().price.input, 0.5);
        assert_eq!(cat.models().len(), builtin().models().len());
    }

    #[test]
    fn override_rejects_unknown_fields() {
        let err = toml::from_str::<ModelOverride>("id = \"glm-4.6\"\ncontext = 5").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn invalid_override_leaves_catalog_unchanged() {
        let mut cat = builtin();
        let err = cat
            .upsert_model(ModelOverride {
                id: "glm-4.6".into(),
                max_output: Some(10_000_000),
                ..ModelOverride::default()
            })
            .unwrap_err();
        assert!(matches!(err, CatalogError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("exceeds context_window"), "{err}");
        assert_eq!(
            cat.get("glm-4.6").unwrap(),
            builtin().get("glm-4.6").unwrap()
        );
    }

    fn new_model() -> ModelOverride {
        ModelOverride {
            id: "my-model".into(),
            provider: Some("deepseek".into()),
            context_window: Some(32_768),
            max_output: Some(4_096),
            capabilities: Some([Capability::Text, Capability::Tools].into()),
            price: Some(Price {
                input: 1.0,
                cached_input: 0.1,
                output: 2.0,
                as_of: "2026-01-01".into(),
                source: "test".into(),
                thinking_output: None,
                tiers: Vec::new(),
                off_peak: None,
            }),
            aliases: Some(vec!["My_Model-Latest".into()]),
            ..ModelOverride::default()
        }
    }

    #[test]
    fn new_model_needs_provider_and_required_fields() {
        let mut cat = builtin();
        for field in [
            "provider",
            "context_window",
            "max_output",
            "capabilities",
            "price",
        ] {
            let mut o = new_model();
            match field {
                "provider" => o.provider = None,
                "context_window" => o.context_window = None,
                "max_output" => o.max_output = None,
                "capabilities" => o.capabilities = None,
                _ => o.price = None,
            }
            assert_eq!(
                cat.upsert_model(o).unwrap_err(),
                CatalogError::MissingField {
                    model: "my-model".into(),
                    field
                }
            );
        }
        let mut o = new_model();
        o.provider = Some("bedrock".into());
        let err = cat.upsert_model(o).unwrap_err();
        assert!(matches!(err, CatalogError::UnknownProvider { .. }), "{err}");
        assert!(err.to_string().contains("'bedrock'"), "{err}");
        assert!(cat.get("my-model").is_none());

        cat.upsert_model(new_model()).unwrap();
        let m = cat.resolve("my-model-latest").unwrap();
        assert_eq!(m.id, "my-model");
        assert_eq!(m.display_name, "my-model");
        assert_eq!(m.upstream_id, "my-model");
        assert_eq!(m.family, crate::model::defaults::FAMILY);
        assert_eq!(cat.models().last().unwrap().id, "my-model");
    }

    #[test]
    fn new_model_with_non_canonical_id_is_rejected() {
        let mut cat = builtin();
        let mut o = new_model();
        o.id = "My_Model".into();
        let err = cat.upsert_model(o).unwrap_err();
        assert!(err.to_string().contains("'my-model'"), "{err}");
    }

    #[test]
    fn alias_collision_is_rejected_naming_both_models() {
        let mut cat = builtin();
        let mut o = new_model();
        o.aliases = Some(vec!["Qwen3_32B".into()]);
        let err = cat.upsert_model(o).unwrap_err();
        assert_eq!(
            err,
            CatalogError::AliasCollision {
                name: "qwen3-32b".into(),
                first: "qwen3-32b".into(),
                second: "my-model".into(),
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains("'qwen3-32b'") && msg.contains("'my-model'"),
            "{msg}"
        );

        // Alias against another model's alias.
        let alias = cat.get("kimi-k2.5").unwrap().aliases[0].clone();
        let err = cat
            .upsert_model(ModelOverride {
                id: "glm-4.6".into(),
                aliases: Some(vec![alias]),
                ..ModelOverride::default()
            })
            .unwrap_err();
        match err {
            CatalogError::AliasCollision { first, second, .. } => {
                assert_eq!((first.as_str(), second.as_str()), ("kimi-k2.5", "glm-4.6"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn shared_upstream_id_keeps_the_first_model_and_canonical_ids_win() {
        let mut cat = builtin();
        // Same upstream id as deepseek-v3.2 (e.g. another provider serving it).
        let mut o = new_model();
        o.upstream_id = Some("deepseek-chat".into());
        cat.upsert_model(o).unwrap();
        assert_eq!(cat.resolve("deepseek-chat").unwrap().id, "deepseek-v3.2");
        assert_eq!(cat.resolve("my-model").unwrap().id, "my-model");
        // An upstream id equal to another model's canonical id never shadows it.
        cat.upsert_model(ModelOverride {
            id: "my-model".into(),
            upstream_id: Some("glm-4.6".into()),
            ..ModelOverride::default()
        })
        .unwrap();
        assert_eq!(cat.resolve("glm-4.6").unwrap().id, "glm-4.6");
    }

    #[test]
    fn validation_rejects_bad_entries() {
        let base = r#"
            [[providers]]
            id = "p"
            name = "P"
            dialect = "openai"
            regions = [{ name = "global", base_url = "https://example.com/v1" }]

            [[models]]
            id = "m"
            display_name = "M"
            family = "x"
            provider = "p"
            upstream_id = "m-up"
            context_window = 1000
            max_output = 100
            capabilities = ["text"]
            aliases = ["m2"]
            price = { input = 1.0, cached_input = 0.5, output = 2.0, as_of = "2026-01-01", source = "s" }
            typical_ttft_ms = 900
            typical_tokens_per_sec = 40
        "#;
        let cat = Catalog::from_toml_str(base).unwrap();
        assert_eq!(cat.resolve("M2").unwrap().id, "m");
        assert_eq!(cat.resolve("vendor/m-up").unwrap().id, "m");

        let cases: &[(&str, &str, &str)] = &[
            (
                "cached_input = 0.5",
                "cached_input = 1.5",
                "exceeds price.input",
            ),
            ("input = 1.0", "input = -1.0", "must be a finite number"),
            (
                "max_output = 100",
                "max_output = 2000",
                "exceeds context_window",
            ),
            (
                "context_window = 1000",
                "context_window = 0",
                "context_window is 0",
            ),
            (
                "capabilities = [\"text\"]",
                "capabilities = []",
                "capabilities are empty",
            ),
            ("provider = \"p\"", "provider = \"q\"", "provider 'q'"),
            (
                "dialect = \"openai\"",
                "dialect = \"grpc\"",
                "dialect 'grpc'",
            ),
            ("v1\" }", "v1/\" }", "must not end with '/'"),
            (
                "as_of = \"2026-01-01\"",
                "as_of = \"Jan 2026\"",
                "YYYY-MM-DD",
            ),
            ("id = \"m\"", "id = \"M\"", "id must be lowercase"),
            ("aliases = [\"m2\"]", "aliases = [\"M\"]", ""),
            (
                "typical_tokens_per_sec = 40",
                "typical_tokens_per_sec = 0",
                "tokens_per_sec is 0",
            ),
            (
                "typical_ttft_ms = 900",
                "typical_ttft_ms = 900\nbogus = 1",
                "unknown field",
            ),
        ];
        for (from, to, needle) in cases {
            assert!(base.contains(from), "{from}");
            let text = base.replacen(from, to, 1);
            match Catalog::from_toml_str(&text) {
                Ok(_) if needle.is_empty() => {} // alias equal to own id (normalised) is allowed
                Ok(_) => panic!("{to} should be rejected"),
                Err(e) => assert!(e.to_string().contains(needle), "{to}: {e}"),
            }
        }

        let dup = format!("{base}\n{}", &base[base.find("[[models]]").unwrap()..]);
        let err = Catalog::from_toml_str(&dup).unwrap_err();
        assert!(err.to_string().contains("duplicate model id"), "{err}");
        assert!(matches!(
            Catalog::from_toml_str("models = 3"),
            Err(CatalogError::Parse { .. })
        ));
    }

    #[test]
    fn upsert_provider_adds_or_replaces_by_id() {
        let mut cat = builtin();
        let mut p = cat.provider("zhipu").unwrap().clone();
        p.regions.truncate(1);
        cat.upsert_provider(p).unwrap();
        assert_eq!(cat.provider("zhipu").unwrap().regions.len(), 1);
        assert_eq!(cat.providers().len(), 8);

        let local = Provider {
            id: "local".into(),
            name: "Local vLLM".into(),
            dialect: "openai".into(),
            api_key_env: None,
            regions: vec![crate::model::Region {
                anthropic_url: None,
                name: "default".into(),
                base_url: "http://127.0.0.1:8000/v1".into(),
            }],
            docs: None,
        };
        cat.upsert_provider(local.clone()).unwrap();
        assert_eq!(cat.providers().len(), 9);
        let mut o = new_model();
        o.provider = Some("local".into());
        cat.upsert_model(o).unwrap();
        assert_eq!(cat.resolve("my-model").unwrap().provider, "local");

        let mut bad = local;
        bad.regions.clear();
        assert!(cat.upsert_provider(bad).is_err());
    }

    #[test]
    fn a_model_sold_by_several_vendors_lists_each_with_its_id_and_price() {
        let cat = builtin();
        let m = cat.get("deepseek-v3.2").unwrap();
        let vendors: Vec<&str> = m.vendors().map(|s| s.provider).collect();
        assert_eq!(vendors, ["deepseek", "siliconflow", "openrouter", "ark"]);
        let sf = m.sold_by("siliconflow").unwrap();
        assert_eq!(sf.upstream_id, "deepseek-ai/DeepSeek-V3.2");
        assert_eq!((sf.price.input, sf.price.output), (0.27, 0.42));
        assert_eq!(m.sold_by("deepseek").unwrap().upstream_id, "deepseek-chat");
        assert!(m.sold_by("minimax").is_none());
        // A reseller's id finds the model too (OpenRouter's, with its vendor prefix).
        assert_eq!(cat.resolve("deepseek/deepseek-v3.2").unwrap().id, m.id);
        assert_eq!(cat.resolve("Qwen/Qwen3-32B").unwrap().id, "qwen3-32b");
        for m in cat.models() {
            for o in &m.offers {
                assert!(is_iso_date(&o.price.as_of), "{} at {}", m.id, o.provider);
                assert!(!o.price.source.is_empty(), "{} at {}", m.id, o.provider);
            }
        }
    }

    #[test]
    fn offers_must_name_another_known_vendor_once_with_a_valid_price() {
        let base = r#"
            [[providers]]
            id = "a"
            name = "A"
            dialect = "openai"
            regions = [{ name = "r", base_url = "http://a" }]
            [[providers]]
            id = "b"
            name = "B"
            dialect = "openai"
            regions = [{ name = "r", base_url = "http://b" }]
            [[models]]
            id = "m"
            display_name = "M"
            family = "x"
            provider = "a"
            upstream_id = "m"
            context_window = 100
            max_output = 10
            capabilities = ["text"]
            price = { input = 1.0, cached_input = 0.5, output = 2.0, as_of = "2026-01-01", source = "s" }
            typical_ttft_ms = 100
            typical_tokens_per_sec = 10
        "#;
        let offer = |provider: &str, input: f64| {
            format!(
                "[[models.offers]]\nprovider = \"{provider}\"\nupstream_id = \"org/M\"\nprice = {{ input = {input}, cached_input = 0.0, output = 1.0 }}\n"
            )
        };
        let ok = Catalog::from_toml_str(&format!("{base}{}", offer("b", 1.0))).unwrap();
        assert_eq!(
            ok.get("m").unwrap().sold_by("b").unwrap().upstream_id,
            "org/M"
        );
        for (extra, needle) in [
            (offer("c", 1.0), "'c'"),
            (offer("a", 1.0), "twice"),
            (format!("{}{}", offer("b", 1.0), offer("b", 1.0)), "twice"),
            (offer("b", -1.0), "offer of 'b'"),
        ] {
            let err = Catalog::from_toml_str(&format!("{base}{extra}")).unwrap_err();
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn to_json_lists_providers_and_models() {
        let cat = builtin();
        let v = cat.to_json();
        assert_eq!(
            v["providers"].as_array().unwrap().len(),
            cat.providers().len()
        );
        assert_eq!(v["models"].as_array().unwrap().len(), cat.models().len());
        let flash = v["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == "deepseek-v4-flash")
            .unwrap();
        assert!(
            flash["capabilities"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("tools"))
        );
        assert!(flash["price"]["input"].as_f64().is_some());
        // Models serialised to JSON read back unchanged.
        let back: Vec<Model> = serde_json::from_value(v["models"].clone()).unwrap();
        assert_eq!(back, cat.models());
    }

    #[test]
    fn iso_dates_are_checked() {
        assert!(is_iso_date("2026-08-19"));
        assert!(!is_iso_date("2026-13-01"));
        assert!(!is_iso_date("2026-1-01"));
        assert!(!is_iso_date("20260819xx"));
        assert!(!is_iso_date("２０２６-08-1"));
    }
}
