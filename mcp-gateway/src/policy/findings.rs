//! What the built-in analysis found about one call: the highest risk seen and
//! the reasons for it, kept in a fixed-size buffer so the hot path does not
//! allocate.

use hitl_wire::Risk;

/// Most reasons kept for one call; more would not help a person decide.
const MAX_REASONS: usize = 6;

/// The highest risk found so far and the distinct reasons at that level.
///
/// Reasons for lower levels are dropped when a higher one is found: the
/// approver needs to know why the call is, say, critical, not that it is
/// also a shell command.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Findings {
    risk: Risk,
    reasons: [&'static str; MAX_REASONS],
    len: usize,
    /// A system or secret path was found: no rule may lower the call
    /// below what was found.
    sensitive_path: bool,
}

impl Default for Findings {
    fn default() -> Self {
        Findings {
            risk: Risk::Low,
            reasons: [""; MAX_REASONS],
            len: 0,
            sensitive_path: false,
        }
    }
}

impl Findings {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The highest risk found; `Low` when nothing was found.
    pub(crate) fn risk(&self) -> Risk {
        self.risk
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn reasons(&self) -> &[&'static str] {
        &self.reasons[..self.len]
    }

    /// Records one finding.
    pub(crate) fn add(&mut self, risk: Risk, reason: &'static str) {
        if self.len == 0 || risk > self.risk {
            self.risk = risk;
            self.len = 0;
        } else if risk < self.risk {
            return;
        }
        if self.len < MAX_REASONS && !self.reasons[..self.len].contains(&reason) {
            self.reasons[self.len] = reason;
            self.len += 1;
        }
    }

    /// Records that the call touches a system or secret path.
    pub(crate) fn add_path(&mut self, risk: Risk, reason: &'static str) {
        self.sensitive_path = true;
        self.add(risk, reason);
    }

    /// Whether a system or secret path was found.
    pub(crate) fn sensitive_path(&self) -> bool {
        self.sensitive_path
    }

    /// Adds everything another analysis found.
    pub(crate) fn merge(&mut self, other: &Findings) {
        self.sensitive_path |= other.sensitive_path;
        for reason in other.reasons() {
            self.add(other.risk, reason);
        }
    }
}
