//! Zhipu BigModel / Z.ai (GLM): its ids, stream shape, business error codes and the
//! parameters it refuses.
//!
//! Independent of `switchyard_wire::dialect::zhipu`, on purpose: this is the stand-in the
//! gateway is tested against, so its facts are written down again here, not asked of the
//! gateway (see `vendor/mod.rs`).
//!
//! Facts (`shared/reference/providers.md`, "GLM (Zhipu BigModel / Z.ai)"):
//! - URLs under `/api/paas/v4`; the request id comes in `x-request-id`, and the
//!   non-streaming body repeats it as `request_id`;
//! - ids are the creation time and 18 hex digits, the request id the same; chunks have
//!   no `object`, no `system_fingerprint`, no `logprobs`, and no `finish_reason` before
//!   the end; every delta repeats `"role": "assistant"`;
//! - a stream always reports usage, top-level on the `finish_reason` chunk;
//! - errors are `{"error":{"code":"<number>","message"},"request_id"}`; one HTTP status
//!   (429) covers several business codes: 1113 balance, 1302 concurrency, 1305
//!   overloaded; 1000/1001 authentication, 1210 parameters, 1211 unknown model;
//! - takes a single stop word, `tool_choice` only `"auto"`, temperature in (0, 1],
//!   `top_p` in [0.01, 1], and no data-URI images.

use http::StatusCode;
use rand::rngs::SmallRng;
use serde_json::{Value, json};
use switchyard_wire::{ChatRequest, Content};

use super::{Fingerprint, Ids, Shape, StreamUsage, UsageNull, Vendor, openai, push_hex};
use crate::failure::Failure;
use crate::generate::Target;

/// The Zhipu vendor.
#[derive(Debug)]
pub(super) struct Zhipu;

const SHAPE: Shape = Shape {
    path_prefix: "/api/paas/v4",
    request_id_header: "x-request-id",
    chunk_object: false,
    fingerprint: Fingerprint::Absent,
    usage_null: UsageNull::Never,
    stream_usage: StreamUsage::OnFinishChunk,
    repeat_role: true,
    logprobs: false,
    finish_null: false,
    body_request_id: true,
    ..openai::SHAPE
};

impl Vendor for Zhipu {
    fn shape(&self) -> &'static Shape {
        &SHAPE
    }

    fn ids(&self, rng: &mut SmallRng, created: u64) -> Ids {
        let mut response = created.to_string();
        push_hex(&mut response, rng, 18);
        Ids {
            request: response.clone(),
            response,
        }
    }

    fn error_body(&self, failure: &Failure, request_id: &str) -> (StatusCode, Value) {
        error_body(failure, request_id)
    }

    fn check(&self, req: &ChatRequest, _target: &Target) -> Result<(), Failure> {
        one_stop_word(req)?;
        auto_tool_choice(req)?;
        sampling_in_range(req)?;
        no_data_uri(req)
    }
}

fn one_stop_word(req: &ChatRequest) -> Result<(), Failure> {
    if let Some(stop) = &req.stop {
        let n = stop.as_vec().len();
        if n > 1 {
            return Err(Failure::invalid(format!(
                "stop: only one stop word is supported, got {n}"
            )));
        }
    }
    Ok(())
}

fn auto_tool_choice(req: &ChatRequest) -> Result<(), Failure> {
    match &req.tool_choice {
        None => Ok(()),
        Some(Value::String(s)) if s == "auto" => Ok(()),
        Some(other) => Err(Failure::invalid(format!(
            "tool_choice: only \"auto\" is supported, got {other}"
        ))),
    }
}

fn sampling_in_range(req: &ChatRequest) -> Result<(), Failure> {
    if let Some(t) = req.temperature
        && !(t > 0.0 && t <= 1.0)
    {
        return Err(Failure::invalid(format!(
            "temperature: must be in (0, 1], got {t}"
        )));
    }
    if let Some(p) = req.top_p
        && !(0.01..=1.0).contains(&p)
    {
        return Err(Failure::invalid(format!(
            "top_p: must be in [0.01, 1], got {p}"
        )));
    }
    Ok(())
}

