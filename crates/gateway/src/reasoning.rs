//! Remembers the reasoning that preceded each tool call, so that when a client sends the
//! conversation back without it (most SDK users do), the gateway can restore it for
//! vendors that demand it (DeepSeek and Kimi in thinking mode).
//!
//! Tool-call ids alone are no secret (Kimi's are `functions.get_weather:0`), so an entry
//! is found only by the caller who caused it: its key is a digest of the caller (gateway
//! key id; with keys off, every caller is the same tenant), the whole conversation before
//! the assistant turn (roles, texts, tool calls and tool results, reasoning left out), and
//! the tool-call id. Another key, or a caller that does not hold that conversation, can
//! neither read an entry nor plant one that someone else would get. The cache is bounded
//! in entries, bytes and age.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use switchyard_wire::{Message, Role};

/// Entries kept at most.
pub(crate) const MAX_ENTRIES: usize = 100_000;
/// Reasoning bytes kept at most, over all entries.
pub(crate) const MAX_BYTES: usize = 64 * 1024 * 1024;
/// One reasoning text longer than this is not kept.
pub(crate) const MAX_ENTRY_BYTES: usize = 256 * 1024;
/// How long an entry lives.
pub(crate) const TTL: Duration = Duration::from_secs(60 * 60);

type EntryKey = [u8; 32];

/// A conversation as seen by the cache: who is asking and what was said so far.
#[derive(Clone)]
pub(crate) struct Conversation {
    hasher: Sha256,
}

impl std::fmt::Debug for Conversation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Conversation")
    }
}

impl Conversation {
    /// An empty conversation of `owner` (the gateway key id, or `""` with keys off).
    pub(crate) fn new(owner: &str) -> Self {
        let mut hasher = Sha256::new();
        field(&mut hasher, owner.as_bytes());
        Conversation { hasher }
    }

    /// Add one message (its reasoning is left out: clients drop it, the gateway restores it).
    pub(crate) fn push(&mut self, m: &Message) {
        let h = &mut self.hasher;
        field(h, role_tag(m.role).as_bytes());
        field(h, m.text_content().as_bytes());
        field(h, m.tool_call_id.as_deref().unwrap_or_default().as_bytes());
        for call in m.tool_calls.iter().flatten() {
            field(h, call.id.as_deref().unwrap_or_default().as_bytes());
            let f = call.function.as_ref();
            field(
                h,
                f.and_then(|f| f.name.as_deref())
                    .unwrap_or_default()
                    .as_bytes(),
            );
            field(
                h,
                f.and_then(|f| f.arguments.as_deref())
                    .unwrap_or_default()
                    .as_bytes(),
            );
        }
    }

    fn entry(&self, call_id: &str) -> EntryKey {
        let mut h = self.hasher.clone();
        field(&mut h, b"call");
        field(&mut h, call_id.as_bytes());
        h.finalize().into()
    }
}

/// Length-prefixed, so that no two different message lists hash the same stream.
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn role_tag(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::Developer => "developer",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
        Role::Function => "function",
    }
}

/// Bounded map from (caller, conversation, tool-call id) to the reasoning of the turn
/// that made the call.
#[derive(Debug)]
pub(crate) struct ReasoningCache {
    inner: Mutex<Inner>,
    max_entries: usize,
    max_bytes: usize,
    ttl: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<EntryKey, Entry>,
    /// Insertion order, oldest first (an entry replaced in place keeps its first slot).
    order: VecDeque<EntryKey>,
    bytes: usize,
}

#[derive(Debug)]
struct Entry {
    text: Arc<str>,
    at: Instant,
}

impl Inner {
    fn evict_oldest(&mut self) {
        if let Some(old) = self.order.pop_front()
            && let Some(e) = self.map.remove(&old)
        {
            self.bytes = self.bytes.saturating_sub(e.text.len());
        }
    }
}

impl Default for ReasoningCache {
    fn default() -> Self {
        ReasoningCache::new(MAX_ENTRIES, MAX_BYTES, TTL)
    }
}

impl ReasoningCache {
    /// A cache of at most `max_entries` entries and `max_bytes` of text, each kept `ttl`.
    pub(crate) fn new(max_entries: usize, max_bytes: usize, ttl: Duration) -> Self {
        ReasoningCache {
            inner: Mutex::new(Inner::default()),
            max_entries,
            max_bytes,
            ttl,
        }
    }

