//! The AWS store: one DynamoDB table (terraform/dynamodb.tf documents the
//! item layout).
//!
//! Every rule the SQLite store gets from a transaction comes here from a
//! condition: a create succeeds only while the id is free, a change only
//! while the record still has the version it was read at (the loser reads
//! again and runs its step against the winner's record, so it learns who
//! won), a lease only while no live lease holds the item. The index `gsi1`
//! is sparse: only pending records, timers and undelivered outbox rows carry
//! its key. Final records get a TTL (`expires_at`, seconds) after the
//! retention; readers treat an item whose TTL has passed as gone, because
//! DynamoDB deletes expired items only eventually. The finals that long-polls
//! follow are spread over [`FINAL_SHARDS`] partitions, so no item is written
//! by every decision.
//!
//! The SDK retries throttling and transient failures itself (standard mode,
//! [`MAX_ATTEMPTS`]); what still fails that way is [`StoreError::Unavailable`],
//! which the API answers 503 with Retry-After.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnValue, TransactWriteItem,
};
use chrono::{DateTime, Utc};
use hitl_wire::api::AuditEvent;
use hitl_wire::{ApprovalRecord, Status};

use super::{AuditFrom, Inserted, ListFilter, MessageRef, Step, Store, StoreError, ThreadRef};
use crate::credentials::{Credential, NewCredential, Role};
use crate::lifecycle::AuditEntry;
use crate::notify::Notice;
use crate::outbox::{Delivery, DeliveryState, OutboxRow, Settle};
use crate::workflow::{Timer, TimerKind, timers_of};

/// Partitions of the finals feed. Decisions spread over them by request id.
pub const FINAL_SHARDS: u32 = 16;
/// Attempts per call (first try included) before a throttled or transient
/// failure is answered as unavailable.
pub const MAX_ATTEMPTS: u32 = 5;
/// How long finals stay in the feed (long-polls follow it for seconds).
const FEED_TTL_SECS: i64 = 3600;
/// Finals are read again for this long: a decision committed a little after
/// its timestamp (a slow write, another replica's clock) is still seen. A
/// request may wake a long-poll twice; waking is idempotent.
const FEED_LAG_MS: i64 = 2000;
/// Rounds a conditional write may lose to other writers before giving up.
const MAX_RACES: usize = 200;

