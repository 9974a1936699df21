//! Model-name normalisation, shared by the index and by lookups.

use std::borrow::Cow;

/// Normalises a model name for lookup.
///
/// Steps: trim; strip one leading `<vendor>/` prefix (everything up to and including the
/// first `/`, e.g. `Qwen/`, `deepseek-ai/`, `moonshotai/`, `zai-org/`); trim again;
/// ASCII-lowercase; map `_` and ` ` to `-`. Dots are kept (`kimi-k2.5` ≠ `kimi-k2-5`; the
/// catalog lists such spellings as aliases instead).
///
/// Borrows when the input is already normal, so the common lookup allocates nothing;
/// otherwise allocates one string of the input's length.
///
/// ```
/// use switchyard_catalog::normalize_name;
/// assert_eq!(normalize_name("Qwen/Qwen3-32B"), "qwen3-32b");
/// assert_eq!(normalize_name(" QWEN3_32B "), "qwen3-32b");
/// assert_eq!(normalize_name("Kimi K2.5"), "kimi-k2.5");
/// ```
pub fn normalize_name(name: &str) -> Cow<'_, str> {
    let mut s = name.trim();
    if let Some(pos) = s.find('/') {
        s = s.get(pos + 1..).unwrap_or("").trim();
    }
    if !s
        .bytes()
        .any(|b| b.is_ascii_uppercase() || b == b'_' || b == b' ')
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        out.push(match ch {
            '_' | ' ' => '-',
            c => c.to_ascii_lowercase(),
        });
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_lowercases_maps_separators_and_strips_one_vendor_prefix() {
        for raw in [
            "qwen3-32b",
            "Qwen3-32B",
            "qwen/qwen3-32b",
            "Qwen/Qwen3-32B",
            "QWEN3_32B",
            "  qwen3 32b ",
        ] {
            assert_eq!(normalize_name(raw), "qwen3-32b", "{raw}");
        }
        // Only one prefix is stripped.
        assert_eq!(
            normalize_name("openrouter/qwen/qwen3-32b"),
            "qwen/qwen3-32b"
        );
        assert_eq!(normalize_name("qwen/"), "");
        assert_eq!(normalize_name("Überset_ZUNG"), "Überset-zung");
    }

    #[test]
    fn already_normal_names_are_borrowed() {
        assert!(matches!(normalize_name("glm-4.6"), Cow::Borrowed(_)));
        assert!(matches!(
            normalize_name("zai-org/glm-4.6"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(normalize_name("GLM-4.6"), Cow::Owned(_)));
    }
}
