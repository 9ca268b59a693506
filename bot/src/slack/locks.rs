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

    /// The lock on `key` if nobody holds it now.
    pub(crate) fn try_lock(&self, key: &str) -> Option<KeyGuard> {
        match self.entry(key).try_lock_owned() {
            Ok(guard) => Some(self.guard(key, guard)),
            Err(_) => {
                self.forget_if_unused(key);
                None
            }
        }
    }

    fn guard(&self, key: &str, guard: OwnedMutexGuard<()>) -> KeyGuard {
        KeyGuard {
            guard: Some(guard),
            key: key.to_owned(),
            map: self.map.clone(),
        }
    }

    fn forget_if_unused(&self, key: &str) {
        forget_if_unused(&self.map, key);
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
        assert!(locks.try_lock("a").is_none());
        let b = locks.try_lock("b").unwrap();
        assert_eq!(locks.len(), 2);
        drop(a);
        drop(b);
        assert_eq!(locks.len(), 0);
        assert!(locks.try_lock("a").is_some());
        assert_eq!(locks.len(), 0);
    }
}
