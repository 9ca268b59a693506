//! Per-card ordering: async locks by key (one request's card, one session's
//! thread), forgotten when nobody holds or waits for them. Tokio's mutex
//! queues waiters first come, first served, so updates to one card are
//! applied in the order they asked for it; different cards never wait for
//! each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Debug, Default)]
pub struct KeyedLocks {
    map: Arc<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>>,
}

/// Held while working on the key; dropping it releases the lock and forgets
/// the key when it was the last user.
pub struct KeyGuard {
    /// Holds a reference to the lock itself; taken out first on drop.
    guard: Option<OwnedMutexGuard<()>>,
    key: String,
    map: Arc<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>>,
}

impl KeyedLocks {
    fn entry(&self, key: &str) -> Arc<AsyncMutex<()>> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_owned()).or_default().clone()
    }

    /// Waits for the lock on `key`.
    pub async fn lock(&self, key: &str) -> KeyGuard {
        let guard = self.entry(key).lock_owned().await;
        self.guard(key, guard)
    }

    /// Waits for the lock on one request's card.
    pub async fn lock_card(&self, request_id: &str) -> KeyGuard {
        self.lock(&card_key(request_id)).await
    }

    fn guard(&self, key: &str, guard: OwnedMutexGuard<()>) -> KeyGuard {
        KeyGuard {
            guard: Some(guard),
            key: key.to_owned(),
            map: self.map.clone(),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Holders and waiters of `key`, the map's own reference aside.
    #[cfg(test)]
    fn waiters(&self, key: &str) -> usize {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).map_or(0, |l| Arc::strong_count(l) - 1)
    }
}

fn card_key(request_id: &str) -> String {
    format!("card:{request_id}")
}

fn forget_if_unused(map: &Mutex<HashMap<String, Arc<AsyncMutex<()>>>>, key: &str) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    // Only the map's own reference left: nobody holds or waits.
    if map.get(key).is_some_and(|l| Arc::strong_count(l) == 1) {
        map.remove(key);
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        // Release first, so the count check sees only the map's reference
        // and any waiter's.
        self.guard.take();
        forget_if_unused(&self.map, &self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_are_forgotten_when_released() {
        let locks = KeyedLocks::default();
        let a = locks.lock("a").await;
        let b = locks.lock("b").await;
        assert_eq!(locks.len(), 2);
        // A second locker of "a" waits until the first lets go.
        let second =
            tokio::time::timeout(std::time::Duration::from_millis(50), locks.lock("a")).await;
        assert!(second.is_err(), "\"a\" was locked twice");
        drop(a);
        drop(b);
        assert_eq!(locks.len(), 0);
        drop(locks.lock("a").await);
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn updates_to_one_card_are_applied_in_the_order_they_arrive() {
        let locks = Arc::new(KeyedLocks::default());
        let applied = Arc::new(Mutex::new(Vec::new()));
        let first = locks.lock_card("apr_1").await;
        let mut tasks = Vec::new();
        for n in 0..20 {
            let (l, a) = (locks.clone(), applied.clone());
            tasks.push(tokio::spawn(async move {
                let _card = l.lock_card("apr_1").await;
                // Yield while holding the card, as a Web API call would.
                tokio::task::yield_now().await;
                a.lock().unwrap().push(n);
            }));
            // Let task n queue before task n + 1 starts.
            while locks.waiters("card:apr_1") < n + 2 {
                tokio::task::yield_now().await;
            }
        }
        // Another card is not held up by this one.
        drop(
            tokio::time::timeout(std::time::Duration::from_secs(1), locks.lock_card("apr_2"))
                .await
                .unwrap(),
        );
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*applied.lock().unwrap(), (0..20).collect::<Vec<_>>());
        assert_eq!(locks.len(), 0);
    }
}
