//! The outbox: everything the bot says on its own is written here in the same transaction as
//! the decision to send it, under a unique key for its logical slot, then delivered by workers
//! that claim rows with `FOR UPDATE SKIP LOCKED` and a lease.

use super::types::{OutboxKind, OutboxStatus, OutboxTarget};
use super::{Store, StoreResult, Tx};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// A message to enqueue.
#[derive(Clone, Debug)]
pub struct NewOutbox {
    /// The logical slot, e.g. `digest:42:2026-W49`; a second enqueue of the same key is a no-op.
    pub dedupe_key: String,
    /// What it is.
    pub kind: OutboxKind,
    /// A DM or a channel post.
    pub target: OutboxTarget,
    /// Recipient of a DM.
    pub user_id: Option<i64>,
    /// Channel of a post.
    pub channel_id: Option<i64>,
    /// The message (a serialized reply, attachments named in order).
    pub payload: Value,
    /// Attachment bytes, in the payload's order.
    pub files: Vec<Vec<u8>>,
    /// When it became due.
    pub due_at: DateTime<Utc>,
    /// Pending, or skipped to record a slot that had nothing to say or came too late.
    pub status: OutboxStatus,
    /// Why it was skipped.
    pub note: Option<String>,
}

/// A claimed message, ready to deliver.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OutboxRow {
    /// Workspace.
    pub workspace_id: i64,
    /// Row id.
    pub id: i64,
    /// Logical slot.
    pub dedupe_key: String,
    /// What it is.
    pub kind: OutboxKind,
    /// A DM or a channel post.
    pub target: OutboxTarget,
    /// DM recipient.
    pub user_id: Option<i64>,
    /// Channel.
    pub channel_id: Option<i64>,
    /// The message.
    pub payload: Value,
    /// Attachment bytes.
    pub files: Vec<Vec<u8>>,
    /// Delivery attempts so far, this one included.
    pub attempts: i32,
}

impl Tx {
    /// Enqueues a message unless its slot is taken; true when this call wrote it.
    pub async fn enqueue(&mut self, ws: i64, m: &NewOutbox) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO outbox (workspace_id, dedupe_key, kind, target, user_id, channel_id, payload, files, due_at,
                                 next_attempt_at, status, last_error)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11)
             ON CONFLICT (workspace_id, dedupe_key) DO NOTHING",
        )
        .bind(ws)
        .bind(&m.dedupe_key)
        .bind(m.kind)
        .bind(m.target)
        .bind(m.user_id)
        .bind(m.channel_id)
        .bind(&m.payload)
        .bind(&m.files)
        .bind(m.due_at)
        .bind(m.status)
        .bind(&m.note)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Which of these slots already have a row (sent, pending or skipped).
    pub async fn taken_slots(&mut self, ws: i64, keys: &[String]) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT dedupe_key FROM outbox WHERE workspace_id = $1 AND dedupe_key = ANY($2)",
        )
        .bind(ws)
        .bind(keys)
        .fetch_all(self.conn())
        .await?)
    }
}

impl Store {
    /// Claims up to `limit` due messages for `lease`: a claimed row is invisible to other
    /// workers until delivered or until the lease runs out (a worker that died mid-delivery).
    pub async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>> {
        Ok(sqlx::query_as(
            "UPDATE outbox o SET attempts = o.attempts + 1, next_attempt_at = $2
             FROM (SELECT workspace_id, id FROM outbox
                   WHERE status = 'pending' AND next_attempt_at <= $1
                   ORDER BY next_attempt_at LIMIT $3
                   FOR UPDATE SKIP LOCKED) c
             WHERE o.workspace_id = c.workspace_id AND o.id = c.id
             RETURNING o.workspace_id, o.id, o.dedupe_key, o.kind, o.target, o.user_id, o.channel_id, o.payload, o.files,
                       o.attempts",
        )
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Records a delivery with Discord's message id.
    pub async fn outbox_delivered(
        &self,
        ws: i64,
        id: i64,
        message_id: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE outbox SET status = 'delivered', delivered_message_id = $3, delivered_at = $4, last_error = NULL
             WHERE workspace_id = $1 AND id = $2 AND status = 'pending'",
        )
        .bind(ws)
        .bind(id)
        .bind(message_id)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Schedules another attempt.
    pub async fn outbox_retry(
        &self,
        ws: i64,
        id: i64,
        next_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE outbox SET next_attempt_at = $3, last_error = $4 WHERE workspace_id = $1 AND id = $2 AND status = 'pending'",
        )
        .bind(ws)
        .bind(id)
        .bind(next_at)
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Gives a message up, with the reason.
    pub async fn outbox_failed(&self, ws: i64, id: i64, error: &str) -> StoreResult<()> {
        sqlx::query("UPDATE outbox SET status = 'failed', last_error = $3 WHERE workspace_id = $1 AND id = $2 AND status = 'pending'")
            .bind(ws)
            .bind(id)
            .bind(error)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
