//! Async locks by key (one request's card, one session's thread), forgotten
//! when nobody holds or waits for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Debug, Default)]
pub(crate) struct KeyedLocks {
    map: Arc<Mutex<HashMap<String, Arc<AsyncMutex<()>>>>>,
}

/// Held while working on the key; dropping it releases the lock and forgets
/// the key when it was the last user.
pub(crate) struct KeyGuard {
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
    pub(crate) async fn lock(&self, key: &str) -> KeyGuard {
        let guard = self.entry(key).lock_owned().await;
        self.guard(key, guard)
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
}
