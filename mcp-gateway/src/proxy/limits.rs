//! Limits that hold however a client behaves: how deep a call's arguments
//! may nest, and how many calls may be held at once per session and per
//! gateway. Past a limit the call is refused clearly and nothing is
//! forwarded or created.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// Deepest nesting of a call's arguments the gateway accepts (the arguments
/// object itself is level 1); the approval service caps at the same depth.
pub use hitl_wire::MAX_ARGUMENT_DEPTH;

/// Held calls one downstream session may have open at once.
pub const MAX_HELD_PER_SESSION: usize = 1_000;

/// Held calls the whole gateway may have open at once.
pub const MAX_HELD_PER_GATEWAY: usize = 10_000;

/// How deep `v` nests (a scalar is 0, `{}` or `[]` is 1). Iterative, so a
/// hostile value cannot overflow the stack.
pub fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 1usize)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Object(m) => Box::new(m.values()),
            Value::Array(a) => Box::new(a.iter()),
            _ => continue,
        };
        deepest = deepest.max(d);
        stack.extend(children.map(|c| (c, d + 1)));
    }
    deepest
}

/// Why a call's arguments are refused, if they are.
pub fn check_depth(arguments: &Value) -> Result<(), String> {
    let d = depth(arguments);
    if d > MAX_ARGUMENT_DEPTH {
        return Err(format!(
            "the call's arguments nest {d} levels deep; the gateway accepts at most {MAX_ARGUMENT_DEPTH}. It was not forwarded."
        ));
    }
    Ok(())
}

/// Counts of held calls, per session and in all.
#[derive(Debug)]
pub struct HeldCounts {
    inner: Arc<Mutex<Counts>>,
    per_session: usize,
    per_gateway: usize,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_session: HashMap<u64, usize>,
}

impl Default for HeldCounts {
    fn default() -> Self {
        Self::with_caps(MAX_HELD_PER_SESSION, MAX_HELD_PER_GATEWAY)
    }
}

/// One held call's place; it is given back when dropped.
#[derive(Debug)]
pub struct HeldSlot {
    inner: Arc<Mutex<Counts>>,
    session: u64,
}

impl HeldCounts {
    pub fn with_caps(per_session: usize, per_gateway: usize) -> Self {
        Self {
            inner: Arc::default(),
            per_session,
            per_gateway,
        }
    }

    /// A place for one more held call of `session`, or why there is none.
    pub fn take(&self, session: u64) -> Result<HeldSlot, String> {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if c.total >= self.per_gateway {
            return Err(format!(
                "this gateway already holds {} calls waiting for approval (its limit); the call was not held and did not run. Try again once some are decided.",
                self.per_gateway
            ));
        }
        let mine = c.by_session.get(&session).copied().unwrap_or(0);
        if mine >= self.per_session {
            return Err(format!(
                "this session already has {} calls waiting for approval (its limit); the call was not held and did not run. Wait for decisions before making more.",
                self.per_session
            ));
        }
        c.total += 1;
        c.by_session.insert(session, mine + 1);
        Ok(HeldSlot {
            inner: self.inner.clone(),
            session,
        })
    }

    /// Held calls in all.
    pub fn total(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

impl Drop for HeldSlot {
    fn drop(&mut self) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_session.get_mut(&self.session) {
            *n -= 1;
            if *n == 0 {
                c.by_session.remove(&self.session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> Value {
        let mut v = json!("leaf");
        for _ in 0..levels {
            v = json!({ "a": v });
        }
        v
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!({"a": [1, {"b": []}]})), 4);
        assert_eq!(depth(&nested(125)), 125);
    }

    #[test]
    fn depth_over_the_cap_is_refused_and_at_the_cap_accepted() {
        assert!(check_depth(&nested(MAX_ARGUMENT_DEPTH)).is_ok());
        let err = check_depth(&nested(MAX_ARGUMENT_DEPTH + 1)).unwrap_err();
        assert!(
            err.contains("65 levels") && err.contains("at most 64"),
            "{err}"
        );
        // Deep enough to overflow a recursive walk.
        assert!(check_depth(&nested(2_000)).is_err());
    }

    #[test]
    fn held_calls_are_capped_per_session_and_per_gateway() {
        let counts = HeldCounts::with_caps(2, 3);
        let a1 = counts.take(1).unwrap();
        let _a2 = counts.take(1).unwrap();
        assert!(counts.take(1).unwrap_err().contains("this session"));
        let _b1 = counts.take(2).unwrap();
        assert!(counts.take(2).unwrap_err().contains("this gateway"));
        drop(a1);
        assert_eq!(counts.total(), 2);
        let _b2 = counts.take(2).unwrap();
        assert_eq!(counts.total(), 3);
    }

    #[test]
    fn ten_thousand_held_calls_fit_in_one_gateway() {
        let counts = HeldCounts::default();
        let slots: Vec<_> = (0..MAX_HELD_PER_GATEWAY)
            .map(|i| counts.take((i % 10) as u64).unwrap())
            .collect();
        assert_eq!(counts.total(), 10_000);
        assert!(counts.take(99).is_err());
        drop(slots);
        assert_eq!(counts.total(), 0);
    }
}
