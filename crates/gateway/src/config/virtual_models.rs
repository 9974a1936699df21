//! `[virtual_models.<name>]`: names clients call (`auto`, `auto-budget`, …) that route
//! each request to one of several catalog models by a policy.

use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;

/// How a virtual model picks its model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// The classifier's score picks a tier (models listed cheap to premium).
    Tiered,
    /// The lowest expected cost that fits.
    Cheapest,
    /// The lowest measured time to first token that fits.
    Fastest,
    /// At random, in proportion to `weights`, among those that fit.
    Weighted,
}

impl Policy {
    /// Config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Tiered => "tiered",
            Policy::Cheapest => "cheapest",
            Policy::Fastest => "fastest",
            Policy::Weighted => "weighted",
        }
    }
}

/// What a rule looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// A request header (name lower-cased) has this value.
    Header(String, String),
    /// The caller's key belongs to this team.
    Team(String),
    /// The request's `user` field.
    User(String),
    /// The caller's key id.
    Key(String),
    /// The URL path starts with this prefix (`/team-a`): clients set
    /// `base_url = "http://gateway/team-a/v1"`.
    Path(String),
}

/// A rule: requests that match go to `model` (if it fits), before the policy decides.
///
/// `header:`, `user=` and `path=` are chosen by the client: without `teams` or `keys`,
/// any caller can select such a rule. With them, only a caller whose key is listed, or
/// whose key's team is, can (and, with `[keys]` off, no one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// What must match.
    pub when: Match,
    /// Model id or alias.
    pub model: String,
    /// Teams whose keys may select the rule (with `keys`: either list admits).
    pub teams: Vec<String>,
    /// Key ids that may select the rule.
    pub keys: Vec<String>,
}

