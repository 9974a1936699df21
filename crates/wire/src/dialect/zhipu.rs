//! Zhipu BigModel / Z.ai (GLM): the parameters it takes, the role it repeats, and its
//! numeric business error codes.
//!
//! Facts (`shared/reference/providers.md`, "GLM (Zhipu BigModel / Z.ai)"):
//! - accepts a single stop word, only `tool_choice:"auto"`, temperature in (0,1] (0 is
//!   `do_sample=false`), `top_p` in [0.01,1], and no data-URI images (bare base64 is
//!   fine);
//! - knows `max_tokens` only, and no `role:"developer"` (sent as `system`);
//! - always reports stream usage, on the `finish_reason` chunk; deltas repeat `role`
//!   (sent on once, by [`RoleOnce`], for every stream);
//! - errors are `{"error":{"code":"<number>","message"},"request_id"}`, and one HTTP
//!   status (429) covers several business codes: 1113 balance, 1302 concurrency, 1305
//!   overloaded; the request id comes in `x-request-id`.

use serde_json::Value;

use crate::chat::{ChatRequest, Content, Delta, Stop};
use crate::error::ErrorKind;

use super::{Adjustment, ErrorSaid, Vendor, use_older_fields};

/// The Zhipu dialect.
pub(super) struct Zhipu;

impl Vendor for Zhipu {
    fn request_id_header(&self) -> &'static str {
        "x-request-id"
    }

    fn prepare(&self, req: &mut ChatRequest, _upstream_model: &str, adj: &mut Vec<Adjustment>) {
        use_older_fields(req);
        one_stop_word(req, adj);
        auto_tool_choice(req, adj);
        sampling_in_range(req, adj);
        bare_base64_images(req, adj);
    }

    fn classify(&self, said: &ErrorSaid<'_>) -> Option<ErrorKind> {
        let n: u32 = said.code?.parse().ok()?;
        Some(match n {
            1000..=1004 => ErrorKind::Authentication,
            1113 | 1308 | 1309 | 1310 => ErrorKind::InsufficientQuota,
            1302 | 1303 => ErrorKind::RateLimited,
            1305 | 1312 => ErrorKind::Overloaded,
            1211 | 1221 | 1222 => ErrorKind::NotFound,
            1301 => ErrorKind::ContentFilter,
            1210 | 1212..=1215 | 1220 => ErrorKind::InvalidRequest,
            1200..=1299 if said.status < 500 => ErrorKind::InvalidRequest,
            500..=599 | 1234 => ErrorKind::Server,
            _ => return None,
        })
    }
}

fn one_stop_word(req: &mut ChatRequest, adj: &mut Vec<Adjustment>) {
    if let Some(stop) = req.stop.take() {
        let words = stop.as_vec();
        if words.len() > 1 {
            adj.push(Adjustment::new(
                "stop",
                format!(
                    "GLM takes one stop word; kept '{}', dropped {}",
                    words.first().copied().unwrap_or_default(),
                    words.len().saturating_sub(1)
                ),
            ));
        }
        req.stop = words.first().map(|w| Stop::Many(vec![(*w).to_string()]));
    }
}

fn auto_tool_choice(req: &mut ChatRequest, adj: &mut Vec<Adjustment>) {
    match req.tool_choice.as_ref() {
        None => {}
        Some(Value::String(s)) if s == "auto" => {}
        Some(Value::String(s)) if s == "none" => {
            req.tools = None;
            req.tool_choice = None;
            adj.push(Adjustment::new(
                "tool_choice",
                "GLM has no 'none'; removed the tools instead",
            ));
        }
        Some(other) => {
            adj.push(Adjustment::new(
                "tool_choice",
                format!("GLM accepts only 'auto'; replaced {other}"),
            ));
            req.tool_choice = Some(Value::String("auto".into()));
        }
    }
}

fn sampling_in_range(req: &mut ChatRequest, adj: &mut Vec<Adjustment>) {
    if let Some(t) = req.temperature {
        if t <= 0.0 {
            req.temperature = None;
            req.extra.insert("do_sample".into(), Value::Bool(false));
            adj.push(Adjustment::new(
                "temperature",
                "GLM needs (0,1]; 0 sent as do_sample=false",
            ));
        } else if t > 1.0 {
            req.temperature = Some(1.0);
            adj.push(Adjustment::new(
                "temperature",
                format!("{t} clamped to 1.0"),
            ));
        }
    }
    if let Some(p) = req.top_p {
        let clamped = p.clamp(0.01, 1.0);
        if clamped != p {
            req.top_p = Some(clamped);
            adj.push(Adjustment::new(
                "top_p",
                format!("{p} clamped to {clamped}"),
            ));
        }
    }
}

