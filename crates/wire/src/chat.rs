//! Typed views of the OpenAI chat-completions request, response and stream chunk.
//!
//! Every struct keeps the fields it does not model in a flattened `extra` map, so a
//! request or response passes through the gateway unharmed even when a vendor or a
//! newer SDK adds fields we have never seen.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::JsonMap;
use crate::open::open_struct;
use crate::usage::Usage;

/// `POST /v1/chat/completions` request body.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChatRequest {
    /// Model name as the client wrote it (alias, vendor-prefixed, any case).
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Whether to answer as a Server-Sent-Events stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Streaming options (`include_usage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// `"auto"`, `"none"`, `"required"` or `{"type":"function","function":{"name":…}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// Number of choices to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Stop sequence(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Legacy completion-length cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Current completion-length cap (includes reasoning tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// `{"type":"json_object"}` / `{"type":"json_schema",…}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// End-user identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Everything else, passed through.
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl ChatRequest {
    /// Whether the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Whether the client asked for the trailing usage chunk.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    /// The effective completion cap: `max_completion_tokens`, else `max_tokens`.
    pub fn completion_cap(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// Whether any message carries an image part.
    pub fn has_images(&self) -> bool {
        self.parts().any(|p| p.kind == PartKind::ImageUrl)
    }

    /// Whether any message carries an audio part.
    pub fn has_audio(&self) -> bool {
        self.parts().any(|p| p.kind == PartKind::InputAudio)
    }

    /// The JSON the answer must be, if any: `json_object` or `json_schema`.
    pub fn json_output(&self) -> Option<ResponseFormatKind> {
        self.response_format
            .as_ref()
            .filter(|f| f.wants_json())
            .map(|f| f.kind)
    }

    /// Whether the request declares tools.
    pub fn has_tools(&self) -> bool {
        self.tools.as_ref().is_some_and(|t| !t.is_empty())
    }

    /// Whether the client switched thinking off, in any vendor's spelling:
    /// `thinking:{type:disabled}` (DeepSeek, GLM, Ark, the Messages API),
    /// `enable_thinking:false` (DashScope, SiliconFlow) or OpenRouter's
    /// `reasoning:{enabled:false}` / `reasoning:{effort:"none"}`.
    pub fn thinking_disabled(&self) -> bool {
        let by_type = self
            .extra
            .get("thinking")
            .and_then(|t| t.get("type"))
            .and_then(Value::as_str)
            == Some("disabled");
        let by_flag = self.extra.get("enable_thinking").and_then(Value::as_bool) == Some(false);
        let reasoning = self.extra.get("reasoning");
        let by_reasoning = reasoning
            .and_then(|r| r.get("enabled"))
            .and_then(Value::as_bool)
            == Some(false)
            || reasoning
                .and_then(|r| r.get("effort"))
                .and_then(Value::as_str)
                == Some("none");
        by_type || by_flag || by_reasoning
    }

    fn parts(&self) -> impl Iterator<Item = &ContentPart> {
        self.messages.iter().flat_map(|m| match &m.content {
            Some(Content::Parts(parts)) => parts.as_slice(),
            _ => &[],
        })
    }
}

/// `response_format`: the shape the answer must take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseFormat {
    /// `text`, `json_object` or `json_schema`; anything else is a 400 at parse time.
    #[serde(rename = "type")]
    pub kind: ResponseFormatKind,
    /// For `json_schema`: `{"name", "schema", "strict"?}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<Value>,
    /// Everything else (DashScope's top-level `strict`, …), passed through.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `response_format.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormatKind {
    /// Free text (the default).
    Text,
    /// Any valid JSON object ("JSON mode").
    JsonObject,
    /// JSON that follows the given schema ("structured output").
    JsonSchema,
}

impl ResponseFormat {
    /// Whether the answer must be JSON.
    pub fn wants_json(&self) -> bool {
        self.kind != ResponseFormatKind::Text
    }

    /// The schema a `json_schema` format carries (`json_schema.schema`), if any.
    pub fn schema(&self) -> Option<&Value> {
        self.json_schema.as_ref().and_then(|s| s.get("schema"))
    }

    /// What is wrong with the format, if anything: `json_schema` needs a
    /// `json_schema` object with a `name`, as OpenAI's API does.
    pub fn problem(&self) -> Option<&'static str> {
        if self.kind != ResponseFormatKind::JsonSchema {
            return None;
        }
        match &self.json_schema {
            Some(Value::Object(o)) if o.get("name").is_some_and(Value::is_string) => None,
            Some(Value::Object(_)) => Some("response_format.json_schema.name is required"),
            _ => Some(
                "response_format.json_schema must be an object when response_format.type is json_schema",
            ),
        }
    }
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Ask for a final chunk with `choices: []` and the usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// Everything else, passed through.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// `stop`: one string or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// A single stop sequence.
    One(String),
    /// Several stop sequences.
    Many(Vec<String>),
}

impl Stop {
    /// The stop sequences as a slice-like list.
    pub fn as_vec(&self) -> Vec<&str> {
        match self {
            Stop::One(s) => vec![s.as_str()],
            Stop::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// Message author role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// System prompt.
    System,
    /// OpenAI's newer name for system instructions.
    Developer,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
    /// Legacy function result.
    Function,
}

/// One message of the conversation (also the message of a non-streaming choice).
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// Author role.
    pub role: Role,
    /// Text or content parts; absent on some assistant tool-call turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tool calls made by the assistant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Which call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Chain of thought of reasoning models (DeepSeek, Qwen, Kimi, GLM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Everything else, passed through.
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl Message {
    /// A plain-text message.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: Some(Content::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            reasoning_content: None,
            extra: JsonMap::new(),
        }
    }

    /// The message's text: the string content, or its text parts joined.
    pub fn text_content(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(Content::Text(s)) => s.clone(),
            Some(Content::Parts(parts)) => parts
                .iter()
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// Message content: a string or a list of typed parts.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Multimodal parts (`text`, `image_url`, `input_audio`, vendor extensions).
    Parts(Vec<ContentPart>),
}

impl Serialize for Content {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Text(t) => s.serialize_str(t),
            Content::Parts(p) => p.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Content::Text(s)),
            Value::Array(items) => items
                .into_iter()
                .map(|v| serde_json::from_value::<ContentPart>(v).map_err(D::Error::custom))
                .collect::<Result<Vec<_>, _>>()
                .map(Content::Parts),
            other => Err(D::Error::custom(format!(
                "invalid type: {}, expected a string or an array of content parts",
                json_kind(&other)
            ))),
        }
    }
}