type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// How long a final record is kept; `None`: for ever.
    retention: Option<Duration>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, retention: Option<Duration>) -> Self {
        Self {
            client,
            table: table.into(),
            retention,
        }
    }

    /// A client for `table` from the SDK's own settings (region,
    /// credentials, AWS_ENDPOINT_URL*), with the retry policy above.
    pub async fn from_env(table: &str, retention: Option<Duration>) -> Self {
        let sdk = sdk_config().await;
        let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .retry_config(
                aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS),
            )
            .build();
        Self::new(Client::from_conf(conf), table, retention)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn final_ttl(&self, decided: DateTime<Utc>) -> Option<i64> {
        self.retention
            .map(|r| decided.timestamp() + i64::try_from(r.as_secs()).unwrap_or(i64::MAX / 2))
    }

    async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(out.item.filter(|i| live(i, Utc::now())))
    }

    async fn read(&self, id: &str) -> Result<Option<(ApprovalRecord, i64)>, StoreError> {
        let Some(item) = self.get_item(req_pk(id), "REC").await? else {
            return Ok(None);
        };
        Ok(Some((
            record_of(&item)?,
            num(&item, "version").unwrap_or(0),
        )))
    }

    /// Every item of one partition (or of an sk prefix in it), in sk order.
    async fn query_pk(&self, pk: String, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(pk.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start);
            // DynamoDB refuses an empty string as a key condition value.
            q = if prefix.is_empty() {
                q.key_condition_expression("pk = :pk")
            } else {
                q.key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                    .expression_attribute_values(":p", s(prefix))
            };
            let page = q.send().await.map_err(sdk_err)?;
            out.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let now = Utc::now();
        out.retain(|i| live(i, now));
        Ok(out)
    }

    /// Items of one `gsi1` partition in index order, with `gsi1sk < below`.
    async fn query_index(
        &self,
        gsi1pk: &str,
        below: Option<String>,
        count_only: bool,
    ) -> Result<(Vec<Item>, u64), StoreError> {
        let mut out = Vec::new();
        let mut count = 0u64;
        let mut start = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("pending")
                .expression_attribute_values(":g", s(gsi1pk))
                .set_exclusive_start_key(start);
            q = match &below {
                Some(b) => q
                    .key_condition_expression("gsi1pk = :g AND gsi1sk < :b")
                    .expression_attribute_values(":b", s(b.clone())),
                None => q.key_condition_expression("gsi1pk = :g"),
            };
            if count_only {
                q = q.select(aws_sdk_dynamodb::types::Select::Count);
            }
            let page = q.send().await.map_err(sdk_err)?;
            count += page.count as u64;
            out.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let now = Utc::now();
        out.retain(|i| live(i, now));
        Ok((out, count))
    }

    /// Every item whose sort key starts with `prefix` (admin reads: lists,
    /// the whole audit, purge).
    async fn scan(&self, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(sk, :p)")
                .expression_attribute_values(":p", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err)?;
            out.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let now = Utc::now();
        out.retain(|i| live(i, now));
        Ok(out)
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), Lost> {
        // DynamoDB takes at most 100 items per transaction; ours are a
        // handful (record, audit, two timers, one row per channel).
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => {
                if let TransactWriteItemsError::TransactionCanceledException(c) = e.err() {
                    let reasons = c.cancellation_reasons();
                    if reasons
                        .iter()
                        .any(|r| r.code().is_some_and(|c| c == "ConditionalCheckFailed"))
                    {
                        return Err(Lost::Condition);
                    }
                    if reasons
                        .iter()
                        .any(|r| r.code().is_some_and(|c| c == "TransactionConflict"))
                    {
                        return Err(Lost::Conflict);
                    }
                }
                Err(Lost::Store(sdk_err(SdkError::ServiceError(e))))
            }
            Err(e) => Err(Lost::Store(sdk_err(e))),
        }
    }

    fn put(&self, item: Item, condition: Option<(&str, Item)>) -> TransactWriteItem {
        let mut p = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some((expr, values)) = condition {
            p = p.condition_expression(expr);
            // `version` is a DynamoDB reserved word.
            if expr.contains("#ver") {
                p = p.expression_attribute_names("#ver", "version");
            }
            if !values.is_empty() {
                p = p.set_expression_attribute_values(Some(values));
            }
        }
        TransactWriteItem::builder()
            .put(p.build().expect("table and item are set"))
            .build()
    }

    fn delete(&self, pk: String, sk: String) -> TransactWriteItem {
        TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.table)
                    .key("pk", s(pk))
                    .key("sk", s(sk))
                    .build()
                    .expect("table and key are set"),
            )
            .build()
    }

    fn audit_item(&self, id: &str, version: i64, a: &AuditEntry) -> Result<Item, StoreError> {
        let seq = audit_seq(a.at, version);
        let mut item = Item::new();
        item.insert("pk".into(), s(req_pk(id)));
        item.insert("sk".into(), s(format!("EV#{}", pad(seq))));
        item.insert("seq".into(), n(seq));
        item.insert("request_id".into(), s(id));
        item.insert("at".into(), n(millis(a.at)));
        item.insert("actor".into(), s(a.actor.clone()));
        item.insert("action".into(), s(a.action));
        if let Some(f) = a.from_status {
            item.insert("from_status".into(), s(f.as_str()));
        }
        item.insert("to_status".into(), s(a.to_status.as_str()));
        item.insert("detail".into(), s(serde_json::to_string(&a.detail)?));
        Ok(item)
    }

    fn outbox_items(
        &self,
        outbox: &[String],
        record: &ApprovalRecord,
        seq: i64,
        notice: Notice,
        at: DateTime<Utc>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let json = serde_json::to_string(record)?;
        let mut out = Vec::with_capacity(outbox.len());
        for channel in outbox {
            let mut item = Item::new();
            item.insert("pk".into(), s(req_pk(&record.request_id)));
            item.insert("sk".into(), s(outbox_sk(seq, channel)));
            item.insert("kind".into(), s("outbox"));
            item.insert("channel".into(), s(channel.clone()));
            item.insert("request_id".into(), s(record.request_id.clone()));
            item.insert("seq".into(), n(seq));
            item.insert("notice".into(), s(notice.as_str()));
            item.insert("record".into(), s(json.clone()));
            item.insert("state".into(), s("pending"));
            item.insert("attempts".into(), n(0));
            item.insert("created_at".into(), n(millis(at)));
            item.insert("next_at".into(), n(millis(at)));
            item.insert("gsi1pk".into(), s(outbox_gsi(channel)));
            item.insert(
                "gsi1sk".into(),
                s(outbox_gsi_sk(millis(at), &record.request_id, seq)),
            );
            out.push(self.put(item, None));
        }
        Ok(out)
    }

    fn timer_item(&self, t: &Timer) -> TransactWriteItem {
        let mut item = Item::new();
        item.insert("pk".into(), s(req_pk(&t.request_id)));
        item.insert("sk".into(), s(timer_sk(t.kind)));
        item.insert("request_id".into(), s(t.request_id.clone()));
        item.insert("timer".into(), s(t.kind.as_str()));
        item.insert("due_at".into(), n(millis(t.due_at)));
        item.insert("gsi1pk".into(), s("TIMER"));
        item.insert(
            "gsi1sk".into(),
            s(format!(
                "{}#{}#{}",
                pad(millis(t.due_at)),
                t.request_id,
                t.kind.as_str()
            )),
        );
        self.put(item, None)
    }

    /// Extends a lease its holder names by the `lease_until` it set: true
    /// while the item exists and nobody leased it since.
    async fn renew(
        &self,
        pk: String,
        sk: String,
        held: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        match self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression("attribute_exists(pk) AND lease_until = :held")
            .update_expression("SET lease_until = :until")
            .expression_attribute_values(":held", n(millis(held)))
            .expression_attribute_values(":until", n(millis(until)))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// Leases one item: true when no live lease held it (and it exists, and
    /// matches `extra`).
    async fn lease(
        &self,
        pk: String,
        sk: String,
        extra: Option<&str>,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Item>, StoreError> {
        let mut cond =
            "attribute_exists(pk) AND (attribute_not_exists(lease_until) OR lease_until <= :now)"
                .to_owned();
        let mut u = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression("SET lease_until = :until")
            .expression_attribute_values(":now", n(millis(now)))
            .expression_attribute_values(":until", n(millis(until)))
            .return_values(ReturnValue::AllNew);
        if let Some(extra) = extra {
            cond.push_str(" AND ");
            cond.push_str(extra);
            u = u
                .expression_attribute_names("#st", "state")
                .expression_attribute_values(":pending", s("pending"));
        }
        match u.condition_expression(cond).send().await {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(e) if conditional_failed(&e) => Ok(None),
            Err(e) => Err(sdk_err(e)),
        }
    }

    /// Leases one named outbox row for delivery: the Lambda queue drain
    /// ([`crate::lambda::drain`]) is handed a row's key by its queue rather
    /// than claiming due rows itself. The same rules as
    /// [`Store::outbox_claim`]: only a pending row, only when no live lease
    /// holds it, only once every earlier row of the request on the channel
    /// is settled, and not before its next attempt is due.
    pub async fn outbox_take(
        &self,
        channel: &str,
        request_id: &str,
        seq: i64,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Take, StoreError> {
        let rows = self.query_pk(req_pk(request_id), "OUT#").await?;
        let mine = |o: &&Item| str_of(o, "channel").as_deref() == Some(channel);
        let Some(row) = rows
            .iter()
            .filter(mine)
            .find(|o| num(o, "seq") == Some(seq))
        else {
            return Ok(Take::Gone);
        };
        if str_of(row, "state").as_deref() != Some("pending") {
            return Ok(Take::Settled);
        }
        if rows.iter().filter(mine).any(|o| {
            str_of(o, "state").as_deref() == Some("pending")
                && num(o, "seq").is_some_and(|s| s < seq)
        }) {
            return Ok(Take::Waiting);
        }
        let next_at = num(row, "next_at").unwrap_or(0);
        if next_at > millis(now) {
            return Ok(Take::NotYet(from_millis(next_at)));
        }
        if let Some(l) = num(row, "lease_until").filter(|l| *l > millis(now)) {
            return Ok(Take::Busy(from_millis(l)));
        }
        let leased = self
            .lease(
                req_pk(request_id),
                outbox_sk(seq, channel),
                Some("#st = :pending"),
                now,
                lease_until,
            )
            .await?;
        match leased {
            Some(item) => Ok(Take::Leased(Box::new(outbox_row_of(
                channel, request_id, seq, &item,
            )?))),
            // Taken or settled between the read and the lease.
            None => Ok(Take::Busy(now)),
        }
    }

    /// Up to `limit` audit events of one request after `after`, in order:
    /// a Query on the request's partition from the cursor's sort key,
    /// following `LastEvaluatedKey` only while the page is short (expired
    /// items are dropped after reading), never the whole partition.
    async fn audit_page(
        &self,
        id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        let now = Utc::now();
        let page_size = i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(req_pk(id)))
                .expression_attribute_values(
                    ":lo",
                    s(format!("EV#{}", pad(after.saturating_add(1)))),
                )
                .expression_attribute_values(":hi", s(format!("EV#{}", "9".repeat(20))))
                .consistent_read(true)
                .limit(page_size)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_err)?;
            out.extend(
                page.items
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|i| live(i, now)),
            );
            start = page.last_evaluated_key;
            if start.is_none() || out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// `channel`'s rows not yet delivered or given up, in due order.
    async fn outbox_pending(&self, channel: &str) -> Result<Vec<Item>, StoreError> {
        Ok(self.query_index(&outbox_gsi(channel), None, false).await?.0)
    }
}