fn no_data_uri(req: &ChatRequest) -> Result<(), Failure> {
    let data_uri = req.messages.iter().any(|m| match &m.content {
        Some(Content::Parts(parts)) => parts
            .iter()
            .any(|p| p.image_url().is_some_and(|u| u.starts_with("data:"))),
        _ => false,
    });
    if data_uri {
        return Err(Failure::invalid(
            "image_url: data URIs are not supported; send a URL or bare base64",
        ));
    }
    Ok(())
}

/// GLM's generic parameter-error text, followed by our detail.
const ZHIPU_BAD_PARAMS: &str = "API 调用参数有误，请检查文档。";

fn error_body(f: &Failure, request_id: &str) -> (StatusCode, Value) {
    let (status, code, message) = match f {
        Failure::InvalidJson(m) => (
            StatusCode::BAD_REQUEST,
            "1210",
            format!("{ZHIPU_BAD_PARAMS} Request body is not valid JSON: {m}"),
        ),
        Failure::InvalidRequest(m) => (
            StatusCode::BAD_REQUEST,
            "1210",
            format!("{ZHIPU_BAD_PARAMS} {m}"),
        ),
        Failure::ModelNotFound(_) => (
            StatusCode::BAD_REQUEST,
            "1211",
            "模型不存在，请检查模型代码。".to_string(),
        ),
        Failure::MissingKey => (
            StatusCode::UNAUTHORIZED,
            "1001",
            "Header中未收到Authorization参数，无法进行身份验证。".to_string(),
        ),
        Failure::InvalidKey => (
            StatusCode::UNAUTHORIZED,
            "1000",
            "身份验证失败。".to_string(),
        ),
        Failure::RouteNotFound(p) => (StatusCode::NOT_FOUND, "404", format!("Not Found: {p}")),
        Failure::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            "1302",
            "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。".to_string(),
        ),
        Failure::Overloaded => (
            StatusCode::TOO_MANY_REQUESTS,
            "1305",
            "该模型当前访问量过大，请您稍后再试".to_string(),
        ),
        Failure::InsufficientBalance => (
            StatusCode::TOO_MANY_REQUESTS,
            "1113",
            "您的账户已欠费，请充值后重试。".to_string(),
        ),
        Failure::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "500",
            "服务内部错误，请稍后重试。".to_string(),
        ),
    };
    (
        status,
        json!({"error": {"code": code, "message": message}, "request_id": request_id}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::testing::{message, req, target};
    use crate::vendor::check;
    use crate::vendor::testing::{classify, error_body};
    use switchyard_wire::Dialect;

    #[test]
    fn zhipu_business_codes_and_request_id() {
        let (status, body) = error_body(Dialect::Zhipu, &Failure::Overloaded, "rid-9");
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            body,
            json!({"error": {"code": "1305", "message": "该模型当前访问量过大，请您稍后再试"}, "request_id": "rid-9"})
        );
        assert_eq!(
            classify(Dialect::Zhipu, &Failure::RateLimited).2.as_deref(),
            Some("1302")
        );
        assert_eq!(
            classify(Dialect::Zhipu, &Failure::InsufficientBalance)
                .2
                .as_deref(),
            Some("1113")
        );
    }

    #[test]
    fn zhipu_rejects_what_glm_rejects_with_clear_messages() {
        let t = target("glm-4.6v", false, true);
        let cases = [
            (json!({"stop": ["a", "b"]}), "stop"),
            (json!({"tool_choice": "required"}), "tool_choice"),
            (json!({"temperature": 0.0}), "temperature"),
            (json!({"temperature": 1.5}), "temperature"),
            (json!({"top_p": 0.001}), "top_p"),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}),
                "data URI",
            ),
        ];
        for (extra, needle) in cases {
            let mut b = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            let m = message(check(Dialect::Zhipu, &req(b), &t));
            assert!(m.contains(needle), "{m}");
        }
        let ok = req(
            json!({"model": "m", "stop": "END", "tool_choice": "auto", "temperature": 1.0, "top_p": 0.01,
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}),
        );
        assert!(check(Dialect::Zhipu, &ok, &t).is_ok());
    }
}
