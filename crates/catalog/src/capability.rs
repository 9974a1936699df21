//! What a model can do: [`Capability`] and the compact set [`Capabilities`].

use std::fmt;
use std::str::FromStr;

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeSeq, Serializer};

use crate::error::{CatalogError, NAMES};

/// One thing a model can do. Serialised as its lowercase name (`"tools"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Text in, text out (every chat model has this).
    Text,
    /// Accepts image (and usually video) input.
    Vision,
    /// Accepts and/or produces audio.
    Audio,
    /// Function / tool calling.
    Tools,
    /// Thinks by default: emits `reasoning_content` unless thinking is switched off.
    Reasoning,
    /// Tuned for code.
    Code,
    /// JSON mode: honours `response_format: {"type": "json_object"}` (valid JSON, no schema).
    #[serde(rename = "json")]
    JsonMode,
    /// Structured output: honours `response_format: {"type": "json_schema", …}`.
    JsonSchema,
}

impl Capability {
    /// Every capability, in the order used for display and serialisation.
    pub const ALL: [Capability; 8] = [
        Capability::Text,
        Capability::Vision,
        Capability::Audio,
        Capability::Tools,
        Capability::Reasoning,
        Capability::Code,
        Capability::JsonMode,
        Capability::JsonSchema,
    ];

    /// The lowercase name used in the data file and in JSON (`"vision"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Capability::Text => "text",
            Capability::Vision => "vision",
            Capability::Audio => "audio",
            Capability::Tools => "tools",
            Capability::Reasoning => "reasoning",
            Capability::Code => "code",
            Capability::JsonMode => "json",
            Capability::JsonSchema => "json_schema",
        }
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = CatalogError;

    /// Parses a capability name, ignoring ASCII case and surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| CatalogError::UnknownCapability {
                value: s.to_owned(),
            })
    }
}

impl<'de> Deserialize<'de> for Capability {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown capability '{s}', expected one of: {NAMES}"
            ))
        })
    }
}

/// A compact set of [`Capability`] values (one bit each).
///
/// Serialised as a list of lowercase names in canonical order, e.g. `["text","tools"]`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u8);

impl Capabilities {
    /// The empty set.
    pub const fn empty() -> Self {
        Capabilities(0)
    }

    /// Whether `cap` is in the set.
    pub const fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// Adds `cap`; returns whether it was newly added.
    pub fn insert(&mut self, cap: Capability) -> bool {
        let new = !self.contains(cap);
        self.0 |= cap.bit();
        new
    }

    /// Removes `cap`; returns whether it was present.
    pub fn remove(&mut self, cap: Capability) -> bool {
        let had = self.contains(cap);
        self.0 &= !cap.bit();
        had
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of capabilities in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The capabilities in the set, in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = Capabilities::empty();
        for c in iter {
            set.insert(c);
        }
        set
    }
}

impl<const N: usize> From<[Capability; N]> for Capabilities {
    fn from(caps: [Capability; N]) -> Self {
        caps.into_iter().collect()
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Comma-separated names in canonical order (`text,vision,tools`); empty set prints `-`.
impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        for (i, c) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(c.as_str())?;
        }
        Ok(())
    }
}

impl Serialize for Capabilities {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for c in self.iter() {
            seq.serialize_element(&c)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Capabilities {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = Vec::<Capability>::deserialize(deserializer)?;
        Ok(list.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_round_trips_through_display_and_from_str() {
        for c in Capability::ALL {
            assert_eq!(c.to_string().parse::<Capability>().unwrap(), c);
        }
        assert_eq!(
            " Vision ".parse::<Capability>().unwrap(),
            Capability::Vision
        );
        assert!(matches!(
            "telepathy".parse::<Capability>(),
            Err(CatalogError::UnknownCapability { .. })
        ));
    }

    #[test]
    fn json_capabilities_use_their_config_names_and_names_lists_them_all() {
        assert_eq!(Capability::JsonMode.as_str(), "json");
        assert_eq!(
            serde_json::to_string(&Capability::JsonSchema).unwrap(),
            r#""json_schema""#
        );
        assert_eq!(
            "json_schema".parse::<Capability>().unwrap(),
            Capability::JsonSchema
        );
        for c in Capability::ALL {
            assert!(
                NAMES.split(", ").any(|n| n == c.as_str()),
                "{c} not in NAMES"
            );
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
    }

    #[test]
    fn capabilities_set_inserts_removes_and_iterates_in_canonical_order() {
        let mut set: Capabilities = [Capability::Tools, Capability::Text].into();
        assert!(set.contains(Capability::Text));
        assert!(!set.contains(Capability::Vision));
        assert!(!set.insert(Capability::Text));
        assert!(set.insert(Capability::Vision));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![Capability::Text, Capability::Vision, Capability::Tools]
        );
        assert_eq!(set.len(), 3);
        assert!(set.remove(Capability::Vision));
        assert_eq!(set.to_string(), "text,tools");
        assert_eq!(Capabilities::empty().to_string(), "-");
    }

    #[test]
    fn capabilities_serialise_as_a_list_of_lowercase_names() {
        let set: Capabilities = [Capability::Reasoning, Capability::Text].into();
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["text","reasoning"]"#);
        let back: Capabilities = serde_json::from_str(r#"["reasoning","text","text"]"#).unwrap();
        assert_eq!(back, set);
        let err = serde_json::from_str::<Capabilities>(r#"["text","smell"]"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown capability 'smell'"),
            "{err}"
        );
    }
}
