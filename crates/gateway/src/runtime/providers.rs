//! Providers at start-up: the config's `[providers.<id>]` merged over the built-in ones,
//! and each provider decided real (a key from the environment or config), simulated
//! (served by the in-process `switchyard-sim`), or unusable (no key: requests to its
//! models get a 503 that says which variable to set).

use axum::http::HeaderValue;
use switchyard_catalog::{Provider, Region};
use switchyard_sim::SimHandle;
use switchyard_wire::Dialect;

use super::StartError;
use crate::config::{MessagesMode, ProviderConfig};
use crate::upstream::{ProviderRuntime, RegionRuntime};

pub(super) fn merge_provider(
    builtin: Option<&Provider>,
    id: &str,
    cfg: &ProviderConfig,
) -> Result<Provider, StartError> {
    let dialect = match (cfg.dialect, builtin) {
        (Some(d), _) => d.as_str().to_string(),
        (None, Some(b)) => b.dialect.clone(),
        (None, None) => {
            return Err(StartError::Catalog(format!(
                "provider '{id}' is not built in, so it needs `dialect` (e.g. dialect = \"openai\") and `regions`"
            )));
        }
    };
    let regions = match (&cfg.regions, builtin) {
        (Some(rs), _) => rs
            .iter()
            .map(|r| Region {
                name: r.name.clone(),
                // Left out: the built-in region of the same name lends its own.
                anthropic_url: r.anthropic_url.clone().or_else(|| {
                    builtin
                        .and_then(|b| b.region(&r.name))
                        .and_then(|b| b.anthropic_url.clone())
                }),
                base_url: r
                    .base_url
                    .clone()
                    .unwrap_or_else(|| format!("http://simulated.invalid/{id}/{}", r.name))
                    .trim_end_matches('/')
                    .to_string(),
            })
            .collect(),
        (None, Some(b)) => b.regions.clone(),
        (None, None) => {
            return Err(StartError::Catalog(format!(
                "provider '{id}' needs `regions`"
            )));
        }
    };
    Ok(Provider {
        id: id.to_string(),
        name: builtin.map_or_else(|| id.to_string(), |b| b.name.clone()),
        dialect,
        api_key_env: cfg
            .api_key_env
            .clone()
            .or_else(|| builtin.and_then(|b| b.api_key_env.clone())),
        regions,
        docs: builtin.and_then(|b| b.docs.clone()),
    })
}

pub(super) fn provider_runtime(
    p: &Provider,
    cfg: Option<&ProviderConfig>,
    sim: Option<&SimHandle>,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<ProviderRuntime, StartError> {
    let dialect: Dialect = p
        .dialect
        .parse()
        .map_err(|e| StartError::Catalog(format!("provider '{}': {e}", p.id)))?;
    let near = |r: &Region| {
        cfg.and_then(|c| c.regions.as_ref())
            .and_then(|rs| rs.iter().find(|c| c.name == r.name))
            .and_then(|c| c.near.clone())
            .unwrap_or_else(|| r.name.clone())
    };
    let passthrough = cfg.is_none_or(|c| c.messages == MessagesMode::Passthrough);
    // Each URL parsed once here, not on every request; `base` gives the region's URL
    // prefix and that of its Anthropic-compatible API, if it has one.
    let regions = |base: &dyn Fn(&Region) -> (String, Option<String>)| -> Result<Vec<RegionRuntime>, StartError> {
        p.regions
            .iter()
            .map(|r| {
                let (base, anthropic) = base(r);
                let parse = |url: &str| {
                    upstream_uri(url).map_err(|why| {
                        StartError::Catalog(format!(
                            "provider '{}' region '{}': '{url}' {why}\n  fix: give an http:// or https:// URL with a host",
                            p.id, r.name
                        ))
                    })
                };
                let chat_url = format!("{base}/chat/completions");
                let messages = match anthropic.filter(|_| passthrough) {
                    Some(a) => Some(parse(&format!("{}/v1/messages", a.trim_end_matches('/')))?),
                    None => None,
                };
                Ok(RegionRuntime {
                    name: r.name.clone(),
                    near: near(r),
                    target: parse(&chat_url)?,
                    embeddings: parse(&format!("{base}/embeddings"))?,
                    messages,
                    chat_url,
                })
            })
            .collect()
    };
    let simulated = cfg.is_some_and(|c| c.simulated);
    if let (true, Some(sim)) = (simulated, sim) {
        return Ok(ProviderRuntime {
            id: p.id.clone(),
            dialect,
            regions: regions(&|r| {
                (
                    sim.base_url(&p.id, &r.name, dialect),
                    sim.messages_base_url(&p.id, &r.name, dialect),
                )
            })?,
            auth: Some(HeaderValue::from_static("Bearer switchyard-sim")),
            api_key: Some(HeaderValue::from_static("switchyard-sim")),
            simulated: true,
            unusable_hint: String::new(),
        });
    }
    let key = cfg
        .and_then(|c| c.api_key.clone())
        .or_else(|| p.api_key_env.as_deref().and_then(env))
        .filter(|k| !k.trim().is_empty());
    let hint = match &p.api_key_env {
        Some(var) => format!(
            "set {var} (or api_key_env/api_key under [providers.{}])",
            p.id
        ),
        None => format!("set api_key or api_key_env under [providers.{}]", p.id),
    };
    let auth = key
        .as_deref()
        .and_then(|k| HeaderValue::from_str(&format!("Bearer {}", k.trim())).ok());
    let api_key = key.and_then(|k| HeaderValue::from_str(k.trim()).ok());
    Ok(ProviderRuntime {
        id: p.id.clone(),
        dialect,
        regions: regions(&|r| (r.base_url.clone(), r.anthropic_url.clone()))?,
        auth,
        api_key,
        simulated: false,
        unusable_hint: hint,
    })
}

/// `url` parsed for the upstream client: http or https, with a host.
fn upstream_uri(url: &str) -> Result<axum::http::Uri, String> {
    let uri = url
        .parse::<axum::http::Uri>()
        .map_err(|e| format!("is not a URL: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(uri),
        (Some("http" | "https"), _) => Err("has no host".into()),
        _ => Err("is not an http or https URL".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::upstream_uri;

    #[test]
    fn upstream_urls_must_be_http_or_https_with_a_host() {
        let ok = upstream_uri("https://api.deepseek.com/chat/completions").unwrap();
        assert_eq!(ok.host(), Some("api.deepseek.com"));
        assert!(upstream_uri("http://127.0.0.1:9/v1/chat/completions").is_ok());
        assert!(
            upstream_uri("ftp://example.com/x")
                .unwrap_err()
                .contains("not an http")
        );
        assert!(
            upstream_uri("localhost:8080/v1")
                .unwrap_err()
                .contains("not")
        );
        assert!(upstream_uri("not a url").unwrap_err().contains("not a URL"));
    }
}