/// The SDK's settings from the environment, over the one TLS stack the
/// binaries carry (rustls with ring).
pub async fn sdk_config() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

/// Why a transaction did not commit.
enum Lost {
    /// A condition failed: another writer got there first.
    Condition,
    /// Another transaction held an item; try again.
    Conflict,
    Store(StoreError),
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn str_of(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn num(item: &Item, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn need_str(item: &Item, k: &str) -> Result<String, StoreError> {
    str_of(item, k).ok_or_else(|| StoreError::Backend(format!("stored item has no {k:?}")))
}

/// False once the item's TTL has passed: DynamoDB may not have deleted it
/// yet, but it is gone for us.
fn live(item: &Item, now: DateTime<Utc>) -> bool {
    num(item, "expires_at").is_none_or(|t| t > now.timestamp())
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Fixed-width numbers sort as strings.
fn pad(v: i64) -> String {
    format!("{:020}", v.max(0))
}

/// Escapes the key separator inside a key component.
fn esc(v: &str) -> String {
    v.replace('%', "%25").replace('#', "%23")
}

fn req_pk(id: &str) -> String {
    format!("REQ#{id}")
}

fn outbox_sk(seq: i64, channel: &str) -> String {
    format!("OUT#{}#{}", pad(seq), esc(channel))
}

fn outbox_gsi(channel: &str) -> String {
    format!("OUT#{}", esc(channel))
}

fn outbox_gsi_sk(next_at: i64, id: &str, seq: i64) -> String {
    format!("{}#{}#{}", pad(next_at), id, pad(seq))
}

fn timer_sk(kind: TimerKind) -> String {
    format!("TMR#{}", kind.as_str())
}

fn thread_pk(platform: &str, conversation: &str, thread: &str) -> String {
    format!(
        "THR#{}#{}#{}",
        esc(platform),
        esc(conversation),
        esc(thread)
    )
}

fn feed_shard(id: &str) -> u32 {
    // FNV-1a: stable across builds and processes (std's hasher is seeded).
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % FINAL_SHARDS
}

/// Audit order across requests: by time, then by the record's version.
fn audit_seq(at: DateTime<Utc>, version: i64) -> i64 {
    millis(at) * 1000 + version.clamp(0, 999)
}

/// What [`DynamoStore::outbox_take`] found.
#[derive(Debug)]
pub enum Take {
    /// Leased until the `lease_until` given: deliver it.
    Leased(Box<OutboxRow>),
    /// Delivered or given up already: nothing to do.
    Settled,
    /// No such row (its request was purged): nothing to do.
    Gone,
    /// An earlier notice of the request on this channel is still pending.
    Waiting,
    /// Its last attempt failed; the next is due then.
    NotYet(DateTime<Utc>),
    /// Another process holds its lease until then.
    Busy(DateTime<Utc>),
}

fn outbox_row_of(channel: &str, id: &str, seq: i64, item: &Item) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        channel: channel.to_owned(),
        request_id: id.to_owned(),
        seq,
        notice: need_str(item, "notice")?
            .parse()
            .map_err(StoreError::Backend)?,
        record: record_of(item)?,
        attempts: num(item, "attempts").unwrap_or(0) as u32,
        created_at: from_millis(num(item, "created_at").unwrap_or(0)),
    })
}

fn record_of(item: &Item) -> Result<ApprovalRecord, StoreError> {
    Ok(serde_json::from_str(&need_str(item, "record")?)?)
}

fn status_of(s: String) -> Result<Status, StoreError> {
    s.parse().map_err(StoreError::Backend)
}

fn timer_of(item: &Item) -> Option<Timer> {
    Some(Timer {
        request_id: str_of(item, "request_id")?,
        kind: TimerKind::parse(&str_of(item, "timer")?)?,
        due_at: from_millis(num(item, "due_at")?),
    })
}

fn record_item(r: &ApprovalRecord, version: i64, ttl: Option<i64>) -> Result<Item, StoreError> {
    let mut item = Item::new();
    item.insert("pk".into(), s(req_pk(&r.request_id)));
    item.insert("sk".into(), s("REC"));
    item.insert("record".into(), s(serde_json::to_string(r)?));
    item.insert("status".into(), s(r.status.as_str()));
    item.insert("version".into(), n(version));
    item.insert("created_at".into(), n(millis(r.timestamp)));
    if let Some(d) = r.decided_at {
        item.insert("decided_at".into(), n(millis(d)));
    }
    if r.status.is_final() {
        if let Some(ttl) = ttl {
            item.insert("expires_at".into(), n(ttl));
        }
    } else {
        item.insert("gsi1pk".into(), s("PENDING"));
        item.insert(
            "gsi1sk".into(),
            s(format!("{}#{}", pad(millis(r.expires_at)), r.request_id)),
        );
    }
    Ok(item)
}

fn conditional_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    matches!(e, SdkError::ServiceError(se) if se.err().code() == Some("ConditionalCheckFailedException"))
}

