//! Card templates for approval requests: Slack Block Kit and Teams Adaptive
//! Cards, filled from the same record data.
//!
//! - [`slack`]: the Slack messages (request, decided forms, reminder, pending
//!   list) and the Block Kit limits and mrkdwn escaping they obey.
//! - [`teams`]: the Teams Adaptive Cards (request, quorum progress, decided
//!   forms, reminder, pending list) and the size limits and Markdown
//!   escaping they obey.
//! - [`Templates`] ([`catalog`]): the compiled-in templates from
//!   `cards/slack/*.json` and `cards/teams/*.json`, optionally replaced from
//!   an override folder.
//! - [`template`]: the small JSON templating engine (`${path}`, `$data`,
//!   `$when`) that both platforms share.
//! - [`model`]: a record turned into the data the templates see.
//! - [`redact`]: secret redaction for arguments and free text, reusable by
//!   logging.
//!
//! Everything here is pure except [`Templates::load`], which reads the
//! override folder it is given. Time is a parameter (`now`), never read from
//! a clock.

pub mod catalog;
pub mod model;
pub mod redact;
pub mod slack;
pub mod teams;
pub mod template;

use std::path::PathBuf;

use hitl_wire::Status;

pub use catalog::Templates;
pub use template::TemplateError;

/// Why a card could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// A template (built-in or override, named by `origin`) does not fill.
    #[error("card template {origin}: {error}")]
    Template {
        origin: String,
        error: TemplateError,
    },
    /// An override file is malformed or not a template.
    #[error("card template override {}: {message}", path.display())]
    Override { path: PathBuf, message: String },
    /// An override file or folder cannot be read.
    #[error("cannot read card template override {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The card asked for does not fit the record's status (a request card
    /// for a decided record, a decided card for a pending one).
    #[error("request {request_id} is {status}; this card is for {expected} requests")]
    WrongStatus {
        request_id: String,
        status: Status,
        expected: &'static str,
    },
}
