//! Simulated prompt caching: a repeated first message is (partly) served from cache.
//!
//! We remember hashes of (provider, first message text). On a repeat, the cached part is
//! the first message's tokens rounded down to a multiple of [`CACHE_BLOCK`] — the 64-token
//! granularity DeepSeek documents. The set is bounded: it is emptied when it reaches
//! [`CACHE_CAPACITY`] entries.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use switchyard_wire::{Content, Message, tokens};

/// Tokens per cache block.
pub(crate) const CACHE_BLOCK: u64 = 64;
/// Entries kept before the set is cleared.
pub(crate) const CACHE_CAPACITY: usize = 10_000;

/// The set of prompts seen.
#[derive(Debug, Default)]
pub(crate) struct PromptCache {
    seen: Mutex<HashSet<u64>>,
}

fn key(provider: &str, first: &Message) -> u64 {
    let mut h = DefaultHasher::new();
    provider.hash(&mut h);
    match &first.content {
        None => {}
        Some(Content::Text(t)) => t.hash(&mut h),
        Some(Content::Parts(parts)) => {
            for t in parts.iter().filter_map(|p| p.text.as_deref()) {
                t.hash(&mut h);
            }
        }
    }
    h.finish()
}

impl PromptCache {
    /// Record the prompt and return its cached tokens (0 on a first sight).
    pub(crate) fn observe(&self, provider: &str, messages: &[Message]) -> u64 {
        let Some(first) = messages.first() else {
            return 0;
        };
        let k = key(provider, first);
        let hit = {
            let mut seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if seen.contains(&k) {
                true
            } else {
                if seen.len() >= CACHE_CAPACITY {
                    seen.clear();
                }
                seen.insert(k);
                false
            }
        };
        if hit {
            tokens::estimate_message(first) / CACHE_BLOCK * CACHE_BLOCK
        } else {
            0
        }
    }

    /// Entries held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.lock().map(|s| s.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_wire::Role;

    #[test]
    fn repeat_of_a_long_first_message_is_cached_in_64_token_blocks() {
        let c = PromptCache::default();
        let long = Message::text(Role::System, " word".repeat(150));
        let msgs = vec![long.clone(), Message::text(Role::User, "hi")];
        assert_eq!(c.observe("deepseek", &msgs), 0);
        // 150 words + 4 tokens of message overhead = 154 → 128 cached.
        assert_eq!(c.observe("deepseek", &msgs), 128);
        assert_eq!(c.observe("zhipu", &msgs), 0, "per provider");
        assert_eq!(
            c.observe("deepseek", &[Message::text(Role::User, "short")]),
            0
        );
        assert_eq!(
            c.observe("deepseek", &[Message::text(Role::User, "short")]),
            0,
            "under one block"
        );
    }

    #[test]
    fn the_set_is_bounded() {
        let c = PromptCache::default();
        for i in 0..CACHE_CAPACITY + 5 {
            c.observe("p", &[Message::text(Role::User, i.to_string())]);
        }
        assert!(c.len() <= CACHE_CAPACITY);
    }
}
