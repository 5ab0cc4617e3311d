//! The outbox: everything the bot says on its own is written here in the same transaction as
//! the decision to send it, under a unique key for its logical slot, then delivered by workers
//! that claim rows with `FOR UPDATE SKIP LOCKED` and a lease.

use super::types::{OutboxKind, OutboxStatus, OutboxTarget};
use super::{Store, StoreResult, Tx};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Who gets a message and what it says: written when it is enqueued, read back when claimed.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Envelope {
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
}

/// A message to enqueue.
#[derive(Clone, Debug)]
pub struct NewOutbox {
    /// Recipient and content.
    pub envelope: Envelope,
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
    /// Recipient and content.
    #[sqlx(flatten)]
    pub envelope: Envelope,
    /// Delivery attempts so far, this one included.
    pub attempts: i32,
    /// This claim's mark on the row: every outcome recorded names it.
    pub claim: i64,
    /// When an earlier attempt ended without knowing whether Discord took the message.
    pub maybe_taken_at: Option<DateTime<Utc>>,
}

impl NewOutbox {
    /// A pending direct message to `user_id`, due at `due_at`, with nothing in it yet.
    pub fn dm(dedupe_key: String, kind: OutboxKind, user_id: i64, due_at: DateTime<Utc>) -> Self {
        Self::new(
            dedupe_key,
            kind,
            OutboxTarget::Dm,
            Some(user_id),
            None,
            due_at,
        )
    }

    /// A pending post to `channel_id`, due at `due_at`, with nothing in it yet.
    pub fn channel(
        dedupe_key: String,
        kind: OutboxKind,
        channel_id: i64,
        due_at: DateTime<Utc>,
    ) -> Self {
        Self::new(
            dedupe_key,
            kind,
            OutboxTarget::Channel,
            None,
            Some(channel_id),
            due_at,
        )
    }

    fn new(
        dedupe_key: String,
        kind: OutboxKind,
        target: OutboxTarget,
        user_id: Option<i64>,
        channel_id: Option<i64>,
        due_at: DateTime<Utc>,
    ) -> Self {
        NewOutbox {
            envelope: Envelope {
                dedupe_key,
                kind,
                target,
                user_id,
                channel_id,
                payload: Value::Null,
                files: Vec::new(),
            },
            due_at,
            status: OutboxStatus::Pending,
            note: None,
        }
    }

    /// The message itself: a serialized reply and its attachments' bytes.
    pub fn saying(mut self, (payload, files): (Value, Vec<Vec<u8>>)) -> Self {
        self.envelope.payload = payload;
        self.envelope.files = files;
        self
    }

    /// Recorded so the decision is visible, never sent, with the reason.
    pub fn skipped(mut self, note: impl Into<String>) -> Self {
        self.status = OutboxStatus::Skipped;
        self.note = Some(note.into());
        self
    }
}

