//! Handlers of `/v1/approvals` and `/v1/audit`, and what each credential
//! may do there. Requesters create, read, wait on and cancel their own
//! requests and claim their execution; someone else's request is 404 to
//! them, as if it did not exist. Approvers read every request and decide,
//! always as the person their credential names: the decision's identity
//! never comes from the body.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hitl_wire::api::{
    ApprovalList, AuditPage, Cancel, CreateApproval, Decision, Execution, WaitAny,
};
use hitl_wire::{ApprovalRecord, Status};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::AppError;
use super::extract::{ApiJson, ApiQuery};
use crate::credentials::Role;
use crate::outbox::Delivery;
use crate::service::{ApprovalService, Created, ServiceError};
use crate::store::AuditFrom;

type Svc = State<Arc<ApprovalService>>;

const DEFAULT_LIST_LIMIT: usize = 100;
const MAX_LIST_LIMIT: usize = 1000;

pub async fn create(
    State(svc): Svc,
    caller: Caller,
    ApiJson(mut body): ApiJson<CreateApproval>,
) -> Result<(StatusCode, Json<ApprovalRecord>), AppError> {
    caller.require(Role::Requester, "creating a request")?;
    let bound = bound_requesters(&svc).await?;
    match caller.who() {
        // A bound requester asks as itself: that is whom self-approval protects.
        Some(who) => {
            if !body.requester.trim().is_empty() && !svc.people().same(&body.requester, who) {
                return Err(AppError::new(
                    StatusCode::FORBIDDEN,
                    "actor_mismatch",
                    format!(
                        "this credential creates requests as {who}; drop `requester` or set it to {who} (got {:?})",
                        body.requester
                    ),
                ));
            }
            body.requester = who.to_owned();
        }
        None => {
            if let Some(w) = bound.iter().find(|w| svc.people().same(w, &body.requester)) {
                return Err(AppError::new(
                    StatusCode::FORBIDDEN,
                    "not_yours",
                    format!("requester {w} has its own credential; create its requests with that"),
                ));
            }
        }
    }
    within_ceiling(&svc, &body.approvers)?;
    if let Some(id) = &body.request_id
        && let Ok(existing) = svc.get(id).await
        && !visible(&svc, &caller, &bound, &existing)
    {
        // Someone else's id: say it is taken, show nothing of it.
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "request_id_conflict",
            format!("request_id {id:?} is taken; use another"),
        ));
    }
    let (record, created) = svc.create(body).await?;
    let status = match created {
        Created::New => StatusCode::CREATED,
        Created::Existing => StatusCode::OK,
    };
    Ok((status, Json(record)))
}

/// The operator's approvers are a ceiling: a request may name approvers
/// only to narrow them. Each entry must be on the configured list (the same
/// person, or the same group), or a member of a configured group on it.
/// With no approvers configured anyone but the requester may decide, so any
/// list narrows that.
fn within_ceiling(svc: &ApprovalService, asked: &[String]) -> Result<(), AppError> {
    let ceiling = &svc.settings().default_approvers;
    if ceiling.is_empty() || asked.is_empty() {
        return Ok(());
    }
    let people = svc.people();
    let groups = &svc.settings().groups;
    let allowed = |entry: &str| {
        ceiling.iter().any(|c| {
            c.trim() == entry.trim()
                || people.same(c, entry)
                || c.strip_prefix("group:")
                    .and_then(|g| groups.get(g))
                    .is_some_and(|members| members.iter().any(|m| people.same(m, entry)))
        })
    };
    let outside: Vec<&str> = asked
        .iter()
        .map(String::as_str)
        .filter(|e| !allowed(e))
        .collect();
    if outside.is_empty() {
        return Ok(());
    }
    Err(AppError::new(
        StatusCode::FORBIDDEN,
        "approver_not_allowed",
        format!(
            "`approvers` may only narrow the configured approvers ({}); not allowed: {}",
            ceiling.join(", "),
            outside.join(", ")
        ),
    ))
}

/// The requester names bound to a requester credential.
async fn bound_requesters(svc: &ApprovalService) -> Result<Vec<String>, AppError> {
    let all = svc
        .store()
        .credentials()
        .await
        .map_err(ServiceError::from)?;
    Ok(all
        .into_iter()
        .filter(|c| c.role == Role::Requester)
        .filter_map(|c| c.who)
        .collect())
}

/// Whether `caller` may see `r`: an approver every request; a bound
/// requester those made as it; the shared token those made by no bound
/// requester.
fn visible(svc: &ApprovalService, caller: &Caller, bound: &[String], r: &ApprovalRecord) -> bool {
    match (caller.role(), caller.who()) {
        (Role::Approver, _) => true,
        (Role::Requester, Some(who)) => svc.people().same(who, &r.requester),
        (Role::Requester, None) => !bound.iter().any(|w| svc.people().same(w, &r.requester)),
    }
}