/// Name of a JSON value's type, for error messages.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What a content part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// `{"type":"text","text":…}`
    Text,
    /// `{"type":"image_url","image_url":{"url":…}}`
    ImageUrl,
    /// `{"type":"input_audio","input_audio":{"data":…,"format":…}}`
    InputAudio,
    /// Anything else (`video_url`, `file`, …), passed through.
    Other,
}

/// One content part. Unknown part types are kept whole in `extra`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentPart {
    /// Parsed from the `type` field.
    pub kind: PartKind,
    /// `text` of a text part.
    pub text: Option<String>,
    /// Every other field, including `type`, `image_url` and `input_audio`.
    pub fields: JsonMap,
}

impl ContentPart {
    /// The URL of an `image_url` part.
    pub fn image_url(&self) -> Option<&str> {
        self.fields.get("image_url")?.get("url")?.as_str()
    }

    /// Replace the URL of an `image_url` part.
    pub fn set_image_url(&mut self, url: String) {
        if let Some(Value::Object(obj)) = self.fields.get_mut("image_url") {
            obj.insert("url".into(), Value::String(url));
        }
    }
}

impl Serialize for ContentPart {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = self.fields.clone();
        if let Some(t) = &self.text {
            map.insert("text".into(), Value::String(t.clone()));
        }
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut fields = JsonMap::deserialize(d)?;
        let kind = match fields.get("type").and_then(Value::as_str) {
            Some("text") => PartKind::Text,
            Some("image_url") => PartKind::ImageUrl,
            Some("input_audio") => PartKind::InputAudio,
            Some(_) => PartKind::Other,
            None => return Err(D::Error::custom("content part is missing its `type`")),
        };
        let text = match kind {
            PartKind::Text => match fields.remove("text") {
                Some(Value::String(s)) => Some(s),
                _ => return Err(D::Error::custom("text part needs a string `text`")),
            },
            _ => None,
        };
        match kind {
            PartKind::ImageUrl
                if fields
                    .get("image_url")
                    .and_then(|i| i.get("url"))
                    .and_then(Value::as_str)
                    .is_none() =>
            {
                return Err(D::Error::custom(
                    "image_url part needs `image_url.url` (a string)",
                ));
            }
            PartKind::InputAudio
                if fields
                    .get("input_audio")
                    .and_then(|i| i.get("data"))
                    .and_then(Value::as_str)
                    .is_none() =>
            {
                return Err(D::Error::custom(
                    "input_audio part needs `input_audio.data` (base64 string)",
                ));
            }
            _ => {}
        }
        Ok(ContentPart { kind, text, fields })
    }
}

