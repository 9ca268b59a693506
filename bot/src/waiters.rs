//! Long-poll waiters: `GET /v1/approvals/{id}?wait=SECS` sleeps here until the
//! request reaches a final state, with no polling of the store.
//!
//! A waiter subscribes *before* it reads the record, so a decision that lands
//! between the read and the wait still wakes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

#[derive(Debug, Default, Clone)]
pub struct Waiters {
    map: Arc<Mutex<HashMap<String, watch::Sender<()>>>>,
}

/// One subscription; dropping it forgets the entry when it was the last.
#[derive(Debug)]
pub struct Waiter {
    rx: watch::Receiver<()>,
    id: String,
    map: Arc<Mutex<HashMap<String, watch::Sender<()>>>>,
}

impl Waiters {
    pub fn subscribe(&self, request_id: &str) -> Waiter {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let tx = map
            .entry(request_id.to_owned())
            .or_insert_with(|| watch::channel(()).0);
        Waiter {
            rx: tx.subscribe(),
            id: request_id.to_owned(),
            map: self.map.clone(),
        }
    }

    /// Wakes every waiter on `request_id`.
    pub fn wake(&self, request_id: &str) {
        let tx = self
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(request_id);
        if let Some(tx) = tx {
            tx.send_replace(());
        }
    }

    /// Number of request ids with someone waiting (for tests and metrics).
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Waiter {
    /// Resolves when the request is woken.
    pub async fn woken(&mut self) {
        // An error means the sender was dropped by `wake`, which also counts.
        let _ = self.rx.changed().await;
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = map.get(&self.id) {
            // Our own receiver and the probe are both alive here, hence `<= 2`.
            let probe = tx.subscribe();
            if probe.same_channel(&self.rx) && tx.receiver_count() <= 2 {
                map.remove(&self.id);
            }
        }
    }
}
