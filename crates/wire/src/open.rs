//! Deserializing an "open" struct, one whose fields are all optional and whose unknown
//! fields are kept in its `extra` map, without serde's `#[serde(flatten)]`.
//!
//! `flatten` buffers every value of the object into an intermediate tree and reads the
//! known fields back out of it; nested (a chunk's choices' deltas) that happens at every
//! level. A relayed stream parses one such chunk per token, so the structs on that path
//! get the visitor below instead: one pass, known fields read in place, the rest into
//! `extra`. Serializing keeps the derive (flattening on the way out costs no buffering).

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// A map key, borrowed from the input where it can be.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// `impl Deserialize` for the open struct `$ty`: start from `$start` (the defaults), then
/// each `"json name" => field` read in place, any other key into `extra`. A repeated key
/// keeps its last value.
///
/// With `required { "json name" => field, … }`, those fields must be present (their
/// values in `$start` are placeholders); a missing one is serde's "missing field" error.
macro_rules! open_struct {
    ($ty:ident, $start:expr, { $($key:literal => $field:ident),* $(,)? }) => {
        crate::open::open_struct!($ty, $start, { $($key => $field),* }, required {});
    };
    ($ty:ident, $start:expr, { $($key:literal => $field:ident),* $(,)? },
     required { $($rkey:literal => $rfield:ident),* $(,)? }) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct OpenVisitor;
                impl<'de> serde::de::Visitor<'de> for OpenVisitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a ", stringify!($ty), " object"))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$ty, A::Error> {
                        let mut out: $ty = $start;
                        $(let mut $rfield = false;)*
                        while let Some(crate::open::Key(key)) = map.next_key()? {
                            match key.as_ref() {
                                $($key => out.$field = map.next_value()?,)*
                                $($rkey => {
                                    out.$rfield = map.next_value()?;
                                    $rfield = true;
                                })*
                                _ => {
                                    let value: serde_json::Value = map.next_value()?;
                                    out.extra.insert(key.into_owned(), value);
                                }
                            }
                        }
                        $(if !$rfield {
                            return Err(serde::de::Error::missing_field($rkey));
                        })*
                        Ok(out)
                    }
                }
                d.deserialize_map(OpenVisitor)
            }
        }
    };
}
pub(crate) use open_struct;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{ChatChunk, ToolCall};

    #[test]
    fn known_fields_are_read_and_unknown_ones_kept_at_every_level() {
        let text = r#"{"id":"c1","created":7,"model":"m","system_fingerprint":"fp",
            "choices":[{"index":1,"logprobs":null,"finish_reason":"stop",
              "delta":{"role":"assistant","content":"hi","audio":{"id":"a"},
                "tool_calls":[{"index":0,"type":"function","x":1,"function":{"name":"f"}}]}}]}"#;
        let c: ChatChunk = serde_json::from_str(text).unwrap();
        assert_eq!((c.id.as_str(), c.created, c.model.as_str()), ("c1", 7, "m"));
        assert_eq!(c.object, "chat.completion.chunk", "the default when absent");
        assert_eq!(c.extra["system_fingerprint"], "fp");
        let choice = &c.choices[0];
        assert_eq!(
            (choice.index, choice.finish_reason.as_deref()),
            (1, Some("stop"))
        );
        assert!(choice.extra.contains_key("logprobs"));
        assert_eq!(choice.delta.content.as_deref(), Some("hi"));
        assert_eq!(choice.delta.extra["audio"], json!({"id": "a"}));
        let call: &ToolCall = &choice.delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.kind.as_deref(), Some("function"));
        assert_eq!(call.extra["x"], 1);
    }

    #[test]
    fn a_chunk_round_trips_through_serialize_unchanged() {
        let v = json!({"id": "c", "object": "chat.completion.chunk", "created": 1,
            "model": "m", "choices": [{"index": 0, "delta": {"content": "x", "k": [1]},
            "finish_reason": null}], "usage": {"prompt_tokens": 1, "completion_tokens": 2,
            "total_tokens": 3, "prompt_tokens_details": {"cached_tokens": 1, "audio_tokens": 0}},
            "extra_top": true});
        let c: ChatChunk = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&c).unwrap(), v);
    }

    #[test]
    fn escaped_and_repeated_keys_and_wrong_types() {
        let c: ChatChunk =
            serde_json::from_str(r#"{"mod\u0065l":"a","model":"b","\u00e9":1}"#).unwrap();
        assert_eq!(
            c.model, "b",
            "an escaped key is the same key; the last value wins"
        );
        assert_eq!(c.extra["é"], 1);
        let e = serde_json::from_str::<ChatChunk>("[1]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ChatChunk object"), "{e}");
        let e = serde_json::from_str::<ChatChunk>(r#"{"created":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid type"), "{e}");
    }
}
