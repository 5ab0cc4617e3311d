//! The scheduled work, as plain async functions given `now`: the scheduler calls them every
//! minute, the console and the tests call them directly. This file only decides what is due;
//! the engine's `notices` compose what is said. Each decision to send is written to
//! the outbox in the same transaction as the bookkeeping that says it was made, under a key
//! for its logical slot, so two schedulers, a restart or a missed tick never double or drop it.

use crate::domain::role::Visibility;
use crate::domain::when::resolve_local;
use crate::engine::format::Format;
use crate::engine::notices;
use crate::outbox::payload;
use crate::store::{
    AgendaMember, DigestWorkspace, DueTask, NewOutbox, NextDue, OutboxKind, OutboxStatus, Store, Tx,
};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;
use std::collections::HashMap;

/// How many reminders one transaction claims.
const REMINDER_BATCH: i64 = 200;

/// What one run of the scheduled work enqueued.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Enqueued {
    /// Reminders.
    pub reminders: usize,
    /// Agendas (not counting members with nothing to say).
    pub agendas: usize,
    /// Digests.
    pub digests: usize,
}

/// Runs everything that is due at `now`. Each kind runs even when another failed (a failed
/// reminder batch must not hold back the digests); the first failure is returned after all ran.
///
/// Every process runs this; one at a time scans (the scan lease), so N processes do the work
/// once, and the slot keys keep each message once even if two scans overlapped anyway.
pub async fn run_due(store: &Store, now: DateTime<Utc>) -> anyhow::Result<Enqueued> {
    let Some(lease) = store.scan_lease().await? else {
        tracing::debug!("another process is scanning for due work");
        metrics::counter!("salesbot_due_scans_skipped_total").increment(1);
        return Ok(Enqueued::default());
    };
    let reminders = reminders(store, now).await;
    let agendas = agendas(store, now).await;
    let digests = digests(store, now).await;
    lease.release().await?;
    Ok(Enqueued {
        reminders: reminders?,
        agendas: agendas?,
        digests: digests?,
    })
}

/// How long a processed interaction's marker is kept. Discord answers an interaction only
/// within 15 minutes of it, and a repeated delivery (a gateway session resumed, events
/// replayed) comes within that; a day leaves room for a process down for hours and resumed.
/// Without an end the markers would grow by one row a write command for ever: at 100,000
/// workspaces about 18 million rows, over a gigabyte, a day (ARCHITECTURE.md, Capacity).
pub const MARKER_RETENTION: Duration = Duration::hours(24);

/// How long a message the bot sent on its own (or skipped, or gave up on) is kept in the
/// outbox. Its slot key is what stops a scan from sending it again, so this must exceed the
/// furthest any scan looks back for one (a digest: last week's slot, at most 14 days); a
/// month also keeps what went out for diagnosis. Pending messages are kept however old.
pub const OUTBOX_RETENTION: Duration = Duration::days(30);

/// How long a webhook event whose deliveries are all finished is kept: it can be sent again
/// by its id (`/settings webhook action:redeliver event:`) within this, and an endpoint's
/// redelivery reaches back 7 days.
pub const WEBHOOK_EVENT_RETENTION: Duration = Duration::days(30);

/// Rows one statement of the expiry deletes at most.
const EXPIRY_BATCH: i64 = 10_000;

/// What one run of [`expire`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// Interaction markers older than [`MARKER_RETENTION`].
    pub markers: u64,
    /// The HTTP API's `Idempotency-Key` records past their 24 hours.
    pub idempotency_keys: u64,
    /// Finished outbox messages older than [`OUTBOX_RETENTION`].
    pub outbox: u64,
    /// Webhook events older than [`WEBHOOK_EVENT_RETENTION`] with nothing left to deliver.
    pub webhook_events: u64,
}

