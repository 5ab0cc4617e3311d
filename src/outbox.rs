//! Delivering the outbox: claim due messages, send each through a [`Deliver`]er and record
//! the outcome. Delivery is a trait so this layer knows no transport: each front-end
//! implements it in its own folder (Discord's `Sender` in `discord/send.rs`, the console's
//! collector in `console.rs`). Retryable failures back off (honouring a retry-after when the
//! sender knows one) up to a bound; permanent ones are recorded with their reason and never
//! block the rest.

use crate::engine::Reply;
use crate::store::{OutboxRow, OutboxTarget, Store};
use chrono::{DateTime, Duration, Utc};
use std::future::Future;

/// How long a claim holds: a worker that dies mid-delivery leaves the message to another
/// after this. Far longer than one delivery takes.
pub const LEASE: Duration = Duration::seconds(60);
/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: i32 = 8;

/// Where a message goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A member's direct messages.
    Dm(u64),
    /// A channel.
    Channel(u64),
}

/// A message on its way.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// Workspace it belongs to.
    pub workspace_id: i64,
    /// Where it goes.
    pub target: Target,
    /// What it says (attachments with their bytes).
    pub reply: Reply,
    /// Its logical slot, e.g. `digest:42:2026-W49`.
    pub dedupe_key: String,
}

/// Why a delivery did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryError {
    /// Try again later; `after` when the other side said when.
    Retry {
        after: Option<std::time::Duration>,
        reason: String,
    },
    /// Will never work (DMs closed, channel gone): recorded, not retried.
    Permanent(String),
}

/// Something that can deliver a message and return its message id.
pub trait Deliver: Sync {
    /// Sends one message.
    fn deliver(
        &self,
        message: &Outgoing,
    ) -> impl Future<Output = Result<u64, DeliveryError>> + Send;
}

/// What one pass of the worker did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Delivered.
    pub delivered: usize,
    /// Scheduled for another attempt.
    pub retried: usize,
    /// Given up.
    pub failed: usize,
}

/// Backoff after `attempts` failures: 5 s, 10 s, 20 s ... capped at an hour.
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 20) - 1;
    Duration::seconds((5i64 << exp).min(3600))
}

/// Rebuilds the reply from a claimed row.
pub fn outgoing(row: &OutboxRow) -> Result<Outgoing, String> {
    let mut reply: Reply = serde_json::from_value(row.envelope.payload.clone())
        .map_err(|e| format!("unreadable payload: {e}"))?;
    for (attachment, bytes) in reply.attachments.iter_mut().zip(&row.envelope.files) {
        attachment.data = bytes.clone();
    }
    let target = match (
        row.envelope.target,
        row.envelope.user_id,
        row.envelope.channel_id,
    ) {
        (OutboxTarget::Dm, Some(user), _) => Target::Dm(user as u64),
        (OutboxTarget::Channel, _, Some(channel)) => Target::Channel(channel as u64),
        _ => return Err("no recipient".into()),
    };
    Ok(Outgoing {
        workspace_id: row.workspace_id,
        target,
        reply,
        dedupe_key: row.envelope.dedupe_key.clone(),
    })
}

/// Splits a reply into the JSON payload and the attachment bytes the outbox stores apart.
pub fn payload(reply: &Reply) -> (serde_json::Value, Vec<Vec<u8>>) {
    let json = serde_json::to_value(reply).unwrap_or_default();
    (
        json,
        reply.attachments.iter().map(|a| a.data.clone()).collect(),
    )
}

/// Claims and delivers what is due at `now`, up to `batch` messages.
pub async fn deliver_due<D: Deliver>(
    store: &Store,
    sender: &D,
    now: DateTime<Utc>,
    batch: i64,
) -> anyhow::Result<Pass> {
    let rows = store.claim_outbox(now, now + LEASE, batch).await?;
    let mut pass = Pass::default();
    for row in rows {
        // One message that cannot be recorded (in any workspace) is logged and left to its
        // lease, which runs out and brings it back; the rest of the batch goes on.
        if let Err(e) = deliver_one(store, sender, &row, now, &mut pass).await {
            tracing::error!(
                workspace = row.workspace_id,
                key = %row.envelope.dedupe_key,
                error = format!("{e:#}"),
                "outbox delivery not recorded; retried when its lease ends"
            );
        }
    }
    Ok(pass)
}

/// Delivers one claimed message and records the outcome.
async fn deliver_one<D: Deliver>(
    store: &Store,
    sender: &D,
    row: &OutboxRow,
    now: DateTime<Utc>,
    pass: &mut Pass,
) -> anyhow::Result<()> {
    let sent = match outgoing(row) {
        Ok(message) => sender.deliver(&message).await,
        Err(reason) => Err(DeliveryError::Permanent(reason)),
    };
    match sent {
        Ok(message_id) => {
            store
                .outbox_delivered(row.workspace_id, row.id, message_id as i64, now)
                .await?;
            pass.delivered += 1;
        }
        Err(DeliveryError::Retry { reason, .. }) if row.attempts >= MAX_ATTEMPTS => {
            tracing::warn!(workspace = row.workspace_id, key = %row.envelope.dedupe_key, %reason, "giving up after {} attempts", row.attempts);
            store
                .outbox_failed(
                    row.workspace_id,
                    row.id,
                    &format!("gave up after {} attempts: {reason}", row.attempts),
                )
                .await?;
            pass.failed += 1;
        }
        Err(DeliveryError::Retry { after, reason }) => {
            let wait = after
                .and_then(|a| Duration::from_std(a).ok())
                .unwrap_or_else(|| backoff(row.attempts));
            store
                .outbox_retry(row.workspace_id, row.id, now + wait, &reason)
                .await?;
            pass.retried += 1;
        }
        Err(DeliveryError::Permanent(reason)) => {
            tracing::info!(workspace = row.workspace_id, key = %row.envelope.dedupe_key, %reason, "not deliverable");
            store
                .outbox_failed(row.workspace_id, row.id, &reason)
                .await?;
            pass.failed += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let cases = [(1, 5), (2, 10), (3, 20), (8, 640), (11, 3600), (30, 3600)];
        for (attempts, seconds) in cases {
            assert_eq!(backoff(attempts), Duration::seconds(seconds), "{attempts}");
        }
    }
}
