//! Remembers the reasoning that preceded each tool call, so that when a client sends the
//! conversation back without it (most SDK users do), the gateway can restore it for
//! vendors that demand it (DeepSeek and Kimi in thinking mode).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Bounded map from tool-call id to the reasoning text of the turn that made the call.
#[derive(Debug)]
pub struct ReasoningCache {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, Arc<str>>,
    order: VecDeque<String>,
}

impl ReasoningCache {
    /// A cache holding at most `capacity` entries (oldest evicted first).
    pub fn new(capacity: usize) -> Self {
        ReasoningCache {
            inner: Mutex::new(Inner::default()),
            capacity,
        }
    }

    /// Remember `reasoning` for every id in `call_ids`.
    pub fn insert<'a>(&self, call_ids: impl IntoIterator<Item = &'a str>, reasoning: &str) {
        if reasoning.is_empty() {
            return;
        }
        let text: Arc<str> = Arc::from(reasoning);
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        for id in call_ids {
            if inner.map.insert(id.to_string(), text.clone()).is_none() {
                inner.order.push_back(id.to_string());
            }
            while inner.order.len() > self.capacity {
                if let Some(old) = inner.order.pop_front() {
                    inner.map.remove(&old);
                }
            }
        }
    }

    /// The reasoning recorded for `call_id`.
    pub fn get(&self, call_id: &str) -> Option<Arc<str>> {
        self.inner.lock().ok()?.map.get(call_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_evicts_oldest() {
        let c = ReasoningCache::new(2);
        c.insert(["a"], "ra");
        c.insert(["b", "c"], "rbc");
        assert!(c.get("a").is_none());
        assert_eq!(c.get("c").as_deref(), Some("rbc"));
    }

    #[test]
    fn empty_reasoning_is_not_stored() {
        let c = ReasoningCache::new(2);
        c.insert(["a"], "");
        assert!(c.get("a").is_none());
    }
}