impl Rule {
    /// Whether the caller (its key id and team, if it has a key) may select this rule.
    pub fn allows(&self, key_id: Option<&str>, team: Option<&str>) -> bool {
        if self.teams.is_empty() && self.keys.is_empty() {
            return true;
        }
        key_id.is_some_and(|k| self.keys.iter().any(|x| x == k))
            || team.is_some_and(|t| self.teams.iter().any(|x| x == t))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    when: String,
    model: String,
    #[serde(default)]
    teams: Vec<String>,
    #[serde(default)]
    keys: Vec<String>,
}

fn parse_match(when: &str) -> Option<Match> {
    let (what, value) = when.split_once('=')?;
    let value = value.trim().to_string();
    if value.is_empty() {
        return None;
    }
    match what.trim() {
        "team" => Some(Match::Team(value)),
        "user" => Some(Match::User(value)),
        "key" => Some(Match::Key(value)),
        "path" => {
            let prefix = value.trim_end_matches('/');
            (prefix.starts_with('/') && prefix.len() > 1 && !prefix[1..].contains('/'))
                .then(|| Match::Path(prefix.to_string()))
        }
        h => h
            .strip_prefix("header:")
            .map(|name| Match::Header(name.trim().to_ascii_lowercase(), value)),
    }
}

/// `[virtual_models.<name>]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualModelConfig {
    /// Policy.
    pub policy: Policy,
    /// Candidate models (ids or aliases); for `tiered`, cheap to premium.
    pub models: Vec<String>,
    /// For `tiered`: the share of traffic each tier should get (sums to 1).
    pub shares: Vec<f64>,
    /// For `weighted`: one weight per model.
    pub weights: Vec<u32>,
    /// Rules tried in order before the policy.
    pub rules: Vec<Rule>,
    /// For `tiered`, non-streaming: retry on the next tier up when the answer fails a
    /// cheap check (cut at max tokens, a refusal, invalid JSON when JSON was asked for).
    pub escalate: bool,
    /// With `escalate`: streamed requests escalate too. The cheap tier's answer is read
    /// whole and checked before the client sees a byte (its time to first token becomes
    /// the whole answer's time); an escalated answer streams live.
    pub escalate_streams: bool,
    /// Line of the table.
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVirtualModel {
    policy: Policy,
    models: Spanned<Vec<String>>,
    #[serde(default)]
    shares: Option<Spanned<Vec<f64>>>,
    #[serde(default)]
    escalate: Option<Spanned<bool>>,
    #[serde(default)]
    escalate_streams: Option<Spanned<bool>>,
    #[serde(default)]
    weights: Option<Spanned<Vec<u32>>>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

impl RawVirtualModel {
    pub(super) fn validate(
        self,
        name: &str,
        line: usize,
        at: super::routes::At<'_>,
    ) -> Result<VirtualModelConfig, ConfigError> {
        let span = self.models.span();
        let models = self.models.into_inner();
        if models.is_empty() {
            return Err(at(
                span,
                format!("[virtual_models.{name}] has no models"),
                "list the candidates, e.g. models = [\"qwen3-8b\", \"qwen3-32b\", \"deepseek-v4-pro\"]".into(),
            ));
        }
        let shares = match (self.policy, self.shares) {
            (Policy::Tiered, None) => vec![1.0 / models.len() as f64; models.len()],
            (Policy::Tiered, Some(s)) => {
                let sp = s.span();
                let s = s.into_inner();
                let sum: f64 = s.iter().sum();
                if s.len() != models.len()
                    || s.iter().any(|x| !x.is_finite() || *x < 0.0)
                    || (sum - 1.0).abs() > 1e-6
                {
                    return Err(at(
                        sp,
                        format!(
                            "[virtual_models.{name}] shares must be one non-negative share per model, summing to 1 (got {s:?} for {} models)",
                            models.len()
                        ),
                        "e.g. shares = [0.6, 0.25, 0.15]: at most 15% of traffic to the premium tier".into(),
                    ));
                }
                s
            }
            (_, Some(s)) => {
                return Err(at(
                    s.span(),
                    format!("[virtual_models.{name}] shares apply only to policy = \"tiered\""),
                    "remove shares, or use policy = \"tiered\"".into(),
                ));
            }
            (_, None) => Vec::new(),
        };
        let escalate = match self.escalate {
            Some(e) if *e.get_ref() && self.policy != Policy::Tiered => {
                return Err(at(
                    e.span(),
                    format!("[virtual_models.{name}] escalate applies only to policy = \"tiered\""),
                    "remove escalate, or use policy = \"tiered\"".into(),
                ));
            }
            Some(e) => *e.get_ref(),
            None => false,
        };
        let escalate_streams = match self.escalate_streams {
            Some(e) if *e.get_ref() && !escalate => {
                return Err(at(
                    e.span(),
                    format!("[virtual_models.{name}] escalate_streams needs escalate = true"),
                    "add escalate = true (policy = \"tiered\"), or remove escalate_streams".into(),
                ));
            }
            Some(e) => *e.get_ref(),
            None => false,
        };
        let weights = match (self.policy, self.weights) {
            (Policy::Weighted, None) => vec![1; models.len()],
            (Policy::Weighted, Some(w)) => {
                if w.get_ref().len() != models.len() || w.get_ref().iter().all(|x| *x == 0) {
                    return Err(at(
                        w.span(),
                        format!("[virtual_models.{name}] weights must be one per model, not all 0"),
                        "e.g. weights = [3, 1]: three quarters to the first model".into(),
                    ));
                }
                w.into_inner()
            }
            (_, Some(w)) => {
                return Err(at(
                    w.span(),
                    format!("[virtual_models.{name}] weights apply only to policy = \"weighted\""),
                    "remove weights, or use policy = \"weighted\"".into(),
                ));
            }
            (_, None) => Vec::new(),
        };
        let mut rules = Vec::new();
        for r in self.rules {
            let span = r.span();
            let r = r.into_inner();
            let when = parse_match(&r.when).ok_or_else(|| {
                at(
                    span.clone(),
                    format!("[virtual_models.{name}] rule when = \"{}\" is not understood", r.when),
                    "write when = \"header:x-team=search\", \"team=search\", \"user=alice\", \"key=<key id>\" or \"path=/team-a\" (one path segment)".into(),
                )
            })?;
            rules.push(Rule {
                when,
                model: r.model,
                teams: r.teams,
                keys: r.keys,
            });
        }
        Ok(VirtualModelConfig {
            policy: self.policy,
            models,
            shares,
            weights,
            rules,
            escalate,
            escalate_streams,
            line,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn rule_conditions_parse_and_path_takes_one_segment() {
        assert_eq!(
            parse_match("header:X-Team = search"),
            Some(Match::Header("x-team".into(), "search".into()))
        );
        assert_eq!(parse_match("team=a"), Some(Match::Team("a".into())));
        assert_eq!(
            parse_match("path=/labs/"),
            Some(Match::Path("/labs".into()))
        );
        assert_eq!(parse_match("path=labs"), None, "must start with /");
        assert_eq!(parse_match("path=/a/b"), None, "one segment only");
        assert_eq!(parse_match("path=/"), None);
        assert_eq!(parse_match("user="), None);
        assert_eq!(parse_match("colour=red"), None);
    }
}
