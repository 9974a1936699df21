//! The Messages API request (`POST /v1/messages`), typed, and its translation into a
//! Chat Completions request for upstreams that speak only that.
//!
//! Parsing is strict about what the meaning depends on (roles, block types, image
//! sources, a `max_tokens` that is a number) and lenient about the rest: fields this
//! gateway does not use (`cache_control`, `citations`, `service_tier`, …) are ignored, as
//! a newer SDK may send fields the gateway has never seen.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::chat::{
    ChatRequest, Content, ContentPart, FunctionCall, FunctionDef, Message, PartKind, Role, Stop,
    StreamOptions, Tool, ToolCall,
};
use crate::translate::TranslateError;

/// `POST /v1/messages` (and `/v1/messages/count_tokens`, where `max_tokens` is absent).
#[derive(Debug, Clone, Deserialize)]
pub struct MessagesRequest {
    /// Model name as the client wrote it.
    pub model: String,
    /// The conversation, user and assistant turns.
    pub messages: Vec<InMessage>,
    /// Output cap (required by `/v1/messages`, absent from `count_tokens`).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// System prompt: a string or text blocks.
    #[serde(default)]
    pub system: Option<System>,
    /// Custom stop sequences.
    #[serde(default)]
    pub stop_sequences: Option<Vec<String>>,
    /// Answer as a stream of events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Sampling temperature, 0 to 1.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Top-k sampling (no Chat Completions equivalent: not sent on).
    #[serde(default)]
    pub top_k: Option<u32>,
    /// Tools the model may call.
    #[serde(default)]
    pub tools: Option<Vec<ToolDef>>,
    /// How the model must use them.
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    /// Extended thinking.
    #[serde(default)]
    pub thinking: Option<Thinking>,
    /// `{"user_id"}`.
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// `metadata`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Metadata {
    /// An opaque id of the end user.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `system`: a string or a list of text blocks.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum System {
    /// One string.
    Text(String),
    /// Text blocks.
    Blocks(Vec<TextBlock>),
}

/// `{"type":"text","text":…}` (in `system`).
#[derive(Debug, Clone, Deserialize)]
pub struct TextBlock {
    /// The text.
    pub text: String,
}

/// A turn's author.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InRole {
    /// The user (tool results too).
    User,
    /// The model.
    Assistant,
}

/// One turn.
#[derive(Debug, Clone, Deserialize)]
pub struct InMessage {
    /// Who said it.
    pub role: InRole,
    /// A string, or content blocks.
    pub content: InContent,
}

/// A turn's content.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum InContent {
    /// Plain text.
    Text(String),
    /// Content blocks.
    Blocks(Vec<Block>),
}

/// A content block of a turn.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image.
    Image {
        /// Where its bytes are.
        source: ImageSource,
    },
    /// A call the assistant made.
    ToolUse {
        /// Call id.
        id: String,
        /// Tool name.
        name: String,
        /// Arguments (a JSON object).
        #[serde(default)]
        input: Value,
    },
    /// The result of a call, sent by the user.
    ToolResult {
        /// The call it answers.
        tool_use_id: String,
        /// A string or text and image blocks.
        #[serde(default)]
        content: Option<ToolResultContent>,
        /// Whether the tool failed.
        #[serde(default)]
        is_error: Option<bool>,
    },
    /// The assistant's reasoning, sent back on later turns.
    Thinking {
        /// The reasoning text.
        thinking: String,
        /// The vendor's signature (meaningless to a translated upstream).
        #[serde(default)]
        signature: Option<String>,
    },
    /// Encrypted reasoning (nothing a translated upstream can read: dropped).
    RedactedThinking {
        /// Opaque.
        #[serde(default)]
        data: Option<String>,
    },
    /// A document (PDF or text).
    Document {
        /// Where it is.
        source: Value,
    },
}

/// Where an image's bytes are.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    /// Inline, base64.
    Base64 {
        /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
        media_type: String,
        /// The bytes, base64.
        data: String,
    },
    /// At a URL.
    Url {
        /// The URL.
        url: String,
    },
}

/// `tool_result.content`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ToolResultContent {
    /// Plain text.
    Text(String),
    /// Text and image blocks.
    Blocks(Vec<Block>),
}

/// A tool declaration. Client tools carry an `input_schema`; server tools
/// (`web_search_20250305`, …) carry a versioned `type` and are refused.
#[derive(Debug, Clone, Deserialize)]
pub struct ToolDef {
    /// `custom` (or absent) for a client tool.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Tool name.
    pub name: String,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// JSON schema of its input.
    #[serde(default)]
    pub input_schema: Option<Value>,
}