/// Deletes what is kept only for a while: the interaction markers older than
/// [`MARKER_RETENTION`], the API's expired idempotency keys, finished outbox messages older
/// than [`OUTBOX_RETENTION`] and finished webhook events older than
/// [`WEBHOOK_EVENT_RETENTION`]. The scheduler runs it every hour. Safe in every process at
/// once: the rows one deletes the other finds gone. Each kind runs even when another failed;
/// the failures are returned together after all ran.
pub async fn expire(store: &Store, now: DateTime<Utc>) -> anyhow::Result<Expired> {
    let markers = store
        .expire_interaction_markers(now - MARKER_RETENTION, EXPIRY_BATCH)
        .await;
    let idempotency_keys = store.expire_idempotency_keys(now, EXPIRY_BATCH).await;
    let outbox = store
        .expire_outbox(now - OUTBOX_RETENTION, EXPIRY_BATCH)
        .await;
    let webhook_events = store
        .expire_webhook_events(now - WEBHOOK_EVENT_RETENTION, EXPIRY_BATCH)
        .await;
    // Every kind is counted and each failure named; the tick logs them together.
    let mut failed = Vec::new();
    for (what, gone, counter) in [
        (
            "interaction markers",
            &markers,
            "salesbot_interaction_markers_expired_total",
        ),
        (
            "idempotency keys",
            &idempotency_keys,
            "salesbot_idempotency_keys_expired_total",
        ),
        ("outbox messages", &outbox, "salesbot_outbox_expired_total"),
        (
            "webhook events",
            &webhook_events,
            "salesbot_webhook_events_expired_total",
        ),
    ] {
        match gone {
            Ok(n) => metrics::counter!(counter).increment(*n),
            Err(e) => failed.push(format!("{what}: {e}")),
        }
    }
    if !failed.is_empty() {
        anyhow::bail!("expiring {}", failed.join("; "));
    }
    let expired = Expired {
        markers: markers.unwrap_or_default(),
        idempotency_keys: idempotency_keys.unwrap_or_default(),
        outbox: outbox.unwrap_or_default(),
        webhook_events: webhook_events.unwrap_or_default(),
    };
    if expired != Expired::default() {
        tracing::info!(
            markers = expired.markers,
            idempotency_keys = expired.idempotency_keys,
            outbox = expired.outbox,
            webhook_events = expired.webhook_events,
            "expired what is kept only for a while"
        );
    }
    Ok(expired)
}

/// Enqueues a DM for every reminder that has come due (once per due time: a snooze re-arms it).
pub async fn reminders(store: &Store, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let mut tx = store.begin().await?;
        let due = tx.due_tasks(now, REMINDER_BATCH).await?;
        let mut failed = false;
        for t in &due {
            // One task's failure (in any workspace) is undone alone and logged; the rest of
            // the batch goes out, and the failed one stays due for the next tick.
            tx.mark().await?;
            match remind(&mut tx, t).await {
                Ok(sent) => {
                    tx.release_mark().await?;
                    total += usize::from(sent);
                }
                Err(e) => {
                    tx.rollback_to_mark().await?;
                    failed = true;
                    tracing::error!(
                        workspace = t.workspace_id,
                        task = t.id,
                        error = format!("{e:#}"),
                        "reminder failed; retried on the next tick"
                    );
                }
            }
        }
        tx.commit().await?;
        // After a failure the failed tasks would come first again: leave them to the next tick.
        if failed || (due.len() as i64) < REMINDER_BATCH {
            return Ok(total);
        }
    }
}

/// Enqueues one reminder and marks it sent; true when a DM will go out.
async fn remind(tx: &mut Tx, t: &DueTask) -> anyhow::Result<bool> {
    let key = crate::store::task_slot_key(t.workspace_id, t.id, t.due_at);
    let mut message = NewOutbox::dm(key, OutboxKind::Task, t.assignee_id, t.due_at)
        .saying(payload(&notices::reminder(t)));
    if t.dm_closed {
        message = message.skipped("the member does not accept direct messages");
    }
    let sent = tx.enqueue(t.workspace_id, &message).await? && !t.dm_closed;
    tx.mark_reminded(t.workspace_id, t.id, t.due_at).await?;
    Ok(sent)
}

