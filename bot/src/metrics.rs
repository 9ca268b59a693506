//! Prometheus metrics, written out by hand in the text exposition format.
//!
//! What matters to operators: HTTP requests by route and status, how many
//! requests are pending now, how long people take to decide, and how notices
//! fare on each channel.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Upper bounds (seconds) of the decision-latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 14400.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    created: u64,
    outcomes: BTreeMap<&'static str, u64>,
    latency_buckets: [u64; LATENCY_BUCKETS.len()],
    latency_count: u64,
    latency_sum: f64,
    /// (channel, outcome) -> count of notice delivery attempts.
    notices: BTreeMap<(&'static str, &'static str), u64>,
}

impl Metrics {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16) {
        *self
            .inner()
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
    }

    pub fn created(&self) {
        self.inner().created += 1;
    }

    /// A request reached a final status `seconds` after it was created.
    pub fn finished(&self, status: &'static str, seconds: f64) {
        let mut m = self.inner();
        *m.outcomes.entry(status).or_default() += 1;
        if status == "approved" || status == "rejected" {
            for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
                if seconds <= *le {
                    m.latency_buckets[i] += 1;
                }
            }
            m.latency_count += 1;
            m.latency_sum += seconds;
        }
    }

    /// One outbox delivery attempt ended: delivered, to be retried, or given up.
    pub fn notice_settled(&self, channel: &'static str, delivered: bool, failed: bool) {
        let outcome = match (delivered, failed) {
            (true, _) => "delivered",
            (_, true) => "failed",
            _ => "retried",
        };
        *self.inner().notices.entry((channel, outcome)).or_default() += 1;
    }

    /// The exposition text; `pending` is read from the store at scrape time.
    pub fn render(&self, pending: u64) -> String {
        let m = self.inner();
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP hitl_http_requests_total HTTP requests served, by route and status."
        );
        let _ = writeln!(out, "# TYPE hitl_http_requests_total counter");
        for ((method, route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "hitl_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP hitl_approvals_pending Approval requests waiting for a decision."
        );
        let _ = writeln!(out, "# TYPE hitl_approvals_pending gauge");
        let _ = writeln!(out, "hitl_approvals_pending {pending}");
        let _ = writeln!(
            out,
            "# HELP hitl_approvals_created_total Approval requests created."
        );
        let _ = writeln!(out, "# TYPE hitl_approvals_created_total counter");
        let _ = writeln!(out, "hitl_approvals_created_total {}", m.created);
        let _ = writeln!(
            out,
            "# HELP hitl_approvals_finished_total Requests that reached a final status."
        );
        let _ = writeln!(out, "# TYPE hitl_approvals_finished_total counter");
        for (status, n) in &m.outcomes {
            let _ = writeln!(
                out,
                "hitl_approvals_finished_total{{status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP hitl_decision_latency_seconds Time from request to a person's decision."
        );
        let _ = writeln!(out, "# TYPE hitl_decision_latency_seconds histogram");
        for (le, n) in LATENCY_BUCKETS.iter().zip(m.latency_buckets) {
            let _ = writeln!(
                out,
                "hitl_decision_latency_seconds_bucket{{le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "hitl_decision_latency_seconds_bucket{{le=\"+Inf\"}} {}",
            m.latency_count
        );
        let _ = writeln!(out, "hitl_decision_latency_seconds_sum {}", m.latency_sum);
        let _ = writeln!(
            out,
            "hitl_decision_latency_seconds_count {}",
            m.latency_count
        );
        let _ = writeln!(
            out,
            "# HELP hitl_notifications_total Notice delivery attempts, by channel and outcome (delivered, retried, failed: given up)."
        );
        let _ = writeln!(out, "# TYPE hitl_notifications_total counter");
        for ((channel, outcome), n) in &m.notices {
            let _ = writeln!(
                out,
                "hitl_notifications_total{{channel=\"{channel}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        out
    }
}