/// `tool_choice`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto {
        /// At most one call.
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    /// Some tool must be called.
    Any {
        /// At most one call.
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    /// This tool must be called.
    Tool {
        /// Its name.
        name: String,
        /// At most one call.
        #[serde(default)]
        disable_parallel_tool_use: Option<bool>,
    },
    /// No tool may be called.
    None,
}

/// `thinking`.
#[derive(Debug, Clone, Deserialize)]
pub struct Thinking {
    /// `enabled`, `adaptive` or `disabled`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Tokens the model may think for (with `enabled`).
    #[serde(default)]
    pub budget_tokens: Option<u32>,
}

impl MessagesRequest {
    /// Whether the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Check what serde cannot: values, and that each turn alternates sensibly.
    /// `needs_max_tokens` is false for `count_tokens`.
    pub fn validate(&self, needs_max_tokens: bool) -> Result<(), TranslateError> {
        if self.model.trim().is_empty() {
            return Err(TranslateError::missing("model"));
        }
        if self.messages.is_empty() {
            return Err(TranslateError::invalid(
                "messages",
                "messages: at least one message is required",
            ));
        }
        match self.max_tokens {
            None if needs_max_tokens => return Err(TranslateError::missing("max_tokens")),
            Some(0) => {
                return Err(TranslateError::invalid(
                    "max_tokens",
                    "max_tokens: must be at least 1",
                ));
            }
            _ => {}
        }
        if let Some(t) = self.temperature
            && !(0.0..=1.0).contains(&t)
        {
            return Err(TranslateError::invalid(
                "temperature",
                format!("temperature: must be between 0 and 1, got {t}"),
            ));
        }
        if let Some(p) = self.top_p
            && !(0.0..=1.0).contains(&p)
        {
            return Err(TranslateError::invalid(
                "top_p",
                format!("top_p: must be between 0 and 1, got {p}"),
            ));
        }
        if let Some(t) = &self.thinking {
            check_thinking(t, self.max_tokens)?;
        }
        Ok(())
    }

    /// The same request in Chat Completions terms. Streams always ask for the trailing
    /// usage chunk (the Messages API reports usage at the end of every stream).
    pub fn to_chat(&self) -> Result<ChatRequest, TranslateError> {
        let mut messages = Vec::with_capacity(self.messages.len().saturating_add(1));
        if let Some(system) = &self.system {
            let text = match system {
                System::Text(t) => t.clone(),
                System::Blocks(blocks) => join_texts(blocks.iter().map(|b| b.text.as_str())),
            };
            messages.push(Message::text(Role::System, text));
        }
        for (i, m) in self.messages.iter().enumerate() {
            match m.role {
                InRole::User => user_turn(i, &m.content, &mut messages)?,
                InRole::Assistant => messages.push(assistant_turn(i, &m.content)?),
            }
        }
        let mut extra = Map::new();
        if let Some(t) = &self.thinking {
            let kind = if t.kind == "disabled" {
                "disabled"
            } else {
                "enabled"
            };
            extra.insert("thinking".into(), json!({ "type": kind }));
        }
        let (tools, tool_choice, parallel) = self.chat_tools()?;
        if let Some(p) = parallel {
            extra.insert("parallel_tool_calls".into(), Value::Bool(p));
        }
        let stream = self.is_stream();
        Ok(ChatRequest {
            model: self.model.clone(),
            messages,
            stream: Some(stream),
            stream_options: stream.then(|| StreamOptions {
                include_usage: Some(true),
                extra: Map::new(),
            }),
            tools,
            tool_choice,
            stop: self
                .stop_sequences
                .as_ref()
                .filter(|s| !s.is_empty())
                .map(|s| Stop::Many(s.clone())),
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            user: self.metadata.as_ref().and_then(|m| m.user_id.clone()),
            extra,
            ..ChatRequest::default()
        })
    }