    /// Remember `reasoning` for every id in `call_ids`, made in answer to `conv` (the
    /// whole request as the client sent it).
    pub(crate) fn insert<'a>(
        &self,
        conv: &Conversation,
        call_ids: impl IntoIterator<Item = &'a str>,
        reasoning: &str,
    ) {
        if reasoning.is_empty() || reasoning.len() > MAX_ENTRY_BYTES.min(self.max_bytes) {
            return;
        }
        let text: Arc<str> = Arc::from(reasoning);
        let now = Instant::now();
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        for id in call_ids {
            let key = conv.entry(id);
            let entry = Entry {
                text: Arc::clone(&text),
                at: now,
            };
            match inner.map.insert(key, entry) {
                Some(old) => inner.bytes = inner.bytes.saturating_sub(old.text.len()),
                None => inner.order.push_back(key),
            }
            inner.bytes = inner.bytes.saturating_add(text.len());
            while inner.order.len() > self.max_entries || inner.bytes > self.max_bytes {
                inner.evict_oldest();
            }
        }
    }

    /// The reasoning recorded for `call_id` after `conv`, if it has not expired.
    pub(crate) fn get(&self, conv: &Conversation, call_id: &str) -> Option<Arc<str>> {
        let key = conv.entry(call_id);
        let mut inner = self.inner.lock().ok()?;
        // Expired entries are dropped oldest first, as they are met.
        while let Some(front) = inner.order.front()
            && inner
                .map
                .get(front)
                .is_none_or(|e| e.at.elapsed() >= self.ttl)
        {
            inner.evict_oldest();
        }
        inner
            .map
            .get(&key)
            .filter(|e| e.at.elapsed() < self.ttl)
            .map(|e| Arc::clone(&e.text))
    }

    /// Put back reasoning the client dropped from assistant tool-call turns of
    /// `messages`, sent by `owner`; returns the conversation of the whole list (for
    /// remembering the answer's reasoning).
    pub(crate) fn restore(&self, owner: &str, messages: &mut [Message]) -> Conversation {
        let mut conv = Conversation::new(owner);
        for m in messages {
            if m.role == Role::Assistant && m.reasoning_content.is_none() {
                let first_id = m
                    .tool_calls
                    .as_ref()
                    .and_then(|c| c.first())
                    .and_then(|c| c.id.as_deref());
                if let Some(r) = first_id.and_then(|id| self.get(&conv, id)) {
                    m.reasoning_content = Some(r.to_string());
                }
            }
            conv.push(m);
        }
        conv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(owner: &str, text: &str) -> Conversation {
        let mut c = Conversation::new(owner);
        c.push(&Message::text(Role::User, text));
        c
    }

    #[test]
    fn remembers_and_evicts_oldest() {
        let c = ReasoningCache::new(2, MAX_BYTES, TTL);
        let k = conv("", "q");
        c.insert(&k, ["a"], "ra");
        c.insert(&k, ["b", "c"], "rbc");
        assert!(c.get(&k, "a").is_none());
        assert_eq!(c.get(&k, "c").as_deref(), Some("rbc"));
    }

    #[test]
    fn empty_or_oversized_reasoning_is_not_stored() {
        let c = ReasoningCache::default();
        let k = conv("", "q");
        c.insert(&k, ["a"], "");
        c.insert(&k, ["b"], &"x".repeat(MAX_ENTRY_BYTES + 1));
        assert!(c.get(&k, "a").is_none());
        assert!(c.get(&k, "b").is_none());
    }

    #[test]
    fn another_owner_or_another_conversation_does_not_see_an_entry() {
        let c = ReasoningCache::default();
        c.insert(
            &conv("key-a", "weather?"),
            ["functions.get_weather:0"],
            "secret",
        );
        assert!(
            c.get(&conv("key-b", "weather?"), "functions.get_weather:0")
                .is_none()
        );
        assert!(
            c.get(&conv("key-a", "other"), "functions.get_weather:0")
                .is_none()
        );
        assert_eq!(
            c.get(&conv("key-a", "weather?"), "functions.get_weather:0")
                .as_deref(),
            Some("secret")
        );
    }

    #[test]
    fn bytes_are_bounded_oldest_first() {
        let c = ReasoningCache::new(100, 10, TTL);
        let k = conv("", "q");
        c.insert(&k, ["a"], "123456");
        c.insert(&k, ["b"], "789012");
        assert!(c.get(&k, "a").is_none(), "12 bytes > 10: the oldest goes");
        assert_eq!(c.get(&k, "b").as_deref(), Some("789012"));
    }

    #[test]
    fn entries_expire() {
        let c = ReasoningCache::new(100, MAX_BYTES, Duration::ZERO);
        let k = conv("", "q");
        c.insert(&k, ["a"], "ra");
        assert!(c.get(&k, "a").is_none());
        assert!(
            c.inner.lock().unwrap().map.is_empty(),
            "expired entries are dropped"
        );
    }

    #[test]
    fn fields_are_length_prefixed() {
        let mut a = Conversation::new("");
        a.push(&Message::text(Role::User, "ab"));
        a.push(&Message::text(Role::User, "c"));
        let mut b = Conversation::new("");
        b.push(&Message::text(Role::User, "a"));
        b.push(&Message::text(Role::User, "bc"));
        assert_ne!(a.entry("x"), b.entry("x"));
    }
}
