//! `[fallbacks]`: model → models to try, in order, when every region failed. Whether the
//! models exist is checked when the gateway starts, where the catalog is known.

use std::collections::BTreeMap;

use toml::Spanned;

use super::check::Source;

/// Every `[fallbacks]` entry, and the line of each.
pub(super) type Fallbacks = (BTreeMap<String, Vec<String>>, BTreeMap<String, usize>);

/// `[fallbacks]`, with the line of each entry.
pub(super) fn validate(src: Source<'_>, raw: BTreeMap<String, Spanned<Vec<String>>>) -> Fallbacks {
    let mut fallbacks = BTreeMap::new();
    let mut lines = BTreeMap::new();
    for (from, to) in raw {
        lines.insert(from.clone(), src.line(to.span().start));
        fallbacks.insert(from, to.into_inner());
    }
    (fallbacks, lines)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn fallbacks_remember_their_lines() {
        let c = Config::parse(
            "[fallbacks]\n\"deepseek-v4-flash\" = [\"qwen3-32b\"]\n",
            "c",
        )
        .unwrap();
        assert_eq!(
            c.fallbacks["deepseek-v4-flash"],
            vec!["qwen3-32b".to_string()]
        );
        assert_eq!(c.fallback_lines["deepseek-v4-flash"], 2);
    }
}
