//! The one error type at the HTTP edge. 4xx bodies say what the caller must
//! fix; 5xx bodies say "internal error" and the cause goes to the log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hitl_wire::ApprovalRecord;
use hitl_wire::api::ErrorBody;

use crate::lifecycle::Refusal;
use crate::service::ServiceError;

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub record: Option<Box<ApprovalRecord>>,
    /// Seconds for a Retry-After header (503 answers).
    pub retry_after: Option<u32>,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            record: None,
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn with_record(mut self, record: ApprovalRecord) -> Self {
        self.record = Some(Box::new(record));
        self
    }
}

impl From<ServiceError> for AppError {
    fn from(e: ServiceError) -> Self {
        let message = e.to_string();
        match e {
            ServiceError::Invalid(_) => {
                AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
            }
            ServiceError::NotFound(_) => AppError::not_found(message),
            ServiceError::Conflict { record, .. } => {
                AppError::new(StatusCode::CONFLICT, "request_id_conflict", message)
                    .with_record(*record)
            }
            ServiceError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                AppError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
            ServiceError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "store unavailable");
                let mut err = AppError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the approval store is busy; retry shortly",
                );
                err.retry_after = Some(1);
                err
            }
            ServiceError::Refused(refusal) => {
                let (status, code) = match &refusal {
                    Refusal::AlreadyFinal(_) => (StatusCode::CONFLICT, "already_decided"),
                    Refusal::DuplicateVote { .. } => (StatusCode::CONFLICT, "duplicate_vote"),
                    Refusal::NotAllowed { .. } | Refusal::NotADecider { .. } => {
                        (StatusCode::FORBIDDEN, "not_an_approver")
                    }
                    Refusal::SelfApproval { .. } => (StatusCode::FORBIDDEN, "self_approval"),
                    Refusal::ReasonRequired => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "reason_required")
                    }
                    Refusal::DeadlinePassed(_) => (StatusCode::CONFLICT, "expired"),
                    Refusal::NotApproved(_) => (StatusCode::CONFLICT, "not_approved"),
                    Refusal::AlreadyExecuted(_) => (StatusCode::CONFLICT, "already_executed"),
                    Refusal::ClaimExpired(_) => (StatusCode::GONE, "claim_expired"),
                    Refusal::ArgumentsMismatch { .. } => {
                        (StatusCode::CONFLICT, "arguments_mismatch")
                    }
                    Refusal::Noop(_) => (StatusCode::CONFLICT, "no_change"),
                };
                let err = AppError::new(status, code, message);
                match refusal {
                    Refusal::AlreadyFinal(record) => err.with_record(*record),
                    _ => err,
                }
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_owned(),
            message: self.message,
            record: self.record,
        };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        resp
    }
}