/// The local day of `now` in `tz`, as UTC bounds.
fn local_day(now: DateTime<Utc>, tz: Tz) -> (NaiveDate, DateTime<Utc>, DateTime<Utc>) {
    let today = now.with_timezone(&tz).date_naive();
    let start = resolve_local(today.and_time(chrono::NaiveTime::MIN), tz);
    let end = resolve_local(
        (today + Duration::days(1)).and_time(chrono::NaiveTime::MIN),
        tz,
    );
    (today, start, end)
}

fn is_workday(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Members or workspaces one page of the due scan reads.
const DUE_PAGE: i64 = 500;

/// When an agenda or digest that failed is tried again: the next tick.
const RETRY_AFTER_FAILURE: Duration = Duration::minutes(1);

/// Enqueues the morning agenda of every member whose agenda time has come today (their zone,
/// workdays). A member with nothing to say gets no DM; the slot is recorded as skipped.
///
/// Reads only the members whose agenda is due (`store/jobs.rs` `due_agendas`) and stores when
/// each is next due, so a minute with nothing due costs one index probe, whatever the number
/// of members.
pub async fn agendas(store: &Store, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let members = store.due_agendas(now, DUE_PAGE).await?;
        let work = members.iter().map(|m| {
            let (store, m2) = (store.clone(), m.clone());
            ((m.workspace_id, m.user_id, m.generation), async move {
                agenda_for(&store, &m2, now).await
            })
        });
        let (sent, next) = work_through(work, Due::Agenda, now).await;
        total += sent;
        // Every member read leaves the due set here (its next time is after `now`), so the
        // pages end; one whose settings changed meanwhile comes back once, worked out anew.
        store.set_agendas_next(&next).await?;
        if (members.len() as i64) < DUE_PAGE {
            return Ok(total);
        }
    }
}

/// The member's agenda if it is due, and when the next one is.
async fn agenda_for(
    store: &Store,
    m: &AgendaMember,
    now: DateTime<Utc>,
) -> anyhow::Result<(usize, DateTime<Utc>)> {
    let f = Format::stored(&m.locale, &m.timezone, &m.currency);
    let (today, _, day_end) = local_day(now, f.tz);
    let at = resolve_local(today.and_time(m.agenda_time), f.tz);
    if is_workday(today) && now < at {
        return Ok((0, at));
    }
    let next_workday = next_workday(today);
    let next = resolve_local(next_workday.and_time(m.agenda_time), f.tz);
    if !is_workday(today) {
        return Ok((0, next));
    }
    let key = format!("agenda:{}:{}:{}", m.workspace_id, m.user_id, today);
    let mut tx = store.begin().await?;
    if tx.slot_taken(m.workspace_id, &key).await? {
        return Ok((0, next));
    }
    let data = tx
        .agenda(
            m.workspace_id,
            m.user_id,
            now,
            day_end,
            today..=next_workday - Duration::days(1),
            m.stale_days,
        )
        .await?;
    let message = NewOutbox::dm(key, OutboxKind::Agenda, m.user_id, at);
    let sent = notices::agenda(&f, today, &data);
    let message = match &sent {
        Some(reply) => message.saying(payload(reply)),
        None => message.skipped("nothing to say"),
    };
    let sent = sent.is_some();
    let wrote = tx.enqueue(m.workspace_id, &message).await?;
    tx.commit().await?;
    Ok((usize::from(wrote && sent), next))
}

/// The first workday after `today`.
fn next_workday(today: NaiveDate) -> NaiveDate {
    let mut day = today + Duration::days(1);
    while !is_workday(day) {
        day += Duration::days(1);
    }
    day
}

