//! What a call to the approval service can fail with. Every variant is a
//! reason for a held call not to run (fail closed).

use hitl_wire::ApprovalRecord;

use crate::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the approval service at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    /// The service answered with an error body. Branch on `code`; `status`
    /// is kept for messages.
    #[error("the approval service refused: {message} ({code})")]
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
        record: Option<Box<ApprovalRecord>>,
    },
    /// Not the JSON the API speaks (a proxy's error page, a wrong URL...).
    #[error("{0}")]
    Protocol(String),
}

impl ClientError {
    /// The service's code, when it answered with one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// True when the service answered with `code`.
    pub fn is(&self, code: &ErrorCode) -> bool {
        self.code() == Some(code)
    }
}
