//! Handlers of `/v1/approvals` and `/v1/audit`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hitl_wire::api::{
    ApprovalList, AuditPage, Cancel, CreateApproval, Decision, Execution, WaitAny,
};
use hitl_wire::{ApprovalRecord, Status};
use serde::{Deserialize, Serialize};

use super::error::AppError;
use super::extract::{ApiJson, ApiQuery};
use crate::outbox::Delivery;
use crate::service::{ApprovalService, Created, ServiceError};
use crate::store::AuditFrom;

type Svc = State<Arc<ApprovalService>>;

const DEFAULT_LIST_LIMIT: usize = 100;
const MAX_LIST_LIMIT: usize = 1000;

pub async fn create(
    State(svc): Svc,
    ApiJson(body): ApiJson<CreateApproval>,
) -> Result<(StatusCode, Json<ApprovalRecord>), AppError> {
    let (record, created) = svc.create(body).await?;
    let status = match created {
        Created::New => StatusCode::CREATED,
        Created::Existing => StatusCode::OK,
    };
    Ok((status, Json(record)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetQuery {
    /// Seconds to wait for a decision before answering.
    wait: Option<u64>,
}

/// One request as `GET /v1/approvals/{id}` shows it: the record, and how
/// its notices fared on each channel.
#[derive(Debug, Serialize)]
pub struct RecordView {
    #[serde(flatten)]
    pub record: ApprovalRecord,
    pub notifications: Vec<Delivery>,
}

pub async fn get(
    State(svc): Svc,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<GetQuery>,
) -> Result<Json<RecordView>, AppError> {
    let wait = q.wait.unwrap_or(0);
    let max = svc.settings().max_wait_secs;
    if wait > max {
        return Err(AppError::bad_request(
            "invalid_query",
            format!(
                "`wait` must be between 0 and {max} seconds (got {wait}); poll again to wait longer"
            ),
        ));
    }
    let record = svc.wait(&id, Duration::from_secs(wait)).await?;
    let notifications = svc.deliveries(&id).await?;
    Ok(Json(RecordView {
        record,
        notifications,
    }))
}

/// `POST /v1/approvals/wait`: one long-poll for many requests.
pub async fn wait_any(
    State(svc): Svc,
    ApiJson(body): ApiJson<WaitAny>,
) -> Result<Json<ApprovalList>, AppError> {
    let max = svc.settings().max_wait_secs;
    if body.wait_secs > max {
        return Err(AppError::bad_request(
            "invalid_body",
            format!(
                "`wait_secs` must be between 0 and {max} (got {}); poll again to wait longer",
                body.wait_secs
            ),
        ));
    }
    let approvals = svc
        .wait_any(&body.request_ids, Duration::from_secs(body.wait_secs))
        .await?;
    Ok(Json(ApprovalList { approvals }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<usize>,
}

pub async fn list(
    State(svc): Svc,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ApprovalList>, AppError> {
    let status = q
        .status
        .map(|s| s.parse::<Status>())
        .transpose()
        .map_err(|m| AppError::bad_request("invalid_query", m))?;
    let limit = limit_in_range(q.limit, DEFAULT_LIST_LIMIT)?;
    Ok(Json(ApprovalList {
        approvals: svc.list(status, limit).await?,
    }))
}

pub async fn decide(
    State(svc): Svc,
    Path(id): Path<String>,
    ApiJson(d): ApiJson<Decision>,
) -> Result<Json<ApprovalRecord>, AppError> {
    let approver = d.approver.unwrap_or_default();
    Ok(Json(svc.decide(&id, d.action, &approver, d.reason).await?))
}

pub async fn cancel(
    State(svc): Svc,
    Path(id): Path<String>,
    ApiJson(c): ApiJson<Cancel>,
) -> Result<Json<ApprovalRecord>, AppError> {
    Ok(Json(svc.cancel(&id, c.by, c.reason).await?))
}

pub async fn execution(
    State(svc): Svc,
    Path(id): Path<String>,
    ApiJson(e): ApiJson<Execution>,
) -> Result<Json<ApprovalRecord>, AppError> {
    Ok(Json(svc.record_execution(&id, e.arguments).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// A page's `next_cursor`, as it was given.
    cursor: Option<String>,
    /// The older form: after this global `seq` (SQLite only).
    after: Option<i64>,
    limit: Option<usize>,
}

pub async fn audit_of(
    State(svc): Svc,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, AppError> {
    svc.get(&id).await?;
    audit_page(&svc, Some(&id), q).await
}

pub async fn audit_all(
    State(svc): Svc,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, AppError> {
    audit_page(&svc, None, q).await
}

async fn audit_page(
    svc: &ApprovalService,
    id: Option<&str>,
    q: AuditQuery,
) -> Result<Json<AuditPage>, AppError> {
    let limit = limit_in_range(q.limit, MAX_LIST_LIMIT)?;
    let from = match (q.cursor, q.after) {
        (Some(_), Some(_)) => {
            return Err(AppError::bad_request(
                "invalid_query",
                "give `cursor` or `after`, not both".to_owned(),
            ));
        }
        (Some(c), None) => AuditFrom::Cursor(c),
        (None, Some(seq)) if seq > 0 => AuditFrom::Seq(seq),
        (None, _) => AuditFrom::Start,
    };
    let (events, next_cursor) = svc.audit_page(id, from, limit).await.map_err(|e| match e {
        // The only invalid input here is the cursor, a query parameter.
        ServiceError::Invalid(m) => AppError::bad_request("invalid_query", m),
        other => other.into(),
    })?;
    let next_after = next_cursor
        .as_ref()
        .and_then(|_| events.last().map(|e| e.seq));
    Ok(Json(AuditPage {
        events,
        next_cursor,
        next_after,
    }))
}

fn limit_in_range(limit: Option<usize>, default: usize) -> Result<usize, AppError> {
    match limit.unwrap_or(default) {
        n @ 1..=MAX_LIST_LIMIT => Ok(n),
        n => Err(AppError::bad_request(
            "invalid_query",
            format!("`limit` must be between 1 and {MAX_LIST_LIMIT} (got {n})"),
        )),
    }
}
