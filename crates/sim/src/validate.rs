//! What the simulator refuses whatever the vendor, so that the gateway's capability
//! checks are proven necessary: empty `messages`, a silly `n`, image parts to a model
//! without vision, audio parts to a model without audio, a `response_format` the model
//! does not honour. Each vendor words these refusals its own way and adds the rejections
//! of its own (both in its file under `vendor/`); JSON mode without the word "json" in
//! the messages, refused by more than one vendor, is checked by [`json_mode_needs_the_word`].

use switchyard_wire::{ChatRequest, ResponseFormatKind};

use crate::failure::Failure;
use crate::generate::Target;

/// Largest `n` accepted.
pub(crate) const MAX_N: u32 = 128;

/// A request refused for what the model cannot do, before the vendor's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `messages` is empty.
    EmptyMessages,
    /// `n` is 0 or above [`MAX_N`].
    BadN(u32),
    /// An image part to a model without vision.
    Image,
    /// An audio part to a model without audio.
    Audio,
    /// A `response_format` the model does not honour.
    Format(ResponseFormatKind),
}

impl Refusal {
    /// The message most vendors send (OpenAI's wording), for the model `upstream`.
    pub(crate) fn usual_message(self, upstream: &str) -> String {
        match self {
            Refusal::EmptyMessages => "messages must not be empty".to_string(),
            Refusal::BadN(n) => {
                format!("Invalid n value: {n}, n must be between 1 and {MAX_N}")
            }
            Refusal::Image => format!("The model {upstream} does not support image input"),
            Refusal::Audio => format!("The model {upstream} does not support audio input"),
            Refusal::Format(kind) => format!(
                "The model {upstream} does not support response_format type {}",
                if kind == ResponseFormatKind::JsonSchema {
                    "json_schema"
                } else {
                    "json_object"
                }
            ),
        }
    }
}

/// Check `req` against what `target` can do, in this order: messages, `n`, images,
/// audio, JSON output.
pub(crate) fn common(req: &ChatRequest, target: &Target) -> Result<(), Refusal> {
    if req.messages.is_empty() {
        return Err(Refusal::EmptyMessages);
    }
    if let Some(n) = req.n
        && (n == 0 || n > MAX_N)
    {
        return Err(Refusal::BadN(n));
    }
    if req.has_images() && !target.vision {
        return Err(Refusal::Image);
    }
    if req.has_audio() && !target.audio {
        return Err(Refusal::Audio);
    }
    if let Some(kind) = req.json_output() {
        let able = match kind {
            ResponseFormatKind::JsonSchema => target.json_schema,
            _ => target.json,
        };
        if !able {
            return Err(Refusal::Format(kind));
        }
    }
    Ok(())
}

/// JSON mode (`json_object`) needs the word "json" somewhere in the messages.
pub(crate) fn json_mode_needs_the_word(req: &ChatRequest) -> Result<(), Failure> {
    if req.json_output() != Some(ResponseFormatKind::JsonObject) {
        return Ok(());
    }
    let says_json = req
        .messages
        .iter()
        .any(|m| m.text_content().to_ascii_lowercase().contains("json"));
    if says_json {
        return Ok(());
    }
    Err(Failure::invalid(
        "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
    ))
}

/// Builders for the rejection tests of every vendor file.
#[cfg(test)]
pub(crate) mod testing {
    use serde_json::Value;
    use switchyard_wire::ChatRequest;

    use crate::failure::Failure;
    use crate::generate::Target;
    use crate::latency::DEFAULT_PROFILE;

    pub(crate) fn target(upstream: &str, reasoning: bool, vision: bool) -> Target {
        Target {
            key: upstream.into(),
            upstream: upstream.into(),
            profile: DEFAULT_PROFILE,
            max_output: 1000,
            vision,
            audio: false,
            tools: true,
            reasoning,
            json: true,
            json_schema: false,
        }
    }

    pub(crate) fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    pub(crate) fn message(r: Result<(), Failure>) -> String {
        match r {
            Err(Failure::InvalidRequest(m)) => m,
            other => panic!("expected InvalidRequest, got {other:?}"),
        }
    }
}
