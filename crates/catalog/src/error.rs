//! The one error type of this crate.

use std::fmt::Write as _;

/// Every capability name, for error messages (here, below `capability`, so that both
/// the error and the parser that raises it can name them).
pub(crate) const NAMES: &str = "text, vision, audio, tools, reasoning, code, json, json_schema";

/// Everything that can go wrong loading, validating, overlaying or querying a catalog.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    /// The catalog text is not valid TOML, or does not have the expected shape.
    #[error("catalog data could not be parsed: {message}")]
    Parse {
        /// The parser's message, including the position of the problem.
        message: String,
    },

    /// An entry breaks a validation rule.
    #[error("invalid catalog entry {entry}: {reason}")]
    Invalid {
        /// Which entry, e.g. `model 'glm-4.6'` or `provider 'zhipu'`.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No model is known under this name (after normalisation).
    #[error("{}", unknown_model_message(.name, .suggestions))]
    UnknownModel {
        /// The name as the caller gave it (truncated if very long).
        name: String,
        /// The closest canonical ids or aliases, best first; may be empty.
        suggestions: Vec<String>,
    },

    /// A model of the wrong kind for where it was named: an embedding model where a
    /// chat model is needed, or the other way round.
    #[error("model '{model}' is {is} model; {use_instead}")]
    WrongKind {
        /// The model's canonical id.
        model: String,
        /// `an embedding` or `a chat`.
        is: &'static str,
        /// Where it can be used instead.
        use_instead: &'static str,
    },

    /// A model refers to a provider that is not in the catalog.
    #[error("model '{model}' uses provider '{provider}', which is not defined (known providers: {})", known.join(", "))]
    UnknownProvider {
        /// The model's canonical id.
        model: String,
        /// The provider id it names.
        provider: String,
        /// The provider ids that do exist.
        known: Vec<String>,
    },

    /// Two models claim the same name (id or alias, compared after normalisation).
    #[error("name '{name}' is claimed by both model '{first}' and model '{second}'")]
    AliasCollision {
        /// The colliding name, normalised.
        name: String,
        /// The model that already holds the name.
        first: String,
        /// The model that also claims it.
        second: String,
    },

    /// A model override introduces a new model but lacks a field that has no default.
    #[error("new model '{model}' is missing required field '{field}'")]
    MissingField {
        /// The new model's id.
        model: String,
        /// The missing field.
        field: &'static str,
    },

    /// A name that is not one of a [`Capability`](crate::Capability).
    #[error("unknown capability '{value}' (expected one of: {})", NAMES)]
    UnknownCapability {
        /// The offending text.
        value: String,
    },
}

fn unknown_model_message(name: &str, suggestions: &[String]) -> String {
    let mut msg = format!("model '{name}' does not exist");
    if !suggestions.is_empty() {
        msg.push_str("; did you mean ");
        for (i, s) in suggestions.iter().enumerate() {
            if i > 0 {
                msg.push_str(", ");
            }
            let _ = write!(msg, "'{s}'");
        }
        msg.push('?');
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_model_message_lists_suggestions_or_omits_the_clause() {
        let e = CatalogError::UnknownModel {
            name: "qwen3-23b".into(),
            suggestions: vec!["qwen3-32b".into(), "qwen3-8b".into()],
        };
        assert_eq!(
            e.to_string(),
            "model 'qwen3-23b' does not exist; did you mean 'qwen3-32b', 'qwen3-8b'?"
        );
        let e = CatalogError::UnknownModel {
            name: "zzz".into(),
            suggestions: vec![],
        };
        assert_eq!(e.to_string(), "model 'zzz' does not exist");
    }
}