fn bare_base64_images(req: &mut ChatRequest, adj: &mut Vec<Adjustment>) {
    let mut stripped = 0usize;
    for m in &mut req.messages {
        if let Some(Content::Parts(parts)) = &mut m.content {
            for p in parts.iter_mut() {
                let raw = p
                    .image_url()
                    .filter(|u| u.starts_with("data:"))
                    .and_then(|u| u.split_once(";base64,"))
                    .map(|(_, b64)| b64.to_string());
                if let Some(b64) = raw {
                    p.set_image_url(b64);
                    stripped = stripped.saturating_add(1);
                }
            }
        }
    }
    if stripped > 0 {
        adj.push(Adjustment::new(
            "messages",
            format!("GLM rejects data URIs; sent {stripped} image(s) as bare base64"),
        ));
    }
}

/// The role of one stream choice, sent on once: GLM repeats `role` on every delta.
#[derive(Debug, Default, Clone)]
pub(super) struct RoleOnce {
    sent: bool,
}

impl RoleOnce {
    /// Drop `delta`'s role if an earlier delta of the choice carried one.
    pub(super) fn apply(&mut self, delta: &mut Delta) {
        if delta.role.is_some() {
            if self.sent {
                delta.role = None;
            }
            self.sent = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::chat::{Content, Stop};
    use crate::dialect::testing::{chunk, req};
    use crate::dialect::{Dialect, StreamNormalizer};
    use crate::error::ErrorKind;
    use serde_json::json;

    #[test]
    fn glm_keeps_one_stop_word_and_only_auto_tool_choice() {
        let mut r = req(
            json!({"model": "x", "messages": [], "stop": ["a", "b"], "tool_choice": "required",
            "tools": [{"type": "function", "function": {"name": "f"}}], "temperature": 0}),
        );
        let adj = Dialect::Zhipu.prepare(&mut r, "glm-4.5");
        assert_eq!(r.stop, Some(Stop::Many(vec!["a".into()])));
        assert_eq!(r.tool_choice, Some(json!("auto")));
        assert_eq!(r.temperature, None);
        assert_eq!(r.extra.get("do_sample"), Some(&json!(false)));
        assert_eq!(adj.len(), 3);
    }

    #[test]
    fn glm_strips_data_uri_prefix_from_images() {
        let mut r = req(
            json!({"model": "x", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
            ]}]}),
        );
        Dialect::Zhipu.prepare(&mut r, "glm-4.6v");
        let Some(Content::Parts(parts)) = &r.messages[0].content else {
            panic!("parts")
        };
        assert_eq!(parts[0].image_url(), Some("iVBOR"));
        assert_eq!(parts[1].image_url(), Some("https://x/y.png"));
    }

    #[test]
    fn glm_overload_and_balance_codes_classify_differently() {
        let overload = Dialect::Zhipu.parse_error(
            429,
            br#"{"error":{"code":"1305","message":"busy"},"request_id":"r1"}"#,
            None,
        );
        assert_eq!(overload.kind, ErrorKind::Overloaded);
        assert_eq!(overload.request_id.as_deref(), Some("r1"));
        let concurrency = Dialect::Zhipu.parse_error(
            429,
            br#"{"error":{"code":"1302","message":"slow down"}}"#,
            None,
        );
        assert_eq!(concurrency.kind, ErrorKind::RateLimited);
        let balance = Dialect::Zhipu.parse_error(
            429,
            br#"{"error":{"code":"1113","message":"no money"}}"#,
            None,
        );
        assert_eq!(balance.kind, ErrorKind::InsufficientQuota);
        assert!(!balance.kind.retryable());
        assert_eq!(balance.vendor_code.as_deref(), Some("1113"));
    }

    #[test]
    fn repeated_role_is_sent_once() {
        let mut n = StreamNormalizer::new();
        let mut a = chunk(
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "a"}}]}),
        );
        let mut b = chunk(
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "b"}}]}),
        );
        n.apply(&mut a).unwrap();
        n.apply(&mut b).unwrap();
        assert!(a.choices[0].delta.role.is_some());
        assert!(b.choices[0].delta.role.is_none());
    }
}