impl Tx {
    /// Locks a claimed message's row until the transaction ends: an `/undo` that brings its
    /// task back (the `tasks_reminder_revive` trigger locks the same row) waits for what this
    /// transaction decides, or has committed before it reads the task.
    pub async fn lock_outbox(&mut self, row: &OutboxRow) -> StoreResult<()> {
        sqlx::query("SELECT 1 FROM outbox WHERE workspace_id = $1 AND id = $2 FOR UPDATE")
            .bind(row.workspace_id)
            .bind(row.id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Whether a task is still open and due at `due` (unix seconds, as its reminder's slot key
    /// holds it): a reminder that waited in the outbox (an outage, retries) for a task done or
    /// snoozed since would remind of something that is not due.
    pub async fn task_still_due(&mut self, ws: i64, task: i64, due: i64) -> StoreResult<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM tasks WHERE workspace_id = $1 AND id = $2 AND status = 'open'
                                                   AND floor(extract(epoch FROM due_at))::bigint = $3)",
        )
        .bind(ws)
        .bind(task)
        .bind(due)
        .fetch_one(self.conn())
        .await?)
    }

    /// Enqueues a message unless its slot is taken; true when this call wrote it.
    pub async fn enqueue(&mut self, ws: i64, m: &NewOutbox) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO outbox (workspace_id, dedupe_key, kind, target, user_id, channel_id, payload, files, due_at,
                                 next_attempt_at, status, last_error)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11)
             ON CONFLICT (workspace_id, dedupe_key) DO NOTHING",
        )
        .bind(ws)
        .bind(&m.envelope.dedupe_key)
        .bind(m.envelope.kind)
        .bind(m.envelope.target)
        .bind(m.envelope.user_id)
        .bind(m.envelope.channel_id)
        .bind(&m.envelope.payload)
        .bind(&m.envelope.files)
        .bind(m.due_at)
        .bind(m.status)
        .bind(&m.note)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether this slot already has a row (sent, pending or skipped).
    pub async fn slot_taken(&mut self, ws: i64, key: &str) -> StoreResult<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE workspace_id = $1 AND dedupe_key = $2)",
        )
        .bind(ws)
        .bind(key)
        .fetch_one(self.conn())
        .await?)
    }

    /// [`Store::outbox_retry`] in this transaction (with what else the outcome writes).
    pub async fn outbox_retry(
        &mut self,
        row: &OutboxRow,
        next_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()> {
        outbox_retry(self.conn(), row, next_at, error, None, false).await
    }

    /// Skips a claimed message, with the reason.
    pub async fn outbox_skip(&mut self, row: &OutboxRow, reason: &str) -> StoreResult<()> {
        outbox_unsent(self.conn(), row, "skipped", reason).await
    }

    /// Sends a pending channel post to `channel` instead, due at `at`; the attempt the
    /// refusing channel took is given back, since the new one was not tried.
    pub async fn outbox_retarget(
        &mut self,
        row: &OutboxRow,
        channel: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE outbox SET channel_id = $3, next_attempt_at = $4, attempts = GREATEST(attempts - 1, 0),
                               maybe_taken_at = NULL
             WHERE workspace_id = $1 AND id = $2 AND status = 'pending' AND target = 'channel' AND claim = $5",
        )
            .bind(row.workspace_id)
            .bind(row.id)
            .bind(channel)
            .bind(at)
            .bind(row.claim)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// [`Store::outbox_failed`] in this transaction.
    pub async fn outbox_failed(&mut self, row: &OutboxRow, error: &str) -> StoreResult<()> {
        outbox_unsent(self.conn(), row, "failed", error).await
    }
}

impl Store {
    /// Claims up to `limit` due messages for `lease`: a claimed row is invisible to other
    /// workers until delivered or until the lease runs out (a worker that died mid-delivery).
    ///
    /// Only kinds and targets this binary can read are claimed. During a rolling upgrade an
    /// older process runs beside a newer one that may enqueue a kind the older does not know;
    /// claimed by the older, that row would fail to decode and take the whole claimed batch
    /// down with it, lease after lease, with no end (its attempts rise with each claim but are
    /// compared with the limit only once a row decodes). Left alone, it waits for a process
    /// that knows it, and counts in the outbox's pending gauges meanwhile; after a rollback
    /// to a version without that kind it waits there until an operator deletes it, as the
    /// growing oldest-due gauge shows.
    pub async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>> {
        Ok(sqlx::query_as(
            "UPDATE outbox o SET attempts = o.attempts + 1, next_attempt_at = $2, claim = $6
             FROM (SELECT workspace_id, id FROM outbox
                   WHERE status = 'pending' AND next_attempt_at <= $1
                     AND kind = ANY($4) AND target = ANY($5)
                   ORDER BY next_attempt_at LIMIT $3
                   FOR UPDATE SKIP LOCKED) c
             WHERE o.workspace_id = c.workspace_id AND o.id = c.id
             RETURNING o.workspace_id, o.id, o.dedupe_key, o.kind, o.target, o.user_id, o.channel_id, o.payload, o.files,
                       o.attempts, o.claim, o.maybe_taken_at",
        )
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .bind(OutboxKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>())
        .bind(OutboxTarget::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>())
        .bind(rand::random::<i64>())
        .fetch_all(self.pool())
        .await?)
    }

