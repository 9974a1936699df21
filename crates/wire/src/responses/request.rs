//! The Responses API request (`POST /v1/responses`), its stateless subset, and its
//! translation into a Chat Completions request.
//!
//! Taken: `input` as text or items (messages with text and image parts, earlier
//! `function_call`s and their `function_call_output`s, `reasoning` items), `instructions`,
//! function tools and `tool_choice`, `parallel_tool_calls`, `max_output_tokens`,
//! `temperature`, `top_p`, `text.format` (JSON object or schema), `reasoning.effort`,
//! `stream`. Refused with a 400 that says why: `previous_response_id` and `store: true`
//! (the gateway keeps no responses: send the whole conversation), hosted tools
//! (`web_search`, `file_search`, …), file inputs.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::chat::{
    ChatRequest, Content, ContentPart, FunctionCall, FunctionDef, Message, PartKind,
    ResponseFormat, Role, StreamOptions, Tool, ToolCall,
};
use crate::translate::TranslateError;

/// `POST /v1/responses`.
#[derive(Debug, Clone, Deserialize)]
pub struct ResponsesRequest {
    /// Model name as the client wrote it.
    pub model: String,
    /// Text, or a list of items.
    pub input: Input,
    /// A system message put first.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Tools the model may call.
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    /// `auto`, `none`, `required` or `{"type":"function","name":…}`.
    #[serde(default)]
    pub tool_choice: Option<Value>,
    /// Several calls at once.
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// Output cap, reasoning included.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Answer as a stream of events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// `{"effort", "summary"}`.
    #[serde(default)]
    pub reasoning: Option<Value>,
    /// `{"format": {"type": "text" | "json_object" | "json_schema", …}}`.
    #[serde(default)]
    pub text: Option<Value>,
    /// Whether to keep the response (only `false` is possible here).
    #[serde(default)]
    pub store: Option<bool>,
    /// A kept response to continue (not possible here).
    #[serde(default)]
    pub previous_response_id: Option<String>,
    /// Echoed back.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// End-user id.
    #[serde(default)]
    pub user: Option<String>,
    /// End-user id, the newer name.
    #[serde(default)]
    pub safety_identifier: Option<String>,
}

/// `input`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Input {
    /// One user message.
    Text(String),
    /// Items, read one by one by [`ResponsesRequest::to_chat`].
    Items(Vec<Value>),
}

impl ResponsesRequest {
    /// Whether the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Refuse what a stateless gateway cannot do, and values out of range.
    pub fn validate(&self) -> Result<(), TranslateError> {
        if self.model.trim().is_empty() {
            return Err(TranslateError::missing("model"));
        }
        if self.previous_response_id.is_some() {
            return Err(TranslateError::invalid(
                "previous_response_id",
                "previous_response_id is not supported: this gateway keeps no responses; send the whole conversation in input",
            ));
        }
        if self.store == Some(true) {
            return Err(TranslateError::invalid(
                "store",
                "store: true is not supported: this gateway keeps no responses; leave store out or set it to false",
            ));
        }
        if matches!(&self.input, Input::Items(items) if items.is_empty()) {
            return Err(TranslateError::invalid(
                "input",
                "input: at least one item is required",
            ));
        }
        if self.max_output_tokens == Some(0) {
            return Err(TranslateError::invalid(
                "max_output_tokens",
                "max_output_tokens: must be at least 1",
            ));
        }
        Ok(())
    }

