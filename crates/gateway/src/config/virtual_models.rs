//! `[virtual_models.<name>]`: names clients call (`auto`, `auto-budget`, …) that route
//! each request to one of several catalog models by a policy.

use serde::Deserialize;
use toml::Spanned;

use super::check::Source;
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
    /// `[virtual_models.<name>]`, whose table starts on `line`, checked.
    pub(super) fn validate(
        self,
        src: Source<'_>,
        name: &str,
        line: usize,
    ) -> Result<VirtualModelConfig, ConfigError> {
        let span = self.models.span();
        let models = self.models.into_inner();
        if models.is_empty() {
            return Err(src.error(
                span,
                format!("[virtual_models.{name}] has no models"),
                "list the candidates, e.g. models = [\"qwen3-8b\", \"qwen3-32b\", \"deepseek-v4-pro\"]",
            ));
        }
        let n = models.len();
        let shares = PerModel {
            what: "shares",
            owner: Policy::Tiered,
            even: 1.0 / n as f64,
        }
        .validate(src, name, self.policy, n, self.shares, |s| {
            let sum: f64 = s.iter().sum();
            (s.len() != n || s.iter().any(|x| !x.is_finite() || *x < 0.0) || (sum - 1.0).abs() > 1e-6)
                .then(|| (
                    format!("[virtual_models.{name}] shares must be one non-negative share per model, summing to 1 (got {s:?} for {n} models)"),
                    "e.g. shares = [0.6, 0.25, 0.15]: at most 15% of traffic to the premium tier",
                ))
        })?;
        let escalate = flag(
            src,
            self.escalate,
            self.policy == Policy::Tiered,
            format!("[virtual_models.{name}] escalate applies only to policy = \"tiered\""),
            "remove escalate, or use policy = \"tiered\"",
        )?;
        let escalate_streams = flag(
            src,
            self.escalate_streams,
            escalate,
            format!("[virtual_models.{name}] escalate_streams needs escalate = true"),
            "add escalate = true (policy = \"tiered\"), or remove escalate_streams",
        )?;
        let weights = PerModel {
            what: "weights",
            owner: Policy::Weighted,
            even: 1,
        }
        .validate(src, name, self.policy, n, self.weights, |w| {
            (w.len() != n || w.iter().all(|x| *x == 0)).then(|| {
                (
                    format!("[virtual_models.{name}] weights must be one per model, not all 0"),
                    "e.g. weights = [3, 1]: three quarters to the first model",
                )
            })
        })?;
        let rules = self
            .rules
            .into_iter()
            .map(|r| rule(src, name, r))
            .collect::<Result<_, _>>()?;
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

/// A list with one entry per model that only one policy takes (`shares`, `weights`).
struct PerModel<T> {
    /// Its key in the table.
    what: &'static str,
    /// The policy that takes it.
    owner: Policy,
    /// Each model's entry when the list is absent.
    even: T,
}

impl<T: Clone> PerModel<T> {
    /// The list of a virtual model with `policy` and `models` models: as given, unless
    /// `misfit` says what is wrong with it (message and fix); `even` for each model when
    /// absent; empty, and an error when given, under another policy.
    fn validate(
        self,
        src: Source<'_>,
        name: &str,
        policy: Policy,
        models: usize,
        v: Option<Spanned<Vec<T>>>,
        misfit: impl FnOnce(&[T]) -> Option<(String, &'static str)>,
    ) -> Result<Vec<T>, ConfigError> {
        let (what, owner) = (self.what, self.owner.as_str());
        match v {
            Some(v) if policy != self.owner => Err(src.error(
                v.span(),
                format!("[virtual_models.{name}] {what} apply only to policy = \"{owner}\""),
                format!("remove {what}, or use policy = \"{owner}\""),
            )),
            Some(v) => match misfit(v.get_ref()) {
                Some((message, fix)) => Err(src.error(v.span(), message, fix)),
                None => Ok(v.into_inner()),
            },
            None if policy == self.owner => Ok(vec![self.even; models]),
            None => Ok(Vec::new()),
        }
    }
}

/// An optional switch (off when absent) that may be on only when `allowed`; else
/// `message` and `fix` at its line.
fn flag(
    src: Source<'_>,
    v: Option<Spanned<bool>>,
    allowed: bool,
    message: String,
    fix: &str,
) -> Result<bool, ConfigError> {
    match v {
        Some(e) if *e.get_ref() && !allowed => Err(src.error(e.span(), message, fix)),
        Some(e) => Ok(*e.get_ref()),
        None => Ok(false),
    }
}

/// One of `rules`, its `when` understood.
fn rule(src: Source<'_>, name: &str, r: Spanned<RawRule>) -> Result<Rule, ConfigError> {
    let span = r.span();
    let r = r.into_inner();
    let when = parse_match(&r.when).ok_or_else(|| {
        src.error(
            span,
            format!("[virtual_models.{name}] rule when = \"{}\" is not understood", r.when),
            "write when = \"header:x-team=search\", \"team=search\", \"user=alice\", \"key=<key id>\" or \"path=/team-a\" (one path segment)",
        )
    })?;
    Ok(Rule {
        when,
        model: r.model,
        teams: r.teams,
        keys: r.keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::testing::assert_refused;

    fn vm(table: &str) -> VirtualModelConfig {
        let text = format!("[virtual_models.auto]\n{table}");
        Config::parse(&text, "c").unwrap().virtual_models["auto"].clone()
    }

    #[test]
    fn tiers_share_equally_and_weights_are_even_unless_given() {
        let v = vm("policy = \"tiered\"\nmodels = [\"a\", \"b\"]\n");
        assert_eq!((v.shares, v.weights, v.line), (vec![0.5, 0.5], vec![], 1));
        let v = vm("policy = \"weighted\"\nmodels = [\"a\", \"b\"]\n");
        assert_eq!((v.shares, v.weights), (vec![], vec![1, 1]));
        let v = vm("policy = \"weighted\"\nmodels = [\"a\", \"b\"]\nweights = [0, 2]\n");
        assert_eq!(v.weights, vec![0, 2]);
        let v = vm(
            "policy = \"tiered\"\nmodels = [\"a\"]\nescalate = true\nescalate_streams = true\n\
             rules = [{ when = \"team=x\", model = \"a\", keys = [\"k1\"] }]\n",
        );
        assert!(v.escalate && v.escalate_streams);
        assert_eq!(
            v.rules,
            vec![Rule {
                when: Match::Team("x".into()),
                model: "a".into(),
                teams: vec![],
                keys: vec!["k1".into()],
            }]
        );
    }

    #[test]
    fn settings_of_another_policy_or_that_do_not_fit_name_the_line_and_fix() {
        for (rest, needle) in [
            ("models = []", "[virtual_models.auto] has no models"),
            (
                "models = [\"a\"]\nshares = [0.5]",
                "shares must be one non-negative share per model, summing to 1 (got [0.5] for 1 models)",
            ),
            (
                "models = [\"a\"]\npolicy = \"cheapest\"\nshares = [1.0]",
                "shares apply only to policy = \"tiered\"",
            ),
            (
                "models = [\"a\"]\nweights = [1]",
                "weights apply only to policy = \"weighted\"",
            ),
            (
                "models = [\"a\"]\npolicy = \"weighted\"\nweights = [0]",
                "weights must be one per model, not all 0",
            ),
            (
                "models = [\"a\"]\npolicy = \"cheapest\"\nescalate = true",
                "escalate applies only to policy = \"tiered\"",
            ),
            (
                "models = [\"a\"]\nescalate_streams = true",
                "escalate_streams needs escalate = true",
            ),
            (
                "models = [\"a\"]\nrules = [{ when = \"colour=red\", model = \"a\" }]",
                "rule when = \"colour=red\" is not understood",
            ),
        ] {
            let policy = if rest.contains("policy") {
                ""
            } else {
                "policy = \"tiered\"\n"
            };
            let text = format!("[virtual_models.auto]\n{policy}{rest}\n");
            // Each mistake is on the last line.
            assert_refused(&text, text.lines().count(), &[needle]);
        }
    }

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