    /// Tools, tool choice and `parallel_tool_calls` in Chat Completions terms.
    fn chat_tools(&self) -> Result<ChatTools, TranslateError> {
        let tools = match &self.tools {
            None => None,
            Some(defs) => Some(
                defs.iter()
                    .enumerate()
                    .map(|(i, d)| chat_tool(i, d))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let (choice, no_parallel) = match &self.tool_choice {
            None => (None, None),
            Some(ToolChoice::Auto {
                disable_parallel_tool_use,
            }) => (Some(json!("auto")), *disable_parallel_tool_use),
            Some(ToolChoice::Any {
                disable_parallel_tool_use,
            }) => (Some(json!("required")), *disable_parallel_tool_use),
            Some(ToolChoice::Tool {
                name,
                disable_parallel_tool_use,
            }) => (
                Some(json!({"type": "function", "function": {"name": name}})),
                *disable_parallel_tool_use,
            ),
            Some(ToolChoice::None) => (Some(json!("none")), None),
        };
        let parallel = no_parallel.filter(|d| *d).map(|_| false);
        Ok((tools, choice, parallel))
    }
}

/// Tools, tool choice, `parallel_tool_calls`.
type ChatTools = (Option<Vec<Tool>>, Option<Value>, Option<bool>);

fn check_thinking(t: &Thinking, max_tokens: Option<u32>) -> Result<(), TranslateError> {
    match t.kind.as_str() {
        "enabled" => {
            let budget = t
                .budget_tokens
                .ok_or_else(|| TranslateError::missing("thinking.budget_tokens"))?;
            if budget < 1024 {
                return Err(TranslateError::invalid(
                    "thinking.budget_tokens",
                    format!("thinking.budget_tokens: must be at least 1024, got {budget}"),
                ));
            }
            if let Some(max) = max_tokens
                && budget >= max
            {
                return Err(TranslateError::invalid(
                    "thinking.budget_tokens",
                    format!(
                        "thinking.budget_tokens ({budget}) must be less than max_tokens ({max})"
                    ),
                ));
            }
            Ok(())
        }
        "adaptive" | "disabled" => Ok(()),
        other => Err(TranslateError::invalid(
            "thinking.type",
            format!("thinking.type: expected enabled, adaptive or disabled, got '{other}'"),
        )),
    }
}

fn chat_tool(i: usize, d: &ToolDef) -> Result<Tool, TranslateError> {
    if let Some(kind) = d.kind.as_deref().filter(|k| *k != "custom") {
        return Err(TranslateError::invalid(
            format!("tools[{i}].type"),
            format!(
                "tools[{i}]: server tool '{kind}' is not supported through this gateway; declare client tools with name, description and input_schema"
            ),
        ));
    }
    let schema = d
        .input_schema
        .clone()
        .ok_or_else(|| TranslateError::missing(format!("tools[{i}].input_schema")))?;
    Ok(Tool {
        kind: "function".into(),
        function: Some(FunctionDef {
            name: d.name.clone(),
            description: d.description.clone(),
            parameters: Some(schema),
            extra: Map::new(),
        }),
        extra: Map::new(),
    })
}

/// A user turn: its tool results become `tool` messages (first, as Chat Completions
/// wants them right after the assistant's calls), the rest one user message.
fn user_turn(i: usize, content: &InContent, out: &mut Vec<Message>) -> Result<(), TranslateError> {
    let blocks = match content {
        InContent::Text(t) => {
            out.push(Message::text(Role::User, t.clone()));
            return Ok(());
        }
        InContent::Blocks(b) => b,
    };
    let mut parts = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let at = || format!("messages[{i}].content[{j}]");
        match block {
            Block::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                let text = tool_result_text(&at(), content.as_ref())?;
                let text = if *is_error == Some(true) {
                    format!("Error: {text}")
                } else {
                    text
                };
                let mut m = Message::text(Role::Tool, text);
                m.tool_call_id = Some(tool_use_id.clone());
                out.push(m);
            }
            other => parts.push(user_part(&at(), other)?),
        }
    }
    if !parts.is_empty() {
        let mut m = Message::text(Role::User, String::new());
        m.content = Some(simplify(parts));
        out.push(m);
    }
    Ok(())
}

/// One text or image block of a user turn as a content part.
fn user_part(at: &str, block: &Block) -> Result<ContentPart, TranslateError> {
    match block {
        Block::Text { text } => Ok(text_part(text)),
        Block::Image { source } => Ok(image_part(source)),
        Block::Document { .. } => Err(TranslateError::invalid(
            format!("{at}.type"),
            format!("{at}: document blocks are not supported by this model's upstream"),
        )),
        Block::ToolUse { .. } | Block::Thinking { .. } | Block::RedactedThinking { .. } => {
            Err(TranslateError::invalid(
                format!("{at}.type"),
                format!("{at}: tool_use and thinking blocks belong in assistant turns"),
            ))
        }
        Block::ToolResult { .. } => Err(TranslateError::invalid(
            format!("{at}.type"),
            format!("{at}: a tool_result cannot be nested here"),
        )),
    }
}