    /// Records a delivery with Discord's message id.
    pub async fn outbox_delivered(
        &self,
        row: &OutboxRow,
        message_id: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE outbox SET status = 'delivered', delivered_message_id = $3, delivered_at = $4, last_error = NULL,
                               maybe_taken_at = NULL
             WHERE workspace_id = $1 AND id = $2 AND status = 'pending' AND claim = $5",
        )
        .bind(row.workspace_id)
        .bind(row.id)
        .bind(message_id)
        .bind(at)
        .bind(row.claim)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Schedules another attempt.
    pub async fn outbox_retry(
        &self,
        row: &OutboxRow,
        next_at: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<()> {
        outbox_retry(self.pool(), row, next_at, error, None, false).await
    }

    /// Schedules another attempt, with what the outbox knows of attempts Discord may have
    /// taken: `taken_at` (when set) becomes the row's `maybe_taken_at`, and an `uncounted`
    /// attempt (one made inside such an attempt's nonce window) is given back.
    pub async fn outbox_retry_in_doubt(
        &self,
        row: &OutboxRow,
        next_at: DateTime<Utc>,
        error: &str,
        taken_at: Option<DateTime<Utc>>,
        uncounted: bool,
    ) -> StoreResult<()> {
        outbox_retry(self.pool(), row, next_at, error, taken_at, uncounted).await
    }

    /// Deletes the messages that stopped being pending (delivered, failed or skipped) and were
    /// created before `before`, at most `batch` a statement, and returns how many went. A
    /// pending message is never deleted, however old: it is still owed. The caller keeps
    /// them longer than any scan looks back for a slot key (`scheduler/jobs.rs`
    /// `OUTBOX_RETENTION`), so a slot never comes free again by this.
    pub async fn expire_outbox(&self, before: DateTime<Utc>, batch: i64) -> StoreResult<u64> {
        self.delete_in_batches(batch, || {
            sqlx::query(
                "DELETE FROM outbox o
                 USING (SELECT workspace_id, id FROM outbox
                        WHERE status <> 'pending' AND created_at < $1 LIMIT $2) old
                 WHERE o.workspace_id = old.workspace_id AND o.id = old.id AND o.status <> 'pending'",
            )
            .bind(before)
            .bind(batch)
        })
        .await
    }

    /// Hands a claimed message back unsent, due at `at`, and takes back the attempt its claim
    /// counted: it was rate limited, held back, or past what its lease covered.
    pub async fn outbox_hand_back(&self, row: &OutboxRow, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE outbox SET attempts = greatest(attempts - 1, 0), next_attempt_at = $3
             WHERE workspace_id = $1 AND id = $2 AND status = 'pending' AND claim = $4",
        )
        .bind(row.workspace_id)
        .bind(row.id)
        .bind(at)
        .bind(row.claim)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Gives a message up, with the reason.
    pub async fn outbox_failed(&self, row: &OutboxRow, error: &str) -> StoreResult<()> {
        outbox_unsent(self.pool(), row, "failed", error).await
    }
}

async fn outbox_retry(
    conn: impl sqlx::PgExecutor<'_>,
    row: &OutboxRow,
    next_at: DateTime<Utc>,
    error: &str,
    maybe_taken_at: Option<DateTime<Utc>>,
    uncounted: bool,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE outbox SET next_attempt_at = $3, last_error = $4,
                           maybe_taken_at = COALESCE($6, maybe_taken_at),
                           attempts = CASE WHEN $7 THEN GREATEST(attempts - 1, 0) ELSE attempts END
         WHERE workspace_id = $1 AND id = $2 AND status = 'pending' AND claim = $5",
    )
    .bind(row.workspace_id)
    .bind(row.id)
    .bind(next_at)
    .bind(error)
    .bind(row.claim)
    .bind(maybe_taken_at)
    .bind(uncounted)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends a claimed message unsent: `status` is `skipped` or `failed`, with why.
async fn outbox_unsent(
    conn: impl sqlx::PgExecutor<'_>,
    row: &OutboxRow,
    status: &'static str,
    why: &str,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE outbox SET status = $5, last_error = $3
         WHERE workspace_id = $1 AND id = $2 AND status = 'pending' AND claim = $4",
    )
    .bind(row.workspace_id)
    .bind(row.id)
    .bind(why)
    .bind(row.claim)
    .bind(status)
    .execute(conn)
    .await?;
    Ok(())
}

/// A task reminder's slot key: one reminder per task and due time.
///
/// The `tasks_reminder_revive` trigger (migration `task_reminder_revive`) builds the same key
/// in SQL.
pub fn task_slot_key(ws: i64, task: i64, due: DateTime<Utc>) -> String {
    format!("task:{ws}:{task}:{}", due.timestamp())
}

/// The task and due time (unix seconds) of a [`task_slot_key`].
pub fn task_slot(key: &str) -> Option<(i64, i64)> {
    let mut parts = key.strip_prefix("task:")?.split(':');
    let (_ws, task, due) = (parts.next()?, parts.next()?, parts.next()?);
    Some((task.parse().ok()?, due.parse().ok()?))
}