    /// The same request in Chat Completions terms.
    pub fn to_chat(&self) -> Result<ChatRequest, TranslateError> {
        let mut messages = Vec::new();
        if let Some(i) = &self.instructions {
            messages.push(Message::text(Role::System, i.clone()));
        }
        match &self.input {
            Input::Text(t) => messages.push(Message::text(Role::User, t.clone())),
            Input::Items(items) => {
                let mut reasoning = None;
                for (i, item) in items.iter().enumerate() {
                    push_item(i, item, &mut messages, &mut reasoning)?;
                }
            }
        }
        let mut extra = Map::new();
        if let Some(effort) = self
            .reasoning
            .as_ref()
            .and_then(|r| r.get("effort"))
            .and_then(Value::as_str)
        {
            extra.insert("reasoning_effort".into(), json!(effort));
        }
        if let Some(p) = self.parallel_tool_calls {
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
            tools: self.chat_tools()?,
            tool_choice: self.chat_tool_choice()?,
            max_tokens: self.max_output_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            response_format: self.response_format()?,
            user: self.safety_identifier.clone().or_else(|| self.user.clone()),
            extra,
            ..ChatRequest::default()
        })
    }

    fn chat_tools(&self) -> Result<Option<Vec<Tool>>, TranslateError> {
        let Some(tools) = &self.tools else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(tools.len());
        for (i, t) in tools.iter().enumerate() {
            let kind = t.get("type").and_then(Value::as_str).unwrap_or("");
            if kind != "function" {
                return Err(TranslateError::invalid(
                    format!("tools[{i}].type"),
                    format!(
                        "tools[{i}]: '{kind}' tools are not supported through this gateway; declare function tools"
                    ),
                ));
            }
            let name = str_field(t, "name", || format!("tools[{i}].name"))?;
            let mut extra = Map::new();
            if let Some(strict) = t.get("strict").filter(|s| !s.is_null()) {
                extra.insert("strict".into(), strict.clone());
            }
            out.push(Tool {
                kind: "function".into(),
                function: Some(FunctionDef {
                    name,
                    description: t
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    parameters: t.get("parameters").cloned(),
                    extra,
                }),
                extra: Map::new(),
            });
        }
        Ok(Some(out))
    }

    fn chat_tool_choice(&self) -> Result<Option<Value>, TranslateError> {
        match &self.tool_choice {
            None => Ok(None),
            Some(Value::String(s)) if matches!(s.as_str(), "auto" | "none" | "required") => {
                Ok(Some(Value::String(s.clone())))
            }
            Some(v) if v.get("type").and_then(Value::as_str) == Some("function") => {
                let name = str_field(v, "name", || "tool_choice.name".into())?;
                Ok(Some(
                    json!({"type": "function", "function": {"name": name}}),
                ))
            }
            Some(_) => Err(TranslateError::invalid(
                "tool_choice",
                "tool_choice: expected auto, none, required or {\"type\": \"function\", \"name\": …}",
            )),
        }
    }

    fn response_format(&self) -> Result<Option<ResponseFormat>, TranslateError> {
        let Some(format) = self.text.as_ref().and_then(|t| t.get("format")) else {
            return Ok(None);
        };
        let chat = match format.get("type").and_then(Value::as_str) {
            Some("text") => return Ok(None),
            Some("json_object") => json!({"type": "json_object"}),
            Some("json_schema") => {
                let mut schema = Map::new();
                for key in ["name", "schema", "strict", "description"] {
                    if let Some(v) = format.get(key) {
                        schema.insert(key.into(), v.clone());
                    }
                }
                json!({"type": "json_schema", "json_schema": schema})
            }
            _ => {
                return Err(TranslateError::invalid(
                    "text.format.type",
                    "text.format.type: expected text, json_object or json_schema",
                ));
            }
        };
        serde_json::from_value(chat)
            .map(Some)
            .map_err(|e| TranslateError::invalid("text.format", format!("text.format: {e}")))
    }
}

/// A string field of `v`, or the error naming `at`.
fn str_field(v: &Value, key: &str, at: impl Fn() -> String) -> Result<String, TranslateError> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| TranslateError::missing(at()))
}

/// One input item onto the chat messages. A `reasoning` item is held for the assistant
/// turn that follows it.
fn push_item(
    i: usize,
    item: &Value,
    out: &mut Vec<Message>,
    reasoning: &mut Option<String>,
) -> Result<(), TranslateError> {
    let kind = item.get("type").and_then(Value::as_str);
    match kind {
        Some("message") | None if item.get("role").is_some() => {
            let mut m = input_message(i, item)?;
            if m.role == Role::Assistant {
                m.reasoning_content = reasoning.take();
            }
            out.push(m);
        }
        Some("function_call") => {
            let call = ToolCall {
                index: None,
                id: Some(str_field(item, "call_id", || {
                    format!("input[{i}].call_id")
                })?),
                kind: Some("function".into()),
                function: Some(FunctionCall {
                    name: Some(str_field(item, "name", || format!("input[{i}].name"))?),
                    arguments: Some(
                        item.get("arguments")
                            .and_then(Value::as_str)
                            .unwrap_or("{}")
                            .to_string(),
                    ),
                }),
                extra: Map::new(),
            };
            // Calls in a row are one assistant turn.
            match out.last_mut() {
                Some(m) if m.role == Role::Assistant && m.tool_calls.is_some() => {
                    m.tool_calls.get_or_insert_with(Vec::new).push(call);
                }
                _ => {
                    let mut m = Message::text(Role::Assistant, String::new());
                    m.content = None;
                    m.tool_calls = Some(vec![call]);
                    m.reasoning_content = reasoning.take();
                    out.push(m);
                }
            }
        }
        Some("function_call_output") => {
            let output = match item.get("output") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => return Err(TranslateError::missing(format!("input[{i}].output"))),
            };
            let mut m = Message::text(Role::Tool, output);
            m.tool_call_id = Some(str_field(item, "call_id", || {
                format!("input[{i}].call_id")
            })?);
            out.push(m);
        }
        Some("reasoning") => *reasoning = reasoning_text(item),
        other => {
            return Err(TranslateError::invalid(
                format!("input[{i}].type"),
                format!(
                    "input[{i}]: items of type '{}' are not supported through this gateway",
                    other.unwrap_or("(none)")
                ),
            ));
        }
    }
    Ok(())
}