/// A tool result's content as text (images in results are not supported by Chat
/// Completions' `tool` messages).
fn tool_result_text(
    at: &str,
    content: Option<&ToolResultContent>,
) -> Result<String, TranslateError> {
    match content {
        None => Ok(String::new()),
        Some(ToolResultContent::Text(t)) => Ok(t.clone()),
        Some(ToolResultContent::Blocks(blocks)) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (k, b) in blocks.iter().enumerate() {
                match b {
                    Block::Text { text } => texts.push(text.as_str()),
                    _ => {
                        return Err(TranslateError::invalid(
                            format!("{at}.content[{k}]"),
                            format!(
                                "{at}.content[{k}]: only text blocks can be sent in a tool_result to this model's upstream"
                            ),
                        ));
                    }
                }
            }
            Ok(join_texts(texts.into_iter()))
        }
    }
}

/// An assistant turn: text, tool calls, and its reasoning (which DeepSeek and Kimi need
/// back on tool-call turns).
fn assistant_turn(i: usize, content: &InContent) -> Result<Message, TranslateError> {
    let blocks = match content {
        InContent::Text(t) => return Ok(Message::text(Role::Assistant, t.clone())),
        InContent::Blocks(b) => b,
    };
    let mut texts = Vec::new();
    let mut reasoning = Vec::new();
    let mut calls = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        match block {
            Block::Text { text } => texts.push(text.as_str()),
            Block::Thinking { thinking, .. } => reasoning.push(thinking.as_str()),
            Block::RedactedThinking { .. } => {}
            Block::ToolUse { id, name, input } => calls.push(ToolCall {
                index: None,
                id: Some(id.clone()),
                kind: Some("function".into()),
                function: Some(FunctionCall {
                    name: Some(name.clone()),
                    arguments: Some(input_json(input)),
                }),
                extra: Map::new(),
            }),
            Block::Image { .. } | Block::ToolResult { .. } | Block::Document { .. } => {
                return Err(TranslateError::invalid(
                    format!("messages[{i}].content[{j}].type"),
                    format!(
                        "messages[{i}].content[{j}]: an assistant turn holds text, thinking and tool_use blocks only"
                    ),
                ));
            }
        }
    }
    let mut m = Message::text(Role::Assistant, join_texts(texts.into_iter()));
    if !calls.is_empty() {
        m.tool_calls = Some(calls);
        if m.text_content().is_empty() {
            m.content = None;
        }
    }
    if !reasoning.is_empty() {
        m.reasoning_content = Some(join_texts(reasoning.into_iter()));
    }
    Ok(m)
}

/// A tool call's input as the JSON-encoded arguments Chat Completions carries.
fn input_json(input: &Value) -> String {
    match input {
        Value::Null => "{}".into(),
        v => v.to_string(),
    }
}

fn text_part(text: &str) -> ContentPart {
    let mut fields = Map::new();
    fields.insert("type".into(), json!("text"));
    ContentPart {
        kind: PartKind::Text,
        text: Some(text.to_string()),
        fields,
    }
}

fn image_part(source: &ImageSource) -> ContentPart {
    let url = match source {
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        ImageSource::Url { url } => url.clone(),
    };
    let mut fields = Map::new();
    fields.insert("type".into(), json!("image_url"));
    fields.insert("image_url".into(), json!({ "url": url }));
    ContentPart {
        kind: PartKind::ImageUrl,
        text: None,
        fields,
    }
}

/// Parts that are all text become one string (the form every vendor takes).
fn simplify(parts: Vec<ContentPart>) -> Content {
    if parts.iter().all(|p| p.kind == PartKind::Text) {
        Content::Text(join_texts(parts.iter().filter_map(|p| p.text.as_deref())))
    } else {
        Content::Parts(parts)
    }
}