/// Throttling and transient failures (left after the SDK's retries) are
/// [`StoreError::Unavailable`]; anything else is a back-end fault.
fn sdk_err<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    const TRANSIENT: &[&str] = &[
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
    ];
    let code = e.code().map(str::to_owned);
    let message = match &code {
        Some(c) => format!("DynamoDB {c}: {}", e.message().unwrap_or("")),
        None => format!("DynamoDB: {}", aws_smithy_types_display(&e)),
    };
    let transient = match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => code.as_deref().is_some_and(|c| TRANSIENT.contains(&c)),
        _ => false,
    };
    if transient {
        StoreError::Unavailable(message)
    } else {
        StoreError::Backend(message)
    }
}

fn aws_smithy_types_display<E: std::error::Error>(e: &E) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

#[async_trait]
impl Store for DynamoStore {
    async fn insert(
        &self,
        record: ApprovalRecord,
        audit: AuditEntry,
        outbox: &[String],
    ) -> Result<Inserted, StoreError> {
        for _ in 0..MAX_RACES {
            let now = Utc::now();
            let mut items = vec![self.put(
                record_item(&record, 1, None)?,
                // A record whose TTL passed is gone: its id may be used again.
                Some((
                    "attribute_not_exists(pk) OR expires_at <= :now",
                    Item::from([(":now".to_owned(), n(now.timestamp()))]),
                )),
            )];
            items.push(self.put(self.audit_item(&record.request_id, 1, &audit)?, None));
            for t in timers_of(&record) {
                items.push(self.timer_item(&t));
            }
            items.extend(self.outbox_items(outbox, &record, 1, Notice::Created, audit.at)?);
            match self.transact(items).await {
                Ok(()) => return Ok(Inserted::Created(record)),
                Err(Lost::Condition) => {
                    if let Some((existing, _)) = self.read(&record.request_id).await? {
                        return Ok(Inserted::Existing(existing));
                    }
                    // Deleted in between: try the create again.
                }
                Err(Lost::Conflict) => tokio::task::yield_now().await,
                Err(Lost::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(format!(
            "creating {} kept racing other writers",
            record.request_id
        )))
    }

    async fn get(&self, request_id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        Ok(self.read(request_id).await?.map(|(r, _)| r))
    }

    async fn finals_among(
        &self,
        request_ids: &[String],
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        let now = Utc::now();
        let mut out = Vec::with_capacity(request_ids.len());
        let mut ids: Vec<&String> = request_ids.iter().collect();
        ids.sort();
        ids.dedup();
        for chunk in ids.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|id| Item::from([("pk".into(), s(req_pk(id))), ("sk".into(), s("REC"))]))
                .collect();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Backend(e.to_string()))?,
            );
            let mut rounds = 0;
            while let Some(req) = pending.take() {
                rounds += 1;
                let got = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, req)
                    .send()
                    .await
                    .map_err(sdk_err)?;
                for item in got
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    if !live(&item, now) {
                        continue;
                    }
                    let r = record_of(&item)?;
                    if r.status.is_final() {
                        out.push(r);
                    }
                }
                pending = got
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
                if pending.is_some() {
                    if rounds >= MAX_ATTEMPTS {
                        return Err(StoreError::Unavailable(
                            "DynamoDB kept some reads unprocessed (throttled)".to_owned(),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(50 << rounds)).await;
                }
            }
        }
        Ok(out)
    }

    async fn list(&self, filter: ListFilter) -> Result<Vec<ApprovalRecord>, StoreError> {
        let mut recs = Vec::new();
        for item in self.scan("REC").await? {
            if filter
                .status
                .is_some_and(|st| str_of(&item, "status").as_deref() != Some(st.as_str()))
            {
                continue;
            }
            recs.push(record_of(&item)?);
        }
        recs.sort_by_key(|r| std::cmp::Reverse(r.timestamp));
        recs.truncate(filter.limit);
        Ok(recs)
    }

    async fn pending(&self) -> Result<Vec<ApprovalRecord>, StoreError> {
        let (items, _) = self.query_index("PENDING", None, false).await?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let r = record_of(&item)?;
            // The index follows the table eventually: skip one just decided.
            if !r.status.is_final() {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn count_pending(&self) -> Result<u64, StoreError> {
        Ok(self.query_index("PENDING", None, true).await?.1)
    }

    async fn transition(
        &self,
        request_id: &str,
        step: Step,
        outbox: &[String],
    ) -> Result<ApprovalRecord, StoreError> {
        for round in 0..MAX_RACES {
            let Some((current, version)) = self.read(request_id).await? else {
                return Err(StoreError::NotFound(request_id.to_owned()));
            };
            let t = step(&current)?;
            let next = version + 1;
            let became_final = t.record.status.is_final() && !current.status.is_final();
            let ttl = if t.record.status.is_final() {
                self.final_ttl(t.record.decided_at.unwrap_or(t.audit.at))
            } else {
                None
            };
            let mut items = vec![self.put(
                record_item(&t.record, next, ttl)?,
                Some(("#ver = :v", Item::from([(":v".to_owned(), n(version))]))),
            )];
            items.push(self.put(self.audit_item(request_id, next, &t.audit)?, None));
            if became_final {
                for kind in [TimerKind::Remind, TimerKind::Expire] {
                    items.push(self.delete(req_pk(request_id), timer_sk(kind)));
                }
                let at = millis(t.audit.at);
                let mut feed = Item::new();
                feed.insert("pk".into(), s(format!("CHG#{:02}", feed_shard(request_id))));
                feed.insert("sk".into(), s(format!("{}#{request_id}", pad(at))));
                feed.insert("request_id".into(), s(request_id));
                feed.insert("at".into(), n(at));
                feed.insert(
                    "expires_at".into(),
                    n(t.audit.at.timestamp() + FEED_TTL_SECS),
                );
                items.push(self.put(feed, None));
            } else if t.record.reminded_at.is_some() && current.reminded_at.is_none() {
                items.push(self.delete(req_pk(request_id), timer_sk(TimerKind::Remind)));
            }
            if let Some(notice) = t.notice() {
                items.extend(self.outbox_items(outbox, &t.record, next, notice, t.audit.at)?);
            }
            match self.transact(items).await {
                Ok(()) => return Ok(t.record),
                // Someone else changed the record: read the winner's state
                // and run the step against it.
                Err(Lost::Condition) | Err(Lost::Conflict) => {
                    if round > 2 {
                        let jitter = (rand_ms(request_id, round) % 20) as u64;
                        tokio::time::sleep(Duration::from_millis(jitter)).await;
                    }
                }
                Err(Lost::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(format!(
            "{request_id} is changing too often to write; retry"
        )))
    }

    async fn outbox_claim(
        &self,
        channel: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = self.outbox_pending(channel).await?;
        // Per request, only the earliest row still pending goes out.
        let mut head: HashMap<String, i64> = HashMap::new();
        for r in &rows {
            let (Some(id), Some(seq)) = (str_of(r, "request_id"), num(r, "seq")) else {
                continue;
            };
            let e = head.entry(id).or_insert(seq);
            *e = (*e).min(seq);
        }
        let mut due: Vec<&Item> = rows
            .iter()
            .filter(|r| {
                num(r, "next_at").is_some_and(|t| t <= millis(now))
                    && num(r, "lease_until").is_none_or(|l| l <= millis(now))
                    && str_of(r, "request_id")
                        .and_then(|id| head.get(&id).copied())
                        .zip(num(r, "seq"))
                        .is_some_and(|(h, seq)| h == seq)
            })
            .collect();
        due.sort_by_key(|r| num(r, "next_at"));
        let mut out = Vec::new();
        for r in due {
            if out.len() >= limit {
                break;
            }
            let (id, seq) = (need_str(r, "request_id")?, num(r, "seq").unwrap_or(0));
            // The index may lag: confirm on the table that no earlier row of
            // this request is still pending on the channel.
            let earlier = self.query_pk(req_pk(&id), "OUT#").await?.iter().any(|o| {
                str_of(o, "channel").as_deref() == Some(channel)
                    && str_of(o, "state").as_deref() == Some("pending")
                    && num(o, "seq").is_some_and(|s| s < seq)
            });
            if earlier {
                continue;
            }
            let Some(item) = self
                .lease(
                    req_pk(&id),
                    outbox_sk(seq, channel),
                    Some("#st = :pending"),
                    now,
                    lease_until,
                )
                .await?
            else {
                continue;
            };
            out.push(outbox_row_of(channel, &id, seq, &item)?);
        }
        Ok(out)
    }

    async fn outbox_renew(
        &self,
        channel: &str,
        request_id: &str,
        seq: i64,
        held_until: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.renew(
            req_pk(request_id),
            outbox_sk(seq, channel),
            held_until,
            lease_until,
        )
        .await
    }

    async fn outbox_settle(
        &self,
        channel: &str,
        request_id: &str,
        seq: i64,
        outcome: Settle,
    ) -> Result<(), StoreError> {
        let mut u = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(req_pk(request_id)))
            .key("sk", s(outbox_sk(seq, channel)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":one", n(1));
        u = match outcome {
            Settle::Delivered { at } => u
                .update_expression(
                    "SET #st = :s, attempts = attempts + :one, delivered_at = :d REMOVE lease_until, gsi1pk, gsi1sk",
                )
                .expression_attribute_values(":s", s("delivered"))
                .expression_attribute_values(":d", n(millis(at))),
            Settle::Retry { next_at, error } => u
                .update_expression(
                    "SET #st = :s, attempts = attempts + :one, next_at = :n, last_error = :e, gsi1sk = :g REMOVE lease_until",
                )
                .expression_attribute_values(":s", s("pending"))
                .expression_attribute_values(":n", n(millis(next_at)))
                .expression_attribute_values(":e", s(error))
                .expression_attribute_values(
                    ":g",
                    s(outbox_gsi_sk(millis(next_at), request_id, seq)),
                ),
            Settle::Failed { error, .. } => u
                .update_expression(
                    "SET #st = :s, attempts = attempts + :one, last_error = :e REMOVE lease_until, gsi1pk, gsi1sk",
                )
                .expression_attribute_values(":s", s("failed"))
                .expression_attribute_values(":e", s(error)),
        };
        match u.send().await {
            Ok(_) => Ok(()),
            // The row went with its record (purge): nothing left to settle.
            Err(e) if conditional_failed(&e) => Ok(()),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn outbox_next_due(&self, channel: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let rows = self.outbox_pending(channel).await?;
        let mut head: HashMap<String, (i64, i64)> = HashMap::new();
        for r in &rows {
            let (Some(id), Some(seq), Some(next)) =
                (str_of(r, "request_id"), num(r, "seq"), num(r, "next_at"))
            else {
                continue;
            };
            let due = next.max(num(r, "lease_until").unwrap_or(0));
            let e = head.entry(id).or_insert((seq, due));
            if seq < e.0 {
                *e = (seq, due);
            }
        }
        Ok(head.values().map(|(_, due)| *due).min().map(from_millis))
    }

    async fn deliveries(&self, request_id: &str) -> Result<Vec<Delivery>, StoreError> {
        let mut rows = self.query_pk(req_pk(request_id), "OUT#").await?;
        rows.sort_by_key(|r| (str_of(r, "channel"), num(r, "seq")));
        let mut out: Vec<Delivery> = Vec::new();
        for r in rows {
            let channel = need_str(&r, "channel")?;
            if out.last().is_none_or(|d| d.channel != channel) {
                out.push(Delivery {
                    channel: channel.clone(),
                    state: DeliveryState::Delivered,
                    attempts: 0,
                    last_error: None,
                    delivered_at: None,
                });
            }
            let Some(d) = out.last_mut() else { continue };
            d.attempts += num(&r, "attempts").unwrap_or(0) as u32;
            if let Some(e) = str_of(&r, "last_error") {
                d.last_error = Some(e);
            }
            if let Some(at) = num(&r, "delivered_at") {
                d.delivered_at = Some(from_millis(at));
            }
            let state = str_of(&r, "state").unwrap_or_default();
            d.state = match (d.state, state.as_str()) {
                (DeliveryState::Failed, _) | (_, "failed") => DeliveryState::Failed,
                (DeliveryState::Pending, _) | (_, "pending") => DeliveryState::Pending,
                _ => DeliveryState::Delivered,
            };
        }
        Ok(out)
    }

    async fn timers(&self) -> Result<Vec<Timer>, StoreError> {
        let (items, _) = self.query_index("TIMER", None, false).await?;
        Ok(items.iter().filter_map(timer_of).collect())
    }

    async fn claim_timer(
        &self,
        request_id: &str,
        kind: TimerKind,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self
            .lease(req_pk(request_id), timer_sk(kind), None, now, lease_until)
            .await?
            .is_some())
    }

    async fn renew_timer(
        &self,
        request_id: &str,
        kind: TimerKind,
        held_until: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.renew(req_pk(request_id), timer_sk(kind), held_until, lease_until)
            .await
    }

    async fn release_timer(&self, request_id: &str, kind: TimerKind) -> Result<(), StoreError> {
        match self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(req_pk(request_id)))
            .key("sk", s(timer_sk(kind)))
            .condition_expression("attribute_exists(pk)")
            .update_expression("REMOVE lease_until")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if conditional_failed(&e) => Ok(()),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn claim_due_timers(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Timer>, StoreError> {
        let (items, _) = self
            .query_index("TIMER", Some(pad(millis(now) + 1)), false)
            .await?;
        let mut out = Vec::new();
        for item in items {
            if out.len() >= limit {
                break;
            }
            if num(&item, "lease_until").is_some_and(|l| l > millis(now)) {
                continue;
            }
            let Some(t) = timer_of(&item) else { continue };
            if self
                .lease(
                    req_pk(&t.request_id),
                    timer_sk(t.kind),
                    None,
                    now,
                    lease_until,
                )
                .await?
                .is_some()
            {
                out.push(t);
            }
        }
        Ok(out)
    }

    async fn finals_since(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<String>, String), StoreError> {
        let now = millis(Utc::now());
        let Some(cursor) = cursor else {
            return Ok((Vec::new(), (now - FEED_LAG_MS).to_string()));
        };
        let after: i64 = cursor
            .parse()
            .map_err(|_| StoreError::Backend(format!("not a finals cursor: {cursor:?}")))?;
        let mut seen: BTreeMap<(i64, String), ()> = BTreeMap::new();
        for shard in 0..FINAL_SHARDS {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk > :after")
                .expression_attribute_values(":pk", s(format!("CHG#{shard:02}")))
                .expression_attribute_values(":after", s(format!("{}#~", pad(after))))
                .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(sdk_err)?;
            for item in page.items.unwrap_or_default() {
                if let (Some(at), Some(id)) = (num(&item, "at"), str_of(&item, "request_id")) {
                    seen.insert((at, id), ());
                }
            }
        }
        let rows: Vec<(i64, String)> = seen.into_keys().take(limit).collect();
        let next = if limit > 0 && rows.len() >= limit {
            // A full page: continue right after it (the same millisecond is
            // read again so none of its finals is skipped).
            rows.last()
                .map(|(at, _)| at - 1)
                .unwrap_or(after)
                .max(after)
        } else {
            after.max(now - FEED_LAG_MS)
        };
        Ok((
            rows.into_iter().map(|(_, id)| id).collect(),
            next.to_string(),
        ))
    }

    async fn audit(
        &self,
        request_id: Option<&str>,
        from: AuditFrom,
        limit: usize,
    ) -> Result<(Vec<AuditEvent>, Option<String>), StoreError> {
        // Entries carry the seq this store gave them; the cursor is the
        // last one seen, behind this store's own prefix.
        let after = match from {
            AuditFrom::Start => 0,
            AuditFrom::Seq(seq) => seq,
            AuditFrom::Cursor(c) => c
                .strip_prefix("dy1.")
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| {
                    StoreError::BadCursor(format!(
                        "`cursor` {c:?} is not one this service gave out; pass a page's `next_cursor` as it is"
                    ))
                })?,
        };
        let mut items = match request_id {
            Some(id) => self.audit_page(id, after, limit).await?,
            None => {
                let mut all = self.scan("EV#").await?;
                all.retain(|i| num(i, "seq").is_some_and(|s| s > after));
                all.sort_by_key(|i| num(i, "seq"));
                all
            }
        };
        items.truncate(limit);
        items
            .into_iter()
            .map(|i| {
                Ok(AuditEvent {
                    seq: num(&i, "seq").unwrap_or(0),
                    request_id: need_str(&i, "request_id")?,
                    at: from_millis(num(&i, "at").unwrap_or(0)),
                    actor: need_str(&i, "actor")?,
                    action: need_str(&i, "action")?,
                    from_status: str_of(&i, "from_status").map(status_of).transpose()?,
                    to_status: status_of(need_str(&i, "to_status")?)?,
                    detail: serde_json::from_str(&need_str(&i, "detail")?)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()
            .map(|events| {
                let next = (events.len() == limit)
                    .then(|| events.last().map(|e| format!("dy1.{}", e.seq)))
                    .flatten();
                (events, next)
            })
    }

    async fn purge(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let cutoff = millis(cutoff);
        let mut gone = 0u64;
        for rec in self.scan("REC").await? {
            let decided = num(&rec, "decided_at");
            let status = str_of(&rec, "status").unwrap_or_default();
            if status == "pending" || decided.is_none_or(|d| d >= cutoff) {
                continue;
            }
            let pk = need_str(&rec, "pk")?;
            let items = self.query_pk(pk.clone(), "").await?;
            for item in &items {
                let sk = need_str(item, "sk")?;
                if let (true, Some(p), Some(c), Some(t)) = (
                    sk.starts_with("MSG#"),
                    str_of(item, "platform"),
                    str_of(item, "conversation"),
                    str_of(item, "thread"),
                ) {
                    self.delete_item(thread_pk(&p, &c, &t), need_str(item, "thread_sk")?)
                        .await?;
                }
                if sk != "REC" {
                    self.delete_item(pk.clone(), sk).await?;
                }
            }
            // The record last, so an interrupted purge is found again.
            self.delete_item(pk, "REC".to_owned()).await?;
            gone += 1;
        }
        for ses in self.scan("SES").await? {
            if num(&ses, "created_at").is_some_and(|c| c < cutoff) {
                self.delete_item(need_str(&ses, "pk")?, need_str(&ses, "sk")?)
                    .await?;
            }
        }
        Ok(gone)
    }

    async fn put_message_ref(&self, request_id: &str, r: MessageRef) -> Result<(), StoreError> {
        for _ in 0..MAX_RACES {
            let Some((record, _)) = self.read(request_id).await? else {
                return Err(StoreError::NotFound(request_id.to_owned()));
            };
            let old = self
                .get_item(req_pk(request_id), &format!("MSG#{}", esc(&r.platform)))
                .await?;
            let thread_sk = format!(
                "{}#{}#{}",
                pad(millis(record.timestamp)),
                esc(&r.message),
                request_id
            );
            let mut item = Item::new();
            item.insert("pk".into(), s(req_pk(request_id)));
            item.insert("sk".into(), s(format!("MSG#{}", esc(&r.platform))));
            item.insert("platform".into(), s(r.platform.clone()));
            item.insert("conversation".into(), s(r.conversation.clone()));
            item.insert("message".into(), s(r.message.clone()));
            item.insert("thread".into(), s(r.thread.clone()));
            item.insert("thread_sk".into(), s(thread_sk.clone()));
            if let Some(p) = &r.platform_ref {
                item.insert("platform_ref".into(), s(p.clone()));
            }
            let new_thread = thread_pk(&r.platform, &r.conversation, &r.thread);
            let mut items = vec![
                TransactWriteItem::builder()
                    .condition_check(
                        ConditionCheck::builder()
                            .table_name(&self.table)
                            .key("pk", s(req_pk(request_id)))
                            .key("sk", s("REC"))
                            .condition_expression("attribute_exists(pk)")
                            .build()
                            .expect("table, key and condition are set"),
                    )
                    .build(),
                self.put(item, None),
            ];
            let mut index = Item::new();
            index.insert("pk".into(), s(new_thread.clone()));
            index.insert("sk".into(), s(thread_sk.clone()));
            index.insert("request_id".into(), s(request_id));
            if let Some(old) = &old {
                let old_pk = thread_pk(
                    &str_of(old, "platform").unwrap_or_default(),
                    &str_of(old, "conversation").unwrap_or_default(),
                    &str_of(old, "thread").unwrap_or_default(),
                );
                let old_sk = str_of(old, "thread_sk").unwrap_or_default();
                if (old_pk.as_str(), old_sk.as_str()) != (new_thread.as_str(), thread_sk.as_str()) {
                    items.push(self.delete(old_pk, old_sk));
                }
            }
            items.push(self.put(index, None));
            match self.transact(items).await {
                Ok(()) => return Ok(()),
                Err(Lost::Condition) => return Err(StoreError::NotFound(request_id.to_owned())),
                Err(Lost::Conflict) => tokio::task::yield_now().await,
                Err(Lost::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(format!(
            "the message reference of {request_id} kept racing other writers"
        )))
    }

    async fn message_ref(
        &self,
        request_id: &str,
        platform: &str,
    ) -> Result<Option<MessageRef>, StoreError> {
        let Some(item) = self
            .get_item(req_pk(request_id), &format!("MSG#{}", esc(platform)))
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(MessageRef {
            platform: platform.to_owned(),
            conversation: need_str(&item, "conversation")?,
            message: need_str(&item, "message")?,
            thread: need_str(&item, "thread")?,
            platform_ref: str_of(&item, "platform_ref"),
        }))
    }

    async fn requests_in_thread(
        &self,
        platform: &str,
        conversation: &str,
        thread: &str,
    ) -> Result<Vec<String>, StoreError> {
        let items = self
            .query_pk(thread_pk(platform, conversation, thread), "")
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| str_of(i, "request_id"))
            .collect())
    }

    async fn session_thread(
        &self,
        platform: &str,
        channel_key: &str,
        session: &str,
    ) -> Result<Option<ThreadRef>, StoreError> {
        let item = self
            .get_item(session_pk(platform, channel_key, session), "SES")
            .await?;
        item.map(|i| thread_ref_of(&i)).transpose()
    }

    async fn put_session_thread(
        &self,
        platform: &str,
        channel_key: &str,
        session: &str,
        thread: ThreadRef,
        now: DateTime<Utc>,
    ) -> Result<ThreadRef, StoreError> {
        let pk = session_pk(platform, channel_key, session);
        let mut item = Item::new();
        item.insert("pk".into(), s(pk.clone()));
        item.insert("sk".into(), s("SES"));
        item.insert("conversation".into(), s(thread.conversation.clone()));
        item.insert("thread".into(), s(thread.thread.clone()));
        if let Some(p) = &thread.platform_ref {
            item.insert("platform_ref".into(), s(p.clone()));
        }
        item.insert("created_at".into(), n(millis(now)));
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(thread),
            Err(e) if conditional_failed(&e) => {
                let stored = self.get_item(pk, "SES").await?.ok_or_else(|| {
                    StoreError::Unavailable("session thread changed while read; retry".into())
                })?;
                thread_ref_of(&stored)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn claim_once(
        &self,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut item = Item::new();
        item.insert("pk".into(), s(format!("ONCE#{key}")));
        item.insert("sk".into(), s("ONCE"));
        item.insert("until".into(), n(millis(expires_at)));
        // DynamoDB's TTL clears spent keys (whole seconds, rounded up so a
        // key is never dropped early); `until` decides to the millisecond.
        item.insert(
            "expires_at".into(),
            n((millis(expires_at) + 999).div_euclid(1000)),
        );
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #u <= :now")
            .expression_attribute_names("#u", "until")
            .expression_attribute_values(":now", n(millis(now)))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if conditional_failed(&e) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn put_credential(&self, c: NewCredential) -> Result<(), StoreError> {
        // The listing entry goes first and the lookup entry last, and revoking
        // deletes in the other order: a half-done write leaves a listed
        // credential that does not work, never a working one nobody can list.
        let cred = &c.credential;
        let mut item = Item::new();
        item.insert("pk".into(), s(CREDS_PK));
        item.insert("sk".into(), s(cred.id.clone()));
        item.insert("hash".into(), s(c.hash.clone()));
        credential_fields(&mut item, cred);
        self.put_new(item).await?;
        let mut lookup = Item::new();
        lookup.insert("pk".into(), s(cred_pk(&c.hash)));
        lookup.insert("sk".into(), s("CRED"));
        credential_fields(&mut lookup, cred);
        self.put_new(lookup).await
    }

    async fn credential_by_hash(&self, hash: &str) -> Result<Option<Credential>, StoreError> {
        self.get_item(cred_pk(hash), "CRED")
            .await?
            .map(|i| credential_of(&i))
            .transpose()
    }

    async fn credentials(&self) -> Result<Vec<Credential>, StoreError> {
        let mut all = self
            .query_pk(CREDS_PK.to_owned(), "")
            .await?
            .iter()
            .map(credential_of)
            .collect::<Result<Vec<_>, _>>()?;
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    async fn revoke_credential(&self, id: &str) -> Result<bool, StoreError> {
        let Some(listed) = self.get_item(CREDS_PK.to_owned(), id).await? else {
            return Ok(false);
        };
        let hash = need_str(&listed, "hash")?;
        self.delete_item(cred_pk(&hash), "CRED".to_owned()).await?;
        self.delete_item(CREDS_PK.to_owned(), id.to_owned()).await?;
        Ok(true)
    }

    async fn put_task_token(&self, request_id: &str, token: &str) -> Result<bool, StoreError> {
        // The token item beside the record, written only while the record
        // is pending: one transaction with a check on the record.
        let pk = req_pk(request_id);
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(pk.clone()))
            .key("sk", s("REC"))
            .condition_expression("#s = :pending")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":pending", s("pending"))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("sk", s(TOKEN_SK))
            .item("token", s(token))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        for _ in 0..MAX_RACES {
            match self.transact(items.clone()).await {
                Ok(()) => return Ok(true),
                Err(Lost::Condition) => return Ok(false),
                Err(Lost::Conflict) => continue,
                Err(Lost::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(format!(
            "the task token of {request_id} kept conflicting with other writes"
        )))
    }

    async fn task_token(&self, request_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get_item(req_pk(request_id), TOKEN_SK)
            .await?
            .and_then(|i| str_of(&i, "token")))
    }
}

/// The sort key of a request's workflow task token.
const TOKEN_SK: &str = "TOKEN";

impl DynamoStore {
    /// Writes an item that must not exist yet.
    async fn put_new(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn delete_item(&self, pk: String, sk: String) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }
}

/// The partition that lists every credential (sk: the credential's id).
const CREDS_PK: &str = "CREDS";

/// The lookup entry of the credential whose token hashes to `hash`.
fn cred_pk(hash: &str) -> String {
    format!("CRED#{hash}")
}

fn credential_fields(item: &mut Item, c: &Credential) {
    item.insert("id".into(), s(c.id.clone()));
    item.insert("role".into(), s(c.role.as_str()));
    if let Some(w) = &c.who {
        item.insert("who".into(), s(w.clone()));
    }
    item.insert("created_at".into(), n(millis(c.created_at)));
}

fn credential_of(item: &Item) -> Result<Credential, StoreError> {
    let id = need_str(item, "id")?;
    let role = need_str(item, "role")?;
    let role = Role::parse(&role).ok_or_else(|| {
        StoreError::Backend(format!("credential {id} has an unknown role {role:?}"))
    })?;
    Ok(Credential {
        id,
        role,
        who: str_of(item, "who"),
        created_at: from_millis(num(item, "created_at").unwrap_or(0)),
    })
}

fn session_pk(platform: &str, channel_key: &str, session: &str) -> String {
    format!(
        "SES#{}#{}#{}",
        esc(platform),
        esc(channel_key),
        esc(session)
    )
}

fn thread_ref_of(item: &Item) -> Result<ThreadRef, StoreError> {
    Ok(ThreadRef {
        conversation: need_str(item, "conversation")?,
        thread: need_str(item, "thread")?,
        platform_ref: str_of(item, "platform_ref"),
    })
}

/// A small deterministic spread for retry sleeps (no RNG dependency).
fn rand_ms(id: &str, round: usize) -> u32 {
    feed_shard(&format!("{id}{round}{:?}", std::time::Instant::now())) * 7 + round as u32
}
