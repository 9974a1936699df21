//! What every section's `validate` shares: the file being checked, which turns a span of
//! it into an error naming its line and the fix, and the checks of single settings.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::error::ConfigError;

/// Longest duration any setting takes, in seconds: a day, so that it fits a `Duration`
/// and an `Instant` plus it.
pub(super) const DAY_SECS: f64 = 86_400.0;

/// The config text being validated, where it came from, and the environment that
/// settings naming a variable (`url_env`, `redis_url_env`) are read from.
#[derive(Clone, Copy)]
pub(super) struct Source<'a> {
    /// A path, or "embedded default".
    name: &'a str,
    /// The whole file.
    text: &'a str,
    /// Environment variables by name.
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Source<'a> {
    pub(super) fn new(
        name: &'a str,
        text: &'a str,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Self {
        Source { name, text, env }
    }

    /// The value of the environment variable that `setting` (at `var`'s span) names:
    /// a secret kept out of the file. Unset or empty is an error naming the variable.
    pub(super) fn env_var(
        self,
        var: &Spanned<String>,
        setting: &str,
    ) -> Result<String, ConfigError> {
        match (self.env)(var.get_ref()).filter(|v| !v.trim().is_empty()) {
            Some(v) => Ok(v),
            None => Err(self.error(
                var.span(),
                format!(
                    "{setting} names the environment variable {}, which is not set",
                    var.get_ref()
                ),
                format!(
                    "set {} (e.g. from a Kubernetes Secret), or write the value in the file",
                    var.get_ref()
                ),
            )),
        }
    }

    /// The whole file.
    pub(super) fn text(self) -> &'a str {
        self.text
    }

    /// The 1-based line of a byte offset (0 past the end).
    pub(super) fn line(self, offset: usize) -> usize {
        self.text
            .get(..offset)
            .map_or(0, |t| t.matches('\n').count() + 1)
    }

    /// An error at `line`: `message`, and how to fix it.
    pub(super) fn error_at_line(
        self,
        line: usize,
        message: String,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            source_name: self.name.to_string(),
            line,
            message,
            fix: fix.into(),
        }
    }

    /// An error at the line where `span` starts.
    pub(super) fn error(
        self,
        span: Range<usize>,
        message: String,
        fix: impl Into<String>,
    ) -> ConfigError {
        self.error_at_line(self.line(span.start), message, fix)
    }

    /// An optional setting: `default` when absent, its value when `valid`, else an error
    /// at its line saying `problem(value)` and how to fix it.
    pub(super) fn checked<T: Copy>(
        self,
        v: &Option<Spanned<T>>,
        default: T,
        valid: impl Fn(T) -> bool,
        problem: impl Fn(T) -> String,
        fix: &str,
    ) -> Result<T, ConfigError> {
        match v {
            None => Ok(default),
            Some(x) if valid(*x.get_ref()) => Ok(*x.get_ref()),
            Some(x) => Err(self.error(x.span(), problem(*x.get_ref()), fix)),
        }
    }

    /// An optional finite number >= 0, `what` in the error; `default` when absent.
    pub(super) fn non_negative(
        self,
        v: &Option<Spanned<f64>>,
        default: f64,
        what: &str,
        fix: &str,
    ) -> Result<f64, ConfigError> {
        self.checked(
            v,
            default,
            |x: f64| x.is_finite() && x >= 0.0,
            |x| format!("{what} {x} must be a number >= 0"),
            fix,
        )
    }

    /// An optional duration in seconds (a number > 0, at most a day), `what` in the
    /// error; `default` when absent.
    pub(super) fn secs(
        self,
        v: &Option<Spanned<f64>>,
        default: Duration,
        what: &str,
        fix: &str,
    ) -> Result<Duration, ConfigError> {
        match v {
            None => Ok(default),
            Some(x) => match Duration::try_from_secs_f64(*x.get_ref()) {
                Ok(d) if !d.is_zero() && d <= Duration::from_secs(86_400) => Ok(d),
                _ => Err(self.error(
                    x.span(),
                    format!(
                        "{what} {} must be a number > 0 and at most 86400",
                        x.get_ref()
                    ),
                    fix,
                )),
            },
        }
    }

    /// An optional word that must be one of `choices`: `default` when absent.
    pub(super) fn one_of<T: Copy>(
        self,
        v: &Option<Spanned<String>>,
        default: T,
        choices: &[(&str, T)],
        what: &str,
        fix: &str,
    ) -> Result<T, ConfigError> {
        let Some(word) = v else {
            return Ok(default);
        };
        choices
            .iter()
            .find(|(name, _)| name == word.get_ref())
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                self.error(
                    word.span(),
                    format!("{what} '{}' is not known", word.get_ref()),
                    fix,
                )
            })
    }
}

/// Each `[<section>.<name>]` table of `raw`, checked by `validate(table, src, name, line)`.
pub(super) fn tables<R, T>(
    src: Source<'_>,
    raw: BTreeMap<String, Spanned<R>>,
    validate: impl Fn(R, Source<'_>, &str, usize) -> Result<T, ConfigError>,
) -> Result<BTreeMap<String, T>, ConfigError> {
    raw.into_iter()
        .map(|(name, table)| {
            let line = src.line(table.span().start);
            let checked = validate(table.into_inner(), src, &name, line)?;
            Ok((name, checked))
        })
        .collect()
}

/// `secs` seconds, already checked to be a finite number from 0 to a day; `what` names
/// the setting in the (internal) error should it not be.
pub(super) fn duration(secs: f64, what: &'static str) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(secs).map_err(|_| ConfigError::Internal(what))
}

/// A path setting: `None` when absent or blank.
pub(super) fn path(p: Option<String>) -> Option<std::path::PathBuf> {
    p.filter(|p| !p.trim().is_empty())
        .map(std::path::PathBuf::from)
}

/// A word setting: `default` when absent or blank.
pub(super) fn word_or(w: Option<String>, default: &str) -> String {
    w.filter(|w| !w.trim().is_empty())
        .unwrap_or_else(|| default.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_from_one_and_past_the_end_is_zero() {
        let src = Source::new("c", "a\nb\n", &|_| None);
        assert_eq!(
            (src.line(0), src.line(2), src.line(4), src.line(99)),
            (1, 2, 3, 0)
        );
    }

    #[test]
    fn blank_paths_and_words_are_absent() {
        assert_eq!(path(Some(" ".into())), None);
        assert_eq!(path(Some("/a".into())), Some("/a".into()));
        assert_eq!(word_or(Some("".into()), "d"), "d");
        assert_eq!(word_or(Some("w".into()), "d"), "w");
    }
}
