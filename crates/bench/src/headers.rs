//! The headers every request carries: `content-type`, the bearer token of `--api-key`,
//! and any `--header 'Name: value'` the user adds.
//!
//! They are parsed strictly once, before the run, and built into one
//! [`http::HeaderMap`] that each request clones (the values are reference-counted
//! bytes, so nothing is parsed or formatted per request).

use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::BenchError;

/// Headers bench must write itself: the framing of the request and the connection
/// (hop-by-hop headers, RFC 9110 §7.6.1, and the ones HTTP/1.1 framing depends on).
pub const FORBIDDEN: [&str; 9] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// What a report shows instead of a secret value.
pub const REDACTED: &str = "<redacted>";

/// The user's `--header` list, checked, in the order given.
#[derive(Debug, Clone, Default)]
pub struct ExtraHeaders {
    pairs: Vec<(HeaderName, HeaderValue)>,
}

impl ExtraHeaders {
    /// Parse every `--header` argument; the first bad one is the error.
    pub fn parse<S: AsRef<str>>(specs: &[S]) -> Result<ExtraHeaders, BenchError> {
        let pairs = specs
            .iter()
            .map(|s| parse_one(s.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(ExtraHeaders { pairs })
    }

    /// No headers were given.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The user sent their own `authorization`, which replaces `--api-key`'s.
    pub fn sets_authorization(&self) -> bool {
        self.pairs.iter().any(|(n, _)| n == AUTHORIZATION)
    }

    /// `name: value` per header, for a report: values of names that look secret
    /// ([`is_secret`]: `authorization`, `x-api-key`, `*-token`, …) are replaced by
    /// [`REDACTED`].
    pub fn redacted(&self) -> Vec<String> {
        self.pairs
            .iter()
            .map(|(n, v)| {
                let shown = if is_secret(n.as_str()) {
                    REDACTED
                } else {
                    v.to_str().unwrap_or("<not UTF-8>")
                };
                format!("{n}: {shown}")
            })
            .collect()
    }

    /// Every request's headers: `content-type: application/json`, `authorization:
    /// Bearer <api_key or "no-key">` (as the openai SDK sends), then the user's headers.
    /// A user header replaces a default of the same name (so `authorization` replaces
    /// the api key); a name given twice is sent twice.
    pub fn request_headers(&self, api_key: Option<&str>) -> Result<HeaderMap, BenchError> {
        let mut map = HeaderMap::new();
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if !self.sets_authorization() {
            let key = api_key.unwrap_or("no-key");
            let mut bearer = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                BenchError::Arg(
                    "--api-key (or OPENAI_API_KEY) holds characters a header cannot carry \
                     (control characters or a line break)"
                        .into(),
                )
            })?;
            bearer.set_sensitive(true);
            map.insert(AUTHORIZATION, bearer);
        }
        for (name, _) in &self.pairs {
            map.remove(name);
        }
        for (name, value) in &self.pairs {
            map.append(name.clone(), value.clone());
        }
        Ok(map)
    }
}

/// Words of a header name (split at `-` and `_`) whose value is a secret.
const SECRET_WORDS: [&str; 10] = [
    "authorization",
    "auth",
    "key",
    "apikey",
    "token",
    "secret",
    "password",
    "cookie",
    "credential",
    "credentials",
];

/// Whether a header's value must not be shown in a report: one word of its name (split
/// at `-` and `_`) is a [`SECRET_WORDS`] entry or ends in `token`, `secret` or `apikey`
/// (`x-api-key`, `x-portkey-virtual-key`, `x-auth-token`, `accesstoken`). Matching whole
/// words keeps `x-portkey-provider` readable: "portkey" is a name, not a key.
pub fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.split(['-', '_']).any(|w| {
        SECRET_WORDS.contains(&w) || ["token", "secret", "apikey"].iter().any(|s| w.ends_with(s))
    })
}