/// A tool declaration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    /// `"function"` (or a vendor type such as Kimi's `"builtin_function"`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The function's name, description and JSON-schema parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionDef>,
    /// Everything else, passed through.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A declared function.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionDef {
    /// Function name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON schema of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Everything else (`strict`, …), passed through.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A tool call, whole (in a message) or partial (in a stream delta).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ToolCall {
    /// Position of the call in a streamed delta list (Kimi sometimes omits it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Call id; present on the first delta of a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `"function"`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name and (partial) arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCall>,
    /// Everything else, passed through.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// Function name and JSON-encoded arguments (possibly a fragment, when streamed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Function name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// JSON-encoded arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// Non-streaming response body.
#[derive(Debug, Clone, Serialize)]
pub struct ChatCompletion {
    /// Response id.
    #[serde(default)]
    pub id: String,
    /// `"chat.completion"`.
    #[serde(default = "completion_object")]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// Model that answered.
    #[serde(default)]
    pub model: String,
    /// The choices.
    pub choices: Vec<Choice>,
    /// Token usage (vendor shape on the way in, normalised on the way out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Everything else (`system_fingerprint`, …), passed through.
    #[serde(flatten)]
    pub extra: JsonMap,
}

fn completion_object() -> String {
    "chat.completion".into()
}

fn chunk_object() -> String {
    "chat.completion.chunk".into()
}