fn join_texts<'a>(texts: impl Iterator<Item = &'a str>) -> String {
    texts.collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> MessagesRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn system_text_and_sampling_carry_over() {
        let r = parse(json!({
            "model": "deepseek-v4-flash", "max_tokens": 100,
            "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "hi"}],
            "stop_sequences": ["END"], "temperature": 0.5, "metadata": {"user_id": "u1"}
        }));
        r.validate(true).unwrap();
        let c = r.to_chat().unwrap();
        assert_eq!(c.messages[0].role, Role::System);
        assert_eq!(c.messages[0].text_content(), "be brief");
        assert_eq!(c.messages[1].text_content(), "hi");
        assert_eq!(c.max_tokens, Some(100));
        assert_eq!(c.stop, Some(Stop::Many(vec!["END".into()])));
        assert_eq!(c.user.as_deref(), Some("u1"));
        assert_eq!(c.stream, Some(false));
        assert!(c.stream_options.is_none());
    }

    #[test]
    fn a_stream_always_asks_for_its_usage() {
        let r = parse(json!({"model": "m", "max_tokens": 5, "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}));
        assert!(r.to_chat().unwrap().wants_stream_usage());
    }

    #[test]
    fn tool_round_trip_becomes_calls_and_tool_messages() {
        let r = parse(json!({
            "model": "m", "max_tokens": 50,
            "tools": [{"name": "get_weather", "description": "w", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "need a tool", "signature": "s"},
                    {"type": "text", "text": "checking"},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}]},
                    {"type": "text", "text": "and tomorrow?"}
                ]}
            ]
        }));
        let c = r.to_chat().unwrap();
        let a = &c.messages[1];
        assert_eq!(a.reasoning_content.as_deref(), Some("need a tool"));
        let call = &a.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.id.as_deref(), Some("toolu_1"));
        let args: Value = serde_json::from_str(
            call.function
                .as_ref()
                .unwrap()
                .arguments
                .as_deref()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(args, json!({"city": "Paris"}));
        assert_eq!(c.messages[2].role, Role::Tool);
        assert_eq!(c.messages[2].tool_call_id.as_deref(), Some("toolu_1"));
        assert_eq!(c.messages[2].text_content(), "sunny");
        assert_eq!(c.messages[3].text_content(), "and tomorrow?");
        assert_eq!(c.tool_choice, Some(json!("required")));
        assert_eq!(c.extra["parallel_tool_calls"], false);
        assert_eq!(
            c.tools.unwrap()[0].function.as_ref().unwrap().name,
            "get_weather"
        );
    }

    #[test]
    fn an_image_becomes_a_data_url_part() {
        let r = parse(
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                {"type": "text", "text": "what is this?"}
            ]}]}),
        );
        let c = r.to_chat().unwrap();
        assert!(c.has_images());
        let Some(Content::Parts(parts)) = &c.messages[0].content else {
            panic!("parts expected")
        };
        assert_eq!(parts[0].image_url(), Some("data:image/png;base64,AAAA"));
    }

    #[test]
    fn thinking_is_switched_for_the_vendor_and_checked() {
        let r = parse(json!({"model": "m", "max_tokens": 4000,
            "thinking": {"type": "enabled", "budget_tokens": 2000},
            "messages": [{"role": "user", "content": "hi"}]}));
        r.validate(true).unwrap();
        assert_eq!(
            r.to_chat().unwrap().extra["thinking"],
            json!({"type": "enabled"})
        );
        let low = parse(json!({"model": "m", "max_tokens": 4000,
            "thinking": {"type": "enabled", "budget_tokens": 10},
            "messages": [{"role": "user", "content": "hi"}]}));
        assert!(low.validate(true).unwrap_err().to_string().contains("1024"));
        let over = parse(json!({"model": "m", "max_tokens": 1500,
            "thinking": {"type": "enabled", "budget_tokens": 2000},
            "messages": [{"role": "user", "content": "hi"}]}));
        assert!(over.validate(true).is_err());
    }

    #[test]
    fn missing_max_tokens_and_bad_values_are_refused() {
        let r = parse(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        assert_eq!(
            r.validate(true).unwrap_err(),
            TranslateError::missing("max_tokens")
        );
        assert!(
            r.validate(false).is_ok(),
            "count_tokens needs no max_tokens"
        );
        let hot = parse(json!({"model": "m", "max_tokens": 5, "temperature": 1.5,
            "messages": [{"role": "user", "content": "hi"}]}));
        assert!(hot.validate(true).is_err());
    }

    #[test]
    fn server_tools_and_misplaced_blocks_are_refused_by_name() {
        let r = parse(json!({"model": "m", "max_tokens": 5,
            "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            "messages": [{"role": "user", "content": "hi"}]}));
        assert!(
            r.to_chat()
                .unwrap_err()
                .to_string()
                .contains("web_search_20250305")
        );
        let r = parse(
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "tool_use", "id": "x", "name": "f", "input": {}}]}]}),
        );
        assert!(
            r.to_chat()
                .unwrap_err()
                .to_string()
                .contains("messages[0].content[0]")
        );
    }

    #[test]
    fn unknown_block_types_fail_to_parse() {
        let e = serde_json::from_value::<MessagesRequest>(json!({"model": "m", "max_tokens": 5,
            "messages": [{"role": "user", "content": [{"type": "hologram"}]}]}));
        assert!(e.is_err());
    }
}
