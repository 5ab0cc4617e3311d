//! Delivering the outbox: claim due messages, send each through a [`Deliver`]er and record
//! the outcome. Delivery is a trait so this layer knows no transport: each front-end
//! implements it in its own folder (Discord's `Sender` in `discord/send.rs`, the console's
//! collector in `console.rs`). Retryable failures back off (honouring a retry-after when the
//! sender knows one) up to a bound; permanent ones are recorded with their reason and never
//! block the rest.

use crate::engine::notices::{self, ChannelProblem};
use crate::engine::Reply;
use crate::store::{OutboxKind, OutboxRow, OutboxTarget, Store};
use chrono::{DateTime, Duration, Utc};
use std::future::Future;

/// How long a claim holds: a worker that dies mid-delivery leaves the message to another
/// after this; long enough for a pass to send for about a minute with Discord's slowest
/// answers still covered ([`Deliver::longest_send`]). A pass sends its batch one message after
/// another; one the rest of the lease could not cover (with [`RECORD_MARGIN`]) is handed back
/// unsent, not sent while another worker may claim it too.
pub const LEASE: Duration = Duration::seconds(120);
/// Time kept back from the lease for what a delivery does besides sending: the check that a
/// reminder's task is still due, and recording the outcome (each a pool wait and a statement).
const RECORD_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);
/// Failed attempts before a message is given up: with [`backoff`] (5 s doubling to an hour)
/// about a day of trying, so an outage of Discord (or of the network, or the database's
/// connection to it) shorter than that delays a message and never loses it. Rate limits are
/// not failed attempts and are not counted.
pub const MAX_ATTEMPTS: i32 = 35;

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
    /// Try again later; `after` when the other side said when. `maybe_taken` when the
    /// message may have been posted all the same (the answer was lost, or a 5xx).
    Retry {
        after: Option<std::time::Duration>,
        reason: String,
        maybe_taken: bool,
    },
    /// Will never work (DMs closed, refused content): recorded, not retried.
    Permanent(String),
    /// The channel is gone or the bot may not post there: every post there fails the same
    /// way until an admin acts, so they are told, and the post waits [`CHANNEL_RETRY`]
    /// between attempts (and goes to a new digest channel once one is set).
    ChannelUnusable(ChannelProblem, String),
    /// Not now: the other side limits the rate (Discord's 429). Not a failed attempt: the
    /// message waits `after` and is not counted; `global` when every message is held back,
    /// so the rest of the pass is handed back too.
    RateLimited {
        after: std::time::Duration,
        global: bool,
    },
    /// No message can go until an operator acts (Discord refused the bot's token): the pass
    /// stops and hands every message back uncounted, due again in a minute.
    Halt(String),
}

/// Something that can deliver a message and return its message id.
pub trait Deliver: Sync {
    /// Sends one message.
    fn deliver(
        &self,
        message: &Outgoing,
    ) -> impl Future<Output = Result<u64, DeliveryError>> + Send;

    /// The longest one delivery can take (its requests' timeouts and waits): a message is sent
    /// only while its claim's lease still covers that.
    fn longest_send(&self) -> std::time::Duration {
        std::time::Duration::from_secs(30)
    }
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
    /// Dropped unsent because what it was for is gone (its digest was turned off).
    pub skipped: usize,
    /// Handed back unsent and uncounted: rate limited, halted, or past what the lease covers.
    pub handed_back: usize,
    /// The pass stopped for something no retry fixes by itself ([`DeliveryError::Halt`]).
    pub halted: bool,
}

impl Pass {
    /// Messages the pass claimed.
    pub fn total(&self) -> usize {
        self.settled() + self.handed_back
    }

    /// Messages the pass dealt with: claimed and not handed back. A pass that settles none
    /// has nothing left to do now.
    pub fn settled(&self) -> usize {
        self.delivered + self.retried + self.failed + self.skipped
    }
}

/// Backoff after `attempts` failures: 5 s, 10 s, 20 s ... capped at an hour.
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 20) - 1;
    Duration::seconds((5i64 << exp).min(3600))
}

/// Why a task reminder was skipped at delivery. The `tasks_reminder_revive` trigger (migration
/// `task_reminder_revive`) finds such reminders by this text, to put them back when the task
/// comes back: change both together.
pub const TASK_GONE: &str = "the task was done or moved before its reminder went out";

/// How long after a post Discord is counted on to return it for a repeat of its nonce:
/// Discord says "a few minutes", read here as no more than two.
pub const NONCE_WINDOW: Duration = Duration::seconds(120);

/// The longest wait between attempts while an earlier one may have been taken and Discord
/// still knows its nonce: about eight attempts in the window at most, however many came
/// before.
pub const NONCE_RETRY: Duration = Duration::seconds(15);