/// The instant of this ISO week's digest in the workspace's zone, and the week's label.
pub fn digest_slot(
    now: DateTime<Utc>,
    tz: Tz,
    weekday: i16,
    time: chrono::NaiveTime,
) -> (NaiveDate, DateTime<Utc>, String) {
    digest_slot_in_week_of(now.with_timezone(&tz).date_naive(), tz, weekday, time)
}

/// The digest slot of the week holding the local date `day`.
fn digest_slot_in_week_of(
    day: NaiveDate,
    tz: Tz,
    weekday: i16,
    time: chrono::NaiveTime,
) -> (NaiveDate, DateTime<Utc>, String) {
    let today = day;
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let date = monday + Duration::days(i64::from(weekday.clamp(1, 7) - 1));
    let week = date.iso_week();
    (
        date,
        resolve_local(date.and_time(time), tz),
        format!("{}-W{:02}", week.year(), week.week()),
    )
}

/// Agendas or digests composed at once: each is a few queries in a transaction of its own
/// (and for a digest a chart), so a few together keep both the database and the process busy
/// (sequentially, 1,000 digests of 900-deal workspaces took 9.7 s on 2 cores, and a morning's
/// agendas for a zone's members all fall due in the same minute).
const AT_ONCE: usize = 4;

/// Enqueues every workspace's weekly digest whose time has come. A digest missed while the
/// bot was down is sent on start-up if still within its day; an older one is recorded as
/// skipped, never sent late and never twice.
///
/// Like [`agendas`], reads only the workspaces whose digest is due and stores when each is
/// next due.
pub async fn digests(store: &Store, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let due = store.due_digests(now, DUE_PAGE).await?;
        let work = due.iter().map(|d| {
            let (store, w) = (store.clone(), d.workspace.clone());
            ((w.id, 0, d.generation), async move {
                digest_for(&store, &w, now).await
            })
        });
        let (sent, next) = work_through(work, Due::Digest, now).await;
        total += sent;
        // As for agendas: every workspace read leaves the due set, so the pages end.
        store.set_digests_next(&next).await?;
        if (due.len() as i64) < DUE_PAGE {
            return Ok(total);
        }
    }
}

/// What a page of due work composes.
#[derive(Clone, Copy)]
enum Due {
    Agenda,
    Digest,
}

/// Runs one page of due work, [`AT_ONCE`] at a time, each keyed by (workspace, member or 0,
/// generation); how many messages will go out, and when each is next due. One's failure must
/// not stop another's: its slot stays free and it is tried again on the next tick (a panic
/// too: its task id still names it).
async fn work_through<F>(
    work: impl Iterator<Item = ((i64, i64, i64), F)>,
    what: Due,
    now: DateTime<Utc>,
) -> (usize, Vec<NextDue>)
where
    F: std::future::Future<Output = anyhow::Result<(usize, DateTime<Utc>)>> + Send + 'static,
{
    let mut running = tokio::task::JoinSet::new();
    let mut keys = HashMap::new();
    let mut next = Vec::new();
    let mut sent = 0;
    let mut settle = |joined: Result<_, tokio::task::JoinError>,
                      keys: &mut HashMap<tokio::task::Id, (i64, i64, i64)>| {
        let (id, outcome) = match joined {
            Ok((id, outcome)) => (id, outcome),
            Err(e) => (e.id(), Err(anyhow::anyhow!("task failed: {e}"))),
        };
        let Some((workspace, member, generation)) = keys.remove(&id) else {
            return;
        };
        let at = match outcome {
            Ok((n, at)) => {
                sent += n;
                at
            }
            Err(e) => {
                let error = format!("{e:#}");
                match what {
                    Due::Agenda => tracing::error!(
                        workspace,
                        member,
                        error,
                        "agenda failed; retried on the next tick"
                    ),
                    Due::Digest => {
                        tracing::error!(workspace, error, "digest failed; retried on the next tick")
                    }
                }
                now + RETRY_AFTER_FAILURE
            }
        };
        next.push(NextDue {
            workspace_id: workspace,
            user_id: member,
            generation,
            at,
        });
    };
    for (key, job) in work {
        if running.len() >= AT_ONCE {
            if let Some(joined) = running.join_next_with_id().await {
                settle(joined, &mut keys);
            }
        }
        keys.insert(running.spawn(job).id(), key);
    }
    while let Some(joined) = running.join_next_with_id().await {
        settle(joined, &mut keys);
    }
    (sent, next)
}