/// The text of a `reasoning` item: its reasoning text, else its summary.
fn reasoning_text(item: &Value) -> Option<String> {
    let texts = |key: &str| -> Vec<String> {
        item.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let content = texts("content");
    let parts = if content.is_empty() {
        texts("summary")
    } else {
        content
    };
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// A message item.
fn input_message(i: usize, item: &Value) -> Result<Message, TranslateError> {
    let role = match item.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("system") => Role::System,
        Some("developer") => Role::Developer,
        _ => {
            return Err(TranslateError::invalid(
                format!("input[{i}].role"),
                format!("input[{i}].role: expected user, assistant, system or developer"),
            ));
        }
    };
    let content = match item.get("content") {
        Some(Value::String(s)) => Content::Text(s.clone()),
        Some(Value::Array(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                out.push(input_part(&format!("input[{i}].content[{j}]"), p)?);
            }
            if out.iter().all(|p| p.kind == PartKind::Text) {
                let texts: Vec<&str> = out.iter().filter_map(|p| p.text.as_deref()).collect();
                Content::Text(texts.join("\n"))
            } else {
                Content::Parts(out)
            }
        }
        _ => return Err(TranslateError::missing(format!("input[{i}].content"))),
    };
    let mut m = Message::text(role, String::new());
    m.content = Some(content);
    Ok(m)
}

/// One content part of a message item.
fn input_part(at: &str, p: &Value) -> Result<ContentPart, TranslateError> {
    let mut fields = Map::new();
    match p.get("type").and_then(Value::as_str) {
        Some("input_text" | "output_text" | "text") => {
            fields.insert("type".into(), json!("text"));
            Ok(ContentPart {
                kind: PartKind::Text,
                text: Some(str_field(p, "text", || format!("{at}.text"))?),
                fields,
            })
        }
        Some("refusal") => {
            fields.insert("type".into(), json!("text"));
            Ok(ContentPart {
                kind: PartKind::Text,
                text: Some(str_field(p, "refusal", || format!("{at}.refusal"))?),
                fields,
            })
        }
        Some("input_image") => {
            let url = str_field(p, "image_url", || format!("{at}.image_url"))?;
            let mut image = Map::new();
            image.insert("url".into(), Value::String(url));
            if let Some(d) = p.get("detail").filter(|d| d.is_string()) {
                image.insert("detail".into(), d.clone());
            }
            fields.insert("type".into(), json!("image_url"));
            fields.insert("image_url".into(), Value::Object(image));
            Ok(ContentPart {
                kind: PartKind::ImageUrl,
                text: None,
                fields,
            })
        }
        other => Err(TranslateError::invalid(
            format!("{at}.type"),
            format!(
                "{at}: parts of type '{}' are not supported through this gateway",
                other.unwrap_or("(none)")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> ResponsesRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn text_input_and_instructions_become_system_and_user() {
        let r = parse(
            json!({"model": "m", "input": "hi", "instructions": "be brief",
            "max_output_tokens": 50, "stream": true}),
        );
        r.validate().unwrap();
        let c = r.to_chat().unwrap();
        assert_eq!(c.messages[0].role, Role::System);
        assert_eq!(c.messages[1].text_content(), "hi");
        assert_eq!(c.max_tokens, Some(50));
        assert!(c.wants_stream_usage());
    }

    #[test]
    fn a_function_call_round_trip_becomes_tool_calls_and_tool_messages() {
        let r = parse(json!({"model": "m",
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": true}],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "look it up"}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            {"type": "function_call_output", "call_id": "call_2", "output": "rain"}
        ]}));
        let c = r.to_chat().unwrap();
        assert_eq!(c.messages.len(), 4);
        let a = &c.messages[1];
        assert_eq!(a.tool_calls.as_ref().unwrap().len(), 2);
        assert_eq!(a.reasoning_content.as_deref(), Some("look it up"));
        assert_eq!(c.messages[3].tool_call_id.as_deref(), Some("call_2"));
        assert_eq!(
            c.tool_choice,
            Some(json!({"type": "function", "function": {"name": "get_weather"}}))
        );
        assert_eq!(
            c.tools.unwrap()[0].function.as_ref().unwrap().extra["strict"],
            true
        );
    }

    #[test]
    fn json_schema_format_becomes_response_format() {
        let r = parse(json!({"model": "m", "input": "hi",
            "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}, "strict": true}}}));
        let c = r.to_chat().unwrap();
        assert_eq!(
            c.json_output(),
            Some(crate::chat::ResponseFormatKind::JsonSchema)
        );
    }

    #[test]
    fn state_and_hosted_tools_are_refused_by_name() {
        let prev = parse(json!({"model": "m", "input": "hi", "previous_response_id": "resp_1"}));
        assert_eq!(prev.validate().unwrap_err().param(), "previous_response_id");
        let store = parse(json!({"model": "m", "input": "hi", "store": true}));
        assert_eq!(store.validate().unwrap_err().param(), "store");
        let web = parse(json!({"model": "m", "input": "hi", "tools": [{"type": "web_search"}]}));
        assert_eq!(web.to_chat().unwrap_err().param(), "tools[0].type");
        let file = parse(
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}),
        );
        assert_eq!(
            file.to_chat().unwrap_err().param(),
            "input[0].content[0].type"
        );
    }
}
