//! `[providers.<id>]`: the vendors' APIs (or the simulator) and their regions; a table
//! changes a built-in provider or adds one.

use std::collections::BTreeMap;

use serde::Deserialize;
use switchyard_wire::Dialect;
use toml::Spanned;

use super::check::Source;
use crate::error::ConfigError;

/// `[providers.<id>]`, validated.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Dialect; `None` keeps the built-in provider's.
    pub dialect: Option<Dialect>,
    /// Literal API key (prefer `api_key_env`).
    pub api_key: Option<String>,
    /// Environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Serve this provider from the in-process simulator.
    pub simulated: bool,
    /// Regions in preference order; `None` keeps the built-in provider's.
    pub regions: Option<Vec<RegionConfig>>,
    /// How `/v1/messages` requests reach it.
    pub messages: MessagesMode,
}

/// How a Messages API request reaches a provider (`[providers.<id>] messages`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MessagesMode {
    /// To the vendor's own Anthropic-compatible endpoint, where its region has one (the
    /// request as the client wrote it, model renamed); elsewhere translated.
    #[default]
    Passthrough,
    /// Always translated into Chat Completions.
    Translate,
}

/// One region of a provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// Region label.
    pub name: String,
    /// Base URL to which `/chat/completions` is appended (ignored when simulated).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The gateway region this region is near (default: its own name); compared with
    /// `[server] region`.
    #[serde(default)]
    pub near: Option<String>,
    /// The vendor's Anthropic-compatible API here (`/v1/messages` is appended); a
    /// built-in region of the same name lends its own when this is left out.
    #[serde(default)]
    pub anthropic_url: Option<String>,
}

/// `[providers.<id>]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
    dialect: Option<Spanned<String>>,
    api_key: Option<String>,
    api_key_env: Option<String>,
    #[serde(default)]
    simulated: bool,
    regions: Option<Spanned<Vec<RegionConfig>>>,
    messages: Option<Spanned<String>>,
}

/// Every `[providers.<id>]`, checked, and the line of each table.
pub(super) type Providers = (BTreeMap<String, ProviderConfig>, BTreeMap<String, usize>);

/// Every `[providers.<id>]`, checked, in the order of their ids.
pub(super) fn validate(
    src: Source<'_>,
    raw: BTreeMap<String, Spanned<RawProvider>>,
) -> Result<Providers, ConfigError> {
    let mut providers = BTreeMap::new();
    let mut lines = BTreeMap::new();
    for (id, p) in raw {
        let span = p.span();
        lines.insert(id.clone(), src.line(span.start));
        let p = p.into_inner().validate(src, &id)?;
        if !is_plain_id(&id) {
            return Err(src.error(
                span,
                format!("provider id '{id}' must be ASCII letters, digits, '-' or '_'"),
                "rename the [providers.<id>] table",
            ));
        }
        providers.insert(id, p);
    }
    Ok((providers, lines))
}

/// ASCII letters, digits, `-` and `_`, at least one.
fn is_plain_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl RawProvider {
    /// `[providers.<id>]`, checked.
    fn validate(self, src: Source<'_>, id: &str) -> Result<ProviderConfig, ConfigError> {
        let dialect = match self.dialect {
            None => None,
            Some(d) => Some(d.get_ref().parse::<Dialect>().map_err(|e| {
                src.error(
                    d.span(),
                    e.to_string(),
                    "set dialect to the vendor's API style; \"openai\" fits any OpenAI-compatible server",
                )
            })?),
        };
        if let Some(regions) = &self.regions {
            check_regions(src, id, regions, self.simulated)?;
        }
        let messages = match self
            .messages
            .as_ref()
            .map(|m| (m.get_ref().as_str(), m.span()))
        {
            None | Some(("passthrough", _)) => MessagesMode::Passthrough,
            Some(("translate", _)) => MessagesMode::Translate,
            Some((other, span)) => {
                return Err(src.error(
                    span,
                    format!("messages = \"{other}\" is not a way to reach provider '{id}'"),
                    "use \"passthrough\" (the vendor's own Anthropic-compatible endpoint) or \"translate\" (Chat Completions)",
                ));
            }
        };
        Ok(ProviderConfig {
            dialect,
            api_key: self.api_key,
            api_key_env: self.api_key_env,
            simulated: self.simulated,
            regions: self.regions.map(Spanned::into_inner),
            messages,
        })
    }
}

/// A provider's `regions`: at least one, and unless `simulated`, each with an http(s)
/// `base_url`.
fn check_regions(
    src: Source<'_>,
    id: &str,
    regions: &Spanned<Vec<RegionConfig>>,
    simulated: bool,
) -> Result<(), ConfigError> {
    let at = |message: String, fix: &str| src.error(regions.span(), message, fix);
    if regions.get_ref().is_empty() {
        return Err(at(
            format!("provider '{id}' has an empty region list"),
            "list at least one region: regions = [{ name = \"main\", base_url = \"https://…\" }]",
        ));
    }
    if simulated {
        return Ok(());
    }
    for r in regions.get_ref() {
        match &r.base_url {
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {}
            Some(u) => {
                return Err(at(
                    format!(
                        "region '{}' of provider '{id}' has base_url '{u}', which is not an http(s) URL",
                        r.name
                    ),
                    "write the full URL, e.g. \"https://api.deepseek.com\"",
                ));
            }
            None => {
                return Err(at(
                    format!("region '{}' of provider '{id}' has no base_url", r.name),
                    "add base_url, or set simulated = true to serve it from the simulator",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::config::testing::{assert_refused, error_of};

    #[test]
    fn unknown_dialect_names_the_line_and_choices() {
        let text = "[providers.x]\ndialect = \"deepsek\"\nregions = [{ name = \"a\", base_url = \"http://h\" }]\n";
        assert_refused(text, 2, &["deepseek"]);
    }

    #[test]
    fn messages_takes_passthrough_or_translate_and_names_the_line_otherwise() {
        let text = "[providers.deepseek]\nsimulated = true\nmessages = \"relay\"\n";
        assert_refused(text, 3, &["passthrough", "translate"]);
        let ok = Config::parse("[providers.deepseek]\nmessages = \"translate\"\n", "t").unwrap();
        assert_eq!(
            ok.providers["deepseek"].messages,
            super::MessagesMode::Translate
        );
    }

    #[test]
    fn region_without_base_url_needs_simulated() {
        let text = "[providers.x]\ndialect = \"openai\"\nregions = [{ name = \"a\" }]\n";
        assert!(error_of(text).contains("simulated = true"));
        let ok =
            "[providers.x]\ndialect = \"openai\"\nsimulated = true\nregions = [{ name = \"a\" }]\n";
        assert!(Config::parse(ok, "c").is_ok());
    }

    #[test]
    fn ids_urls_and_region_lists_are_checked() {
        for (text, needle) in [
            (
                "[providers.\"a b\"]\nsimulated = true\n",
                "provider id 'a b' must be ASCII letters, digits, '-' or '_'",
            ),
            (
                "[providers.x]\nregions = []\n",
                "provider 'x' has an empty region list",
            ),
            (
                "[providers.x]\nregions = [{ name = \"a\", base_url = \"ftp://h\" }]\n",
                "region 'a' of provider 'x' has base_url 'ftp://h', which is not an http(s) URL",
            ),
        ] {
            assert!(error_of(text).contains(needle), "{text}");
        }
    }
}
