//! Reused answers of methods that declare a fingerprint ([`ApiMethod::fingerprint`]).
//!
//! A large list (1,000 guests) costs milliseconds to build and serialise, while the
//! state it shows changes rarely. Such a method names the state it reads in a cheap
//! fingerprint (the pmxcfs change stamp, the running processes); an answer is reused
//! only for the same server root, format, method, caller (user and token) and
//! parameters, and only while the fingerprint is unchanged. Only successful answers
//! are kept, a few of them, bounded in number and bytes.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;

/// The answers kept at most, and their bytes at most.
const MAX_ENTRIES: usize = 32;
const MAX_BYTES: usize = 16 << 20;

#[derive(Default)]
pub struct AnswerCache {
    /// Oldest first.
    entries: Mutex<VecDeque<(String, Bytes)>>,
}

impl AnswerCache {
    /// The kept answer of `key`, if any.
    pub fn get(&self, key: &str) -> Option<Bytes> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, b)| b.clone())
    }

    /// Keeps `body` as the answer of `key`, dropping older answers of the same key and
    /// the oldest ones beyond the bounds.
    pub fn put(&self, key: String, body: Bytes) {
        if body.len() > MAX_BYTES {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(k, _)| *k != key);
        entries.push_back((key, body));
        let mut total: usize = entries.iter().map(|(_, b)| b.len()).sum();
        while entries.len() > MAX_ENTRIES || total > MAX_BYTES {
            match entries.pop_front() {
                Some((_, b)) => total -= b.len(),
                None => break,
            }
        }
    }
}

/// The answers of this process.
pub fn global() -> &'static AnswerCache {
    static CACHE: std::sync::OnceLock<AnswerCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The key of one call: every input of the answer but the state the fingerprint covers.
pub fn key(
    root: &std::path::Path,
    format: &str,
    method: &pve_common::api::ApiMethod,
    auth: &pve_common::api::AuthId,
    params: &pve_common::api::Params,
    fingerprint: &str,
) -> String {
    // serde_json writes a map's keys in one order, so equal parameters give equal text.
    let params = serde_json::to_string(&params.0).unwrap_or_default();
    format!(
        "{}\0{format}\0{} {}\0{}\0{}\0{params}\0{fingerprint}",
        root.display(),
        method.method.as_str(),
        method.name,
        auth.user,
        auth.token.as_deref().unwrap_or(""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_answer_per_key_within_bounds() {
        let c = AnswerCache::default();
        assert!(c.get("a").is_none());
        c.put("a".into(), Bytes::from_static(b"1"));
        c.put("a".into(), Bytes::from_static(b"2"));
        assert_eq!(c.get("a").unwrap(), Bytes::from_static(b"2"));
        for i in 0..MAX_ENTRIES {
            c.put(format!("k{i}"), Bytes::from_static(b"x"));
        }
        assert!(c.get("a").is_none(), "the oldest answer is dropped");
        assert!(c.get(&format!("k{}", MAX_ENTRIES - 1)).is_some());
        c.put("big".into(), Bytes::from(vec![0u8; MAX_BYTES + 1]));
        assert!(c.get("big").is_none());
    }
}