/// Parse one `Name: value`.
pub fn parse_one(spec: &str) -> Result<(HeaderName, HeaderValue), BenchError> {
    let bad = |why: String| BenchError::Arg(format!("--header '{spec}': {why}"));
    let (name, value) = spec
        .split_once(':')
        .ok_or_else(|| bad("write it as 'Name: value', e.g. --header 'x-tenant: acme'".into()))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(bad("the header name is empty".into()));
    }
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        bad(format!(
            "'{name}' is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        ))
    })?;
    if FORBIDDEN.contains(&name.as_str()) {
        return Err(bad(format!(
            "bench sets '{name}' itself (it frames the request or the connection); leave it out"
        )));
    }
    let mut value = HeaderValue::from_str(value.trim()).map_err(|_| {
        bad(
            "the value holds characters a header cannot carry (control characters or a line break)"
                .into(),
        )
    })?;
    value.set_sensitive(is_secret(name.as_str()));
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(spec: &str) -> String {
        match parse_one(spec) {
            Err(e) => e.to_string(),
            Ok(h) => format!("accepted as {h:?}"),
        }
    }

    #[test]
    fn a_good_header_parses_with_its_value_trimmed() {
        let (n, v) = parse_one("X-Portkey-Provider:  openai ").unwrap();
        assert_eq!(n.as_str(), "x-portkey-provider");
        assert_eq!(v, "openai");
        let (n, v) = parse_one("x-custom-host: http://127.0.0.1:9/deepseek/global").unwrap();
        assert_eq!(
            (n.as_str(), v.to_str().unwrap()),
            ("x-custom-host", "http://127.0.0.1:9/deepseek/global")
        );
        let (_, v) = parse_one("x-empty:").unwrap();
        assert_eq!(v, "");
    }

    #[test]
    fn a_header_without_a_colon_or_with_a_bad_name_is_refused_naming_the_flag() {
        for spec in ["no-colon", ": value", "bad name: v", "x(y): v", "é: v"] {
            let e = err(spec);
            assert!(e.starts_with("--header '"), "{spec}: {e}");
            assert!(!e.contains("accepted"), "{spec}: {e}");
        }
        assert!(err("bad name: v").contains("not a valid header name"));
    }

    #[test]
    fn a_value_with_a_line_break_or_control_character_is_refused() {
        for spec in [
            "x-a: one\r\nx-injected: two",
            "x-a: bell\u{7}",
            "x-a: nul\0",
        ] {
            let e = err(spec);
            assert!(e.contains("cannot carry"), "{spec:?}: {e}");
        }
    }

    #[test]
    fn headers_bench_controls_are_refused_in_any_case() {
        for name in FORBIDDEN {
            let e = err(&format!("{}: x", name.to_ascii_uppercase()));
            assert!(e.contains("bench sets"), "{name}: {e}");
        }
    }

    #[test]
    fn authorization_replaces_the_api_key_and_other_headers_are_added() {
        let h = ExtraHeaders::parse(&["Authorization: Basic abc", "x-a: 1", "x-a: 2"]).unwrap();
        assert!(h.sets_authorization());
        let map = h.request_headers(Some("sk-secret")).unwrap();
        let auth: Vec<_> = map.get_all(AUTHORIZATION).iter().collect();
        assert_eq!(auth, ["Basic abc"]);
        let xa: Vec<_> = map.get_all("x-a").iter().collect();
        assert_eq!(xa, ["1", "2"]);
        assert_eq!(map[CONTENT_TYPE], "application/json");

        let none = ExtraHeaders::default().request_headers(None).unwrap();
        assert_eq!(none[AUTHORIZATION], "Bearer no-key");
        let keyed = ExtraHeaders::default().request_headers(Some("k1")).unwrap();
        assert_eq!(keyed[AUTHORIZATION], "Bearer k1");
    }

    #[test]
    fn a_user_content_type_replaces_the_default_one() {
        let h = ExtraHeaders::parse(&["content-type: application/json; charset=utf-8"]).unwrap();
        let map = h.request_headers(None).unwrap();
        let ct: Vec<_> = map.get_all(CONTENT_TYPE).iter().collect();
        assert_eq!(ct, ["application/json; charset=utf-8"]);
    }

    #[test]
    fn an_api_key_that_cannot_be_a_header_is_an_argument_error() {
        let e = ExtraHeaders::default().request_headers(Some("a\nb"));
        assert!(matches!(e, Err(BenchError::Arg(m)) if m.contains("--api-key")));
    }

    #[test]
    fn secret_values_are_redacted_in_the_report() {
        let h = ExtraHeaders::parse(&[
            "Authorization: Bearer sk-1",
            "x-api-key: sk-2",
            "x-portkey-virtual-key: vk",
            "x-goog-user-token: t",
            "x-portkey-provider: openai",
            "Cookie: session=1",
            "x-client-secret: s",
        ])
        .unwrap();
        assert_eq!(
            h.redacted(),
            [
                "authorization: <redacted>",
                "x-api-key: <redacted>",
                "x-portkey-virtual-key: <redacted>",
                "x-goog-user-token: <redacted>",
                "x-portkey-provider: openai",
                "cookie: <redacted>",
                "x-client-secret: <redacted>",
            ]
        );
        for readable in [
            "x-portkey-provider",
            "x-portkey-custom-host",
            "x-keyboard",
            "monkey",
        ] {
            assert!(!is_secret(readable), "{readable}");
        }
    }
}
