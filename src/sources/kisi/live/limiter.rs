//! Kisi's request limits, kept on our side so that a healthy source never sees a 429:
//! 5 requests per second per user and one `POST /event_sets` per second (brief §3).
//!
//! One limiter per credential and host, shared by every source that uses it: the quota
//! belongs to the Kisi user, not to our task.

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// Requests allowed per [`WINDOW`].
const REQUESTS: usize = 5;
/// Kisi counts per second; the margin absorbs scheduling and network jitter, which can
/// make two of our requests arrive closer together than we sent them.
const WINDOW: Duration = Duration::from_millis(1_100);
/// Spacing of `POST /event_sets` (1 per second at Kisi), with the same margin.
const CREATE_SET_EVERY: Duration = Duration::from_millis(1_100);

#[derive(Default)]
struct Slots {
    /// When our recent requests went out, oldest first.
    sent: VecDeque<Instant>,
    last_create_set: Option<Instant>,
}

/// A sliding-window limiter for one Kisi credential.
#[derive(Default)]
pub struct Limiter {
    slots: Mutex<Slots>,
}

impl Limiter {
    /// The limiter shared by every source that talks to `base_url` with `key`. Keyed
    /// by a hash so the registry holds no secret.
    pub fn for_credential(base_url: &str, key: &str) -> Arc<Limiter> {
        static REGISTRY: OnceLock<Mutex<HashMap<[u8; 32], Arc<Limiter>>>> = OnceLock::new();
        let mut hash = Sha256::new();
        hash.update(base_url.as_bytes());
        hash.update([0]);
        hash.update(key.as_bytes());
        let id: [u8; 32] = hash.finalize().into();
        let mut registry = REGISTRY
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        registry.entry(id).or_default().clone()
    }

    /// Wait for a slot for any request.
    pub async fn request(&self) {
        self.acquire(false).await;
    }

    /// Wait for a slot for `POST /event_sets` (which also counts as a request).
    pub async fn create_set(&self) {
        self.acquire(true).await;
    }

    async fn acquire(&self, create_set: bool) {
        loop {
            let wait = self.try_take(create_set, Instant::now());
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
    }

    /// Take a slot now, or say how long to wait before asking again.
    fn try_take(&self, create_set: bool, now: Instant) -> Option<Duration> {
        let mut s = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        while s
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            s.sent.pop_front();
        }
        let mut wait = Duration::ZERO;
        if s.sent.len() >= REQUESTS
            && let Some(oldest) = s.sent.front()
        {
            wait = wait.max(WINDOW - now.duration_since(*oldest));
        }
        if create_set && let Some(last) = s.last_create_set {
            wait = wait.max(CREATE_SET_EVERY.saturating_sub(now.duration_since(last)));
        }
        if !wait.is_zero() {
            return Some(wait);
        }
        s.sent.push_back(now);
        if create_set {
            s.last_create_set = Some(now);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_per_window_then_wait_for_the_oldest() {
        let l = Limiter::default();
        let t0 = Instant::now();
        for i in 0..REQUESTS {
            let at = t0 + Duration::from_millis(10 * i as u64);
            assert_eq!(l.try_take(false, at), None);
        }
        let at = t0 + Duration::from_millis(100);
        assert_eq!(
            l.try_take(false, at),
            Some(WINDOW - Duration::from_millis(100))
        );
        assert_eq!(l.try_take(false, t0 + WINDOW), None);
    }

    #[test]
    fn event_set_posts_are_spaced() {
        let l = Limiter::default();
        let t0 = Instant::now();
        assert_eq!(l.try_take(true, t0), None);
        // Other requests may go meanwhile.
        assert_eq!(l.try_take(false, t0), None);
        let at = t0 + Duration::from_millis(300);
        assert_eq!(
            l.try_take(true, at),
            Some(CREATE_SET_EVERY - Duration::from_millis(300))
        );
        assert_eq!(l.try_take(true, t0 + CREATE_SET_EVERY), None);
    }

    #[test]
    fn one_limiter_per_credential_and_host() {
        let a = Limiter::for_credential("http://h1", "k1");
        assert!(Arc::ptr_eq(&a, &Limiter::for_credential("http://h1", "k1")));
        assert!(!Arc::ptr_eq(
            &a,
            &Limiter::for_credential("http://h1", "k2")
        ));
        assert!(!Arc::ptr_eq(
            &a,
            &Limiter::for_credential("http://h2", "k1")
        ));
    }
}