/// The record, if `caller` may see it; someone else's is "not found".
async fn own_record(
    svc: &ApprovalService,
    caller: &Caller,
    id: &str,
) -> Result<ApprovalRecord, AppError> {
    let record = svc.get(id).await?;
    if caller.role() == Role::Approver {
        return Ok(record);
    }
    let bound = bound_requesters(svc).await?;
    if visible(svc, caller, &bound, &record) {
        Ok(record)
    } else {
        Err(ServiceError::NotFound(id.to_owned()).into())
    }
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
    caller: Caller,
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
    own_record(&svc, &caller, &id).await?;
    let record = svc.wait(&id, svc.settings().hold_for(wait)).await?;
    let notifications = svc.deliveries(&id).await?;
    Ok(Json(RecordView {
        record,
        notifications,
    }))
}

/// `POST /v1/approvals/wait`: one long-poll for many requests.
pub async fn wait_any(
    State(svc): Svc,
    caller: Caller,
    ApiJson(mut body): ApiJson<WaitAny>,
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
    if caller.role() == Role::Requester {
        // Someone else's ids are left out, as unknown ids are.
        let bound = bound_requesters(&svc).await?;
        let mut mine = Vec::with_capacity(body.request_ids.len());
        for id in body.request_ids {
            if let Ok(r) = svc.get(&id).await
                && visible(&svc, &caller, &bound, &r)
            {
                mine.push(id);
            }
        }
        body.request_ids = mine;
    }
    let approvals = svc
        .wait_any(&body.request_ids, svc.settings().hold_for(body.wait_secs))
        .await?;
    Ok(Json(ApprovalList { approvals }))
}

/// Most records read to fill one requester's page.
const REQUESTER_SCAN: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<usize>,
}

pub async fn list(
    State(svc): Svc,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ApprovalList>, AppError> {
    let status = q
        .status
        .map(|s| s.parse::<Status>())
        .transpose()
        .map_err(|m| AppError::bad_request("invalid_query", m))?;
    let limit = limit_in_range(q.limit, DEFAULT_LIST_LIMIT)?;
    if caller.role() != Role::Requester {
        return Ok(Json(ApprovalList {
            approvals: svc.list(status, limit).await?,
        }));
    }
    // A requester sees its own requests only; filter before the limit, so
    // a page is full while there are more: read wider until it is, the
    // store runs out, or REQUESTER_SCAN records were read.
    let bound = bound_requesters(&svc).await?;
    let mut ask = limit;
    let approvals = loop {
        let mut got = svc.list(status, ask).await?;
        let exhausted = got.len() < ask;
        got.retain(|r| visible(&svc, &caller, &bound, r));
        if got.len() >= limit || exhausted || ask >= REQUESTER_SCAN {
            got.truncate(limit);
            break got;
        }
        ask = ask.saturating_mul(4).min(REQUESTER_SCAN);
    };
    Ok(Json(ApprovalList { approvals }))
}

pub async fn decide(
    State(svc): Svc,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(d): ApiJson<Decision>,
) -> Result<Json<ApprovalRecord>, AppError> {
    caller.require(Role::Approver, "deciding")?;
    // An approver credential always names its person (checked when made).
    let who = caller
        .who()
        .ok_or_else(|| AppError::unauthorized("this approver credential names no one"))?;
    if let Some(named) = d.approver.as_deref().filter(|a| !a.trim().is_empty())
        && !svc.people().same(named, who)
    {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "actor_mismatch",
            format!(
                "this credential decides as {who}; drop `approver` or set it to {who} (got {named:?})"
            ),
        ));
    }
    Ok(Json(svc.decide(&id, d.action, who, d.reason).await?))
}

/// The requester withdraws its request. A `by` in the body is not trusted:
/// the audit trail names the credential's requester (or the record's).
pub async fn cancel(
    State(svc): Svc,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(c): ApiJson<Cancel>,
) -> Result<Json<ApprovalRecord>, AppError> {
    caller.require(Role::Requester, "cancelling a request")?;
    own_record(&svc, &caller, &id).await?;
    let by = caller.who().map(str::to_owned);
    Ok(Json(svc.cancel(&id, by, c.reason).await?))
}

pub async fn execution(
    State(svc): Svc,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(e): ApiJson<Execution>,
) -> Result<Json<ApprovalRecord>, AppError> {
    caller.require(Role::Requester, "claiming an execution")?;
    own_record(&svc, &caller, &id).await?;
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
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, AppError> {
    own_record(&svc, &caller, &id).await?;
    audit_page(&svc, Some(&id), q).await
}

/// Every request's history: approvers only, since it names every request.
pub async fn audit_all(
    State(svc): Svc,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, AppError> {
    caller.require(Role::Approver, "reading the whole audit trail")?;
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