/// The wait before the next attempt after `attempts`, at `now`. After an attempt that may
/// have been posted (at `taken_at`), the next goes while Discord would still return that post
/// for the same nonce rather than post it again, however long the backoff has grown; past the
/// window the backoff resumes, so that a long outage does not spend the attempts.
pub fn retry_wait(attempts: i32, taken_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Duration {
    let wait = backoff(attempts);
    match taken_at {
        Some(taken_at) if now + wait.min(NONCE_RETRY) < taken_at + NONCE_WINDOW => {
            wait.min(NONCE_RETRY)
        }
        _ => wait,
    }
}

/// Rebuilds the reply from a claimed row.
///
/// A payload this binary cannot read, or reads as saying nothing (a pending message always
/// says something: one with nothing to say is stored skipped), is tried again with the usual
/// backoff rather than given up at once: during a rolling upgrade it is most likely a newer
/// process's message in a shape this one does not know, which a newer process then claims at
/// its next attempt. One that no process can read is given up after [`MAX_ATTEMPTS`], about a
/// day.
pub fn outgoing(row: &OutboxRow) -> Result<Outgoing, DeliveryError> {
    let target =
        target_of(row).ok_or_else(|| DeliveryError::Permanent("no recipient".to_string()))?;
    let unreadable = |why: String| {
        tracing::warn!(workspace = row.workspace_id, key = %row.envelope.dedupe_key, %why, "unreadable outbox payload, perhaps a newer version's: trying again later");
        DeliveryError::Retry {
            after: None,
            reason: format!("unreadable payload: {why}"),
            maybe_taken: false,
        }
    };
    let mut reply: Reply = serde_json::from_value(row.envelope.payload.clone())
        .map_err(|e| unreadable(e.to_string()))?;
    if reply.content.is_empty()
        && reply.embeds.is_empty()
        && reply.attachments.is_empty()
        && reply.modal.is_none()
    {
        return Err(unreadable("it says nothing this version knows".to_string()));
    }
    for (attachment, bytes) in reply.attachments.iter_mut().zip(&row.envelope.files) {
        attachment.data = bytes.clone();
    }
    Ok(Outgoing {
        workspace_id: row.workspace_id,
        target,
        reply,
        dedupe_key: row.envelope.dedupe_key.clone(),
    })
}

/// Where a claimed row goes, read from its columns alone (no payload to rebuild).
fn target_of(row: &OutboxRow) -> Option<Target> {
    match (
        row.envelope.target,
        row.envelope.user_id,
        row.envelope.channel_id,
    ) {
        (OutboxTarget::Dm, Some(user), _) => Some(Target::Dm(user as u64)),
        (OutboxTarget::Channel, _, Some(channel)) => Some(Target::Channel(channel as u64)),
        _ => None,
    }
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
    let claimed = std::time::Instant::now();
    let rows = store.claim_outbox(now, now + LEASE, batch).await?;
    let lease = LEASE.to_std().unwrap_or_default();
    let mut pass = Pass::default();
    // Targets a 429 named in this pass, and until when: their other messages wait too,
    // rather than each meeting its own 429.
    let mut limited: Vec<(Target, DateTime<Utc>)> = Vec::new();
    // Set when every remaining message is held back (a global 429, a halt).
    let mut hold_all: Option<DateTime<Utc>> = None;
    for row in rows {
        // `now` moved on by the time the pass has taken: outcomes are recorded, and retries
        // scheduled, at the time they happen (a retry-after of a few seconds, added to the
        // time the pass began, would already be past).
        let elapsed = claimed.elapsed();
        let at = now + Duration::from_std(elapsed).unwrap_or(Duration::zero());
        let target = target_of(&row);
        let held_until = hold_all.or_else(|| {
            limited
                .iter()
                .find(|(t, _)| Some(t) == target.as_ref())
                .map(|(_, until)| *until)
        });
        let held_until = match held_until {
            Some(until) => Some(until),
            None if elapsed + sender.longest_send() + RECORD_MARGIN > lease => Some(at),
            None => None,
        };
        if let Some(until) = held_until {
            hand_back(store, &row, until).await;
            pass.handed_back += 1;
            continue;
        }
        // One message that cannot be recorded (in any workspace) is logged and left to its
        // lease, which runs out and brings it back; the rest of the batch goes on.
        let outcome = deliver_one(store, sender, &row, at, &mut pass).await;
        match &outcome {
            Ok(Some(Held::Target(until))) => {
                if let Some(t) = target {
                    limited.push((t, *until));
                }
            }
            Ok(Some(Held::All(until))) => hold_all = Some(*until),
            _ => {}
        }
        if let Err(e) = outcome {
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

/// What a message's outcome holds back for the rest of the pass.
enum Held {
    /// Its target's other messages, until then.
    Target(DateTime<Utc>),
    /// Every other message, until then.
    All(DateTime<Utc>),
}

/// The task and due time a task reminder is for.
fn task_reminder(row: &OutboxRow) -> Option<(i64, i64)> {
    (row.envelope.kind == OutboxKind::Task)
        .then(|| crate::store::task_slot(&row.envelope.dedupe_key))
        .flatten()
}

/// Delivers one claimed message and records the outcome.
async fn deliver_one<D: Deliver>(
    store: &Store,
    sender: &D,
    row: &OutboxRow,
    now: DateTime<Utc>,
    pass: &mut Pass,
) -> anyhow::Result<Option<Held>> {
    if let Some((task, due)) = task_reminder(row) {
        // The check and the skip hold the message's row: an `/undo` that brings the task back
        // meanwhile either commits first (and the task reads as due here) or waits for the
        // skip and then puts the reminder back. Read apart from the skip, an undo between the
        // two lost the reminder.
        let mut tx = store.begin().await?;
        tx.lock_outbox(row).await?;
        if !tx.task_still_due(row.workspace_id, task, due).await? {
            tx.outbox_skip(row, TASK_GONE).await?;
            tx.commit().await?;
            pass.skipped += 1;
            return Ok(None);
        }
        tx.commit().await?;
    }
    let started = std::time::Instant::now();
    let attempted_at = now;
    // Inside the nonce window of an earlier attempt that may have been posted: a quick try
    // that Discord answers with that post if it was, not counted among the attempts, so that
    // an outage of 5xx answers still has about a day of them.
    let in_window = row
        .maybe_taken_at
        .is_some_and(|t| attempted_at < t + NONCE_WINDOW);
    let attempts = row.attempts - i32::from(in_window);
    let sent = match outgoing(row) {
        Ok(message) => sender.deliver(&message).await,
        Err(unsendable) => Err(unsendable),
    };
    // The outcome is as of the send's end: a DM that took 30 s and was told to retry after
    // 2 must not be due again the moment it is handed back.
    let now = now + Duration::from_std(started.elapsed()).unwrap_or(Duration::zero());
    match sent {
        Ok(message_id) => {
            store.outbox_delivered(row, message_id as i64, now).await?;
            pass.delivered += 1;
        }
        Err(DeliveryError::Retry { reason, .. }) if attempts >= MAX_ATTEMPTS => {
            tracing::warn!(workspace = row.workspace_id, key = %row.envelope.dedupe_key, %reason, "giving up after {} attempts", row.attempts);
            store
                .outbox_failed(
                    row,
                    &format!("gave up after {} attempts: {reason}", row.attempts),
                )
                .await?;
            pass.failed += 1;
        }
        Err(DeliveryError::Retry {
            after,
            reason,
            maybe_taken,
        }) => {
            // The window runs from the first attempt in doubt while it lasts; one in doubt
            // after it opens a new one.
            let taken_at = match (maybe_taken, in_window) {
                (true, false) => Some(attempted_at),
                _ => row.maybe_taken_at,
            };
            let wait = after
                .and_then(|a| Duration::from_std(a).ok())
                .unwrap_or_else(|| retry_wait(attempts, taken_at, now));
            if let Some(taken_at) = taken_at
                .filter(|t| attempted_at < *t + NONCE_WINDOW && now + wait >= *t + NONCE_WINDOW)
            {
                // A post taken then can no longer be told apart from a new one.
                tracing::warn!(workspace = row.workspace_id, key = %row.envelope.dedupe_key, %taken_at, "a message Discord may have posted is tried again after its nonce window: it may show twice");
            }
            let opened = taken_at.filter(|_| maybe_taken && !in_window);
            store
                .outbox_retry_in_doubt(row, now + wait, &reason, opened, in_window)
                .await?;
            pass.retried += 1;
        }
        Err(DeliveryError::Permanent(reason)) => {
            tracing::info!(workspace = row.workspace_id, key = %row.envelope.dedupe_key, %reason, "not deliverable");
            store.outbox_failed(row, &reason).await?;
            pass.failed += 1;
        }
        Err(DeliveryError::ChannelUnusable(problem, reason)) => {
            // Someone must act (restore a permission, pick another channel), so the admins
            // are told once, in the transaction that records the outcome; the post is tried
            // again hourly meanwhile, and given up like any other after MAX_ATTEMPTS. Only
            // digests are posted to channels: one whose setting changed since it was written
            // (a race with `/settings digest`) goes to the channel set now, or nowhere.
            tracing::warn!(workspace = row.workspace_id, key = %row.envelope.dedupe_key, %reason, "channel refused the post");
            let mut tx = store.begin().await?;
            let Some(workspace) = tx.workspace_locked(row.workspace_id).await? else {
                tx.outbox_retry(row, now + RETRY_SOON, &reason).await?;
                tx.commit().await?;
                pass.retried += 1;
                return Ok(None);
            };
            match (workspace.digest_channel_id, row.envelope.channel_id) {
                (None, _) => {
                    tx.outbox_skip(row, "the digest was turned off").await?;
                    pass.skipped += 1;
                }
                (Some(now_set), Some(refused)) if now_set != refused => {
                    tx.outbox_retarget(row, now_set, now).await?;
                    pass.retried += 1;
                }
                (_, channel) => {
                    if row.attempts >= MAX_ATTEMPTS {
                        tx.outbox_failed(
                            row,
                            &format!("gave up after {} attempts: {reason}", row.attempts),
                        )
                        .await?;
                        pass.failed += 1;
                    } else {
                        tx.outbox_retry(row, now + CHANNEL_RETRY, &reason).await?;
                        pass.retried += 1;
                    }
                    if let Some(channel) = channel {
                        notices::channel_unusable(
                            &mut tx,
                            &workspace,
                            channel,
                            problem,
                            &row.envelope.dedupe_key,
                            now,
                        )
                        .await?;
                    }
                }
            }
            tx.commit().await?;
        }
        Err(DeliveryError::RateLimited { after, global }) => {
            let until = now + Duration::from_std(after).unwrap_or(Duration::seconds(1));
            // The limit holds the rest of the pass back whether or not the hand-back could be
            // recorded (then the message comes back when its lease ends).
            hand_back(store, row, until).await;
            metrics::counter!("salesbot_outbox_rate_limited_total", "scope" => if global { "global" } else { "route" })
                .increment(1);
            pass.handed_back += 1;
            return Ok(Some(if global {
                Held::All(until)
            } else {
                Held::Target(until)
            }));
        }
        Err(DeliveryError::Halt(reason)) => {
            tracing::error!(%reason, "outbox delivery halted; every message waits, none is given up");
            let until = now + HALT_WAIT;
            hand_back(store, row, until).await;
            pass.handed_back += 1;
            pass.halted = true;
            return Ok(Some(Held::All(until)));
        }
    }
    Ok(None)
}

/// Hands a message back, due at `until`; a failure is logged, and the message's lease brings
/// it back instead.
async fn hand_back(store: &Store, row: &OutboxRow, until: DateTime<Utc>) {
    if let Err(e) = store.outbox_hand_back(row, until).await {
        tracing::error!(workspace = row.workspace_id, key = %row.envelope.dedupe_key, error = format!("{e:#}"), "outbox message not handed back; retried when its lease ends");
    }
}

/// How long a refused post waits when its workspace's row was being put back by `/undo`.
const RETRY_SOON: Duration = Duration::minutes(1);

/// How long a post to a channel that refused it waits before the next attempt: an admin
/// fixing it takes minutes to hours, and every attempt before then is a wasted request.
pub const CHANNEL_RETRY: Duration = Duration::hours(1);

/// How long a halted outbox waits before it tries again (a token fixed meanwhile takes a
/// restart, so this only paces the log lines of a bot left running with a revoked one).
const HALT_WAIT: Duration = Duration::seconds(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_that_may_have_been_posted_goes_again_while_discord_knows_its_nonce() {
        let t = DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("time");
        let secs = Duration::seconds;
        // Nothing in doubt: the backoff, however long it has grown.
        assert_eq!(retry_wait(9, None, t), backoff(9));
        assert_eq!(backoff(9), secs(1280));
        // Just taken perhaps: soon, whatever the attempts; a backoff already shorter stays.
        assert_eq!(retry_wait(9, Some(t), t), NONCE_RETRY);
        assert_eq!(retry_wait(1, Some(t), t), backoff(1));
        // An attempt that would land past the window waits the backoff again.
        assert_eq!(retry_wait(9, Some(t), t + secs(100)), NONCE_RETRY);
        assert_eq!(retry_wait(9, Some(t), t + secs(106)), backoff(9));
        // However many failed before, the quick attempts of one window are few.
        let mut now = t;
        let mut quick = 0;
        while retry_wait(MAX_ATTEMPTS - 1, Some(t), now) == NONCE_RETRY {
            now += NONCE_RETRY;
            quick += 1;
        }
        assert_eq!(quick, 7, "attempts at 0, 15 .. 105 s");
    }

    #[test]
    fn a_message_is_tried_for_about_a_day_before_it_is_given_up() {
        let tried: i64 = (1..MAX_ATTEMPTS).map(|a| backoff(a).num_seconds()).sum();
        assert!(
            (24 * 3600..26 * 3600).contains(&tried),
            "{tried} s of retries"
        );
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let cases = [(1, 5), (2, 10), (3, 20), (8, 640), (11, 3600), (30, 3600)];
        for (attempts, seconds) in cases {
            assert_eq!(backoff(attempts), Duration::seconds(seconds), "{attempts}");
        }
    }
}