/// One choice of a non-streaming response.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    /// Choice index.
    #[serde(default)]
    pub index: u32,
    /// The assistant's message.
    pub message: Message,
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Everything else (`logprobs`, …), passed through.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// One streamed chunk.
#[derive(Debug, Clone, Serialize)]
pub struct ChatChunk {
    /// Stream id (same on every chunk).
    #[serde(default)]
    pub id: String,
    /// `"chat.completion.chunk"` (GLM sometimes omits it).
    #[serde(default = "chunk_object")]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// Model that answered.
    #[serde(default)]
    pub model: String,
    /// Choice deltas (empty on the trailing usage chunk).
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Usage (only on the last chunk, vendor-dependent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Everything else, passed through.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// One choice delta of a chunk.
#[derive(Debug, Clone, Serialize)]
pub struct ChunkChoice {
    /// Choice index.
    #[serde(default)]
    pub index: u32,
    /// The increment.
    #[serde(default)]
    pub delta: Delta,
    /// Set on the last chunk of this choice.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Kimi puts usage here on its final chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Everything else (`logprobs`, …), passed through.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A streamed increment of the assistant message.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Delta {
    /// Role, usually on the first chunk only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Text increment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Chain-of-thought increment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Tool-call increments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Everything else (`audio`, …), passed through.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A message with only its role, where a required field needs a starting value that
/// reading replaces (or refuses as missing).
fn placeholder_message(role: Role) -> Message {
    Message {
        role,
        content: None,
        name: None,
        tool_calls: None,
        tool_call_id: None,
        reasoning_content: None,
        extra: JsonMap::new(),
    }
}

// Every request, whole answer and streamed chunk (one per token) goes through these:
// they are read in one pass (`crate::open`), not through `#[serde(flatten)]`.
open_struct!(ChatRequest, ChatRequest::default(), {
    "stream" => stream,
    "stream_options" => stream_options,
    "tools" => tools,
    "tool_choice" => tool_choice,
    "n" => n,
    "stop" => stop,
    "seed" => seed,
    "max_tokens" => max_tokens,
    "max_completion_tokens" => max_completion_tokens,
    "temperature" => temperature,
    "top_p" => top_p,
    "response_format" => response_format,
    "user" => user,
}, required {
    "model" => model,
    "messages" => messages,
});
open_struct!(Message, placeholder_message(Role::User), {
    "content" => content,
    "name" => name,
    "tool_calls" => tool_calls,
    "tool_call_id" => tool_call_id,
    "reasoning_content" => reasoning_content,
}, required {
    "role" => role,
});
open_struct!(ChatCompletion, ChatCompletion {
    id: String::new(),
    object: completion_object(),
    created: 0,
    model: String::new(),
    choices: Vec::new(),
    usage: None,
    extra: JsonMap::new(),
}, {
    "id" => id,
    "object" => object,
    "created" => created,
    "model" => model,
    "usage" => usage,
}, required {
    "choices" => choices,
});
open_struct!(Choice, Choice {
    index: 0,
    message: placeholder_message(Role::Assistant),
    finish_reason: None,
    extra: JsonMap::new(),
}, {
    "index" => index,
    "finish_reason" => finish_reason,
}, required {
    "message" => message,
});
open_struct!(ChatChunk, ChatChunk {
    id: String::new(),
    object: chunk_object(),
    created: 0,
    model: String::new(),
    choices: Vec::new(),
    usage: None,
    extra: JsonMap::new(),
}, {
    "id" => id,
    "object" => object,
    "created" => created,
    "model" => model,
    "choices" => choices,
    "usage" => usage,
});
open_struct!(ChunkChoice, ChunkChoice {
    index: 0,
    delta: Delta::default(),
    finish_reason: None,
    usage: None,
    extra: JsonMap::new(),
}, {
    "index" => index,
    "delta" => delta,
    "finish_reason" => finish_reason,
    "usage" => usage,
});
open_struct!(Delta, Delta::default(), {
    "role" => role,
    "content" => content,
    "reasoning_content" => reasoning_content,
    "tool_calls" => tool_calls,
});
open_struct!(ToolCall, ToolCall::default(), {
    "index" => index,
    "id" => id,
    "type" => kind,
    "function" => function,
});

impl Delta {
    /// Whether the delta carries any model output (text, reasoning, tool call or audio).
    pub fn has_output(&self) -> bool {
        self.content.as_deref().is_some_and(|s| !s.is_empty())
            || self
                .reasoning_content
                .as_deref()
                .is_some_and(|s| !s.is_empty())
            || self.tool_calls.as_ref().is_some_and(|t| !t.is_empty())
            || self.extra.contains_key("audio")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_keeps_unknown_fields_on_round_trip() {
        let body = json!({
            "model": "qwen3-32b",
            "messages": [{"role": "user", "content": "hi", "x_msg": 1}],
            "my_custom_field": {"a": [1, 2]},
            "enable_thinking": false
        });
        let req: ChatRequest = serde_json::from_value(body.clone()).unwrap();
        assert!(req.thinking_disabled());
        let back = serde_json::to_value(&req).unwrap();
        assert_eq!(back, body);
    }

    #[test]
    fn response_format_is_typed_round_trips_and_rejects_unknown_types() {
        let body = json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_schema", "strict": true,
                "json_schema": {"name": "a", "schema": {"type": "object"}}}
        });
        let req: ChatRequest = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(req.json_output(), Some(ResponseFormatKind::JsonSchema));
        let format = req.response_format.as_ref().unwrap();
        assert_eq!(format.schema(), Some(&json!({"type": "object"})));
        assert_eq!(format.problem(), None);
        assert_eq!(serde_json::to_value(&req).unwrap(), body);

        let text: ResponseFormat = serde_json::from_value(json!({"type": "text"})).unwrap();
        assert!(!text.wants_json());
        let nameless: ResponseFormat =
            serde_json::from_value(json!({"type": "json_schema", "json_schema": {}})).unwrap();
        assert!(nameless.problem().unwrap().contains("name"));
        let bare: ResponseFormat = serde_json::from_value(json!({"type": "json_schema"})).unwrap();
        assert!(bare.problem().unwrap().contains("must be an object"));
        let err = serde_json::from_value::<ResponseFormat>(json!({"type": "xml"})).unwrap_err();
        assert!(err.to_string().contains("json_object"), "{err}");
    }

    #[test]
    fn multimodal_parts_survive_round_trip() {
        let body = json!({
            "model": "m",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
                {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}},
                {"type": "video_url", "video_url": {"url": "https://x/v.mp4"}}
            ]}]
        });
        let req: ChatRequest = serde_json::from_value(body.clone()).unwrap();
        assert!(req.has_images());
        assert!(req.has_audio());
        assert_eq!(serde_json::to_value(&req).unwrap(), body);
    }

    #[test]
    fn content_of_wrong_type_names_the_expectation() {
        let err = serde_json::from_value::<Message>(json!({"role": "user", "content": 5}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a string or an array"), "{err}");
    }

    #[test]
    fn image_part_without_url_is_rejected() {
        let err =
            serde_json::from_value::<ContentPart>(json!({"type": "image_url", "image_url": {}}))
                .unwrap_err()
                .to_string();
        assert!(err.contains("image_url.url"), "{err}");
    }

    #[test]
    fn unknown_role_is_rejected() {
        assert!(
            serde_json::from_value::<Message>(json!({"role": "robot", "content": "x"})).is_err()
        );
    }

    #[test]
    fn stop_accepts_string_and_list() {
        let one: Stop = serde_json::from_value(json!("END")).unwrap();
        let many: Stop = serde_json::from_value(json!(["a", "b"])).unwrap();
        assert_eq!(one.as_vec(), vec!["END"]);
        assert_eq!(many.as_vec(), vec!["a", "b"]);
    }

    #[test]
    fn chunk_without_object_defaults_it() {
        let c: ChatChunk = serde_json::from_value(json!({"id": "x", "choices": []})).unwrap();
        assert_eq!(c.object, "chat.completion.chunk");
    }

    #[test]
    fn delta_with_only_role_has_no_output() {
        let d: Delta = serde_json::from_value(json!({"role": "assistant", "content": ""})).unwrap();
        assert!(!d.has_output());
    }
}