/// Last week's digest, if it never went out (the bot was down past its day), is recorded as
/// skipped, so the record shows every week and none is sent late.
async fn record_missed_last_week(
    store: &Store,
    w: &DigestWorkspace,
    now: DateTime<Utc>,
    tz: Tz,
) -> anyhow::Result<()> {
    // A week back in local days: 168 hours back from just after a clock change can land in
    // this same week (Sunday 23:00 in Berlin on the day the clocks go back is Monday 00:00 a
    // week of hours earlier), which would record this week's slot as missed before its time.
    let last_week = now.with_timezone(&tz).date_naive() - Duration::days(7);
    let (date, at, week) = digest_slot_in_week_of(last_week, tz, w.digest_weekday, w.digest_time);
    if at > now {
        return Ok(());
    }
    let key = format!("digest:{}:{week}", w.id);
    let mut tx = store.begin().await?;
    if tx.slot_taken(w.id, &key).await? {
        return Ok(());
    }
    let message = NewOutbox::channel(key, OutboxKind::Digest, w.digest_channel_id, at)
        .skipped(format!("missed: the bot was not running on {date}"));
    tx.enqueue(w.id, &message).await?;
    tx.commit().await?;
    Ok(())
}

/// The workspace's digest if it is due, and when the next one is.
async fn digest_for(
    store: &Store,
    w: &DigestWorkspace,
    now: DateTime<Utc>,
) -> anyhow::Result<(usize, DateTime<Utc>)> {
    let tz: Tz = w.timezone.parse().unwrap_or(Tz::UTC);
    record_missed_last_week(store, w, now, tz).await?;
    let (date, at, week) = digest_slot(now, tz, w.digest_weekday, w.digest_time);
    if now < at {
        return Ok((0, at));
    }
    // Next week's slot: its local date is after every day of this week, so after `now`.
    let (_, next, _) = digest_slot_in_week_of(
        date + Duration::days(7),
        tz,
        w.digest_weekday,
        w.digest_time,
    );
    let key = format!("digest:{}:{week}", w.id);
    let mut tx = store.begin().await?;
    if tx.slot_taken(w.id, &key).await? {
        return Ok((0, next));
    }
    let still_today = now.with_timezone(&tz).date_naive() == date;
    let message = NewOutbox::channel(key, OutboxKind::Digest, w.digest_channel_id, at);
    let message = if still_today {
        message.saying(payload(&notices::digest(&mut tx, w, now, date).await?))
    } else {
        message.skipped(format!("missed: the bot was not running on {date}"))
    };
    if still_today && Visibility::stored(&w.visibility) == Visibility::Own {
        // The channel shows team totals only; each manager gets the named detail, once a week
        // under a key of their own, in the transaction that takes the channel's slot.
        for reader in tx.digest_readers(w.id).await? {
            let key = format!("digest-detail:{}:{}:{week}", w.id, reader.user_id);
            if tx.slot_taken(w.id, &key).await? {
                continue;
            }
            let detail = notices::digest_detail(&mut tx, w, &reader.locale, now, date).await?;
            let dm =
                NewOutbox::dm(key, OutboxKind::Digest, reader.user_id, at).saying(payload(&detail));
            tx.enqueue(w.id, &dm).await?;
        }
    }
    let wrote = tx.enqueue(w.id, &message).await?;
    tx.commit().await?;
    Ok((
        usize::from(wrote && message.status == OutboxStatus::Pending),
        next,
    ))
}
